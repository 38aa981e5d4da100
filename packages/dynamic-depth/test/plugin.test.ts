import * as tf from '@tensorflow/tfjs-core';
import { Trainer } from '@trellis-ml/core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { watchBatchReads } from '@trellis-ml/testkit';
import { coopDepth, cosineDecay, earlyExit, exitLoss, layerDrop, memberLoss, ofaDepth, residualMLP, resNetCNN, trainCoopDepth, type CoopDepthOptions } from '../src/index.js';
import { expectTrellisError, toyDataset, useCpu } from './helpers.js';

beforeAll(useCpu);

const net = (seed = 1) => residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed });

async function coopRun(opts: CoopDepthOptions = {}, baseLoss: 'crossEntropy' | 'none' = 'crossEntropy', epochs = 2) {
  const a = net();
  const plugin = coopDepth(opts);
  const trainer = new Trainer({ model: a, seed: 5, batchSize: 32, plugins: [plugin], baseLoss, optimizer: tf.train.adam(0.01) });
  const history = await trainer.fit(toyDataset(96), { epochs });
  return { a, plugin, trainer, history };
}

describe('coopDepth plugin', () => {
  it('trains Leader, Teammates A and B and their sub-networks in one step, with every term logged', async () => {
    const { a, plugin, trainer, history } = await coopRun({}, 'crossEntropy', 1);
    const [A, B] = plugin.teammates();
    expect(A).toBe(a);
    expect(B).toBeDefined();
    expect(plugin.leader()).not.toBeNull();
    const h = history[0]!;
    for (const k of ['base', 'coop-depth/leader', 'coop-depth/teammateA', 'coop-depth/teammateB', 'coop-depth/subnetsA', 'coop-depth/subnetsB']) {
      expect(h[k]).toBeGreaterThan(0);
    }
    // the optimizer steps B's and the Leader's variables too
    const names = trainer.trainableVariables().map(([n]) => n);
    expect(names.some((n) => n.startsWith('coop-depth:teammateB/'))).toBe(true);
    expect(names.some((n) => n.startsWith('coop-depth:leader/'))).toBe(true);
    const before = Array.from(B!.trainableVariables()['block0/fc1/kernel']!.dataSync());
    const batch = toyDataset(96).batchAt(Int32Array.from([0, 1, 2, 3, 4, 5]));
    await trainer.trainStep(batch);
    expect(Array.from(B!.trainableVariables()['block0/fc1/kernel']!.dataSync())).not.toEqual(before);
    trainer.dispose();
    a.dispose();
  });

  it('the same total loss with baseLoss crossEntropy (A\'s CE carried by the base term) and none', async () => {
    const x = await coopRun({}, 'crossEntropy', 1);
    const y = await coopRun({}, 'none', 1);
    expect(x.history[0]!.loss).toBeCloseTo(y.history[0]!.loss!, 4);
    for (const r of [x, y]) {
      r.trainer.dispose();
      r.a.dispose();
    }
  });

  it('keeps the tensor count flat across epochs, and the same seed gives the same numbers', async () => {
    const r1 = await coopRun();
    const before = tf.memory().numTensors;
    await r1.trainer.fit(toyDataset(96), { epochs: 2 });
    expect(tf.memory().numTensors).toBe(before);
    const r2 = await coopRun();
    expect(r2.history.map((e) => e.loss)).toEqual(r1.history.slice(0, 2).map((e) => e.loss));
    for (const r of [r1, r2]) {
      r.trainer.dispose();
      r.a.dispose();
    }
    expect(tf.memory().numTensors).toBeLessThan(before);
  });

  it('getState/setState round-trips the sampling state (and it is plain JSON)', async () => {
    const p = coopDepth({ subnetsPerStep: 1 });
    const a = residualMLP({ inputShape: [8], width: 8, blocks: 6, numClasses: 3, configs: [1, 2, 3, 4, 5], seed: 1 });
    const t = new Trainer({ model: a, seed: 2, batchSize: 32, plugins: [p] });
    await t.fit(toyDataset(64), { epochs: 1 });
    const state = JSON.parse(JSON.stringify(p.getState!()));
    expect(state.steps).toBe(2);
    const q = coopDepth({ subnetsPerStep: 1 });
    const b = residualMLP({ inputShape: [8], width: 8, blocks: 6, numClasses: 3, configs: [1, 2, 3, 4, 5], seed: 1 });
    const t2 = new Trainer({ model: b, seed: 2, batchSize: 32, plugins: [q] });
    await t2.setup();
    q.setState!(state);
    expect(q.getState!()).toEqual(state);
    t.dispose();
    t2.dispose();
    a.dispose();
    b.dispose();
  });

  it('ablations: one Teammate and no Leader is sandwich-inplace (A\'s CE at full weight)', async () => {
    const { a, plugin, trainer, history } = await coopRun({ teammates: 1, leader: null }, 'crossEntropy', 1);
    expect(plugin.teammates()).toHaveLength(1);
    expect(plugin.leader()).toBeNull();
    expect(history[0]!['coop-depth/teammateB']).toBeUndefined();
    expect(history[0]!['coop-depth/leader']).toBeUndefined();
    trainer.dispose();
    a.dispose();
  });

  it('refuses a model that is not depth-switchable and bad options', async () => {
    const { mlp } = await import('@trellis-ml/core');
    const plain = mlp({ inputShape: [8], hidden: [4], numClasses: 3, seed: 1 });
    const t = new Trainer({ model: plain, seed: 1, plugins: [coopDepth()] });
    await expectTrellisError(() => t.setup(), 'NOT_DEPTH_SWITCHABLE');
    t.dispose();
    plain.dispose();
    await expectTrellisError(() => coopDepth({ kdWeight: 2 }), 'BAD_OPTION');
    await expectTrellisError(() => coopDepth({ teammates: 3 as 1 }), 'BAD_OPTION');
    // checked when the plugin is built (they used to fail at the first step, or give a NaN loss)
    expect((await expectTrellisError(() => coopDepth({ temperature: 0 }), 'BAD_OPTION')).problem).toContain('temperature 0 must be a finite number > 0');
    await expectTrellisError(() => coopDepth({ temperature: NaN }), 'BAD_OPTION');
    expect((await expectTrellisError(() => coopDepth({ weights: { alpha: Infinity } }), 'BAD_OPTION')).problem).toContain('weight alpha=Infinity is not a finite number');
    expect((await expectTrellisError(() => coopDepth({ subnetsPerStep: -1 }), 'BAD_OPTION')).problem).toContain('subnetsPerStep -1');
  });

  it('trains a CNN team with per-config batch-norm without leaking', async () => {
    const a = resNetCNN({ inputShape: [8, 8, 1], stageChannels: [2, 4], blocksPerStage: [1, 1], numClasses: 3, seed: 1 });
    const t = new Trainer({ model: a, seed: 1, batchSize: 16, plugins: [coopDepth()] });
    const data = toyDataset(32, 1, 64).reshape([8, 8, 1]);
    await t.fit(data, { epochs: 1 });
    const before = tf.memory().numTensors;
    const h = await t.fit(data, { epochs: 1 });
    expect(tf.memory().numTensors).toBe(before);
    expect(Number.isFinite(h[0]!.loss)).toBe(true);
    const stats = a.allVariables();
    expect(Array.from(stats['head/bn/s0-0/moving_mean']!.dataSync())).not.toEqual(Array.from(stats['head/bn/s1-1/moving_mean']!.dataSync()));
    t.dispose();
    a.dispose();
  });
});

describe('the per-step losses read no labels back to the host', () => {
  it('coopDepth and earlyExit read no batch labels in a step (the Dataset checked them); memberLoss and exitLoss called directly still refuse a bad label', async () => {
    const w = watchBatchReads('y');
    try {
      const runs = [
        { model: net(), plugin: coopDepth() }, // Leader, Teammates A and B and their sub-networks: six memberLoss calls a step
        { model: residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed: 1, headMode: 'per-depth' }), plugin: earlyExit() },
      ];
      for (const { model, plugin } of runs) {
        const t = new Trainer({ model, seed: 5, batchSize: 32, plugins: [plugin, w.plugin], optimizer: tf.train.adam(0.01) });
        await t.fit(toyDataset(96), { epochs: 1 });
        const before = tf.memory().numTensors;
        await t.fit(toyDataset(96), { epochs: 2 });
        expect(tf.memory().numTensors).toBe(before);
        expect(w.watched()).toBeGreaterThan(0);
        expect(w.reads()).toBe(0);
        t.dispose();
        model.dispose();
      }
      // called directly, the losses still read the labels and refuse label 3 of 3 classes (a row of zeros in tf.oneHot)
      const z = tf.zeros([2, 3]);
      const y = tf.tensor1d([0, 3], 'int32');
      w.watch(y);
      expect((await expectTrellisError(() => memberLoss(z, y, [], { kdWeight: 0.5, temperature: 3 }), 'LABEL_OUT_OF_RANGE')).problem).toBe('memberLoss: label 3 of example 1 is outside [0, 3)');
      expect(w.reads()).toBe(1);
      expect((await expectTrellisError(() => exitLoss([z, z], y), 'LABEL_OUT_OF_RANGE')).problem).toBe('exitLoss (exit 0): label 3 of example 1 is outside [0, 3)');
      expect(w.reads()).toBe(2); // once for all exits
      tf.dispose([z, y]);
    } finally {
      w.restore();
    }
  });
});

describe('coopDepth with batch-norm: checkpoints and recalibration', () => {
  const cnn = (bnMode: 'per-config' | 'recalibrate') => resNetCNN({ inputShape: [8, 8, 1], stageChannels: [2, 4], blocksPerStage: [1, 1], numClasses: 3, bnMode, seed: 1 });
  const data = () => toyDataset(32, 1, 64).reshape([8, 8, 1]);

  it("a resumed run restores Teammate B's and the Leader's batch-norm statistics (they were left at their initial values)", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-coop-ckpt-'));
    const statOf = (p: ReturnType<typeof coopDepth>, who: 'B' | 'L') => {
      const net = who === 'B' ? p.teammates()[1]! : p.leader()!;
      return Array.from(net.allVariables()['block0/bn1/s1-1/moving_mean']!.dataSync());
    };
    const a1 = cnn('per-config');
    const p1 = coopDepth();
    const t1 = new Trainer({ model: a1, seed: 3, batchSize: 16, plugins: [p1], checkpointDir: dir });
    await t1.fit(data(), { epochs: 1 });
    const saved = { B: statOf(p1, 'B'), L: statOf(p1, 'L') };
    expect(saved.B.some((v) => v !== 0)).toBe(true);
    const a2 = cnn('per-config');
    const p2 = coopDepth();
    const t2 = new Trainer({ model: a2, seed: 3, batchSize: 16, plugins: [p2], checkpointDir: dir, saveCheckpoints: false });
    await t2.fit(data(), { epochs: 1, resume: true }); // resumes after epoch 1 of 1: nothing left to train
    expect(statOf(p2, 'B')).toEqual(saved.B);
    expect(statOf(p2, 'L')).toEqual(saved.L);
    for (const t of [t1, t2]) t.dispose();
    for (const m of [a1, a2]) m.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it("trainCoopDepth recalibrates both Teammates' per-depth statistics (bnMode 'recalibrate') before it picks one on validation", async () => {
    const r = await trainCoopDepth(cnn('recalibrate'), data(), data(), { epochs: 1, batchSize: 16, lr: 3e-3, seed: 1 });
    for (const t of r.teammates) expect([...t.calibrated].sort()).toEqual(t.configs.map((c) => c.id).sort());
    for (const m of [...r.teammates, r.leader]) m?.dispose();
  });
});

describe('layerDrop and cosineDecay plugins', () => {
  it('LayerDrop trains with random depths and restores the full depth; cosine decay reaches 0', async () => {
    const a = net();
    const seen: number[] = [];
    const spy = { name: 'spy', apiVersion: 1 as const, after: ['layerdrop'], onBatchStart: () => void seen.push(a.depth.activeBlocks.length) };
    const opt = tf.train.adam(0.01);
    const t = new Trainer({ model: a, seed: 3, batchSize: 8, optimizer: opt, plugins: [layerDrop({ p: 0.5 }), spy, cosineDecay({ initial: 0.01, totalSteps: 24 })] });
    await t.fit(toyDataset(96), { epochs: 1 });
    const before = tf.memory().numTensors;
    await t.fit(toyDataset(96), { epochs: 1 });
    expect(tf.memory().numTensors).toBe(before);
    expect(new Set(seen).size).toBeGreaterThan(1);
    expect(a.depth.id).toBe('d4');
    // the last of 24 steps runs at 0.01 · (1 + cos(π · 23/24)) / 2
    expect((opt as unknown as { learningRate: number }).learningRate).toBeCloseTo(0.005 * (1 + Math.cos((Math.PI * 23) / 24)), 9);
    await expectTrellisError(() => layerDrop({ p: 1 }), 'BAD_OPTION');
    // a negative or NaN final rate used to set a negative (loss-climbing) or NaN learning rate
    expect((await expectTrellisError(() => cosineDecay({ initial: 0.01, totalSteps: 24, final: -1 }), 'BAD_OPTION')).problem).toContain('final rate -1');
    await expectTrellisError(() => cosineDecay({ initial: 0.01, totalSteps: 24, final: NaN }), 'BAD_OPTION');
    await expectTrellisError(() => (cosineDecay as () => unknown)(), 'BAD_OPTION');
    t.dispose();
    a.dispose();
  });
});

describe('a batch another plugin replaced without its labels', () => {
  it('earlyExit names that plugin, not the dataset (which has labels)', async () => {
    // as uda-calibration's MEMO: each step's batch becomes one of inputs only
    const inputsOnly = { name: 'inputs-only', apiVersion: 1 as const, onBatchStart: (ctx: { batch?: { x: tf.Tensor; indices: Int32Array; size: number } }) => ({ x: ctx.batch!.x, indices: ctx.batch!.indices, size: ctx.batch!.size }) };
    const a = residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed: 1, headMode: 'per-depth' });
    const t = new Trainer({ model: a, seed: 1, batchSize: 32, baseLoss: 'none', plugins: [earlyExit(), inputsOnly] });
    const e = await expectTrellisError(() => t.fit(toyDataset(64), { epochs: 1 }), 'UNLABELED');
    expect(e.message).toMatch(/^plugin "early-exit" needs labelled batches, but plugin "inputs-only" replaced this step's batch with one without its labels/);
    t.dispose();
    a.dispose();
  });
});

describe('learning rates the plugins set', () => {
  it('cosine decay and ofaDepth\'s rate reach plain SGD and momentum: writing learningRate alone left tfjs\'s stock update on the built rate', async () => {
    // built with a rate of 100 (the step would blow the weights up), scheduled to ~1e-9: the weights barely move
    for (const make of [() => tf.train.sgd(100), () => tf.train.momentum(100, 0.9)]) {
      for (const plugin of [cosineDecay({ initial: 1e-9, totalSteps: 12 }), ofaDepth({ totalSteps: 3, lr: 1e-9 })]) {
        const a = net();
        const start = Array.from(a.trainableVariables()['stem/kernel']!.dataSync());
        const t = new Trainer({ model: a, seed: 3, batchSize: 32, optimizer: make(), plugins: [plugin] });
        await t.fit(toyDataset(96), { epochs: 1 });
        const end = Array.from(a.trainableVariables()['stem/kernel']!.dataSync());
        expect(Math.max(...end.map((v, i) => Math.abs(v - start[i]!))), plugin.name).toBeLessThan(1e-6);
        t.dispose();
        a.dispose();
      }
    }
  });
});
