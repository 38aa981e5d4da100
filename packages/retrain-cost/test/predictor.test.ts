import { Rng } from '@trellis-ml/core';
import { describe, expect, it } from 'vitest';
import { conformalQuantile, CostPredictor, epochEquivalents, isotonicFit, kendall, leastSquares, pearson, spearman, spearmanTieCap, type CalibrationPoint, type PredictOptions } from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';

function synthetic(rng: Rng, n: number, a = 0.5, b = 2, noise = 0.1): CalibrationPoint[] {
  return Array.from({ length: n }, () => {
    const index = rng.next();
    return { index, epochs: Math.exp(a + b * index + noise * rng.normal()) - 1, kWh: 0, group: index < 0.5 ? 'low' : 'high' };
  });
}

describe('fits and cost figures refuse unequal or empty inputs', () => {
  it('isotonicFit, leastSquares and epochEquivalents (each used to return NaN or a figure from the wrong pairs)', () => {
    expect(trellisErrorOf(() => isotonicFit([1, 2], [1])).code).toBe('LENGTH_MISMATCH');
    expect(trellisErrorOf(() => leastSquares([1, 2], [1])).code).toBe('LENGTH_MISMATCH');
    expect(trellisErrorOf(() => leastSquares([], [])).code).toBe('EMPTY_INPUT');
    expect(trellisErrorOf(() => epochEquivalents([1], [1, 2], [1])).code).toBe('LENGTH_MISMATCH');
    expect(leastSquares([0, 1, 2], [1, 3, 5])).toEqual({ a: 1, b: 2 });
    expect(epochEquivalents([2], [4, 6], [2, 3])).toBe(1); // 2 s ÷ (10 s / 5 epochs)
  });
});

describe('CostPredictor', () => {
  it('recovers a and b of synthetic log-linear data', () => {
    const p = CostPredictor.fit(synthetic(new Rng(1), 400));
    expect(p.coefficients.a).toBeCloseTo(0.5, 1);
    expect(p.coefficients.b).toBeCloseTo(2, 1);
    const pred = p.predict(0.5, { kWhPerEpoch: 0.01, carbonIntensity: 400 });
    expect(pred.epochs.mean).toBeCloseTo(Math.exp(1.5) - 1, 0);
    expect(pred.epochs.lo).toBeLessThan(pred.epochs.mean);
    expect(pred.epochs.hi).toBeGreaterThan(pred.epochs.mean);
    expect(pred.kWh!.hi).toBeCloseTo(pred.epochs.hi * 0.01, 12);
    expect(pred.kgCO2e!.mean).toBeCloseTo(pred.kWh!.mean * 0.4, 12);
  });
  it('80% conformal intervals cover 75–85% of 1,000 fresh draws', () => {
    const rng = new Rng(7);
    let covered = 0;
    for (let d = 0; d < 1000; d++) {
      const p = CostPredictor.fit(synthetic(rng, 30));
      const [test] = synthetic(rng, 1);
      const r = p.predict(test!.index).epochs;
      if (test!.epochs >= r.lo && test!.epochs <= r.hi) covered++;
    }
    expect(covered / 1000).toBeGreaterThanOrEqual(0.75);
    expect(covered / 1000).toBeLessThanOrEqual(0.85);
  });
  it('censored runs are left out of the fit; too few runs is a clear error', () => {
    const pts: CalibrationPoint[] = [{ index: 0, epochs: 1 }, { index: 1, epochs: 3 }, { index: 2, epochs: 1000, censored: true }];
    const p = CostPredictor.fit(pts);
    expect(p.coefficients.b).toBeCloseTo(Math.log(4) - Math.log(2), 12);
    expect(() => CostPredictor.fit([{ index: 0, epochs: 1 }])).toThrow(/at least 2/);
  });
  it('rejects a non-finite index, negative or NaN energy and carbon inputs, and unknown option names (instead of NaN or negative predictions)', () => {
    const p = CostPredictor.fit([0.1, 0.2, 0.4, 0.6].map((index, i) => ({ index, epochs: [1, 2, 5, 9][i]!, kWh: 0.01, kgCO2e: 0.005 })));
    for (const index of [Number.NaN, Infinity, undefined, '0.3']) {
      expect(trellisErrorOf(() => p.predict(index as number)).code).toBe('BAD_INDEX');
      expect(() => p.predict(index as number)).toThrow(`index ${typeof index === 'string' ? `"${index}"` : String(index)} is not a finite number`);
    }
    const bad: Array<[PredictOptions, string, string]> = [
      [{ kWhPerEpoch: -1 }, 'BAD_OPTION', 'kWhPerEpoch -1 is not a non-negative number'],
      [{ kWhPerEpoch: Number.NaN }, 'BAD_OPTION', 'kWhPerEpoch NaN is not a non-negative number'],
      [{ carbonIntensity: -5 }, 'BAD_CARBON_INTENSITY', 'carbon intensity -5 is not a non-negative number'],
      [{ pue: 0.5 }, 'BAD_PUE', 'PUE 0.5 is not a finite number ≥ 1'],
      [{ pue: Number.NaN }, 'BAD_PUE', 'PUE NaN is not a finite number ≥ 1'],
    ];
    for (const [options, code, message] of bad) {
      expect(trellisErrorOf(() => p.predict(0.3, options)).code).toBe(code);
      expect(() => p.predict(0.3, options)).toThrow(message);
    }
    expect(trellisErrorOf(() => CostPredictor.fit([{ index: 0, epochs: 1 }, { index: 1, epochs: 2 }], { model: 'linear' as 'loglinear' })).code).toBe('BAD_OPTION');
    expect(() => CostPredictor.fit([{ index: 0, epochs: 1 }, { index: 1, epochs: 2 }], { model: 'linear' as 'loglinear' })).toThrow('unknown predictor model "linear"');
    expect(trellisErrorOf(() => CostPredictor.fit(undefined as unknown as CalibrationPoint[])).code).toBe('TOO_FEW_RUNS');
    expect(trellisErrorOf(() => p.evaluate({ leaveOut: 'groups' as 'group' })).code).toBe('BAD_OPTION');
    expect(() => p.evaluate({ leaveOut: 'groups' as 'group' })).toThrow('unknown leaveOut "groups"');
  });
  it('isotonic fit pools tied x before PAV (scikit-learn), so it does not depend on the order of tied points', () => {
    // x = [0, 0, 1]: the tie at 0 is one block of mean 0.5 (weight 2) above 0.2 at x = 1 → all pooled: 1.2 / 3 = 0.4
    for (const y of [[0, 1, 0.2], [1, 0, 0.2]]) {
      const fit = isotonicFit([0, 0, 1], y); // was ys [0, 0.6, 0.6] in the first order, [0.4, 0.4, 0.4] in the second
      expect(fit.xs).toEqual([0, 1]);
      expect(fit.ys).toHaveLength(2);
      for (const v of fit.ys) expect(v).toBeCloseTo(0.4, 15);
    }
    // the whole tie decides: 0 then 10 at x = 1 average 5 > 0.5, so nothing merges (a first 0 alone would have)
    expect(isotonicFit([1, 0, 1], [0, 0.5, 10])).toEqual({ xs: [0, 1], ys: [0.5, 5] });
    const E = (l: number): number => Math.exp(l) - 1; // epochs whose log(e + 1) is l
    const a = CostPredictor.fit([{ index: 0, epochs: E(0) }, { index: 0, epochs: E(1) }, { index: 1, epochs: E(0.2) }], { model: 'isotonic' });
    const b = CostPredictor.fit([{ index: 0, epochs: E(1) }, { index: 0, epochs: E(0) }, { index: 1, epochs: E(0.2) }], { model: 'isotonic' });
    expect(a.predict(0).epochs.mean).toBeCloseTo(E(0.4), 12); // was 0 in this order and E(0.4) in the other
    expect(b.predict(0).epochs.mean).toBeCloseTo(E(0.4), 12);
    expect(a.predict(0.5).epochs.mean).toBeCloseTo(E(0.4), 12);
  });
  it('isotonic fit is monotone; evaluate leaves groups out; JSON round trip', () => {
    const { ys } = isotonicFit([0, 1, 2, 3], [1, 3, 2, 4]);
    expect(ys).toEqual([1, 2.5, 2.5, 4]);
    const p = CostPredictor.fit(synthetic(new Rng(3), 60), { model: 'isotonic' });
    const e = p.evaluate({ leaveOut: 'group' });
    expect(e.n).toBe(60);
    expect(e.spearman).toBeGreaterThan(0.8);
    const q = CostPredictor.fromJSON(JSON.parse(JSON.stringify(p.toJSON())));
    expect(q.predict(0.3).epochs).toEqual(p.predict(0.3).epochs);
    expect(conformalQuantile([1, 2, 3], 0.2)).toBe(Infinity);
    expect(conformalQuantile([1, 2, 3, 4, 5, 6, 7, 8, 9], 0.2)).toBe(8);
    // α outside (0, 1) used to return undefined (α = 1) or a score past the end
    for (const alpha of [0, 1, 1.5, NaN]) expect(() => conformalQuantile([1, 2, 3], alpha)).toThrow(/alpha .* is outside \(0, 1\)/);
  });
  it('censored held-out runs count as covered unless their lower bound exceeds the interval', () => {
    const pts: CalibrationPoint[] = [
      { index: 0, epochs: 1 }, { index: 0.1, epochs: 1.2 }, { index: 0.2, epochs: 1.5 }, { index: 0.3, epochs: 1.9 },
      { index: 0.4, epochs: 2.4 }, { index: 0.5, epochs: 3 }, { index: 0.6, epochs: 3.6 }, { index: 0.7, epochs: 4.5 }, { index: 0.8, epochs: 5.5 },
      { index: 0.35, epochs: 100, censored: true }, { index: 0.45, epochs: 1, censored: true },
    ];
    const e = CostPredictor.fit(pts).evaluate();
    expect(e.n).toBe(11);
    expect(e.censoredAboveInterval).toBe(1);
  });
  it('correlations', () => {
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 1000])).toBe(1);
    expect(pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(kendall([1, 2, 3], [3, 2, 1])).toBe(-1);
    expect(spearman([1, 1, 2], [1, 2, 3])).toBeCloseTo(0.8660254, 6);
  });
  it('tie cap of Spearman: the most a distinct-valued index can reach against tied costs', () => {
    // 4 of 6 costs tied at 0: average ranks 2.5 ×4, 5, 6; Σ(t³ − t) = 60, n³ − n = 210 → √(150/210)
    expect(spearmanTieCap([0, 0, 0, 0, 626, 9390])).toBeCloseTo(0.8451543, 7);
    // two pairs: Σ(t³ − t) = 6 + 6 = 12, n³ − n = 60 → √0.8
    expect(spearmanTieCap([0, 0, 5, 5])).toBeCloseTo(0.8944272, 7);
    // 3 of 6 at 0 and 2 at the cap: 24 + 6 = 30 → √(180/210)
    expect(spearmanTieCap([2355, 0, 0, 117, 0, 2355])).toBeCloseTo(0.9258201, 7);
    expect(spearmanTieCap([3, 1, 2])).toBe(1);
    expect(spearmanTieCap([7, 7, 7])).toBeNaN();
    expect(spearmanTieCap([7])).toBeNaN();
    // a perfectly ordered index reaches the cap exactly, whatever its order inside a tied group
    const costs = [0, 0, 0, 0, 626, 9390];
    expect(spearman([0.4, 0.1, 0.3, 0.2, 0.5, 0.6], costs)).toBeCloseTo(spearmanTieCap(costs), 12);
  });
});
