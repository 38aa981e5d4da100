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

  it("inputStats: the AE input and the 'normalized' target are the same standardised image (the notebooks' Normalize); 'unit' still targets raw pixels", async () => {
    const x = new Float32Array([0, 0.5, 1, 0.5, 0.2, 0.8, 0.1, 0.9]);
    const data = Dataset.fromArrays({ x, shape: [4], labels: Int32Array.from([0, 1]), numClasses: 2 });
    const stats = { mean: 0.5, std: 0.25 };
    const ae = denseAutoencoder({ inputDim: 4, hidden: 3, code: 2, seed: 1, inputStats: stats });
    // prepare standardises, layout does not: (0 − 0.5)/0.25 = −2, (1 − 0.5)/0.25 = 2
    expect(Array.from(tf.tidy(() => ae.prepare(tf.tensor2d(x, [2, 4])).dataSync())).map((v) => Number(v.toFixed(5)))).toEqual([-2, 0, 2, 0, -1.2, 1.2, -1.6, 1.6]);
    expect(Array.from(tf.tidy(() => ae.layout(tf.tensor2d(x, [2, 4])).dataSync()))).toEqual(Array.from(x));
    const mseTo = (target: 'normalized' | 'unit') => tf.tidy(() => {
      const input = tf.tensor2d(x, [2, 4]);
      const z = tf.div(tf.sub(input, stats.mean), stats.std);
      return tf.mean(tf.square(tf.sub(ae.model.predict(z) as tf.Tensor, target === 'normalized' ? z : input))).dataSync()[0]!;
    });
    const want = { normalized: mseTo('normalized'), unit: mseTo('unit') };
    expect(Math.abs(want.normalized - want.unit)).toBeGreaterThan(0.1);
    for (const target of ['normalized', 'unit'] as const) {
      const rep = await trainAutoencoder(ae, data, { epochs: 1, batchSize: 2, optimizer: 'sgd', lr: 0, weightDecay: 0, reconstructionTarget: target });
      expect(rep.mse[0]!).toBeCloseTo(want[target], 6);
    }
    expect(() => denseAutoencoder({ inputDim: 4, seed: 1, inputStats: { mean: 0, std: 0 } })).toThrow(/not usable/);
    ae.dispose();
  });
  it('rejects a misspelt optimizer or reconstruction target and bad step sizes (a typo used to fall back to Adam / [0, 1] pixels silently)', async () => {
    const data = Dataset.fromArrays({ x: new Float32Array([0, 0.5, 1, 0.5, 0.2, 0.8, 0.1, 0.9]), shape: [4], labels: Int32Array.from([0, 1]), numClasses: 2 });
    const ae = denseAutoencoder({ inputDim: 4, hidden: 3, code: 2, seed: 1 });
    const before = ae.model.getWeights().map((w) => w.dataSync().slice());
    for (const [bad, message] of [
      [{ optimizer: 'SGD' }, /unknown autoencoder optimizer "SGD"/],
      [{ reconstructionTarget: 'normalised' }, /unknown reconstructionTarget "normalised"/],
      [{ lr: -0.1 }, /learning rate -0.1 is not a number ≥ 0/],
      [{ lr: Number.NaN }, /learning rate NaN/],
      [{ weightDecay: -1 }, /weight decay -1/],
      [{ optimizer: 'sgd', momentum: 1 }, /momentum 1 is not in \[0, 1\)/],
    ] as const) {
      await expect(trainAutoencoder(ae, data, { epochs: 1, batchSize: 2, ...(bad as object) })).rejects.toThrow(message);
    }
    // nothing trained before the error
    ae.model.getWeights().forEach((w, i) => expect(w.dataSync()).toEqual(before[i]));
    ae.dispose();
  });
});
