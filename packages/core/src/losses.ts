import * as tf from '@tensorflow/tfjs-core';

/** Mean softmax cross-entropy of `[b, k]` logits against `[b, k]` (possibly soft) targets. */
export function softCrossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1))) as tf.Scalar);
}

/** One-hot float targets `[b, k]` from int labels `[b]`. */
export function oneHotTargets(labels: tf.Tensor1D, numClasses: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(labels, numClasses), 'float32') as tf.Tensor2D);
}
