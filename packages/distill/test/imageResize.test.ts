import * as tf from '@tensorflow/tfjs-core';
import { Dataset } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXPERIMENT_CONFIGS, readParams } from '../src/experiment.js';
import { DISTILL_DATASETS } from '../src/experimentDatasets.js';
import { convAutoencoder, padImages, reffakdGenerator, resizeBilinear, resizeImages, toSquareImages } from '../src/index.js';
import { inputLayoutText, loadExperimentData } from '../src/training.js';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

/** The 28×28 test pattern: pixel (r, c) = ((7r + 13c) mod 29) / 29, so neighbours differ irregularly. */
const pattern = (r: number, c: number): number => ((7 * r + 13 * c) % 29) / 29;

describe('bilinear 28→32 resize (spec §9 resize28: torchvision Resize, align_corners=False)', () => {
  it('2×2 → 4×4 by hand: half-pixel source positions −0.25, 0.25, 0.75, 1.25 (clamped) give weights 1 | ¾,¼ | ¼,¾ | 1', () => {
    const before = tf.memory().numTensors;
    // x(r, c) = c + 2r is linear inside the image, so out(i, j) = u_j + 2·u_i with u = [0, 0.25, 0.75, 1]
    const linear = tf.tidy(() => Array.from(resizeBilinear(tf.tensor4d([0, 1, 2, 3], [1, 2, 2, 1]), [4, 4]).dataSync()));
    expect(linear).toEqual([
      0, 0.25, 0.75, 1,
      0.5, 0.75, 1.25, 1.5,
      1.5, 1.75, 2.25, 2.5,
      2, 2.25, 2.75, 3,
    ]);
    // one bright corner pixel: out(i, j) = u_i · u_j (bilinear, not separable-nearest or align-corners)
    const corner = tf.tidy(() => Array.from(resizeBilinear(tf.tensor4d([0, 0, 0, 1], [1, 2, 2, 1]), [4, 4]).dataSync()));
    expect(corner).toEqual([
      0, 0, 0, 0,
      0, 0.0625, 0.1875, 0.25,
      0, 0.1875, 0.5625, 0.75,
      0, 0.25, 0.75, 1,
    ]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('28×28 → 32×32 on a pattern, pixels checked against the half-pixel formula src = (i + 0.5)·28/32 − 0.5', () => {
    const before = tf.memory().numTensors;
    const x = new Float32Array(784).map((_, i) => pattern(Math.floor(i / 28), i % 28));
    const out = tf.tidy(() => resizeBilinear(tf.tensor4d(x, [1, 28, 28, 1]), [32, 32]).dataSync() as Float32Array);
    const at = (i: number, j: number): number => out[i * 32 + j]!;
    const p = (r: number, c: number): number => x[r * 28 + c]!;
    // corners: src −0.0625 clamps to 0, src 27.0625 to 27
    expect(at(0, 0)).toBeCloseTo(p(0, 0), 6);
    expect(at(31, 31)).toBeCloseTo(p(27, 27), 6);
    expect(at(0, 31)).toBeCloseTo(p(0, 27), 6);
    // (16, 5): row src 16.5·0.875 − 0.5 = 13.9375 → rows 13, 14 weights 0.0625, 0.9375;
    //          col src  5.5·0.875 − 0.5 =  4.3125 → cols 4, 5 weights 0.6875, 0.3125
    expect(at(16, 5)).toBeCloseTo(0.0625 * (0.6875 * p(13, 4) + 0.3125 * p(13, 5)) + 0.9375 * (0.6875 * p(14, 4) + 0.3125 * p(14, 5)), 6);
    // (1, 1): src 1.5·0.875 − 0.5 = 0.8125 → pixels 0, 1 weights 0.1875, 0.8125 in both directions
    expect(at(1, 1)).toBeCloseTo(0.1875 * (0.1875 * p(0, 0) + 0.8125 * p(0, 1)) + 0.8125 * (0.1875 * p(1, 0) + 0.8125 * p(1, 1)), 6);
    // (1, 31): the same rows, column clamped to 27
    expect(at(1, 31)).toBeCloseTo(0.1875 * p(0, 27) + 0.8125 * p(1, 27), 6);
    // (20, 9): row src 17.4375 → 17, 18 (0.5625, 0.4375); col src 7.8125 → 7, 8 (0.1875, 0.8125)
    expect(at(20, 9)).toBeCloseTo(0.5625 * (0.1875 * p(17, 7) + 0.8125 * p(17, 8)) + 0.4375 * (0.1875 * p(18, 7) + 0.8125 * p(18, 8)), 6);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('resizeImages: a whole dataset once, in chunks (flat [784] rows read as 28×28), labels kept, no tensors left', () => {
    const n = 5;
    const x = new Float32Array(n * 784).map((_, i) => pattern(Math.floor((i % 784) / 28), i % 28) + Math.floor(i / 784));
    const flat = Dataset.fromArrays({ x, shape: [784], labels: Int32Array.from([0, 1, 2, 3, 4]), numClasses: 5 });
    const before = tf.memory().numTensors;
    const resized = resizeImages(flat, 32, 2); // chunks of 2, 2, 1
    expect(tf.memory().numTensors).toBe(before);
    expect(resized.shape).toEqual([32, 32, 1]);
    expect(resized.size).toBe(n);
    expect(Array.from(resized.labels!)).toEqual([0, 1, 2, 3, 4]);
    // image k is the pattern + k: the same resize + k (bilinear weights sum to 1)
    const one = tf.tidy(() => resizeBilinear(tf.tensor4d(x.subarray(0, 784), [1, 28, 28, 1]), [32, 32]).dataSync() as Float32Array);
    for (let k = 0; k < n; k++) {
      for (const i of [0, 37, 500, 1023]) expect(resized.x[k * 1024 + i]).toBeCloseTo(one[i]! + k, 5);
    }
    expect(Array.from(resizeImages(flat.reshape([28, 28, 1])).x)).toEqual(Array.from(resizeImages(flat).x));
    expect(trellisErrorOf(() => resizeImages(flat, 16)).code).toBe('BAD_SHAPE');
  });

  it('toSquareImages: pad = padImages, bilinear = resizeImages; an unknown mode is a BAD_OPTION with a hint', () => {
    const x = new Float32Array(2 * 784).map((_, i) => (i % 97) / 97);
    const d = Dataset.fromArrays({ x, shape: [784], labels: Int32Array.from([0, 1]), numClasses: 2 });
    expect(Array.from(toSquareImages(d, 32, 'pad').x)).toEqual(Array.from(padImages(d, 32).x));
    expect(Array.from(toSquareImages(d, 32, 'bilinear').x)).toEqual(Array.from(resizeImages(d, 32).x));
    const e = trellisErrorOf(() => toSquareImages(d, 32, 'nearest' as never));
    expect(e.code).toBe('BAD_OPTION');
    expect(e.message).toMatch(/resize28 "nearest"/);
    expect(e.fix).toMatch(/'pad'.*'bilinear'/);
  });

  it('ConvAE resize28: bilinear layout of 28×28 inputs = resizeBilinear; default pad unchanged; dense AE + bilinear rejected', async () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor4d(new Float32Array(2 * 784).map((_, i) => (i % 31) / 31), [2, 28, 28, 1]);
    const bil = convAutoencoder({ inputShape: [28, 28, 1], seed: 0, resize28: 'bilinear' });
    const pad = convAutoencoder({ inputShape: [28, 28, 1], seed: 0 });
    expect(bil.inputShape).toEqual([32, 32, 1]);
    expect(bil.codeSize).toBe(768);
    const [a, b, padded] = tf.tidy(() => [bil.layout(x).dataSync(), resizeBilinear(x, [32, 32]).dataSync(), pad.layout(x).dataSync()]);
    expect(Array.from(a!)).toEqual(Array.from(b!));
    expect(padded![2 * 32 + 2]).toBe(x.dataSync()[0]); // the pad default: (0, 0) lands at (2, 2)
    expect(padded![0]).toBe(0);
    bil.dispose();
    pad.dispose();
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(trellisErrorOf(() => convAutoencoder({ inputShape: [28, 28, 1], seed: 0, resize28: 'area' as never })).code).toBe('BAD_OPTION');
    // refused when the generator is built (it used to be only when fit built the autoencoder)
    expect(() => reffakdGenerator({ numClasses: 2, samplesPerClass: 2, autoencoder: 'dense', resize28: 'bilinear' })).toThrow(/needs the conv autoencoder/);
  });
});

describe('experiment option resize28 (conv tier)', () => {
  it('defaults to pad in every preset; bilinear needs tier=conv; unknown values are BAD_PARAM with a hint', () => {
    for (const mode of ['quick', 'full', 'smoke'] as const) expect(EXPERIMENT_CONFIGS[mode].resize28).toBe('pad');
    const opts = { mode: 'quick' as const, seed: 1, out: '/tmp' };
    expect(readParams({ ...opts, params: { tier: 'conv', resize28: 'bilinear' } }).resize28).toBe('bilinear');
    expect(readParams({ ...opts, params: { resize28: 'pad' } }).resize28).toBe('pad'); // the default: nothing to do on the MLP tier
    const unknown = trellisErrorOf(() => readParams({ ...opts, params: { tier: 'conv', resize28: 'bicubic' } }));
    expect(unknown.code).toBe('BAD_PARAM');
    expect(unknown.message).toMatch(/--set resize28=bicubic: "bicubic" is not allowed/);
    expect(unknown.fix).toMatch(/one of pad, bilinear \(pad: zero padding, spec §10.1, the default; bilinear: the notebooks' torchvision Resize\(32\)\)/);
    const mlp = trellisErrorOf(() => readParams({ ...opts, params: { resize28: 'bilinear' } }));
    expect(mlp.code).toBe('BAD_PARAM');
    expect(mlp.fix).toMatch(/tier=conv/);
    expect(inputLayoutText({ tier: 'mlp' })).toBe('');
    expect(inputLayoutText({ tier: 'conv', resize28: 'pad' })).toBe('zero-padded 28→32, ');
    expect(inputLayoutText({ tier: 'conv', resize28: 'bilinear' })).toMatch(/^bilinear-resized 28→32/);
  });

  it('loadExperimentData: resize (once per split) → standardise with the 28×28 training statistics, in both modes', () => {
    const base = { ...EXPERIMENT_CONFIGS.quick, tier: 'conv' as const, dataset: 'mnist' as const, trainSize: 50, valSize: 20, testSize: 20 };
    const before = tf.memory().numTensors;
    const bil = loadExperimentData({ ...base, resize28: 'bilinear' }, DISTILL_DATASETS.mnist);
    const pad = loadExperimentData(base, DISTILL_DATASETS.mnist);
    expect(tf.memory().numTensors).toBe(before);
    expect(bil.stats).toEqual(pad.stats); // one normalisation for both modes: the 28×28 training pixels'
    expect(Array.from(bil.raw.train.x)).toEqual(Array.from(resizeImages(bil.trainAll).x));
    expect(Array.from(pad.raw.train.x)).toEqual(Array.from(padImages(pad.trainAll).x));
    expect(bil.data.test.shape).toEqual([32, 32, 1]);
    const { mean, std } = bil.stats!;
    for (const i of [0, 400, 1000, 2047]) expect(bil.data.val.x[i]).toBeCloseTo((bil.raw.val.x[i]! - mean) / std, 5);
    // MNIST's corner pixels are background in both layouts: the same standardised value
    expect(bil.data.train.x[0]).toBeCloseTo(-mean / std, 6);
  });
});
