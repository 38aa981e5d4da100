import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Dataset, Trainer, TrellisError, gradientClipping, mlp, orderPlugins, predictLogits, weightDecay, type Batch, type ModelAdapter, type TrainerPlugin } from '@trellis-ml/core';
import { toyDataset, useCpu } from './helpers.js';

beforeAll(useCpu);

const model = (seed = 1) => mlp({ inputShape: [8], hidden: [16], numClasses: 3, seed });

/** Trains a fresh model (initialised with seed `init`) for 3 epochs on the toy set; its fc1 kernel and the checkpoint it restored. */
async function trainToy(init: number, options: object, fit: object) {
  const m = model(init);
  const t = new Trainer({ model: m, seed: 9, batchSize: 32, ...options });
  await t.fit(toyDataset(), { epochs: 3, ...fit });
  const w = Array.from(m.trainableVariables()['fc1/kernel']!.dataSync());
  const restored = t.lastRestore;
  t.dispose(); m.dispose();
  return { w, restored };
}

describe('Trainer', () => {
  it('trains a tiny model: loss falls, accuracy rises, tensor count flat across epochs', async () => {
    const data = toyDataset();
    const m = model();
    const trainer = new Trainer({ model: m, seed: 3, batchSize: 32, optimizer: tf.train.adam(0.01), plugins: [weightDecay({ rate: 1e-4 }), gradientClipping({ maxNorm: 5 })] });
    await trainer.fit(data, { epochs: 1 });
    const before = tf.memory().numTensors;
    const hist = await trainer.fit(data, { epochs: 4 });
    const after = tf.memory().numTensors;
    expect(after).toBe(before);
    expect(hist[hist.length - 1]!.loss).toBeLessThan(hist[0]!.loss!);
    expect(hist[0]!['weight-decay/l2']).toBeGreaterThan(0);
    const ev = await trainer.evaluate(data);
    expect(ev.accuracy).toBeGreaterThan(0.9);
    trainer.dispose();
    m.dispose();
  });

  it("averages each logged value over the steps that logged it, not over the whole epoch", async () => {
    // 240 examples in batches of 60: 4 steps; the plugin logs 2 on even batches and batch-index+10 on the first only
    const sparse: TrainerPlugin = {
      name: 'sparse', apiVersion: 1,
      onBatchEnd: (ctx) => {
        if (ctx.batchIndex % 2 === 0) ctx.logs['sparse/every-other'] = 2;
        if (ctx.batchIndex === 0) ctx.logs['sparse/first'] = 10;
      },
    };
    const m = model();
    const t = new Trainer({ model: m, seed: 3, batchSize: 60, plugins: [sparse] });
    const [epoch] = await t.fit(toyDataset(), { epochs: 1 });
    expect(epoch!['sparse/every-other']).toBe(2); // was 1: (2 + 2) / 4 steps
    expect(epoch!['sparse/first']).toBe(10); // was 2.5
    expect(Number.isFinite(epoch!.loss)).toBe(true);
    t.dispose();
    m.dispose();
  });

  it('two runs with one seed give the same numbers', async () => {
    const run = async () => {
      const m = model(7);
      const t = new Trainer({ model: m, seed: 11, batchSize: 16 });
      const h = await t.fit(toyDataset(), { epochs: 2 });
      t.dispose();
      m.dispose();
      return h.map((e) => e.loss);
    };
    expect(await run()).toEqual(await run());
  });

  it('runs hooks in order, end hooks in reverse', async () => {
    const calls: string[] = [];
    const mk = (name: string, extra: Partial<TrainerPlugin> = {}): TrainerPlugin => ({
      name, apiVersion: 1, ...extra,
      onBatchStart: () => void calls.push(`start:${name}`),
      onBatchEnd: () => void calls.push(`end:${name}`),
    });
    const m = model();
    const t = new Trainer({ model: m, seed: 1, batchSize: 240, plugins: [mk('b', { after: ['c'] }), mk('a', { order: 'post' }), mk('c')] });
    await t.fit(toyDataset(), { epochs: 1 });
    expect(calls).toEqual(['start:c', 'start:b', 'start:a', 'end:a', 'end:b', 'end:c']);
    t.dispose();
    m.dispose();
  });

  it('resume from a checkpoint reproduces the uninterrupted run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-ckpt-'));
    const data = toyDataset();
    const full = async () => {
      const m = model(5);
      const t = new Trainer({ model: m, seed: 9, batchSize: 32, plugins: [weightDecay({ rate: 1e-3 })] });
      await t.fit(data, { epochs: 3 });
      const w = (m.trainableVariables()['fc1/kernel']!).dataSync().slice();
      t.dispose(); m.dispose();
      return w;
    };
    const uninterrupted = await full();
    const m1 = model(5);
    const t1 = new Trainer({ model: m1, seed: 9, batchSize: 32, checkpointDir: dir, plugins: [weightDecay({ rate: 1e-3 })] });
    await t1.fit(data, { epochs: 3, maxSteps: 8 * 2 }); // "killed" after epoch 2 (8 batches an epoch)
    t1.dispose(); m1.dispose();
    const m2 = model(99); // different init: everything must come from the checkpoint
    const t2 = new Trainer({ model: m2, seed: 9, batchSize: 32, checkpointDir: dir, plugins: [weightDecay({ rate: 1e-3 })] });
    await t2.fit(data, { epochs: 3, resume: true });
    const resumed = m2.trainableVariables()['fc1/kernel']!.dataSync();
    expect(t2.history.map((h) => h.epoch)).toEqual([0, 1, 2]);
    expect(Array.from(resumed)).toEqual(Array.from(uninterrupted));
    t2.dispose(); m2.dispose();
  });

  it("a plugin's stateVariables (not trained, e.g. running statistics) are checkpointed and restored", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-ckpt-state-'));
    const counting = (): TrainerPlugin & { count: tf.Variable } => {
      const count = tf.variable(tf.scalar(0), false);
      return { name: 'counting', apiVersion: 1, count, stateVariables: () => ({ steps: count }), afterApply: () => { count.assign(tf.add(count, 1)); }, dispose: () => count.dispose() };
    };
    const m1 = model(5);
    const p1 = counting();
    const t1 = new Trainer({ model: m1, seed: 9, batchSize: 32, checkpointDir: dir, plugins: [p1] });
    await t1.fit(toyDataset(), { epochs: 1 });
    expect(p1.count.dataSync()[0]).toBe(8);
    const m2 = model(5);
    const p2 = counting();
    const t2 = new Trainer({ model: m2, seed: 9, batchSize: 32, checkpointDir: dir, plugins: [p2] });
    await t2.fit(toyDataset(), { epochs: 2, resume: true });
    expect(p2.count.dataSync()[0]).toBe(16); // 8 restored + 8 of the second epoch
    for (const t of [t1, t2]) t.dispose();
    for (const m of [m1, m2]) m.dispose();
  });

  it("a plugin's JSON state keeps Infinity, NaN and typed arrays through a checkpoint (plain JSON wrote null and an object of indices)", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-ckpt-json-'));
    type State = { best: number; worst: number; ratio: number; seen: Int32Array; note: string };
    const saved: State = { best: Infinity, worst: -Infinity, ratio: NaN, seen: Int32Array.from([3, -1]), note: 'x' };
    const restored: State[] = [];
    const plugin = (state: State | null): TrainerPlugin<State> => ({ name: 'early-stop', apiVersion: 1, getState: () => state!, setState: (s) => { restored.push(s); } });
    const m1 = model(5);
    const t1 = new Trainer({ model: m1, seed: 9, batchSize: 32, checkpointDir: dir, plugins: [plugin(saved)] });
    await t1.fit(toyDataset(), { epochs: 1 });
    const m2 = model(5);
    const t2 = new Trainer({ model: m2, seed: 9, batchSize: 32, checkpointDir: dir, plugins: [plugin(saved)] });
    expect(await t2.restoreIfPresent(dir)).toBe(true);
    expect(restored).toHaveLength(1);
    const back = restored[0]!;
    expect(back.best).toBe(Infinity);
    expect(back.worst).toBe(-Infinity);
    expect(back.ratio).toBeNaN();
    expect(back.seen).toBeInstanceOf(Int32Array);
    expect(Array.from(back.seen)).toEqual([3, -1]);
    expect(back.note).toBe('x');
    expect(t2.history).toEqual(t1.history); // the history reads back as it was written
    for (const t of [t1, t2]) t.dispose();
    for (const m of [m1, m2]) m.dispose();
  });

  it("a checkpoint of another optimizer is refused (CHECKPOINT_MISMATCH), not loaded into the new optimizer's slots by position", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-ckpt-opt-'));
    const m1 = model(5);
    const t1 = new Trainer({ model: m1, seed: 9, batchSize: 32, checkpointDir: dir, optimizer: tf.train.adam(0.01) });
    await t1.fit(toyDataset(), { epochs: 1 });
    t1.dispose();
    const state = JSON.parse(await readFile(join(dir, 'checkpoint', 'state.json'), 'utf8')) as Record<string, unknown>;
    expect(state.optimizer).toBe('Adam');
    const m2 = model(6);
    const w = Array.from(m2.trainableVariables()['fc1/kernel']!.dataSync());
    const before = tf.memory().numTensors;
    // Momentum took Adam's 4 m and 4 v tensors as its accumulators; SGD threw a plain Error
    for (const [name, optimizer] of [['Momentum', () => tf.train.momentum(0.1, 0.9)], ['SGD', () => tf.train.sgd(0.1)]] as const) {
      const t = new Trainer({ model: m2, seed: 9, batchSize: 32, checkpointDir: dir, optimizer: optimizer() });
      const err = await t.restoreIfPresent(dir).catch((e: unknown) => e);
      expect(err, name).toMatchObject({ code: 'CHECKPOINT_MISMATCH' });
      expect((err as Error).message, name).toContain(`written by a Adam optimizer, this run uses ${name}`);
      expect(Array.from(m2.trainableVariables()['fc1/kernel']!.dataSync()), name).toEqual(w);
      t.dispose();
      expect(tf.memory().numTensors, name).toBe(before);
    }
    // the same optimizer resumes; so does a checkpoint written before the optimizer was recorded
    delete state.optimizer;
    await writeFile(join(dir, 'checkpoint', 'state.json'), JSON.stringify(state));
    const t3 = new Trainer({ model: m2, seed: 9, batchSize: 32, checkpointDir: dir, optimizer: tf.train.adam(0.01) });
    expect(await t3.restoreIfPresent(dir)).toBe(true);
    expect(Array.from(m2.trainableVariables()['fc1/kernel']!.dataSync())).toEqual(Array.from(m1.trainableVariables()['fc1/kernel']!.dataSync()));
    t3.dispose();
    m1.dispose();
    m2.dispose();
  });

  it('saveCheckpoints: false resumes from a checkpoint and leaves it as it was', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-ckpt-ro-'));
    const train = async (init: number, options: object, fit: object) => (await trainToy(init, options, fit)).w;
    const uninterrupted = await train(5, {}, {});
    await train(5, { checkpointDir: dir }, { maxSteps: 8 * 2 }); // checkpoint after epoch 2
    const before = await readFile(join(dir, 'checkpoint', 'state.json'), 'utf8');
    expect(await train(77, { checkpointDir: dir, saveCheckpoints: false }, { resume: true })).toEqual(uninterrupted);
    expect(await readFile(join(dir, 'checkpoint', 'state.json'), 'utf8')).toBe(before); // still the epoch-2 checkpoint
    expect(await train(78, { checkpointDir: dir }, { resume: true })).toEqual(uninterrupted);
    expect(await readFile(join(dir, 'checkpoint', 'state.json'), 'utf8')).not.toBe(before);
  });

  it('keeps the previous checkpoint; a damaged newest one costs an epoch, not the run (the resumed run still ends on the uninterrupted weights)', async () => {
    const train = trainToy;
    const uninterrupted = (await train(5, {}, {})).w;
    const damages: Array<[string, (dir: string) => Promise<void>]> = [
      ['unparsable state.json', (d) => writeFile(join(d, 'checkpoint', 'state.json'), '{broken')],
      ['truncated weights', async (d) => writeFile(join(d, 'checkpoint', 'model', 'weights.bin'), (await readFile(join(d, 'checkpoint', 'model', 'weights.bin'))).subarray(0, 100))],
      ['missing optimizer state', (d) => rm(join(d, 'checkpoint', 'optimizer'), { recursive: true })],
    ];
    for (const [what, damage] of damages) {
      const dir = await mkdtemp(join(tmpdir(), 'trellis-ckpt-damaged-'));
      await train(5, { checkpointDir: dir }, { maxSteps: 8 * 2 }); // checkpoints after epochs 1 and 2
      expect(JSON.parse(await readFile(join(dir, 'checkpoint-prev', 'state.json'), 'utf8')).epoch, what).toBe(0);
      await damage(dir);
      const resumed = await train(77, { checkpointDir: dir }, { resume: true });
      expect(resumed.w, what).toEqual(uninterrupted);
      expect(resumed.restored).toMatchObject({ from: join(dir, 'checkpoint-prev'), epoch: 0 });
      expect(resumed.restored!.skipped[0], what).toMatch(/^checkpoint: /);
    }
  });

  it('every checkpoint damaged: CHECKPOINT_UNREADABLE naming each; another seed: CHECKPOINT_SEED without falling back', async () => {
    const data = toyDataset();
    const dir = await mkdtemp(join(tmpdir(), 'trellis-ckpt-bad-'));
    const fit = async (seed: number, fitOptions: object) => {
      const m = model(5);
      const t = new Trainer({ model: m, seed, batchSize: 32, checkpointDir: dir });
      try {
        await t.fit(data, { epochs: 3, ...fitOptions });
      } finally {
        t.dispose(); m.dispose();
      }
    };
    await fit(9, { maxSteps: 8 * 2 });
    await expect(fit(10, { resume: true })).rejects.toThrow(/the checkpoint was written with seed 9, this run has seed 10/);
    await writeFile(join(dir, 'checkpoint', 'state.json'), '');
    await writeFile(join(dir, 'checkpoint-prev', 'state.json'), '{}');
    const err = await fit(9, { resume: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrellisError);
    expect((err as TrellisError).code).toBe('CHECKPOINT_UNREADABLE');
    expect((err as TrellisError).problem).toMatch(/no readable checkpoint in .*\(checkpoint: cannot read .*state.json: .*; checkpoint-prev: .* is not a Trellis checkpoint\)/);
  });
});

describe('bad input gets a clear error', () => {
  it('a plugin hook that throws is named with its hook, epoch and step (PLUGIN_FAILED, the original error as cause); its own TrellisError passes as it is', async () => {
    const data = toyDataset(64);
    const cases: Array<[string, Partial<TrainerPlugin>]> = [
      ['lossTerms', { lossTerms: (_o, _b, ctx) => { if (ctx.step === 1) throw new RangeError('index 9 out of range'); return {}; } }],
      ['onBatchEnd', { onBatchEnd: (ctx) => { if (ctx.step === 1) throw new RangeError('index 9 out of range'); } }],
    ];
    for (const [hook, hooks] of cases) {
      const m = model();
      const start = tf.memory().numTensors;
      const t = new Trainer({ model: m, seed: 1, batchSize: 32, plugins: [weightDecay({ rate: 1e-4 }), { name: 'faulty', apiVersion: 1, ...hooks }] });
      const err = await t.fit(data, { epochs: 1 }).catch((e: unknown) => e) as TrellisError;
      expect(err).toBeInstanceOf(TrellisError);
      expect(err.code).toBe('PLUGIN_FAILED');
      expect(err.problem).toBe(`plugin "faulty" failed in ${hook} (epoch 0, step 1): RangeError: index 9 out of range`);
      expect(err.cause).toBeInstanceOf(RangeError);
      expect(err.details).toMatchObject({ plugin: 'faulty', hook, epoch: 0, step: 1 });
      t.dispose();
      expect(tf.memory().numTensors, hook).toBe(start);
      m.dispose();
    }
    const own = new TrellisError('UNLABELED', 'plugin "x" needs labelled batches', 'train on a labelled dataset');
    const m = model();
    const t = new Trainer({ model: m, seed: 1, batchSize: 32, plugins: [{ name: 'x', apiVersion: 1, lossTerms: () => { throw own; } }] });
    await expect(t.fit(data, { epochs: 1 })).rejects.toBe(own);
    t.dispose();
    m.dispose();
  });
  it('a plugin that returns gradients, targets or loss terms of the wrong kind is named in a TrellisError, and leaks no tensor', async () => {
    const data = toyDataset(64);
    const plugins: Array<[string, string, Partial<TrainerPlugin>]> = [
      ['BAD_GRADIENT', 'returned a gradient for "fc1/kernel" of shape [2, 2], but the variable\'s is [8, 16]', { transformGradients: (g) => ({ ...g, 'fc1/kernel': tf.zeros([2, 2]) }) }],
      ['BAD_GRADIENT', 'returned a gradient for "fc9/kernel", which is not a trainable variable', { transformGradients: (g) => ({ ...g, 'fc9/kernel': tf.zeros([1]) }) }],
      ['BAD_TARGETS', 'returned targets of shape [32, 5], but the batch\'s are [32, 3]', { transformTargets: (t) => tf.zeros([t.shape[0]!, 5]) }],
      ['BAD_LOSS_TERM', 'returned a loss term "x" that is not a tensor (number)', { lossTerms: () => ({ x: 3 as unknown as tf.Scalar }) }],
      // a hook that forgot its `return` (these used to surface as raw TypeErrors)
      ['BAD_GRADIENT', 'returned undefined from transformGradients, not a gradient map', { transformGradients: () => undefined as unknown as tf.NamedTensorMap }],
      ['BAD_LOSS_TERM', 'returned undefined from lossTerms, not a map of named terms', { lossTerms: () => undefined as unknown as Record<string, tf.Scalar> }],
      ['BAD_PLUGIN', 'returned undefined from wrapModel, not a model adapter', { wrapModel: () => undefined as unknown as ModelAdapter }],
    ];
    for (const [code, problem, hooks] of plugins) {
      const m = model();
      const start = tf.memory().numTensors;
      const t = new Trainer({ model: m, seed: 1, batchSize: 32, plugins: [{ name: 'faulty', apiVersion: 1, ...hooks }] });
      const err = await t.fit(data, { epochs: 1 }).catch((e: unknown) => e);
      expect(err, problem).toBeInstanceOf(TrellisError);
      expect((err as TrellisError).code).toBe(code);
      expect((err as TrellisError).problem).toBe(`plugin "faulty" ${problem}`);
      t.dispose();
      expect(tf.memory().numTensors, `${problem}: tensors`).toBe(start);
      m.dispose();
    }
  });
  it('labels outside [0, classes)', () => {
    expect(() => Dataset.fromArrays({ x: new Float32Array(4), shape: [2], labels: new Int32Array([0, 3]), numClasses: 3 }))
      .toThrow(/label 3 of example 1 is outside \[0, 3\)/);
  });
  it('a batch size, take count or model width that is not a whole number: refused before any training', () => {
    const m = model();
    for (const batchSize of [0, 2.5, NaN, -1]) {
      expect(() => new Trainer({ model: m, seed: 1, batchSize }), String(batchSize)).toThrow(/batch size .* is not a positive integer/);
    }
    m.dispose();
    const ds = Dataset.fromArrays({ x: new Float32Array(8), shape: [2], labels: new Int32Array([0, 1, 2, 0]), numClasses: 3 });
    expect(() => ds.numBatches(0)).toThrow(/batch size 0 is not a positive integer/); // was Infinity
    expect(() => ds.take(-1)).toThrow(/take\(-1\): the count is not a whole number ≥ 0/); // was a RangeError
    expect(() => ds.take(1.5)).toThrow(TrellisError); // was silently 1
    expect(ds.take(0).size).toBe(0);
    expect(ds.take(10).size).toBe(4);
    // a split that leaves a side empty, and a fractional index (it read a row straddling two examples)
    expect(() => ds.split(0.1, 1)).toThrow(/split fraction 0.1 of 4 examples leaves one side empty \(0 and 4 examples\)/);
    expect(() => ds.take(1).split(0.5, 1)).toThrow(/leaves one side empty/);
    expect(ds.split(0.25, 1).map((d) => d.size)).toEqual([1, 3]);
    expect(() => ds.subset([1.5])).toThrow(/index 1.5 is not a whole number in \[0, 4\)/);
    // a shape whose product fits but whose dimensions are not sizes; an index past the end (read as zeros, label 0)
    for (const shape of [[-1, -2], [0.5, 4]]) expect(() => ds.reshape(shape), String(shape)).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(ds.reshape([2, 1]).shape).toEqual([2, 1]);
    expect(() => ds.batchAt(Int32Array.from([0, 4]))).toThrow(/batchAt: index 4 \(entry 1\) is not a whole number in \[0, 4\)/);
    expect(() => ds.batchAt(Int32Array.from([-1]))).toThrow(expect.objectContaining({ code: 'INDEX_OUT_OF_RANGE' }));
    expect(() => mlp({ inputShape: [2], hidden: [-1], numClasses: 3, seed: 1 })).toThrow(/mlp: hidden\[0\] -1 is not a whole number ≥ 1/);
    expect(() => mlp({ inputShape: [2], hidden: [4], numClasses: 0, seed: 1 })).toThrow(/mlp: numClasses 0 is not a whole number ≥ 1/);
    expect(() => mlp({ inputShape: [2], hidden: [4.5], numClasses: 3, seed: 1 })).toThrow(TrellisError);
  });
  it('a maxSteps that is not a whole number ≥ 1 (−1 stopped after one step, NaN never stopped)', async () => {
    const m = model();
    const t = new Trainer({ model: m, seed: 1, batchSize: 32 });
    const w = Array.from(m.trainableVariables()['fc1/kernel']!.dataSync());
    for (const maxSteps of [-1, 0, 1.5, NaN]) {
      await expect(t.fit(toyDataset(), { epochs: 1, maxSteps }), String(maxSteps)).rejects.toThrow(/maxSteps .* is not a whole number ≥ 1/);
    }
    expect(Array.from(m.trainableVariables()['fc1/kernel']!.dataSync())).toEqual(w); // refused before any step
    expect(t.context.step).toBe(0);
    await t.fit(toyDataset(), { epochs: 1, maxSteps: 3 });
    expect(t.context.step).toBe(3);
    t.dispose();
    m.dispose();
  });
  it('a validation set that cannot be evaluated is refused before the first step (it was refused after a whole epoch)', async () => {
    const m = model();
    const t = new Trainer({ model: m, seed: 1, batchSize: 32 });
    const cases: Array<[string, Dataset, RegExp]> = [
      ['unlabeled', toyDataset(30).withoutLabels(), /the validation set has no labels/],
      ['classes', Dataset.fromArrays({ x: new Float32Array(16), shape: [8], labels: new Int32Array([0, 3]), numClasses: 4 }), /the validation set has 4 classes but the model outputs 3/],
      ['shape', toyDataset(32).reshape([2, 4]), /inputs of shape \[2, 4\] do not fit a model that expects \[8\]/],
    ];
    for (const [what, validation, message] of cases) {
      await expect(t.fit(toyDataset(), { epochs: 2, validation }), what).rejects.toThrow(message);
      expect(t.context.step, what).toBe(0);
    }
    t.dispose();
    m.dispose();
  });
  it('an empty dataset', () => {
    expect(() => Dataset.fromArrays({ x: new Float32Array(0), shape: [2], labels: new Int32Array(0), numClasses: 3 })).toThrow(/no examples/);
  });
  it('images of the wrong shape for the model', async () => {
    const m = model();
    const t = new Trainer({ model: m, seed: 1 });
    const wrong = Dataset.fromArrays({ x: new Float32Array(20), shape: [10], labels: new Int32Array([0, 1]), numClasses: 3 });
    await expect(t.fit(wrong, { epochs: 1 })).rejects.toThrow(/inputs of shape \[10\] do not fit a model that expects \[8\]/);
    t.dispose(); m.dispose();
  });
  it('a class count that differs from the model\'s: an unlabeled set is told to carry the model\'s count, a labeled one to fit the model to it', async () => {
    const m = model();
    const t = new Trainer({ model: m, seed: 1, baseLoss: 'none' });
    // what the loaders build without labels (numClasses defaults to 1 there)
    const unlabeled = Dataset.fromArrays({ x: new Float32Array(16), shape: [8], labels: null, numClasses: 1 });
    await expect(t.fit(unlabeled, { epochs: 1 })).rejects.toThrow(
      /the dataset has 1 classes but the model outputs 3 — the dataset is unlabeled, .*build it with numClasses: 3 \(e\.g\. loadIdxDataset\(images, null, \{ numClasses: 3 \}\)/);
    const labeled = Dataset.fromArrays({ x: new Float32Array(16), shape: [8], labels: new Int32Array([0, 3]), numClasses: 4 });
    await expect(t.fit(labeled, { epochs: 1 })).rejects.toThrow(/the dataset has 4 classes but the model outputs 3 — build the model with one output per class of the dataset/);
    t.dispose(); m.dispose();
  });
  it('a NaN loss names the step and the plugin and keeps the checkpoint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-nan-'));
    const m = model();
    let armed = false;
    let before = -1;
    const nan: TrainerPlugin = { name: 'nan-maker', apiVersion: 1, lossTerms: () => ({ boom: armed ? tf.scalar(NaN) : tf.scalar(0) }), onEpochEnd: () => { armed = true; before = tf.memory().numTensors; } };
    const t = new Trainer({ model: m, seed: 1, batchSize: 64, plugins: [nan], checkpointDir: dir });
    const err = await t.fit(toyDataset(), { epochs: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrellisError);
    expect((err as TrellisError).code).toBe('NAN_LOSS');
    expect((err as Error).message).toMatch(/epoch 1, step 4.*plugin "nan-maker"/);
    expect((err as Error).message).toMatch(/last checkpoint/);
    expect(tf.memory().numTensors).toBe(before);
    const t2 = new Trainer({ model: m, seed: 1, batchSize: 64, plugins: [{ ...nan, lossTerms: () => ({ boom: tf.scalar(0) }) }], checkpointDir: dir });
    expect(await t2.restoreIfPresent(dir)).toBe(true);
    t.dispose(); t2.dispose(); m.dispose();
  });
  it('a NaN loss from a target transform names that plugin, not the base loss alone, and leaves no tensor behind', async () => {
    const m = model();
    const fine: TrainerPlugin = { name: 'fine-targets', apiVersion: 1, transformTargets: (t) => tf.mul(t, 1) };
    const nanTargets: TrainerPlugin = { name: 'nan-targets', apiVersion: 1, transformTargets: (t) => tf.mul(t, NaN) };
    // listed after the culprit, a transform of NaN targets is NaN too: the first one is named
    const t = new Trainer({ model: m, seed: 1, batchSize: 64, plugins: [fine, nanTargets, { ...fine, name: 'later-targets' }] });
    const before = tf.memory().numTensors;
    const err = await t.fit(toyDataset(), { epochs: 1 }).catch((e: unknown) => e) as TrellisError;
    expect(err).toBeInstanceOf(TrellisError);
    expect(err.code).toBe('NAN_LOSS');
    expect(err.message).toMatch(/non-finite: the base loss, because plugin "nan-targets"'s transformTargets returned non-finite targets;/);
    expect(err.fix).toMatch(/^fix or disable plugin "nan-targets"$/);
    expect(err.details).toMatchObject({ suspects: ['nan-targets'], logitsFinite: true });
    expect(tf.memory().numTensors).toBe(before);
    t.dispose(); m.dispose();
  });
  it('a NaN loss from diverged weights blames the model\'s logits, not the plugin terms that read them', async () => {
    const m = model();
    const readsLogits: TrainerPlugin = { name: 'logit-penalty', apiVersion: 1, lossTerms: (out) => ({ l2: tf.mean(tf.square(out.logits)) }) };
    const t = new Trainer({ model: m, seed: 1, batchSize: 4, plugins: [readsLogits] });
    // the dataset refuses NaN inputs, so the logits go non-finite through a weight (as after a diverged step)
    const kernel = m.trainableVariables()['fc1/kernel']!;
    tf.tidy(() => kernel.assign(tf.fill(kernel.shape, NaN)));
    const data = toyDataset();
    const err = await t.fit(data, { epochs: 1 }).catch((e: unknown) => e) as TrellisError;
    expect(err).toBeInstanceOf(TrellisError);
    expect(err.code).toBe('NAN_LOSS');
    expect(err.message).toMatch(/non-finite: the model's logits \(weights that diverged, or NaN\/Inf in the inputs\), and with them the base loss, plugin "logit-penalty" \(term logit-penalty\/l2\);/);
    expect(err.fix).toBe('lower the learning rate, or check the inputs for NaN/Inf');
    expect(err.details).toMatchObject({ suspects: [], logitsFinite: false });
    t.dispose(); m.dispose();
  });
  it('labels a Dataset did not build are checked once in the step (a class id out of range trained on a row of zeros); a Dataset\'s are not read again', async () => {
    const m = model();
    const t = new Trainer({ model: m, seed: 1 });
    const before = tf.memory().numTensors;
    const bad = { x: tf.zeros([2, 8]), y: tf.tensor1d([0, 7], 'int32'), indices: new Int32Array([0, 1]), size: 2 };
    const err = await t.trainStep(bad).catch((e: unknown) => e) as TrellisError;
    expect(err).toBeInstanceOf(TrellisError);
    expect(err.code).toBe('LABEL_OUT_OF_RANGE');
    expect(err.message).toMatch(/^the batch of step 0: label 7 of example 1 .*— pass class ids 0\.\.2 \(the model has 3 classes\), or build batches with Dataset\.batchAt$/);
    expect(tf.memory().numTensors).toBe(before); // the step freed the batch
    // a Dataset's batch: its labels were checked when it was built, so the step reads nothing back
    const data = toyDataset();
    const proto = tf.Tensor.prototype as unknown as { dataSync: () => unknown };
    const original = proto.dataSync;
    let labelReads = 0;
    const batch = data.batchAt(Int32Array.from([0, 1, 2, 3]));
    proto.dataSync = function (this: tf.Tensor) {
      if (this.dataId === batch.y!.dataId) labelReads++;
      return original.call(this);
    };
    try {
      await t.trainStep(batch);
    } finally {
      proto.dataSync = original;
    }
    expect(labelReads).toBe(0);
    t.dispose(); m.dispose();
  });
  it('a Promise from a tape hook', async () => {
    const m = model();
    const bad = { name: 'async-terms', apiVersion: 1, lossTerms: async () => ({}) } as unknown as TrainerPlugin;
    const t = new Trainer({ model: m, seed: 1, plugins: [bad] });
    await expect(t.fit(toyDataset(), { epochs: 1 })).rejects.toThrow(/"async-terms" returned a Promise from lossTerms/);
    t.dispose(); m.dispose();
  });
  it('unknown before/after names, cycles, an unknown order bucket and a before/after that is not a list', () => {
    expect(() => orderPlugins([{ name: 'a', apiVersion: 1, before: ['ghost'] }])).toThrow(/no plugin of that name/);
    expect(() => orderPlugins([{ name: 'a', apiVersion: 1, before: ['b'] }, { name: 'b', apiVersion: 1, before: ['a'] }])).toThrow(/cycle/);
    // these used to pass: 'first' ran as if unordered, and a bare string was read letter by letter
    expect(() => orderPlugins([{ name: 'a', apiVersion: 1, order: 'first' as 'pre' }])).toThrow(/plugin "a" declares order "first", which is not a bucket — use order: 'pre'/);
    const bare = [{ name: 'energy', apiVersion: 1 as const }, { name: 'a', apiVersion: 1 as const, after: 'energy' as unknown as string[] }];
    expect(() => orderPlugins(bare)).toThrow(/plugin "a" declares after: "energy", not a list of plugin names — write after: \["energy"\]/);
    expect(() => orderPlugins([{ name: 'a', apiVersion: 1, taps: 'fc1' as unknown as string[] }])).toThrow(/declares taps: "fc1", not a list of layer names — write taps: \["fc1"\]/);
    expect(orderPlugins([{ name: 'z', apiVersion: 1, order: 'post' }, { name: 'y', apiVersion: 1, order: 'pre' }]).map((p) => p.name)).toEqual(['y', 'z']);
  });
});

describe('optimizer slots', () => {
  it('a variable without a gradient in a step does not shift the Adam moments of the others', async () => {
    const data = toyDataset();
    // A plugin that zeroes the first layer's influence on the loss for one step by removing its gradients.
    const dropFirst: TrainerPlugin = {
      name: 'drop-first', apiVersion: 1,
      transformGradients: (grads, ctx) => {
        if (ctx.step !== 1) return grads;
        const out: tf.NamedTensorMap = {};
        for (const [k, g] of Object.entries(grads)) if (!k.startsWith('fc1/')) out[k] = g;
        return out;
      },
    };
    const m = model(3);
    const t = new Trainer({ model: m, seed: 2, batchSize: 32, plugins: [dropFirst] });
    const before = m.trainableVariables()['fc1/kernel']!.dataSync().slice();
    await t.trainStep(data.batchAt(Int32Array.from({ length: 32 }, (_, i) => i)));
    const afterStep0 = m.trainableVariables()['fc1/kernel']!.dataSync().slice();
    await t.trainStep(data.batchAt(Int32Array.from({ length: 32 }, (_, i) => i + 32)));
    const afterStep1 = m.trainableVariables()['fc1/kernel']!.dataSync().slice();
    expect(Array.from(afterStep0)).not.toEqual(Array.from(before));
    // With a zero gradient Adam still moves by its first moment, but the shapes line up: no throw,
    // and the logits layer keeps training.
    expect(afterStep1.length).toBe(before.length);
    expect(t.context.baseLossActive).toBe(true);
    t.dispose(); m.dispose();
  });
});

describe('dispose', () => {
  it('frees every tensor the Trainer and its optimizer made (Adam and momentum)', async () => {
    for (const make of [() => tf.train.adam(0.01), () => tf.train.momentum(0.01, 0.9)]) {
      const m = model(4);
      const before = tf.memory().numTensors;
      const t = new Trainer({ model: m, seed: 1, batchSize: 32, optimizer: make() });
      await t.fit(toyDataset(), { epochs: 1 });
      t.dispose();
      expect(tf.memory().numTensors).toBe(before);
      m.dispose();
    }
  });

  it('a hook that throws anywhere in a step frees the batch, the tape and the gradients (tensor count flat)', async () => {
    const batch = () => ({ x: tf.randomNormal([4, 8]), y: tf.tensor1d([0, 1, 2, 0], 'int32'), indices: Int32Array.from([0, 1, 2, 3]), size: 4 });
    const reject = (): never => {
      throw new TrellisError('REJECTED', 'no', 'fix it');
    };
    let armed = false;
    const hooks: Record<string, Partial<TrainerPlugin>> = {
      onBatchStart: { onBatchStart: () => (armed ? reject() : undefined) },
      lossTerms: { lossTerms: (o) => (armed ? (tf.exp(o.logits), reject()) : {}) },
      transformGradients: { transformGradients: (g) => (armed ? reject() : g) },
      afterApply: { afterApply: () => (armed ? reject() : undefined) },
      onBatchEnd: { onBatchEnd: () => (armed ? reject() : undefined) },
    };
    for (const [where, hook] of Object.entries(hooks)) {
      armed = false;
      const m = model();
      const t = new Trainer({ model: m, seed: 1, optimizer: tf.train.adam(0.01), plugins: [{ name: 'thrower', apiVersion: 1, ...hook }] });
      await t.trainStep(batch());
      armed = true;
      const before = tf.memory().numTensors;
      await expect(t.trainStep(batch()), where).rejects.toMatchObject({ code: 'REJECTED' });
      expect(tf.memory().numTensors, where).toBe(before);
      armed = false;
      await t.trainStep(batch()); // the next step still trains
      expect(tf.memory().numTensors, where).toBe(before);
      t.dispose();
      m.dispose();
    }
  });
});

describe('onBatchStart replacing the batch', () => {
  it('something other than a batch is refused naming the plugin (BAD_PLUGIN, was a TypeError) and freed; a batch reusing the labels keeps them', async () => {
    const batch = () => ({ x: tf.randomNormal([4, 8]), y: tf.tensor1d([0, 1, 2, 0], 'int32'), indices: Int32Array.from([0, 1, 2, 3]), size: 4 });
    const m = model();
    const returns: Array<[string, (b: Batch) => unknown, RegExp]> = [
      ['a tensor', (b) => tf.mul(b.x, 2), /plugin "aug" returned a tensor from onBatchStart, not a batch/],
      ['an object', () => ({ x: 1 }), /plugin "aug" returned an object without tensor x \(and y, groups\) from onBatchStart/],
      ['a number', () => 3, /plugin "aug" returned 3 from onBatchStart/],
    ];
    for (const [what, replace, message] of returns) {
      const t = new Trainer({ model: m, seed: 1, optimizer: tf.train.sgd(0.1), plugins: [{ name: 'aug', apiVersion: 1, onBatchStart: (ctx) => replace(ctx.batch!) as Batch }] });
      const before = tf.memory().numTensors;
      const err = await t.trainStep(batch()).catch((e: unknown) => e);
      expect(err, what).toMatchObject({ code: 'BAD_PLUGIN' });
      expect((err as Error).message, what).toMatch(message);
      expect(tf.memory().numTensors, what).toBe(before);
      t.dispose();
    }
    // `{ ...ctx.batch, x: augmented }`: the old x is freed, the shared labels are not (they were, and the step failed)
    const t = new Trainer({ model: m, seed: 1, optimizer: tf.train.sgd(0.1), plugins: [{ name: 'aug', apiVersion: 1, onBatchStart: (ctx) => ({ ...ctx.batch!, x: tf.mul(ctx.batch!.x, 2) }) }] });
    await t.trainStep(batch());
    const before = tf.memory().numTensors;
    const logs = await t.trainStep(batch());
    expect(Number.isFinite(logs.loss)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
    m.dispose();
  });
});

describe('predictLogits when the forward pass throws', () => {
  it('frees the batch (and the logits) of a forward pass or shape check that throws', () => {
    const data = toyDataset();
    const m = model();
    const before = tf.memory().numTensors;
    const throwing: ModelAdapter = Object.assign(Object.create(m) as ModelAdapter, { apply: () => { throw new Error('forward failed'); } });
    expect(() => predictLogits(throwing, data, 16)).toThrow('forward failed');
    expect(tf.memory().numTensors).toBe(before);
    // a model that declares more classes than it outputs: OUTPUT_SHAPE_MISMATCH, nothing left allocated
    const lying: ModelAdapter = Object.assign(Object.create(m) as ModelAdapter, { numClasses: 5 });
    expect(() => predictLogits(lying, data, 16)).toThrow(/outputs 3 values per example but declares 5 classes/);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});

describe('logits with another row count than the batch', () => {
  it('predictLogits and a training step refuse them (OUTPUT_SHAPE_MISMATCH) and leak nothing', async () => {
    const data = toyDataset(8);
    const m = model();
    // the first row only (a [1, 3] output broadcast against [b, 3] targets and trained silently; predictLogits left the other rows 0)
    const firstRow: ModelAdapter = Object.assign(Object.create(m) as ModelAdapter, {
      apply: (x: tf.Tensor, o?: object) => { const out = m.apply(x, o); return { ...out, logits: tf.slice(out.logits, [0, 0], [1, 3]) }; },
    });
    const doubled: ModelAdapter = Object.assign(Object.create(m) as ModelAdapter, {
      apply: (x: tf.Tensor, o?: object) => { const out = m.apply(x, o); return { ...out, logits: tf.concat([out.logits, out.logits]) }; },
    });
    const before = tf.memory().numTensors;
    expect(() => predictLogits(firstRow, data, 4)).toThrow(/the model returned logits of shape \[1, 3\] for a batch of 4 examples/);
    expect(() => predictLogits(doubled, data, 4)).toThrow(/the model returned logits of shape \[8, 3\] for a batch of 4 examples/);
    expect(tf.memory().numTensors).toBe(before);
    for (const bad of [firstRow, doubled]) {
      const t = new Trainer({ model: bad, seed: 1, batchSize: 4, optimizer: tf.train.sgd(0.1) });
      const w = Array.from(m.trainableVariables()['fc1/kernel']!.dataSync());
      const err = await t.fit(data, { epochs: 1 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'OUTPUT_SHAPE_MISMATCH' });
      expect((err as Error).message).toMatch(/for a batch of 4 labelled examples — return \[batch, classes\] logits/);
      expect(Array.from(m.trainableVariables()['fc1/kernel']!.dataSync())).toEqual(w); // no step was taken
      t.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    m.dispose();
  });
});
