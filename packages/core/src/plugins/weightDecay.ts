import * as tf from '@tensorflow/tfjs-core';
import { check } from '../errors.js';
import type { TrainerPlugin } from '../plugin.js';

/** `rate/2 · Σ‖W‖²` over the given variables (the pure function). */
export function l2Penalty(variables: tf.Variable[], rate: number): tf.Scalar {
  return tf.tidy(() => tf.mul(rate / 2, tf.addN(variables.map((v) => tf.sum(tf.square(v))))) as tf.Scalar);
}

/**
 * A core example plugin: adds an L2 penalty on kernels (variables whose name ends in `kernel`) as
 * the loss term `l2`, with a warm-up count of steps kept in its state.
 */
export function weightDecay(options: { rate: number; name?: string }): TrainerPlugin<{ steps: number }> {
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', () => `weightDecay's options ${String(options)} are not an object`, 'pass { rate: 1e-4 }');
  check(options.rate >= 0 && Number.isFinite(options.rate), 'BAD_OPTION', `weight decay rate ${options.rate} must be ≥ 0`, 'pass a rate such as 1e-4');
  let steps = 0;
  return {
    name: options.name ?? 'weight-decay',
    apiVersion: 1,
    lossTerms: (_outputs, _batch, ctx): Record<string, tf.Scalar> => {
      const kernels = Object.entries(ctx.model.trainableVariables()).filter(([n]) => n.endsWith('kernel')).map(([, v]) => v);
      return kernels.length ? { l2: l2Penalty(kernels, options.rate) } : {};
    },
    onBatchEnd: () => {
      steps++;
    },
    getState: () => ({ steps }),
    setState: (s) => {
      steps = s.steps;
    },
  };
}
