/**
 * The unsupervised objectives of the entropy-minimising baselines, as tensor functions of logits
 * (natural-log entropy). None of them takes labels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { check } from '@trellis-ml/core';
import { rowArgmax } from './hostLogits.js';

/** Per-row softmax entropy in nats, `[b]`. */
export function rowEntropy(logits: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    return tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1)) as tf.Tensor1D;
  });
}

/** TENT: mean softmax entropy of the batch (nats). */
export function entropyLoss(logits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(rowEntropy(logits)) as tf.Scalar);
}

/**
 * SHOT-IM information maximisation: `mean_i H(p_i) − diversityWeight · H(mean_i p_i)` — confident
 * per sample, diverse over the batch. Returns both parts; the loss is their sum (`diversity` is already
 * `−diversityWeight · H(mean_i p_i)`, sign included).
 */
export function informationMaximization(logits: tf.Tensor, diversityWeight = 1): { entropy: tf.Scalar; diversity: tf.Scalar } {
  return tf.tidy(() => {
    const entropy = entropyLoss(logits);
    const mean = tf.mean(tf.softmax(logits), 0);
    const marginal = tf.neg(tf.sum(tf.mul(mean, tf.log(tf.add(mean, 1e-5)))));
    return { entropy, diversity: tf.mul(-diversityWeight, marginal) as tf.Scalar };
  });
}

/** Which samples ETA keeps and how it weighs them. */
export interface EtaSelection {
  /** 1 for kept samples, 0 otherwise. */
  mask: Float32Array;
  /** `exp(−(H_i − E0))` per sample (the reliability weight). */
  weights: Float32Array;
  /** Number kept. */
  kept: number;
  /** Number passing the reliability (entropy) filter alone. */
  reliable: number;
}

/**
 * ETA's two filters on host values: keep sample i when `H_i < e0` (reliable) and, when a previous
 * mean prediction `ema` exists and `redundancyEps` is set, `|cos(p_i, ema)| < redundancyEps`
 * (non-redundant). Weight kept samples by `exp(−(H_i − e0))`.
 */
export function etaSelect(probs: ArrayLike<number>, entropies: ArrayLike<number>, k: number, e0: number, ema: Float32Array | null, redundancyEps: number | null): EtaSelection {
  const n = entropies.length;
  const mask = new Float32Array(n);
  const weights = new Float32Array(n);
  let kept = 0;
  let reliable = 0;
  let emaNorm = 0;
  if (ema) for (let j = 0; j < k; j++) emaNorm += ema[j]! * ema[j]!;
  emaNorm = Math.sqrt(emaNorm);
  for (let i = 0; i < n; i++) {
    const h = entropies[i]!;
    weights[i] = Math.exp(-(h - e0));
    if (!(h < e0)) continue;
    reliable++;
    if (ema && redundancyEps !== null && emaNorm > 0) {
      let dot = 0;
      let pn = 0;
      for (let j = 0; j < k; j++) {
        dot += probs[i * k + j]! * ema[j]!;
        pn += probs[i * k + j]! ** 2;
      }
      const cos = dot / (Math.sqrt(pn) * emaNorm + 1e-12);
      if (!(Math.abs(cos) < redundancyEps)) continue;
    }
    mask[i] = 1;
    kept++;
  }
  return { mask, weights, kept, reliable };
}

/** ETA's loss: `Σ_i mask_i · w_i · H_i / max(kept, 1)` (weights and mask are constants). */
export function etaLoss(logits: tf.Tensor, selection: EtaSelection): tf.Scalar {
  return tf.tidy(() => {
    const h = rowEntropy(logits);
    const coeff = tf.tensor1d(selection.mask.map((m, i) => m * selection.weights[i]!));
    return tf.div(tf.sum(tf.mul(h, coeff)), Math.max(selection.kept, 1)) as tf.Scalar;
  });
}

/** Which samples hard pseudo-labelling trains on, and with which labels. */
export interface PseudoLabelSelection {
  /** Argmax class of each sample. */
  labels: Int32Array;
  /** 1 for samples whose top probability reaches the threshold, 0 otherwise. */
  mask: Float32Array;
  /** Number kept. */
  kept: number;
}

/**
 * Hard pseudo-labels on host values: each sample's argmax class, kept when its top probability is
 * at least `threshold` (spec §3: `max p ≥ 0.9`).
 */
export function pseudoLabelSelect(probs: ArrayLike<number>, k: number, threshold: number): PseudoLabelSelection {
  const n = probs.length / k;
  const labels = rowArgmax(probs, n, k);
  const mask = new Float32Array(n);
  let kept = 0;
  for (let i = 0; i < n; i++) {
    if (probs[i * k + labels[i]!]! >= threshold) {
      mask[i] = 1;
      kept++;
    }
  }
  return { labels, mask, kept };
}

/** Hard pseudo-label loss: `Σ_i mask_i · CE(z_i, ŷ_i) / max(kept, 1)` (labels and mask are constants). */
export function pseudoLabelLoss(logits: tf.Tensor, selection: PseudoLabelSelection): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[logits.shape.length - 1]!;
    const onehot = tf.oneHot(tf.tensor1d(selection.labels, 'int32'), k);
    const ce = tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), -1));
    return tf.div(tf.sum(tf.mul(ce, tf.tensor1d(selection.mask))), Math.max(selection.kept, 1)) as tf.Scalar;
  });
}

/**
 * MEMO's marginal entropy (Zhang et al., NeurIPS 2022): `logits` holds `copies` augmented versions of
 * each of `b` points, copy-major (`[copy 0 of every point, copy 1 of every point, …]`, the layout of
 * `augmentImages`). Per point, the entropy (nats) of the mean over its copies of the softmax,
 * `H(1/B Σ_a softmax(z_a))`, computed in log space (log-sum-exp of the log-softmaxes); the mean over
 * the `b` points. Throws `SHAPE_MISMATCH` unless the rows split into `copies` equal groups.
 */
export function marginalEntropyLoss(logits: tf.Tensor, copies: number): tf.Scalar {
  const rows = logits.shape[0]!;
  const k = logits.shape[logits.shape.length - 1]!;
  check(logits.rank === 2 && Number.isInteger(copies) && copies >= 1 && rows % copies === 0, 'SHAPE_MISMATCH',
    `${rows} rows of logits are not ${copies} augmented copies of the same points`, 'pass [copies · points, k] logits, copy-major');
  return tf.tidy(() => {
    const logp = tf.reshape(tf.logSoftmax(logits), [copies, rows / copies, k]);
    // ln of the marginal; clamped so that a class no copy gives any mass contributes 0·(finite) to the entropy.
    const logMean = tf.maximum(tf.sub(tf.logSumExp(logp, 0), Math.log(copies)), -1e30);
    return tf.mean(tf.neg(tf.sum(tf.mul(tf.exp(logMean), logMean), -1))) as tf.Scalar;
  });
}
