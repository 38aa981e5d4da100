import * as tf from '@tensorflow/tfjs-core';
import { Dataset, Rng, mlp } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { sweep } from '../src/index.js';
import { useCpu } from './setup.js';

beforeAll(useCpu);

/** Two Gaussian classes in 2-d; group = class (2 groups). */
function blobs(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 2);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    x[i * 2] = rng.normal() + (labels[i] ? 1.5 : -1.5);
    x[i * 2 + 1] = rng.normal();
  }
  return Dataset.fromArrays({ x, shape: [2], labels, numClasses: 2, groups: Int32Array.from(labels) });
}

describe('sweep (spec §8)', () => {
  const opts = () => ({
    build: (seed: number) => mlp({ inputShape: [2], hidden: [8], numClasses: 2, seed }),
    train: blobs(128, 1), test: blobs(64, 2), numGroups: 2, sparsities: [0.5, 0.8], seeds: [3], denseEpochs: 2,
    mitigations: [{ kind: 'none' as const }, { kind: 'group-loss' as const, violation: 'one-sided' as const, dualLr: 0.05 }],
    fineTune: { epochs: 1, lr: 1e-3 }, batchSize: 32, prune: { minKeepCount: 0 },
  });

  it('gives one row per (seed, sparsity, variant) with measured sparsity, is deterministic and leaks no tensor', async () => {
    const before = tf.memory().numTensors;
    const a = await sweep(opts());
    expect(tf.memory().numTensors).toBe(before);
    expect(a.dense).toHaveLength(1);
    expect(a.rows.map((r) => `${r.sparsity}/${r.variant}`)).toEqual(['0.5/no-finetune', '0.5/none', '0.5/group-loss', '0.8/no-finetune', '0.8/none', '0.8/group-loss']);
    // global magnitude over the two kernels (2·8 + 8·2 = 32 weights): exactly ⌈s·32⌉ zeros
    for (const r of a.rows) expect(r.counts.prunable - r.counts.nonzeroPrunable).toBe(Math.ceil(r.sparsity * 32));
    for (const r of a.rows) expect(r.disparity.accuracyDrop).toHaveLength(2);
    expect(a.rows.find((r) => r.variant === 'group-loss')!.lambdas).toHaveLength(2);
    const b = await sweep(opts());
    expect(b.rows.map((r) => r.report.overall.loss)).toEqual(a.rows.map((r) => r.report.overall.loss));
  });

  it('rejects a sparsity outside [0, 1) and an evaluation set with an empty group', async () => {
    await expect(sweep({ ...opts(), sparsities: [1] })).rejects.toMatchObject({ code: 'SPARSITY_OUT_OF_RANGE' });
    const test = blobs(64, 2);
    await expect(sweep({ ...opts(), test: test.withGroups(new Int32Array(64)) })).rejects.toMatchObject({ code: 'EMPTY_GROUP' });
    await expect(sweep({ ...opts(), seeds: [] })).rejects.toMatchObject({ code: 'NO_SEEDS' });
    // a misspelt mitigation is refused before any training (it used to run as a plain fine-tune)
    await expect(sweep({ ...opts(), mitigations: [{ kind: 'equalised-loss' } as never] })).rejects.toThrow(/unknown mitigation kind "equalised-loss"/);
  });
});
