import { TrellisError } from '@trellis-ml/core';

/**
 * Attack metrics on membership scores. One orientation everywhere: a HIGHER score means "member".
 * `isMember[i]` is 1 for a member (positive) and 0 for a non-member (negative).
 */

/** An ROC curve: false- and true-positive rates at every distinct threshold, from (0,0) to (1,1). */
export interface RocCurve {
  fpr: Float64Array;
  tpr: Float64Array;
  /** Score thresholds: a point is "member" when its score is ≥ the threshold (first entry is +∞). */
  thresholds: Float64Array;
}

/** Counts of members (positives) and non-members (negatives) behind a metric. */
export interface PoolSize {
  members: number;
  nonMembers: number;
}

/**
 * Checks scores and membership labels: same length, no NaN score, 0/1 labels, both classes
 * present. Throws a {@link TrellisError} naming the first offending entry. Returns the counts.
 * ±Infinity scores are accepted: they rank above (below) every finite score and tie with each other.
 */
export function checkScores(scores: ArrayLike<number>, isMember: ArrayLike<number>, what = 'scores'): PoolSize {
  if (scores.length !== isMember.length) {
    throw new TrellisError('LENGTH_MISMATCH', `${scores.length} ${what} for ${isMember.length} membership labels`,
      'pass exactly one membership label (1 member, 0 non-member) per score');
  }
  let members = 0;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    if (Number.isNaN(s)) {
      throw new TrellisError('NAN_SCORE', `${what}[${i}] is NaN`,
        'compute the scores from finite model outputs (check the model for NaN logits, or clamp logs of zero probabilities)', { index: i });
    }
    const m = isMember[i]!;
    if (m !== 0 && m !== 1) {
      throw new TrellisError('BAD_MEMBERSHIP_LABEL', `membership label ${m} at ${i} is neither 0 nor 1`, 'use 1 for members and 0 for non-members', { index: i });
    }
    members += m;
  }
  const nonMembers = scores.length - members;
  if (members === 0 || nonMembers === 0) {
    throw new TrellisError('ONE_CLASS_ONLY', `the scores have ${members} members and ${nonMembers} non-members`,
      'score both members and non-members: an attack metric compares the two groups');
  }
  return { members, nonMembers };
}

/** Indices sorted by descending score. */
function descending(scores: ArrayLike<number>): Int32Array {
  const idx = new Int32Array(scores.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  return idx.sort((a, b) => scores[b]! - scores[a]!);
}

/** The ROC curve of `scores` (higher = member), one point per distinct score (ties share a point). */
export function rocCurve(scores: ArrayLike<number>, isMember: ArrayLike<number>): RocCurve {
  const { members, nonMembers } = checkScores(scores, isMember);
  const order = descending(scores);
  const fpr: number[] = [0];
  const tpr: number[] = [0];
  const thresholds: number[] = [Infinity];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    if (isMember[i] === 1) tp++;
    else fp++;
    const next = order[k + 1];
    if (next === undefined || scores[next] !== scores[i]) {
      fpr.push(fp / nonMembers);
      tpr.push(tp / members);
      thresholds.push(scores[i]!);
    }
  }
  return { fpr: Float64Array.from(fpr), tpr: Float64Array.from(tpr), thresholds: Float64Array.from(thresholds) };
}

/**
 * Area under the ROC curve by the Mann–Whitney U statistic with average ranks for ties (equals
 * sklearn's `roc_auc_score`). 0.5 is chance; 1 means every member scores above every non-member.
 */
export function auc(scores: ArrayLike<number>, isMember: ArrayLike<number>): number {
  const { members, nonMembers } = checkScores(scores, isMember);
  const n = scores.length;
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((a, b) => scores[a]! - scores[b]!);
  let rankSumMembers = 0;
  let k = 0;
  while (k < n) {
    let j = k;
    while (j + 1 < n && scores[idx[j + 1]!] === scores[idx[k]!]) j++;
    const avgRank = (k + j) / 2 + 1;
    for (let t = k; t <= j; t++) if (isMember[idx[t]!] === 1) rankSumMembers += avgRank;
    k = j + 1;
  }
  return (rankSumMembers - (members * (members + 1)) / 2) / (members * nonMembers);
}

/** Throws `BAD_FPR` unless `fpr` is a rate in (0, 1). */
function checkFpr(fpr: number): void {
  if (!(fpr > 0 && fpr < 1)) {
    throw new TrellisError('BAD_FPR', `FPR ${fpr} is outside (0, 1)`, 'ask for a rate such as 0.01 or 0.001');
  }
}

/** Non-member scores needed for a TPR at `fpr` to mean anything: 10/fpr (10 000 for 0.1 %). */
export function minNonMembersFor(fpr: number): number {
  checkFpr(fpr);
  return Math.ceil(10 / fpr - 1e-9);
}

/** Options of {@link tprAtFpr}. */
export interface TprAtFprOptions {
  /** Minimum number of non-member scores (default {@link minNonMembersFor}(fpr) = 10/fpr; 0 turns the floor off). */
  minNonMembers?: number;
}

/**
 * True-positive rate at a false-positive rate: the TPR of the last ROC point whose FPR is strictly
 * below `fpr` (LiRA's `tpr[where(fpr < α)[-1]]`). Throws `TOO_FEW_NON_MEMBERS` when fewer than
 * 10/fpr non-members are scored: below that floor the number rests on a handful of negatives.
 */
export function tprAtFpr(scores: ArrayLike<number>, isMember: ArrayLike<number>, fpr: number, options: TprAtFprOptions = {}): number {
  checkFpr(fpr);
  const { nonMembers } = checkScores(scores, isMember);
  const needed = options.minNonMembers ?? minNonMembersFor(fpr);
  if (!(typeof needed === 'number' && needed >= 0)) {
    throw new TrellisError('BAD_OPTION', `minNonMembers ${String(needed)} is not a number ≥ 0`,
      `leave it out for the 10/FPR floor (${minNonMembersFor(fpr)} here), or pass a count such as 1000 (0 turns the floor off)`);
  }
  if (nonMembers < needed) {
    throw new TrellisError('TOO_FEW_NON_MEMBERS',
      `TPR at ${fpr * 100}% FPR needs at least ${needed} non-member scores, but only ${nonMembers} were given (the rate would rest on ${(nonMembers * fpr).toFixed(1)} negatives)`,
      `pool scores over more non-members or several target models (LiRA-style: each of M models in turn is the target), or ask for a larger FPR (≥ ${(10 / nonMembers).toPrecision(2)})`,
      { fpr, nonMembers, needed });
  }
  const roc = rocCurve(scores, isMember);
  let best = 0;
  for (let k = 0; k < roc.fpr.length; k++) if (roc.fpr[k]! < fpr) best = roc.tpr[k]!;
  return best;
}

/** Balanced accuracy ½(TPR + TNR) of hard membership predictions (1 = member). */
export function balancedAccuracy(predictions: ArrayLike<number>, isMember: ArrayLike<number>): number {
  const { members, nonMembers } = checkScores(predictions, isMember, 'predictions');
  let tp = 0;
  let tn = 0;
  for (let i = 0; i < predictions.length; i++) {
    if (predictions[i] !== 0 && predictions[i] !== 1) {
      throw new TrellisError('BAD_PREDICTION', `prediction ${predictions[i]} at ${i} is neither 0 nor 1`,
        'pass hard membership predictions (1 member, 0 non-member); for scores or probabilities use auc / oracleBalancedAccuracy, or threshold them first (bestThreshold, fitThresholds)', { index: i });
    }
    if (isMember[i] === 1 && predictions[i] === 1) tp++;
    if (isMember[i] === 0 && predictions[i] === 0) tn++;
  }
  return 0.5 * (tp / members + tn / nonMembers);
}

/**
 * The best balanced accuracy over all thresholds on these very scores ("oracle" threshold, an upper
 * bound; LiRA's `max(1 − (FPR + (1 − TPR))/2)`).
 */
export function oracleBalancedAccuracy(scores: ArrayLike<number>, isMember: ArrayLike<number>): number {
  const roc = rocCurve(scores, isMember);
  let best = 0.5;
  for (let k = 0; k < roc.fpr.length; k++) best = Math.max(best, 0.5 * (roc.tpr[k]! + 1 - roc.fpr[k]!));
  return best;
}

/** Membership advantage max(TPR − FPR) over thresholds. */
export function advantage(scores: ArrayLike<number>, isMember: ArrayLike<number>): number {
  const roc = rocCurve(scores, isMember);
  let best = 0;
  for (let k = 0; k < roc.fpr.length; k++) best = Math.max(best, roc.tpr[k]! - roc.fpr[k]!);
  return best;
}

/**
 * An ROC curve thinned to at most `points` points (log-spaced in FPR, so the low-FPR region stays
 * visible on a log plot), for reports.
 */
export function thinRoc(roc: RocCurve, points = 100): Array<{ fpr: number; tpr: number }> {
  if (!(Number.isInteger(points) && points >= 2)) throw new TrellisError('BAD_OPTION', `thinRoc needs a whole number of points ≥ 2, got ${points}`, 'pass points such as 100');
  const out: Array<{ fpr: number; tpr: number }> = [];
  const n = roc.fpr.length;
  if (n <= points) {
    for (let k = 0; k < n; k++) out.push({ fpr: roc.fpr[k]!, tpr: roc.tpr[k]! });
    return out;
  }
  const minF = Math.max(1e-5, roc.fpr.find((f) => f > 0) ?? 1e-5);
  let k = 0;
  for (let p = 0; p < points; p++) {
    const target = minF * Math.pow(1 / minF, p / (points - 1));
    while (k + 1 < n && roc.fpr[k + 1]! <= target) k++;
    const last = out[out.length - 1];
    if (!last || last.fpr !== roc.fpr[k] || last.tpr !== roc.tpr[k]) out.push({ fpr: roc.fpr[k]!, tpr: roc.tpr[k]! });
  }
  return out;
}
