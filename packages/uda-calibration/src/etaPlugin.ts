/**
 * ETA / EATA as a core Trainer plugin: entropy minimisation on reliable, non-redundant samples,
 * BatchNorm scale and shift only; with a Fisher term it is EATA.
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, type Dataset, type TrainerPlugin } from '@trellis-ml/core';
import { diagonalFisher, fisherPenalty, type FisherAnchor } from './eataFisher.js';
import { AdaptedModel, batchNormVariables } from './models.js';
import { etaLoss, etaSelect, rowEntropy, type EtaSelection } from './objectives.js';
import { checkBatch, claimAdaptation, skippedStepGuard } from './pluginGuards.js';

/** Options of {@link eta}. */
export interface EtaOptions {
  /** Plugin name (default `eta`, or `eata` with a Fisher term). */
  name?: string;
  /** Entropy threshold as a fraction of `ln K` (default 0.4). */
  e0Factor?: number;
  /**
   * Redundancy filter threshold on `|cos(p_i, m)|`; `null` disables it. Default 0.4: the paper's
   * 0.05 (for 1,000 classes) rejects almost every sample with 10 classes.
   */
  redundancyEps?: number | null;
  /** EMA momentum of the mean kept prediction `m` (default 0.9). */
  emaMomentum?: number;
  /**
   * EATA's anti-forgetting term `α·Σ F_j (θ_j − θ_j^src)²`, with a diagonal Fisher from clean
   * source inputs (their labels are not used: the model's own argmax is the target).
   */
  fisher?: { data: Dataset; alpha?: number; samples?: number; batchSize?: number };
}

/** JSON state of {@link eta}. */
export interface EtaState {
  ema: number[] | null;
  kept: number;
  seen: number;
}

/**
 * The next EMA of the mean kept prediction: the mean of the kept rows of the `n × k` host
 * probabilities `p`, blended as `momentum·ema + (1 − momentum)·mean` (the mean itself when there is
 * no EMA yet). Call only when `sel.kept > 0`.
 */
function nextEma(ema: Float32Array | null, p: Float32Array, sel: EtaSelection, k: number, momentum: number): Float32Array {
  const mean = new Float32Array(k);
  for (let i = 0; i < sel.mask.length; i++) if (sel.mask[i]) for (let j = 0; j < k; j++) mean[j]! += p[i * k + j]! / sel.kept;
  return ema ? ema.map((v, j) => momentum * v + (1 - momentum) * mean[j]!) : mean;
}

/**
 * Throws `BAD_OPTION` for an ETA/EATA setting that would silently keep no sample (a non-positive or
 * NaN entropy threshold, a negative redundancy threshold), let the EMA diverge (momentum outside
 * [0, 1)), or turn the Fisher term around (a negative α) or read no source data.
 */
function checkEtaOptions(e0Factor: number, redundancyEps: number | null, momentum: number, fisher: EtaOptions['fisher'], alpha: number): void {
  check(Number.isFinite(e0Factor) && e0Factor > 0, 'BAD_OPTION', `ETA's entropy threshold e0Factor ${String(e0Factor)} is not a positive number`,
    'pass e0Factor such as 0.4 (the threshold is e0Factor·ln K)');
  check(redundancyEps === null || (Number.isFinite(redundancyEps) && redundancyEps >= 0), 'BAD_OPTION',
    `ETA's redundancy threshold ${String(redundancyEps)} is not a number ≥ 0`, 'pass redundancyEps such as 0.4, or null to turn the filter off');
  check(Number.isFinite(momentum) && momentum >= 0 && momentum < 1, 'BAD_OPTION', `ETA's EMA momentum ${String(momentum)} is outside [0, 1)`, 'pass emaMomentum such as 0.9');
  if (fisher === undefined) return;
  check(fisher !== null && typeof fisher === 'object' && fisher.data != null, 'BAD_OPTION', "EATA's fisher option has no source `data`",
    'pass fisher: { data: <clean source inputs> } (their labels are not read), or leave fisher out for ETA');
  check(Number.isFinite(alpha) && alpha >= 0, 'BAD_OPTION', `EATA's Fisher weight alpha ${String(alpha)} is not a number ≥ 0`, 'pass alpha such as 2000 (the default)');
  for (const key of ['samples', 'batchSize'] as const) {
    const v = fisher[key];
    check(v === undefined || (Number.isInteger(v) && v >= 1), 'BAD_OPTION', `EATA's fisher.${key} ${String(v)} is not a whole number ≥ 1`,
      key === 'samples' ? 'pass samples such as 500 (the default)' : 'pass batchSize such as 64 (the default)');
  }
}

/**
 * ETA / EATA (Niu et al., ICML 2022): entropy minimisation on reliable (entropy below
 * `e0Factor·ln K`) and non-redundant samples, weighted by `exp(−(H − E0))`; BatchNorm affine only,
 * batch statistics. With `fisher` it is EATA.
 *
 * A batch where no sample is kept makes no update (as in the reference, which skips the optimizer
 * step): the plugin restores the BatchNorm scale and shift after the Trainer's step, because a
 * zero gradient still moves the weights under Adam or momentum. The optimizer's own state (Adam
 * moments) still advances in a plain Trainer; {@link createAdaptation} also skips the optimizer
 * step itself (`skipsUpdate()` tells whether the last batch kept nothing). The options are checked
 * when the plugin is built (`BAD_OPTION`).
 */
export function eta(options: EtaOptions = {}): TrainerPlugin<EtaState> & { state(): EtaState; skipsUpdate(): boolean } {
  const e0Factor = options.e0Factor ?? 0.4;
  const redundancyEps = options.redundancyEps === undefined ? 0.4 : options.redundancyEps;
  const momentum = options.emaMomentum ?? 0.9;
  let ema: Float32Array | null = null;
  let kept = 0;
  let seen = 0;
  let last: EtaSelection | null = null;
  let fisher: FisherAnchor | null = null;
  let affine: Record<string, tf.Variable> = {};
  /** Holds the BatchNorm affine weights before a step that keeps no sample (restored after it). */
  const guard = skippedStepGuard();
  const alpha = options.fisher?.alpha ?? 2000;
  checkEtaOptions(e0Factor, redundancyEps, momentum, options.fisher, alpha);

  const name = options.name ?? (options.fisher ? 'eata' : 'eta');
  return {
    name,
    apiVersion: 1,
    setup(ctx) {
      claimAdaptation(ctx, name, options.fisher ? 'EATA' : 'ETA');
    },
    wrapModel(model) {
      const bn = batchNormVariables(model, options.fisher ? 'EATA' : 'ETA');
      affine = bn.affine;
      const wrapped = new AdaptedModel(model, { trainable: (n) => n in bn.affine, normalization: 'batch' });
      if (options.fisher) fisher = diagonalFisher(wrapped, affine, options.fisher.data, { samples: options.fisher.samples, batchSize: options.fisher.batchSize });
      return wrapped;
    },
    onBatchStart: (ctx) => checkBatch(ctx, name),
    lossTerms(outputs) {
      const k = outputs.logits.shape[outputs.logits.shape.length - 1]!;
      const [probs, ent] = tf.tidy(() => [tf.softmax(outputs.logits), rowEntropy(outputs.logits)]);
      const p = probs!.dataSync() as Float32Array;
      const h = ent!.dataSync() as Float32Array;
      tf.dispose([probs!, ent!]);
      const sel = etaSelect(p, h, k, e0Factor * Math.log(k), ema, redundancyEps);
      last = sel;
      guard.release();
      if (sel.kept === 0) guard.hold(Object.values(affine));
      if (sel.kept > 0) ema = nextEma(ema, p, sel, k, momentum);
      kept += sel.kept;
      seen += sel.mask.length;
      const terms: Record<string, tf.Scalar> = { entropy: etaLoss(outputs.logits, sel) };
      if (fisher) terms.fisher = fisherPenalty(affine, fisher, alpha);
      return terms;
    },
    transformGradients(grads) {
      return last && last.kept === 0 ? {} : grads;
    },
    afterApply() {
      guard.restore();
    },
    onBatchEnd(ctx) {
      if (last) ctx.logs[`${options.fisher ? 'eata' : 'eta'}/kept`] = last.kept;
    },
    skipsUpdate: () => last !== null && last.kept === 0,
    state: () => ({ ema: ema ? Array.from(ema) : null, kept, seen }),
    getState: () => ({ ema: ema ? Array.from(ema) : null, kept, seen }),
    setState(s) {
      ema = s.ema ? Float32Array.from(s.ema) : null;
      kept = s.kept;
      seen = s.seen;
    },
    dispose() {
      guard.release();
      tf.dispose([...Object.values(fisher?.fisher ?? {}), ...Object.values(fisher?.anchor ?? {})]);
      fisher = null;
    },
  };
}
