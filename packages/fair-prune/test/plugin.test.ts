import * as tf from '@tensorflow/tfjs-core';
import { Dataset, Rng, Trainer, mlp, type ModelAdapter } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  accuracyGapConstraints, computeMasks, decodeMasks, fineTunePruned, groupConstraints, mitigationPlugin, parameterCounts, pruning, readWeights,
} from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { useCpu } from './setup.js';

beforeAll(useCpu);

function toyData(n: number, seed: number, withGroups = true): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 8);
  const labels = new Int32Array(n);
  const groups = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = rng.int(3);
    groups[i] = i % 5 === 0 ? 1 : 0;
    for (let j = 0; j < 8; j++) x[i * 8 + j] = rng.normal() + (j === labels[i] ? 1.5 : 0) + (groups[i] ? 0.7 * (j % 2) : 0);
  }
  return Dataset.fromArrays({ x, shape: [8], labels, numClasses: 3, ...(withGroups ? { groups } : {}) });
}

const model = (seed = 1): ModelAdapter => mlp({ inputShape: [8], hidden: [16, 12], numClasses: 3, seed });

describe('pruning plugin', () => {
  it('keeps masked weights exactly zero under Adam, masks the gradients (Adam moments stay 0) and reaches the sparsity', async () => {
    const m = model();
    const p = pruning({ sparsity: 0.8, minKeepCount: 0, minKeepFraction: 0 });
    const opt = tf.train.adam(1e-2);
    const trainer = new Trainer({ model: m, seed: 3, batchSize: 16, plugins: [p], optimizer: opt });
    const before = readWeights(m);
    await trainer.fit(toyData(64, 1), { epochs: 3 });
    const masks = p.masks()!;
    const after = readWeights(m);
    let moved = 0;
    for (const [n, mask] of Object.entries(masks.masks)) {
      mask.forEach((keep, i) => {
        if (!keep) expect(after[n]!.values[i] === 0).toBe(true);
        else if (after[n]!.values[i] !== before[n]!.values[i]) moved++;
      });
    }
    expect(moved).toBeGreaterThan(0);
    const counts = parameterCounts(m, masks);
    expect(counts.prunable).toBe(8 * 16 + 16 * 12 + 12 * 3);
    expect(counts.prunable - counts.nonzeroPrunable).toBe(Math.ceil(0.8 * counts.prunable));
    // Adam's first moments of pruned entries never moved
    const weights = await opt.getWeights();
    const kernelMoment = weights.find((w) => /fc1\/kernel.*\/m$/.test(w.name));
    expect(kernelMoment).toBeDefined();
    const mv = kernelMoment!.tensor.dataSync();
    masks.masks['fc1/kernel']!.forEach((keep, i) => !keep && expect(mv[i] === 0).toBe(true));
    weights.filter((w) => w.name === 'iter').forEach((w) => w.tensor.dispose());
    trainer.dispose();
    p.dispose?.();
    m.dispose();
  });

  it('follows the gradual cubic schedule to the final sparsity', async () => {
    const m = model();
    const p = pruning({ sparsity: 0.9, minKeepCount: 0, minKeepFraction: 0, schedule: { kind: 'gradual', startEpoch: 0, endEpoch: 2, everyEpochs: 1 } });
    const seen: number[] = [];
    const trainer = new Trainer({ model: m, seed: 3, batchSize: 32, plugins: [p], onLog: (l) => void seen.push(l['pruning/sparsity']!) });
    await trainer.fit(toyData(64, 1), { epochs: 4 });
    expect(seen[0]).toBe(0);
    expect(seen[1]).toBeCloseTo(0.9 - 0.9 * 0.5 ** 3, 2);
    expect(seen[2]).toBeCloseTo(0.9, 2);
    expect(parameterCounts(m).sparsity).toBeCloseTo(0.9, 2);
    trainer.dispose();
    m.dispose();
  });

  it('rejects an unknown schedule or scope and a gradual schedule that would never prune, at construction', () => {
    expect(trellisErrorOf(() => pruning({ sparsity: 0.5, schedule: { kind: 'cubic' } as never })).code).toBe('BAD_SCHEDULE');
    expect(() => pruning({ sparsity: 0.5, schedule: { kind: 'cubic' } as never })).toThrow(/unknown pruning schedule kind "cubic"/);
    expect(() => pruning({ sparsity: 0.5, schedule: { kind: 'gradual', startEpoch: 5, endEpoch: 2 } })).toThrow(/endEpoch 2 is before startEpoch 5/);
    expect(trellisErrorOf(() => pruning({ sparsity: 0.5, schedule: { kind: 'gradual', startEpoch: 0, endEpoch: 2, everyEpochs: 0 } })).code).toBe('BAD_SCHEDULE');
    expect(trellisErrorOf(() => pruning({ sparsity: 0.5, scope: 'local' as never })).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => pruning(undefined as never)).code).toBe('BAD_OPTION');
  });

  it('round-trips its state through JSON', () => {
    const m = model();
    const masks = computeMasks(m, { sparsity: 0.5 });
    const p = pruning({ sparsity: 0.5, masks });
    const q = pruning({ sparsity: 0.5 });
    q.setState!(JSON.parse(JSON.stringify(p.getState!())));
    expect(q.masks()!.masks).toEqual(masks.masks);
    expect(decodeMasks(p.getState!().masks!).sparsity).toBe(masks.sparsity);
    q.dispose?.();
    m.dispose();
  });
});

describe('group-constraint fine-tuning', () => {
  it('with λ = 0 it equals plain fine-tuning bit for bit', async () => {
    const train = toyData(96, 2);
    const run = async (mitigated: boolean): Promise<Float32Array> => {
      const m = model(4);
      const masks = computeMasks(m, { sparsity: 0.7 });
      await fineTunePruned(m, masks, train, { epochs: 2, numGroups: 2, seed: 9, batchSize: 32, lr: 1e-2, mitigation: mitigated ? { kind: 'group-loss', dualLr: 0 } : { kind: 'none' } });
      const w = Float32Array.from(Object.values(readWeights(m)).flatMap((h) => Array.from(h.values)));
      m.dispose();
      return w;
    };
    expect(await run(true)).toEqual(await run(false));
  });

  it('grows multipliers, is deterministic per seed, keeps the tensor count flat and round-trips its state', async () => {
    const train = toyData(96, 2);
    const run = async (): Promise<{ lambdas: number[]; losses: number[]; counts: number[]; state: unknown }> => {
      const m = model(4);
      const dense = model(5);
      const c = groupConstraints({ numGroups: 2, dualLr: 0.5, violation: 'abs', target: 'excess-loss', dense, kd: { weight: 0.5 } });
      const p = pruning({ sparsity: 0.7 });
      const trainer = new Trainer({ model: m, seed: 9, batchSize: 32, plugins: [p, c] });
      const losses: number[] = [];
      const counts: number[] = [];
      await trainer.fit(train, { epochs: 1 }); // creates masks, Adam slots
      for (let e = 0; e < 3; e++) {
        await trainer.fit(train, { epochs: 1 });
        losses.push(trainer.history[trainer.history.length - 1]!.loss!);
        counts.push(tf.memory().numTensors);
      }
      const state = JSON.parse(JSON.stringify(c.getState!()));
      const out = { lambdas: c.lambdas(), losses, counts, state };
      trainer.dispose();
      c.dispose?.();
      p.dispose?.();
      m.dispose();
      dense.dispose();
      return out;
    };
    const a = await run();
    const b = await run();
    expect(a.lambdas.some((l) => l > 0)).toBe(true);
    expect(a.lambdas).toEqual(b.lambdas);
    expect(a.losses).toEqual(b.losses);
    expect(new Set(a.counts).size).toBe(1);
    const restored = groupConstraints({ numGroups: 2 });
    restored.setState!(a.state as never);
    expect(restored.lambdas()).toEqual(a.lambdas);
  });

  it('one-sided never raises λ of the better group; CEAG multipliers stay ≥ 0', async () => {
    const train = toyData(96, 2);
    const m = model(4);
    const dense = model(5);
    const c = groupConstraints({ numGroups: 2, dualLr: 1, violation: 'one-sided' });
    const ceag = accuracyGapConstraints({ numGroups: 2, dense, dualLr: 1, name: 'ceag' });
    const trainer = new Trainer({ model: m, seed: 9, batchSize: 32, plugins: [pruning({ sparsity: 0.5 }), c, ceag] });
    await trainer.fit(train, { epochs: 1, maxSteps: 1 }); // one dual step: only the group above the batch mean moves
    expect(c.lambdas().filter((l) => l > 0).length).toBe(1);
    await trainer.fit(train, { epochs: 2 });
    expect(ceag.lambdas().every((l) => l >= 0)).toBe(true);
    trainer.dispose();
    m.dispose();
    dense.dispose();
  });

  it('rejects misspelt violation / target / dual-update options and bad dual or distillation settings', () => {
    expect(() => groupConstraints({ numGroups: 2, violation: 'one_sided' as never })).toThrow(/unknown violation "one_sided"/);
    expect(() => groupConstraints({ numGroups: 2, target: 'excess_loss' as never })).toThrow(/unknown target "excess_loss"/);
    expect(() => groupConstraints({ numGroups: 2, dualUpdate: 'batch' as never })).toThrow(/unknown dualUpdate "batch"/);
    const dense = model();
    expect(trellisErrorOf(() => groupConstraints({ numGroups: 2, kd: { weight: 1, temperature: 0 }, dense })).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => groupConstraints(undefined as never)).code).toBe('BAD_OPTION');
    expect(() => accuracyGapConstraints({ numGroups: 2, dense, dualLr: NaN })).toThrow(/dualLr NaN must be a finite number ≥ 0/);
    expect(() => accuracyGapConstraints({ numGroups: 2, dense, lambdaMax: -1 })).toThrow(/lambdaMax -1 must be > 0/);
    expect(trellisErrorOf(() => accuracyGapConstraints({ numGroups: 2, dense, tolerance: NaN })).code).toBe('BAD_OPTION');
    dense.dispose();
  });

  it('rejects an unknown mitigation kind instead of fine-tuning without mitigation', async () => {
    expect(() => mitigationPlugin({ kind: 'group_loss' } as never, 2)).toThrow(/unknown mitigation kind "group_loss"/);
    const m = model();
    const masks = computeMasks(m, { sparsity: 0.5 });
    await expect(fineTunePruned(m, masks, toyData(32, 1), { epochs: 1, numGroups: 2, seed: 1, mitigation: { kind: 'grouploss' } as never })).rejects.toMatchObject({ code: 'BAD_OPTION' });
    m.dispose();
  });

  it('errors clearly when the training set has no group ids', async () => {
    const m = model();
    const trainer = new Trainer({ model: m, seed: 1, plugins: [groupConstraints({ numGroups: 2 })] });
    await expect(trainer.fit(toyData(32, 1, false), { epochs: 1 })).rejects.toMatchObject({ code: 'GROUP_IDS_MISSING' });
    trainer.dispose();
    m.dispose();
  });

  it('refuses a dense reference without one finite loss and accuracy per group (a short one switched the missing group\'s constraint off)', () => {
    const ref = { groupLoss: [0.3, 0.5], loss: 0.35, groupAccuracy: [0.9, 0.8], accuracy: 0.88 };
    expect(() => groupConstraints({ numGroups: 2, target: 'excess-loss', reference: ref })).not.toThrow();
    expect(() => groupConstraints({ numGroups: 2, target: 'excess-loss', reference: { ...ref, groupLoss: [0.3] } })).toThrow(/reference.groupLoss has 1 values for 2 groups/);
    expect(trellisErrorOf(() => groupConstraints({ numGroups: 2, reference: { ...ref, groupLoss: [0.3, 0.4, 0.5] } })).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => accuracyGapConstraints({ numGroups: 2, reference: { ...ref, groupAccuracy: [0.9] } })).code).toBe('BAD_OPTION');
    expect(() => accuracyGapConstraints({ numGroups: 2, reference: { ...ref, groupAccuracy: [0.9, NaN] } })).toThrow(/reference.groupAccuracy\[1\] is NaN/);
    expect(trellisErrorOf(() => accuracyGapConstraints({ numGroups: 2, reference: { ...ref, accuracy: Infinity } })).code).toBe('BAD_OPTION');
  });

  it('fine-tunes a mask set that prunes every weight (sparsity 1) instead of refusing it as a requested sparsity', async () => {
    const m = mlp({ inputShape: [8], hidden: [], numClasses: 3, seed: 2 });
    const masks = computeMasks(m, { sparsity: 0.99, minKeepCount: 0, minKeepFraction: 0 });
    expect(masks.sparsity).toBe(1);
    await fineTunePruned(m, masks, toyData(32, 1), { epochs: 1, numGroups: 2, seed: 1 });
    const kernel = Object.entries(readWeights(m)).find(([n]) => n.endsWith('kernel'))![1];
    expect(Array.from(kernel.values).every((x) => x === 0)).toBe(true);
    m.dispose();
  });
});

describe('a batch another plugin replaced without its group ids or labels', () => {
  it('names that plugin, not the dataset (which has both)', async () => {
    // as uda-calibration's MEMO: each step's batch becomes one of inputs only
    const inputsOnly = { name: 'inputs-only', apiVersion: 1 as const, onBatchStart: (ctx: { batch?: { x: tf.Tensor; indices: Int32Array; size: number } }) => ({ x: ctx.batch!.x, indices: ctx.batch!.indices, size: ctx.batch!.size }) };
    const m = mlp({ inputShape: [8], hidden: [8], numClasses: 3, seed: 1 });
    const t = new Trainer({ model: m, seed: 1, batchSize: 32, plugins: [groupConstraints({ numGroups: 2, dualLr: 0.5 }), inputsOnly], baseLoss: 'none' });
    const e = await trellisErrorOf(() => t.fit(toyData(64, 1), { epochs: 1 }));
    expect(e.code).toBe('GROUP_IDS_MISSING');
    expect(e.message).toMatch(/^plugin "group-constraints" needs the group id of every example, but plugin "inputs-only" replaced this step's batch with one without its group ids — "inputs-only" drops the group ids/);
    t.dispose();
    m.dispose();
  });

  it('a training set without labels: the dense reference\'s UNLABELED names the plugin computing it', async () => {
    const dense = mlp({ inputShape: [8], hidden: [8], numClasses: 3, seed: 2 });
    const m = mlp({ inputShape: [8], hidden: [8], numClasses: 3, seed: 1 });
    const t = new Trainer({ model: m, seed: 1, batchSize: 32, baseLoss: 'none', plugins: [accuracyGapConstraints({ numGroups: 2, dense, name: 'ceag' })] });
    const e = await trellisErrorOf(() => t.fit(toyData(64, 1).withoutLabels(), { epochs: 1 }));
    expect(e.code).toBe('UNLABELED');
    expect(e.message).toMatch(/^plugin "ceag" computes the dense model's per-group reference on the training set, which has no labels — train on a labelled dataset, or pass `reference`/);
    t.dispose();
    m.dispose();
    dense.dispose();
  });
});
