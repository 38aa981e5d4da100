import * as tf from '@tensorflow/tfjs-core';
import { Trainer } from '@trellis-ml/core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  earlyExit,
  evaluateAllDepths,
  exitLoss,
  layerDrop,
  loadDepthNet,
  residualMLP,
  resNetCNN,
  trainEarlyExit,
  type EarlyExitOptions,
} from '../src/index.js';
import { ce, expectTrellisError, rows, toyDataset, useCpu } from './helpers.js';

beforeAll(useCpu);


/** Menu d1, d2, d4 with one head per depth. */
const exitNet = (seed = 1) => residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed, headMode: 'per-depth' });

describe('exitLoss (pure function)', () => {
  it('sums the exits\' mean cross-entropies, optionally weighted (a tiny case by hand)', () => {
    const y = tf.tensor1d([0, 1], 'int32');
    const z1 = tf.tensor2d([[0, 0], [1, 0]]); // CE = (ln 2 + ln(1 + e)) / 2 = 1.0032044
    const z2 = tf.tensor2d([[2, 0], [0, 0]]); // CE = (ln(1 + e^-2) + ln 2) / 2 = 0.4100376
    expect(exitLoss([z1], y).dataSync()[0]).toBeCloseTo(1.0032044, 6);
    expect(exitLoss([z1, z2], y).dataSync()[0]).toBeCloseTo(1.4132420, 6);
    expect(exitLoss([z1, z2], y, [1, 0.5]).dataSync()[0]).toBeCloseTo(1.2082232, 6);
    expect(exitLoss([z1, z2], y, [0, 0]).dataSync()[0]).toBe(0);
    tf.dispose([y, z1, z2]);
  });

  it('refuses mismatched weights, negative weights and logits of another batch', async () => {
    const y = tf.tensor1d([0, 1], 'int32');
    const z = tf.tensor2d([[0, 0], [1, 0]]);
    const z3 = tf.tensor2d([[0, 0], [1, 0], [0, 1]]);
    expect((await expectTrellisError(() => exitLoss([z, z], y, [1]), 'BAD_OPTION')).problem).toContain('1 exit weights for 2 exits');
    expect((await expectTrellisError(() => exitLoss([z], y, [-1]), 'BAD_OPTION')).problem).toContain('exit weight 0 is -1');
    await expectTrellisError(() => exitLoss([z], y, [NaN]), 'BAD_OPTION');
    await expectTrellisError(() => exitLoss([], y), 'BAD_OPTION');
    await expectTrellisError(() => exitLoss([z, z3], y), 'SHAPE_MISMATCH');
    tf.dispose([y, z, z3]);
  });
});

describe("per-depth heads (headMode: 'per-depth')", () => {
  it('every depth has its own head: its own variables, logits and cost; evaluateAllDepths scores every depth', () => {
    const net = exitNet();
    const shared = residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed: 1 });
    expect(net.headMode).toBe('per-depth');
    expect(shared.headMode).toBe('shared');
    const names = Object.keys(net.trainableVariables());
    for (const id of ['d1', 'd2', 'd4']) expect(names).toContain(`head/${id}/logits/kernel`);
    expect(names).not.toContain('head/logits/kernel');
    expect(net.architecture.headMode).toBe('per-depth');
    expect('headMode' in shared.architecture).toBe(false); // shared-head specs are as before (old checkpoints still load)
    // a depth pays for its own head only: LN (2·8) + Dense (8·3 + 3) = 43 parameters, like the shared head
    expect(net.cost('d1').params).toBe(shared.cost('d1').params);
    expect(net.cost('d4').flops).toBe(shared.cost('d4').flops);
    const x = toyDataset(16).batchAt(Int32Array.from([0, 1, 2, 3])).x;
    const many = net.forwardMany(x, ['d1', 'd2', 'd4']);
    for (const id of ['d1', 'd2', 'd4']) {
      const single = net.forward(x, { config: id });
      expect(Array.from(single.dataSync())).toEqual(Array.from(many[id]!.dataSync()));
      single.dispose();
    }
    expect(Array.from(many.d1!.dataSync())).not.toEqual(Array.from(many.d2!.dataSync()));
    tf.dispose([x, ...Object.values(many)]);
    const table = evaluateAllDepths(net, toyDataset(48), { latency: false });
    expect(table.rows.map((r) => r.id)).toEqual(['d1', 'd2', 'd4']);
    net.dispose();
    shared.dispose();
  });

  it('a sampled depth outside the menu has no head (UNKNOWN_DEPTH), e.g. under LayerDrop', async () => {
    const net = exitNet();
    const x = tf.zeros([2, 8]);
    expect((await expectTrellisError(() => net.forward(x, { config: { id: 'odd', activeBlocks: [0, 2] } }), 'UNKNOWN_DEPTH')).problem).toContain('no classifier head');
    const t = new Trainer({ model: net, seed: 1, batchSize: 16, plugins: [layerDrop({ p: 0.5 })] });
    await expect(t.fit(toyDataset(32), { epochs: 1 })).rejects.toThrow(/no classifier head/);
    t.dispose();
    x.dispose();
    net.dispose();
  });

  it('saves and loads one weight set with every head; a shared-head network refuses the checkpoint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-exit-'));
    const net = exitNet(3);
    await net.save(dir);
    const back = await loadDepthNet(dir);
    expect(back.headMode).toBe('per-depth');
    const x = toyDataset(16).batchAt(Int32Array.from([0, 1])).x;
    for (const id of ['d1', 'd2', 'd4']) {
      const [a, b] = [net.forward(x, { config: id }), back.forward(x, { config: id })];
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      tf.dispose([a, b]);
    }
    const shared = residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed: 1 });
    expect((await expectTrellisError(() => shared.load(dir), 'ARCHITECTURE_MISMATCH')).problem).toContain('headMode');
    tf.dispose([x]);
    for (const m of [net, back, shared]) m.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a misspelt head mode', async () => {
    await expectTrellisError(() => residualMLP({ inputShape: [8], width: 8, blocks: 2, numClasses: 3, seed: 1, headMode: 'per-exit' as 'shared' }), 'BAD_OPTION');
    await expectTrellisError(() => resNetCNN({ inputShape: [8, 8, 1], numClasses: 3, seed: 1, headMode: 'exits' as 'shared' }), 'BAD_OPTION');
  });
});

describe('earlyExit plugin', () => {
  const cases: Array<[string, EarlyExitOptions, Record<string, number>]> = [
    ['equal weights', {}, { d1: 1, d2: 1, d4: 1 }],
    ['weights d1 0.5, d4 2 (d2 keeps 1)', { weights: { d1: 0.5, d4: 2 } }, { d1: 0.5, d2: 1, d4: 2 }],
  ];
  for (const [label, opts, w] of cases) {
    it(`one step sums the exits' cross-entropies (${label}), the same total with baseLoss none`, async () => {
      const totals: number[] = [];
      for (const baseLoss of ['crossEntropy', 'none'] as const) {
        const model = exitNet();
        const trainer = new Trainer({ model, seed: 5, batchSize: 32, plugins: [earlyExit(opts)], optimizer: tf.train.adam(0.01), baseLoss });
        await trainer.setup();
        const data = toyDataset(96);
        const idx = Int32Array.from([0, 4, 8, 13, 17, 22, 30, 31]);
        const probe = data.batchAt(idx);
        const y = Array.from(probe.y!.dataSync());
        const z = Object.fromEntries(['d1', 'd2', 'd4'].map((c) => [c, rows(model.forward(probe.x, { config: c, training: true }))]));
        probe.x.dispose();
        probe.y!.dispose();
        const logs = await trainer.trainStep(data.batchAt(idx));
        const weighted = (id: string) => w[id]! * ce(z[id]!, y);
        if (baseLoss === 'crossEntropy') {
          expect(logs.base).toBeCloseTo(weighted('d4'), 5);
          expect(logs['early-exit/exits']).toBeCloseTo(weighted('d1') + weighted('d2'), 5);
        } else {
          expect(logs['early-exit/exits']).toBeCloseTo(weighted('d1') + weighted('d2') + weighted('d4'), 5);
        }
        expect(logs.loss).toBeCloseTo(weighted('d1') + weighted('d2') + weighted('d4'), 4);
        totals.push(logs.loss!);
        trainer.dispose();
        model.dispose();
      }
      expect(totals[0]).toBeCloseTo(totals[1]!, 5);
    });
  }

  it('keeps the tensor count flat across epochs (MLP and a per-depth-head CNN), and the same seed gives the same numbers', async () => {
    const start = tf.memory().numTensors;
    const fit = async () => {
      const model = exitNet();
      const trainer = new Trainer({ model, seed: 2, batchSize: 16, plugins: [earlyExit()], optimizer: tf.train.adam(0.01) });
      const history = await trainer.fit(toyDataset(96), { epochs: 1 });
      return { model, trainer, history };
    };
    const r1 = await fit();
    const before = tf.memory().numTensors;
    await r1.trainer.fit(toyDataset(96), { epochs: 2 });
    expect(tf.memory().numTensors).toBe(before);
    const r2 = await fit();
    expect(r2.history.map((e) => e.loss)).toEqual(r1.history.slice(0, 1).map((e) => e.loss));
    for (const r of [r1, r2]) {
      r.trainer.dispose();
      r.model.dispose();
    }
    const cnn = resNetCNN({ inputShape: [8, 8, 1], stageChannels: [2, 4], blocksPerStage: [1, 1], numClasses: 3, seed: 1, headMode: 'per-depth' });
    const data = toyDataset(32, 1, 64).reshape([8, 8, 1]);
    const t = new Trainer({ model: cnn, seed: 1, batchSize: 16, plugins: [earlyExit()] });
    await t.fit(data, { epochs: 1 });
    const mid = tf.memory().numTensors;
    const h = await t.fit(data, { epochs: 1 });
    expect(tf.memory().numTensors).toBe(mid);
    expect(h[0]!['early-exit/exits']).toBeGreaterThan(0);
    // each head's batch-norm statistics are its own depth's
    expect(Object.keys(cnn.allVariables())).toContain('head/s0-0/bn/s0-0/moving_mean');
    t.dispose();
    cnn.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('trainEarlyExit trains every exit above chance on a toy set', async () => {
    const model = exitNet(4);
    const data = toyDataset(96);
    const r = await trainEarlyExit(model, data, { epochs: 3, batchSize: 16, lr: 0.01, seed: 4 });
    expect(r.history).toHaveLength(3);
    for (const row of evaluateAllDepths(model, data, { latency: false }).rows) expect(row.accuracy).toBeGreaterThan(0.6);
    model.dispose();
  });

  it('refuses a shared-head network, unknown or negative exit weights, and all-zero weights', async () => {
    const shared = residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed: 1 });
    const t = new Trainer({ model: shared, seed: 1, plugins: [earlyExit()] });
    expect((await expectTrellisError(() => t.setup(), 'NO_EXIT_HEADS')).fix).toContain("headMode: 'per-depth'");
    t.dispose();
    shared.dispose();
    expect((await expectTrellisError(() => earlyExit({ weights: { d2: -1 } }), 'BAD_OPTION')).problem).toContain('d2=-1');
    await expectTrellisError(() => earlyExit({ weights: { d2: Infinity } }), 'BAD_OPTION');
    await expectTrellisError(() => earlyExit(null as unknown as EarlyExitOptions), 'BAD_OPTION');
    for (const [weights, code] of [[{ d3: 1 }, 'UNKNOWN_DEPTH'], [{ d1: 0, d2: 0, d4: 0 }, 'BAD_OPTION']] as const) {
      const net = exitNet();
      const t2 = new Trainer({ model: net, seed: 1, plugins: [earlyExit({ weights })] });
      await expectTrellisError(() => t2.setup(), code);
      t2.dispose();
      net.dispose();
    }
  });
});
