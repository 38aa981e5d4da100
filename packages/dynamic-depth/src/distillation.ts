import * as tf from '@tensorflow/tfjs-core';
import { check, checkClassLabels, softCrossEntropy, oneHotTargets } from '@trellis-ml/core';

const stop = tf.customGrad(((x: tf.Tensor) => ({ value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as unknown as Parameters<typeof tf.customGrad>[0]);

/** Identity whose gradient is zero: a teacher's logits become a constant inside a gradient tape. */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return stop(x) as T;
}

/**
 * Knowledge-distillation loss `T² · mean_batch Σ_k p_T(z_t)_k (log p_T(z_t)_k − log p_T(z_s)_k)`
 * with `p_T = softmax(z / T)`: the KL divergence from the teacher's softened distribution to the
 * student's, scaled by T² so gradients keep their size across temperatures. The teacher is
 * detached (no gradient flows into it). Throws EMPTY_BATCH for logits of no rows (the mean over an
 * empty batch would read 0).
 */
export function kdLoss(teacherLogits: tf.Tensor, studentLogits: tf.Tensor, temperature: number): tf.Scalar {
  check(Number.isFinite(temperature) && temperature > 0, 'BAD_OPTION', `temperature ${temperature} must be a finite number > 0`, 'pass a temperature such as 3');
  check(teacherLogits.shape.join(',') === studentLogits.shape.join(','), 'SHAPE_MISMATCH',
    `teacher logits [${teacherLogits.shape.join(', ')}] and student logits [${studentLogits.shape.join(', ')}] differ in shape`, 'distil between logits of the same batch and classes');
  check(studentLogits.size > 0, 'EMPTY_BATCH', `the logits [${studentLogits.shape.join(', ')}] hold no values`, 'distil on a batch of at least one example');
  return tf.tidy(() => {
    const logPt = tf.logSoftmax(tf.div(stopGradient(teacherLogits), temperature));
    const logPs = tf.logSoftmax(tf.div(studentLogits, temperature));
    const kl = tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs)), -1);
    return tf.mul(tf.mean(kl), temperature * temperature) as tf.Scalar;
  });
}

/**
 * Checks `[batch, classes]` logits (batch ≥ 1) against int32 labels `[batch]` holding class ids in
 * `[0, classes)`: SHAPE_MISMATCH, EMPTY_BATCH, BAD_LABELS (not int32) or LABEL_OUT_OF_RANGE. The labels
 * are read back (`tf.oneHot` silently turns an out-of-range label into a row of zeros).
 */
export function checkLogitsAndLabels(logits: tf.Tensor, labels: tf.Tensor, what: string): void {
  check(logits.rank === 2 && labels.rank === 1 && labels.shape[0] === logits.shape[0], 'SHAPE_MISMATCH',
    `${what}: ${labels.shape.join(' × ')} labels for logits of shape [${logits.shape.join(', ')}]`, 'pass [batch, classes] logits and one integer label per row (labels of shape [batch])');
  check(logits.shape[0]! > 0 && logits.shape[1]! > 0, 'EMPTY_BATCH', `${what}: the logits [${logits.shape.join(', ')}] hold no values (the mean over an empty batch would read 0)`,
    'compute the loss on a batch of at least one example');
  check(labels.dtype === 'int32', 'BAD_LABELS', `${what}: the labels are ${labels.dtype}, not int32 class ids`, "pass integer class labels, e.g. tf.tensor1d([0, 2, 1], 'int32') (or tf.cast(labels, 'int32'))");
  const k = logits.shape[1]!;
  checkClassLabels(labels.dataSync(), k, { context: what, fix: `pass class ids 0..${k - 1}: the logits have ${k} classes (remap the labels, or build the model with the right numClasses)` });
}

/** A teacher of a member: its logits and the weight of its KD term. */
export interface Teacher {
  logits: tf.Tensor;
  weight: number;
}

/**
 * The loss of one member (a Teammate at full depth or one of its sub-networks):
 * `(1−w)·CE(z, y) + w · Σ_t weight_t · KD_T(z_t → z) / Σ_t weight_t`. Teachers with weight 0 are
 * ignored; with no teacher left the loss is plain cross-entropy. `ceScale` (a number ≥ 0, default 1)
 * multiplies the CE part (0 lets a caller's base loss carry it). Logits are `[batch, classes]` with
 * `batch ≥ 1`; labels are int32 class ids in `[0, classes)` (LABEL_OUT_OF_RANGE otherwise: `tf.oneHot`
 * would turn such a label into a row of zeros that adds nothing to the loss); teacher weights are
 * finite numbers ≥ 0.
 */
export function memberLoss(logits: tf.Tensor, labels: tf.Tensor1D, teachers: readonly Teacher[], options: { kdWeight: number; temperature: number; ceScale?: number }): tf.Scalar {
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', `memberLoss needs { kdWeight, temperature }, got ${String(options)}`, 'pass e.g. { kdWeight: 0.5, temperature: 3 }');
  check(Number.isFinite(options.kdWeight) && options.kdWeight >= 0 && options.kdWeight <= 1, 'BAD_OPTION', `kdWeight ${options.kdWeight} is outside [0, 1]`,
    'pass the KD share of the loss in [0, 1], e.g. 0.5');
  check(options.ceScale === undefined || (Number.isFinite(options.ceScale) && options.ceScale >= 0), 'BAD_OPTION', `ceScale ${String(options.ceScale)} is not a finite number ≥ 0`,
    'pass ceScale 1 (the default) or 0 when a base loss carries the cross-entropy');
  check(Array.isArray(teachers), 'BAD_OPTION', `memberLoss needs a list of teachers, got ${String(teachers)}`, 'pass [] for none, or [{ logits, weight }, …]');
  teachers.forEach((t, i) => check(t !== null && typeof t === 'object' && Array.isArray(t.logits?.shape) && Number.isFinite(t.weight) && t.weight >= 0, 'BAD_OPTION',
    `teacher ${i} is not { logits: Tensor, weight } with a finite weight ≥ 0 (weight ${String(t?.weight)})`, 'give every teacher its logits and a weight such as 1 (0 switches it off)'));
  checkLogitsAndLabels(logits, labels, 'memberLoss');
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
