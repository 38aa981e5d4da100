import * as tf from '@tensorflow/tfjs-core';
import { Dataset, Rng, mlp } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { adapterMacs, convAutoencoder, countMacs, denseAutoencoder, pipelineCost, reffakdGenerator, similarityMacs, trainingMacs } from '../src/index.js';
import { macTracking } from '../src/experimentClaims.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

describe('cost accounting (spec §2.1, §10.2 analytic numbers)', () => {
  it('ConvAE 1×32×32: 46,585 params, encoder 638,976 MACs, full AE 1,277,952 MACs, code 768', () => {
    const before = tf.memory().numTensors;
    const ae = convAutoencoder({ inputShape: [28, 28, 1], seed: 0 });
    expect(ae.inputShape).toEqual([32, 32, 1]);
    expect(ae.codeSize).toBe(768);
    expect(ae.model.countParams()).toBe(46585);
    expect(countMacs(ae.encoder)).toBe(638976);
    expect(countMacs(ae.model)).toBe(1277952);
    const out = tf.tidy(() => ae.model.apply(ae.prepare(tf.zeros([2, 784]))) as tf.Tensor);
    expect(out.shape).toEqual([2, 32, 32, 1]);
    out.dispose();
    ae.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
  it('ConvAE 3×64×64 encoder 2.95 M MACs, code 3072', () => {
    const ae = convAutoencoder({ inputShape: [64, 64, 3], seed: 0 });
    expect(ae.codeSize).toBe(3072);
    expect(countMacs(ae.encoder) / 1e6).toBeCloseTo(2.95, 2);
    expect(ae.model.countParams()).toBe(47355);
    ae.dispose();
  });
  it('dense AE-D 784→128→32: 209,968 params, 208,896 MACs (encoder 104,448); MLP student and teacher', () => {
    const ae = denseAutoencoder({ inputDim: 784, seed: 0 });
    expect(ae.model.countParams()).toBe(209968);
    expect(countMacs(ae.model)).toBe(208896);
    expect(countMacs(ae.encoder)).toBe(104448);
    ae.dispose();
    const s = mlp({ inputShape: [784], hidden: [64], numClasses: 10, seed: 0 });
    const t = mlp({ inputShape: [784], hidden: [512, 512], numClasses: 10, seed: 0 });
    expect(adapterMacs(s)).toBe(50816);
    expect(adapterMacs(t)).toBe(668672);
    s.dispose();
    t.dispose();
  });
  it('training MACs, similarity MACs and pipeline totals', () => {
    expect(trainingMacs(10, 7)).toBe(210);
    expect(similarityMacs(400, 32)).toBe(400 * 400 / 2 * 32);
    const p = pipelineCost({ source: 'x', params: 1, forwardMacsPerExample: 1, fitMacs: 100, fitMs: 5, labelMacs: 20, labelMs: 1, backend: 'cpu' }, { forwardMacsPerExample: 2, examplesSeen: 10, ms: 4 });
    expect(p.total).toEqual({ macs: 180, ms: 10 });
  });
  it('the conv autoencoder serves as a ReffAKD encoder on 28×28 images (random-encoder control: forward only)', async () => {
    const rng = new Rng(4);
    const n = 24;
    const x = new Float32Array(n * 784).map(() => rng.next());
    const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
    const data = Dataset.fromArrays({ x, shape: [28, 28, 1], labels, numClasses: 3 });
    const before = tf.memory().numTensors;
    const g = reffakdGenerator({ numClasses: 3, autoencoder: 'conv', featureSource: 'random-encoder', samplesPerClass: 8 });
    const report = await g.fit(data);
    expect(report.cost.forwardMacsPerExample).toBe(638976);
    expect(report.cost.labelMacs).toBe(638976 * 24 + similarityMacs(24, 768));
    expect(report.cost.fitMacs).toBe(0);
    expect(report.diagArgmaxCount).toBe(3);
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('the spec §10.4 cost check: wall-clock ratios within a factor of 2 of the MAC ratios', () => {
  it('is the worst of time ÷ MACs and MACs ÷ time over the pairs, in either direction (hand-computed)', () => {
    expect(macTracking([[0.143, 0.091], [0.344, 0.181]])).toBeCloseTo(0.344 / 0.181, 12); // 1.90: the pipeline's
    expect(macTracking([[0.05, 0.1]])).toBe(2); // twice as fast as the MACs say counts like twice as slow
    expect(macTracking([[0.1, 0.1]])).toBe(1);
    expect(macTracking([[0.3, 0.1], [0.1, 0.1]])).toBeCloseTo(3, 12);
  });
});
