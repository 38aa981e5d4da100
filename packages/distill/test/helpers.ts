import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';

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
