import { Dataset, Rng, Trainer, TrellisError, mlp, type ModelAdapter, type TrainerPlugin } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { pruning } from '../src/index.js';
import { useCpu } from './setup.js';

beforeAll(useCpu);

/** A stand-in for a `wrapModel` view that trains BatchNorm only (uda-calibration's TENT, ETA, pseudo-labelling): here, biases only. */
const biasesOnly: TrainerPlugin = {
  name: 'biases-only',
  apiVersion: 1,
  wrapModel: (model: ModelAdapter): ModelAdapter => Object.assign(Object.create(model) as ModelAdapter, {
    trainableVariables: () => Object.fromEntries(Object.entries(model.trainableVariables()).filter(([n]) => n.endsWith('/bias'))),
  }),
};

describe('pruning a model another plugin wrapped', () => {
  it('says the kernels exist but are not trained (a wrapModel view), instead of "no variable matches the prunable rule"', async () => {
    const rng = new Rng(1);
    const data = Dataset.fromArrays({ x: rng.normalArray(32 * 6), shape: [6], labels: Int32Array.from({ length: 32 }, (_, i) => i % 3), numClasses: 3 });
    const model = mlp({ inputShape: [6], hidden: [5], numClasses: 3, seed: 1 });
    const t = new Trainer({ model, seed: 1, batchSize: 16, plugins: [biasesOnly, pruning({ sparsity: 0.5 })] });
    const err = await t.fit(data, { epochs: 1 }).then(() => null, (e: unknown) => e);
    t.dispose();
    model.dispose();
    expect(err).toBeInstanceOf(TrellisError);
    expect((err as TrellisError).code).toBe('NOTHING_TO_PRUNE');
    expect((err as TrellisError).message).toMatch(/\(fc1\/kernel, logits\/kernel\) are not among the model's trainable variables \(fc1\/bias, logits\/bias\)/);
    expect((err as TrellisError).fix).toMatch(/wrapModel/);
  });
});
