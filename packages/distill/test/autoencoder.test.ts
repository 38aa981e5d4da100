import * as tf from '@tensorflow/tfjs-core';
import { Dataset } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { denseAutoencoder, pixelStats, trainAutoencoder } from '../src/index.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

describe('autoencoder reconstruction target', () => {
  it('pixelStats: mean and population std, hand-computed', () => {
    // [0, 0.5, 1, 0.5]: mean 0.5, variance (0.25 + 0 + 0.25 + 0) / 4 = 0.125
    const s = pixelStats([0, 0.5, 1, 0.5]);
    expect(s.mean).toBeCloseTo(0.5, 12);
    expect(s.std).toBeCloseTo(Math.sqrt(0.125), 12);
    expect(() => pixelStats([])).toThrow(/empty/);
  });

  it("'normalized' trains towards (x − mean) / std of the training pixels (lr 0: the reported MSE is the initial one)", async () => {
    const x = new Float32Array([0, 0.5, 1, 0.5, 0.2, 0.8, 0.1, 0.9]);
    const data = Dataset.fromArrays({ x, shape: [4], labels: Int32Array.from([0, 1]), numClasses: 2 });
    const ae = denseAutoencoder({ inputDim: 4, hidden: 3, code: 2, seed: 1 });
    const { mean, std } = pixelStats(x);
    const want = tf.tidy(() => {
      const input = tf.tensor2d(x, [2, 4]);
      const target = tf.div(tf.sub(input, mean), std);
      return tf.mean(tf.square(tf.sub(ae.model.predict(input) as tf.Tensor, target))).dataSync()[0]!;
    });
    const rep = await trainAutoencoder(ae, data, { epochs: 1, batchSize: 2, optimizer: 'sgd', lr: 0, weightDecay: 0, reconstructionTarget: 'normalized' });
    expect(rep.mse[0]!).toBeCloseTo(want, 6);
    ae.dispose();
  });
});
