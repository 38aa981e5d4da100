import { TrellisError } from '@trellis-ml/core';
import { auc, advantage, balancedAccuracy, checkScores, minNonMembersFor, oracleBalancedAccuracy, rocCurve, thinRoc, tprAtFpr } from './rocMetrics.js';
import { concatSignals, type Signals } from './signals.js';
import { fitThresholds, metricScores, type MetricAttackName } from './thresholdAttack.js';

/** One attack's figures on one set of scored members / non-members. */
export interface AttackResult {
  /** Attack id, e.g. `loss`, `modifiedEntropy/class`, `shadow-nn`, `lira-online`. */
  attack: string;
  auc: number;
  /** Balanced accuracy at a threshold chosen on shadow data (null when the attack has no shadow threshold). */
  balancedAccuracy: number | null;
  /** Best balanced accuracy over thresholds on the target's own scores (upper bound). */
  oracleBalancedAccuracy: number;
  /** TPR at 1 % FPR, or null when fewer than 1 000 non-members were scored. */
  tprAt1pct: number | null;
  /** TPR at 0.1 % FPR, or null when fewer than 10 000 non-members were scored. */
  tprAt01pct: number | null;
  advantage: number;
  /** The pooled sample sizes behind these numbers. */
  members: number;
  nonMembers: number;
  /** A thinned ROC curve (for plots). */
  roc: Array<{ fpr: number; tpr: number }>;
}

function tprOrNull(scores: ArrayLike<number>, isMember: ArrayLike<number>, fpr: number, nonMembers: number): number | null {
  return nonMembers >= minNonMembersFor(fpr) ? tprAtFpr(scores, isMember, fpr) : null;
}

/**
 * Scores one attack: AUC, oracle balanced accuracy, TPR at 1 % / 0.1 % FPR (null below the
 * 10/FPR floor of non-members), advantage, ROC — and the balanced accuracy of `predictions`
 * (thresholds fitted elsewhere) when given.
 */
export function scoreAttack(attack: string, scores: ArrayLike<number>, isMember: ArrayLike<number>, predictions?: ArrayLike<number>): AttackResult {
  const { members, nonMembers } = checkScores(scores, isMember);
  return {
    attack,
    auc: auc(scores, isMember),
    balancedAccuracy: predictions ? balancedAccuracy(predictions, isMember) : null,
    oracleBalancedAccuracy: oracleBalancedAccuracy(scores, isMember),
    tprAt1pct: tprOrNull(scores, isMember, 0.01, nonMembers),
    tprAt01pct: tprOrNull(scores, isMember, 0.001, nonMembers),
    advantage: advantage(scores, isMember),
    members,
    nonMembers,
    roc: thinRoc(rocCurve(scores, isMember)),
  };
}

/** Membership labels for members followed by non-members (`members` ones, then `nonMembers` zeros). */
export function membershipLabels(members: number, nonMembers: number): Uint8Array {
  for (const [what, n] of [['members', members], ['nonMembers', nonMembers]] as const) {
    if (!(Number.isInteger(n) && n >= 0)) {
      throw new TrellisError('BAD_OPTION', `membershipLabels got ${what} = ${String(n)}, not a whole number ≥ 0`, 'pass the counts of member and non-member scores, e.g. signals.labels.length');
    }
  }
  const y = new Uint8Array(members + nonMembers);
  y.fill(1, 0, members);
  return y;
}

/** Options of {@link metricAttackSuite}. */
export interface MetricSuiteOptions {
  /** Target model's signals on its members and non-members. */
  targetIn: Signals;
  targetOut: Signals;
  /** Shadow models' signals on their own members / non-members (same defense and recipe). */
  shadowIn: readonly Signals[];
  shadowOut: readonly Signals[];
  /** Attacks to run (default loss, confidence, entropy, modifiedEntropy). */
  attacks?: MetricAttackName[];
  /** Threshold granularity: global, per class, or both (default both). */
  granularity?: Array<'global' | 'class'>;
}

/**
 * The metric (threshold) attacks on a target: thresholds fitted on the shadows (global → id
 * `<name>`, per class → `<name>/class`), balanced accuracy on the target's members vs
 * non-members, plus AUC / TPR@FPR of the raw score.
 */
export function metricAttackSuite(options: MetricSuiteOptions): AttackResult[] {
  if (options === null || typeof options !== 'object') {
    throw new TrellisError('BAD_OPTION', `metricAttackSuite needs an options object, got ${String(options)}`, 'pass { targetIn, targetOut, shadowIn: [...], shadowOut: [...] }');
  }
  const attacks = options.attacks ?? ['loss', 'confidence', 'entropy', 'modifiedEntropy'];
  const gran = options.granularity ?? ['global', 'class'];
  // a bare string would be iterated letter by letter ("no metric attack named "l"", "granularity "c"")
  if (!Array.isArray(attacks)) throw new TrellisError('BAD_OPTION', `metricAttackSuite attacks ${JSON.stringify(attacks)} is not a list`, "pass a list of attack names, e.g. ['loss', 'modifiedEntropy']");
  if (!Array.isArray(gran)) throw new TrellisError('BAD_OPTION', `threshold granularity ${JSON.stringify(gran)} is not a list`, "pass granularity as a list of 'global' and/or 'class' (default both)");
  for (const g of gran) {
    if (g !== 'global' && g !== 'class') {
      throw new TrellisError('BAD_OPTION', `threshold granularity "${String(g)}" is neither 'global' nor 'class'`, "pass granularity as a list of 'global' and/or 'class' (default both)");
    }
  }
  const target = concatSignals([options.targetIn, options.targetOut]);
  const isMember = membershipLabels(options.targetIn.labels.length, options.targetOut.labels.length);
  const sIn = concatSignals(options.shadowIn);
  const sOut = concatSignals(options.shadowOut);
  const out: AttackResult[] = [];
  for (const name of attacks) {
    const scores = metricScores(target, name);
    for (const g of gran) {
      const fitted = fitThresholds(sIn, sOut, name, { perClass: g === 'class' });
      out.push(scoreAttack(g === 'class' ? `${name}/class` : name, scores, isMember, fitted.predict(target)));
    }
  }
  return out;
}

/** Member vs non-member feature-magnitude disparity (the SRCM premise). */
export interface FeatureNormDisparity {
  memberMean: number;
  nonMemberMean: number;
  /** AUC of ‖feature‖ as a membership score (0.5 = no disparity; > 0.5: members larger). */
  auc: number;
}

/** Feature-norm disparity between members and non-members, or null when the signals carry no norms. */
export function featureNormDisparity(members: Signals, nonMembers: Signals): FeatureNormDisparity | null {
  if (!members.featureNorm || !nonMembers.featureNorm) return null;
  const mean = (a: Float64Array) => a.reduce((s, v) => s + v, 0) / Math.max(1, a.length);
  const scores = new Float64Array(members.featureNorm.length + nonMembers.featureNorm.length);
  scores.set(members.featureNorm);
  scores.set(nonMembers.featureNorm, members.featureNorm.length);
  return {
    memberMean: mean(members.featureNorm),
    nonMemberMean: mean(nonMembers.featureNorm),
    auc: auc(scores, membershipLabels(members.featureNorm.length, nonMembers.featureNorm.length)),
  };
}

/** Convenience: the raw `metricScores` of members followed by non-members. */
export function pooledMetricScores(members: Signals, nonMembers: Signals, name: MetricAttackName): { scores: Float64Array; isMember: Uint8Array } {
  return { scores: metricScores(concatSignals([members, nonMembers]), name), isMember: membershipLabels(members.labels.length, nonMembers.labels.length) };
}
