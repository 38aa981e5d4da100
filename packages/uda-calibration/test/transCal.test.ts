import { describe, expect, it } from 'vitest';
import { Rng } from '@trellis-ml/core';
import { domainImportanceWeights, estimateTargetAccuracy, fitLogisticRegression, meanConfidence, transCal } from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';

describe('fitLogisticRegression', () => {
  it('reaches the minimum of Σ log-loss + ½‖w‖² (x = ±1, y = 0/1: w solves w = 2σ(−w), b = 0)', () => {
    const model = fitLogisticRegression([-1, 1], [0, 1], 1);
    // The scalar optimality condition, solved by bisection independently of Newton's method.
    let lo = 0;
    let hi = 2;
    for (let i = 0; i < 80; i++) {
      const mid = (lo + hi) / 2;
      if (mid < 2 / (1 + Math.exp(mid))) lo = mid;
      else hi = mid;
    }
    expect(model.weights[0]).toBeCloseTo(lo, 10);
    expect(model.bias).toBeCloseTo(0, 10);
  });

  it('zeroes the gradient on 2-D data (Xᵀ(p − y) + l2·w = 0 and Σ(p − y) = 0)', () => {
    const rng = new Rng(3);
    const n = 400;
    const x = new Float64Array(2 * n);
    const y = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = i % 2;
      x[2 * i] = rng.normal(y[i] ? 1 : 0, 1);
      x[2 * i + 1] = rng.normal(0, 2);
    }
    const l2 = 0.5;
    const { weights, bias } = fitLogisticRegression(x, y, 2, { l2 });
    let [g0, g1, g2] = [l2 * weights[0]!, l2 * weights[1]!, 0];
    for (let i = 0; i < n; i++) {
      const r = 1 / (1 + Math.exp(-(weights[0]! * x[2 * i]! + weights[1]! * x[2 * i + 1]! + bias))) - y[i]!;
      g0 += r * x[2 * i]!;
      g1 += r * x[2 * i + 1]!;
      g2 += r;
    }
    for (const v of [g0, g1, g2]) expect(Math.abs(v)).toBeLessThan(1e-9);
    expect(weights[0]).toBeGreaterThan(0.5);
  });

  it('rejects labels other than 0/1, a wrong shape and non-finite features', () => {
    expect(() => fitLogisticRegression([0, 1], [0, 2], 1)).toThrow(/BAD_LABEL|not 0 or 1/);
    expect(() => fitLogisticRegression([0, 1, 2], [0, 1], 2)).toThrow(/rows of 2/);
    expect(() => fitLogisticRegression([0, NaN], [0, 1], 1)).toThrow(/not finite/);
  });
});

describe('domainImportanceWeights', () => {
  it('recovers the density ratio of two Gaussians: source N(0, 1), target N(1, 1) → w(x) = exp(x − ½)', () => {
    const rng = new Rng(11);
    const source = Float64Array.from({ length: 4000 }, () => rng.normal(0, 1));
    const target = Float64Array.from({ length: 3000 }, () => rng.normal(1, 1));
    const w = domainImportanceWeights(source, target, [-1, 0, 1, 2], 1, { l2: 1e-3, seed: 1 });
    [-1, 0, 1, 2].forEach((x, i) => expect(Math.abs(Math.log(w[i]!) - (x - 0.5)), `x = ${x}`).toBeLessThan(0.12));
  });

  it('gives finite, extreme weights for perfectly separable domains (the L2 penalty bounds the logit)', () => {
    const w = domainImportanceWeights([-100, -101, -99], [100, 101], [-100, 100], 1, { l2: 1e-6 });
    expect(Array.from(w).every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
    expect(w[0]!).toBeLessThan(1e-6);
    expect(w[1]!).toBeGreaterThan(1e6);
  });

  it('checks the feature widths', () => {
    expect(() => domainImportanceWeights([1, 2, 3], [1, 2], [1, 2], 2)).toThrow(/source training features/);
  });

  it('rejects non-finite source validation features (instead of a NaN weight)', () => {
    expect(trellisErrorOf(() => domainImportanceWeights([0, 0, 1, 1], [2, 2, 3, 3], [NaN, 1, 2, 3], 2)).code).toBe('NON_FINITE_FEATURES');
    expect(() => domainImportanceWeights([0, 0, 1, 1], [2, 2, 3, 3], [0, 1, 2, Infinity], 2)).toThrow('source validation feature value Infinity at index 3');
  });
});

describe('estimateTargetAccuracy (the reference control-variate estimator; values from its numpy code)', () => {
  it('equal weights: the correctness control variate replaces the source accuracy by the source confidence', () => {
    expect(estimateTargetAccuracy([1, 1, 1, 1], [0, 1, 0, 0], 0.8)).toBeCloseTo(0.8, 12);
    expect(estimateTargetAccuracy([1, 1, 1, 1], [0, 1, 0, 0], 0.8, { varianceTerm: false })).toBeCloseTo(0.75, 12);
  });

  it('rejects bad weights, errors other than 0/1 and a source confidence outside [0, 1] (instead of NaN or a number)', () => {
    expect(trellisErrorOf(() => estimateTargetAccuracy([1, NaN, 0.5], [0, 1, 0], 0.8)).code).toBe('BAD_WEIGHTS');
    expect(() => estimateTargetAccuracy([1, -2, 0.5], [0, 1, 0], 0.8)).toThrow('weight -2 at row 1 is not a finite non-negative number');
    expect(trellisErrorOf(() => estimateTargetAccuracy([1, 2, 0.5], [0, 2, 0], 0.8)).code).toBe('BAD_LABEL');
    expect(() => estimateTargetAccuracy([1, 2, 0.5], [0, NaN, 0], 0.8)).toThrow('error NaN at row 1 is not 0 or 1');
    for (const c of [NaN, 80, -0.1, undefined]) {
      expect(trellisErrorOf(() => estimateTargetAccuracy([1, 2, 0.5], [0, 1, 1], c as number)).code).toBe('BAD_CONFIDENCE');
      expect(() => estimateTargetAccuracy([1, 2, 0.5], [0, 1, 1], c as number)).toThrow(`source confidence ${c} is not a probability in [0, 1]`);
    }
  });

  it('uneven weights, λ = 1 and ½', () => {
    expect(estimateTargetAccuracy([2, 1, 0.5, 0.5], [1, 0, 0, 1], 0.6)).toBeCloseTo(0.44166666666666665, 12);
    expect(estimateTargetAccuracy([2, 1, 0.5, 0.5], [1, 0, 0, 1], 0.6, { lambda: 0.5 })).toBeCloseTo(0.4867721332851225, 12);
    expect(estimateTargetAccuracy([2, 1, 0.5, 0.5], [1, 0, 0, 1], 0.6, { lambda: 0.5, varianceTerm: false })).toBeCloseTo(0.4696699141100893, 12);
  });
});

describe('transCal', () => {
  /** n rows of k logits: the label's logit raised by `margin`, plus noise. */
  const logits = (n: number, k: number, margin: number, seed: number): { z: Float32Array; y: Int32Array } => {
    const rng = new Rng(seed);
    const z = new Float32Array(n * k);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = rng.int(k);
      for (let c = 0; c < k; c++) z[i * k + c] = rng.normal(0, 1) + (c === y[i] ? margin : 0);
    }
    return { z, y };
  };

  it('with equal weights, brings the target\'s mean confidence down to the source\'s calibrated confidence (T > 1, gap 0, λ nearest ½)', () => {
    const src = logits(2000, 5, 3, 1);
    const tgt = logits(2000, 5, 6, 2); // over-confident target logits
    const r = transCal({ targetLogits: tgt.z, sourceValLogits: src.z, sourceValLabels: src.y, weights: new Float64Array(2000).fill(1), k: 5 });
    expect(r.temperature).toBeGreaterThan(1);
    expect(r.gap).toBeLessThan(1e-6);
    expect(r.lambda).toBe(0.5);
    expect(r.confidence).toBeCloseTo(meanConfidence(src.z, 5, r.sourceTemperature), 5);
    expect(meanConfidence(tgt.z, 5, r.temperature)).toBeCloseTo(r.estimatedAccuracy, 5);
  });

  it('of λ with equal gaps takes the one nearest ½, the smaller at equal distance whatever the grid order', () => {
    const src = logits(2000, 5, 3, 1);
    const tgt = logits(2000, 5, 6, 2); // every λ reaches gap 0, as in the test above
    const inputs = { targetLogits: tgt.z, sourceValLogits: src.z, sourceValLabels: src.y, weights: new Float64Array(2000).fill(1), k: 5 };
    for (const lambdaGrid of [[0.55, 0.45], [0.45, 0.55], [0.7, 0.3], [0.3, 0.7], [1, 0.2, 0.8]]) {
      const r = transCal(inputs, { lambdaGrid });
      expect(r.gap, `grid ${lambdaGrid}`).toBeLessThan(1e-6);
      expect(r.lambda, `grid ${lambdaGrid}`).toBe(Math.min(...lambdaGrid.filter((l) => l !== 1)));
    }
  });

  it('keeps T = 1 when the estimated accuracy is above the raw target confidence', () => {
    const src = logits(1000, 4, 4, 3);
    const tgt = logits(1000, 4, 0.2, 4); // nearly uniform target predictions
    const r = transCal({ targetLogits: tgt.z, sourceValLogits: src.z, sourceValLabels: src.y, weights: new Float64Array(1000).fill(1), k: 4 });
    expect(r.temperature).toBe(1);
    expect(r.gap).toBeGreaterThan(0.1);
  });

  it('gives clear errors for bad input', () => {
    const src = logits(10, 3, 2, 5);
    const base = { targetLogits: src.z, sourceValLogits: src.z, sourceValLabels: src.y, weights: new Float64Array(10).fill(1), k: 3 };
    expect(() => transCal({ ...base, weights: new Float64Array(9) })).toThrow(/9 weights for 10/);
    expect(() => transCal({ ...base, weights: new Float64Array(10).fill(-1) })).toThrow(/not a finite non-negative/);
    expect(() => transCal({ ...base, targetLogits: new Float32Array(7) })).toThrow(/not rows of 3/);
    expect(() => transCal({ ...base, targetLogits: Float32Array.from(src.z, (v, i) => (i === 4 ? NaN : v)) })).toThrow(/NaN|finite/);
    const labels = Int32Array.from(src.y);
    labels[3] = 3;
    expect(trellisErrorOf(() => transCal({ ...base, sourceValLabels: labels })).code).toBe('LABEL_OUT_OF_RANGE');
    expect(() => transCal({ ...base, sourceValLabels: labels })).toThrow('label 3 of example 3 is outside [0, 3)');
    for (const maxTemperature of [0.5, NaN, -1, Infinity]) {
      expect(trellisErrorOf(() => transCal(base, { maxTemperature })).code).toBe('BAD_TEMPERATURE');
      expect(() => transCal(base, { maxTemperature })).toThrow(`maxTemperature ${maxTemperature} is not a finite number ≥ 1`);
    }
    expect(trellisErrorOf(() => transCal(base, { lambdaGrid: [] })).code).toBe('BAD_OPTION');
    expect(() => transCal(base, { lambdaGrid: [] })).toThrow('lambdaGrid is empty');
  });
});
