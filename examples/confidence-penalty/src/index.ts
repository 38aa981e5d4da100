import * as tf from '@tensorflow/tfjs-core';
import { TrellisError, type TrainerPlugin } from '@trellis-ml/core';

/**
 * Mean predictive entropy of `[b, k]` logits in nats (the pure function behind the plugin).
 */
export function meanEntropyOfLogits(logits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.exp(logp), logp), -1))) as tf.Scalar;
  });
}

/** Options of {@link confidencePenalty}. */
export interface ConfidencePenaltyOptions {
  /** Weight β of the penalty `−β·H(p)` (default 0.1). */
  beta?: number;
  /** Plugin name (default `confidence-penalty`). */
  name?: string;
}

/**
 * The confidence penalty (Pereyra et al., 2017) as a Trellis plugin: adds `−β·H(softmax(logits))`
 * to the loss, discouraging over-confident outputs. A third-party plugin: it uses only the public
 * contract of `@trellis-ml/core`.
 */
export function confidencePenalty(options: ConfidencePenaltyOptions = {}): TrainerPlugin<{ beta: number }> {
  let beta = options.beta ?? 0.1;
  if (!(beta >= 0)) throw new TrellisError('BAD_OPTION', `beta ${beta} must be ≥ 0`, 'pass a weight such as 0.1');
  return {
    name: options.name ?? 'confidence-penalty',
    apiVersion: 1,
    lossTerms: (outputs) => ({ entropy: tf.mul(-beta, meanEntropyOfLogits(outputs.logits)) as tf.Scalar }),
    getState: () => ({ beta }),
    setState: (s) => {
      beta = s.beta;
    },
  };
}
