import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { Dataset, Rng, type TrellisError } from '@trellis-ml/core';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { expect } from 'vitest';

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** A seeded 3-class toy set in `dim` dimensions: class c shifts the features j ≡ c (mod 3). */
export function toyDataset(n = 192, seed = 1, dim = 8): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    for (let j = 0; j < dim; j++) x[i * dim + j] = rng.normal(j % 3 === c ? 1.5 : 0, 0.5);
  }
  return Dataset.fromArrays({ x, shape: [dim], labels, numClasses: 3 });
}

/** Asserts `f` (sync or async) throws a TrellisError with `code`, and returns it. */
export async function expectTrellisError(f: () => unknown, code: string): Promise<TrellisError> {
  // `f` is typed `() => unknown`, so the sync overload's type: await covers an async `f` too
  const e = await trellisErrorOf(f);
  expect(e.code).toBe(code);
  return e;
}

// Plain-JS references (no tfjs) of the loss terms, so plugins are checked against an independent computation.
/** Logits as nested arrays. */
export type Rows = number[][];
/** A 2-D tensor's rows. */
export const rows = (t: tf.Tensor): Rows => t.arraySync() as Rows;
/** log softmax(z / T). */
export const logSoftmax = (z: number[], T = 1): number[] => {
  const s = z.map((v) => v / T);
  const m = Math.max(...s);
  const lse = m + Math.log(s.reduce((acc, v) => acc + Math.exp(v - m), 0));
  return s.map((v) => v - lse);
};
/** Mean cross-entropy of logit rows against labels. */
export const ce = (z: Rows, y: number[]): number => z.reduce((acc, r, i) => acc - logSoftmax(r)[y[i]!]!, 0) / z.length;
/** T² · mean_batch KL(softmax(t/T) ‖ softmax(s/T)). */
export const kd = (t: Rows, s: Rows, T: number): number =>
  (T * T * t.reduce((acc, tr, i) => {
    const lt = logSoftmax(tr, T);
    const ls = logSoftmax(s[i]!, T);
    return acc + lt.reduce((k, v, j) => k + Math.exp(v) * (v - ls[j]!), 0);
  }, 0)) / t.length;
