import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '@trellis-ml/core';
import { loadMnist } from '@trellis-ml/datasets';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildExperimentNet, dynamicDepthSetup, evaluateAllDepths, experiment, residualMLP, selectDepth, trainCoopDepth } from '../src/index.js';
import { expectTrellisError } from './helpers.js';

// real-data training runs on core's wasm backend (several times faster than cpu)
beforeAll(() => useBackend('wasm'));

describe('end to end on MNIST', () => {
  it('1,000 images, 1 epoch, W=32, K=4: every depth of the deployed Teammate is above 80% on the training subset', async () => {
    const data = loadMnist({ split: 'train', limit: 1000, flatten: true });
    const [train, val] = data.split(0.9, 1);
    const start = tf.memory().numTensors;
    const model = residualMLP({ inputShape: [784], width: 32, blocks: 4, numClasses: 10, configs: [1, 2], seed: 1 });
    // Default (Glorot) init: 1 epoch at batch 8 (113 steps) gives 82.7–83.5% per depth; at batch 16
    // (57 steps) it gave 73.8–76.4%, below the spec's 80% band (zero-initialised blocks gave 82.6–83.1%).
    const r = await trainCoopDepth(model, train, val, { epochs: 1, batchSize: 8, lr: 3e-3, seed: 1 });
    expect(r.teammates).toHaveLength(2);
    expect(r.leader).not.toBeNull();
    const table = evaluateAllDepths(r.deployed, data, { timedRuns: 3, warmup: 1 });
    expect(table.rows.map((row) => row.id)).toEqual(['d1', 'd2', 'd4']);
    for (const row of table.rows) expect(row.accuracy).toBeGreaterThan(0.8);
    expect(table.rows[0]!.flops).toBeLessThan(table.rows[2]!.flops);
    const pick = selectDepth(table, { maxFlops: table.rows[1]!.flops });
    expect(['d1', 'd2']).toContain(pick.config);
    for (const m of [...r.teammates, r.leader]) m?.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});

describe('experiment settings', () => {
  it('quick and full defaults follow the spec, --set overrides parse, unknown settings are refused', async () => {
    expect(experiment.name).toBe('dynamic-depth');
    expect(dynamicDepthSetup({ mode: 'quick' })).toMatchObject({ width: 128, blocks: 6, depths: [2, 4, 6], dataset: 'fashion' });
    expect(dynamicDepthSetup({ mode: 'full' })).toMatchObject({ width: 256, blocks: 8, depths: [2, 4, 6, 8], zeroInitResidual: false });
    expect(dynamicDepthSetup({ mode: 'full', params: { zeroInitResidual: 'true' } }).zeroInitResidual).toBe(true);
    expect(dynamicDepthSetup({ mode: 'quick', params: { width: '256', depths: '1,3', sandwich: 'true' } })).toMatchObject({ width: 256, depths: [1, 3, 6], sandwich: true });
    await expectTrellisError(() => dynamicDepthSetup({ mode: 'quick', params: { widht: 3 } }), 'UNKNOWN_PARAM');
  });
  it('refuses out-of-range settings before anything loads, saying what to pass', () => {
    expect(() => dynamicDepthSetup({ mode: 'quick', params: { epochs: '0' } })).toThrow(/--set epochs=0: 0 is out of range — pass a whole number ≥ 1/);
    expect(() => dynamicDepthSetup({ mode: 'quick', params: { depths: '0,2' } })).toThrow(/0 is out of range/);
    expect(() => dynamicDepthSetup({ mode: 'quick', params: { depths: '2,8' } })).toThrow(/depth 8 is more blocks than the network's 6 — pass depths of at most 6 blocks/);
    expect(() => dynamicDepthSetup({ mode: 'quick', params: { dataset: 'cifar10' } })).toThrow(/"cifar10" is not allowed — pass one of fashion, mnist/);
    expect(() => dynamicDepthSetup({ mode: 'quick', params: { kdWeight: '1.5' } })).toThrow(/out of range/);
    expect(() => dynamicDepthSetup({ mode: 'quick', params: { sandwich: 'yes' } })).toThrow(/sandwich=yes is not true or false/);
  });

  it('baselines: the default runs the committed methods; ofa-depth and early-exit are turned on with --set, bad names are refused', async () => {
    // coop, independent and full-only always run; the defaults add layerdrop (and sandwich-inplace in full mode), as before
    expect(dynamicDepthSetup({ mode: 'quick' })).toMatchObject({ baselines: ['layerdrop'], sandwich: false });
    expect(dynamicDepthSetup({ mode: 'full' })).toMatchObject({ baselines: ['layerdrop'], sandwich: true });
    expect(dynamicDepthSetup({ mode: 'quick', params: { baselines: 'early-exit,ofa-depth,layerdrop' } }).baselines).toEqual(['layerdrop', 'ofa-depth', 'early-exit']);
    expect(dynamicDepthSetup({ mode: 'quick', params: { baselines: 'sandwich-inplace' } })).toMatchObject({ baselines: ['sandwich-inplace'], sandwich: true });
    expect(dynamicDepthSetup({ mode: 'quick', params: { baselines: '' } }).baselines).toEqual([]);
    const e = await expectTrellisError(() => dynamicDepthSetup({ mode: 'quick', params: { baselines: 'ofa' } }), 'BAD_PARAM');
    expect(`${e.problem} — ${e.fix}`).toMatch(/"ofa" is not allowed — pass a comma list of values, each one of layerdrop, sandwich-inplace, ofa-depth, early-exit/);
    const s = { ...dynamicDepthSetup({ mode: 'quick' }), width: 8 };
    const exits = buildExperimentNet(s, 1, undefined, 'per-depth');
    expect(exits.headMode).toBe('per-depth');
    expect(exits.configs.map((c) => c.id)).toEqual(['d2', 'd4', 'd6']);
    exits.dispose();
  });

  it('the zeroInitResidual setting reaches every network the experiment builds (cooperative and independent alike)', () => {
    for (const zero of [false, true]) {
      const s = { ...dynamicDepthSetup({ mode: 'quick' }), width: 8, zeroInitResidual: zero };
      for (const net of [buildExperimentNet(s, 1), buildExperimentNet(s, 2, [2])]) {
        expect(net.architecture.zeroInitResidual).toBe(zero);
        const fc2 = Array.from(net.trainableVariables()['block1/fc2/kernel']!.dataSync());
        expect(fc2.every((v) => v === 0)).toBe(zero);
        net.dispose();
      }
    }
  });
});
