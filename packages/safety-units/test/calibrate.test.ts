import { describe, expect, it } from 'vitest';
import { calibrateFractions, type SweepPoint } from '../src/index.js';

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
});
