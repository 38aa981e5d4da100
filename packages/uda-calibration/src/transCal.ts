/**
 * TransCal (Wang et al., NeurIPS 2020; spec §3, optional): post-hoc calibration for an unlabeled
 * target domain. A logistic-regression domain classifier on features gives each labelled source
 * validation example an importance weight `w = P(target | h) / P(source | h)`; the weighted source
 * error, with two control variates, estimates the target accuracy; the temperature `T ≥ 1` is the one
 * whose mean target confidence equals that estimate. Pure functions; {@link transCal} runs them in the
 * reference's order.
 *
 * @module
 */
import { Rng, check, softmaxRows64 } from '@trellis-ml/core';
import { assertFiniteLogits, topConfidences } from './calibration.js';
import { rowArgmax } from './hostLogits.js';
import { applyTemperature, fitTemperature } from './temperatureScaling.js';

/** A fitted binary logistic regression `P(y = 1 | x) = σ(w·x + b)`. */
export interface LogisticModel {
  weights: Float64Array;
  bias: number;
  /** Newton iterations run. */
  iterations: number;
}

/** Options of {@link fitLogisticRegression}. */
export interface LogisticOptions {
  /** L2 penalty on the weights (not the bias): minimises `Σ log-loss + l2 · ½‖w‖²` (default 1: scikit-learn's C = 1). */
  l2?: number;
  /** Most Newton iterations (default 100). */
  maxIterations?: number;
  /** Stop when the largest step component is below this (default 1e-10). */
  tolerance?: number;
}

/**
 * L2-regularised binary logistic regression by Newton's method (the objective is strictly convex,
 * so it converges to the one minimum; each step solves the `(d + 1)²` system by Cholesky).
 * `x` is `n × d` row-major, `y` holds 0/1.
 */
export function fitLogisticRegression(x: ArrayLike<number>, y: ArrayLike<number>, d: number, options: LogisticOptions = {}): LogisticModel {
  const n = y.length;
  check(Number.isInteger(d) && d > 0 && n > 0 && x.length === n * d, 'BAD_SHAPE', `${x.length} feature values do not form ${n} rows of ${d}`, 'pass n × d row-major features and n labels');
  for (let i = 0; i < n; i++) check(y[i] === 0 || y[i] === 1, 'BAD_LABEL', `label ${y[i]} at row ${i} is not 0 or 1`, 'pass binary labels');
  for (let i = 0; i < x.length; i++) check(Number.isFinite(x[i]!), 'NON_FINITE_FEATURES', `feature value ${x[i]} at index ${i} is not finite`, 'check the model for NaN activations');
  const l2 = options.l2 ?? 1;
  check(l2 > 0, 'BAD_OPTION', `l2 ${l2} is not positive`, 'pass l2 > 0 (it keeps separable domains from diverging)');
  const m = d + 1;
  const theta = new Float64Array(m);
  const grad = new Float64Array(m);
  const hess = new Float64Array(m * m);
  const row = new Float64Array(m);
  let it = 0;
  for (; it < (options.maxIterations ?? 100); it++) {
    grad.fill(0);
    hess.fill(0);
    for (let i = 0; i < n; i++) {
      let z = theta[d]!;
      for (let j = 0; j < d; j++) {
        row[j] = x[i * d + j]!;
        z += theta[j]! * row[j]!;
      }
      row[d] = 1;
      const p = 1 / (1 + Math.exp(-z));
      const r = p - y[i]!;
      const s = p * (1 - p);
      for (let a = 0; a < m; a++) {
        grad[a] = grad[a]! + r * row[a]!;
        const sa = s * row[a]!;
        for (let b = 0; b <= a; b++) hess[a * m + b] = hess[a * m + b]! + sa * row[b]!;
      }
    }
    for (let j = 0; j < d; j++) {
      grad[j] = grad[j]! + l2 * theta[j]!;
      hess[j * m + j] = hess[j * m + j]! + l2;
    }
    const step = choleskySolve(hess, grad, m);
    let biggest = 0;
    for (let a = 0; a < m; a++) {
      theta[a] = theta[a]! - step[a]!;
      biggest = Math.max(biggest, Math.abs(step[a]!));
    }
    if (biggest < (options.tolerance ?? 1e-10)) {
      it++;
      break;
    }
  }
  return { weights: theta.slice(0, d), bias: theta[d]!, iterations: it };
}

/** Solves `A s = g` for symmetric positive definite `A` (lower triangle filled) by Cholesky. */
function choleskySolve(a: Float64Array, g: Float64Array, m: number): Float64Array {
  const l = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * m + j]!;
      for (let k = 0; k < j; k++) s -= l[i * m + k]! * l[j * m + k]!;
      if (i === j) {
        check(s > 0, 'SINGULAR', 'the logistic regression Hessian is not positive definite', 'pass l2 > 0');
        l[i * m + i] = Math.sqrt(s);
      } else l[i * m + j] = s / l[j * m + j]!;
    }
  }
  const z = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = g[i]!;
    for (let k = 0; k < i; k++) s -= l[i * m + k]! * z[k]!;
    z[i] = s / l[i * m + i]!;
  }
  const out = new Float64Array(m);
  for (let i = m - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < m; k++) s -= l[k * m + i]! * out[k]!;
    out[i] = s / l[i * m + i]!;
  }
  return out;
}

/** Options of {@link domainImportanceWeights}. */
export interface DomainWeightOptions extends LogisticOptions {
  /** Seed of the resampling that balances the two domains (default 0). */
  seed?: number;
  /**
   * At most this many rows per domain go into the classifier (a seeded sample; default 5,000). The
   * reference uses every row; this bounds the `n · d²` cost of a Newton step.
   */
  maxPerDomain?: number;
}

/**
 * Importance weights of the source validation rows, `w = P(target | h) / P(source | h)`, from a
 * logistic-regression domain classifier trained on source-training (label 1) against target (label 0)
 * features. As the reference, the smaller domain is resampled with replacement up to the larger one's
 * size so the classes are balanced. Features are `rows × d` row-major.
 */
export function domainImportanceWeights(sourceTrain: ArrayLike<number>, target: ArrayLike<number>, sourceVal: ArrayLike<number>, d: number,
  options: DomainWeightOptions = {}): Float64Array {
  check(Number.isInteger(d) && d > 0, 'BAD_SHAPE', `feature width ${d} is not a positive integer`, 'pass the width of one feature row');
  for (const [name, f] of [['source training', sourceTrain], ['target', target], ['source validation', sourceVal]] as const) {
    check(f.length > 0 && f.length % d === 0, 'BAD_SHAPE', `the ${name} features (${f.length} values) are not rows of ${d}`, 'pass row-major features of one layer for every domain');
  }
  for (let i = 0; i < sourceVal.length; i++) {
    check(Number.isFinite(sourceVal[i]!), 'NON_FINITE_FEATURES', `source validation feature value ${sourceVal[i]} at index ${i} is not finite`, 'check the model for NaN activations');
  }
  const rng = Rng.derive(options.seed ?? 0, 'transcal-domain-sample');
  const cap = options.maxPerDomain ?? 5000;
  check(Number.isInteger(cap) && cap > 0, 'BAD_OPTION', `maxPerDomain ${cap} is not a positive integer`, 'pass a positive row count');
  const pick = (rows: number): Int32Array => (rows > cap ? rng.sample(rows, cap) : Int32Array.from({ length: rows }, (_, i) => i));
  let src = pick(sourceTrain.length / d);
  let tgt = pick(target.length / d);
  const balanced = Math.max(src.length, tgt.length);
  const upsample = (idx: Int32Array): Int32Array => Int32Array.from({ length: balanced }, () => idx[rng.int(idx.length)]!);
  if (src.length < balanced) src = upsample(src);
  if (tgt.length < balanced) tgt = upsample(tgt);
  const x = new Float64Array(2 * balanced * d);
  const y = new Uint8Array(2 * balanced);
  src.forEach((r, i) => {
    for (let j = 0; j < d; j++) x[i * d + j] = sourceTrain[r * d + j]!;
    y[i] = 1;
  });
  tgt.forEach((r, i) => {
    for (let j = 0; j < d; j++) x[(balanced + i) * d + j] = target[r * d + j]!;
  });
  const model = fitLogisticRegression(x, y, d, options);
  const n = sourceVal.length / d;
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let z = model.bias;
    for (let j = 0; j < d; j++) z += model.weights[j]! * sourceVal[i * d + j]!;
    w[i] = Math.exp(-z); // (1 − σ(z)) / σ(z)
  }
  return w;
}

/** Options of {@link estimateTargetAccuracy}. */
export interface TargetAccuracyOptions {
  /** Exponent λ ∈ [0, 1] applied to the weights (the bias term; default 1: the weights as they are). */
  lambda?: number;
  /** Control variates on the weighted error (default true; false: the plain importance-weighted mean). */
  varianceTerm?: boolean;
}

/**
 * TransCal's estimate of the target accuracy from labelled source validation rows: the mean of
 * `w^λ · error` with two control variates — `w^λ − 1` (mean 1 under the source) and the correctness
 * `1 − error` (its mean should be the source's calibrated confidence) — with the variance-minimising
 * coefficients `η = −cov / var` (sample covariances, ddof 1), as the reference code computes them.
 * `error[i]` is 1 for a misclassified row, 0 otherwise.
 */
export function estimateTargetAccuracy(weights: ArrayLike<number>, error: ArrayLike<number>, sourceConfidence: number, options: TargetAccuracyOptions = {}): number {
  const n = weights.length;
  check(n > 1 && error.length === n, 'BAD_SHAPE', `${n} weights and ${error.length} errors`, 'pass one weight and one 0/1 error per source validation row (at least two)');
  const lambda = options.lambda ?? 1;
  check(lambda >= 0 && lambda <= 1, 'BAD_OPTION', `lambda ${lambda} is outside [0, 1]`, 'pass λ in [0, 1]');
  for (let i = 0; i < n; i++) {
    check(Number.isFinite(weights[i]!) && weights[i]! >= 0, 'BAD_WEIGHTS', `weight ${weights[i]} at row ${i} is not a finite non-negative number`, 'pass importance weights from domainImportanceWeights');
    check(error[i] === 0 || error[i] === 1, 'BAD_LABEL', `error ${error[i]} at row ${i} is not 0 or 1`, 'pass 1 for a misclassified source validation row, 0 for a correct one');
  }
  check(Number.isFinite(sourceConfidence) && sourceConfidence >= 0 && sourceConfidence <= 1, 'BAD_CONFIDENCE',
    `source confidence ${sourceConfidence} is not a probability in [0, 1]`, 'pass the mean top-class probability of the temperature-scaled source validation logits (meanConfidence(logits, k, T))');
  const w = Float64Array.from(weights, (v) => v ** lambda);
  const we = Float64Array.from(w, (v, i) => v * error[i]!);
  if (options.varianceTerm === false) return 1 - mean(we);
  const varW = variance(w);
  const eta1 = varW > 0 ? -covariance(we, w) / varW : 0;
  const cv = Float64Array.from(we, (v, i) => v + eta1 * (w[i]! - 1));
  const correct = Float64Array.from(error, (e) => 1 - e);
  const varR = variance(correct);
  const eta2 = varR > 0 ? -covariance(cv, correct) / varR : 0;
  const risk = mean(we) + eta1 * mean(w) - eta1 + eta2 * mean(correct) - eta2 * sourceConfidence;
  return 1 - risk;
}

function mean(v: Float64Array): number {
  let s = 0;
  for (const x of v) s += x;
  return s / v.length;
}

function covariance(a: Float64Array, b: Float64Array): number {
  const ma = mean(a);
  const mb = mean(b);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - ma) * (b[i]! - mb);
  return s / (a.length - 1);
}

function variance(a: Float64Array): number {
  return covariance(a, a);
}

/** Mean top-class softmax probability of `n × k` logits divided by `temperature`. */
export function meanConfidence(logits: ArrayLike<number>, k: number, temperature = 1): number {
  const conf = topConfidences(softmaxRows64(temperature === 1 ? logits : applyTemperature(logits, temperature), k), k);
  let s = 0;
  for (const c of conf) s += c;
  return s / conf.length;
}

/** Inputs of {@link transCal}. */
export interface TransCalInputs {
  /** Unlabelled target logits, `n_t × k`. */
  targetLogits: ArrayLike<number>;
  /** Labelled source validation logits, `n_v × k`, and their labels. */
  sourceValLogits: ArrayLike<number>;
  sourceValLabels: ArrayLike<number>;
  /** Importance weight of each source validation row ({@link domainImportanceWeights}). */
  weights: ArrayLike<number>;
  k: number;
}

/** Options of {@link transCal}. */
export interface TransCalOptions {
  /** Fit λ (the weights' exponent, default true); false keeps λ = 1. */
  biasTerm?: boolean;
  /** Control variates (default true). */
  varianceTerm?: boolean;
  /** λ values searched (default 0, 0.05, …, 1). */
  lambdaGrid?: number[];
  /** Largest temperature considered (default 100). */
  maxTemperature?: number;
}

/** Result of {@link transCal}. */
export interface TransCalResult {
  /** The target temperature (≥ 1). */
  temperature: number;
  lambda: number;
  /** Estimated target accuracy at that λ. */
  estimatedAccuracy: number;
  /** Mean target confidence at that temperature. */
  confidence: number;
  /** |confidence − estimated accuracy| (0 when a temperature ≥ 1 reaches the estimate). */
  gap: number;
  /** The source validation temperature (NLL temperature scaling) the source confidence was taken at. */
  sourceTemperature: number;
}

/** Whether λ `a` is nearer ½ than `b`, the smaller winning at equal distance (within rounding: 0.45 and 0.55 tie). */
function nearerHalf(a: number, b: number): boolean {
  const da = Math.abs(a - 0.5);
  const db = Math.abs(b - 0.5);
  return Math.abs(da - db) <= 1e-12 ? a < b : da < db;
}

/**
 * TransCal's target temperature: fits the source's own NLL temperature on the source validation set
 * and takes its calibrated mean confidence, then minimises `|mean target confidence(z / T) − estimated
 * target accuracy(λ)|` over `T ≥ 1`, `λ ∈ [0, 1]`. The reference starts SLSQP at (T, λ) = (2, 0.5) and
 * stops at a zero of that gap, which is a curve, not a point; here each λ of the grid gets its exact best
 * T (the mean top-class probability falls as T grows, so bisection on log T finds where it meets the
 * estimate, or T = 1 when the estimate is above the raw confidence), and of the λ with the smallest gap
 * the one nearest the reference's start 0.5 is taken (the smaller on a tie, whatever the grid's order).
 */
export function transCal(inputs: TransCalInputs, options: TransCalOptions = {}): TransCalResult {
  const { targetLogits, sourceValLogits, sourceValLabels, weights, k } = inputs;
  check(Number.isInteger(k) && k > 1, 'BAD_SHAPE', `k = ${k} classes`, 'pass the number of classes (≥ 2)');
  check(targetLogits.length > 0 && targetLogits.length % k === 0, 'LOGITS_SHAPE_MISMATCH', `${targetLogits.length} target logits are not rows of ${k}`, 'pass n_t × k row-major logits');
  check(sourceValLogits.length === sourceValLabels.length * k, 'LOGITS_SHAPE_MISMATCH',
    `${sourceValLogits.length} source validation logits do not form ${sourceValLabels.length} rows of ${k}`, 'pass n_v × k logits and n_v labels');
  check(weights.length === sourceValLabels.length, 'BAD_SHAPE', `${weights.length} weights for ${sourceValLabels.length} source validation rows`, 'pass one importance weight per source validation row');
  for (let i = 0; i < weights.length; i++) check(Number.isFinite(weights[i]!) && weights[i]! >= 0, 'BAD_WEIGHTS', `weight ${weights[i]} at row ${i} is not a finite non-negative number`, 'pass importance weights from domainImportanceWeights');
  const maxT = options.maxTemperature ?? 100;
  check(typeof maxT === 'number' && Number.isFinite(maxT) && maxT >= 1, 'BAD_TEMPERATURE', `maxTemperature ${maxT} is not a finite number ≥ 1`,
    'pass maxTemperature ≥ 1 (TransCal only raises the temperature; default 100)');
  const grid = options.biasTerm === false ? [1] : options.lambdaGrid ?? Array.from({ length: 21 }, (_, i) => i / 20);
  check(grid.length > 0, 'BAD_OPTION', 'lambdaGrid is empty', 'pass at least one λ in [0, 1], or leave lambdaGrid out (0, 0.05, …, 1)');
  assertFiniteLogits(targetLogits, 'the target logits');
  const sourceTemperature = fitTemperature(sourceValLogits, sourceValLabels, k);
  const sourceConfidence = meanConfidence(sourceValLogits, k, sourceTemperature);
  const predicted = rowArgmax(sourceValLogits, sourceValLabels.length, k);
  const error = Float64Array.from(predicted, (c, i) => (c === sourceValLabels[i] ? 0 : 1));
  const rawConfidence = meanConfidence(targetLogits, k, 1);
  const floorConfidence = meanConfidence(targetLogits, k, maxT);
  const temperatureFor = (acc: number): number => {
    if (acc >= rawConfidence) return 1;
    if (acc <= floorConfidence) return maxT;
    let lo = 0;
    let hi = Math.log(maxT);
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (meanConfidence(targetLogits, k, Math.exp(mid)) > acc) lo = mid;
      else hi = mid;
    }
    return Math.exp((lo + hi) / 2);
  };
  let best: Omit<TransCalResult, 'sourceTemperature'> | null = null;
  for (const lambda of grid) {
    const estimatedAccuracy = estimateTargetAccuracy(weights, error, sourceConfidence, { lambda, varianceTerm: options.varianceTerm ?? true });
    const temperature = temperatureFor(estimatedAccuracy);
    const confidence = meanConfidence(targetLogits, k, temperature);
    const gap = Math.abs(confidence - estimatedAccuracy);
    const better = best === null || gap < best.gap - 1e-9 || (Math.abs(gap - best.gap) <= 1e-9 && nearerHalf(lambda, best.lambda));
    if (better) best = { temperature, lambda, estimatedAccuracy, confidence, gap };
  }
  return { ...best!, sourceTemperature };
}
