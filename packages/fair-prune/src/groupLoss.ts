import * as tf from '@tensorflow/tfjs-core';
import { TrellisError, check, checkChoice } from '@trellis-ml/core';

/**
 * Differentiable per-group losses for the mitigation (sync tensor functions, safe inside a tape).
 * Group means use a one-hot group matrix `G` (batch × groups): `J_a = (Gᵀℓ)_a / max(1, count_a)`,
 * so no data-dependent shapes and no gather (whose gradient stock wasm lacks).
 */

/**
 * Per-example softmax cross-entropy `[b]` of `[b, k]` logits against int labels `[b]`. Only shapes are
 * checked (the labels are not read back from the device: this runs inside every training step), so a
 * label outside `[0, k)` silently gets loss 0; validate labels on the host first (core's `checkClassLabels`).
 * @throws TrellisError `BAD_SHAPE` unless logits are `[b, numClasses]` and labels `[b]`.
 */
export function perSampleCrossEntropy(logits: tf.Tensor, labels: tf.Tensor1D, numClasses: number): tf.Tensor1D {
  check(logits.rank === 2 && logits.shape[1] === numClasses && labels.rank === 1 && labels.shape[0] === logits.shape[0], 'BAD_SHAPE',
    () => `cross-entropy of logits [${logits.shape.join(', ')}] against labels [${labels.shape.join(', ')}] with ${numClasses} classes`,
    'pass logits of shape [batch, numClasses] and one int label per row (numClasses = the model\'s class count)');
  return tf.tidy(() => {
    const onehot = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), numClasses), 'float32');
    return tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), -1)) as tf.Tensor1D;
  });
}

/** Group means of per-example values. */
export interface GroupMeans {
  /** `[A]` mean of each group in the batch (0 for absent groups). */
  groupMean: tf.Tensor1D;
  /** `[A]` examples of each group in the batch. */
  counts: tf.Tensor1D;
  /** Scalar mean over the whole batch. */
  overall: tf.Scalar;
}

/**
 * Per-group means of `values` `[b]` for int group ids `[b]` in `[0, numGroups)`. The ids are not read
 * back from the device (this runs inside every training step): an id outside the range, or a
 * fractional one, counts in `overall` but in no group (or is truncated). Validate them on the host
 * first, as the plugins do with `checkGroupIds` on the training set.
 */
export function groupMeans(values: tf.Tensor1D, groups: tf.Tensor1D, numGroups: number): GroupMeans {
  check(Number.isInteger(numGroups) && numGroups >= 1, 'BAD_GROUP_COUNT', () => `numGroups ${String(numGroups)} is not a positive integer`, 'pass the number of groups (e.g. 10 for classes as groups)');
  check(values.rank === 1 && groups.rank === 1 && values.shape[0] === groups.shape[0], 'BAD_SHAPE',
    () => `group means of values [${values.shape.join(', ')}] with group ids [${groups.shape.join(', ')}]`, 'pass one value and one group id per example, both 1-D');
  return tf.tidy(() => {
    // G[i, a] = (id_i == a); not tf.oneHot, which rejects a depth below 2 (a single group is valid)
    const g = tf.cast(tf.equal(tf.reshape(tf.cast(groups, 'int32'), [-1, 1]), tf.tensor2d(Int32Array.from({ length: numGroups }, (_, a) => a), [1, numGroups], 'int32')), 'float32') as tf.Tensor2D;
    const counts = tf.sum(g, 0) as tf.Tensor1D;
    const sums = tf.reshape(tf.matMul(g, tf.reshape(values, [-1, 1]), true, false), [numGroups]);
    const groupMean = tf.div(sums, tf.maximum(counts, 1)) as tf.Tensor1D;
    return { groupMean, counts, overall: tf.mean(values) as tf.Scalar };
  });
}

/** How a constraint's violation is measured. */
export type ViolationKind = 'abs' | 'signed' | 'one-sided';

/** Throws `BAD_OPTION` unless `kind` is `abs`, `signed` or `one-sided` (a typo would otherwise act as `signed`). @internal */
export function checkViolationKind(kind: unknown): asserts kind is ViolationKind {
  checkChoice(kind, ['abs', 'signed', 'one-sided'] as const, 'violation', { fix: "pass violation 'abs' (the default), 'signed' or 'one-sided'" });
}

/** Options of {@link groupViolations}. */
export interface ViolationOptions {
  /** `abs` (default) `|gap|`; `signed` `gap`; `one-sided` `max(0, gap)`. */
  violation?: ViolationKind;
  /** Dense model's group losses on the training set: turns the gap into an excess-loss gap. */
  denseGroupLoss?: readonly number[];
  /** Dense model's overall training loss (with `denseGroupLoss`). */
  denseLoss?: number;
}

/**
 * Constraint violations `[A]` from group and overall losses. The gap is `J_a − J` or, with the dense
 * losses, the excess-loss gap `(J_a − J*_a) − (J − J*)`. Absent groups (`count = 0`) get 0.
 */
export function groupViolations(groupLoss: tf.Tensor1D, overall: tf.Scalar, counts: tf.Tensor1D, options: ViolationOptions = {}): tf.Tensor1D {
  const kind = options.violation ?? 'abs';
  checkViolationKind(kind);
  return tf.tidy(() => {
    let gap: tf.Tensor = tf.sub(groupLoss, overall);
    if (options.denseGroupLoss) {
      if (options.denseGroupLoss.length !== groupLoss.shape[0]) {
        throw new TrellisError('BAD_OPTION', `denseGroupLoss has ${options.denseGroupLoss.length} values for ${groupLoss.shape[0]} groups`,
          'pass the dense model\'s loss of every group (denseReference(dense, train, numGroups).groupLoss)');
      }
      const shift = options.denseGroupLoss.map((d) => d - (options.denseLoss ?? 0));
      gap = tf.sub(gap, tf.tensor1d(shift, 'float32'));
    }
    const v = kind === 'abs' ? tf.abs(gap) : kind === 'one-sided' ? tf.relu(gap) : gap;
    const present = tf.cast(tf.greater(counts, 0), 'float32');
    return tf.mul(v, present) as tf.Tensor1D;
  });
}

/**
 * Distillation term `T²·KL(softmax(z_t/T) ‖ softmax(z_s/T))`, averaged over the batch (the dense
 * teacher's variables are not among the trained ones, so no gradient reaches them).
 * @throws TrellisError `BAD_OPTION` unless `temperature` is a finite number > 0, `BAD_SHAPE` unless both logits are the same `[batch, k]`.
 */
export function distillationLoss(studentLogits: tf.Tensor, teacherLogits: tf.Tensor, temperature: number): tf.Scalar {
  check(Number.isFinite(temperature) && temperature > 0, 'BAD_OPTION', () => `distillation temperature ${String(temperature)} is not a finite number > 0`,
    'pass a temperature such as 4 (the spec\'s default)');
  check(studentLogits.rank === 2 && studentLogits.shape.every((d, i) => d === teacherLogits.shape[i]) && teacherLogits.rank === 2, 'BAD_SHAPE',
    () => `student logits [${studentLogits.shape.join(', ')}] and teacher logits [${teacherLogits.shape.join(', ')}] differ`,
    'distil from a teacher with the same classes, on the same batch ([batch, numClasses] for both)');
  return tf.tidy(() => {
    const t = teacherLogits;
    const logPt = tf.logSoftmax(tf.div(t, temperature));
    const logPs = tf.logSoftmax(tf.div(studentLogits, temperature));
    const kl = tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs)), -1);
    return tf.mul(temperature * temperature, tf.mean(kl)) as tf.Scalar;
  });
}
