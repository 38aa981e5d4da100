import * as tf from '@tensorflow/tfjs-core';
import { Dataset, Rng, Trainer, TrellisError, mlp, type TrainerPlugin } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  crossEntropy, distillPlugin, labelSmoothingGenerator, labelSmoothingPlugin, matrixGenerator, reffakdGenerator, teacherGenerator,
  type DistillMethod, type SoftLabelGenerator,
} from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { toy, useCpu } from './helpers.js';

beforeAll(useCpu);


const student = (seed = 1) => mlp({ inputShape: [8], hidden: [6], numClasses: 4, seed });

async function firstStepLoss(plugins: TrainerPlugin[], seed = 1): Promise<Record<string, number>> {
  const data = toy();
  const m = student(seed);
  const t = new Trainer({ model: m, seed, batchSize: 32, optimizer: tf.train.sgd(0.1), plugins });
  await t.fit(data, { epochs: 1, maxSteps: 1 }); // runs onFitStart (fits sources) and one step
  const b = data.batchAt(Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]));
  const logs = await t.trainStep(b);
  t.dispose();
  m.dispose();
  return logs;
}

describe('distillPlugin', () => {
  it('ceWeight 0, kdWeight 1, T 1 with the LS matrix as source = LS loss − entropy of the target', async () => {
    const eps = 0.1;
    const C = 4;
    const data = toy();
    const m = student();
    const t = new Trainer({ model: m, seed: 1, batchSize: 32, optimizer: tf.train.sgd(0), plugins: [
      distillPlugin({ source: labelSmoothingGenerator({ numClasses: C, epsilon: eps }), method: { kind: 'soft-kl', T: 1 }, ceWeight: 0, kdWeight: 1 }),
    ] });
    const idx = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
    const logs = await t.trainStep(data.batchAt(idx));
    const b = data.batchAt(idx);
    const ls = tf.tidy(() => crossEntropy(m.apply(b.x).logits as tf.Tensor2D, b.y!, { labelSmoothing: eps }).dataSync()[0]!);
    const q = [1 - eps + eps / C, eps / C, eps / C, eps / C];
    const H = -q.reduce((s, v) => s + v * Math.log(v), 0);
    expect(logs['distill/kd']!).toBeCloseTo(ls - H, 5);
    expect(logs.base!).toBeCloseTo(0, 7);
    expect(logs.loss!).toBeCloseTo(ls - H, 5);
    tf.dispose([b.x, b.y!]);
    t.dispose();
    m.dispose();
  });

  it('labelSmoothingPlugin replaces targets exactly (base loss = LS cross-entropy)', async () => {
    const data = toy();
    const m = student();
    const t = new Trainer({ model: m, seed: 1, batchSize: 32, optimizer: tf.train.sgd(0), plugins: [labelSmoothingPlugin({ epsilon: 0.2, variant: 'uniform-others' })] });
    const idx = Int32Array.from([0, 1, 2, 3, 4, 5]);
    const logs = await t.trainStep(data.batchAt(idx));
    const b = data.batchAt(idx);
    const ls = tf.tidy(() => crossEntropy(m.apply(b.x).logits as tf.Tensor2D, b.y!, { labelSmoothing: 0.2, variant: 'uniform-others' }).dataSync()[0]!);
    expect(logs.base!).toBeCloseTo(ls, 5);
    tf.dispose([b.x, b.y!]);
    t.dispose();
    m.dispose();
  });

  it('labelSmoothingPlugin smooths a one-hot and a weighted row within their mass, both variants (hand-computed, C = 4)', () => {
    const rows = tf.tensor2d([[0, 1, 0, 0], [0, 0.5, 0, 0]]);
    const hook = (variant: 'uniform-all' | 'uniform-others', epsilon: number): number[][] =>
      tf.tidy(() => labelSmoothingPlugin({ epsilon, variant }).transformTargets!(rows, { logits: rows, features: {} }, {} as never).arraySync() as number[][]);
    const close = (a: number[][], e: number[][]) => a.forEach((r, b) => r.forEach((v, k) => expect(v, `row ${b}, class ${k}`).toBeCloseTo(e[b]![k]!, 6)));
    // ε = 0.2, uniform-all: 0.8·t + 0.05·Σt
    close(hook('uniform-all', 0.2), [[0.05, 0.85, 0.05, 0.05], [0.025, 0.425, 0.025, 0.025]]);
    // ε = 0.3, uniform-others: ε/(C−1) = 0.1, 0.6·t + 0.1·Σt
    close(hook('uniform-others', 0.3), [[0.1, 0.7, 0.1, 0.1], [0.05, 0.35, 0.05, 0.05]]);
    rows.dispose();
  });

  const methods: Array<[string, DistillMethod]> = [
    ['soft-kl', { kind: 'soft-kl', T: 4 }],
    ['dkd', { kind: 'dkd', alpha: 1, beta: 8, T: 4, warmupEpochs: 2 }],
    ['dist', { kind: 'dist', tau: 1 }],
    ['logit-std-kd', { kind: 'logit-std-kd', T: 2 }],
  ];
  for (const [name, method] of methods) {
    it(`${name}: flat tensor count over 3 epochs, sync hooks, same seed → same numbers (ReffAKD source, replace-teacher)`, async () => {
      const mk = () => reffakdGenerator({ numClasses: 4, samplesPerClass: 8, dense: { hidden: 6, code: 4 }, aeTraining: { epochs: 1, batchSize: 32 } });
      const run = async (): Promise<number[]> => {
        const data = toy();
        const m = student(2);
        const source = mk();
        const t = new Trainer({ model: m, seed: 5, batchSize: 32, optimizer: tf.train.sgd(0.1), plugins: [distillPlugin({ source, method, ceWeight: 1, kdWeight: 0.5 })] });
        await t.fit(data, { epochs: 1 });
        const before = tf.memory().numTensors;
        const hist = await t.fit(data, { epochs: 4 });
        expect(tf.memory().numTensors).toBe(before);
        t.dispose();
        source.dispose();
        m.dispose();
        return hist.map((h) => h.loss!);
      };
      const a = await run();
      const b = await run();
      expect(a).toEqual(b);
      expect(a.every(Number.isFinite)).toBe(true);
    });
  }

  it('teacher source (cached and online) and add-term mode: no leaks, terms logged', async () => {
    const teacherModel = mlp({ inputShape: [8], hidden: [12], numClasses: 4, seed: 9 });
    const soft = matrixGenerator(labelSmoothingGenerator({ numClasses: 4, epsilon: 0.3 }).matrix()!);
    for (const plugin of [
      distillPlugin({ source: teacherGenerator(teacherModel, { cache: 'epoch-invariant' }), method: { kind: 'soft-kl', T: 4 }, ceWeight: 0.5, kdWeight: 0.5 }),
      distillPlugin({ source: teacherGenerator(teacherModel), method: { kind: 'dkd', alpha: 1, beta: 2, T: 4 }, ceWeight: 1, kdWeight: 1 }),
      distillPlugin({ source: soft, method: { kind: 'dist', tau: 1 }, ceWeight: 1, kdWeight: 1, mode: 'add-term', extraTeacher: teacherModel, addTermWeight: 0.3 }),
    ]) {
      const data = toy();
      const m = student();
      const t = new Trainer({ model: m, seed: 3, batchSize: 32, optimizer: tf.train.sgd(0.1), plugins: [plugin] });
      await t.fit(data, { epochs: 1 });
      const before = tf.memory().numTensors;
      const hist = await t.fit(data, { epochs: 3 });
      expect(tf.memory().numTensors).toBe(before);
      expect(Object.keys(hist[0]!).some((k) => k.startsWith('distill/'))).toBe(true);
      t.dispose();
      m.dispose();
    }
    const cost = teacherGenerator(teacherModel, { cache: 'epoch-invariant' });
    cost.prepare!(toy());
    expect(cost.cost().labelMacs).toBe(96 * (8 * 12 + 12 * 4));
    // another training set of the same size gets its own logits (the cache used to be keyed on the size only)
    const a = toy(96, 4, 1);
    const b = toy(96, 4, 2);
    const cached = teacherGenerator(teacherModel, { cache: 'epoch-invariant' });
    const firstBatch = (d: Dataset) => {
      const batch = d.batches(8).next().value!;
      return { labels: batch.y! as tf.Tensor1D, inputs: batch.x, indices: batch.indices };
    };
    cached.prepare!(a);
    tf.tidy(() => cached.targets(firstBatch(a), 4));
    cached.prepare!(b);
    const fromCache = tf.tidy(() => Array.from(cached.targets(firstBatch(b), 4).dataSync()));
    const live = tf.tidy(() => Array.from(tf.softmax(tf.div(teacherModel.apply(firstBatch(b).inputs, { training: false }).logits, 4)).dataSync()));
    fromCache.forEach((v, i) => expect(v).toBeCloseTo(live[i]!, 5));
    cached.dispose();
    teacherModel.dispose();
    soft.dispose();
  });

  it('state round-trips: a restored matrix is used without refitting', async () => {
    const source = reffakdGenerator({ numClasses: 4, samplesPerClass: 8, featureSource: 'pixels' });
    await source.fit!(toy());
    const plugin = distillPlugin({ source, method: { kind: 'soft-kl', T: 4 }, ceWeight: 0.5, kdWeight: 0.5 });
    const state = JSON.parse(JSON.stringify(plugin.getState!()));
    const fresh = reffakdGenerator({ numClasses: 4, samplesPerClass: 8, featureSource: 'pixels' });
    expect(fresh.fitted).toBe(false);
    const plugin2 = distillPlugin({ source: fresh, method: { kind: 'soft-kl', T: 4 }, ceWeight: 0.5, kdWeight: 0.5 });
    plugin2.setState!(state);
    expect(fresh.fitted).toBe(true);
    expect(fresh.matrix()).toEqual(source.matrix());
    expect(plugin2.getState!()).toEqual(state);
    source.dispose();
    fresh.dispose();
  });

  it('a teacher whose classes differ from the student is rejected with TEACHER_CLASS_MISMATCH', async () => {
    const teacherModel = mlp({ inputShape: [8], hidden: [4], numClasses: 5, seed: 1 });
    const p = distillPlugin({ source: teacherGenerator(teacherModel), method: { kind: 'soft-kl', T: 4 }, ceWeight: 0.5, kdWeight: 0.5 });
    const err = await firstStepLoss([p]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrellisError);
    expect((err as TrellisError).code).toBe('TEACHER_CLASS_MISMATCH');
    expect((err as TrellisError).message).toMatch(/5 classes but the student outputs 4/);
    teacherModel.dispose();
    const wrongSize = distillPlugin({ source: labelSmoothingGenerator({ numClasses: 3, epsilon: 0.1 }), method: { kind: 'soft-kl', T: 4 }, ceWeight: 1, kdWeight: 1 });
    await expect(firstStepLoss([wrongSize])).rejects.toThrow(/3 classes but the student outputs 4/);
  });

  it('a cached teacher refuses augmented batches (TEACHER_CACHE_STALE)', async () => {
    const teacherModel = mlp({ inputShape: [8], hidden: [4], numClasses: 4, seed: 1 });
    const augment: TrainerPlugin = {
      name: 'augment', apiVersion: 1,
      onBatchStart: (ctx) => ({ ...ctx.batch!, x: tf.add(ctx.batch!.x, 1), y: tf.clone(ctx.batch!.y!), groups: undefined }),
    };
    const p = distillPlugin({ source: teacherGenerator(teacherModel, { cache: 'epoch-invariant' }), method: { kind: 'soft-kl', T: 4 }, ceWeight: 0.5, kdWeight: 0.5 });
    await expect(firstStepLoss([augment, p])).rejects.toThrow(/augmentation/);
    teacherModel.dispose();
  });

  it('rejects bad options: T ≤ 0, negative weights, add-term without a teacher, unfitted source used directly', () => {
    const src: SoftLabelGenerator = labelSmoothingGenerator({ numClasses: 4, epsilon: 0.1 });
    expect(() => distillPlugin({ source: src, method: { kind: 'soft-kl', T: 0 }, ceWeight: 1, kdWeight: 1 })).toThrow(/temperature 0/);
    expect(() => distillPlugin({ source: src, method: { kind: 'soft-kl', T: 1 }, ceWeight: -1, kdWeight: 1 })).toThrow(/≥ 0/);
    expect(() => distillPlugin({ source: src, method: { kind: 'soft-kl', T: 1 }, ceWeight: 1, kdWeight: 1, mode: 'add-term' })).toThrow(/extraTeacher/);
    const unfitted = reffakdGenerator({ numClasses: 4 });
    expect(() => unfitted.targets({ labels: tf.tensor1d([0], 'int32') }, 1)).toThrow(/no matrix yet/);
  });

  it('rejects what used to train silently wrong or NaN: an unknown method kind or mode, bad DKD / DIST / add-term weights, a missing options object', async () => {
    const src: SoftLabelGenerator = labelSmoothingGenerator({ numClasses: 4, epsilon: 0.1 });
    const w = { ceWeight: 0.5, kdWeight: 0.5 };
    const teacherModel = mlp({ inputShape: [8], hidden: [4], numClasses: 4, seed: 9 });
    // an unknown kind used to run logit-standardised KD
    const kind = trellisErrorOf(() => distillPlugin({ source: src, method: { kind: 'softkl', T: 4 } as unknown as DistillMethod, ...w }));
    expect(kind.code).toBe('BAD_OPTION');
    expect(kind.message).toMatch(/unknown distillation method kind "softkl"/);
    // a misspelt mode used to run replace-teacher, ignoring extraTeacher
    const mode = trellisErrorOf(() => distillPlugin({ source: src, method: { kind: 'soft-kl', T: 4 }, ...w, mode: 'addterm' as 'add-term', extraTeacher: teacherModel }));
    expect(mode.message).toMatch(/mode "addterm" is not 'replace-teacher' or 'add-term'/);
    // a NaN / missing DKD weight used to give a NaN loss at the first step, a negative warm-up a negative loss
    expect(trellisErrorOf(() => distillPlugin({ source: src, method: { kind: 'dkd', alpha: NaN, beta: 8, T: 4 }, ...w })).message).toMatch(/DKD alpha \(the TCKD weight\) NaN/);
    expect(trellisErrorOf(() => distillPlugin({ source: src, method: { kind: 'dkd', alpha: 1, T: 4 } as unknown as DistillMethod, ...w })).message).toMatch(/DKD beta .* undefined/);
    expect(trellisErrorOf(() => distillPlugin({ source: src, method: { kind: 'dkd', alpha: 1, beta: 8, T: 4, warmupEpochs: -2 }, ...w })).message).toMatch(/warmupEpochs -2/);
    expect(trellisErrorOf(() => distillPlugin({ source: src, method: { kind: 'dist', gamma: NaN }, ...w })).message).toMatch(/DIST gamma .* NaN/);
    expect(trellisErrorOf(() => distillPlugin({ source: src, method: { kind: 'soft-kl', T: 4 }, ...w, mode: 'add-term', extraTeacher: teacherModel, addTermWeight: NaN })).message).toMatch(/addTermWeight NaN/);
    expect(trellisErrorOf(() => distillPlugin({ source: src, method: { kind: 'soft-kl', T: 4 }, ...w, mode: 'add-term', extraTeacher: teacherModel, addTermT: 0 })).code).toBe('BAD_TEMPERATURE');
    // missing objects used to be TypeErrors
    expect(trellisErrorOf(() => (distillPlugin as () => unknown)()).message).toMatch(/distillPlugin needs an options object/);
    expect(trellisErrorOf(() => distillPlugin({ method: { kind: 'soft-kl', T: 4 }, ...w } as unknown as Parameters<typeof distillPlugin>[0])).message).toMatch(/source undefined is not a soft-label generator/);
    expect(trellisErrorOf(() => distillPlugin({ source: src, ...w } as unknown as Parameters<typeof distillPlugin>[0])).message).toMatch(/distillation method undefined/);
    // label smoothing: an unknown variant used to act as 'uniform-all'
    expect(trellisErrorOf(() => labelSmoothingPlugin({ epsilon: 0.1, variant: 'others' as 'uniform-others' })).message).toMatch(/variant "others"/);
    // a teacher temperature ≤ 0 used to give NaN (0) or inverted (< 0) soft labels; a misspelt cache ran online
    const t0 = trellisErrorOf(() => teacherGenerator(teacherModel, { temperature: 0 }));
    expect(t0.code).toBe('BAD_TEMPERATURE');
    expect(t0.message).toMatch(/teacher temperature 0 must be a positive finite number/);
    expect(trellisErrorOf(() => teacherGenerator(teacherModel, { temperature: -2 })).code).toBe('BAD_TEMPERATURE');
    expect(trellisErrorOf(() => teacherGenerator(teacherModel).targets({ labels: tf.tensor1d([0], 'int32'), inputs: tf.zeros([1, 8]) }, 0)).code).toBe('BAD_TEMPERATURE');
    expect(trellisErrorOf(() => teacherGenerator(teacherModel, { cache: 'epoch' as 'epoch-invariant' })).message).toMatch(/teacher cache "epoch"/);
    expect(trellisErrorOf(() => teacherGenerator(undefined as unknown as typeof teacherModel)).message).toMatch(/teacherGenerator needs a teacher model/);
    teacherModel.dispose();
  });
});
