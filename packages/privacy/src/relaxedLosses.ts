import * as tf from '@tensorflow/tfjs-core';
import { check, checkChoice, checkLogitsAndLabels, TrellisError, type LabelCheckOptions } from '@trellis-ml/core';

/**
 * The relaxed objectives of RelaxLoss (Chen et al., ICLR 2022) and CRL (Fang & Kim, UAI 2024) as
 * pure tensor functions, usable inside a gradient tape. The branch of the alternating schedule is
 * decided by the batch-mean value (read on the host), as in the reference code.
 */

/** Throws `BAD_OPTION` unless `variant` is `kimlab` or `original` (any other value would silently run the original's per-sample formula). */
export function checkVariant(variant: unknown): void {
  checkChoice(variant, ['kimlab', 'original'] as const, 'RelaxLoss variant',
    { fix: "pass variant 'kimlab' (the CRL repo's RelaxLoss, the default of relaxLoss) or 'original' (Chen et al.)" });
}

/** Which step of the alternating schedule a batch takes. */
export type RelaxBranch = 'abs' | 'descent' | 'flatten';

/**
 * The schedule: on an even schedule epoch `e`, |L − α| (descent above α, ascent below); on an odd
 * one, plain descent while L > α, else posterior flattening. CRL counts epochs from 1, the
 * original RelaxLoss from 0 — pass the epoch in the convention you want.
 */
export function relaxBranch(scheduleEpoch: number, meanLoss: number, alpha: number): RelaxBranch {
  check(Number.isInteger(scheduleEpoch), 'BAD_OPTION', () => `schedule epoch ${String(scheduleEpoch)} is not a whole number, so it has no parity`,
    'pass the epoch index (ctx.epoch + 1 for CRL, ctx.epoch for the original RelaxLoss)');
  checkLevel('alpha', alpha);
  if (scheduleEpoch % 2 === 0) return 'abs';
  return meanLoss > alpha ? 'descent' : 'flatten';
}

/**
 * Log-norm squashing N_t(v) = v / (1 + t·‖v‖) row-wise (‖·‖ + 1e-7 as in the CRL code; the norm
 * is computed as sqrt(Σv² + 1e-12) so a zero row has a finite gradient). ‖N_t(v)‖ < 1/t.
 */
export function logNormSquash(v: tf.Tensor2D, t: number): tf.Tensor2D {
  check(v instanceof tf.Tensor && v.rank === 2, 'BAD_SHAPE', () => `log-norm squashing needs a [rows, features] tensor, got ${v instanceof tf.Tensor ? `shape [${v.shape.join(', ')}]` : typeof v}`,
    'reshape to 2-D first, e.g. tf.reshape(v, [batch, -1]): each row is squashed by its own norm');
  if (!(t > 0)) throw new TrellisError('BAD_OPTION', `squashing temperature t = ${t} must be > 0`, 'pass t such as 0.1 (logit norm ≤ 1/t)');
  return tf.tidy(() => {
    const norm = tf.add(tf.sqrt(tf.add(tf.sum(tf.square(v), 1, true), 1e-12)), 1e-7);
    return tf.div(v, tf.add(1, tf.mul(t, norm))) as tf.Tensor2D;
  });
}

/** Options of {@link relaxedCrossEntropy}. */
export interface RelaxedCrossEntropyOptions extends LabelCheckOptions {
  /** Target loss level α. */
  alpha: number;
  /** Upper clamp u of the target-class confidence in the flattened soft labels. */
  upper: number;
  /** Schedule epoch (parity decides the branch; see {@link relaxBranch}). */
  scheduleEpoch: number;
  /** `kimlab`: soft-label CE for every sample (CRL's term and the CRL repo's RelaxLoss); `original`: (1 − correct)·softCE − CE per sample. */
  variant: 'kimlab' | 'original';
  /** Squash the logits with N_t before the CE (CRL's ImpRelaxLoss); absent = raw logits (RelaxLoss). */
  squashT?: number;
  /** Treat the soft targets as constants (the reference code lets gradients flow through them: default false). */
  detachTargets?: boolean;
}

/** Value and branch of a relaxed loss. */
export interface RelaxedLossValue {
  loss: tf.Scalar;
  branch: RelaxBranch;
  /** The batch-mean value that decided the branch (CE, or centre distance D). */
  meanValue: number;
}

/** Throws `BAD_OPTION` unless a target level (α, α_c) is a finite number ≥ 0 (NaN would silently select the flattening branch). */
function checkLevel(what: string, v: unknown): void {
  check(typeof v === 'number' && v >= 0 && Number.isFinite(v), 'BAD_OPTION', () => `relaxed loss ${what} = ${String(v)} is not a finite number ≥ 0`,
    `pass ${what} such as 0.3 (the target loss level)`);
}

/** Throws `BAD_OPTION` unless the confidence clamp u is a number ≥ 0 (tfjs' clip would throw a raw error for NaN or u < 0). */
function checkUpper(what: string, v: unknown): void {
  check(typeof v === 'number' && v >= 0, 'BAD_OPTION', () => `relaxed loss ${what} = ${String(v)} is not a number ≥ 0`,
    `pass ${what} such as 1 (the clamp of the target-class confidence in the soft labels)`);
}

function detached(t: tf.Tensor): tf.Tensor {
  return tf.tensor(t.dataSync(), t.shape, 'float32');
}

/** Clamped confidence q_i = clamp(softmax(z_i)[y_i], 0, upper) of the RAW logits. */
function clampedConfidence(logits: tf.Tensor2D, onehot: tf.Tensor2D, upper: number, detach: boolean): tf.Tensor1D {
  const q = tf.clipByValue(tf.sum(tf.mul(tf.softmax(logits), onehot), 1), 0, upper) as tf.Tensor1D;
  return detach ? (detached(q) as tf.Tensor1D) : q;
}

/**
 * RelaxLoss / CRL's ImpRelaxLoss (spec §2.3). `labels` are int32 class ids. Soft targets in the
 * flattening branch: q on the label, (1 − q)/(C − 1) elsewhere, q from the raw logits.
 * @throws TrellisError as core's `checkLogitsAndLabels` (`LABEL_OUT_OF_RANGE` reads the labels on the host
 * unless `options.checkLabelValues` is `false`); `BAD_SHAPE` for fewer than 2 classes; `BAD_OPTION`.
 */
export function relaxedCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, options: RelaxedCrossEntropyOptions): RelaxedLossValue {
  check(options !== null && typeof options === 'object', 'BAD_OPTION', () => `relaxedCrossEntropy got no options (got ${String(options)})`,
    "pass { alpha, upper, scheduleEpoch, variant }, e.g. { alpha: 0.3, upper: 1, scheduleEpoch: 1, variant: 'kimlab' }");
  checkVariant(options.variant);
  checkLevel('alpha', options.alpha);
  checkUpper('upper', options.upper);
  checkLogitsAndLabels(logits, labels, { context: 'relaxedCrossEntropy', checkLabelValues: options.checkLabelValues });
  const c = logits.shape[1]!;
  if (c < 2) throw new TrellisError('BAD_SHAPE', `relaxed losses need at least 2 classes, got ${c}`, 'pass [batch, classes] logits');
  relaxBranch(options.scheduleEpoch, 0, options.alpha);
  // one tidy: only the returned loss survives a call outside a tape (no intermediate is left allocated)
  return tf.tidy(() => {
    const onehot = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), c), 'float32') as tf.Tensor2D;
    const z = options.squashT !== undefined ? logNormSquash(logits, options.squashT) : logits;
    const logp = tf.logSoftmax(z);
    const ceFull = tf.neg(tf.sum(tf.mul(onehot, logp), 1));
    const ce = tf.mean(ceFull) as tf.Scalar;
    const meanValue = ce.dataSync()[0]!;
    const branch = relaxBranch(options.scheduleEpoch, meanValue, options.alpha);
    if (branch === 'abs') return { loss: tf.abs(tf.sub(ce, options.alpha)) as tf.Scalar, branch, meanValue };
    if (branch === 'descent') return { loss: ce, branch, meanValue };
    const q = tf.expandDims(clampedConfidence(logits, onehot, options.upper, options.detachTargets ?? false), 1);
    const rest = tf.div(tf.sub(1, q), c - 1);
    const soft = tf.add(tf.mul(onehot, q), tf.mul(tf.sub(1, onehot), rest));
    const softCe = tf.neg(tf.sum(tf.mul(soft, logp), 1));
    if (options.variant === 'kimlab') return { loss: tf.mean(softCe) as tf.Scalar, branch, meanValue };
    const correct = tf.cast(tf.equal(tf.argMax(logits, 1), tf.cast(labels, 'int32')), 'float32');
    return { loss: tf.mean(tf.sub(tf.mul(tf.sub(1, correct), softCe), ceFull)) as tf.Scalar, branch, meanValue };
  });
}

/** Options of {@link relaxedCenterLoss}. */
export interface RelaxedCenterLossOptions extends LabelCheckOptions {
  /** Target mean squared feature-to-centre distance α_c. */
  alpha: number;
  /** Squashing temperature t_c of features and centres. */
  t: number;
  /** Upper clamp u_c of the confidence weights. */
  upper: number;
  scheduleEpoch: number;
  detachTargets?: boolean;
}

/**
 * CRL's relaxed centre loss (spec §2.4): D = (1/2B) Σ‖N(f_i) − N(c_{y_i})‖²; |D − α_c| on even
 * epochs; D while above α_c on odd epochs; below it (1/2B) Σ [q_i‖f̂_i − ĉ_{y_i}‖² + (1 − q_i)‖f̂_i‖²]
 * with q_i = clamp(softmax(z_i)[y_i], 0, u_c) from the raw logits. Centres are gathered by a
 * one-hot matmul (its gradient needs no scatter kernel).
 * @throws TrellisError as core's `checkLogitsAndLabels` (`LABEL_OUT_OF_RANGE` reads the labels on the host
 * unless `options.checkLabelValues` is `false`); `SHAPE_MISMATCH` / `FEATURE_DIM_MISMATCH` / `BAD_SHAPE` for
 * features, centres and logits that do not fit; `BAD_OPTION`.
 */
export function relaxedCenterLoss(features: tf.Tensor2D, centers: tf.Tensor2D, labels: tf.Tensor1D, logits: tf.Tensor2D, options: RelaxedCenterLossOptions): RelaxedLossValue {
  check(options !== null && typeof options === 'object', 'BAD_OPTION', () => `relaxedCenterLoss got no options (got ${String(options)})`,
    'pass { alpha, t, upper, scheduleEpoch }, e.g. { alpha: 0.1, t: 1, upper: 1, scheduleEpoch: 1 }');
  checkLevel('alpha', options.alpha);
  checkUpper('upper', options.upper);
  check(features instanceof tf.Tensor && features.rank === 2 && centers instanceof tf.Tensor && centers.rank === 2, 'BAD_SHAPE',
    () => `relaxedCenterLoss needs [batch, D] features and [classes, D] centres, got ${shapeOf(features)} and ${shapeOf(centers)}`,
    'reshape the features to [batch, -1] and pass the centres as a [classes, D] matrix');
  const [b, d] = features.shape;
  if (centers.shape[1] !== d) {
    throw new TrellisError('FEATURE_DIM_MISMATCH', `features have ${d} dimensions but the centres ${centers.shape[1]}`,
      'set featureDim to the width of the tapped feature (or leave it out so it is measured at setup)');
  }
  const c = centers.shape[0];
  check(logits instanceof tf.Tensor && logits.rank === 2 && logits.shape[1] === c && logits.shape[0] === b, 'SHAPE_MISMATCH',
    () => `relaxedCenterLoss got logits of shape ${shapeOf(logits)} for ${b} feature rows and ${c} centres`,
    'pass one row of logits per feature row, with one logit per class (one centre per class)');
  checkLogitsAndLabels(logits, labels, { context: 'relaxedCenterLoss', checkLabelValues: options.checkLabelValues });
  relaxBranch(options.scheduleEpoch, 0, options.alpha);
  return tf.tidy(() => {
    const onehot = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), c), 'float32') as tf.Tensor2D;
    const fh = logNormSquash(features, options.t);
    const ch = logNormSquash(centers, options.t);
    const cy = tf.matMul(onehot, ch);
    const d2 = tf.sum(tf.square(tf.sub(fh, cy)), 1);
    const dist = tf.div(tf.sum(d2), 2 * b) as tf.Scalar;
    const meanValue = dist.dataSync()[0]!;
    const branch = relaxBranch(options.scheduleEpoch, meanValue, options.alpha);
    if (branch === 'abs') return { loss: tf.abs(tf.sub(dist, options.alpha)) as tf.Scalar, branch, meanValue };
    if (branch === 'descent') return { loss: dist, branch, meanValue };
    const q = clampedConfidence(logits, onehot, options.upper, options.detachTargets ?? false);
    const origin = tf.sum(tf.square(fh), 1);
    const loss = tf.div(tf.sum(tf.add(tf.mul(q, d2), tf.mul(tf.sub(1, q), origin))), 2 * b) as tf.Scalar;
    return { loss, branch, meanValue };
  });
}

function shapeOf(t: unknown): string {
  return t instanceof tf.Tensor ? `[${t.shape.join(', ')}]` : typeof t;
}
