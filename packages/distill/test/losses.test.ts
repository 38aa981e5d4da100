import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  crossEntropy, dist, distFromProbs, distTerms, dkd, dkdFromProbs, hintonKD, labelSmoothingTargets, logitStdKD, matrixGenerator, reffakdLoss,
  softTargetCrossEntropy, softTargetKL, standardizeLogits, tfkdRegLoss, tfkdRegMatrix, weightsFromAlpha,
} from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { S, Y, ZS, ZT, useCpu, val } from './helpers.js';

beforeAll(useCpu);

/** The ReffAKD soft labels of the spec's vectors, P[y] for y = [1, 2, 3]. */
function softLabels(): tf.Tensor2D {
  const g = matrixGenerator(S.map((r, i) => r.map((v, j) => v + (i === j ? 0.01 : 0))), { isLogits: true });
  const p = g.targets({ labels: tf.tensor1d(Y, 'int32') }, 1);
  g.dispose();
  return p;
}

const zs = () => tf.tensor2d(ZS);
const zt = () => tf.tensor2d(ZT);
const y = () => tf.tensor1d(Y, 'int32');

describe('§5.8 reference vectors', () => {
  it('soft-label matrix rows', () => {
    const g = matrixGenerator(S.map((r, i) => r.map((v, j) => v + (i === j ? 0.01 : 0))), { isLogits: true });
    const P = g.matrix()!;
    const want = [[0.361214, 0.264931, 0.196266, 0.177589], [0.259304, 0.336299, 0.2123, 0.192097], [0.200326, 0.221394, 0.333601, 0.244679], [0.178785, 0.197588, 0.241335, 0.382292]];
    P.forEach((r, a) => r.forEach((v, b) => expect(v).toBeCloseTo(want[a]![b]!, 6)));
    g.dispose();
  });
  it('CE, ReffAKD in both reductions, KD', () => {
    const p = softLabels();
    expect(val(crossEntropy(zs(), y()))).toBeCloseTo(0.408388, 5);
    expect(val(softTargetKL(zs(), p, { T: 4, scaleT2: false }))).toBeCloseTo(0.005783, 5);
    expect(val(reffakdLoss(zs(), y(), p, { T: 4, alpha: 0.5 }))).toBeCloseTo(0.250462, 5);
    expect(val(softTargetKL(zs(), p, { T: 4, scaleT2: false, reduction: 'elementwise-mean' }))).toBeCloseTo(0.001446, 5);
    expect(val(reffakdLoss(zs(), y(), p, { T: 4, alpha: 0.5, reduction: 'elementwise-mean' }))).toBeCloseTo(0.215761, 5);
    expect(val(softTargetKL(zs(), p, { T: 20, scaleT2: false }))).toBeCloseTo(0.020737, 5);
    expect(Math.abs(val(reffakdLoss(zs(), y(), p, { T: 20, alpha: 0.9 })) - 7.506184)).toBeLessThan(5e-5 * 7.5);
    expect(val(softTargetKL(zs(), p, { T: 20, scaleT2: false, reduction: 'elementwise-mean' }))).toBeCloseTo(0.005184, 5);
    expect(Math.abs(val(reffakdLoss(zs(), y(), p, { T: 20, alpha: 0.9, reduction: 'elementwise-mean' })) - 1.907175)).toBeLessThan(5e-5 * 1.9);
    expect(val(reffakdLoss(zs(), y(), p, { T: 1, alpha: 0.1 }))).toBeCloseTo(0.395464, 5);
    expect(val(hintonKD(zs(), zt(), { T: 4 })) / 16).toBeCloseTo(0.010065, 5);
    expect(0.1 * val(crossEntropy(zs(), y())) + 0.9 * val(hintonKD(zs(), zt(), { T: 4 }))).toBeCloseTo(0.185781, 5);
  });
  it('DKD, LS, Tf-KD_reg, logit standardisation, DIST', () => {
    const d = dkd(zs(), zt(), y(), { alpha: 1, beta: 8, T: 4 });
    expect(Math.abs(val(d.tckd) - 0.114907)).toBeLessThan(1e-5);
    expect(Math.abs(val(d.nckd) - 0.073952)).toBeLessThan(1e-5);
    expect(Math.abs(val(d.total) - 0.706524)).toBeLessThan(1e-5);
    expect(val(crossEntropy(zs(), y(), { labelSmoothing: 0.1 }))).toBeCloseTo(0.552555, 5);
    expect(val(crossEntropy(zs(), y(), { labelSmoothing: 0.1, variant: 'uniform-others' }))).toBeCloseTo(0.60061, 5);
    expect(val(tfkdRegLoss(zs(), y(), { tau: 20, alpha: 0.1 }))).toBeCloseTo(0.378699, 5);
    expect(val(tfkdRegLoss(zs(), y(), { tau: 20, alpha: 0.1, reduction: 'batchmean' }))).toBeCloseTo(0.412149, 5);
    const row = tfkdRegMatrix(4, { tau: 20 })[1]!;
    [0.246879, 0.259364, 0.246879, 0.246879].forEach((v, k) => expect(row[k]).toBeCloseTo(v, 6));
    expect(val(logitStdKD(zs(), zt(), { T: 2 }))).toBeCloseTo(0.049516, 5);
    expect(0.1 * val(crossEntropy(zs(), y())) + 9 * val(logitStdKD(zs(), zt(), { T: 2 }))).toBeCloseTo(0.48648, 4);
    const t1 = distTerms(zs(), tf.softmax(zt()) as tf.Tensor2D, 1);
    expect(val(t1.inter)).toBeCloseTo(0.020342, 5);
    expect(val(t1.intra)).toBeCloseTo(0.229602, 5);
    expect(val(dist(zs(), zt()))).toBeCloseTo(0.249944, 5);
    const t4 = distTerms(zs(), tf.softmax(tf.div(zt(), 4)) as tf.Tensor2D, 4);
    expect(val(t4.inter)).toBeCloseTo(0.060885, 5);
    expect(val(t4.intra)).toBeCloseTo(0.089106, 5);
    expect(Math.abs(val(dist(zs(), zt(), { tau: 4 })) - 2.399852)).toBeLessThan(5e-5);
  });
});

describe('gradients', () => {
  const losses: Array<[string, (z: tf.Tensor2D) => tf.Scalar, number]> = [
    ['CE', (z) => crossEntropy(z, y()), 0.23059],
    ['ReffAKD(T4, α.5)', (z) => reffakdLoss(z, y(), softLabels(), { T: 4, alpha: 0.5 }), 0.14003],
    ['ReffAKD(T20, α.9)', (z) => reffakdLoss(z, y(), softLabels(), { T: 20, alpha: 0.9 }), 1.11596],
    ['KD(T4)', (z) => tf.add(tf.mul(crossEntropy(z, y()), 0.1), tf.mul(hintonKD(z, zt(), { T: 4 }), 0.9)) as tf.Scalar, 0.17174],
    ['LogitStd-KD', (z) => tf.add(tf.mul(crossEntropy(z, y()), 0.1), tf.mul(logitStdKD(z, zt(), { T: 2 }), 9)) as tf.Scalar, 0.64929],
    ['DKD', (z) => dkd(z, zt(), y(), { alpha: 1, beta: 8, T: 4 }).total, 1.00702],
    ['DIST(τ1)', (z) => dist(z, zt()), 0.29264],
    ['DIST(τ4)', (z) => dist(z, zt(), { tau: 4 }), 3.57346],
  ];
  for (const [name, f, norm] of losses) {
    it(`${name}: gradient norm ${norm} (spec) and finite differences`, () => {
      const z0 = zs();
      const g = tf.grad((z: tf.Tensor) => f(z as tf.Tensor2D))(z0);
      expect(Math.abs(val(tf.norm(g)) - norm)).toBeLessThan(2e-4 * Math.max(1, norm));
      const analytic = g.arraySync() as number[][];
      const h = 1e-2;
      for (let b = 0; b < 3; b++) {
        for (let k = 0; k < 4; k++) {
          const plus = ZS.map((r) => [...r]);
          const minus = ZS.map((r) => [...r]);
          plus[b]![k]! += h;
          minus[b]![k]! -= h;
          const fd = (val(f(tf.tensor2d(plus))) - val(f(tf.tensor2d(minus)))) / (2 * h);
          expect(Math.abs(fd - analytic[b]![k]!)).toBeLessThan(1e-3 * Math.max(1, norm));
        }
      }
    });
  }
});

describe('identities', () => {
  it('KD(z_t = z_s) = 0; ReffAKD with α = 0 equals CE; LS with ε = 0 equals CE', () => {
    expect(Math.abs(val(hintonKD(zs(), zs(), { T: 4 })))).toBeLessThan(1e-6);
    expect(val(reffakdLoss(zs(), y(), softLabels(), { T: 4, alpha: 0 }))).toBeCloseTo(val(crossEntropy(zs(), y())), 6);
    expect(val(crossEntropy(zs(), y(), { labelSmoothing: 0 }))).toBeCloseTo(val(crossEntropy(zs(), y())), 6);
  });
  it('DKD: per sample, KL = TCKD + (1 − q_t[y])·NCKD', () => {
    for (let b = 0; b < 3; b++) {
      const s = tf.tensor2d([ZS[b]!]);
      const t = tf.tensor2d([ZT[b]!]);
      const lab = tf.tensor1d([Y[b]!], 'int32');
      const T = 4;
      const kl = val(hintonKD(s, t, { T })) / (T * T);
      const d = dkd(s, t, lab, { alpha: 1, beta: 1, T });
      const qt = (tf.softmax(tf.div(t, T)).arraySync() as number[][])[0]![Y[b]!]!;
      expect(val(d.tckd) / 16 + (1 - qt) * (val(d.nckd) / 16)).toBeCloseTo(kl, 6);
      d.total.dispose();
    }
  });
  it('DIST is 0 for identical inputs and throws on a batch of 1', () => {
    expect(Math.abs(val(distFromProbs(zs(), tf.softmax(zs()) as tf.Tensor2D)))).toBeLessThan(1e-5);
    expect(() => dist(tf.tensor2d([ZS[0]!]), tf.tensor2d([ZT[0]!]))).toThrow(/at least 2 examples/);
  });
  it('standardised logits have mean 0 and unbiased std 1', () => {
    const z = standardizeLogits(zs()).arraySync();
    for (const r of z) {
      const m = r.reduce((a, v) => a + v, 0) / r.length;
      const sd = Math.sqrt(r.reduce((a, v) => a + (v - m) ** 2, 0) / (r.length - 1));
      expect(m).toBeCloseTo(0, 6);
      expect(sd).toBeCloseTo(1, 5);
    }
    expect(() => standardizeLogits(zs(), -1)).toThrow(/eps -1 is not a number ≥ 0/); // a negative eps gave NaN rows
  });
  it('label smoothing targets and the α conventions', () => {
    expect(labelSmoothingTargets(tf.tensor1d([0], 'int32'), 4, 0.2).arraySync()[0]).toEqual([0.8500000238418579, 0.05000000074505806, 0.05000000074505806, 0.05000000074505806]);
    expect(weightsFromAlpha(0.3, 'alpha-weights-kd')).toEqual({ ceWeight: 0.7, kdWeight: 0.3 });
    expect(weightsFromAlpha(0.3, 'alpha-weights-ce')).toEqual({ ceWeight: 0.3, kdWeight: 0.7 });
  });
  it('rejects T ≤ 0 and mismatched student/teacher shapes', () => {
    expect(() => softTargetKL(zs(), softLabels(), { T: 0 })).toThrow(/temperature 0/);
    expect(() => hintonKD(zs(), tf.zeros([3, 5]) as tf.Tensor2D, { T: 4 })).toThrow(/differ/);
  });
});

describe('bad input gets a TrellisError, not a tfjs broadcast error, a NaN or a silent default', () => {
  it('an α convention that is neither name (it used to fall through to alpha-weights-ce, swapping the weights)', () => {
    const e = trellisErrorOf(() => weightsFromAlpha(0.3, 'alpha-weights-KD' as 'alpha-weights-kd'));
    expect(e.code).toBe('BAD_OPTION');
    expect(e.message).toMatch(/unknown α convention "alpha-weights-KD"/);
    expect(trellisErrorOf(() => (weightsFromAlpha as (a: number) => unknown)(0.3)).code).toBe('BAD_OPTION');
  });
  it('labels whose count differs from the logits\' batch (CE, ReffAKD, DKD, Tf-KD_reg)', () => {
    const y2 = () => tf.tensor1d([1, 2], 'int32');
    for (const f of [
      () => crossEntropy(zs(), y2()),
      () => reffakdLoss(zs(), y2(), softLabels(), { T: 4, alpha: 0.5 }),
      () => dkd(zs(), zt(), y2(), { alpha: 1, beta: 8, T: 4 }),
      () => tfkdRegLoss(zs(), y2(), { tau: 20, alpha: 0.1 }),
    ]) {
      const e = trellisErrorOf(f);
      expect(e.code).toBe('SHAPE_MISMATCH');
      expect(e.message).toMatch(/2 labels for 3 rows of logits/);
    }
  });
  it('soft-target cross-entropy with targets of another shape (a [1, C] row used to broadcast silently)', () => {
    expect(trellisErrorOf(() => softTargetCrossEntropy(zs(), tf.tensor2d([[0.25, 0.25, 0.25, 0.25]]))).code).toBe('SHAPE_MISMATCH');
    expect(trellisErrorOf(() => softTargetCrossEntropy(zs(), tf.zeros([3, 5]) as tf.Tensor2D)).message).toMatch(/\[3, 4\] and \[3, 5\] differ/);
  });
  it('DKD / DIST weights that are missing or not finite (the total used to be NaN)', () => {
    const e = trellisErrorOf(() => dkd(zs(), zt(), y(), { alpha: 1, beta: NaN, T: 4 }));
    expect(e.code).toBe('BAD_OPTION');
    expect(e.message).toMatch(/DKD beta \(the NCKD weight\) NaN must be a finite number ≥ 0/);
    expect(trellisErrorOf(() => dkdFromProbs(zs(), softLabels(), y(), { beta: 8, T: 4 } as unknown as { alpha: number; beta: number; T: number })).message).toMatch(/DKD alpha .* undefined/);
    expect(trellisErrorOf(() => dist(zs(), zt(), { gamma: -1 })).message).toMatch(/DIST gamma .* -1 must be a finite number ≥ 0/);
  });
  it('a missing options object, an unknown KL reduction or label-smoothing variant', () => {
    expect(trellisErrorOf(() => (softTargetKL as (a: tf.Tensor2D, b: tf.Tensor2D) => unknown)(zs(), softLabels())).message).toMatch(/softTargetKL needs an options object/);
    expect(trellisErrorOf(() => (hintonKD as (a: tf.Tensor2D, b: tf.Tensor2D) => unknown)(zs(), zt())).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => softTargetKL(zs(), softLabels(), { T: 4, reduction: 'mean' as 'batchmean' })).message).toMatch(/KL reduction "mean" is not 'batchmean' or 'elementwise-mean'/);
    expect(trellisErrorOf(() => labelSmoothingTargets(y(), 4, 0.1, 'others' as 'uniform-others')).message).toMatch(/variant "others" is not 'uniform-all' or 'uniform-others'/);
    expect(trellisErrorOf(() => crossEntropy(zs(), y(), { labelSmoothing: 0.1, variant: 'all' as 'uniform-all' })).code).toBe('BAD_OPTION');
  });
  it('labels outside [0, C) (an all-zero one-hot row added 0 to the loss) and a NaN label smoothing (read as "off")', () => {
    const bad = tf.tensor1d([0, 4, 1], 'int32'); // C = 4
    const neg = tf.tensor1d([-1, 2, 1], 'int32');
    for (const f of [() => crossEntropy(zs(), bad), () => crossEntropy(zs(), neg), () => dkd(zs(), zt(), bad, { alpha: 1, beta: 8, T: 4 }),
      () => tfkdRegLoss(zs(), bad, { tau: 20, alpha: 0.1 }), () => labelSmoothingTargets(bad, 4, 0.1)]) {
      expect(trellisErrorOf(f).code).toBe('LABEL_OUT_OF_RANGE');
    }
    expect(trellisErrorOf(() => crossEntropy(zs(), bad)).message).toMatch(/label 4 of example 1 is outside \[0, 4\)/);
    expect(trellisErrorOf(() => crossEntropy(zs(), y(), { labelSmoothing: NaN })).code).toBe('BAD_OPTION');
    // 0 is still plain cross-entropy
    expect(crossEntropy(zs(), y(), { labelSmoothing: 0 }).dataSync()[0]).toBeCloseTo(crossEntropy(zs(), y()).dataSync()[0]!, 6);
    bad.dispose();
    neg.dispose();
  });
  it('Tf-KD_reg: a class count that is not a positive integer, a NaN multiplier, an unknown student temperature', () => {
    const e = trellisErrorOf(() => tfkdRegMatrix(2.5, { tau: 20 }));
    expect(e.code).toBe('BAD_CLASSES');
    expect(e.message).toMatch(/numClasses 2\.5 is not a positive integer/);
    expect(trellisErrorOf(() => tfkdRegMatrix(0, { tau: 20 })).code).toBe('BAD_CLASSES');
    expect(trellisErrorOf(() => tfkdRegLoss(zs(), y(), { tau: 20, alpha: 0.1, multiplier: NaN })).message).toMatch(/Tf-KD multiplier NaN/);
    expect(trellisErrorOf(() => tfkdRegLoss(zs(), y(), { tau: 20, alpha: 0.1, studentTemperature: 0 as 1 })).message).toMatch(/studentTemperature 0 is not 1 or 'tau'/);
  });
});
