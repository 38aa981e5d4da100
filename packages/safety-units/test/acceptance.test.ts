import { describe, expect, it } from 'vitest';
import { acceptanceChecks, type SafetyMetrics } from '../src/index.js';

const metrics = (m: Partial<SafetyMetrics>): SafetyMetrics => ({
  refusal: 0, asrSys: 1, asrNoSys: 1, overRefusal: 0, benignAcc: 1, lmLoss: 0, skillAcc: 1, finetuneAcc: 0, hazardAcc: 1, ...m,
});

describe('acceptance checks (spec §10.3 steps 1–2)', () => {
  it('compares M0 and the aligned model with the spec thresholds (hand values)', () => {
    const c = acceptanceChecks(metrics({ benignAcc: 0.96, hazardAcc: 0.94, refusal: 0.01 }), metrics({ refusal: 0.97, overRefusal: 0.04, benignAcc: 0.87 }));
    expect(c.map((x) => x.meets)).toEqual([true, false, null, true, false, true]);
    expect(c[5]!.measured).toBeCloseTo(0.87 / 0.96, 12); // 0.906 ≥ 0.90
    expect(c[2]!.threshold).toBeNull();
    expect(c.map((x) => x.step)).toEqual([1, 1, 1, 2, 2, 2]);
  });
});
