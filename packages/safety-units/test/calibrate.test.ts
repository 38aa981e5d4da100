import { describe, expect, it } from 'vitest';
import { calibrateFractions, classifyUnits, maskCount, pruningSweep, sweepCurves, sweepMask, type SweepOrder, type SweepPoint, type UnitLayout, type UnitScores } from '../src/index.js';
import { expectTrellisError } from './helpers.js';

const pt = (order: SweepPoint['order'], fraction: number, utility: number, refusal: number): SweepPoint => ({ order, fraction, units: 0, utility, refusal });

describe('calibrateFractions (spec §3.4)', () => {
  it('picks the largest fraction within each tolerance', () => {
    const dense = { utility: 0.9, refusal: 1 };
    const points = [
      pt('top-D', 0.01, 0.89, 0.5), pt('top-D', 0.02, 0.88, 0.2), pt('top-D', 0.05, 0.8, 0.1),
      pt('bottom-D', 0.01, 0.7, 1), pt('bottom-D', 0.1, 0.3, 0.85), pt('bottom-D', 0.2, 0.1, 0.5),
      pt('bottom-T', 0.05, 0.9, 1), pt('bottom-T', 0.1, 0.88, 0.97), pt('bottom-T', 0.2, 0.85, 0.99),
    ];
    const c = calibrateFractions({ dense, points });
    expect(c.fractions).toEqual({ esu: 0.02, euu: 0.1, ru: 0.1 });
    expect(c.esuRefusalDrop).toBeCloseTo(0.8, 10);
  });

  it('sweepMask orders units by D (top), −D (top = D bottom), T (bottom), ties in layout order (curve F1)', () => {
    const layout: UnitLayout = [
      { id: 'a', layer: 0, kind: 'attn', numUnits: 2, tap: 'a', aSide: [], bSide: { variable: 'oa', axis: 0 } },
      { id: 'b', layer: 0, kind: 'mlp', numUnits: 3, tap: 'b', aSide: [], bSide: { variable: 'ob', axis: 0 } },
    ];
    const sc = (a: number[], b: number[]): UnitScores => ({ method: 'wifv', count: 1, means: {}, variances: {}, scores: { a: Float64Array.from(a), b: Float64Array.from(b) } });
    // normalize 'none': D = S − U = a [2, 0], b [−2, 4, 0];  T = S + U = a [4, 2], b [2, 6, 4].
    const cls = classifyUnits(layout, { safety: sc([3, 1], [0, 5, 2]), utility: sc([1, 1], [2, 1, 2]) }, { normalize: 'none', fractions: { esu: 0.2, euu: 0.2, ru: 0.2 } });
    const sel = (order: 'top-D' | 'bottom-D' | 'bottom-T', k: number) => { const m = sweepMask(layout, cls, order, k); return [...Array.from(m.a!), ...Array.from(m.b!)]; };
    expect(sel('top-D', 2)).toEqual([1, 0, 0, 1, 0]); // b1 (4), a0 (2)
    expect(sel('bottom-D', 2)).toEqual([0, 1, 1, 0, 0]); // b0 (−2), then the D = 0 tie a1 / b2 goes to a1 (layout order)
    expect(sel('bottom-T', 2)).toEqual([0, 1, 1, 0, 0]); // T = 2: a1, b0
    expect(sel('bottom-T', 3)).toEqual([1, 1, 1, 0, 0]); // then the T = 4 tie a0 / b2 → a0
    expect(maskCount(sweepMask(layout, cls, 'random', 3, 5))).toBe(3);
    // a misspelt order used to fall through to a random set
    expectTrellisError(() => sweepMask(layout, cls, 'top' as SweepOrder, 2), 'BAD_OPTION', /unknown sweep order "top"/);
    // a measure that is not two rates, or NaN tolerances, used to flow into the calibration silently
    expectTrellisError(() => pruningSweep({} as never, layout, cls, () => ({ utility: NaN, refusal: 0.5 }), { grid: [0.2] }), 'BAD_OPTION',
      /measure of the dense model returned utility NaN, refusal 0.5/);
    expectTrellisError(() => calibrateFractions({ dense: { utility: 1, refusal: 1 }, points: [pt('top-D', 0.2, 1, 1)] }, { tolUtility: NaN }), 'BAD_OPTION',
      /tolerance tolUtility NaN is not a number ≥ 0/);
  });

  it('sweepCurves gives F1 mean ± sd over seeds of ASR = 1 − refusal and utility, the dense model at fraction 0 (hand values)', () => {
    const s1 = { dense: { utility: 1, refusal: 1 }, points: [pt('top-D', 0.1, 0.9, 0.5)] };
    const s2 = { dense: { utility: 0.8, refusal: 0.9 }, points: [pt('top-D', 0.1, 0.7, 0.3)] };
    const c = sweepCurves([s1, s2]);
    const get = (f: number, metric: 'asr' | 'utility') => c.find((p) => p.order === 'top-D' && p.fraction === f && p.metric === metric)!;
    expect(c).toHaveLength(4);
    expect(get(0, 'asr').mean).toBeCloseTo(0.05, 12); // ASR 0 and 0.1
    expect(get(0, 'asr').sd).toBeCloseTo(Math.SQRT2 * 0.05, 12); // sample sd of {0, 0.1}
    expect(get(0.1, 'asr').mean).toBeCloseTo(0.6, 12); // ASR 0.5 and 0.7
    expect(get(0.1, 'utility').mean).toBeCloseTo(0.8, 12);
    expect(get(0.1, 'utility').sd).toBeCloseTo(Math.SQRT2 * 0.1, 12);
    expect(get(0.1, 'utility').seeds).toBe(2);
    expect(sweepCurves([s1]).find((p) => p.fraction === 0.1 && p.metric === 'asr')!.sd).toBe(0);
    expect(() => sweepCurves([])).toThrowError(/no sweeps/);
  });
});
