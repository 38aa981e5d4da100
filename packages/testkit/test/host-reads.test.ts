import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Trainer, mlp, useBackend, type TrainerPlugin } from '@trellis-ml/core';
import { conformanceData, watchBatchReads } from '@trellis-ml/testkit';

beforeAll(async () => {
  await useBackend('cpu');
});

/** A loss term that reads the batch's labels on the host in every step (what the watch is for). */
const readsLabels: TrainerPlugin = {
  name: 'reads-labels', apiVersion: 1,
  lossTerms: (outputs, batch) => {
    void batch.y!.dataSync();
    return { zero: tf.mul(tf.sum(outputs.logits), 0) as tf.Scalar };
  },
};

async function fit(plugins: TrainerPlugin[]): Promise<void> {
  const model = mlp({ inputShape: [8], hidden: [4], numClasses: 3, seed: 1 });
  const t = new Trainer({ model, seed: 1, batchSize: 32, plugins });
  await t.fit(conformanceData(), { epochs: 1 });
  t.dispose();
  model.dispose();
}

describe('watchBatchReads', () => {
  it('counts a plugin that reads the labels in every step (3 steps of 32), whether it runs before or after the watch', async () => {
    for (const order of ['before', 'after'] as const) {
      const w = watchBatchReads('y');
      try {
        await fit(order === 'before' ? [readsLabels, w.plugin] : [w.plugin, readsLabels]);
        expect(w.watched()).toBe(3);
        expect(w.reads()).toBe(3);
      } finally {
        w.restore();
      }
    }
  });

  it('reads 0 for a plugin that does not read them; watch() adds a tensor; restore() puts dataSync back', async () => {
    const original = tf.Tensor.prototype.dataSync;
    const w = watchBatchReads('x');
    try {
      await fit([w.plugin]);
      expect(w.watched()).toBe(3);
      expect(w.reads()).toBe(0);
      const t = tf.tensor1d([1, 2]);
      w.watch(t);
      t.dataSync();
      t.arraySync();
      expect(w.reads()).toBe(2);
      t.dispose();
    } finally {
      w.restore();
    }
    expect(tf.Tensor.prototype.dataSync).toBe(original);
  });
});
