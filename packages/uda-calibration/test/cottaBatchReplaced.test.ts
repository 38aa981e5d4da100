import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Trainer, TrellisError, type TrainerPlugin } from '@trellis-ml/core';
import { FEATURE_CLASSES, FEATURE_DIM, shiftedFeatures } from './helpers.js';
import { cotta, mlpBn, type AugmentationOptions } from '../src/index.js';

/** Noise-only augmentation for the feature-vector fixture (rotation and shift need images). */
const NOISE: AugmentationOptions = { maxRotationDegrees: 0, maxShiftPixels: 0, noiseStd: 0.3, clipRange: null };

/** A stand-in for a plugin that replaces the batch after CoTTA made its teacher prediction (MEMO's augmented copies: twice the rows). */
const doubled: TrainerPlugin = {
  name: 'doubled',
  apiVersion: 1,
  onBatchStart: (ctx) => {
    const b = ctx.batch!;
    return { x: tf.concat([b.x, b.x]), indices: Int32Array.from([...b.indices, ...b.indices]), size: 2 * b.size };
  },
};

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('CoTTA after a plugin that replaces the batch', () => {
  it('says the batch was replaced after its teacher prediction (it failed with tfjs\'s "Operands could not be broadcast")', async () => {
    const model = mlpBn({ inputShape: [FEATURE_DIM], hidden: [8], numClasses: FEATURE_CLASSES, seed: 1 });
    const t = new Trainer({ model, seed: 1, batchSize: 20, baseLoss: 'none', plugins: [cotta({ augmentation: NOISE, augThreshold: 1 }), doubled] });
    const err = await t.fit(shiftedFeatures(40, 3, 1).withoutLabels(), { epochs: 1 }).then(() => null, (e: unknown) => e);
    t.dispose();
    model.dispose();
    expect(err).toBeInstanceOf(TrellisError);
    expect((err as TrellisError).code).toBe('BATCH_REPLACED');
    expect((err as TrellisError).message).toMatch(/CoTTA made its teacher prediction for a batch of 20 examples, but the step trains on 40/);
    expect((err as TrellisError).fix).toMatch(/before "cotta"/);
  });
});
