import * as tf from '@tensorflow/tfjs-core';
import { check, softCrossEntropy, oneHotTargets } from '@trellis-ml/core';

const stop = tf.customGrad(((x: tf.Tensor) => ({ value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as unknown as Parameters<typeof tf.customGrad>[0]);

/** Identity whose gradient is zero: a teacher's logits become a constant inside a gradient tape. */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return stop(x) as T;
}

/**
 * Knowledge-distillation loss `T² · mean_batch Σ_k p_T(z_t)_k (log p_T(z_t)_k − log p_T(z_s)_k)`
 * with `p_T = softmax(z / T)`: the KL divergence from the teacher's softened distribution to the
 * student's, scaled by T² so gradients keep their size across temperatures. The teacher is
 * detached (no gradient flows into it).
 */
export function kdLoss(teacherLogits: tf.Tensor, studentLogits: tf.Tensor, temperature: number): tf.Scalar {
  check(Number.isFinite(temperature) && temperature > 0, 'BAD_OPTION', `temperature ${temperature} must be a finite number > 0`, 'pass a temperature such as 3');
  check(teacherLogits.shape.join(',') === studentLogits.shape.join(','), 'SHAPE_MISMATCH',
    `teacher logits [${teacherLogits.shape.join(', ')}] and student logits [${studentLogits.shape.join(', ')}] differ in shape`, 'distil between logits of the same batch and classes');
  return tf.tidy(() => {
    const logPt = tf.logSoftmax(tf.div(stopGradient(teacherLogits), temperature));
    const logPs = tf.logSoftmax(tf.div(studentLogits, temperature));
    const kl = tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs)), -1);
    return tf.mul(tf.mean(kl), temperature * temperature) as tf.Scalar;
  });
}

/** A teacher of a member: its logits and the weight of its KD term. */
export interface Teacher {
  logits: tf.Tensor;
  weight: number;
}

/**
 * The loss of one member (a Teammate at full depth or one of its sub-networks):
 * `(1−w)·CE(z, y) + w · Σ_t weight_t · KD_T(z_t → z) / Σ_t weight_t`. Teachers with weight 0 are
 * ignored; with no teacher left the loss is plain cross-entropy. `ceScale` multiplies the CE part
 * (0 lets a caller's base loss carry it).
 */
export function memberLoss(logits: tf.Tensor, labels: tf.Tensor1D, teachers: readonly Teacher[], options: { kdWeight: number; temperature: number; ceScale?: number }): tf.Scalar {
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', `memberLoss needs { kdWeight, temperature }, got ${String(options)}`, 'pass e.g. { kdWeight: 0.5, temperature: 3 }');
  check(Number.isFinite(options.kdWeight) && options.kdWeight >= 0 && options.kdWeight <= 1, 'BAD_OPTION', `kdWeight ${options.kdWeight} is outside [0, 1]`,
    'pass the KD share of the loss in [0, 1], e.g. 0.5');
  check(labels.rank === 1 && labels.shape[0] === logits.shape[0], 'SHAPE_MISMATCH',
    `${labels.shape.join(' × ')} labels for logits of shape [${logits.shape.join(', ')}]`, 'pass one integer label per row of logits (labels of shape [batch])');
  return tf.tidy(() => {
    const active = teachers.filter((t) => t.weight > 0);
    const ce = softCrossEntropy(logits, oneHotTargets(labels, logits.shape[logits.shape.length - 1]!));
    const ceScale = options.ceScale ?? 1;
    if (active.length === 0) return tf.mul(ce, ceScale) as tf.Scalar;
    const w = options.kdWeight;
    const norm = active.reduce((s, t) => s + t.weight, 0);
    const kd = tf.addN(active.map((t) => tf.mul(kdLoss(t.logits, logits, options.temperature), t.weight / norm)));
    return tf.add(tf.mul(ce, (1 - w) * ceScale), tf.mul(kd, w)) as tf.Scalar;
  });
}
