import { describe, expect, it } from 'vitest';
import { registerLargeArrayAdvisor, TrellisError } from '@trellis-ml/core';
import { corrupt, loadMnist, MNIST_CLASSES } from '@trellis-ml/datasets';

// Label histograms of the original MNIST files (LeCun et al.), a fingerprint of a correct reader.
const TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
const TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

describe('loadMnist', () => {
  it('loads the 60,000 training images as [28, 28, 1] in [0, 1] with the known label histogram', () => {
    const train = loadMnist({ split: 'train' });
    expect(train.size).toBe(60000);
    expect(train.shape).toEqual([28, 28, 1]);
    expect(train.numClasses).toBe(10);
    expect(train.classCounts()).toEqual(TRAIN_COUNTS);
    let min = Infinity;
    let max = -Infinity;
    for (const v of train.x) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    expect(train.labels![0]).toBe(5); // the first MNIST training digit is a 5
  });

  it('loads the 10,000 test images, flattened on request', () => {
    const test = loadMnist({ split: 'test', flatten: true });
    expect(test.size).toBe(10000);
    expect(test.shape).toEqual([784]);
    expect(test.classCounts()).toEqual(TEST_COUNTS);
    expect(test.labels![0]).toBe(7); // the first MNIST test digit is a 7
    // pixels are k/255
    let offGrid = 0;
    for (let i = 0; i < test.x.length; i++) if (Math.abs(test.x[i]! * 255 - Math.round(test.x[i]! * 255)) > 1e-4) offGrid++;
    expect(offGrid).toBe(0);
  });

  it('takes the first `limit` examples, and each call returns its own copy', () => {
    const a = loadMnist({ split: 'test', limit: 100 });
    const b = loadMnist({ split: 'test', limit: 100 });
    const full = loadMnist({ split: 'test' });
    expect(a.size).toBe(100);
    expect(Buffer.compare(Buffer.from(a.x.buffer), Buffer.from(full.x.buffer, 0, 100 * 784 * 4))).toBe(0);
    a.x[0] = 0.5;
    expect(b.x[0]).toBe(0);
    expect(loadMnist({ split: 'test', limit: 10 ** 6 }).size).toBe(10000);
  });

  it('names the classes and rejects bad options', () => {
    expect(MNIST_CLASSES).toHaveLength(10);
    expect(() => loadMnist({ split: 'validation' as 'train' })).toThrow(TrellisError);
    expect(() => loadMnist({ split: 'train', limit: 0 })).toThrow(/limit 0 is not a positive integer/);
    expect(() => loadMnist({ split: 'train', limit: 2.5 })).toThrow(TrellisError);
  });
});

describe('large image arrays', () => {
  it('the loaders and corrupt() take their image arrays from core\'s largeFloat32Array (the registered memory advice sees them)', () => {
    const seen: number[] = [];
    const previous = registerLargeArrayAdvisor((a) => { seen.push(a.length); return 0; });
    try {
      const train = loadMnist({ split: 'train', limit: 4000 }); // 4,000 × 784 floats = 12.5 MB ≥ LARGE_ARRAY_BYTES
      expect(seen).toEqual([4000 * 784]);
      const shifted = corrupt(train, 'gaussian_noise', 3, 1);
      expect(shifted.size).toBe(4000);
      expect(seen).toEqual([4000 * 784, 4000 * 784]);
      loadMnist({ split: 'test', limit: 100 }); // 0.3 MB: below the threshold, no advice
      expect(seen.length).toBe(2);
    } finally {
      registerLargeArrayAdvisor(previous);
    }
  });
});
