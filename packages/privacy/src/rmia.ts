import { TrellisError, check, checkChoice } from '@trellis-ml/core';
import { checkInOut, checkKeepFlags } from './lira.js';
import { auc } from './rocMetrics.js';

/**
 * RMIA (Zarifzadeh, Liu & Shokri, ICML 2024; spec §5.2): a membership score from likelihood ratios
 * against population data. For an audit example x, `LR(x) = p(x|θ) / p(x)`, where p(·|θ) is the
 * target's probability of the true label and p(x) its average over reference models; the score is the
 * fraction of population points z with `LR(x) / LR(z) > γ`. Pure functions of probabilities.
 *
 * @module
 */

/** RMIA variants: online (IN and OUT reference models) or offline (OUT models only, with the linear correction `a`). */
export type RmiaMode = 'online' | 'offline';

/** Options of {@link rmiaScores}. */
export interface RmiaOptions {
  mode: RmiaMode;
  /** The likelihood-ratio threshold γ (default 1, ML Privacy Meter's; the paper's scripts use 2). */
  gamma?: number;
  /**
   * Offline only: `a` in `p(x) ≈ ½((1 + a)·P_out(x) + (1 − a))`, which stands in for the IN models'
   * average. Default 0.3; the paper tunes it per setting on a pair of reference models (a grid of 0,
   * 0.1, …, 1, keeping the value of the best AUC).
   */
  offlineA?: number;
}

/** One reference model's probabilities of the true label on the audit examples and on the population. */
export interface RmiaReference {
  /** p(x|θ') per audit example. */
  prob: ArrayLike<number>;
  /** 1 when the audit example was in this reference model's training set. */
  keep: ArrayLike<number>;
  /** p(z|θ') per population point (no population point is in any model's training set). */
  populationProb: ArrayLike<number>;
}

const RMIA_MODES: readonly RmiaMode[] = ['online', 'offline'];

function checkProbabilities(p: ArrayLike<number>, what: string): void {
  for (let i = 0; i < p.length; i++) {
    const v = p[i]!;
    if (!(v >= 0 && v <= 1)) {
      throw new TrellisError('NAN_SCORE', `${what}[${i}] is ${v}, not a probability`, "pass each model's softmax probability of the example's true label (Signals.confidence)");
    }
  }
}

/**
 * RMIA membership scores (higher = member), one per audit example, in [0, 1]. Online, p(x) is
 * ½(mean over IN models + mean over OUT models) and p(z) the mean over all reference models;
 * offline, both are `½((1 + a)·mean over OUT models + (1 − a))`. The score of x is the fraction of
 * population points z with `(p(x|θ)/p(x)) / (p(z|θ)/p(z)) > γ`.
 *
 * Example: one OUT reference model, offline with a = 1 (so p = P_out), γ = 1; the target gives x
 * probability 0.9 where the reference gives 0.3 (ratio 3), and the two population points ratios 1 and
 * 4: x beats one of two, so its score is 0.5.
 *
 * @throws TrellisError `NO_REFERENCE_MODELS`, `LENGTH_MISMATCH`, `BAD_KEEP_FLAG` (a keep flag other than 0
 * or 1), `NAN_SCORE` (a value that is not a probability), `NO_OUT_MODELS` / `NO_IN_MODELS` (an example with no OUT, or online no IN, model),
 * `NO_POPULATION`, `BAD_OPTION` (an unknown mode, γ ≤ 0, a ∉ [0, 1]).
 */
export function rmiaScores(targetProb: ArrayLike<number>, targetPopulationProb: ArrayLike<number>, refs: readonly RmiaReference[], options: RmiaOptions): Float64Array {
  check(options !== null && typeof options === 'object', 'BAD_OPTION', () => `RMIA got no options (got ${String(options)}), so no mode`, "pass options such as { mode: 'offline' } or { mode: 'online' }");
  checkChoice(options.mode, RMIA_MODES, 'RMIA mode');
  const gamma = options.gamma ?? 1;
  check(typeof gamma === 'number' && gamma > 0 && Number.isFinite(gamma), 'BAD_OPTION', () => `RMIA γ ${String(gamma)} is not a positive number`, 'pass gamma 1 (the library\'s default) or 2 (the paper\'s scripts)');
  const a = options.offlineA ?? 0.3;
  check(typeof a === 'number' && a >= 0 && a <= 1, 'BAD_OPTION', () => `RMIA offlineA ${String(a)} is outside [0, 1]`, 'pass a in [0, 1] (default 0.3), or tune it on a pair of reference models');
  const n = targetProb.length;
  const m = targetPopulationProb.length;
  check(refs.length > 0, 'NO_REFERENCE_MODELS', 'RMIA got no reference models', 'train one or more reference models (offline RMIA works with one OUT model)');
  check(m > 0, 'NO_POPULATION', 'RMIA got no population points', 'score the target and every reference model on population data that no model trained on');
  checkProbabilities(targetProb, 'the target probability');
  checkProbabilities(targetPopulationProb, 'the target population probability');
  for (const [r, ref] of refs.entries()) {
    if (ref.prob.length !== n || ref.keep.length !== n || ref.populationProb.length !== m) {
      throw new TrellisError('LENGTH_MISMATCH',
        `reference model ${r} has ${ref.prob.length} probabilities and ${ref.keep.length} keep flags for ${n} audit examples, and ${ref.populationProb.length} population probabilities for ${m}`,
        'score every reference model on the same audit examples and population points as the target');
    }
    checkKeepFlags(ref.keep, r);
    checkProbabilities(ref.prob, `reference model ${r}'s probability`);
    checkProbabilities(ref.populationProb, `reference model ${r}'s population probability`);
  }
  const online = options.mode === 'online';
  const offlineMarginal = (meanOut: number): number => 0.5 * ((1 + a) * meanOut + (1 - a));
  // p(z|θ) / p(z) for every population point, sorted for counting
  const ratioZ = new Float64Array(m);
  for (let z = 0; z < m; z++) {
    let sum = 0;
    for (const ref of refs) sum += ref.populationProb[z]!;
    const meanOut = sum / refs.length;
    ratioZ[z] = targetPopulationProb[z]! / (online ? meanOut : offlineMarginal(meanOut));
  }
  ratioZ.sort();
  const scores = new Float64Array(n);
  for (let x = 0; x < n; x++) {
    let sumIn = 0, nIn = 0, sumOut = 0, nOut = 0;
    for (const ref of refs) {
      if (ref.keep[x] === 1) { sumIn += ref.prob[x]!; nIn++; } else { sumOut += ref.prob[x]!; nOut++; }
    }
    checkInOut(x, nIn, nOut, online);
    const meanOut = sumOut / nOut;
    const px = online ? 0.5 * (sumIn / nIn + meanOut) : offlineMarginal(meanOut);
    // LR(x) / LR(z) > γ ⇔ LR(z) < LR(x) / γ: count the sorted population ratios strictly below
    const bound = targetProb[x]! / px / gamma;
    let lo = 0;
    let hi = m;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ratioZ[mid]! < bound) lo = mid + 1;
      else hi = mid;
    }
    scores[x] = lo / m;
  }
  return scores;
}

/** The grid `offlineA` is tuned over (the paper's: 0, 0.1, …, 1). */
export const RMIA_OFFLINE_A_GRID: readonly number[] = Array.from({ length: 11 }, (_, k) => k / 10);

/**
 * Tunes offline RMIA's `a` on a pair of reference models, as the paper does: `pseudoTarget` plays
 * the target and `reference` its one OUT reference model, on the audit examples `reference` did
 * not train on; the `a` of {@link RMIA_OFFLINE_A_GRID} with the highest AUC against
 * `pseudoTarget`'s membership wins (the smallest on ties). Neither model may be the real target.
 *
 * @throws TrellisError as {@link rmiaScores}, `LENGTH_MISMATCH` when the two models were scored on
 * different numbers of audit examples, and `ONE_CLASS_ONLY` when the examples
 * `reference` left out are all IN (or all OUT) for `pseudoTarget`.
 */
export function tuneRmiaOfflineA(pseudoTarget: RmiaReference, reference: RmiaReference, options: { gamma?: number } = {}): { a: number; auc: number } {
  const n = reference.prob.length;
  // the two models must be scored on the same audit examples: a longer pseudo-target was silently cut, a shorter one read undefined
  check(reference.keep.length === n && pseudoTarget.prob.length === n && pseudoTarget.keep.length === n, 'LENGTH_MISMATCH',
    () => `tuneRmiaOfflineA got ${pseudoTarget.prob.length} probabilities and ${pseudoTarget.keep.length} keep flags for the pseudo-target, ${n} and ${reference.keep.length} for the reference`,
    'score both models on the same audit examples (one probability and one keep flag per example)');
  const usable: number[] = [];
  for (let j = 0; j < reference.keep.length; j++) if (reference.keep[j] !== 1) usable.push(j);
  const sub = (v: ArrayLike<number>) => usable.map((j) => v[j]!);
  const labels = sub(pseudoTarget.keep);
  const ref: RmiaReference = { prob: sub(reference.prob), keep: sub(reference.keep), populationProb: reference.populationProb };
  let best = { a: NaN, auc: -Infinity };
  for (const a of RMIA_OFFLINE_A_GRID) {
    const s = rmiaScores(sub(pseudoTarget.prob), pseudoTarget.populationProb, [ref], { mode: 'offline', offlineA: a, ...(options.gamma === undefined ? {} : { gamma: options.gamma }) });
    const v = auc(s, labels);
    if (v > best.auc) best = { a, auc: v };
  }
  return best;
}

/** Options of {@link rmiaLeaveOneOut}. */
export interface RmiaLeaveOneOutOptions {
  mode: RmiaMode;
  /** γ (default 1). */
  gamma?: number;
  /**
   * Offline: a fixed `a` in [0, 1] (default 0.3), or `'tune'`: per target, {@link tuneRmiaOfflineA}
   * on the first two of its other models (needs 3 or more models).
   */
  offlineA?: number | 'tune';
  /** Use only the first k of each target's other models as references (default: all M − 1). */
  references?: number;
}

/** Result of {@link rmiaLeaveOneOut}: scores pooled over every model taken in turn as the target. */
export interface PooledRmia {
  scores: Float64Array;
  isMember: Uint8Array;
  /** How many models served as the target. */
  targets: number;
  /** Offline: the `a` used for each target (tuned or fixed); empty online. */
  offlineA: number[];
}

/**
 * RMIA under the same leave-one-out protocol as LiRA's: M models trained on random halves of one
 * audit pool and scored on the audit pool and on population points none of them trained on; each
 * model in turn is the target and (the first `references` of) the others its reference models.
 * Examples without an OUT (or, online, an IN) reference in a round are skipped.
 *
 * @throws TrellisError `TOO_FEW_MODELS` (fewer than 2, fewer than 3 when tuning `a`, or online with
 * fewer than 2 references per target), `BAD_KEEP_FLAG` (a keep flag other than 0 or 1),
 * `LENGTH_MISMATCH`, `BAD_OPTION`, and those of {@link rmiaScores}.
 */
export function rmiaLeaveOneOut(models: readonly RmiaReference[], options: RmiaLeaveOneOutOptions): PooledRmia {
  check(options !== null && typeof options === 'object', 'BAD_OPTION', () => `RMIA got no options (got ${String(options)}), so no mode`, "pass options such as { mode: 'offline', offlineA: 'tune' } or { mode: 'online' }");
  checkChoice(options.mode, RMIA_MODES, 'RMIA mode');
  const tune = options.offlineA === 'tune';
  const minModels = tune && options.mode === 'offline' ? 3 : 2;
  check(models.length >= minModels, 'TOO_FEW_MODELS', () => `leave-one-out RMIA${minModels === 3 ? ' with a tuned a' : ''} needs at least ${minModels} models, got ${models.length}`, 'train more models on random halves of the audit pool (8 or more)');
  const k = options.references ?? models.length - 1;
  check(Number.isInteger(k) && k >= 1 && k <= models.length - 1, 'BAD_OPTION', () => `references ${String(options.references)} is not an integer from 1 to ${models.length - 1} (the other models)`, 'leave references unset to use every other model');
  const n = models[0]!.prob.length;
  const m = models[0]!.populationProb.length;
  for (const [i, r] of models.entries()) {
    if (r.prob.length !== n || r.keep.length !== n || r.populationProb.length !== m) {
      throw new TrellisError('LENGTH_MISMATCH', `model ${i} has ${r.prob.length} probabilities, ${r.keep.length} keep flags and ${r.populationProb.length} population probabilities; model 0 has ${n}, ${n} and ${m}`,
        'score every model on the same audit pool and the same population points');
    }
    checkKeepFlags(r.keep, i);
  }
  check(options.mode !== 'online' || k >= 2, 'TOO_FEW_MODELS',
    () => `online leave-one-out RMIA with ${k} reference model per target can score no example (one model is never both IN and OUT)`,
    `use 2 or more references per target (3 or more models${options.references === undefined ? '' : ', references ≥ 2'}), or offline mode`);
  const gamma = options.gamma === undefined ? {} : { gamma: options.gamma };
  const scores: number[] = [];
  const isMember: number[] = [];
  const used: number[] = [];
  for (let t = 0; t < models.length; t++) {
    const others = models.filter((_, i) => i !== t);
    const refs = others.slice(0, k);
    let a: number | undefined;
    if (options.mode === 'offline') {
      a = tune ? tuneRmiaOfflineA(others[0]!, others[1]!, gamma).a : ((options.offlineA as number | undefined) ?? 0.3);
      used.push(a);
    }
    const usable: number[] = [];
    for (let j = 0; j < n; j++) {
      let hasIn = false;
      let hasOut = false;
      for (const r of refs) (r.keep[j] === 1 ? (hasIn = true) : (hasOut = true));
      if (hasOut && (hasIn || options.mode !== 'online')) usable.push(j);
    }
    const sub = (v: ArrayLike<number>) => usable.map((j) => v[j]!);
    const s = rmiaScores(sub(models[t]!.prob), models[t]!.populationProb, refs.map((r) => ({ prob: sub(r.prob), keep: sub(r.keep), populationProb: r.populationProb })),
      { mode: options.mode, ...gamma, ...(a === undefined ? {} : { offlineA: a }) });
    for (let u = 0; u < usable.length; u++) {
      scores.push(s[u]!);
      isMember.push(models[t]!.keep[usable[u]!] === 1 ? 1 : 0);
    }
  }
  return { scores: Float64Array.from(scores), isMember: Uint8Array.from(isMember), targets: models.length, offlineA: used };
}
