import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Trainer, type TrainerPlugin } from '@trellis-ml/core';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { FEATURE_CLASSES, FEATURE_DIM, shiftedFeatures } from './helpers.js';
import { AdaptedModel, mlpBn, shotIm, tent } from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A stand-in for another package's plugin whose wrapModel view trains only part of the model (BatchNorm here). */
const bnOnly: TrainerPlugin = {
  name: 'bn-only',
  apiVersion: 1,
  wrapModel: (model) => new AdaptedModel(model, { trainable: (n) => n.startsWith('bn') }),
};

describe('SHOT-IM after a plugin that restricts what trains', () => {
  it('says the head is there but another plugin\'s wrapModel stopped training it (it said the model has no layer "logits")', async () => {
    const model = mlpBn({ inputShape: [FEATURE_DIM], hidden: [8], numClasses: FEATURE_CLASSES, seed: 1 });
    const t = new Trainer({ model, seed: 1, batchSize: 20, baseLoss: 'none', plugins: [bnOnly, shotIm()] });
    const err = await trellisErrorOf(() => t.fit(shiftedFeatures(40, 3, 1).withoutLabels(), { epochs: 1 }));
    t.dispose();
    model.dispose();
    expect(err.code).toBe('NO_HEAD');
    expect(err.message).toMatch(/the classifier head "logits" is not among the variables the model trains .*a plugin before "shot-im" wrapped the model/);
    expect(err.fix).toMatch(/drop the plugin that hides or freezes the head/);
  });

  it('after another adaptation method (TENT, BatchNorm only) the refusal is the earlier TTA_CONFLICT at setup', async () => {
    const model = mlpBn({ inputShape: [FEATURE_DIM], hidden: [8], numClasses: FEATURE_CLASSES, seed: 1 });
    const t = new Trainer({ model, seed: 1, batchSize: 20, baseLoss: 'none', plugins: [tent(), shotIm()] });
    const err = await trellisErrorOf(() => t.fit(shiftedFeatures(40, 3, 1).withoutLabels(), { epochs: 1 }));
    t.dispose();
    model.dispose();
    expect(err.code).toBe('TTA_CONFLICT');
    expect(err.fix).toMatch(/one adaptation method per Trainer/);
  });
});

describe('AdaptedModel, the view every adaptation plugin trains through', () => {
  it('passes its model\'s feature tap through (core\'s featureTap), as it passes its taps', () => {
    const model = mlpBn({ inputShape: [FEATURE_DIM], hidden: [8], numClasses: FEATURE_CLASSES, seed: 1 });
    const view = new AdaptedModel(model);
    expect(model.featureTap).toBeDefined();
    expect(view.featureTap).toBe(model.featureTap);
    expect(view.tapNames()).toEqual(model.tapNames());
    model.dispose();
  });
});
