import { TrellisError } from '@trellis-ml/core';
import { checkScores } from './rocMetrics.js';
import type { Signals } from './signals.js';

/** The metric (threshold) attacks of Song & Mittal 2021, plus correctness and feature norm. */
export type MetricAttackName = 'loss' | 'confidence' | 'entropy' | 'modifiedEntropy' | 'correctness' | 'featureNorm';

/** All metric attack names. */
export const METRIC_ATTACKS: readonly MetricAttackName[] = ['loss', 'confidence', 'entropy', 'modifiedEntropy', 'correctness', 'featureNorm'];

/**
 * Membership scores oriented "higher = member": −loss, confidence, −entropy, −modified entropy,
 * correctness (0/1), feature norm (larger norm ⇒ member, the SRCM premise).
 */
export function metricScores(s: Signals, name: MetricAttackName): Float64Array {
  const neg = (a: Float64Array): Float64Array => a.map((v) => -v);
  switch (name) {
    case 'loss': return neg(s.loss);
    case 'confidence': return Float64Array.from(s.confidence);
    case 'entropy': return neg(s.entropy);
    case 'modifiedEntropy': return neg(s.modifiedEntropy);
    case 'correctness': return Float64Array.from(s.correct);
    case 'featureNorm':
      if (!s.featureNorm) {
        throw new TrellisError('NO_FEATURE_NORM', 'these signals carry no feature norm',
          'compute the signals with `featureTap` set to the representation to measure (computeSignals(model, ds, { featureTap }))');
      }
      return Float64Array.from(s.featureNorm);
    default:
      throw new TrellisError('UNKNOWN_ATTACK', `no metric attack named "${String(name)}"`, `use one of ${METRIC_ATTACKS.join(', ')}`);
  }
}

/**
 * The threshold maximising ½(TPR + TNR) for "member iff score ≥ τ", scanning every observed score
 * from the highest down; when several τ reach the best balanced accuracy, the largest of them is kept
 * (Song & Mittal's `_thre_setting` keeps the first in its data order instead). Returns τ and the
 * balanced accuracy it reaches; when no threshold beats chance (e.g. all scores equal) it returns
 * τ = +∞ with 0.5, i.e. "nobody is a member".
 */
export function bestThreshold(scores: ArrayLike<number>, isMember: ArrayLike<number>): { threshold: number; balancedAccuracy: number } {
  const { members, nonMembers } = checkScores(scores, isMember);
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let tp = 0;
  let fp = 0;
  let best = { threshold: Infinity, balancedAccuracy: 0.5 };
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k]!;
    if (isMember[i] === 1) tp++;
    else fp++;
    const next = idx[k + 1];
    if (next !== undefined && scores[next] === scores[i]) continue;
    const ba = 0.5 * (tp / members + 1 - fp / nonMembers);
    if (ba > best.balancedAccuracy) best = { threshold: scores[i]!, balancedAccuracy: ba };
  }
  return best;
}

/** A fitted threshold attack: one threshold, or one per class. */
export interface ThresholdAttack {
  name: MetricAttackName;
  perClass: boolean;
  /**
   * Length 1 (global) or numClasses (per class; a class the shadow data lacks on either side — no
   * shadow member or no shadow non-member of that class — falls back to the global threshold).
   */
  thresholds: Float64Array;
  /** Hard predictions (1 = member) for each example of `s`. */
  predict(s: Signals): Uint8Array;
}

/**
 * Fits a threshold attack on shadow members (`shadowIn`) and non-members (`shadowOut`): per class
 * (Song & Mittal, the CRL/SRCM protocol) or one global threshold. Pass several shadows' signals
 * concatenated (see `concatSignals`).
 */
export function fitThresholds(shadowIn: Signals, shadowOut: Signals, name: MetricAttackName, options: { perClass?: boolean } = {}): ThresholdAttack {
  if (options === null || typeof options !== 'object' || (options.perClass !== undefined && typeof options.perClass !== 'boolean')) {
    throw new TrellisError('BAD_OPTION', `fitThresholds perClass ${JSON.stringify(options?.perClass)} is not a boolean`, 'pass { perClass: true } (per-class thresholds, the default) or { perClass: false } (one global threshold)');
  }
  const perClass = options.perClass ?? true;
  if (shadowOut.numClasses !== shadowIn.numClasses) {
    throw new TrellisError('CLASS_COUNT_MISMATCH', `shadow members' signals have ${shadowIn.numClasses} classes, non-members' ${shadowOut.numClasses}`, 'fit on the same shadow models\' outputs for members and non-members');
  }
  const sIn = metricScores(shadowIn, name);
  const sOut = metricScores(shadowOut, name);
  const all = new Float64Array(sIn.length + sOut.length);
  all.set(sIn);
  all.set(sOut, sIn.length);
  const isMember = new Uint8Array(all.length);
  isMember.fill(1, 0, sIn.length);
  const global = bestThreshold(all, isMember).threshold;
  const k = shadowIn.numClasses;
  let thresholds: Float64Array;
  if (!perClass) thresholds = Float64Array.of(global);
  else {
    thresholds = new Float64Array(k).fill(global);
    const labels = new Int32Array(all.length);
    labels.set(shadowIn.labels);
    labels.set(shadowOut.labels, sIn.length);
    for (let c = 0; c < k; c++) {
      const sel: number[] = [];
      for (let i = 0; i < all.length; i++) if (labels[i] === c) sel.push(i);
      const m = sel.reduce((s, i) => s + isMember[i]!, 0);
      if (m === 0 || m === sel.length) continue;
      thresholds[c] = bestThreshold(sel.map((i) => all[i]!), sel.map((i) => isMember[i]!)).threshold;
    }
  }
  return {
    name,
    perClass,
    thresholds,
    predict: (s: Signals): Uint8Array => {
      if (perClass && s.numClasses !== k) {
        throw new TrellisError('CLASS_COUNT_MISMATCH', `signals have ${s.numClasses} classes, the per-class thresholds were fitted on ${k}`,
          'attack a target with the same classes as the shadow models (or fit a global threshold: perClass false)');
      }
      const scores = metricScores(s, name);
      const out = new Uint8Array(scores.length);
      for (let i = 0; i < scores.length; i++) {
        const t = perClass ? thresholds[s.labels[i]!]! : thresholds[0]!;
        out[i] = scores[i]! >= t ? 1 : 0;
      }
      return out;
    },
  };
}
