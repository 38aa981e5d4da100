import * as tf from '@tensorflow/tfjs-core';
import { Dataset, Rng, TrellisError, mlp } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  GroupBuffer, accuracyGapConstraints, bootstrapCi, boundaryIndicators, classSetGroups, computeMasks, cubicSparsity, disparity, distillationLoss, dualAscentStep, fineTunePruned, groupConstraints, groupDiagnostics, groupMeans, groupReport, powerIteration,
  groupViolations, hessianVectorProduct, hostViolations, hutchinsonTrace, imbalanceByClass, inputSpaceDistance, isPruningEpoch, magnitudeMasks, parameterCounts,
  meanLossGradient, perSampleCrossEntropy, perSampleGradientNorms, flatParameters, pruning, setFlatParameters, summarizeMasks, sweep, type GroupReport,
} from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { useCpu } from './setup.js';

beforeAll(useCpu);

const small = (): Dataset => Dataset.fromArrays({
  x: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), shape: [2], labels: Int32Array.from([0, 1, 0, 1]), numClasses: 2, groups: Int32Array.from([0, 0, 1, 1]),
});

describe('group means and violations (review fixes)', () => {
  it('groupMeans works with a single group and matches hand-computed means', () => {
    const one = tf.tidy(() => {
      const r = groupMeans(tf.tensor1d([1, 2, 3]), tf.tensor1d([0, 0, 0], 'int32'), 1);
      return { m: Array.from(r.groupMean.dataSync()), c: Array.from(r.counts.dataSync()), o: r.overall.dataSync()[0] };
    });
    expect(one).toEqual({ m: [2], c: [3], o: 2 });
    const two = tf.tidy(() => {
      const r = groupMeans(tf.tensor1d([1, 2, 3, 6]), tf.tensor1d([0, 1, 1, 0], 'int32'), 3); // group 2 absent -> mean 0
      return { m: Array.from(r.groupMean.dataSync()), c: Array.from(r.counts.dataSync()) };
    });
    expect(two).toEqual({ m: [3.5, 2.5, 0], c: [2, 2, 0] });
  });

  it('groupMeans and perSampleCrossEntropy reject bad shapes and group counts with TrellisErrors', () => {
    const before = tf.memory().numTensors;
    const v = tf.tensor1d([1, 2, 3]);
    const g2 = tf.tensor1d([0, 0], 'int32');
    const g3 = tf.tensor1d([0, 0, 0], 'int32');
    expect(trellisErrorOf(() => groupMeans(v, g2, 2)).code).toBe('BAD_SHAPE');
    expect(trellisErrorOf(() => groupMeans(v, g3, 0)).code).toBe('BAD_GROUP_COUNT');
    expect(trellisErrorOf(() => groupMeans(v, g3, 1.5)).code).toBe('BAD_GROUP_COUNT');
    const logits = tf.tensor2d([[0, 0, 0]]);
    const y1 = tf.tensor1d([0], 'int32');
    const y2 = tf.tensor1d([0, 1], 'int32');
    expect(trellisErrorOf(() => perSampleCrossEntropy(logits, y1, 2)).code).toBe('BAD_SHAPE');
    // two labels for one row of logits used to broadcast into two losses, silently
    expect(trellisErrorOf(() => perSampleCrossEntropy(logits, y2, 3)).code).toBe('BAD_SHAPE');
    const ce = tf.tidy(() => perSampleCrossEntropy(logits, y1, 3).dataSync()[0]!);
    expect(ce).toBeCloseTo(Math.log(3), 6); // equal logits over 3 classes
    tf.dispose([v, g2, g3, logits, y1, y2]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('distillationLoss: hand value; a zero / NaN temperature and mismatched logits are rejected (NaN / silent broadcast before)', () => {
    const before = tf.memory().numTensors;
    const s1 = tf.tensor2d([[0, 0]]);
    const t1 = tf.tensor2d([[0, Math.log(3)]]);
    // p_t = (1/4, 3/4), p_s = (1/2, 1/2): KL = ¼·ln(½) + ¾·ln(3/2); T = 1
    const kl = tf.tidy(() => distillationLoss(s1, t1, 1).dataSync()[0]!);
    expect(kl).toBeCloseTo(0.25 * Math.log(0.5) + 0.75 * Math.log(1.5), 6);
    expect(trellisErrorOf(() => distillationLoss(s1, t1, 0)).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => distillationLoss(s1, t1, NaN)).code).toBe('BAD_OPTION');
    const t2 = tf.tensor2d([[2, 1], [1, 1]]);
    const t3 = tf.tensor2d([[2, 1, 3]]);
    expect(trellisErrorOf(() => distillationLoss(s1, t2, 4)).code).toBe('BAD_SHAPE');
    expect(trellisErrorOf(() => distillationLoss(s1, t3, 4)).code).toBe('BAD_SHAPE');
    tf.dispose([s1, t1, t2, t3]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a one-group constraint fine-tune with λ ≠ 0 runs (oneHot used to reject depth 1)', async () => {
    const m = mlp({ inputShape: [2], hidden: [3], numClasses: 2, seed: 1 });
    const d = small().withGroups(Int32Array.from([0, 0, 0, 0]));
    const masks = computeMasks(m, { sparsity: 0.5, minKeepCount: 0 });
    const r = await fineTunePruned(m, masks, d, { epochs: 1, numGroups: 1, seed: 1, batchSize: 2, mitigation: { kind: 'group-loss', initialLambdas: [1] } });
    expect(r.lambdas).toHaveLength(1);
    // one group: J_a = J, so the violation is 0 and λ stays put
    expect(r.lambdas[0]).toBeCloseTo(1, 12);
    m.dispose();
  });

  it('violations: hand-computed values; unknown kinds and short dense losses are rejected', () => {
    expect(hostViolations([1, 3], 2, { violation: 'one-sided' }).violations).toEqual([0, 1]);
    expect(hostViolations([1, 3], 2).violations).toEqual([1, 1]);
    // excess-loss gap: (J_a − J) − (J*_a − J*) with J* = 1, J*_a = [0.5, 1.5]
    expect(hostViolations([1, 3], 2, { violation: 'signed', denseGroupLoss: [0.5, 1.5], denseLoss: 1 }).violations).toEqual([-0.5, 0.5]);
    expect(trellisErrorOf(() => hostViolations([1, 3], 2, { violation: 'bogus' as never })).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => hostViolations([1, 3, 2], 2, { denseGroupLoss: [0.5, 0.5] })).code).toBe('BAD_OPTION');
    const before = tf.memory().numTensors;
    const gl = tf.tensor1d([1, 3]);
    const o = tf.scalar(2);
    const c = tf.tensor1d([1, 1]);
    expect(trellisErrorOf(() => groupViolations(gl, o, c, { violation: 'bogus' as never })).code).toBe('BAD_OPTION');
    const v = tf.tidy(() => Array.from(groupViolations(gl, o, c, { violation: 'one-sided' }).dataSync()));
    expect(v).toEqual([0, 1]);
    tf.dispose([gl, o, c]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('dualAscentStep rejects NaN multipliers; GroupBuffer rejects bad group counts and ids', () => {
    expect(dualAscentStep([0, 9.95], [1, 1], [true, true], { lr: 0.1, lambdaMax: 10 })).toEqual([0.1, 10]);
    expect(trellisErrorOf(() => dualAscentStep([NaN, 0], [1, 1], [true, true], { lr: 0.1, lambdaMax: 10 })).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => new GroupBuffer(-1, 4)).code).toBe('BAD_GROUP_COUNT');
    expect(trellisErrorOf(() => new GroupBuffer(1.5, 4)).code).toBe('BAD_GROUP_COUNT');
    const b = new GroupBuffer(2, 2);
    expect(trellisErrorOf(() => b.push(2, 1)).code).toBe('GROUP_ID_OUT_OF_RANGE');
    b.push(1, 1);
    b.push(1, 2);
    b.push(1, 4); // overwrites the oldest (1)
    expect(b.mean(1)).toBe(3);
  });

  it('constraint plugins refuse a saved state of another group count or with NaN multipliers (it failed later inside a step)', () => {
    const c = groupConstraints({ numGroups: 3 });
    const two = groupConstraints({ numGroups: 2, initialLambdas: [0.5, 0.25] });
    expect(trellisErrorOf(() => c.setState!(two.getState!())).code).toBe('BAD_STATE');
    expect(trellisErrorOf(() => c.setState!({ lambdas: [NaN, 0, 0], sum: [0, 0, 0], count: [0, 0, 0] })).code).toBe('BAD_STATE');
    c.setState!({ lambdas: [1, 2, 3], sum: [0, 0, 0], count: [0, 0, 0] });
    expect(c.lambdas()).toEqual([1, 2, 3]);
    const g = accuracyGapConstraints({ numGroups: 2, reference: { groupLoss: [1, 1], loss: 1, groupAccuracy: [1, 1], accuracy: 1 } });
    expect(trellisErrorOf(() => g.setState!({ lambdas: [1], sum: [], count: [] })).code).toBe('BAD_STATE');
    g.setState!(JSON.parse(JSON.stringify({ ...g.getState!(), lambdas: [0.5, 0] })));
    expect(g.lambdas()).toEqual([0.5, 0]);
  });

  it('groupConstraints rejects a NaN buffer size and NaN initial multipliers', () => {
    expect(trellisErrorOf(() => groupConstraints({ numGroups: 2, bufferSize: NaN })).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => groupConstraints({ numGroups: 2, initialLambdas: [NaN, 0] })).code).toBe('BAD_OPTION');
    expect(groupConstraints({ numGroups: 2, bufferSize: 0 }).lambdas()).toEqual([0, 0]);
  });
});

describe('metrics, masks and schedules (review fixes)', () => {
  it('disparity and bootstrapCi refuse empty inputs instead of returning -Infinity / NaN', () => {
    const empty: GroupReport = { overall: { accuracy: 1, loss: 1, count: 1 }, perGroup: [] };
    expect(trellisErrorOf(() => disparity(empty, empty)).code).toBe('EMPTY_GROUP');
    expect(trellisErrorOf(() => bootstrapCi([], 10, new Rng(1))).code).toBe('EMPTY_GROUP');
    const r = (acc: number[], loss: number[]): GroupReport => ({ overall: { accuracy: acc.reduce((s, x) => s + x) / acc.length, loss: 0, count: 2 }, perGroup: acc.map((a, i) => ({ accuracy: a, loss: loss[i]!, count: 1 })) });
    const d = disparity(r([0.9, 0.7], [0.2, 0.5]), r([0.85, 0.5], [0.3, 0.9]));
    expect(d.accuracyDrop[0]).toBeCloseTo(0.05, 12);
    expect(d.accuracyDrop[1]).toBeCloseTo(0.2, 12);
    expect(d.accuracyDropSpread).toBeCloseTo(0.15, 12);
    expect(d.excessLossSpread).toBeCloseTo(0.3, 12); // R = [0.1, 0.4]
    expect(d.richGetRicherRho).toBeNaN(); // two groups: documented NaN
  });

  it('groupReport rejects a NaN bootstrapBelow (used to switch the CIs off silently)', () => {
    // logits rows (0, 1) label 1 and (1, 0) label 0: both correct, loss ln(1 + e^−1) each
    const r = groupReport([0, 1, 1, 0], [1, 0], [0, 1], 2, 2);
    expect(r.perGroup.map((g) => g.accuracy)).toEqual([1, 1]);
    expect(r.overall.loss).toBeCloseTo(Math.log(1 + Math.exp(-1)), 12);
    expect(r.perGroup[0]!.ci95).toEqual([1, 1]);
    expect(trellisErrorOf(() => groupReport([0, 1, 1, 0], [1, 0], [0, 1], 2, 2, { bootstrapBelow: NaN })).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => groupReport([0, 1, 1, 0], [1, 0], [0, 1], 2, 2, { bootstrapBelow: -1 })).code).toBe('BAD_OPTION');
  });

  it('magnitudeMasks: ties by index, a wrong-sized previous mask and a non-function include are rejected', () => {
    const w = { 'a/kernel': { values: Float32Array.from([3, 1, 1, 2, -1, 5]), shape: [2, 3] } };
    // ⌈0.5·6⌉ = 3 smallest |w|: the three 1s at indices 1, 2, 4
    expect(Array.from(magnitudeMasks(w, { sparsity: 0.5, minKeepCount: 0 }).masks['a/kernel']!)).toEqual([1, 0, 0, 1, 0, 1]);
    // ⌈0.34·6⌉ = 3 too; sparsity 0 prunes nothing
    expect(Array.from(magnitudeMasks(w, { sparsity: 0.34, minKeepCount: 0, scope: 'layerwise' }).masks['a/kernel']!)).toEqual([1, 0, 0, 1, 0, 1]);
    expect(magnitudeMasks(w, { sparsity: 0, minKeepCount: 0 }).pruned).toBe(0);
    const wrong = summarizeMasks({ 'a/kernel': Uint8Array.from([0]) }, { 'a/kernel': [1] });
    expect(trellisErrorOf(() => magnitudeMasks(w, { sparsity: 0.5, minKeepCount: 0 }, wrong)).code).toBe('MASK_MISMATCH');
    expect(trellisErrorOf(() => magnitudeMasks(w, { sparsity: 0.5, include: 'kernel' as never })).code).toBe('BAD_OPTION');
  });

  it('nested masks never revive a pruned weight: a lower sparsity than the previous masks, or a decreasing schedule, is rejected', () => {
    const w = { 'a/kernel': { values: Float32Array.from([3, 1, 1, 2, -1, 5, 4, 6, 7, 8]), shape: [2, 5] } };
    const prev = magnitudeMasks(w, { sparsity: 0.2, minKeepCount: 0 }); // |w| 1, 1 at indices 1, 2
    expect(Array.from(prev.masks['a/kernel']!)).toEqual([1, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
    // 0.5 -> 5 pruned: the two previous ones plus the 3 smallest others (|−1|, 2, 3)
    expect(Array.from(magnitudeMasks(w, { sparsity: 0.5, minKeepCount: 0 }, prev).masks['a/kernel']!)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    const half = magnitudeMasks(w, { sparsity: 0.5, minKeepCount: 0 });
    expect(trellisErrorOf(() => magnitudeMasks(w, { sparsity: 0.2, minKeepCount: 0 }, half)).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => magnitudeMasks(w, { sparsity: 0.2, minKeepCount: 0, scope: 'layerwise' }, half)).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => cubicSparsity(1, 0.5, { kind: 'gradual', startEpoch: 0, endEpoch: 2, initialSparsity: 0.9 })).code).toBe('BAD_SCHEDULE');
    expect(trellisErrorOf(() => pruning({ sparsity: 0.5, schedule: { kind: 'gradual', startEpoch: 0, endEpoch: 2, initialSparsity: 0.9 } })).code).toBe('BAD_SCHEDULE');
  });

  it('parameterCounts refuses masks of another model instead of counting 0 prunable weights', () => {
    const m = mlp({ inputShape: [2], hidden: [3], numClasses: 2, seed: 1 }); // kernels 2×3 and 3×2, biases 3 and 2
    setFlatParameters(m, [0, 1, 2, 3, 4, 5, 1, 1, 1, 0, 0, 6, 7, 8, 9, 1, 1]);
    const masks = computeMasks(m, { sparsity: 0.5, minKeepCount: 0 });
    const c = parameterCounts(m, masks);
    // prunable 12 (the two kernels), zeros there: 0 (kernel 1) and the two written as 0 in kernel 2 -> 3
    expect([c.total, c.prunable, c.nonzeroPrunable, c.nonzero]).toEqual([17, 12, 9, 14]);
    expect(c.sparsity).toBeCloseTo(0.25, 12);
    const wrong = summarizeMasks({ 'nope/kernel': new Uint8Array(6).fill(1) }, { 'nope/kernel': [2, 3] });
    expect(trellisErrorOf(() => parameterCounts(m, wrong)).code).toBe('MASK_MISMATCH');
    m.dispose();
  });

  it('cubic schedule: hand value, and NaN / negative / fractional epochs are rejected', () => {
    const sched = { kind: 'gradual' as const, startEpoch: 0, endEpoch: 10, everyEpochs: 2 };
    // epoch 5 -> last pruning epoch 4: 0.9 + (0 − 0.9)(1 − 0.4)³ = 0.9 − 0.1944
    expect(cubicSparsity(5, 0.9, sched)).toBeCloseTo(0.7056, 12);
    expect(trellisErrorOf(() => cubicSparsity(NaN, 0.9, sched)).code).toBe('BAD_SCHEDULE');
    expect(trellisErrorOf(() => isPruningEpoch(NaN, sched)).code).toBe('BAD_SCHEDULE');
    expect(trellisErrorOf(() => cubicSparsity(1, 0.9, { kind: 'gradual', startEpoch: -2, endEpoch: 4 })).code).toBe('BAD_SCHEDULE');
    expect(trellisErrorOf(() => cubicSparsity(1, 0.9, { kind: 'gradual', startEpoch: 0.5, endEpoch: 4 })).code).toBe('BAD_SCHEDULE');
    expect(trellisErrorOf(() => pruning({ sparsity: 0.5, schedule: { kind: 'gradual', startEpoch: -3, endEpoch: 3 } })).code).toBe('BAD_SCHEDULE');
  });

  it('imbalanceByClass rejects a keep fraction for a class the dataset does not have', () => {
    expect(trellisErrorOf(() => imbalanceByClass(small(), { 7: 0.5 }, 1)).code).toBe('LABEL_OUT_OF_RANGE');
    expect(imbalanceByClass(small(), { 1: 0.5 }, 1).size).toBe(3); // class 1: round(0.5·2) = 1 kept of 2
    // a class with no examples (here class 2 of 3) is simply absent, not an Rng.sample(0, 1) BAD_COUNT
    const three = Dataset.fromArrays({ x: new Float32Array(8), shape: [2], labels: Int32Array.from([0, 1, 0, 1]), numClasses: 3 });
    expect(imbalanceByClass(three, { 1: 0.5, 2: 0.1 }, 1).labels).toHaveLength(3);
  });
});

describe('group designs (review fixes)', () => {
  it('classSetGroups rejects a minority class the dataset does not have (group 1 used to be silently empty)', () => {
    expect(Array.from(classSetGroups(small(), [1]).groups!)).toEqual([0, 1, 0, 1]);
    expect(trellisErrorOf(() => classSetGroups(small(), [12])).code).toBe('LABEL_OUT_OF_RANGE');
    expect(trellisErrorOf(() => classSetGroups(small(), [0.5])).code).toBe('LABEL_OUT_OF_RANGE');
  });
});

describe('diagnostics (review fixes)', () => {
  it('boundaryIndicators: hand values on 2 classes; 1 class (margin +Infinity) is rejected', () => {
    // logits (0, ln 3): p = (1/4, 3/4); label 1 -> b = 1 − (1/16 + 9/16) = 3/8, margin 1/2, residual √(2/16)
    const r = boundaryIndicators([0, Math.log(3)], [1], 2);
    expect(r.proximity[0]).toBeCloseTo(3 / 8, 12);
    expect(r.margin[0]).toBeCloseTo(0.5, 12);
    expect(r.residual[0]).toBeCloseTo(Math.sqrt(2) / 4, 12);
    expect(trellisErrorOf(() => boundaryIndicators([1, 2], [0, 0], 1)).code).toBe('BAD_MODEL');
  });

  it('gradients and Hessian products of an empty set, and NaN directions, are errors, not NaN', () => {
    const m = mlp({ inputShape: [2], hidden: [3], numClasses: 2, seed: 1 });
    const empty = small().subset([]);
    expect(trellisErrorOf(() => meanLossGradient(m, empty)).code).toBe('EMPTY_DATASET');
    expect(trellisErrorOf(() => hessianVectorProduct(m, empty, new Float64Array(17).fill(1))).code).toBe('EMPTY_DATASET');
    expect(trellisErrorOf(() => hessianVectorProduct(m, empty, new Float64Array(17).fill(1), { method: 'gauss-newton' })).code).toBe('EMPTY_DATASET');
    expect(trellisErrorOf(() => hessianVectorProduct(m, small(), new Float64Array(17).fill(NaN))).code).toBe('BAD_VECTOR');
    m.dispose();
  });

  it('a batch whose forward pass throws is still disposed (the batch tensors used to leak on every failed call)', () => {
    const m = mlp({ inputShape: [3], hidden: [2], numClasses: 2, seed: 1 }); // expects 3 features, the data has 2
    const d = small();
    const v = new Float64Array(flatParameters(m).length).fill(0.1);
    const calls: Array<[string, () => unknown]> = [
      ['meanLossGradient', () => meanLossGradient(m, d)],
      ['perSampleGradientNorms', () => perSampleGradientNorms(m, d)],
      ['hvp finite-difference', () => hessianVectorProduct(m, d, v)],
      ['hvp gauss-newton', () => hessianVectorProduct(m, d, v, { method: 'gauss-newton' })],
      ['inputSpaceDistance', () => inputSpaceDistance(m, d)],
    ];
    for (const [name, fn] of calls) {
      const before = tf.memory().numTensors;
      expect(trellisErrorOf(fn).code, name).toBe('INPUT_SHAPE_MISMATCH');
      expect(tf.memory().numTensors, name).toBe(before);
    }
    m.dispose();
  });

  it('hutchinsonTrace: exact on a diagonal operator; a bad dimension is a TrellisError', () => {
    const diag = [1, 2, 3];
    expect(hutchinsonTrace((v) => v.map((x, i) => x * diag[i]!), 3, { samples: 5 })).toBe(6);
    expect(trellisErrorOf(() => hutchinsonTrace((v) => v, -1)).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => hutchinsonTrace((v) => v, 1.5)).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => hutchinsonTrace((v) => v, NaN)).code).toBe('BAD_OPTION');
  });

  it('powerIteration / hutchinsonTrace reject an operator that returns the wrong length (used to give 1 and NaN)', () => {
    expect(powerIteration((v) => v.map((x, i) => x * [1, -3, 2][i]!), 3, { iterations: 200 })).toBeCloseTo(-3, 6);
    expect(trellisErrorOf(() => powerIteration((v) => v.slice(0, 1), 3)).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => hutchinsonTrace((v) => v.slice(0, 1), 3)).code).toBe('BAD_OPTION');
  });

  it('inputSpaceDistance: |z₀ − z₁| / ‖w₀ − w₁‖ on a linear model; a 1-class model is rejected', () => {
    const lin = mlp({ inputShape: [2], hidden: [], numClasses: 2, seed: 1 });
    setFlatParameters(lin, [2, 0, 0, 1, 0, 0]); // kernel [[2, 0], [0, 1]]: z = (2·x₀, x₁); bias 0
    const d = Dataset.fromArrays({ x: Float32Array.from([1, 1, 0, 3]), shape: [2], labels: Int32Array.from([0, 1]), numClasses: 2 });
    const before = tf.memory().numTensors;
    const dist = inputSpaceDistance(lin, d);
    expect(tf.memory().numTensors).toBe(before);
    expect(dist[0]).toBeCloseTo(1 / Math.sqrt(5), 5); // z = (2, 1)
    expect(dist[1]).toBeCloseTo(3 / Math.sqrt(5), 5); // z = (0, 3)
    const one = mlp({ inputShape: [2], hidden: [], numClasses: 1, seed: 1 });
    const d1 = Dataset.fromArrays({ x: Float32Array.from([1, 2, 3, 4, 5, 6]), shape: [2], labels: Int32Array.from([0, 0, 0]), numClasses: 1 });
    expect(trellisErrorOf(() => inputSpaceDistance(one, d1)).code).toBe('BAD_MODEL');
    lin.dispose();
    one.dispose();
  });

  it('groupDiagnostics rejects NaN / negative / fractional counts and an unknown hvp before any work', () => {
    const m = mlp({ inputShape: [2], hidden: [3], numClasses: 2, seed: 1 });
    const d = small();
    for (const opts of [{ powerIterations: -1 }, { powerIterations: NaN }, { traceSamples: NaN }, { sampleGradPerGroup: NaN },
      { sampleGradPerGroup: -1 }, { sampleGradPerGroup: 1.5 }, { powerIterations: 0, hvp: 'bogus' as never }]) {
      expect(trellisErrorOf(() => groupDiagnostics(m, d, 2, opts)).code, JSON.stringify(opts)).toBe('BAD_OPTION');
    }
    const before = tf.memory().numTensors;
    const r = groupDiagnostics(m, d, 2, { powerIterations: 0, traceSamples: 0, sampleGradPerGroup: 0 });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.hessianTopEig.every(Number.isNaN)).toBe(true); // 0 skips λ_max (documented)
    expect(r.hessianTrace).toBeUndefined();
    m.dispose();
  });
});

describe('sweep and fineTunePruned options (review fixes)', () => {
  function blobs(n: number, seed: number): Dataset {
    const rng = new Rng(seed);
    const x = new Float32Array(n * 2);
    const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
    for (let i = 0; i < n; i++) {
      x[i * 2] = rng.normal() + (labels[i] ? 1.5 : -1.5);
      x[i * 2 + 1] = rng.normal();
    }
    return Dataset.fromArrays({ x, shape: [2], labels, numClasses: 2, groups: Int32Array.from(labels) });
  }
  let builds = 0;
  const opts = () => ({
    build: (seed: number) => {
      builds++;
      return mlp({ inputShape: [2], hidden: [4], numClasses: 2, seed });
    },
    train: blobs(32, 1), test: blobs(16, 2), numGroups: 2, sparsities: [0.5], seeds: [3], denseEpochs: 1,
    mitigations: [{ kind: 'none' as const }], fineTune: { epochs: 1, lr: 1e-3 }, batchSize: 16, prune: { minKeepCount: 0 },
  });

  it('sweep rejects bad epochs, batch size, learning rates, seeds, pruning and mitigation options before training anything', async () => {
    const bad: Array<[string, Record<string, unknown>]> = [
      ['BAD_EPOCHS', { denseEpochs: NaN }], ['BAD_EPOCHS', { fineTune: { epochs: -1 } }], ['BAD_BATCH_SIZE', { batchSize: 0 }],
      ['BAD_OPTION', { denseLr: NaN }], ['BAD_OPTION', { fineTune: { epochs: 1, lr: NaN } }], ['BAD_SEED', { seeds: [NaN] }],
      ['BAD_OPTION', { prune: { scope: 'bogus' } }], ['BAD_OPTION', { prune: { minKeepCount: -1 } }],
      ['BAD_OPTION', { mitigations: [{ kind: 'group-loss', dualLr: -1 }] }], ['BAD_OPTION', { mitigations: [{ kind: 'group-loss', violation: 'bogus' }] }],
      ['BAD_OPTION', { mitigations: [{ kind: 'accuracy-gap', tolerance: NaN }] }],
      ['BAD_GROUP_COUNT', { numGroups: -1, mitigations: [{ kind: 'group-loss' }] }],
    ];
    for (const [code, o] of bad) {
      builds = 0;
      const before = tf.memory().numTensors;
      await expect(sweep({ ...opts(), ...o } as never), JSON.stringify(o)).rejects.toMatchObject({ code });
      expect(builds, JSON.stringify(o)).toBe(0);
      expect(tf.memory().numTensors, JSON.stringify(o)).toBe(before);
    }
  });

  it('sweep disposes the dense Trainer (optimizer) when the dense training throws', async () => {
    const before = tf.memory().numTensors;
    // the model expects 3 features, the data has 2: the first training step throws
    await expect(sweep({ ...opts(), build: (seed: number) => mlp({ inputShape: [3], hidden: [4], numClasses: 2, seed }) })).rejects.toMatchObject({ code: 'INPUT_SHAPE_MISMATCH' });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fineTunePruned rejects a NaN learning rate and frees its optimizer when the Trainer cannot be built', async () => {
    const m = mlp({ inputShape: [2], hidden: [4], numClasses: 2, seed: 1 });
    const masks = computeMasks(m, { sparsity: 0.5, minKeepCount: 0 });
    const before = tf.memory().numTensors;
    await expect(fineTunePruned(m, masks, blobs(8, 1), { epochs: 1, numGroups: 2, seed: 1, lr: NaN })).rejects.toMatchObject({ code: 'BAD_OPTION' });
    await expect(fineTunePruned(m, masks, blobs(8, 1), { epochs: 1, numGroups: 2, seed: 1, batchSize: 0 })).rejects.toMatchObject({ code: 'BAD_BATCH_SIZE' });
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});
