import * as tf from '@tensorflow/tfjs-core';
import { check, checkLogitsAndLabels, softCrossEntropy, oneHotTargets, type LabelCheckOptions } from '@trellis-ml/core';

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

/** Options of {@link memberLoss}. */
export interface MemberLossOptions extends LabelCheckOptions {
  /** KD share w of the loss, in `[0, 1]`. */
  kdWeight: number;
  /** Softening temperature T of the KD terms (> 0). */
  temperature: number;
  /** Multiplier of the CE part, a number ≥ 0 (default 1; 0 lets a caller's base loss carry it). */
  ceScale?: number;
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
 * `batch ≥ 1`; labels are int32 class ids in `[0, classes)`, checked by core's `checkLogitsAndLabels`
 * (LABEL_OUT_OF_RANGE otherwise, read on the host unless `checkLabelValues` is `false`: `tf.oneHot`
 * would turn such a label into a row of zeros that adds nothing to the loss); teacher weights are
 * finite numbers ≥ 0.
 */
export function memberLoss(logits: tf.Tensor, labels: tf.Tensor1D, teachers: readonly Teacher[], options: MemberLossOptions): tf.Scalar {
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', `memberLoss needs { kdWeight, temperature }, got ${String(options)}`, 'pass e.g. { kdWeight: 0.5, temperature: 3 }');
  check(Number.isFinite(options.kdWeight) && options.kdWeight >= 0 && options.kdWeight <= 1, 'BAD_OPTION', `kdWeight ${options.kdWeight} is outside [0, 1]`,
    'pass the KD share of the loss in [0, 1], e.g. 0.5');
  check(options.ceScale === undefined || (Number.isFinite(options.ceScale) && options.ceScale >= 0), 'BAD_OPTION', `ceScale ${String(options.ceScale)} is not a finite number ≥ 0`,
    'pass ceScale 1 (the default) or 0 when a base loss carries the cross-entropy');
  check(Array.isArray(teachers), 'BAD_OPTION', `memberLoss needs a list of teachers, got ${String(teachers)}`, 'pass [] for none, or [{ logits, weight }, …]');
  teachers.forEach((t, i) => check(t !== null && typeof t === 'object' && Array.isArray(t.logits?.shape) && Number.isFinite(t.weight) && t.weight >= 0, 'BAD_OPTION',
    `teacher ${i} is not { logits: Tensor, weight } with a finite weight ≥ 0 (weight ${String(t?.weight)})`, 'give every teacher its logits and a weight such as 1 (0 switches it off)'));
  checkLogitsAndLabels(logits, labels, { context: 'memberLoss', checkLabelValues: options.checkLabelValues });
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
