import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { check, Trainer, type LayersModelAdapter, type ModelAdapter, type TrainerPlugin } from '@trellis-ml/core';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { FEATURE_CLASSES as K, FEATURE_DIM as D, NOISE_AUGMENTATION as NOISE, shiftedFeatures } from './helpers.js';
import {
  certaintyDistillation,
  computeSourceStats,
  cotta,
  eta,
  memo,
  mlpBn,
  onlinePredictions,
  pseudoLabel,
  shotIm,
  tent,
  type SourceStats,
} from '../src/index.js';

let teacher: LayersModelAdapter;
let stats: SourceStats;
beforeAll(async () => {
  await tf.setBackend('cpu');
  teacher = mlpBn({ inputShape: [D], hidden: [8], numClasses: K, seed: 9 });
  stats = computeSourceStats(teacher, shiftedFeatures(60, 2, 0));
});
afterAll(() => teacher.dispose());

/** Every test-time adaptation plugin of the package, with the optimizer it trains with. */
const METHODS: Array<[string, () => TrainerPlugin, () => tf.Optimizer]> = [
  ['tent', () => tent(), () => tf.train.adam(0.01)],
  ['eta', () => eta({ e0Factor: 1 }), () => tf.train.adam(0.01)],
  ['pl', () => pseudoLabel({ threshold: 0.4 }), () => tf.train.adam(0.01)],
  ['shot-im', () => shotIm({ beta: 0.3, pseudoLabels: 'batch' }), () => tf.train.sgd(0.05)],
  ['dec', () => certaintyDistillation({ teacher, stats }), () => tf.train.sgd(0.05)],
  ['cotta', () => cotta({ augmentation: NOISE, augThreshold: 1 }), () => tf.train.adam(0.01)],
  ['memo', () => memo({ augmentation: NOISE, nAug: 2 }), () => tf.train.sgd(0.05)],
];

/**
 * A stand-in for a plugin of another package that trains on `batch.y` (privacy's crl and relaxLoss, distill,
 * fair-prune's groupConstraints, dynamic-depth's ofaDepth): its cross-entropy on the labels, optionally replacing the
 * base loss as crl does. Without labels it refuses as those plugins do ("train on a labelled dataset").
 */
function labelReader(replacesBaseLoss = false): TrainerPlugin {
  return {
    name: 'label-reader',
    apiVersion: 1,
    ...(replacesBaseLoss ? { replacesBaseLoss: true } : {}),
    lossTerms(outputs, batch) {
      check(batch.y, 'UNLABELED', 'label-reader trains on the labels, but the batch has none', 'train on a labelled dataset');
      return { ce: tf.losses.softmaxCrossEntropy(tf.oneHot(batch.y, K), outputs.logits) as tf.Scalar };
    },
  };
}

const model = (): LayersModelAdapter => mlpBn({ inputShape: [D], hidden: [8], numClasses: K, seed: 1 });
const weights = (m: ModelAdapter): Record<string, number[]> => Object.fromEntries(Object.entries(m.allVariables()).map(([n, v]) => [n, Array.from(v.dataSync())]));

describe('a labelled batch reaching an adaptation plugin (a target-label leak) is refused', () => {
  it('beside a plugin that replaces the base loss and trains on the labels (privacy\'s crl with tent): it used to train on them silently', async () => {
    const m = model();
    const t = new Trainer({ model: m, seed: 1, batchSize: 20, plugins: [labelReader(true), tent()] });
    const before = weights(m);
    const err = await trellisErrorOf(() => t.fit(shiftedFeatures(40, 3, 1), { epochs: 1 }));
    expect(err.code).toBe('TARGET_LABELS_PRESENT');
    expect(err.problem).toMatch(/the batch reaching the adaptation plugin "tent" carries labels, which a plugin in this Trainer could train on/);
    expect(err.fix).toMatch(/dataset\.withoutLabels\(\)/);
    // the partner that needs the labels refuses an unlabeled set: the fix says the two cannot be combined (no circle)
    expect(err.fix).toMatch(/A plugin that needs the labels cannot run beside test-time adaptation: train it in a Trainer of its own$/);
    expect(weights(m)).toEqual(before); // refused before any update
    t.dispose();
    m.dispose();
  });

  it("every adaptation plugin, with baseLoss 'none' and a plugin that reads the labels before or after it, refuses before any update", async () => {
    for (const [name, make, optimizer] of METHODS) {
      for (const order of ['reader first', 'reader last'] as const) {
        const m = model();
        const plugin = make();
        const t = new Trainer({ model: m, optimizer: optimizer(), seed: 1, batchSize: 20, baseLoss: 'none',
          plugins: order === 'reader first' ? [labelReader(), plugin] : [plugin, labelReader()] });
        await t.setup();
        const before = weights(m);
        const err = await trellisErrorOf(() => t.fit(shiftedFeatures(40, 3, 1), { epochs: 1 }));
        // MEMO drops the labels when it replaces the batch: the reader after it then said "train on a labelled dataset"
        expect(err.code, `${name}, ${order}`).toBe('TARGET_LABELS_PRESENT');
        expect(err.details, name).toEqual({ plugin: plugin.name });
        expect(weights(m), name).toEqual(before);
        t.dispose();
        m.dispose();
      }
    }
  });

  it('a bare labelled batch in trainStep too; the same batch without labels trains', async () => {
    const m = model();
    const t = new Trainer({ model: m, seed: 1, baseLoss: 'none', plugins: [tent()] });
    const batch = (labelled: boolean) => ({
      x: tf.randomNormal([10, D], 0, 1, 'float32', 3), indices: Int32Array.from({ length: 10 }, (_, i) => i), size: 10,
      ...(labelled ? { y: tf.zeros([10], 'int32') as tf.Tensor1D } : {}),
    });
    await t.setup();
    const tensors = tf.memory().numTensors;
    expect((await trellisErrorOf(() => t.trainStep(batch(true)))).code).toBe('TARGET_LABELS_PRESENT');
    expect(tf.memory().numTensors).toBe(tensors); // the refused batch is freed
    const logs = await t.trainStep(batch(false));
    expect(Number.isFinite(logs['tent/entropy'])).toBe(true);
    t.dispose();
    m.dispose();
  });

  it('with the base cross-entropy on, BASE_LOSS_ACTIVE (the more useful message) still comes first', async () => {
    const m = model();
    const t = new Trainer({ model: m, seed: 1, batchSize: 20, plugins: [tent()] });
    expect((await trellisErrorOf(() => t.fit(shiftedFeatures(40, 3, 1), { epochs: 1 }))).code).toBe('BASE_LOSS_ACTIVE');
    t.dispose();
    m.dispose();
  });
});

describe('two adaptation methods in one Trainer are refused at setup', () => {
  it('names both plugins, in either order, for every pair tried', async () => {
    const pairs: Array<[() => TrainerPlugin, () => TrainerPlugin]> = [];
    for (let i = 0; i < METHODS.length; i++) {
      for (let j = 0; j < METHODS.length; j++) if (i !== j) pairs.push([METHODS[i]![1], METHODS[j]![1]]);
    }
    // two instances of one method under two names stack too
    pairs.push([() => tent({ name: 'tent-a' }), () => tent({ name: 'tent-b' })]);
    const tensors = tf.memory().numTensors;
    for (const [a, b] of pairs) {
      const m = model();
      const [p, q] = [a(), b()];
      const t = new Trainer({ model: m, seed: 1, baseLoss: 'none', plugins: [p, q, onlinePredictions()] });
      const err = await trellisErrorOf(() => t.setup());
      expect(err.code, `${p.name} + ${q.name}`).toBe('TTA_CONFLICT');
      expect(err.problem).toContain(`plugins "${p.name}"`);
      expect(err.problem).toContain(`and "${q.name}"`);
      expect(err.fix).toMatch(/one adaptation method per Trainer/);
      expect(err.details).toEqual({ plugins: [p.name, q.name] });
      t.dispose();
      m.dispose();
    }
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('each method beside the onlinePredictions recorder is not a conflict', async () => {
    for (const [name, make, optimizer] of METHODS) {
      const m = model();
      const t = new Trainer({ model: m, optimizer: optimizer(), seed: 1, batchSize: 20, baseLoss: 'none', plugins: [make(), onlinePredictions()] });
      await t.fit(shiftedFeatures(40, 3, 1).withoutLabels(), { epochs: 1 });
      expect(t.context.step, name).toBe(2);
      t.dispose();
      m.dispose();
    }
  });

  it('a second fit, a resume on the same Trainer and a resume in a new Trainer are no conflict', async () => {
    const data = shiftedFeatures(40, 3, 1).withoutLabels();
    const dir = mkdtempSync(join(tmpdir(), 'uda-tta-conflict-'));
    try {
      for (const [name, make, optimizer] of METHODS) {
        const m = model();
        const t = new Trainer({ model: m, optimizer: optimizer(), seed: 1, batchSize: 20, baseLoss: 'none', plugins: [make()], checkpointDir: join(dir, name) });
        await t.setup();
        await t.fit(data, { epochs: 1 });
        await t.fit(data, { epochs: 1 });
        await t.fit(data, { epochs: 2, resume: true });
        t.dispose();
        const again = new Trainer({ model: m, optimizer: optimizer(), seed: 1, batchSize: 20, baseLoss: 'none', plugins: [make()], checkpointDir: join(dir, name) });
        await again.fit(data, { epochs: 3, resume: true });
        expect(again.lastRestore, name).not.toBeNull();
        again.dispose();
        m.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('separate Trainers do not interfere, also with one plugin object used in a second Trainer', async () => {
    const [m1, m2, m3] = [model(), model(), model()];
    const data = shiftedFeatures(40, 3, 1).withoutLabels();
    const a = new Trainer({ model: m1, seed: 1, batchSize: 20, baseLoss: 'none', plugins: [tent()] });
    const b = new Trainer({ model: m2, optimizer: tf.train.sgd(0.05), seed: 1, batchSize: 20, baseLoss: 'none', plugins: [shotIm()] });
    await a.setup();
    await b.setup();
    await a.fit(data, { epochs: 1 });
    await b.fit(data, { epochs: 1 });
    a.dispose();
    b.dispose();
    // a MEMO plugin set up in one Trainer keeps its source weights (its setup returns early the second time), but it
    // still counts as the method of the next Trainer it joins
    const shared = memo({ augmentation: NOISE, nAug: 2 });
    const first = new Trainer({ model: m3, optimizer: tf.train.sgd(0.05), seed: 1, baseLoss: 'none', plugins: [shared] });
    await first.setup();
    const alone = new Trainer({ model: m3, optimizer: tf.train.sgd(0.05), seed: 1, baseLoss: 'none', plugins: [shared] });
    await alone.setup();
    const stacked = new Trainer({ model: m3, optimizer: tf.train.sgd(0.05), seed: 1, baseLoss: 'none', plugins: [shared, tent()] });
    expect((await trellisErrorOf(() => stacked.setup())).code).toBe('TTA_CONFLICT');
    for (const t of [first, alone, stacked]) t.dispose();
    for (const m of [m1, m2, m3]) m.dispose();
  });
});
