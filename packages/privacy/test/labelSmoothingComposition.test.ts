import * as tf from '@tensorflow/tfjs-core';
import { Dataset, mlp, Rng, Trainer, TrellisError, type TrainerPlugin } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { crl, labelSmoothing } from '../src/plugin.js';
import { cpu } from './helpers.js';

beforeAll(cpu);

/** A stand-in for another package's target hook that weights the cross-entropy (distill's `ceWeight`, coop-depth's `1 − w`). */
function scaleTargets(factor: number): TrainerPlugin {
  return { name: `scale-${factor}`, apiVersion: 1, transformTargets: (t) => tf.mul(t, factor) };
}

/** Records the targets the base loss gets (runs after every other target hook). */
function targetSpy(seen: number[][]): TrainerPlugin {
  return { name: 'target-spy', apiVersion: 1, order: 'post', transformTargets: (t) => { seen.push(Array.from(t.dataSync())); return t; } };
}

function toyBatchData(): Dataset {
  const rng = new Rng(4);
  const x = rng.normalArray(8 * 6);
  const labels = Int32Array.from({ length: 8 }, (_, i) => i % 4);
  return Dataset.fromArrays({ x, shape: [6], labels, numClasses: 4 });
}

async function targetsSeen(plugins: TrainerPlugin[]): Promise<number[]> {
  const seen: number[][] = [];
  const model = mlp({ inputShape: [6], hidden: [5], numClasses: 4, seed: 1 });
  const t = new Trainer({ model, seed: 1, batchSize: 8, plugins: [...plugins, targetSpy(seen)] });
  await t.trainStep(toyBatchData().batches(8).next().value!);
  t.dispose();
  model.dispose();
  return seen[0]!;
}

describe('labelSmoothing composed with a plugin that weights the targets', () => {
  it('smooths a weighted target row within its own mass: (1 − ε)·t + ε·Σt/C, the same as one-hot smoothing then weighting', () => {
    const plugin = labelSmoothing({ epsilon: 0.2 });
    const onehot = tf.oneHot(tf.tensor1d([0, 2], 'int32'), 4);
    const weighted = tf.mul(onehot, 0.5);
    const smoothedThenWeighted = tf.mul(plugin.transformTargets!(onehot, { logits: onehot, features: {} }, {} as never), 0.5);
    const weightedThenSmoothed = plugin.transformTargets!(weighted, { logits: onehot, features: {} }, {} as never);
    expect(Array.from(weightedThenSmoothed.dataSync())).toEqual(Array.from(smoothedThenWeighted.dataSync()));
    // one-hot rows are unchanged: (1 − ε)·onehot + ε/C
    expect(Array.from(plugin.transformTargets!(onehot, { logits: onehot, features: {} }, {} as never).dataSync()).map((v) => +v.toFixed(6)))
      .toEqual([0.85, 0.05, 0.05, 0.05, 0.05, 0.05, 0.85, 0.05]);
    tf.dispose([onehot, weighted, smoothedThenWeighted, weightedThenSmoothed]);
  });

  it('gives the base loss the same targets whichever order the two plugins are listed in (the smoothing mass used to escape the weight)', async () => {
    const before = await targetsSeen([labelSmoothing({ epsilon: 0.2 }), scaleTargets(0.5)]);
    const after = await targetsSeen([scaleTargets(0.5), labelSmoothing({ epsilon: 0.2 })]);
    expect(after.map((v) => +v.toFixed(6))).toEqual(before.map((v) => +v.toFixed(6)));
    // each row keeps the weight's mass 0.5
    for (let r = 0; r < 8; r++) expect(after.slice(r * 4, r * 4 + 4).reduce((a, b) => a + b, 0)).toBeCloseTo(0.5, 6);
  });
});

describe('labelSmoothing where there are no base-loss targets to smooth', () => {
  it('refuses a loss-replacing plugin beside it (CRL): the smoothing used to be silently ignored', async () => {
    const model = mlp({ inputShape: [6], hidden: [5], numClasses: 4, seed: 1 });
    const t = new Trainer({ model, seed: 1, batchSize: 8, plugins: [labelSmoothing({ epsilon: 0.1 }), crl({})] });
    const err = await t.fit(toyBatchData(), { epochs: 1 }).then(() => null, (e: unknown) => e);
    t.dispose();
    model.dispose();
    expect(err).toBeInstanceOf(TrellisError);
    expect((err as TrellisError).code).toBe('TARGETS_IGNORED');
    expect((err as TrellisError).message).toMatch(/plugin "label-smoothing" smooths the base loss's targets, but the Trainer adds no base loss/);
  });
});
