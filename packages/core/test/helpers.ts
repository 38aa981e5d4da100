import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { Dataset, Rng, TrellisError } from '@trellis-ml/core';

/** A linearly separable 3-class toy set in 8 dimensions (seeded). */
export function toyDataset(n = 240, seed = 1, groups = false): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 8);
  const labels = new Int32Array(n);
  const g = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    g[i] = i % 2;
    for (let j = 0; j < 8; j++) x[i * 8 + j] = rng.normal(j % 3 === c ? 1.5 : 0, 0.5);
  }
  return Dataset.fromArrays({ x, shape: [8], labels, numClasses: 3, groups: groups ? g : null });
}

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** The `TrellisError` code `fn` throws, or `'no error'` when it returns (fails the test when it throws something else). */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TrellisError);
    return (e as TrellisError).code;
  }
  return 'no error';
}
