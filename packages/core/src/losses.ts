import * as tf from '@tensorflow/tfjs-core';
import { check, checkChoice } from './errors.js';

/** Mean softmax cross-entropy of `[b, k]` logits against `[b, k]` (possibly soft) targets. */
export function softCrossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1))) as tf.Scalar);
}

/** One-hot float targets `[b, k]` from int labels `[b]`. */
export function oneHotTargets(labels: tf.Tensor1D, numClasses: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(labels, numClasses), 'float32') as tf.Tensor2D);
}

/**
 * How {@link smoothTargets} spreads ε: `'uniform-all'` over all C classes (the textbook form, tfjs'
 * `softmaxCrossEntropy(..., labelSmoothing)`), `'uniform-others'` over the C − 1 classes other than the
 * label's (Tf-KD's code).
 */
export type SmoothingVariant = 'uniform-all' | 'uniform-others';

/**
 * Label smoothing of `[B, C]` targets, each row within its own mass `s = Σ_k t_k`:
 *
 * - `'uniform-all'` (default): `(1 − ε)·t + ε·s/C`; a one-hot row becomes `1 − ε + ε/C` on its class, `ε/C` elsewhere.
 * - `'uniform-others'`: `(1 − ε − ε/(C−1))·t + ε/(C−1)·s`; a one-hot row becomes `1 − ε` on its class, `ε/(C−1)` elsewhere.
 *
 * A row another plugin has weighted (`w·onehot`, mass w) is smoothed to w times the smoothed one-hot row, so
 * smoothing and weighting give the same targets in either order. Pure: computed in float32 as written (the
 * factors `1 − ε`, `ε/C`, `1 − ε − ε/(C−1)` and `ε/(C−1)` rounded once each), inside its own `tf.tidy`.
 *
 * @example smoothTargets(tf.tensor2d([[0, 1, 0, 0]]), 0.2) // [[0.05, 0.85, 0.05, 0.05]]
 * @throws TrellisError `BAD_OPTION` for ε outside [0, 1] or an unknown variant; `BAD_TARGETS` for targets that
 *   are not `[B, C]` (with C ≥ 2 for `'uniform-others'`, which divides by C − 1).
 */
export function smoothTargets(targets: tf.Tensor2D, epsilon: number, variant: SmoothingVariant = 'uniform-all'): tf.Tensor2D {
  check(epsilon >= 0 && epsilon <= 1, 'BAD_OPTION', `label smoothing ε ${epsilon} is outside [0, 1]`, 'pass ε in [0, 1], e.g. 0.1');
  checkChoice(variant, ['uniform-all', 'uniform-others'] as const, 'label-smoothing variant',
    { fix: (c) => `use one of ${c}: ε/C on every class (the default) or ε/(C−1) on the classes other than the label's` });
  const C = targets.shape[1]!;
  check(targets.rank === 2 && (variant === 'uniform-all' || C >= 2), 'BAD_TARGETS',
    () => `label smoothing got targets of shape [${targets.shape.join(', ')}]; expected [batch, classes]${variant === 'uniform-others' ? ' with classes ≥ 2' : ''}`,
    'pass one row of class targets per example');
  return tf.tidy(() => {
    if (variant === 'uniform-others') {
      const off = epsilon / (C - 1);
      return tf.add(tf.mul(targets, 1 - epsilon - off), tf.mul(tf.sum(targets, 1, true), off)) as tf.Tensor2D;
    }
    return tf.add(tf.mul(targets, 1 - epsilon), tf.mul(tf.sum(targets, 1, true), epsilon / C)) as tf.Tensor2D;
  });
}
