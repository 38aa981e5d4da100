import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { Dataset, Rng } from '@trellis-ml/core';

/** Runs tests on the pure-JS cpu backend. */
export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** The §5.8 reference inputs of the spec. */
export const ZS = [[1.0, 2.0, 0.5, -1.0], [0.3, -0.2, 2.2, 0.0], [-0.5, 0.2, 0.1, 1.7]];
export const ZT = [[0.5, 3.0, 0.0, -0.5], [0.1, 0.4, 1.5, -0.3], [-1.0, 0.0, 0.3, 2.5]];
export const Y = [1, 2, 3];
export const S = [[0.9, 0.6, 0.3, 0.2], [0.6, 0.85, 0.4, 0.3], [0.3, 0.4, 0.8, 0.5], [0.2, 0.3, 0.5, 0.95]];

/** The scalar value of a tensor (disposes it). */
export function val(t: tf.Tensor): number {
  const v = t.dataSync()[0]!;
  t.dispose();
  return v;
}

/** A temporary output directory for the file's experiment runs: created before its tests, removed after; read `.path` inside a test. */
export function tempOutDir(prefix: string): { path: string } {
  const dir = { path: '' };
  beforeAll(async () => {
    dir.path = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    await rm(dir.path, { recursive: true, force: true });
  });
  return dir;
}

/** `n` examples of 8 non-negative features in `C` classes: feature j is high for the examples of class j mod C. */
export function toy(n = 96, C = 4, seed = 1): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 8);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % C;
    for (let j = 0; j < 8; j++) x[i * 8 + j] = Math.max(0, rng.normal(j % C === i % C ? 1 : 0.2, 0.3));
  }
  return Dataset.fromArrays({ x, shape: [8], labels, numClasses: C });
}
