import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Dataset, mlp, Rng, Trainer } from '@trellis-ml/core';
import { coupledWeightDecay, confidencePenalty, crl, labelSmoothing, relaxLoss, stepLearningRate } from '../src/plugin.js';
import { logNormSquash, relaxBranch, relaxedCenterLoss, relaxedCrossEntropy } from '../src/relaxedLosses.js';
import { ShadowModelAttack } from '../src/shadowAttack.js';
import { membershipLabels, metricAttackSuite, scoreAttack } from '../src/audit.js';
import { pairOrder, trainingWork } from '../src/benchmark.js';
import { SPEC_RECIPE, trainClassifier } from '../src/recipe.js';
import { resolvePrivacyConfig } from '../src/experiment.js';
import { liraLeaveOneOut, liraScores } from '../src/lira.js';
import { rmiaLeaveOneOut, rmiaScores, tuneRmiaOfflineA } from '../src/rmia.js';
import { auc, checkScores, rocCurve, tprAtFpr } from '../src/rocMetrics.js';
import { computeSignals, signalsFromLogits } from '../src/signals.js';
import { normalizedLogits, resolveSRCMConfig, ringOccupancy, saturnRing } from '../src/srcm.js';
import { fitThresholds } from '../src/thresholdAttack.js';
import { cpu, expectCode } from './helpers.js';

beforeAll(cpu);
const v = (t: tf.Tensor) => t.dataSync()[0]!;

// Findings of the package review: each test failed before its fix.
describe('relaxed losses as standalone tensor functions', () => {
  const logits = () => tf.tensor2d([[Math.log(6), Math.log(3), 0]]); // p = (0.6, 0.3, 0.1)
  const y = () => tf.tensor1d([0], 'int32');

  it('leave only the returned loss allocated when called outside a tidy, in every branch', () => {
    const z = logits();
    const labels = y();
    const f = tf.tensor2d([[1, 0]]);
    const c = tf.tensor2d([[0, 1], [5, 5], [1, 1]]);
    const calls = [
      () => relaxedCrossEntropy(z, labels, { alpha: 0.3, upper: 1, scheduleEpoch: 1, variant: 'kimlab' }), // descent
      () => relaxedCrossEntropy(z, labels, { alpha: 0.3, upper: 1, scheduleEpoch: 2, variant: 'kimlab', squashT: 0.1 }), // abs
      () => relaxedCrossEntropy(z, labels, { alpha: 3, upper: 1, scheduleEpoch: 1, variant: 'original', detachTargets: true }), // flatten
      () => relaxedCenterLoss(f, c, labels, z, { alpha: 0.3, t: 1, upper: 1, scheduleEpoch: 1 }), // flatten
    ];
    for (const call of calls) {
      const before = tf.memory().numTensors;
      const r = call();
      expect(tf.memory().numTensors).toBe(before + 1);
      r.loss.dispose();
    }
    // the values are unchanged: CE = −log 0.6 (descent); original flattening of a correct sample = −CE
    expect(v(relaxedCrossEntropy(z, labels, { alpha: 0.3, upper: 1, scheduleEpoch: 1, variant: 'kimlab' }).loss)).toBeCloseTo(-Math.log(0.6), 5);
    expect(v(relaxedCrossEntropy(z, labels, { alpha: 3, upper: 1, scheduleEpoch: 1, variant: 'original' }).loss)).toBeCloseTo(Math.log(0.6), 5);
    tf.dispose([z, labels, f, c]);
  });

  it('refuse labels that are not class ids, or not one per row, instead of an all-zero one-hot row', () => {
    const opts = { alpha: 0.3, upper: 1, scheduleEpoch: 1, variant: 'kimlab' } as const;
    // before: label 5 of 3 classes gave a loss of 0 (CE of a zero row) and took the flattening branch
    expect(expectCode(() => relaxedCrossEntropy(logits(), tf.tensor1d([5], 'int32'), opts), 'LABEL_OUT_OF_RANGE').problem).toBe('relaxedCrossEntropy: label 5 of example 0 is outside [0, 3)');
    expectCode(() => relaxedCrossEntropy(logits(), tf.tensor1d([-1], 'int32'), opts), 'LABEL_OUT_OF_RANGE');
    expectCode(() => relaxedCrossEntropy(logits(), tf.tensor1d([0.7]), opts), 'BAD_LABELS'); // float labels: not int32 class ids (LABEL_OUT_OF_RANGE before the shared check)
    // before: two labels for one row broadcast silently
    expect(expectCode(() => relaxedCrossEntropy(logits(), tf.tensor1d([0, 1], 'int32'), opts), 'SHAPE_MISMATCH').problem).toContain('labels of shape [2] for 1 rows');
    // before: 1-D logits gave NaN, an empty batch 0
    expectCode(() => relaxedCrossEntropy(tf.tensor1d([1, 2]) as never, y(), opts), 'BAD_SHAPE');
    expectCode(() => relaxedCrossEntropy(tf.zeros([0, 3]) as tf.Tensor2D, tf.zeros([0], 'int32') as tf.Tensor1D, opts), 'EMPTY_BATCH');
    const f = tf.tensor2d([[1, 0]]);
    const c = tf.tensor2d([[0, 1], [5, 5]]);
    const z2 = tf.tensor2d([[Math.log(3), 0]]);
    const copts = { alpha: 0.3, t: 1, upper: 1, scheduleEpoch: 1 };
    expectCode(() => relaxedCenterLoss(f, c, tf.tensor1d([7], 'int32'), z2, copts), 'LABEL_OUT_OF_RANGE');
    // logits with 3 classes for 2 centres, and 2 feature rows for 1 label, were silently broadcast
    expectCode(() => relaxedCenterLoss(f, c, y(), tf.tensor2d([[1, 0, 1]]), copts), 'SHAPE_MISMATCH');
    expectCode(() => relaxedCenterLoss(tf.tensor2d([[1, 0], [0, 1]]), c, y(), z2, copts), 'SHAPE_MISMATCH');
    expectCode(() => relaxedCenterLoss(tf.zeros([0, 2]) as tf.Tensor2D, c, tf.zeros([0], 'int32') as tf.Tensor1D, tf.zeros([0, 2]) as tf.Tensor2D, copts), 'EMPTY_BATCH');
  });

  it('refuse bad hyper-parameters with a TrellisError instead of a raw tfjs error or the wrong branch', () => {
    const opts = { alpha: 0.3, upper: 1, scheduleEpoch: 1, variant: 'kimlab' } as const;
    // before: raw "Error in clip: min (0) must be less than or equal to max (NaN)"
    expect(expectCode(() => relaxedCrossEntropy(logits(), y(), { ...opts, alpha: 1, upper: NaN }), 'BAD_OPTION').problem).toBe('relaxed loss upper = NaN is not a number ≥ 0');
    expectCode(() => relaxedCrossEntropy(logits(), y(), { ...opts, alpha: 1, upper: -1 }), 'BAD_OPTION');
    expectCode(() => relaxedCenterLoss(tf.tensor2d([[1, 0]]), tf.tensor2d([[0, 1], [5, 5]]), y(), tf.tensor2d([[1, 0]]), { alpha: 0.3, t: 1, upper: NaN, scheduleEpoch: 1 }), 'BAD_OPTION');
    // before: α = NaN always took the flattening branch; a fractional epoch never took |L − α|
    expectCode(() => relaxedCrossEntropy(logits(), y(), { ...opts, alpha: NaN }), 'BAD_OPTION');
    expect(expectCode(() => relaxedCrossEntropy(logits(), y(), { ...opts, scheduleEpoch: 1.5 }), 'BAD_OPTION').problem).toContain('schedule epoch 1.5 is not a whole number');
    expectCode(() => relaxBranch(2.5, 0.1, 0.3), 'BAD_OPTION');
    expectCode(() => relaxBranch(2, 0.1, NaN), 'BAD_OPTION');
    expect(relaxBranch(-1, 0.1, 0.3)).toBe('flatten');
  });

  it('log-norm squashing refuses tensors that are not [rows, features]', () => {
    // before: 1-D gave a raw tfjs axis error; 3-D silently squashed by the norm over axis 1 only
    expectCode(() => logNormSquash(tf.tensor1d([3, 4]) as never, 1), 'BAD_SHAPE');
    expectCode(() => logNormSquash(tf.ones([2, 3, 4]) as never, 1), 'BAD_SHAPE');
    expect(logNormSquash(tf.tensor2d([[3, 4]]), 1).arraySync()[0]![0]).toBeCloseTo(3 / 6, 5);
  });
});

describe('defense plugin options are checked when the plugin is built', () => {
  it('crl: a fractional epochBase used to train with the |L − α| branch never taken', async () => {
    // before the fix this trained 2 epochs with branches { abs: 0, descent: 4, flatten: 0 }
    expect(expectCode(() => crl({ epochBase: 0.5 as never }), 'BAD_OPTION').problem).toBe('epochBase 0.5 is neither 0 nor 1');
    expectCode(() => relaxLoss({ alpha: 0.3, epochBase: 3 as never }), 'BAD_OPTION');
    // the valid bases still alternate: epochs 0, 1 with base 1 → schedule epochs 1 (descent while CE > α), 2 (abs)
    const rng = new Rng(1);
    const data = Dataset.fromArrays({ x: rng.normalArray(32 * 8), shape: [8], labels: new Int32Array(32).map((_, i) => i % 4), numClasses: 4 });
    const plugin = crl({ featureTap: 'fc2', alpha: 1e-3 });
    const t = new Trainer({ model: mlp({ inputShape: [8], hidden: [16, 12], numClasses: 4, seed: 3 }), optimizer: tf.train.momentum(0.05, 0.9), plugins: [plugin], seed: 3, batchSize: 16 });
    await t.fit(data, { epochs: 2 });
    expect(plugin.getState!().branches).toEqual({ abs: 2, descent: 2, flatten: 0 });
    t.model.dispose();
    t.dispose();
  });

  it('crl / relaxLoss: clamps, centre optimiser settings, λ and featureDim', () => {
    // before: NaN or negative clamps failed at the first flattening step with a raw tfjs clip error
    expect(expectCode(() => crl({ upper: NaN }), 'BAD_OPTION').problem).toBe('upper = NaN must be a number ≥ 0');
    expectCode(() => crl({ upperCenter: -1 }), 'BAD_OPTION');
    expectCode(() => relaxLoss({ alpha: 0.3, upper: -1 }), 'BAD_OPTION');
    // before: NaN centres, found only as a NaN loss later
    expect(expectCode(() => crl({ centerLr: NaN }), 'BAD_OPTION').fix).toBe('pass centerLr such as 0.5');
    expectCode(() => crl({ centerWeightDecay: -1 }), 'BAD_OPTION');
    expectCode(() => crl({ centerMomentum: 1.5 }), 'BAD_OPTION');
    expectCode(() => crl({ alphaCenter: NaN }), 'BAD_OPTION');
    expectCode(() => crl({ lambda: Infinity }), 'BAD_OPTION');
    expectCode(() => crl({ featureDim: -3 }), 'BAD_OPTION');
    expectCode(() => crl({ featureDim: 2.5 }), 'BAD_OPTION');
    expect(expectCode(() => crl(null as never), 'BAD_OPTION').problem).toBe('crl needs an options object, got null');
    expect(crl().name).toBe('crl');
    expect(crl({ lambda: 0, centerLr: 0, upper: 0.5, epochBase: 0 }).name).toBe('crl');
  });

  it('confidence penalty, weight decay and the shadow attack refuse non-finite or missing options', () => {
    expectCode(() => confidencePenalty({ beta: Infinity }), 'BAD_OPTION');
    expectCode(() => coupledWeightDecay({ rate: Infinity }), 'BAD_OPTION');
    expect(confidencePenalty({ beta: 0 }).name).toBe('confidence-penalty');
    // before: raw TypeErrors (reading 'epsilon' / 'beta' of null; milestones "is not iterable")
    expectCode(() => labelSmoothing(null as never), 'BAD_OPTION');
    expectCode(() => confidencePenalty(null as never), 'BAD_OPTION');
    expect(expectCode(() => stepLearningRate({ lr: 0.1, milestones: 0.5 as never }), 'BAD_OPTION').problem).toBe('LR milestones 0.5 are not a list');
    // before: a raw TypeError (reading 'hidden' of undefined) at fit time
    expect(expectCode(() => new ShadowModelAttack(undefined as never), 'BAD_OPTION').fix).toContain('seed');
  });
});

describe('metrics and attacks refuse inputs they used to misread', () => {
  it('tprAtFpr: a NaN or negative minNonMembers no longer switches the statistical floor off', () => {
    const scores = [4, 3, 2, 1];
    const y = [1, 0, 1, 0];
    // before: NaN compared false against the 2 non-members and the TPR was returned
    expect(expectCode(() => tprAtFpr(scores, y, 0.01, { minNonMembers: NaN }), 'BAD_OPTION').fix).toContain('1000 here');
    expectCode(() => tprAtFpr(scores, y, 0.01, { minNonMembers: -1 }), 'BAD_OPTION');
    // 0 turns the floor off on purpose: at 50 % FPR the last ROC point below is (0, 0.5)
    expect(tprAtFpr(scores, y, 0.5, { minNonMembers: 0 })).toBe(0.5);
  });

  it('membershipLabels: negative or fractional counts are refused, not truncated', () => {
    // before: (−1, 2) gave 1 label, (1.5, 2) gave 3
    expectCode(() => membershipLabels(-1, 2), 'BAD_OPTION');
    expect(expectCode(() => membershipLabels(1.5, 2), 'BAD_OPTION').problem).toBe('membershipLabels got members = 1.5, not a whole number ≥ 0');
    expect(Array.from(membershipLabels(2, 1))).toEqual([1, 1, 0]);
  });

  it('signalsFromLogits: a class count that is not a whole number ≥ 1 is named as such', () => {
    // before: 1.5 classes with 3 logits and 2 labels read logits[1.5] and blamed a "diverged training run"
    expect(expectCode(() => signalsFromLogits([1, 2, 3], [0, 0], 1.5), 'BAD_OPTION').problem).toBe('numClasses 1.5 is not a whole number ≥ 1');
    expectCode(() => signalsFromLogits([], [0], 0), 'BAD_OPTION');
    expectCode(() => signalsFromLogits([1, 2], [0], NaN), 'BAD_OPTION');
  });

  it('computeSignals refuses a model whose logits are not [batch, numClasses]', () => {
    const data = Dataset.fromArrays({ x: new Rng(1).normalArray(8 * 8), shape: [8], labels: new Int32Array(8).map((_, i) => i % 2), numClasses: 2 });
    const model = mlp({ inputShape: [8], hidden: [8], numClasses: 3, seed: 1 });
    const says = (k: number) => Object.create(model, { numClasses: { value: k } }) as typeof model;
    const before = tf.memory().numTensors;
    // before: declaring 2 classes for 3 logits overran the buffer (raw RangeError); declaring 4 read rows misaligned, silently
    expect(expectCode(() => computeSignals(says(2), data), 'OUTPUT_SHAPE_MISMATCH').problem).toBe('the model outputs logits of shape [8, 3] for a batch of 8, but declares 2 classes');
    expectCode(() => computeSignals(says(4), data, { batchSize: 3 }), 'OUTPUT_SHAPE_MISMATCH');
    expect(tf.memory().numTensors).toBe(before);
    expect(computeSignals(model, Dataset.fromArrays({ x: new Rng(1).normalArray(8 * 8), shape: [8], labels: new Int32Array(8).map((_, i) => i % 3), numClasses: 3 })).loss.length).toBe(8);
    model.dispose();
  });

  it('LiRA and RMIA refuse keep flags other than 0 and 1 (they used to read them differently)', () => {
    const refs = [{ phi: [2, 0], keep: [1, 0] }, { phi: [4, 1], keep: [1, 1] }, { phi: [0, -1], keep: [0, 0] }, { phi: [1, -3], keep: [0, 0] }];
    // before: LiRA took NaN as OUT and 0.5 as IN
    const e = expectCode(() => liraScores([3, 0], refs.map((r) => ({ ...r, keep: r.keep.map((k) => (k ? 1 : NaN)) })), { mode: 'online' }), 'BAD_KEEP_FLAG');
    expect(e.problem).toBe('keep flag NaN of reference model 0 at audit example 1 is neither 0 nor 1');
    expectCode(() => liraLeaveOneOut(refs.map((r) => ({ ...r, keep: r.keep.map((k) => (k ? 1 : 0.5)) })), { mode: 'offline' }), 'BAD_KEEP_FLAG');
    // before: RMIA (keep === 1) took `true` as OUT: offline scores [1, 1] instead of refusing
    const r1 = { prob: [0.3, 0.5], keep: [true, false] as unknown as number[], populationProb: [0.2, 0.4] };
    expectCode(() => rmiaScores([0.9, 0.5], [0.2, 0.4], [r1], { mode: 'offline' }), 'BAD_KEEP_FLAG');
    expectCode(() => rmiaLeaveOneOut([{ ...r1, keep: [2, 0] }, { ...r1, keep: [0, 1] }], { mode: 'offline' }), 'BAD_KEEP_FLAG');
    // 0/1 flags still score as before: online LiRA of example 0 (IN {2, 4}: μ 3, σ 1; OUT {0, 1}: μ 0.5, σ 0.5) at φ = 3
    const lp = (x: number, m: number, sd: number) => -0.5 * ((x - m) / sd) ** 2 - Math.log(sd) - 0.5 * Math.log(2 * Math.PI);
    expect(liraScores([3, 0], refs, { mode: 'online' })[0]).toBeCloseTo(lp(3, 3, 1) - lp(3, 0.5, 0.5), 10);
  });

  it('tuneRmiaOfflineA refuses a pseudo-target scored on a different audit pool than its reference', () => {
    const ref = { prob: [0.3, 0.5, 0.2], keep: [0, 0, 1], populationProb: [0.2, 0.4] };
    // before: a longer pseudo-target was cut to the reference's length ({ a: 0, auc: 1 }), a shorter one read "undefined"
    expectCode(() => tuneRmiaOfflineA({ prob: [0.9, 0.1, 0.3, 0.4], keep: [1, 0, 1, 0], populationProb: [0.2, 0.4] }, ref), 'LENGTH_MISMATCH');
    expectCode(() => tuneRmiaOfflineA({ prob: [0.9], keep: [1], populationProb: [0.2, 0.4] }, ref), 'LENGTH_MISMATCH');
    // same pool: the reference left out examples 0 and 1 (pseudo-target IN, OUT); LR 0.9/p > 0.1/p for every a, so AUC 1 at a = 0
    expect(tuneRmiaOfflineA({ prob: [0.9, 0.1, 0.3], keep: [1, 0, 1], populationProb: [0.2, 0.4] }, ref)).toEqual({ a: 0, auc: 1 });
  });

  it('online leave-one-out with one reference per target is refused instead of returning an empty pool', () => {
    const two = [{ phi: [1, 2, 3, 4], keep: [1, 1, 0, 0] }, { phi: [2, 1, 4, 3], keep: [0, 1, 1, 0] }];
    // before: { scores: [], isMember: [] } — scoreAttack then failed with "0 members and 0 non-members"
    expect(expectCode(() => liraLeaveOneOut(two, { mode: 'online' }), 'TOO_FEW_MODELS').fix).toContain('3 or more models');
    expect(liraLeaveOneOut(two, { mode: 'offline' }).scores.length).toBe(4); // each target: the 2 examples its reference left out
    const rm = two.map((m) => ({ prob: [0.9, 0.8, 0.3, 0.2], keep: m.keep, populationProb: [0.5, 0.4] }));
    expectCode(() => rmiaLeaveOneOut(rm, { mode: 'online' }), 'TOO_FEW_MODELS');
    expectCode(() => rmiaLeaveOneOut([...rm, rm[0]!], { mode: 'online', references: 1 }), 'TOO_FEW_MODELS');
    expect(rmiaLeaveOneOut(rm, { mode: 'offline' }).scores.length).toBe(4);
  });

  it('boolean options are booleans: fixedVariance, perClass, preLayer', () => {
    const refs = [{ phi: [2, 0], keep: [1, 0] }, { phi: [4, 1], keep: [1, 1] }, { phi: [0, -1], keep: [0, 0] }, { phi: [1, -3], keep: [0, 0] }];
    // before: the string 'false' switched fixed variance on (truthy)
    expectCode(() => liraScores([3, 0], refs, { mode: 'online', fixedVariance: 'false' as never }), 'BAD_OPTION');
    const a = signalsFromLogits([3, 0, 0, 3], [0, 1], 2);
    const b = signalsFromLogits([1, 0, 0, 1], [0, 1], 2);
    expectCode(() => fitThresholds(a, b, 'confidence', { perClass: 'no' as never }), 'BAD_OPTION');
    expect(fitThresholds(a, b, 'confidence', { perClass: false }).thresholds.length).toBe(1);
    expectCode(() => resolveSRCMConfig({ preLayer: 'no' as never }), 'BAD_OPTION');
  });

  it('metricAttackSuite: a bare string for attacks or granularity, or no options, is named as such', () => {
    const a = signalsFromLogits([3, 0, 0, 3], [0, 1], 2);
    const b = signalsFromLogits([1, 0, 0, 1], [0, 1], 2);
    const base = { targetIn: a, targetOut: b, shadowIn: [a], shadowOut: [b] };
    // before: 'loss' was iterated letter by letter → UNKNOWN_ATTACK "l"; 'class' → granularity "c"; no options → TypeError
    expect(expectCode(() => metricAttackSuite({ ...base, attacks: 'loss' as never }), 'BAD_OPTION').problem).toBe('metricAttackSuite attacks "loss" is not a list');
    expect(expectCode(() => metricAttackSuite({ ...base, granularity: 'class' as never }), 'BAD_OPTION').problem).toBe('threshold granularity "class" is not a list');
    expectCode(() => metricAttackSuite(undefined as never), 'BAD_OPTION');
    expect(metricAttackSuite({ ...base, attacks: ['loss'], granularity: ['global'] }).map((r) => r.attack)).toEqual(['loss']);
  });

  it('SRCM: an infinite radius and a ring that makes no sense in ringOccupancy are refused', () => {
    expectCode(() => resolveSRCMConfig({ radius: Infinity, width: 1 }), 'BAD_OPTION');
    // before: radius −1 counted every norm as "outer" ({ inner 0, inside 0, outer 1 })
    expectCode(() => ringOccupancy([10], -1, 5), 'BAD_OPTION');
    expectCode(() => ringOccupancy([10], 5, 5), 'BAD_OPTION');
    // before: raw tfjs errors (matMul inner shapes; axis 1 of a 1-D tensor)
    expectCode(() => normalizedLogits(tf.tensor2d([[3, 4]]), tf.tensor2d([[1, 0], [0, 2], [1, 1]])), 'SHAPE_MISMATCH');
    expectCode(() => saturnRing(tf.tensor1d([3, 4]) as never, resolveSRCMConfig({ radius: 5, width: 1 })), 'BAD_SHAPE');
    // LinearNorm of s = (3, 4) with unit columns (1, 0) and (0, 2)/2: logits (3, 4)
    const l = normalizedLogits(tf.tensor2d([[3, 4]]), tf.tensor2d([[1, 0], [0, 2]])).dataSync();
    expect(l[0]).toBeCloseTo(3, 5);
    expect(l[1]).toBeCloseTo(4, 5);
    // before: a NaN norm was counted "inside" the ring
    expectCode(() => ringOccupancy([10, NaN], 15, 5), 'NAN_SCORE');
    // r = 15, d = 5, tolerance 1.5e-3: 10 and 9.9995 inner, 12 inside, 20 outer
    expect(ringOccupancy([10, 12, 20, 9.9995], 15, 5)).toEqual({ inner: 0.5, inside: 0.25, outer: 0.25 });
  });

  // pins the corrected TSDoc of checkScores (it said "finite scores"): passes with or without the doc fix
  it('±Infinity scores (documented as accepted) rank at the ends and tie with each other', () => {
    // members {+∞, 0}, non-members {−∞, +∞}: pairs 1 + ½ + 1 + 0 = 2.5 of 4
    expect(auc([Infinity, -Infinity, Infinity, 0], [1, 0, 0, 1])).toBe(0.625);
    expect(checkScores([Infinity, -Infinity], [1, 0])).toEqual({ members: 1, nonMembers: 1 });
    expect(Array.from(rocCurve([Infinity, 1, 0], [1, 0, 0]).tpr)).toEqual([0, 1, 1, 1]);
    expect(scoreAttack('x', [Infinity, -Infinity], [1, 0]).auc).toBe(1);
  });
});

describe('training recipe and benchmark helpers', () => {
  it('trainClassifier refuses a missing recipe and a momentum outside [0, 1) before training', async () => {
    const rng = new Rng(1);
    const data = Dataset.fromArrays({ x: rng.normalArray(16 * 8), shape: [8], labels: new Int32Array(16).map((_, i) => i % 4), numClasses: 4 });
    const model = mlp({ inputShape: [8], hidden: [8], numClasses: 4, seed: 1 });
    // before: NaN momentum trained and failed a step later as NAN_LOSS blamed on "the base loss"; −1 trained silently
    await expect(trainClassifier({ model, data, recipe: { ...SPEC_RECIPE, epochs: 1, momentum: NaN }, seed: 1 })).rejects.toMatchObject({ code: 'BAD_OPTION', problem: 'recipe momentum NaN is not in [0, 1)' });
    await expect(trainClassifier({ model, data, recipe: { ...SPEC_RECIPE, epochs: 1, momentum: -1 }, seed: 1 })).rejects.toMatchObject({ code: 'BAD_OPTION' });
    // before: TypeError reading 'lr' of undefined
    await expect(trainClassifier({ model, data, seed: 1 } as never)).rejects.toMatchObject({ code: 'BAD_OPTION' });
    model.dispose();
  });

  it('trainingWork and pairOrder refuse counts that are not whole numbers', () => {
    // before: batch size 0 gave Infinity steps, −1 examples gave −0 steps, pair 1.5 went "reference-first"
    expectCode(() => trainingWork(100, { batchSize: 0, epochs: 2 }), 'BAD_OPTION');
    expectCode(() => trainingWork(-1, { batchSize: 10, epochs: 2 }), 'BAD_OPTION');
    expectCode(() => trainingWork(100, { batchSize: 10, epochs: 1.5 }), 'BAD_OPTION');
    expectCode(() => pairOrder(1.5), 'BAD_OPTION');
    // 2 epochs × ⌈100 / 32⌉ = 8 steps (the last batch is partial)
    expect(trainingWork(100, { batchSize: 32, epochs: 2 }).steps).toBe(8);
    expect([pairOrder(0), pairOrder(1), pairOrder(2)]).toEqual(['baseline-first', 'reference-first', 'baseline-first']);
  });
});

describe('privacy study parameters', () => {
  it('--set liraModels=2 is refused before anything trains (online LiRA has no usable example with one reference)', () => {
    // before: accepted; the study trained every model, then failed in scoreAttack with "0 members and 0 non-members"
    const e = expectCode(() => resolvePrivacyConfig('quick', { liraModels: '2' }), 'BAD_PARAM');
    expect(e.fix).toContain('3 or more');
    expect(resolvePrivacyConfig('quick', { liraModels: '3' }).liraModels).toBe(3);
    expect(resolvePrivacyConfig('quick', {}).liraModels).toBe(4);
  });
});
