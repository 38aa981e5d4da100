import * as tf from '@tensorflow/tfjs-core';
import { checkChoice, TrellisError } from '@trellis-ml/core';

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
  if (scheduleEpoch % 2 === 0) return 'abs';
  return meanLoss > alpha ? 'descent' : 'flatten';
}

/**
 * Log-norm squashing N_t(v) = v / (1 + t·‖v‖) row-wise (‖·‖ + 1e-7 as in the CRL code; the norm
 * is computed as sqrt(Σv² + 1e-12) so a zero row has a finite gradient). ‖N_t(v)‖ < 1/t.
 */
export function logNormSquash(v: tf.Tensor2D, t: number): tf.Tensor2D {
  if (!(t > 0)) throw new TrellisError('BAD_OPTION', `squashing temperature t = ${t} must be > 0`, 'pass t such as 0.1 (logit norm ≤ 1/t)');
  return tf.tidy(() => {
    const norm = tf.add(tf.sqrt(tf.add(tf.sum(tf.square(v), 1, true), 1e-12)), 1e-7);
    return tf.div(v, tf.add(1, tf.mul(t, norm))) as tf.Tensor2D;
  });
}

/** Options of {@link relaxedCrossEntropy}. */
export interface RelaxedCrossEntropyOptions {
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
 */
export function relaxedCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, options: RelaxedCrossEntropyOptions): RelaxedLossValue {
  checkVariant(options.variant);
  const c = logits.shape[1];
  if (c < 2) throw new TrellisError('BAD_SHAPE', `relaxed losses need at least 2 classes, got ${c}`, 'pass [batch, classes] logits');
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
}

/** Options of {@link relaxedCenterLoss}. */
export interface RelaxedCenterLossOptions {
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
 */
export function relaxedCenterLoss(features: tf.Tensor2D, centers: tf.Tensor2D, labels: tf.Tensor1D, logits: tf.Tensor2D, options: RelaxedCenterLossOptions): RelaxedLossValue {
  const [b, d] = features.shape;
  if (centers.shape[1] !== d) {
    throw new TrellisError('FEATURE_DIM_MISMATCH', `features have ${d} dimensions but the centres ${centers.shape[1]}`,
      'set featureDim to the width of the tapped feature (or leave it out so it is measured at setup)');
  }
  const c = centers.shape[0];
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
  const q = clampedConfidence(logits, tf.cast(tf.oneHot(tf.cast(labels, 'int32'), logits.shape[1]), 'float32') as tf.Tensor2D, options.upper, options.detachTargets ?? false);
  const origin = tf.sum(tf.square(fh), 1);
  const loss = tf.div(tf.sum(tf.add(tf.mul(q, d2), tf.mul(tf.sub(1, q), origin))), 2 * b) as tf.Scalar;
  return { loss, branch, meanValue };
}
