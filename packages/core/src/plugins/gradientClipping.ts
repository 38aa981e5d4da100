import * as tf from '@tensorflow/tfjs-core';
import { check } from '../errors.js';
import type { TrainerPlugin } from '../plugin.js';

/**
 * Scales all gradients by `min(1, maxNorm / ‖g‖₂)` (global norm), the pure function.
 * @throws TrellisError `BAD_OPTION` unless maxNorm > 0 (a negative one flipped every gradient, NaN made them NaN).
 */
export function clipByGlobalNorm(grads: tf.NamedTensorMap, maxNorm: number): tf.NamedTensorMap {
  checkMaxNorm(maxNorm);
  return tf.tidy(() => {
    const names = Object.keys(grads);
    if (names.length === 0) return {};
    const sq = tf.addN(names.map((n) => tf.sum(tf.square(grads[n]!))));
    const scale = tf.minimum(tf.scalar(1), tf.div(tf.scalar(maxNorm), tf.add(tf.sqrt(sq), 1e-12)));
    const out: tf.NamedTensorMap = {};
    for (const n of names) out[n] = tf.mul(grads[n]!, scale);
    return out;
  });
}

function checkMaxNorm(maxNorm: number): void {
  check(maxNorm > 0, 'BAD_OPTION', () => `maxNorm ${String(maxNorm)} must be > 0`, 'pass a positive norm such as 1.0');
}

/** A core example plugin: clips gradients to a global L2 norm (`order: 'post'`, after masks and noise). */
export function gradientClipping(options: { maxNorm: number; name?: string }): TrainerPlugin<Record<string, never>> {
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', () => `gradientClipping's options ${String(options)} are not an object`, 'pass { maxNorm: 1 }');
  checkMaxNorm(options.maxNorm);
  return {
    name: options.name ?? 'gradient-clipping',
    apiVersion: 1,
    order: 'post',
    transformGradients: (grads) => clipByGlobalNorm(grads, options.maxNorm),
  };
}
