import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Trainer, TrellisError } from '@trellis-ml/core';
import { FEATURE_CLASSES, FEATURE_DIM, shiftedFeatures } from './helpers.js';
import { mlpBn, shotIm, tent } from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('SHOT-IM after another adaptation method in one Trainer', () => {
  it('says the head is there but another plugin\'s wrapModel stopped training it (it said the model has no layer "logits")', async () => {
    const model = mlpBn({ inputShape: [FEATURE_DIM], hidden: [8], numClasses: FEATURE_CLASSES, seed: 1 });
    const t = new Trainer({ model, seed: 1, batchSize: 20, baseLoss: 'none', plugins: [tent(), shotIm()] });
    const err = await t.fit(shiftedFeatures(40, 3, 1).withoutLabels(), { epochs: 1 }).then(() => null, (e: unknown) => e);
    t.dispose();
    model.dispose();
    expect(err).toBeInstanceOf(TrellisError);
    expect((err as TrellisError).code).toBe('NO_HEAD');
    expect((err as TrellisError).message).toMatch(/the classifier head "logits" is not among the variables the model trains/);
    expect((err as TrellisError).fix).toMatch(/one adaptation method per Trainer/);
  });
});
