import * as tf from '@tensorflow/tfjs-core';
import { check, checkLogitsAndLabels, oneHotTargets, softCrossEntropy, type LabelCheckOptions } from '@trellis-ml/core';

/**
 * The joint loss of an early-exit network (BranchyNet, MSDNet): the weighted sum over exits of each
 * exit's mean cross-entropy, `Σ_e w_e · CE(z_e, y)`, with equal weights 1 by default (MSDNet's plain
 * sum; BranchyNet weighs its exits). Example: exits with logits `[[0, 0], [1, 0]]` and
 * `[[2, 0], [0, 0]]` for labels `[0, 1]` have CE `(ln 2 + ln(1 + e)) / 2 ≈ 1.00320` and
 * `(ln(1 + e⁻²) + ln 2) / 2 ≈ 0.41004`, so the loss is ≈ 1.41324 (≈ 1.20822 with weights 1 and 0.5).
 * Every exit's logits are checked against the labels by core's `checkLogitsAndLabels`: labels must be int32
 * class ids of the logits' classes (LABEL_OUT_OF_RANGE otherwise, read on the host once, for exit 0, unless
 * `options.checkLabelValues` is `false`), the batch non-empty; every exit has the classes of exit 0 (SHAPE_MISMATCH).
 */
export function exitLoss(logits: readonly tf.Tensor[], labels: tf.Tensor1D, weights?: readonly number[], options: LabelCheckOptions = {}): tf.Scalar {
  check(Array.isArray(logits) && logits.length > 0, 'BAD_OPTION', 'exitLoss needs the logits of at least one exit', 'pass one [batch, classes] tensor per exit');
  const w = weights ?? logits.map(() => 1);
  check(Array.isArray(w) && w.length === logits.length, 'BAD_OPTION', Array.isArray(w) ? `${w.length} exit weights for ${logits.length} exits` : `exit weights ${String(w)} are not a list (${logits.length} exits)`, 'pass one weight per exit');
  w.forEach((v, i) => check(Number.isFinite(v) && v >= 0, 'BAD_OPTION', `exit weight ${i} is ${v}; weights are finite numbers ≥ 0`, 'pass weights such as 1 (equal weights)'));
  logits.forEach((z, i) => {
    checkLogitsAndLabels(z, labels, { context: `exitLoss (exit ${i})`, checkLabelValues: i === 0 ? options.checkLabelValues : false });
    check(z.shape[1] === logits[0]!.shape[1], 'SHAPE_MISMATCH', `exit ${i} has logits of shape [${z.shape.join(', ')}], exit 0 [${logits[0]!.shape.join(', ')}]`,
      'pass [batch, classes] logits of the same classes per exit');
  });
  return tf.tidy(() => {
    const targets = oneHotTargets(labels, logits[0]!.shape[1]!);
    return tf.addN(logits.map((z, i) => tf.mul(softCrossEntropy(z, targets), w[i]!))) as tf.Scalar;
  });
}
