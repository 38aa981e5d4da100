import * as tf from '@tensorflow/tfjs-core';
import { Dataset, Rng, mlp } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  boundaryIndicators, flatParameters, groupDiagnostics, hessianVectorProduct, hutchinsonTrace, meanLossGradient, perSampleCrossEntropy, perSampleGradientNorms, powerIteration,
  setFlatParameters, taylorExcessLoss, topEigenvalue, applyMasks, computeMasks, evaluateGroups, settingsFor,
} from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { useCpu } from './setup.js';

beforeAll(useCpu);

function blobs(n: number, seed: number, shift: number, groupOf: (i: number) => number): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 2);
  const labels = new Int32Array(n);
  const groups = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const g = groupOf(i);
    labels[i] = rng.int(2);
    groups[i] = g;
    x[i * 2] = rng.normal() + (labels[i] ? 1 : -1) + g * shift;
    x[i * 2 + 1] = rng.normal() + g * shift;
  }
  return Dataset.fromArrays({ x, shape: [2], labels, numClasses: 2, groups });
}

describe('Hessian-vector products and power iteration', () => {
  it('finite differences agree with the exact Gauss-Newton product (= the Hessian for a linear model) within 5%', () => {
    const m = mlp({ inputShape: [2], hidden: [], numClasses: 2, seed: 3 });
    const data = blobs(40, 1, 0, () => 0);
    const dim = flatParameters(m).length;
    const norm = (a: Float64Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));
    for (const seed of [2, 3]) {
      const v = Float64Array.from(new Rng(seed).normalArray(dim));
      const fd = hessianVectorProduct(m, data, v);
      const gn = hessianVectorProduct(m, data, v, { method: 'gauss-newton' });
      expect(norm(fd.map((x, i) => x - gn[i]!)) / norm(gn)).toBeLessThan(0.05);
    }
    m.dispose();
  });

  it('finite-difference products are stable in ε and leave the weights untouched on a ReLU MLP', () => {
    const m = mlp({ inputShape: [2], hidden: [5], numClasses: 2, seed: 4 });
    const data = blobs(40, 1, 0, () => 0);
    const before = flatParameters(m);
    const v = Float64Array.from(new Rng(1).normalArray(before.length));
    const a = hessianVectorProduct(m, data, v, { epsilon: 1e-3 });
    const b = hessianVectorProduct(m, data, v, { epsilon: 3e-3 });
    const norm = (x: Float64Array) => Math.sqrt(x.reduce((s, y) => s + y * y, 0));
    expect(norm(a.map((x, i) => x - b[i]!)) / norm(a)).toBeLessThan(0.05);
    expect(flatParameters(m)).toEqual(before);
    m.dispose();
  });

  it('setFlatParameters writes each value rounded to the nearest float32, in variable order; Hutchinson is exact on a diagonal operator', () => {
    const m = mlp({ inputShape: [2], hidden: [3], numClasses: 2, seed: 3 }); // kernels 2×3, 3×2 and biases 3, 2: 17 values
    const flat = Float64Array.from({ length: 17 }, (_, i) => 0.1 * (i + 1) + 1e-12);
    setFlatParameters(m, flat);
    expect(Array.from(flatParameters(m))).toEqual(Array.from(flat, (x) => Math.fround(x)));
    expect(Math.fround(0.1 + 1e-12)).not.toBe(0.1 + 1e-12); // the values above do need rounding
    // vᵀDv = Σ d_i for every ±1 vector v, so any number of samples gives the trace exactly
    const d = Float64Array.of(1, -2, 3.5, 0.25);
    expect(hutchinsonTrace((v) => v.map((x, i) => d[i]! * x), 4, { samples: 3, seed: 9 })).toBe(2.75);
    m.dispose();
  });

  it('rejects a vector or parameter list of the wrong length (NaN weights or products otherwise), an unknown method and a zero step', () => {
    const m = mlp({ inputShape: [2], hidden: [3], numClasses: 2, seed: 3 });
    const data = blobs(10, 1, 0, () => 0);
    const before = flatParameters(m);
    expect(() => setFlatParameters(m, [1, 2, 3])).toThrow(/3 values for a model with 17 parameters/);
    expect(trellisErrorOf(() => setFlatParameters(m, new Float64Array(100))).code).toBe('MODEL_MISMATCH');
    expect(flatParameters(m)).toEqual(before); // nothing was written
    expect(() => hessianVectorProduct(m, data, Float64Array.of(1, 2, 3))).toThrow(/a vector of 3 values for a model with 17 parameters/);
    expect(trellisErrorOf(() => hessianVectorProduct(m, data, Float64Array.of(1, 2, 3), { method: 'gauss-newton' })).code).toBe('MODEL_MISMATCH');
    const v = new Float64Array(before.length).fill(1);
    expect(() => hessianVectorProduct(m, data, v, { method: 'gauss_newton' as never })).toThrow(/unknown Hessian-vector method "gauss_newton"/);
    expect(trellisErrorOf(() => hessianVectorProduct(m, data, v, { epsilon: 0 })).code).toBe('BAD_OPTION');
    expect(() => hutchinsonTrace((x) => x, 3, { samples: 0 })).toThrow(/0 Hutchinson samples is not a positive integer/);
    m.dispose();
  });

  it('power iteration recovers the top eigenvalue of a known quadratic', () => {
    const diag = [0.5, 3, -1, 2];
    expect(powerIteration((v) => v.map((x, i) => diag[i]! * x), 4, { iterations: 100, seed: 1 })).toBeCloseTo(3, 6);
  });

  it('topEigenvalue is λ_max even when a negative eigenvalue dominates in magnitude (power iteration alone finds that one)', () => {
    const op = (diag: number[]) => (v: Float64Array) => v.map((x, i) => diag[i]! * x);
    expect(powerIteration(op([0.5, 3, -5, 2]), 4, { iterations: 200, seed: 1 })).toBeCloseTo(-5, 6);
    // shifted by 5: eigenvalues 5.5, 8, 0, 7 → top 8 → 8 − 5 = 3
    expect(topEigenvalue(op([0.5, 3, -5, 2]), 4, { iterations: 200, seed: 1 })).toBeCloseTo(3, 6);
    expect(topEigenvalue(op([0.5, 3, -1, 2]), 4, { iterations: 100, seed: 1 })).toBeCloseTo(3, 6);
    // negative definite: λ_max = −1, not the dominant −4
    expect(topEigenvalue(op([-1, -4, -2]), 3, { iterations: 200, seed: 2 })).toBeCloseTo(-1, 6);
  });

  it('power iteration and the boundary indicators refuse what used to give 0 or NaN silently', () => {
    const id = (v: Float64Array) => v;
    for (const [dim, iterations] of [[0, 20], [2.5, 20], [4, 0], [4, -1], [4, 1.5]] as const) {
      expect(trellisErrorOf(() => powerIteration(id, dim, { iterations })).code, `${dim}, ${iterations}`).toBe('BAD_OPTION');
    }
    expect(trellisErrorOf(() => boundaryIndicators([1, 2], [5], 2)).code).toBe('LABEL_OUT_OF_RANGE'); // margin was NaN
    expect(trellisErrorOf(() => boundaryIndicators([1, 2, 3, 4], [0], 2)).code).toBe('LENGTH_MISMATCH'); // the second row was ignored
  });

  it('gradient diagnostics refuse labels outside the model\'s classes (a zero one-hot row: zero loss, zero gradient) and caps of 0 examples', () => {
    const m = mlp({ inputShape: [2], hidden: [], numClasses: 2, seed: 3 });
    const good = blobs(12, 1, 0, (i) => i % 2);
    const bad = Dataset.fromArrays({ x: Float32Array.from({ length: 24 }, (_, i) => i / 24), shape: [2], labels: new Int32Array(12).fill(2), numClasses: 3, groups: Int32Array.from({ length: 12 }, (_, i) => i % 2) });
    const dim = flatParameters(m).length;
    const v = new Float64Array(dim).fill(1);
    expect(trellisErrorOf(() => meanLossGradient(m, bad)).code).toBe('LABEL_OUT_OF_RANGE');
    expect(trellisErrorOf(() => perSampleGradientNorms(m, bad)).code).toBe('LABEL_OUT_OF_RANGE');
    expect(trellisErrorOf(() => hessianVectorProduct(m, bad, v)).code).toBe('LABEL_OUT_OF_RANGE');
    expect(trellisErrorOf(() => hessianVectorProduct(m, bad, v, { method: 'gauss-newton' })).code).toBe('LABEL_OUT_OF_RANGE');
    expect(trellisErrorOf(() => taylorExcessLoss(m, m, bad, 2)).code).toBe('LABEL_OUT_OF_RANGE');
    expect(trellisErrorOf(() => groupDiagnostics(m, good, 2, { maxPerGroup: 0 })).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => groupDiagnostics(m, good, 2, { hessianPerGroup: 0 })).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => groupDiagnostics(m, good, 2, { hessianPerGroup: 2.5 })).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => taylorExcessLoss(m, m, good, 2, { maxPerGroup: 0 })).code).toBe('BAD_OPTION');
    // Infinity is every example (the full study's maxPerGroup): the same figures as a cap above the group size
    const all = groupDiagnostics(m, good, 2, { maxPerGroup: Number.POSITIVE_INFINITY, hessianPerGroup: Number.POSITIVE_INFINITY, seed: 1 });
    const big = groupDiagnostics(m, good, 2, { maxPerGroup: 100, hessianPerGroup: 100, seed: 1 });
    expect(all.gradNorm).toEqual(big.gradNorm);
    expect(all.hessianTopEig).toEqual(big.hessianTopEig);
    expect(taylorExcessLoss(m, m, good, 2, { maxPerGroup: Number.POSITIVE_INFINITY }).estimate).toEqual(taylorExcessLoss(m, m, good, 2, { maxPerGroup: 100 }).estimate);
    // the study's own caps pass the checks in both modes (the full mode's Infinity was refused once, before anything ran)
    for (const mode of ['quick', 'full'] as const) {
      const { maxPerGroup, hessianPerGroup } = settingsFor(mode).diagnostics;
      expect(groupDiagnostics(m, good, 2, { maxPerGroup, hessianPerGroup, powerIterations: 2, seed: 1 }).gradNorm).toHaveLength(2);
      expect(taylorExcessLoss(m, m, good, 2, { maxPerGroup }).estimate).toHaveLength(2);
    }
    m.dispose();
  });
});

describe('gradient norms at a stationary point', () => {
  it('n0‖g0‖ ≈ n1‖g1‖ within 5% on a 2-group logistic regression trained to convergence', () => {
    const n = 200;
    const data = blobs(n, 4, 1.5, (i) => (i < 150 ? 0 : 1));
    const m = mlp({ inputShape: [2], hidden: [], numClasses: 2, seed: 1 });
    const vars = Object.values(m.trainableVariables());
    const opt = tf.train.adam(0.05);
    const x = tf.tensor2d(data.x, [n, 2]);
    const y = tf.tensor1d(data.labels!, 'int32');
    for (let i = 0; i < 1500; i++) opt.minimize(() => tf.mean(perSampleCrossEntropy(m.apply(x).logits, y, 2)) as tf.Scalar, false, vars);
    opt.dispose();
    tf.dispose([x, y]);
    const g0 = meanLossGradient(m, data.subset(Array.from({ length: 150 }, (_, i) => i)));
    const g1 = meanLossGradient(m, data.subset(Array.from({ length: 50 }, (_, i) => 150 + i)));
    const norm = (a: Float64Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0));
    expect(norm(g1)).toBeGreaterThan(1e-3); // the groups do pull in different directions
    expect(Math.abs((150 * norm(g0)) / (50 * norm(g1)) - 1)).toBeLessThan(0.05);
    m.dispose();
  });
});

describe('groupDiagnostics and the Taylor estimate', () => {
  it('returns one finite value per group, boundary indicators by hand, flat tensor count', () => {
    const { proximity, margin, residual } = boundaryIndicators([0, 0, Math.log(3), 0], [0, 1], 2);
    expect(proximity[0]).toBeCloseTo(0.5, 12); // p = (0.5, 0.5)
    expect(proximity[1]).toBeCloseTo(1 - (0.75 ** 2 + 0.25 ** 2), 6);
    expect(margin[1]).toBeCloseTo(0.25 - 0.75, 6);
    expect(residual[1]).toBeCloseTo(Math.sqrt(2 * 0.75 ** 2), 6);
    const m = mlp({ inputShape: [2], hidden: [6], numClasses: 2, seed: 3 });
    const data = blobs(60, 2, 1, (i) => i % 3);
    const before = tf.memory().numTensors;
    const d = groupDiagnostics(m, data, 3, { powerIterations: 3, traceSamples: 2, inputDistance: true });
    expect(tf.memory().numTensors).toBe(before);
    for (const key of ['gradNorm', 'residualNorm', 'hessianTopEig', 'boundaryProximity', 'probMargin', 'loss', 'hessianTrace', 'inputDistance'] as const) {
      expect(d[key]!.length).toBe(3);
      d[key]!.forEach((v) => expect(Number.isFinite(v)).toBe(true));
    }
    expect(d.size).toEqual([20, 20, 20]);
    const pruned = mlp({ inputShape: [2], hidden: [6], numClasses: 2, seed: 3 });
    applyMasks(pruned, computeMasks(pruned, { sparsity: 0.3, minKeepCount: 0 }));
    const t = taylorExcessLoss(m, pruned, data, 3);
    expect(t.estimate.length).toBe(3);
    expect(t.deltaNorm).toBeGreaterThan(0);
    m.dispose();
    pruned.dispose();
  });

  it('the Taylor estimate tracks each group’s actual excess loss for a small pruning step, and ranks the groups', () => {
    // (An untrained model: the first-order term dominates here; the second order is checked through hessianVectorProduct above.)
    const m = mlp({ inputShape: [2], hidden: [6], numClasses: 2, seed: 3 });
    const data = blobs(90, 2, 1, (i) => i % 3);
    const pruned = mlp({ inputShape: [2], hidden: [6], numClasses: 2, seed: 3 }); // the same weights
    applyMasks(pruned, computeMasks(pruned, { sparsity: 0.1, minKeepCount: 0 }));
    const t = taylorExcessLoss(m, pruned, data, 3);
    const before = evaluateGroups(m, data, 3, { bootstrapBelow: 0 });
    const after = evaluateGroups(pruned, data, 3, { bootstrapBelow: 0 });
    const actual = after.perGroup.map((g, a) => g.loss - before.perGroup[a]!.loss);
    const scale = Math.max(...actual.map(Math.abs));
    expect(scale).toBeGreaterThan(1e-4); // the step moves the losses
    // Second order: the residual is third order in ‖δ‖, small against the excess losses themselves.
    actual.forEach((r, a) => expect(Math.abs(t.estimate[a]! - r)).toBeLessThan(0.25 * scale));
    const order = (v: number[]) => [0, 1, 2].sort((i, j) => v[i]! - v[j]!);
    expect(order(t.estimate)).toEqual(order(actual));
    m.dispose();
    pruned.dispose();
  });

  it('errors when a group has no samples', () => {
    const m = mlp({ inputShape: [2], hidden: [3], numClasses: 2, seed: 3 });
    expect(() => groupDiagnostics(m, blobs(10, 1, 0, () => 0), 2)).toThrow(/group 1 has no samples/);
    m.dispose();
  });
});
