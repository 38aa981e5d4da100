import * as tf from '@tensorflow/tfjs-core';
import { check, checkChoice, checkClassLabels, smoothTargets, type SmoothingVariant } from '@trellis-ml/core';

/**
 * How a KL term over a `[B, C]` batch is reduced.
 *
 * - `'batchmean'` (default, the textbook form): sum over classes, mean over samples — mdistiller's
 *   `.sum(1).mean()` and torchdistill's `'batchmean'`.
 * - `'elementwise-mean'`: the mean over all `B·C` elements, i.e. `batchmean / C` — PyTorch's default
 *   `nn.KLDivLoss()`, used by the ReffAKD Fashion-MNIST / Tiny-ImageNet notebooks and by Tf-KD.
 */
export type KlReduction = 'batchmean' | 'elementwise-mean';

/** Label-smoothing variants: `'uniform-all'` spreads ε over all C classes, `'uniform-others'` over the C−1 wrong ones (Tf-KD's code); core's type, re-exported. */
export type { SmoothingVariant };

function checkTemperature(T: number, what = 'temperature'): void {
  check(Number.isFinite(T) && T > 0, 'BAD_TEMPERATURE', `${what} ${T} must be a positive finite number`, 'pass a temperature > 0, e.g. 4');
}

function checkLogits(z: tf.Tensor, what: string): void {
  check(z.rank === 2, 'BAD_LOGITS_SHAPE', `${what} have rank ${z.rank} (shape [${z.shape.join(', ')}]); expected [batch, classes]`,
    'pass a 2-D tensor of logits, one row per example');
  // an empty batch used to give a loss of 0 (or −0) and one class a constant loss, silently
  check(z.shape[0]! >= 1, 'EMPTY_BATCH', `${what} have no rows (shape [${z.shape.join(', ')}]): there is no example to take a loss over`,
    'pass a batch of at least one example');
  check(z.shape[1]! >= 2, 'BAD_LOGITS_SHAPE', `${what} have ${z.shape[1]} class column(s) (shape [${z.shape.join(', ')}]); a classifier's logits need at least 2`,
    'pass one logit per class, [batch, classes] with classes ≥ 2');
}

function checkLabelCount(logits: tf.Tensor, labels: tf.Tensor, what: string): void {
  check(labels.rank === 1 && labels.shape[0] === logits.shape[0], 'SHAPE_MISMATCH',
    `${what}: ${labels.rank === 1 ? labels.shape[0] : `labels of shape [${labels.shape.join(', ')}]`} labels for ${logits.shape[0]} rows of logits`,
    'pass one integer label per example: labels of shape [batch], the same batch as the logits');
}

function checkWeight(value: unknown, what: string): void {
  check(typeof value === 'number' && Number.isFinite(value) && value >= 0, 'BAD_OPTION', `${what} ${String(value)} must be a finite number ≥ 0`,
    `pass ${what} as a number ≥ 0`);
}

function checkOptions(options: unknown, what: string, example = '{ T: 4 }'): asserts options is object {
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', `${what} needs an options object, got ${String(options)}`, `pass the options, e.g. ${example}`);
}

function checkSameShape(a: tf.Tensor, b: tf.Tensor, what: string): void {
  check(a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]), 'SHAPE_MISMATCH',
    `${what}: shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] differ`,
    'pass student and teacher outputs of the same batch size and number of classes (a teacher must have the student\'s classes)');
}

/**
 * One-hot float targets `[B, C]` from int labels (built with `tf.oneHot`, no `gather` on the tape).
 * The labels are read back and checked: `tf.oneHot` turns a label outside `[0, C)` into an all-zero
 * row, which would add nothing to a loss, silently. `checkLabelValues: false` skips that host read for labels
 * known to be in range (a Trainer's batch: its `Dataset` checked them when it was built).
 *
 * @throws TrellisError `BAD_CLASSES` unless `numClasses` is an integer ≥ 2; `LABEL_OUT_OF_RANGE` for a
 * label that is not an integer in `[0, numClasses)`.
 */
export function oneHotLabels(labels: tf.Tensor1D, numClasses: number, options: { checkLabelValues?: boolean } = {}): tf.Tensor2D {
  // tf.oneHot throws a bare "depth must be >=2" for 1 class and reads a fractional depth without complaint
  check(Number.isInteger(numClasses) && numClasses >= 2, 'BAD_CLASSES', `numClasses ${String(numClasses)} is not an integer ≥ 2`,
    'pass the number of classes of the task (the logits\' columns), at least 2');
  if (options.checkLabelValues !== false) {
    checkClassLabels(labels.dataSync(), numClasses, { fix: `pass integer labels 0..${numClasses - 1}: the logits have ${numClasses} classes` });
  }
  return tf.tidy(() => tf.cast(tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, numClasses), 'float32') as tf.Tensor2D);
}

/**
 * Label-smoothed targets: `'uniform-all'` gives `(1−ε)·onehot + ε/C` (what
 * `tf.losses.softmaxCrossEntropy(..., labelSmoothing=ε)` uses); `'uniform-others'` gives `1−ε` on the
 * true class and `ε/(C−1)` elsewhere (Tf-KD's code). Core's `smoothTargets` of the one-hot labels.
 */
export function labelSmoothingTargets(labels: tf.Tensor1D, numClasses: number, epsilon: number, variant: SmoothingVariant = 'uniform-all'): tf.Tensor2D {
  check(epsilon >= 0 && epsilon <= 1, 'BAD_OPTION', `label smoothing ε ${epsilon} is outside [0, 1]`, 'pass ε in [0, 1], e.g. 0.1');
  check(variant === 'uniform-all' || variant === 'uniform-others', 'BAD_OPTION', `label-smoothing variant ${JSON.stringify(variant)} is not 'uniform-all' or 'uniform-others'`,
    "pass variant 'uniform-all' (ε/C on every class) or 'uniform-others' (ε/(C−1) on the wrong classes)");
  return tf.tidy(() => smoothTargets(oneHotLabels(labels, numClasses), epsilon, variant));
}

/** Mean over the batch of `−Σ_k p_k log softmax(z)_k` (soft-target cross-entropy). */
export function softTargetCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  checkLogits(logits, 'logits');
  checkSameShape(logits, targets, 'soft-target cross-entropy');
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1))) as tf.Scalar);
}

/**
 * Hard-label cross-entropy `−(1/B) Σ_b log softmax(z_b)[y_b]`, optionally label-smoothed (§5.1, §5.3).
 */
export function crossEntropy(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  options: { labelSmoothing?: number; variant?: SmoothingVariant } = {},
): tf.Scalar {
  checkOptions(options, 'crossEntropy', '{ labelSmoothing: 0.1 }, or leave them out');
  checkLogits(logits, 'logits');
  checkLabelCount(logits, labels, 'cross-entropy');
  return tf.tidy(() => {
    const C = logits.shape[1];
    // undefined means no smoothing; any number (NaN included) goes through labelSmoothingTargets' check
    const targets = options.labelSmoothing !== undefined ? labelSmoothingTargets(labels, C, options.labelSmoothing, options.variant) : oneHotLabels(labels, C);
    return softTargetCrossEntropy(logits, targets);
  });
}

/** Reduces per-element KL contributions `[B, C]` to a scalar. */
function reduceKl(perElement: tf.Tensor2D, reduction: KlReduction): tf.Scalar {
  check(reduction === 'batchmean' || reduction === 'elementwise-mean', 'BAD_OPTION', `KL reduction ${JSON.stringify(reduction)} is not 'batchmean' or 'elementwise-mean'`,
    "pass reduction 'batchmean' (sum over classes, mean over examples; the default) or 'elementwise-mean' (PyTorch's nn.KLDivLoss() default)");
  return reduction === 'elementwise-mean' ? (tf.mean(perElement) as tf.Scalar) : (tf.mean(tf.sum(perElement, 1)) as tf.Scalar);
}

/** `p·(log p − logq)` element-wise, with `0·log 0 = 0` (p is clamped at 1e-12 inside the log). */
function klElements(p: tf.Tensor2D, logq: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(p, tf.sub(tf.log(tf.maximum(p, 1e-12)), logq)) as tf.Tensor2D;
}

/** Options of {@link softTargetKL}. */
export interface SoftTargetKlOptions {
  /** Temperature dividing the **student** logits only (the targets are already a distribution). */
  T: number;
  /** KL reduction (default `'batchmean'`). */
  reduction?: KlReduction;
  /** Multiply by `T²` (default true; Tf-KD's code form has no `T²`). */
  scaleT2?: boolean;
}

/**
 * `T² · KL(p ‖ softmax(z_s / T))` — the ReffAKD / soft-label KD term (§3.1). `targetProbs` is a
 * `[B, C]` distribution per row (soft labels, or a teacher's tempered probabilities); it is not
 * re-softened; treat it as a constant (do not make it depend on the student's variables).
 */
export function softTargetKL(studentLogits: tf.Tensor2D, targetProbs: tf.Tensor2D, options: SoftTargetKlOptions): tf.Scalar {
  checkOptions(options, 'softTargetKL');
  checkTemperature(options.T);
  // a truthy string such as 'no' used to act as true
  check(options.scaleT2 === undefined || typeof options.scaleT2 === 'boolean', 'BAD_OPTION', `scaleT2 ${JSON.stringify(options.scaleT2)} is not true or false`,
    'pass scaleT2: true (multiply by T², the default) or false (Tf-KD\'s code form)');
  checkLogits(studentLogits, 'student logits');
  checkSameShape(studentLogits, targetProbs, 'soft-target KL');
  return tf.tidy(() => {
    const p = targetProbs;
    const logq = tf.logSoftmax(tf.div(studentLogits, options.T)) as tf.Tensor2D;
    const kl = reduceKl(klElements(p, logq), options.reduction ?? 'batchmean');
    return (options.scaleT2 ?? true ? tf.mul(kl, options.T * options.T) : kl) as tf.Scalar;
  });
}

/**
 * Hinton KD term `T² · KL(softmax(z_t/T) ‖ softmax(z_s/T))` (§5.2). Only the KD term: weight it and
 * add the cross-entropy yourself (or use {@link weightsFromAlpha}).
 */
export function hintonKD(zs: tf.Tensor2D, zt: tf.Tensor2D, options: { T: number; reduction?: KlReduction }): tf.Scalar {
  checkOptions(options, 'hintonKD');
  checkTemperature(options.T);
  checkSameShape(zs, zt, 'Hinton KD');
  return tf.tidy(() => softTargetKL(zs, tf.softmax(tf.div(zt, options.T)) as tf.Tensor2D, options));
}

/**
 * The whole ReffAKD objective `(1−α)·CE(y, z) + α·T²·KL(P[y] ‖ softmax(z/T))` (§3.1), with the soft
 * labels given row by row (`softLabels` is `[B, C]`, i.e. `P[y]` already looked up). Here α weights
 * the KD term, as in the ReffAKD and Tf-KD code.
 */
export function reffakdLoss(
  zs: tf.Tensor2D,
  labels: tf.Tensor1D,
  softLabels: tf.Tensor2D,
  options: { T: number; alpha: number; reduction?: KlReduction },
): tf.Scalar {
  checkOptions(options, 'reffakdLoss', '{ T: 4, alpha: 0.5 }');
  checkAlpha(options.alpha);
  return tf.tidy(() => tf.add(
    tf.mul(crossEntropy(zs, labels), 1 - options.alpha),
    tf.mul(softTargetKL(zs, softLabels, { T: options.T, reduction: options.reduction }), options.alpha),
  ) as tf.Scalar);
}

function checkAlpha(alpha: number): void {
  check(Number.isFinite(alpha) && alpha >= 0 && alpha <= 1, 'BAD_OPTION', `α ${alpha} is outside [0, 1]`, 'pass α in [0, 1]');
}

/** The three parts of DKD. `tckd` and `nckd` already include `T²`; `total = α·tckd + β·nckd`. */
export interface DkdTerms {
  tckd: tf.Scalar;
  nckd: tf.Scalar;
  total: tf.Scalar;
}

/** Options of {@link dkd} and {@link dkdFromProbs}. */
export interface DkdOptions {
  /** Weight of TCKD (required; mdistiller uses 1). */
  alpha: number;
  /** Weight of NCKD (required; mdistiller uses 8, tuned per pair: 2 for res56→res20). */
  beta: number;
  /** Temperature (required; mdistiller uses 4). */
  T: number;
  /**
   * Read the labels back to check they are class ids (default true); `false` for labels known to be in range (a
   * Trainer's batch, checked by its `Dataset`), which saves a host read every step.
   */
  checkLabelValues?: boolean;
}

/**
 * Decoupled KD (Zhao et al., 2022; §5.5) from teacher **probabilities** `pt` (`[B, C]`, already at
 * temperature T). This is ReffAKD+DKD in `replace-teacher` mode when `pt = P[y]`: TCKD uses the
 * soft label's target mass and NCKD its renormalised off-target structure. The student's logits are
 * divided by T. The binary student vector is built from masked sums (no gather) and its log is
 * clamped at 1e-7. A row whose target mass exceeds 0.5 (a confident teacher) is renormalised by the
 * sum of its off-target probabilities rather than `1 − pt[y]`, which cancels in float32; an
 * off-target mass that underflows to 0 gives an NCKD of 0 for that row (pass logits to {@link dkd}).
 */
export function dkdFromProbs(zs: tf.Tensor2D, pt: tf.Tensor2D, labels: tf.Tensor1D, options: DkdOptions): DkdTerms {
  checkOptions(options, 'dkdFromProbs', '{ alpha: 1, beta: 8, T: 4 }');
  return dkdInternal(zs, pt, null, labels, options);
}

/**
 * `zT` with each row's target logit pushed below all the others, so that a softmax of it is the
 * distribution over the non-target classes. mdistiller subtracts 1000, which fails once the target
 * leads by more than 1000 (then the "non-target" softmax is mostly the target); subtracting 1000 plus
 * the row's range always works and gives the same numbers as 1000 for ordinary logits (the target's
 * exp is 0 either way).
 */
function maskTarget(zT: tf.Tensor2D, gt: tf.Tensor2D): tf.Tensor2D {
  const range = tf.sub(tf.max(zT, 1, true), tf.min(zT, 1, true));
  return tf.sub(zT, tf.mul(gt, tf.add(range, 1000))) as tf.Tensor2D;
}

/** DKD core; `zt` (teacher logits), when given, gives the non-target log-probabilities exactly (better float32 accuracy). */
function dkdInternal(zs: tf.Tensor2D, pt: tf.Tensor2D, zt: tf.Tensor2D | null, labels: tf.Tensor1D, options: DkdOptions): DkdTerms {
  checkTemperature(options.T);
  checkLogits(zs, 'student logits');
  checkSameShape(zs, pt, 'DKD');
  checkLabelCount(zs, labels, 'DKD');
  checkWeight(options.alpha, 'DKD alpha (the TCKD weight)');
  checkWeight(options.beta, 'DKD beta (the NCKD weight)');
  const T = options.T;
  const C = zs.shape[1];
  const [tckd, nckd] = tf.tidy(() => {
    const gt = oneHotLabels(labels, C, { checkLabelValues: options.checkLabelValues });
    const other = tf.sub(1, gt);
    const t = pt;
    const zsT = tf.div(zs, T);
    const qs = tf.softmax(zsT);
    const bsT = tf.sum(tf.mul(qs, gt), 1, true);
    const bs = tf.concat([bsT, tf.sub(1, bsT)], 1) as tf.Tensor2D;
    const btT = tf.sum(tf.mul(t, gt), 1, true);
    const bt = tf.concat([btT, tf.sub(1, btT)], 1) as tf.Tensor2D;
    const logBs = tf.log(tf.maximum(bs, 1e-7)) as tf.Tensor2D;
    const tckd = tf.mul(reduceKl(klElements(bt, logBs), 'batchmean'), T * T);
    // non-target distributions: the teacher's renormalised off-target mass; the student's masked softmax
    const logPsOther = tf.logSoftmax(maskTarget(zsT as tf.Tensor2D, gt)) as tf.Tensor2D;
    let nckdElements: tf.Tensor2D;
    if (zt) {
      const logPtOther = tf.logSoftmax(maskTarget(tf.div(zt, T) as tf.Tensor2D, gt)) as tf.Tensor2D;
      nckdElements = tf.mul(tf.exp(logPtOther), tf.sub(logPtOther, logPsOther)) as tf.Tensor2D;
    } else {
      const tOther = tf.mul(t, other);
      // 1 − pt[y] loses every digit when pt[y] is near 1 (it is 0 in float32 from pt[y] ≈ 1 − 1e-8), so a
      // confident row divides by its summed off-target mass; rows with pt[y] ≤ 0.5 keep 1 − pt[y] (exact there)
      const mass = tf.where(tf.greater(btT, 0.5), tf.sum(tOther, 1, true), tf.sub(1, btT));
      // the clamp only turns 0/0 into 0: an off-target mass of e.g. 1e-26 (a logit gap of 60) is still divided exactly
      const ptOther = tf.div(tOther, tf.maximum(mass, 1e-30)) as tf.Tensor2D;
      nckdElements = klElements(ptOther, logPsOther);
    }
    const nckd = tf.mul(reduceKl(nckdElements, 'batchmean'), T * T);
    return [tckd as tf.Scalar, nckd as tf.Scalar];
  });
  const total = tf.tidy(() => tf.add(tf.mul(tckd, options.alpha), tf.mul(nckd, options.beta)) as tf.Scalar);
  return { tckd, nckd, total };
}

/** Decoupled KD from teacher logits (§5.5): {@link dkdFromProbs} with `pt = softmax(z_t/T)`. */
export function dkd(zs: tf.Tensor2D, zt: tf.Tensor2D, labels: tf.Tensor1D, options: DkdOptions): DkdTerms {
  checkOptions(options, 'dkd', '{ alpha: 1, beta: 8, T: 4 }');
  checkTemperature(options.T);
  checkSameShape(zs, zt, 'DKD');
  const pt = tf.tidy(() => tf.softmax(tf.div(zt, options.T)) as tf.Tensor2D);
  try {
    return dkdInternal(zs, pt, zt, labels, options);
  } finally {
    pt.dispose(); // also when dkdInternal's checks throw (bad labels or weights used to leak it)
  }
}

/** Options of {@link dist} and {@link distFromProbs}. */
export interface DistOptions {
  /** Weight of the inter-class term (default 1). */
  beta?: number;
  /** Weight of the intra-class term (default 1). */
  gamma?: number;
  /** Temperature (default 1); the loss is multiplied by τ². */
  tau?: number;
}

/** Mean Pearson correlation of the rows of `a` and `b` (cosine of mean-centred rows, eps 1e-8 on the norm product). */
function meanRowPearson(a: tf.Tensor2D, b: tf.Tensor2D): tf.Scalar {
  const ac = tf.sub(a, tf.mean(a, 1, true));
  const bc = tf.sub(b, tf.mean(b, 1, true));
  const num = tf.sum(tf.mul(ac, bc), 1);
  // sqrt(max(Σx², 1e-24)) instead of tf.norm: the same value, but a finite gradient for a constant row
  const norm = (t: tf.Tensor): tf.Tensor => tf.sqrt(tf.maximum(tf.sum(tf.square(t), 1), 1e-24));
  const den = tf.add(tf.mul(norm(ac), norm(bc)), 1e-8);
  return tf.mean(tf.div(num, den)) as tf.Scalar;
}

/**
 * DIST (Huang et al., 2022; §5.6) from teacher probabilities `pt` (`[B, C]`, at temperature τ):
 * `τ²·(β·(1 − mean_b ρ(Ys[b,:], pt[b,:])) + γ·(1 − mean_k ρ(Ys[:,k], pt[:,k])))` with
 * `Ys = softmax(z_s/τ)`. Throws when the batch has fewer than 2 examples (the intra-class term
 * correlates across the batch).
 */
export function distFromProbs(zs: tf.Tensor2D, pt: tf.Tensor2D, options: DistOptions = {}): tf.Scalar {
  checkOptions(options, 'distFromProbs', '{ tau: 1 }, or leave them out');
  checkLogits(zs, 'student logits');
  checkSameShape(zs, pt, 'DIST');
  const tau = options.tau ?? 1;
  checkTemperature(tau, 'DIST τ');
  if (options.beta !== undefined) checkWeight(options.beta, 'DIST beta (the inter-class weight)');
  if (options.gamma !== undefined) checkWeight(options.gamma, 'DIST gamma (the intra-class weight)');
  check(zs.shape[0] >= 2, 'BATCH_TOO_SMALL', `DIST needs at least 2 examples per batch (got ${zs.shape[0]}): its intra-class term correlates across the batch`,
    'use a batch size of 8 or more (the intra-class term is degenerate at 2)');
  return tf.tidy(() => {
    const ys = tf.softmax(tf.div(zs, tau)) as tf.Tensor2D;
    const yt = pt;
    const inter = tf.sub(1, meanRowPearson(ys, yt));
    const intra = tf.sub(1, meanRowPearson(tf.transpose(ys) as tf.Tensor2D, tf.transpose(yt) as tf.Tensor2D));
    return tf.mul(tf.add(tf.mul(inter, options.beta ?? 1), tf.mul(intra, options.gamma ?? 1)), tau * tau) as tf.Scalar;
  });
}

/** The two DIST terms separately (unweighted, without τ²), for logging and tests. */
export function distTerms(zs: tf.Tensor2D, pt: tf.Tensor2D, tau = 1): { inter: tf.Scalar; intra: tf.Scalar } {
  const inter = distFromProbs(zs, pt, { beta: 1 / (tau * tau), gamma: 0, tau });
  const intra = distFromProbs(zs, pt, { beta: 0, gamma: 1 / (tau * tau), tau });
  return { inter, intra };
}

/** DIST from teacher logits (§5.6): {@link distFromProbs} with `pt = softmax(z_t/τ)`. */
export function dist(zs: tf.Tensor2D, zt: tf.Tensor2D, options: DistOptions = {}): tf.Scalar {
  checkOptions(options, 'dist', '{ tau: 1 }, or leave them out');
  checkSameShape(zs, zt, 'DIST');
  const tau = options.tau ?? 1;
  checkTemperature(tau, 'DIST τ');
  return tf.tidy(() => distFromProbs(zs, tf.softmax(tf.div(zt, tau)) as tf.Tensor2D, options));
}

/**
 * Logit standardisation (Sun et al., 2024; §5.7): `(z − mean_k z) / (std_k z + eps)` per row, with
 * the **unbiased** standard deviation (divide by C−1), as PyTorch's default.
 */
export function standardizeLogits(z: tf.Tensor2D, eps = 1e-7): tf.Tensor2D {
  checkLogits(z, 'logits');
  check(Number.isFinite(eps) && eps >= 0, 'BAD_OPTION', `logit-standardisation eps ${String(eps)} is not a number ≥ 0`, 'pass a small eps such as 1e-7 (the default)');
  const C = z.shape[1];
  check(C >= 2, 'BAD_LOGITS_SHAPE', `cannot standardise ${C} logit per row`, 'standardise logits of at least 2 classes');
  return tf.tidy(() => {
    const centred = tf.sub(z, tf.mean(z, 1, true));
    // max(var, 1e-20) keeps the gradient finite for a constant row (its std is 0 either way)
    const std = tf.sqrt(tf.maximum(tf.div(tf.sum(tf.square(centred), 1, true), C - 1), 1e-20));
    return tf.div(centred, tf.add(std, eps)) as tf.Tensor2D;
  });
}

/**
 * Logit-standardised KD term `T²·KL(softmax(Z(z_t)/T) ‖ softmax(Z(z_s)/T))` (§5.7). The repo's
 * defaults weight it by 9 with CE weight 0.1 and T = 2.
 */
export function logitStdKD(zs: tf.Tensor2D, zt: tf.Tensor2D, options: { T: number; reduction?: KlReduction }): tf.Scalar {
  checkSameShape(zs, zt, 'logit-standardised KD');
  return tf.tidy(() => hintonKD(standardizeLogits(zs), standardizeLogits(zt), options));
}

/**
 * Tf-KD_reg's virtual-teacher soft labels as a `C × C` matrix (row c is the target of class c):
 * `softmax(p^d/τ)` with `p^d = a` on the true class and `(1−a)/(C−1)` elsewhere (§5.4).
 */
export function tfkdRegMatrix(numClasses: number, options: { a?: number; tau: number }): number[][] {
  checkOptions(options, 'tfkdRegMatrix', '{ tau: 20 }');
  const a = options.a ?? 0.99;
  checkTemperature(options.tau, 'Tf-KD τ');
  check(a >= 0 && a <= 1, 'BAD_OPTION', `Tf-KD a ${a} is outside [0, 1]`, 'pass a in [0, 1], e.g. 0.99');
  check(Number.isInteger(numClasses) && numClasses >= 1, 'BAD_CLASSES', `numClasses ${numClasses} is not a positive integer`, 'pass the number of classes, e.g. 10');
  const C = numClasses;
  const other = C > 1 ? (1 - a) / (C - 1) : 0;
  const eOn = Math.exp(a / options.tau);
  const eOff = Math.exp(other / options.tau);
  const Z = eOn + (C - 1) * eOff;
  return Array.from({ length: C }, (_, r) => Array.from({ length: C }, (_, c) => (r === c ? eOn : eOff) / Z));
}

/** Options of {@link tfkdRegLoss}. */
export interface TfkdRegOptions {
  /** Virtual teacher's true-class probability (default 0.99). */
  a?: number;
  /** Temperature of the virtual teacher. */
  tau: number;
  /** Weight of the KL term; CE gets `1 − α`. */
  alpha: number;
  /** Multiplier of the KL term (default 1; the repo uses 1–100 per model). */
  multiplier?: number;
  /** `1` (the code form, default) leaves the student untempered; `'tau'` divides it by τ (the paper form). */
  studentTemperature?: 1 | 'tau';
  /** KL reduction (default `'elementwise-mean'`, the code form's `nn.KLDivLoss()`). */
  reduction?: KlReduction;
}

/**
 * Tf-KD_reg (Yuan et al., 2020; §5.4): `(1−α)·CE + α·multiplier·KL(softmax(p^d/τ) ‖ softmax(z_s/T_s))`,
 * with no τ² factor. The defaults reproduce the authors' code form.
 */
export function tfkdRegLoss(zs: tf.Tensor2D, labels: tf.Tensor1D, options: TfkdRegOptions): tf.Scalar {
  checkOptions(options, 'tfkdRegLoss', '{ tau: 20, alpha: 0.1 }');
  checkAlpha(options.alpha);
  checkLogits(zs, 'student logits');
  checkLabelCount(zs, labels, 'Tf-KD_reg');
  if (options.multiplier !== undefined) checkWeight(options.multiplier, 'Tf-KD multiplier');
  check(options.studentTemperature === undefined || options.studentTemperature === 1 || options.studentTemperature === 'tau', 'BAD_OPTION',
    `studentTemperature ${String(options.studentTemperature)} is not 1 or 'tau'`, "pass studentTemperature: 1 (the code form, default) or 'tau' (the paper form)");
  const C = zs.shape[1];
  const M = tfkdRegMatrix(C, options);
  return tf.tidy(() => {
    const targets = tf.matMul(oneHotLabels(labels, C), tf.tensor2d(M)) as tf.Tensor2D;
    const Ts = options.studentTemperature === 'tau' ? options.tau : 1;
    const kl = softTargetKL(zs, targets, { T: Ts, reduction: options.reduction ?? 'elementwise-mean', scaleT2: false });
    return tf.add(tf.mul(crossEntropy(zs, labels), 1 - options.alpha), tf.mul(kl, options.alpha * (options.multiplier ?? 1))) as tf.Scalar;
  });
}

/**
 * Converts a bare "α" into explicit weights. The repos disagree on what α weights:
 * `'alpha-weights-kd'` (ReffAKD, Tf-KD: `(1−α)·CE + α·KD`) or `'alpha-weights-ce'` (torchdistill,
 * keras-io: `α·CE + (1−α)·KD`).
 */
export function weightsFromAlpha(alpha: number, convention: 'alpha-weights-kd' | 'alpha-weights-ce'): { ceWeight: number; kdWeight: number } {
  checkAlpha(alpha);
  checkChoice(convention, ['alpha-weights-kd', 'alpha-weights-ce'] as const, 'α convention',
    { fix: "say what α weights: 'alpha-weights-kd' ((1−α)·CE + α·KD, ReffAKD / Tf-KD) or 'alpha-weights-ce' (α·CE + (1−α)·KD, torchdistill)" });
  return convention === 'alpha-weights-kd' ? { ceWeight: 1 - alpha, kdWeight: alpha } : { ceWeight: alpha, kdWeight: 1 - alpha };
}
