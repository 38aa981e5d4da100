import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Trainer, TrellisError, mlp, requireBatchGroups, requireBatchLabels, type Batch, type TrainerPlugin } from '@trellis-ml/core';
import { toyDataset, useCpu } from './helpers.js';

beforeAll(useCpu);

/** Replaces each step's batch with one of its inputs only, as uda-calibration's MEMO does with its augmented views. */
const inputsOnly = (): TrainerPlugin => ({ name: 'inputs-only', apiVersion: 1, onBatchStart: (ctx) => ({ x: ctx.batch!.x, indices: ctx.batch!.indices, size: ctx.batch!.size }) });
/** Needs each step's labels and groups, through core's checks. */
const needsBoth = (): TrainerPlugin => ({
  name: 'needs-both', apiVersion: 1,
  lossTerms: (out, batch, ctx) => {
    requireBatchGroups(ctx, batch, 'needs-both');
    const y = requireBatchLabels(ctx, batch, 'needs-both', 'a per-class term');
    return { term: tf.mean(tf.mul(tf.cast(y, 'float32'), 0)) };
  },
});
const errorOf = async (p: Promise<unknown>): Promise<TrellisError> => {
  const e = await p.catch((x: unknown) => x);
  expect(e).toBeInstanceOf(TrellisError);
  return e as TrellisError;
};

describe('a batch a plugin replaced without its labels or groups', () => {
  it('requireBatchLabels / requireBatchGroups return the batch\'s tensors, and without them say what is missing', () => {
    const y = tf.tensor1d([0, 1], 'int32');
    const groups = tf.tensor1d([1, 0], 'int32');
    const batch: Batch = { x: tf.zeros([2, 8]), y, groups, indices: new Int32Array([0, 1]), size: 2 };
    expect(requireBatchLabels({}, batch, 'p')).toBe(y);
    expect(requireBatchGroups({}, batch, 'p')).toBe(groups);
    const bare: Batch = { x: batch.x, indices: batch.indices, size: 2 };
    expect(() => requireBatchLabels({}, bare, 'p', 'per-class centres')).toThrow(/^plugin "p" needs labelled batches \(per-class centres\), but this step's batch has no labels — train on a labelled dataset$/);
    expect(() => requireBatchGroups({}, undefined, 'p')).toThrow(/^plugin "p" needs the group id of every example, but this step's batch has no group ids — train on a dataset with one group id per example \(Dataset\.withGroups\)$/);
    // a replacing plugin is named; the plugin itself replacing its batch is not blamed on itself
    expect(() => requireBatchLabels({ batchDroppedBy: { labels: 'memo' } }, bare, 'crl')).toThrow(/^plugin "crl" needs labelled batches, but plugin "memo" replaced this step's batch with one without its labels — "memo" drops the labels from the batch it trains on: train "crl" in a Trainer without "memo"$/);
    expect(() => requireBatchLabels({ batchDroppedBy: { labels: 'p' } }, bare, 'p')).toThrow(/but this step's batch has no labels — train on a labelled dataset$/);
    // a plugin that dropped only the group ids is not blamed for missing labels
    expect(() => requireBatchLabels({ batchDroppedBy: { groups: 'memo' } }, bare, 'crl')).toThrow(/but this step's batch has no labels — train on a labelled dataset$/);
    tf.dispose([y, groups, batch.x]);
  });

  it('in a Trainer, the plugin that replaced the batch is named: by a plugin\'s check and by the base loss; a labelled dataset is not blamed', async () => {
    const data = toyDataset(64, 1, true);
    const m = mlp({ inputShape: [8], hidden: [4], numClasses: 3, seed: 1 });
    const before = tf.memory().numTensors;
    // listed after the plugin that needs them, the replacement still runs first (onBatchStart precedes lossTerms)
    const t = new Trainer({ model: m, seed: 1, batchSize: 16, baseLoss: 'none', plugins: [needsBoth(), inputsOnly()] });
    const groups = await errorOf(t.fit(data, { epochs: 1 }));
    expect(groups.code).toBe('GROUP_IDS_MISSING');
    expect(groups.message).toMatch(/^plugin "needs-both" needs the group id of every example, but plugin "inputs-only" replaced this step's batch with one without its group ids/);
    expect(groups.details).toMatchObject({ plugin: 'needs-both', droppedBy: 'inputs-only' });
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const base = new Trainer({ model: m, seed: 1, batchSize: 16, plugins: [inputsOnly()] });
    const unlabeled = await errorOf(base.fit(data, { epochs: 1 }));
    expect(unlabeled.code).toBe('UNLABELED');
    expect(unlabeled.problem).toBe('the batch has no labels but the base loss is cross-entropy (plugin "inputs-only" replaced this step\'s batch with one without its labels)');
    expect(unlabeled.fix).toBe('"inputs-only" drops the labels from the batch it trains on: train with the base cross-entropy in a Trainer without "inputs-only" (or with baseLoss \'none\')');
    base.dispose();
    // a dataset without labels: the replacement dropped nothing, so it is not blamed
    const needsLabels: TrainerPlugin = { name: 'needs-labels', apiVersion: 1, lossTerms: (out, batch, ctx) => ({ term: tf.mean(tf.mul(tf.cast(requireBatchLabels(ctx, batch, 'needs-labels'), 'float32'), 0)) }) };
    const bare = new Trainer({ model: m, seed: 1, batchSize: 16, baseLoss: 'none', plugins: [inputsOnly(), needsLabels] });
    const own = await errorOf(bare.fit(data.withoutLabels(), { epochs: 1 }));
    expect(own.message).toBe('plugin "needs-labels" needs labelled batches, but this step\'s batch has no labels — train on a labelled dataset');
    bare.dispose();
    // the next step starts unreplaced: a Trainer without the replacing plugin trains
    const plain = new Trainer({ model: m, seed: 1, batchSize: 16, plugins: [needsBoth()] });
    await plain.fit(data, { epochs: 1 });
    plain.dispose();
    m.dispose();
  });
});
