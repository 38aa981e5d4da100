/**
 * The baselines the indices are judged against (spec §10.5): accuracy drop, the unbiased MMD²
 * two-sample test (alibi-detect style), BBSD with per-class KS tests (failing-loudly style),
 * LogME, LEEP, H-score and a class-matched Gaussian OTDD. Pure functions on host arrays, except
 * {@link accuracyDrop}, which runs the model.
 */
import { checkChoice, Rng, TrellisError, type Dataset, type ModelAdapter } from '@trellis-ml/core';
import { checkedRowCount, checkFinite, checkLabeled, checkLabelRange, checkRows, checkSameShape } from './inputs.js';
import { matmul, meanCov, symmetricEigen, symmetricFunction } from './linalg.js';
import { extractRepresentations, type TapOptions } from './taps.js';

/** The fix of NaN/Inf features or probabilities given to a baseline. */
const FEATURES_FIX = 'remove or impute the NaN/Inf rows first (check the model for NaN activations)';

/**
 * Top-1 accuracy of `n × k` probabilities (or logits) against labels.
 * @throws TrellisError `BAD_SHAPE` / `EMPTY_INPUT` unless `probs` is `y.length` rows of `k`, a label error for a label
 * outside `[0, k)`, `NON_FINITE_VALUES` for a NaN/±Infinity score (a NaN row used to count as a prediction of class 0).
 */
export function accuracyOf(probs: Float32Array, y: Int32Array, k: number): number {
  checkRows(probs, y.length, k, 'accuracyOf');
  checkLabelRange(y, k);
  checkFinite(probs, "accuracyOf's scores", FEATURES_FIX, k);
  let ok = 0;
  for (let i = 0; i < y.length; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs[i * k + c]! > probs[i * k + best]!) best = c;
    if (best === y[i]) ok++;
  }
  return ok / y.length;
}

/**
 * Accuracy of `model` on old data minus its accuracy on new data (both labelled).
 * @throws TrellisError `SHAPE_MISMATCH` / `CLASS_COUNT_MISMATCH`, `UNLABELED`, `NON_FINITE_VALUES` when the
 * softmax outputs are NaN (the model overflows on the inputs).
 */
export async function accuracyDrop(model: ModelAdapter, oldData: Dataset, newData: Dataset, options: TapOptions = {}): Promise<number> {
  checkSameShape(oldData, newData, model);
  const yo = checkLabeled(oldData, 'old', 'the accuracy-drop baseline');
  const yn = checkLabeled(newData, 'new', 'the accuracy-drop baseline');
  const ex = { layers: [], probs: true, preprocess: options.preprocess, batchSize: options.batchSize ?? 128 };
  const k = model.numClasses;
  return accuracyOf(extractRepresentations(model, oldData, ex).probs!, yo, k) - accuracyOf(extractRepresentations(model, newData, ex).probs!, yn, k);
}

function sqd(x: ArrayLike<number>, i: number, y: ArrayLike<number>, j: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) {
    const v = x[i * d + t]! - y[j * d + t]!;
    s += v * v;
  }
  return s;
}

/** Options of {@link mmd2}. */
export interface MmdOptions {
  /** RBF bandwidth, or `'median'` (default): the median pairwise distance within the reference set `a`. */
  sigma?: number | 'median';
  /** Permutations for the p-value (default 100; 0 = no test). */
  permutations?: number;
  seed?: number;
  /** Cap on rows used from each set (seeded subsample; default 500). */
  maxSamples?: number;
}

/**
 * Unbiased MMD² between rows of `a` and `b` (`d` columns) with a Gaussian RBF kernel
 * `exp(−‖x−y‖² / (2σ²))`, and a permutation p-value. The `'median'` bandwidth is NumPy's median of the
 * pairwise distances within `a` (the mean of the two middle ones for an even count).
 * @throws TrellisError `BAD_SHAPE` unless `d` is a whole number ≥ 1 and `a` and `b` hold whole rows of it,
 * `NON_FINITE_VALUES` for a NaN/±Infinity value, `TOO_FEW_SAMPLES` for fewer than 2 rows in a set,
 * `BAD_OPTION` for a bandwidth that is neither `'median'` nor a positive number, `permutations` that are not a
 * whole number ≥ 0 or `maxSamples` that is not a whole number ≥ 2.
 */
export function mmd2(a: Float32Array, b: Float32Array, d: number, options: MmdOptions = {}): { mmd2: number; pValue?: number; sigma: number } {
  checkedRowCount(a, d, 'MMD² (a)');
  checkedRowCount(b, d, 'MMD² (b)');
  const s = options.sigma;
  if (!(s === undefined || s === 'median' || (typeof s === 'number' && Number.isFinite(s) && s > 0))) {
    throw new TrellisError('BAD_OPTION', `MMD bandwidth sigma ${JSON.stringify(s)} is neither 'median' nor a positive number`, "pass sigma 'median' (the default) or a bandwidth > 0");
  }
  const perms = options.permutations ?? 100;
  if (!(typeof perms === 'number' && Number.isInteger(perms) && perms >= 0)) {
    // a fractional count gave a p-value above 1 (2.5 permutations: 1.14), a negative one silently no test
    throw new TrellisError('BAD_OPTION', `MMD permutations ${JSON.stringify(perms) ?? String(perms)} is not a whole number ≥ 0`, 'pass permutations: 100 (the default), or 0 for no permutation test');
  }
  const cap = options.maxSamples ?? 500;
  if (!(typeof cap === 'number' && Number.isInteger(cap) && cap >= 2)) {
    throw new TrellisError('BAD_OPTION', `MMD maxSamples ${JSON.stringify(cap) ?? String(cap)} is not a whole number ≥ 2`, 'pass maxSamples: 500 (the default), the rows kept from each set');
  }
  const rng = Rng.derive(options.seed ?? 0, 'mmd');
  const pick = (x: Float32Array): Float32Array => {
    const n = x.length / d;
    if (n <= cap) return x;
    const rows = rng.sample(n, cap).sort();
    const out = new Float32Array(cap * d);
    rows.forEach((r, i) => out.set(x.subarray(r * d, (r + 1) * d), i * d));
    return out;
  };
  const x = pick(a);
  const y = pick(b);
  const m = x.length / d;
  const n = y.length / d;
  if (m < 2 || n < 2) throw new TrellisError('TOO_FEW_SAMPLES', `MMD² needs at least 2 rows per set, got ${m} and ${n}`, 'pass more samples');
  let sigma: number;
  if (options.sigma === undefined || options.sigma === 'median') {
    const ds: number[] = [];
    for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) ds.push(Math.sqrt(sqd(x, i, x, j, d)));
    ds.sort((p, q) => p - q);
    const mid = ds.length >> 1;
    sigma = (ds.length % 2 ? ds[mid]! : (ds[mid - 1]! + ds[mid]!) / 2) || 1; // np.median
  } else sigma = options.sigma;
  const total = m + n;
  const all = new Float32Array(total * d);
  all.set(x, 0);
  all.set(y, m * d);
  const kmat = new Float64Array(total * total);
  const g = 1 / (2 * sigma * sigma);
  for (let i = 0; i < total; i++) for (let j = i; j < total; j++) {
    const v = Math.exp(-sqd(all, i, all, j, d) * g);
    kmat[i * total + j] = v;
    kmat[j * total + i] = v;
  }
  const stat = (inX: Uint8Array): number => {
    let sxx = 0, syy = 0, sxy = 0;
    for (let i = 0; i < total; i++) for (let j = 0; j < total; j++) {
      if (i === j) continue;
      const v = kmat[i * total + j]!;
      if (inX[i] && inX[j]) sxx += v;
      else if (!inX[i] && !inX[j]) syy += v;
      else sxy += v;
    }
    return sxx / (m * (m - 1)) + syy / (n * (n - 1)) - sxy / (m * n);
  };
  const mask = new Uint8Array(total);
  for (let i = 0; i < m; i++) mask[i] = 1;
  const observed = stat(mask);
  if (perms === 0) return { mmd2: observed, sigma };
  let exceed = 0;
  for (let p = 0; p < perms; p++) {
    const perm = rng.permutation(total);
    const pm = new Uint8Array(total);
    for (let i = 0; i < m; i++) pm[perm[i]!] = 1;
    if (stat(pm) >= observed) exceed++;
  }
  return { mmd2: observed, pValue: (exceed + 1) / (perms + 1), sigma };
}

/**
 * Asymptotic two-sample Kolmogorov–Smirnov p-value for statistic `dstat` and sizes n, m.
 * @throws TrellisError `EMPTY_INPUT` for a size < 1, `BAD_OPTION` for a fractional size or a statistic outside [0, 1].
 */
export function ksPValue(dstat: number, n: number, m: number): number {
  if (!(n >= 1 && m >= 1)) throw new TrellisError('EMPTY_INPUT', `a KS p-value for samples of ${n} and ${m} values`, 'pass two non-empty samples');
  if (!(Number.isInteger(n) && Number.isInteger(m))) {
    throw new TrellisError('BAD_OPTION', `a KS p-value for samples of ${n} and ${m} values: sample sizes are whole numbers`, 'pass the two sample sizes (the lengths of the samples)');
  }
  if (!(dstat >= 0 && dstat <= 1)) {
    // NaN gave a NaN p-value; 2 a tiny one and −1 a p-value of 1
    throw new TrellisError('BAD_OPTION', `KS statistic ${String(dstat)} is outside [0, 1]`, 'pass the statistic ksStatistic gives (the largest gap between two CDFs, in [0, 1])');
  }
  const en = Math.sqrt((n * m) / (n + m));
  const lambda = (en + 0.12 + 0.11 / en) * dstat;
  if (lambda < 1e-3) return 1;
  let sum = 0;
  for (let j = 1; j <= 100; j++) {
    const term = 2 * (j % 2 === 1 ? 1 : -1) * Math.exp(-2 * j * j * lambda * lambda);
    sum += term;
    if (Math.abs(term) < 1e-12) break;
  }
  return Math.min(1, Math.max(0, sum));
}

/**
 * Two-sample KS statistic of two samples.
 * @throws TrellisError `EMPTY_INPUT` for an empty sample, `NON_FINITE_VALUES` for a NaN/±Infinity value (NaN
 * sorts last and never compares, so it used to shrink the statistic).
 */
export function ksStatistic(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (!(a.length >= 1 && b.length >= 1)) throw new TrellisError('EMPTY_INPUT', `a KS statistic of samples of ${a.length} and ${b.length} values`, 'pass two non-empty samples');
  checkFinite(a, 'the values of the first KS sample', 'remove or impute the NaN/Inf values first');
  checkFinite(b, 'the values of the second KS sample', 'remove or impute the NaN/Inf values first');
  const x = Float64Array.from(a as ArrayLike<number>).sort();
  const y = Float64Array.from(b as ArrayLike<number>).sort();
  let i = 0, j = 0, dmax = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i]! <= v) i++;
    while (j < y.length && y[j]! <= v) j++;
    dmax = Math.max(dmax, Math.abs(i / x.length - j / y.length));
  }
  return dmax;
}

/**
 * BBSD: a KS test per softmax output column; `maxStat` is the score, `pValue` Bonferroni-corrected (min p × k).
 * @throws TrellisError `BAD_SHAPE` / `EMPTY_INPUT` unless both sets are whole, non-empty rows of `k` values,
 * `NON_FINITE_VALUES` for a NaN/±Infinity value.
 */
export function bbsdKS(probsOld: Float32Array, probsNew: Float32Array, k: number): { maxStat: number; pValue: number; stats: number[] } {
  const n = checkedRowCount(probsOld, k, 'bbsdKS (old probabilities)');
  const m = checkedRowCount(probsNew, k, 'bbsdKS (new probabilities)');
  checkRows(probsOld, n, k, 'bbsdKS (old probabilities)');
  checkRows(probsNew, m, k, 'bbsdKS (new probabilities)');
  const stats: number[] = [];
  let minP = 1;
  for (let c = 0; c < k; c++) {
    const a = Float64Array.from({ length: n }, (_, i) => probsOld[i * k + c]!);
    const b = Float64Array.from({ length: m }, (_, i) => probsNew[i * k + c]!);
    const s = ksStatistic(a, b);
    stats.push(s);
    minP = Math.min(minP, ksPValue(s, n, m));
  }
  return { maxStat: Math.max(...stats), pValue: Math.min(1, minP * k), stats };
}

/** Options of {@link logme}. */
export interface LogmeOptions {
  /**
   * `'icml'` (default): the evidence maximisation of the ICML 2021 paper (thuml/LogME's `_fit_icml`), on the
   * eigendecomposition of FᵀF. `'fixed-point'`: the fixed-point iteration of "Ranking and Tuning Pre-trained
   * Models" (You et al. 2021; thuml/LogME's `_fit_fixed_point`, what its `LogME.fit` runs), on the SVD of F.
   * They differ in the stopping rule and, where N ≤ D or F is rank-deficient, in how many eigenvalues the
   * log-determinant sums (the fixed-point version keeps the min(N, D) singular values, or F's rank for N > D).
   */
  algorithm?: 'icml' | 'fixed-point';
}

/** The LogME evidence terms shared by both algorithms: `(D/2)·log α + (N/2)·log β − ½·Σ log(α + β·σ) − β/2·res − α/2·m − (N/2)·log 2π`, per sample. */
function evidencePerSample(n: number, d: number, alpha: number, beta: number, sigma: ArrayLike<number>, res: number, m2: number): number {
  let logdet = 0;
  for (let k = 0; k < sigma.length; k++) logdet += Math.log(alpha + beta * sigma[k]!);
  return ((d / 2) * Math.log(alpha) + (n / 2) * Math.log(beta) - 0.5 * logdet - (beta / 2) * res - (alpha / 2) * m2 - (n / 2) * Math.log(2 * Math.PI)) / n;
}

/** `Fᵀ y` for the one-hot column of class `c`: the sum of the class's rows. */
function classFeatureSum(f: Float32Array, y: Int32Array, d: number, c: number): Float64Array {
  const fty = new Float64Array(d);
  for (let i = 0; i < y.length; i++) if (y[i] === c) for (let t = 0; t < d; t++) fty[t] = fty[t]! + f[i * d + t]!;
  return fty;
}

/** `FᵀF` (`d × d`) of `n × d` row-major features, in float64. */
function gram(f: Float32Array, n: number, d: number): Float64Array {
  const ftf = new Float64Array(d * d);
  for (let i = 0; i < n; i++) for (let a = 0; a < d; a++) {
    const fa = f[i * d + a]!;
    if (fa === 0) continue;
    for (let b = 0; b < d; b++) ftf[a * d + b] = ftf[a * d + b]! + fa * f[i * d + b]!;
  }
  return ftf;
}

/** The ICML 2021 iteration for one class (eigenpairs `s`, `v` of FᵀF). */
function icmlEvidence(f: Float32Array, y: Int32Array, n: number, d: number, c: number, s: Float64Array, v: Float64Array): number {
  const fty = classFeatureSum(f, y, d, c);
  const tmp = new Float64Array(d); // Vᵀ Fᵀ y
  for (let k = 0; k < d; k++) {
    let s2 = 0;
    for (let t = 0; t < d; t++) s2 += v[t * d + k]! * fty[t]!;
    tmp[k] = s2;
  }
  const eps = 1e-5;
  let alpha = 1, beta = 1, lam = 1, alphaDe = 0, betaDe = 0;
  const m = new Float64Array(d);
  for (let it = 0; it < 11; it++) {
    let gamma = 0;
    for (let k = 0; k < d; k++) gamma += (beta * s[k]!) / (alpha + beta * s[k]!);
    m.fill(0);
    for (let k = 0; k < d; k++) {
      const w = (beta * tmp[k]!) / (alpha + beta * s[k]!);
      for (let t = 0; t < d; t++) m[t] = m[t]! + v[t * d + k]! * w;
    }
    alphaDe = 0;
    for (let t = 0; t < d; t++) alphaDe += m[t]! * m[t]!;
    alpha = gamma / (alphaDe + eps);
    betaDe = 0;
    for (let i = 0; i < n; i++) {
      let pred = 0;
      for (let t = 0; t < d; t++) pred += f[i * d + t]! * m[t]!;
      betaDe += ((y[i] === c ? 1 : 0) - pred) ** 2;
    }
    beta = (n - gamma) / (betaDe + eps);
    const newLam = alpha / beta;
    if (Math.abs(newLam - lam) / lam < 0.01) break;
    lam = newLam;
  }
  return evidencePerSample(n, d, alpha, beta, s, betaDe + eps, alphaDe + eps);
}

/**
 * The SVD of F the fixed-point iteration works on: the squared singular values `sigma` and, per class, the
 * projections `x = Uᵀy` of its one-hot column on the left singular vectors. For N > D from FᵀF = V S² Vᵀ
 * (`x_k = v_kᵀFᵀy / s_k`, keeping the singular values above 1e-10: F's rank); for N ≤ D from FFᵀ = U S² Uᵀ,
 * keeping all N (as thuml/LogME does with `np.linalg.svd(f, full_matrices=False)` there).
 */
function fixedPointBasis(f: Float32Array, y: Int32Array, n: number, d: number): { sigma: Float64Array; project: (c: number) => Float64Array } {
  if (n > d) {
    const { values, vectors: v } = symmetricEigen(gram(f, n, d), d);
    const keep: number[] = [];
    for (let k = 0; k < d; k++) if (Math.sqrt(Math.max(values[k]!, 0)) > 1e-10) keep.push(k);
    const sv = keep.map((k) => Math.sqrt(values[k]!));
    return {
      sigma: Float64Array.from(sv, (x) => x * x),
      project: (c) => {
        const fty = classFeatureSum(f, y, d, c);
        return Float64Array.from(keep, (k, j) => {
          let dot = 0;
          for (let t = 0; t < d; t++) dot += v[t * d + k]! * fty[t]!;
          return dot / sv[j]!;
        });
      },
    };
  }
  const ffT = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) {
    let dot = 0;
    for (let t = 0; t < d; t++) dot += f[i * d + t]! * f[j * d + t]!;
    ffT[i * n + j] = dot;
    ffT[j * n + i] = dot;
  }
  const { values, vectors: u } = symmetricEigen(ffT, n);
  return {
    sigma: values.map((x) => Math.max(x, 0)),
    project: (c) => {
      const x = new Float64Array(n);
      for (let i = 0; i < n; i++) if (y[i] === c) for (let k = 0; k < n; k++) x[k] = x[k]! + u[i * n + k]!;
      return x;
    },
  };
}

/** The fixed-point iteration for one class: `x` its projections, `rows` its row count (Σy²). */
function fixedPointEvidence(n: number, d: number, sigma: Float64Array, x: Float64Array, rows: number): number {
  let x2sum = 0;
  for (const v of x) x2sum += v * v;
  const resOutside = rows - x2sum; // the part of y outside the kept singular directions
  let alpha = 1, beta = 1, m2 = 0, res2 = 0;
  for (let it = 0; it < 11; it++) {
    const t = alpha / beta;
    let gamma = 0;
    m2 = 0;
    res2 = resOutside;
    for (let k = 0; k < sigma.length; k++) {
      const sk = sigma[k]!;
      const x2 = x[k]! * x[k]!;
      gamma += sk / (sk + t);
      m2 += (sk * x2) / ((t + sk) * (t + sk));
      res2 += x2 / ((1 + sk / t) * (1 + sk / t));
    }
    alpha = gamma / (m2 + 1e-5);
    beta = (n - gamma) / (res2 + 1e-5);
    if (Math.abs(alpha / beta - t) / t <= 1e-3) break;
  }
  return evidencePerSample(n, d, alpha, beta, sigma, res2, m2);
}

/**
 * LogME (You et al. 2021): mean over the classes present in `y` of the maximum log evidence per sample of a
 * Bayesian linear model from features `f` (`n × d`) to the class's one-hot column. Higher = easier transfer.
 * The default `algorithm: 'icml'` is the ICML paper's iteration; thuml/LogME's `LogME.fit` runs the
 * fixed-point one (`'fixed-point'`), and averages over classes 0..max(y) — see the README's "Choices".
 * @throws TrellisError `BAD_SHAPE` / `EMPTY_INPUT` for features that are not `y.length` rows of width `d`,
 * `LABEL_OUT_OF_RANGE` for a label that is not a whole number ≥ 0, `NON_FINITE_VALUES` for a NaN/±Infinity
 * feature, `BAD_OPTION` for an unknown algorithm.
 */
export function logme(f: Float32Array, y: Int32Array, d: number, options: LogmeOptions = {}): number {
  const n = y.length;
  checkRows(f, n, d, 'LogME');
  checkFinite(f, "LogME's features", FEATURES_FIX, d);
  checkLabelRange(y, Infinity);
  const algorithm = options.algorithm ?? 'icml';
  checkChoice(algorithm, ['icml', 'fixed-point'] as const, 'LogME algorithm', { fix: "use algorithm: 'icml' (the default) or 'fixed-point' (thuml/LogME's LogME.fit)" });
  const classes = [...new Set(y)].sort((p, q) => p - q);
  let total = 0;
  if (algorithm === 'fixed-point') {
    const { sigma, project } = fixedPointBasis(f, y, n, d);
    for (const c of classes) total += fixedPointEvidence(n, d, sigma, project(c), y.filter((v) => v === c).length);
  } else {
    const { values: s, vectors: v } = symmetricEigen(gram(f, n, d), d);
    for (let i = 0; i < d; i++) if (s[i]! < 0) s[i] = 0;
    for (const c of classes) total += icmlEvidence(f, y, n, d, c, s, v);
  }
  return total / classes.length;
}

/**
 * LEEP (Nguyen et al. 2020): the mean log-likelihood of the labels under the empirical conditional
 * of target labels given the source model's predicted classes. Higher = easier transfer.
 * @throws TrellisError `BAD_SHAPE` / `EMPTY_INPUT` unless `sourceProbs` is `y.length` rows of `kSource`,
 * `NON_FINITE_VALUES` for a NaN/±Infinity, `BAD_PROBABILITIES` for a row that is not a distribution (an entry
 * outside [0, 1] or a sum more than 1e-3 from 1: logits given by mistake), `LABEL_OUT_OF_RANGE` for a label
 * that is not a whole number ≥ 0.
 */
export function leep(sourceProbs: Float32Array, kSource: number, y: Int32Array): number {
  const n = y.length;
  checkRows(sourceProbs, n, kSource, 'LEEP');
  checkFinite(sourceProbs, "LEEP's source probabilities", FEATURES_FIX, kSource);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    let inRange = true;
    for (let z = 0; z < kSource; z++) {
      const v = sourceProbs[i * kSource + z]!;
      sum += v;
      inRange &&= v >= 0 && v <= 1;
    }
    if (!inRange || Math.abs(sum - 1) > 1e-3) {
      throw new TrellisError('BAD_PROBABILITIES', `LEEP's source probabilities of row ${i} are not a distribution (entries in [0, 1] summing to 1; the sum is ${sum})`,
        "pass the source model's softmax outputs, not its logits", { row: i, sum });
    }
  }
  checkLabelRange(y, Infinity);
  const kt = Math.max(...y) + 1;
  const joint = new Float64Array(kt * kSource);
  for (let i = 0; i < n; i++) for (let z = 0; z < kSource; z++) joint[y[i]! * kSource + z] = joint[y[i]! * kSource + z]! + sourceProbs[i * kSource + z]! / n;
  const pz = new Float64Array(kSource);
  for (let t = 0; t < kt; t++) for (let z = 0; z < kSource; z++) pz[z] = pz[z]! + joint[t * kSource + z]!;
  let s = 0;
  for (let i = 0; i < n; i++) {
    let p = 0;
    for (let z = 0; z < kSource; z++) if (pz[z]! > 0) p += (joint[y[i]! * kSource + z]! / pz[z]!) * sourceProbs[i * kSource + z]!;
    s += Math.log(Math.max(p, 1e-300));
  }
  return s / n;
}

/**
 * H-score (Bao et al. 2019): `tr(pinv(cov f) · cov(E[f | y]))`. Higher = easier transfer.
 * @throws TrellisError `BAD_SHAPE` / `EMPTY_INPUT` unless `f` is `y.length` rows of width `d`,
 * `NON_FINITE_VALUES` for a NaN/±Infinity feature (the pseudo-inverse dropped it to give 0).
 */
export function hScore(f: Float32Array, y: Int32Array, d: number): number {
  const n = y.length;
  checkRows(f, n, d, 'H-score');
  checkFinite(f, "H-score's features", FEATURES_FIX, d);
  const { cov: covF } = meanCov(f, n, d);
  const g = new Float32Array(n * d);
  const classes = [...new Set(y)];
  for (const c of classes) {
    const rows: number[] = [];
    for (let i = 0; i < n; i++) if (y[i] === c) rows.push(i);
    const { mean } = meanCov(f, n, d, rows);
    for (const i of rows) for (let t = 0; t < d; t++) g[i * d + t] = mean[t]!;
  }
  const { cov: covG } = meanCov(g, n, d);
  const { values } = symmetricEigen(covF, d);
  const maxEig = Math.max(...values);
  const pinv = symmetricFunction(covF, d, (l) => (l > 1e-15 * maxEig * d ? 1 / l : 0));
  const prod = matmul(pinv, covG, d);
  let tr = 0;
  for (let i = 0; i < d; i++) tr += prod[i * d + i]!;
  return tr;
}

/**
 * Class-matched Gaussian OTDD-lite: mean over classes present in both sets of
 * `W₂²(N(μ_k, Σ_k), N(μ'_k, Σ'_k))` (diagonal covariances with `diagonal: true`).
 * @throws TrellisError `BAD_SHAPE` / `EMPTY_INPUT` unless each set is its labels' count of rows of width `d`,
 * `NON_FINITE_VALUES` for a NaN/±Infinity feature, `EMPTY_INPUT` when no class has rows in both sets.
 */
export function gaussianOtdd(fOld: Float32Array, yOld: Int32Array, fNew: Float32Array, yNew: Int32Array, d: number, options: { diagonal?: boolean } = {}): number {
  checkRows(fOld, yOld.length, d, 'OTDD (old features)');
  checkRows(fNew, yNew.length, d, 'OTDD (new features)');
  checkFinite(fOld, "OTDD's old features", FEATURES_FIX, d);
  checkFinite(fNew, "OTDD's new features", FEATURES_FIX, d);
  const classes = [...new Set(yOld)].filter((c) => yNew.includes(c)).sort((p, q) => p - q);
  if (classes.length === 0) {
    throw new TrellisError('EMPTY_INPUT', 'OTDD found no class with rows in both the old and the new set (its mean over classes is undefined)', 'pass old and new features that share at least one class');
  }
  let sum = 0;
  for (const c of classes) {
    const ro: number[] = [];
    const rn: number[] = [];
    yOld.forEach((v, i) => v === c && ro.push(i));
    yNew.forEach((v, i) => v === c && rn.push(i));
    const a = meanCov(fOld, yOld.length, d, ro);
    const b = meanCov(fNew, yNew.length, d, rn);
    let w = 0;
    for (let t = 0; t < d; t++) w += (a.mean[t]! - b.mean[t]!) ** 2;
    if (options.diagonal) {
      for (let t = 0; t < d; t++) w += (Math.sqrt(a.cov[t * d + t]!) - Math.sqrt(b.cov[t * d + t]!)) ** 2;
    } else {
      const sqrtB = symmetricFunction(b.cov, d, (l) => Math.sqrt(Math.max(l, 0)));
      const inner = matmul(matmul(sqrtB, a.cov, d), sqrtB, d);
      for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) {
        const avg = (inner[i * d + j]! + inner[j * d + i]!) / 2;
        inner[i * d + j] = avg;
        inner[j * d + i] = avg;
      }
      const { values } = symmetricEigen(inner, d);
      let trCross = 0;
      for (const l of values) trCross += Math.sqrt(Math.max(l, 0));
      for (let t = 0; t < d; t++) w += a.cov[t * d + t]! + b.cov[t * d + t]!;
      w -= 2 * trCross;
    }
    sum += w;
  }
  return sum / classes.length;
}

/** All baselines under one name (spec §11). */
export const baselines = { accuracyDrop, mmd2, bbsdKS, logme, leep, hScore, gaussianOtdd };
