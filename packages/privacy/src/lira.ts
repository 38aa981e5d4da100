import { TrellisError, check, checkChoice, median } from '@trellis-ml/core';

/** LiRA variants (Carlini et al. 2022): online (IN and OUT models), offline (OUT only; two-sided log-density as in the reference code, or the paper's one-sided test). */
export type LiraMode = 'online' | 'offline' | 'offline-onesided';

/** Options of {@link liraScores}. */
export interface LiraOptions {
  mode: LiraMode;
  /** One global standard deviation (over all examples) instead of per-example ones — better with few reference models. */
  fixedVariance?: boolean;
}

/** One reference model's view of the audit pool: φ per example and whether the example was in its training set. */
export interface LiraReference {
  /** Logit-scaled confidence φ (see `Signals.scaledLogit`), one per audit example. */
  phi: ArrayLike<number>;
  /** 1 when the example was in this reference model's training set. */
  keep: ArrayLike<number>;
}

const LIRA_MODES: readonly LiraMode[] = ['online', 'offline', 'offline-onesided'];

/**
 * Throws `NO_OUT_MODELS` when audit example `j` has no OUT reference model, or (`needIn`, the online
 * attacks) `NO_IN_MODELS` when it has no IN one: the reference-model check LiRA and RMIA share.
 */
export function checkInOut(j: number, ins: number, outs: number, needIn: boolean): void {
  if (outs === 0) {
    throw new TrellisError('NO_OUT_MODELS', `audit example ${j} was in the training set of every reference model`, 'train more reference models, each on a random half of the audit pool');
  }
  if (needIn && ins === 0) {
    throw new TrellisError('NO_IN_MODELS', `audit example ${j} was in the training set of no reference model`, 'train more reference models (each example should be IN for about half of them), or use offline mode');
  }
}

/** Throws `BAD_OPTION` unless `options.mode` is one of the LiRA modes (a typo would silently run another test) and `fixedVariance` is a boolean. */
function checkLiraOptions(options: LiraOptions | undefined): void {
  const fix = "pass options such as { mode: 'online' } (or 'offline', 'offline-onesided'), optionally with fixedVariance: true";
  check(options !== null && typeof options === 'object', 'BAD_OPTION', () => `LiRA got no options (got ${String(options)}), so no mode`, fix);
  checkChoice(options.mode, LIRA_MODES, 'LiRA mode', { fix });
  check(options.fixedVariance === undefined || typeof options.fixedVariance === 'boolean', 'BAD_OPTION',
    () => `LiRA fixedVariance ${JSON.stringify(options.fixedVariance)} is not a boolean`, 'pass fixedVariance: true or false (or leave it out: per-example variances)');
}

/**
 * Throws `BAD_KEEP_FLAG` unless every keep flag of reference model `m` is 0 or 1 (LiRA and RMIA
 * would otherwise read a stray value differently: NaN as OUT, 0.5 as IN, or `true` as OUT).
 */
export function checkKeepFlags(keep: ArrayLike<number>, m: number): void {
  for (let j = 0; j < keep.length; j++) {
    const k = keep[j];
    if (k !== 0 && k !== 1) {
      throw new TrellisError('BAD_KEEP_FLAG', `keep flag ${String(k)} of reference model ${m} at audit example ${j} is neither 0 nor 1`,
        'pass 1 when the example was in that model\'s training set and 0 when not (a Uint8Array, as liraKeepMasks returns)', { model: m, index: j });
    }
  }
}

/** Online attacks need an IN and an OUT reference per example: two or more references, so three or more models under leave-one-out. */
function checkOnlineModels(mode: string, references: number, what: string): void {
  check(mode !== 'online' || references >= 2, 'TOO_FEW_MODELS',
    () => `online ${what} with ${references} reference model per target can score no example (one model is never both IN and OUT)`,
    `train 3 or more models (each target then has 2 or more references), or use offline mode`);
}

function std(values: number[]): number {
  if (values.length === 0) return NaN;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
}

function logNormalPdf(x: number, mu: number, sigma: number): number {
  return -0.5 * ((x - mu) / sigma) ** 2 - Math.log(sigma) - 0.5 * Math.log(2 * Math.PI);
}

/**
 * log Φ(z) for the standard normal, from one erfc approximation in log space: log(½·erfc(−z/√2)) below
 * 0 and log1p(−½·erfc(z/√2)) above. It keeps increasing far into both tails: log(Φ(z)) would round
 * to 0 from z ≈ 8.3 and tie every score above, and an asymptotic branch below z = −5 jumped by
 * 7.9e-4 at its seam. It reaches 0 only where ½·erfc(z/√2) underflows (z ≈ 38).
 */
function logNormalCdf(z: number): number {
  return z < 0 ? Math.log(0.5) + logErfc(-z / Math.SQRT2) : Math.log1p(-0.5 * Math.exp(logErfc(z / Math.SQRT2)));
}

/** log erfc(x) for x ≥ 0 (Numerical Recipes' erfcc taken in log space, |relative error of erfc| < 1.2e-7). */
function logErfc(x: number): number {
  const t = 1 / (1 + 0.5 * x);
  return Math.log(t) - x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
}

/**
 * LiRA membership scores (higher = member) of a target's φ values, one per audit example, from
 * reference models. Online: log N(φ; μ_in, σ_in) − log N(φ; μ_out, σ_out) with medians μ and
 * standard deviations σ over the IN / OUT reference models of each example. Offline (as in the
 * reference code): −log N(φ; μ_out, σ_out), two-sided (far from the OUT distribution ⇒ member);
 * offline-onesided (the paper's test): log Φ((φ − μ_out)/σ_out). With `fixedVariance`, online
 * uses the global std of the IN values for both Gaussians (the reference code's choice) and
 * offline the global std of the OUT values.
 * Throws when an example has no OUT (or, online, no IN) reference model (`NO_OUT_MODELS` /
 * `NO_IN_MODELS`), and `BAD_KEEP_FLAG` for a keep flag other than 0 or 1.
 */
export function liraScores(targetPhi: ArrayLike<number>, refs: readonly LiraReference[], options: LiraOptions): Float64Array {
  checkLiraOptions(options);
  const n = targetPhi.length;
  if (refs.length === 0) throw new TrellisError('NO_REFERENCE_MODELS', 'LiRA got no reference models', 'train reference models on random halves of the audit pool (8 or more)');
  for (const [m, r] of refs.entries()) {
    if (r.phi.length !== n || r.keep.length !== n) {
      throw new TrellisError('LENGTH_MISMATCH', `reference model ${m} has ${r.phi.length} φ values and ${r.keep.length} keep flags for ${n} target values`, 'score every reference model on the same audit pool as the target');
    }
    checkKeepFlags(r.keep, m);
  }
  for (let j = 0; j < n; j++) {
    if (!Number.isFinite(targetPhi[j]!)) throw new TrellisError('NAN_SCORE', `target φ[${j}] is ${targetPhi[j]}`, 'compute φ from finite logits');
  }
  const online = options.mode === 'online';
  const ins: number[][] = [];
  const outs: number[][] = [];
  for (let j = 0; j < n; j++) {
    const a: number[] = [];
    const b: number[] = [];
    for (const r of refs) {
      const v = r.phi[j]!;
      if (!Number.isFinite(v)) throw new TrellisError('NAN_SCORE', `a reference model's φ[${j}] is ${v}`, 'drop the diverged reference model or retrain it');
      (r.keep[j] ? a : b).push(v);
    }
    checkInOut(j, a.length, b.length, online);
    ins.push(a);
    outs.push(b);
  }
  const floor = 1e-30;
  let globalIn = NaN;
  let globalOut = NaN;
  if (options.fixedVariance) {
    globalIn = online ? std(ins.flat()) : NaN;
    globalOut = online ? globalIn : std(outs.flat());
  }
  const scores = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const x = targetPhi[j]!;
    const muOut = median(outs[j]!);
    const sdOut = Math.max(options.fixedVariance ? globalOut : std(outs[j]!), floor);
    if (online) {
      const muIn = median(ins[j]!);
      const sdIn = Math.max(options.fixedVariance ? globalIn : std(ins[j]!), floor);
      scores[j] = logNormalPdf(x, muIn, sdIn) - logNormalPdf(x, muOut, sdOut);
    } else if (options.mode === 'offline') {
      scores[j] = -logNormalPdf(x, muOut, sdOut);
    } else {
      scores[j] = logNormalCdf((x - muOut) / sdOut);
    }
  }
  return scores;
}

/** Result of {@link liraLeaveOneOut}: scores pooled over every model taken in turn as the target. */
export interface PooledLira {
  scores: Float64Array;
  isMember: Uint8Array;
  /** How many models served as the target. */
  targets: number;
}

/**
 * The LiRA evaluation protocol at small scale: M models trained on random halves of one audit
 * pool; each model in turn is the target and the other M − 1 are its references. Scores and
 * membership labels are pooled over all targets (M × pool size pairs), which is what makes
 * TPR at 0.1 % FPR measurable. Examples without OUT (or IN, online) references in a round are skipped.
 * Online needs 3 or more models (`TOO_FEW_MODELS` otherwise: with one reference no example has both).
 */
export function liraLeaveOneOut(models: readonly LiraReference[], options: LiraOptions): PooledLira {
  checkLiraOptions(options);
  if (models.length < 2) throw new TrellisError('TOO_FEW_MODELS', `leave-one-out LiRA needs at least 2 models, got ${models.length}`, 'train 8 or more models on random halves of the audit pool');
  const scores: number[] = [];
  const isMember: number[] = [];
  const n = models[0]!.phi.length;
  for (const [m, r] of models.entries()) {
    if (r.phi.length !== n || r.keep.length !== n) {
      throw new TrellisError('LENGTH_MISMATCH', `model ${m} has ${r.phi.length} φ values and ${r.keep.length} keep flags, model 0 has ${n} φ values`,
        'score every model on the same audit pool (one φ and one keep flag per audit example)');
    }
    checkKeepFlags(r.keep, m);
  }
  checkOnlineModels(options.mode, models.length - 1, 'leave-one-out LiRA');
  for (let t = 0; t < models.length; t++) {
    const refs = models.filter((_, m) => m !== t);
    const usable: number[] = [];
    for (let j = 0; j < n; j++) {
      let hasIn = false;
      let hasOut = false;
      for (const r of refs) (r.keep[j] ? (hasIn = true) : (hasOut = true));
      if (hasOut && (hasIn || options.mode !== 'online')) usable.push(j);
    }
    const sub = (a: ArrayLike<number>) => usable.map((j) => a[j]!);
    const s = liraScores(sub(models[t]!.phi), refs.map((r) => ({ phi: sub(r.phi), keep: sub(r.keep) })), options);
    for (let u = 0; u < usable.length; u++) {
      scores.push(s[u]!);
      isMember.push(models[t]!.keep[usable[u]!] ? 1 : 0);
    }
  }
  return { scores: Float64Array.from(scores), isMember: Uint8Array.from(isMember), targets: models.length };
}
