import * as tf from '@tensorflow/tfjs-core';
import { Dataset, mlp, Rng, Trainer, TrellisError, type TrainerPlugin } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { distillPlugin, labelSmoothingPlugin, matrixGenerator } from '../src/index.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

/** A stand-in for a loss-replacing plugin (privacy's CRL or RelaxLoss): the Trainer then adds no base cross-entropy. */
const replacing: TrainerPlugin = {
  name: 'replacing',
  apiVersion: 1,
  replacesBaseLoss: true,
  lossTerms: (outputs) => ({ own: tf.mean(tf.square(outputs.logits)) as tf.Scalar }),
};

function data(): Dataset {
  const rng = new Rng(2);
  return Dataset.fromArrays({ x: rng.normalArray(16 * 6), shape: [6], labels: Int32Array.from({ length: 16 }, (_, i) => i % 3), numClasses: 3 });
}

const uniform = () => matrixGenerator([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]);

async function fitError(plugins: TrainerPlugin[], baseLoss?: 'none'): Promise<unknown> {
  const model = mlp({ inputShape: [6], hidden: [4], numClasses: 3, seed: 1 });
  const t = new Trainer({ model, seed: 1, batchSize: 8, plugins, ...(baseLoss ? { baseLoss } : {}) });
  const err = await t.fit(data(), { epochs: 1 }).then(() => null, (e: unknown) => e);
  t.dispose();
  model.dispose();
  return err;
}

describe('target hooks with the base loss off', () => {
  it("refuses a ceWeight other than 1 when a loss-replacing plugin turns the base cross-entropy off (the weight was silently ignored)", async () => {
    const err = await fitError([distillPlugin({ source: uniform(), method: { kind: 'soft-kl', T: 2 }, ceWeight: 0.5, kdWeight: 0.5 }), replacing]);
    expect(err).toBeInstanceOf(TrellisError);
    expect((err as TrellisError).code).toBe('TARGETS_IGNORED');
    expect((err as TrellisError).message).toMatch(/plugin "distill" weights the base cross-entropy by ceWeight 0.5, but the Trainer adds no base loss/);
    expect((err as TrellisError).fix).toMatch(/ceWeight: 1/);
  });

  it('runs with ceWeight 1 (nothing to scale, as the composed example does) and refuses label smoothing beside a loss-replacing plugin', async () => {
    expect(await fitError([distillPlugin({ source: uniform(), method: { kind: 'soft-kl', T: 2 }, ceWeight: 1, kdWeight: 0.5 }), replacing])).toBeNull();
    const err = await fitError([labelSmoothingPlugin({ epsilon: 0.1 }), replacing]);
    expect((err as TrellisError).code).toBe('TARGETS_IGNORED');
    expect((err as TrellisError).message).toMatch(/plugin "label-smoothing" smooths the base loss's targets, but the Trainer adds no base loss/);
  });
});
