import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Dataset, Rng, Trainer, mlp } from '@trellis-ml/core';
import {
  crossEntropy, denseAutoencoder, dist, distFromProbs, distillPlugin, dkd, dkdFromProbs, hintonKD, labelSmoothingGenerator, labelSmoothingTargets, matrixGenerator,
  oneHotLabels, reffakdGenerator, reffakdLoss, shuffledMatrixGenerator, softTargetKL, standardizeLogits, teacherGenerator, tfkdRegGenerator, tfkdRegLoss,
  tfkdRegMatrix, trainAutoencoder, convAutoencoder, flipRotate, type DistillMethod,
} from '../src/index.js';
import { trellisErrorOf, watchBatchReads } from '@trellis-ml/testkit';
import { ZS, ZT, Y, toy, useCpu, val } from './helpers.js';

beforeAll(useCpu);

/** `KL(p ‖ q)` of two probability vectors, float64. */
function kl(p: number[], q: number[]): number {
  return p.reduce((s, v, i) => s + (v > 0 ? v * Math.log(v / q[i]!) : 0), 0);
}

/** Softmax of `z / T`, float64. */
function softmax(z: number[], T = 1): number[] {
  const m = Math.max(...z.map((v) => v / T));
  const e = z.map((v) => Math.exp(v / T - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Hand NCKD of one row: `T²·KL(softmax(zt/T without y) ‖ softmax(zs/T without y))`, float64. */
function handNckd(zs: number[], zt: number[], y: number, T: number): number {
  const drop = (z: number[]): number[] => z.filter((_, k) => k !== y);
  return T * T * kl(softmax(drop(zt), T), softmax(drop(zs), T));
}

describe('DKD non-target distributions', () => {
  it('a target logit that leads by more than 1000·T no longer leaks into the "non-target" softmax (student and teacher side)', () => {
    // the target's logit does not enter the non-target distributions, so these NCKDs equal those of moderate logits
    const zsBig = [[0, 5000, 1, 2], [0, 0, 5000, 3], [1, 2, 3, 5000]];
    const want = zsBig.reduce((s, r, b) => s + handNckd(r, ZT[b]!, Y[b]!, 1), 0) / 3;
    const d = dkd(tf.tensor2d(zsBig), tf.tensor2d(ZT), tf.tensor1d(Y, 'int32'), { alpha: 1, beta: 1, T: 1 });
    expect(Math.abs(val(d.nckd) - want)).toBeLessThan(1e-5); // was 3997.7
    tf.dispose([d.tckd, d.total]);

    const ztBig = [[0, 5000, 1, 2], [0, 0, 5000, 3], [1, 2, 3, 5000]];
    const want2 = ztBig.reduce((s, r, b) => s + handNckd(ZS[b]!, r, Y[b]!, 1), 0) / 3;
    const d2 = dkd(tf.tensor2d(ZS), tf.tensor2d(ztBig), tf.tensor1d(Y, 'int32'), { alpha: 1, beta: 1, T: 1 });
    expect(Math.abs(val(d2.nckd) - want2)).toBeLessThan(1e-5); // was 999.29
    tf.dispose([d2.tckd, d2.total]);
  });

  it('temperature near 0: NCKD of the §5.8 vectors at T = 1e-3 is the hand value 2e-4 (it was 2.3e-7)', () => {
    // z/T is then thousands apart, and the old "− 1000" mask left the target in the non-target softmax. At T → 0
    // both non-target distributions are one-hot: rows agree (KL 0), or the student puts log-prob −(0.3+0.2)/T and
    // −(0.2−0.1)/T on the teacher's class: T²·(0 + 500 + 100)/3 = 2e-4.
    const d = dkd(tf.tensor2d(ZS), tf.tensor2d(ZT), tf.tensor1d(Y, 'int32'), { alpha: 1, beta: 8, T: 1e-3 });
    expect(Math.abs(val(d.nckd) - 2e-4) / 2e-4).toBeLessThan(1e-3);
    tf.dispose([d.tckd, d.total]);
  });

  it('dkdFromProbs with a confident teacher row (target probability ≈ 1) renormalises the off-target mass exactly', () => {
    // student [1, 2, .5, −1], teacher logits [0, g, 1, 2], y = 1: the non-target distribution is softmax([0, 1, 2])
    // whatever g, NCKD = KL(softmax([0,1,2]) ‖ softmax([1, .5, −1])) = 1.1754075 (float64)
    const want = handNckd([1, 2, 0.5, -1], [0, 20, 1, 2], 1, 1);
    expect(want).toBeCloseTo(1.1754075, 6);
    for (const g of [15, 20, 30, 60]) {
      const pt = tf.softmax(tf.tensor2d([[0, g, 1, 2]])) as tf.Tensor2D;
      const d = dkdFromProbs(tf.tensor2d([[1, 2, 0.5, -1]]), pt, tf.tensor1d([1], 'int32'), { alpha: 0, beta: 1, T: 1 });
      expect(Math.abs(val(d.nckd) - want)).toBeLessThan(1e-5); // g = 15: 1.138, 20: 256733, 60: −2.5e-12 before
      tf.dispose([d.tckd, d.total, pt]);
    }
  });

  it('dkdFromProbs keeps the §5.8 values for soft rows (target mass ≤ 0.5)', () => {
    const pt = tf.softmax(tf.div(tf.tensor2d(ZT), 4)) as tf.Tensor2D;
    const d = dkdFromProbs(tf.tensor2d(ZS), pt, tf.tensor1d(Y, 'int32'), { alpha: 1, beta: 8, T: 4 });
    expect(Math.abs(val(d.tckd) - 0.114907)).toBeLessThan(1e-5);
    expect(Math.abs(val(d.nckd) - 0.073952)).toBeLessThan(1e-5);
    expect(Math.abs(val(d.total) - 0.706524)).toBeLessThan(1e-5);
    pt.dispose();
  });

  it('dkd frees its teacher probabilities when its checks throw (bad label, label count, NaN weight)', () => {
    const zs = tf.tensor2d(ZS);
    const zt = tf.tensor2d(ZT);
    const bad = tf.tensor1d([1, 2, 7], 'int32');
    const short = tf.tensor1d([1, 2], 'int32');
    const y = tf.tensor1d(Y, 'int32');
    const before = tf.memory().numTensors;
    expect(trellisErrorOf(() => dkd(zs, zt, bad, { alpha: 1, beta: 8, T: 4 })).code).toBe('LABEL_OUT_OF_RANGE');
    expect(trellisErrorOf(() => dkd(zs, zt, short, { alpha: 1, beta: 8, T: 4 })).code).toBe('SHAPE_MISMATCH');
    expect(trellisErrorOf(() => dkd(zs, zt, y, { alpha: 1, beta: NaN, T: 4 })).code).toBe('BAD_OPTION');
    expect(tf.memory().numTensors).toBe(before); // each used to leak one tensor
    tf.dispose([zs, zt, bad, short, y]);
  });
});

describe('bad input to the pure losses is a TrellisError', () => {
  const zs = () => tf.tensor2d(ZS);
  const zt = () => tf.tensor2d(ZT);
  const y = () => tf.tensor1d(Y, 'int32');

  it('a missing or null options object (used to be a TypeError)', () => {
    const calls: Array<[string, () => unknown]> = [
      ['reffakdLoss', () => (reffakdLoss as (...a: unknown[]) => unknown)(zs(), y(), tf.softmax(zt()))],
      ['tfkdRegLoss', () => (tfkdRegLoss as (...a: unknown[]) => unknown)(zs(), y())],
      ['tfkdRegMatrix', () => (tfkdRegMatrix as (...a: unknown[]) => unknown)(4)],
      ['crossEntropy', () => (crossEntropy as (...a: unknown[]) => unknown)(zs(), y(), null)],
      ['dist', () => (dist as (...a: unknown[]) => unknown)(zs(), zt(), null)],
      ['distFromProbs', () => (distFromProbs as (...a: unknown[]) => unknown)(zs(), tf.softmax(zt()), null)],
    ];
    for (const [name, f] of calls) {
      const e = trellisErrorOf(f);
      expect(e.code).toBe('BAD_OPTION');
      expect(e.message).toContain(`${name} needs an options object`);
    }
  });

  it('an empty batch (the loss was 0 or −0) and logits with fewer than 2 classes (a tfjs oneHot error, or DIST = 2)', () => {
    const empty = tf.zeros([0, 4]) as tf.Tensor2D;
    const none = tf.tensor1d([], 'int32');
    for (const f of [() => crossEntropy(empty, none), () => hintonKD(empty, empty, { T: 4 }), () => softTargetKL(empty, empty, { T: 4 }),
      () => dkd(empty, empty, none, { alpha: 1, beta: 8, T: 4 }), () => tfkdRegLoss(empty, none, { tau: 20, alpha: 0.1 }), () => standardizeLogits(empty)]) {
      const e = trellisErrorOf(f);
      expect(e.code).toBe('EMPTY_BATCH');
      expect(e.message).toMatch(/no rows \(shape \[0, 4\]\)/);
    }
    const one = tf.tensor2d([[1], [2]]);
    const labels = tf.tensor1d([0, 0], 'int32');
    for (const f of [() => crossEntropy(one, labels), () => dkd(one, one, labels, { alpha: 1, beta: 8, T: 4 }), () => dist(one, one),
      () => tfkdRegLoss(one, labels, { tau: 20, alpha: 0.1 }), () => hintonKD(tf.zeros([3, 0]) as tf.Tensor2D, tf.zeros([3, 0]) as tf.Tensor2D, { T: 4 })]) {
      const e = trellisErrorOf(f);
      expect(e.code).toBe('BAD_LOGITS_SHAPE');
      expect(e.message).toMatch(/class column\(s\).*need at least 2/);
    }
    tf.dispose([empty, none, one, labels]);
  });

  it('oneHotLabels / labelSmoothingTargets with a class count that is not an integer ≥ 2 (4.5 used to give a value)', () => {
    for (const C of [4.5, 1, 0, NaN]) {
      expect(trellisErrorOf(() => oneHotLabels(y(), C)).code).toBe('BAD_CLASSES');
      expect(trellisErrorOf(() => labelSmoothingTargets(y(), C, 0.1)).code).toBe('BAD_CLASSES');
    }
  });

  it('oneHotLabels reads the labels back to check them unless told they are checked (the plugin\'s Trainer batches: no host read per step)', () => {
    const out = tf.tensor1d([0, 3], 'int32');
    expect(trellisErrorOf(() => oneHotLabels(out, 3)).code).toBe('LABEL_OUT_OF_RANGE');
    const w = watchBatchReads('y');
    try {
      const ok = tf.tensor1d([0, 2], 'int32');
      w.watch(ok);
      const checked = oneHotLabels(ok, 3);
      expect(w.reads()).toBe(1);
      const unchecked = oneHotLabels(ok, 3, { checkLabelValues: false });
      expect(w.reads()).toBe(1);
      expect(Array.from(unchecked.dataSync())).toEqual(Array.from(checked.dataSync()));
      tf.dispose([ok, checked, unchecked]);
    } finally {
      w.restore();
    }
    out.dispose();
  });

  it('softTargetKL scaleT2 that is not a boolean (the string "no" multiplied by T²)', () => {
    const e = trellisErrorOf(() => softTargetKL(zs(), tf.softmax(zt()) as tf.Tensor2D, { T: 4, scaleT2: 'no' as unknown as boolean }));
    expect(e.code).toBe('BAD_OPTION');
    expect(e.message).toMatch(/scaleT2 "no" is not true or false/);
  });
});

describe('bad input to the generators and the plugin is a TrellisError when they are built', () => {
  it('generators built without options, a shuffled control of nothing, restore(null) (used to be TypeErrors)', () => {
    expect(trellisErrorOf(() => (labelSmoothingGenerator as (o?: unknown) => unknown)()).message).toMatch(/labelSmoothingGenerator needs an options object, got undefined/);
    expect(trellisErrorOf(() => (tfkdRegGenerator as (o?: unknown) => unknown)()).message).toMatch(/tfkdRegGenerator needs an options object, got undefined/);
    expect(trellisErrorOf(() => (shuffledMatrixGenerator as (b: unknown, s: number) => unknown)(undefined, 1)).message).toMatch(/needs a soft-label source to shuffle, got undefined/);
    const g = labelSmoothingGenerator({ numClasses: 4, epsilon: 0.2 });
    const e = trellisErrorOf(() => g.restore(null as unknown as Parameters<typeof g.restore>[0]));
    expect(e.code).toBe('BAD_STATE');
    expect(g.matrix()![0]![0]).toBeCloseTo(0.85, 6); // untouched
  });

  it('pseudoLogits with a temperature that is not > 0 (T = 0 gave zero rows, T = −1 inverted rows, NaN rows)', () => {
    const g = matrixGenerator([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.25, 0.25, 0.5]]);
    const labels = tf.tensor1d([0, 2], 'int32');
    for (const T of [0, -1, NaN]) expect(trellisErrorOf(() => g.pseudoLogits({ labels }, T)).code).toBe('BAD_TEMPERATURE');
    // a valid T still gives T·log P[y]: row 0 at T = 2 is 2·log([0.7, 0.2, 0.1])
    const ok = g.pseudoLogits({ labels }, 2);
    const row = (ok.arraySync() as number[][])[0]!;
    [0.7, 0.2, 0.1].forEach((p, k) => expect(row[k]).toBeCloseTo(2 * Math.log(p), 5));
    const fixed = teacherGenerator(mlp({ inputShape: [3], hidden: [4], numClasses: 3, seed: 1 }), { temperature: 2 });
    expect(trellisErrorOf(() => fixed.pseudoLogits({ labels, inputs: tf.ones([2, 3]) }, 0)).code).toBe('BAD_TEMPERATURE');
    tf.dispose([labels, ok]);
    g.dispose();
  });

  it('dense autoencoder sizes that are not positive integers (a tfjs "Expected units" error, and only at fit time)', () => {
    for (const dense of [{ code: 0 }, { hidden: 2.5 }, { code: -1 }]) {
      const e = trellisErrorOf(() => reffakdGenerator({ numClasses: 4, dense }));
      expect(e.code).toBe('BAD_OPTION');
      expect(e.message).toMatch(/reffakdGenerator dense (code|hidden) size .* is not a positive integer/);
      expect(trellisErrorOf(() => denseAutoencoder({ inputDim: 8, seed: 0, ...dense })).code).toBe('BAD_OPTION');
    }
    expect(trellisErrorOf(() => denseAutoencoder({ inputDim: 0, seed: 0 })).message).toMatch(/inputDim 0 is not a positive integer/);
    // a fractional image size was rounded up to 32 here and failed in a tfjs reshape at the first batch
    expect(trellisErrorOf(() => convAutoencoder({ inputShape: [28.5, 28, 1], seed: 0 })).message).toMatch(/\[28\.5, 28, 1\]/);
  });

  it('flipRotate flip that is not a boolean (the string "no" flipped images)', () => {
    const e = trellisErrorOf(() => flipRotate(new Float32Array(8), { n: 2, h: 2, w: 2, c: 1 }, new Rng(1), { flip: 'no' as unknown as boolean }));
    expect(e.code).toBe('BAD_OPTION');
    expect(e.message).toMatch(/flip "no" is not true or false/);
  });

  it('a method whose reduction, scaleT2 or standardizeTeacher is not one of its values (checked at build time, not silently true)', () => {
    const source = labelSmoothingGenerator({ numClasses: 4, epsilon: 0.2 });
    const build = (method: unknown) => () => distillPlugin({ source, method: method as DistillMethod, ceWeight: 1, kdWeight: 1 });
    expect(trellisErrorOf(build({ kind: 'soft-kl', T: 4, reduction: 'mean' })).message).toMatch(/unknown KL reduction "mean"/);
    expect(trellisErrorOf(build({ kind: 'logit-std-kd', T: 2, reduction: 'sum' })).message).toMatch(/unknown KL reduction "sum"/);
    expect(trellisErrorOf(build({ kind: 'soft-kl', T: 4, scaleT2: 'no' })).message).toMatch(/soft-kl scaleT2 "no" is not true or false/);
    expect(trellisErrorOf(build({ kind: 'logit-std-kd', T: 2, standardizeTeacher: 'yes' })).message).toMatch(/logit-std-kd standardizeTeacher "yes" is not true or false/);
    // the valid spellings still build
    for (const m of [{ kind: 'soft-kl', T: 4, reduction: 'elementwise-mean', scaleT2: false }, { kind: 'logit-std-kd', T: 2, standardizeTeacher: true, reduction: 'batchmean' }]) {
      expect(build(m)().name).toBe('distill');
    }
  });
});

describe('tensor leaks', () => {
  it("trainAutoencoder with the paper's SGD leaves the tensor count flat (tfjs's momentum optimizer kept one scalar per run)", async () => {
    const n = 16;
    const x = new Float32Array(n * 8).map((_, i) => ((i * 37) % 11) / 10);
    const data = Dataset.fromArrays({ x, shape: [8], labels: Int32Array.from({ length: n }, (_, i) => i % 2), numClasses: 2 });
    const ae = denseAutoencoder({ inputDim: 8, hidden: 4, code: 2, seed: 0 });
    for (const optimizer of ['sgd', 'adam'] as const) {
      const before = tf.memory().numTensors;
      const report = await trainAutoencoder(ae, data, { epochs: 1, batchSize: 8, optimizer });
      expect(report.mse.every(Number.isFinite)).toBe(true);
      expect(tf.memory().numTensors).toBe(before);
    }
    ae.dispose();
  });
});

describe('DIST in the plugin and an epoch whose last batch has one example', () => {
  const plugin = (warn: (l: string) => void) => distillPlugin({ source: labelSmoothingGenerator({ numClasses: 4, epsilon: 0.2 }), method: { kind: 'dist' }, ceWeight: 1, kdWeight: 1, warn });

  it('97 examples in batches of 32 train (the 1-example batch used to throw BATCH_TOO_SMALL after an epoch of work); that batch adds no DIST term', async () => {
    const warnings: string[] = [];
    const m = mlp({ inputShape: [8], hidden: [6], numClasses: 4, seed: 1 });
    const t = new Trainer({ model: m, seed: 1, batchSize: 32, optimizer: tf.train.sgd(0.1), plugins: [plugin((l) => warnings.push(l))] });
    const data = toy(97);
    await t.fit(data, { epochs: 1 });
    const before = tf.memory().numTensors;
    const hist = await t.fit(data, { epochs: 2 });
    expect(tf.memory().numTensors).toBe(before);
    expect(hist.every((h) => Number.isFinite(h.loss) && h['distill/kd']! > 0)).toBe(true);
    expect(warnings.filter((w) => /skips batches of 1 example/.test(w))).toHaveLength(1);
    // one example alone: the loss is its cross-entropy, the DIST term 0
    const logs = await t.trainStep(data.batchAt(Int32Array.from([5])));
    expect(logs['distill/kd']).toBe(0);
    expect(logs.loss).toBeCloseTo(logs.base!, 6);
    t.dispose();
    m.dispose();
  });

  it('batch size 1 is still an error (a first batch of 1 example)', async () => {
    const m = mlp({ inputShape: [8], hidden: [6], numClasses: 4, seed: 1 });
    const t = new Trainer({ model: m, seed: 1, batchSize: 1, optimizer: tf.train.sgd(0.1), plugins: [plugin(() => undefined)] });
    const e = await t.fit(toy(8), { epochs: 1 }).then(() => null, (err: unknown) => err as { code?: string; message: string });
    expect(e?.code).toBe('BATCH_TOO_SMALL');
    expect(e?.message).toMatch(/DIST needs at least 2 examples per batch \(got 1 in the first batch of epoch 0\)/);
    t.dispose();
    m.dispose();
  });
});

describe('reffakdGenerator checks its autoencoder options when it is built', () => {
  it("refuses a misspelt aeInput or resize28, and 'bilinear' with the dense autoencoder, before fit (they failed only in fit)", () => {
    for (const bad of [{ aeInput: 'standardised' }, { resize28: 'bilnear' }, { resize28: 'bilinear' }, { autoencoder: 'dense', resize28: 'bilinear' }]) {
      const e = trellisErrorOf(() => reffakdGenerator({ numClasses: 3, ...bad } as never));
      expect(e.code, JSON.stringify(bad)).toBe('BAD_OPTION');
    }
    expect(trellisErrorOf(() => reffakdGenerator({ numClasses: 3, resize28: 'bilinear' })).message).toMatch(/needs the conv autoencoder/);
    // the good ones build
    for (const good of [{ aeInput: 'standardized' }, { resize28: 'pad' }, { autoencoder: 'conv', resize28: 'bilinear' }] as const) {
      expect(() => reffakdGenerator({ numClasses: 3, ...good }).dispose?.()).not.toThrow();
    }
  });
});
