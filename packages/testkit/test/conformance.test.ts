import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { dataParallelPlugin, gradientClipping, runDataParallel, weightDecay, type TrainerPlugin } from '@trellis-ml/core';
import { checkPluginConformance, describePluginConformance } from '@trellis-ml/testkit';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// Core's own example plugins pass the suite.
describePluginConformance('weight-decay', () => weightDecay({ rate: 1e-3 }));
describePluginConformance('gradient-clipping', () => gradientClipping({ maxNorm: 1 }));
// Outside a data-parallel run the data-parallel plugin is a no-op; inside one, see below.
describePluginConformance('data-parallel (single process)', () => dataParallelPlugin());

describe('plugin conformance: data-parallel, inside a 2-worker run', () => {
  it('passes every check on both ranks', { timeout: 60_000 }, async () => {
    const script = fileURLToPath(new URL('./fixtures/data-parallel-conformance.mjs', import.meta.url));
    // The workers run the built packages: drop the test runner's `--conditions source` (TypeScript sources).
    const execArgv = process.execArgv.filter((a, i, all) => a !== '--conditions' && all[i - 1] !== '--conditions');
    const ranks = await runDataParallel<{ rank: number; results: Array<{ check: string; ok: boolean; message: string }> }>({ script, workers: 2, execArgv });
    for (const r of ranks) {
      expect(r!.results.map((x) => x.check)).toEqual(expect.arrayContaining(['contract', 'trains', 'no-tensor-leak', 'deterministic']));
      for (const c of r!.results) expect(c.ok, `rank ${r!.rank} ${c.check}: ${c.message}`).toBe(true);
    }
  });
});

describe('the suite catches broken plugins', () => {
  it('a leaking plugin fails no-tensor-leak', async () => {
    const leaky: TrainerPlugin = { name: 'leaky', apiVersion: 1, onBatchEnd: () => void tf.keep(tf.scalar(1)) };
    const r = await checkPluginConformance(() => leaky);
    expect(r.find((x) => x.check === 'no-tensor-leak')!.ok).toBe(false);
  });
  it('an async tape hook fails sync-tape-hooks', async () => {
    const bad = { name: 'async', apiVersion: 1, afterApply: async () => {} } as unknown as TrainerPlugin;
    const r = await checkPluginConformance(() => bad, { steps: 1 });
    expect(r.find((x) => x.check === 'sync-tape-hooks')!.ok).toBe(false);
    // and the Trainer itself refuses the Promise, so the plugin does not train
    expect(r.find((x) => x.check === 'trains')).toMatchObject({ ok: false, message: expect.stringMatching(/returned a Promise from afterApply/) });
  });
  it('a state that does not round-trip fails state-round-trip', async () => {
    let n = 0;
    const r = await checkPluginConformance(() => ({ name: 'forgetful', apiVersion: 1, getState: () => ({ n: n++ }), setState: () => {} }));
    expect(r.find((x) => x.check === 'state-round-trip')!.ok).toBe(false);
  });
  it('a plugin drawing from Math.random-like unseeded state fails deterministic', async () => {
    let calls = 0;
    const r = await checkPluginConformance(() => ({
      name: 'unseeded', apiVersion: 1,
      lossTerms: () => ({ noise: tf.scalar((calls++ % 7) * 0.01) }),
    }));
    expect(r.find((x) => x.check === 'deterministic')!.ok).toBe(false);
  });
});
