/**
 * The baselines the indices are judged against (spec §10.5): accuracy drop, the unbiased MMD²
 * two-sample test (alibi-detect style), BBSD with per-class KS tests (failing-loudly style),
 * LogME, LEEP, H-score and a class-matched Gaussian OTDD. Pure functions on host arrays, except
 * {@link accuracyDrop}, which runs the model.
 */
import { Rng, TrellisError, type Dataset, type ModelAdapter } from '@trellis-ml/core';
import { checkLabeled, checkLabelRange, checkRows, checkSameShape } from './inputs.js';
import { matmul, meanCov, symmetricEigen, symmetricFunction } from './linalg.js';
import { extractRepresentations, type TapOptions } from './taps.js';

/** Top-1 accuracy of `n × k` probabilities (or logits) against labels. */
export function accuracyOf(probs: Float32Array, y: Int32Array, k: number): number {
  checkRows(probs, y.length, k, 'accuracyOf');
  checkLabelRange(y, k);
  let ok = 0;
  for (let i = 0; i < y.length; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs[i * k + c]! > probs[i * k + best]!) best = c;
    if (best === y[i]) ok++;
  }
  return ok / y.length;
}

/** Accuracy of `model` on old data minus its accuracy on new data (both labelled). */
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
 * `exp(−‖x−y‖² / (2σ²))`, and a permutation p-value.
 */
export function mmd2(a: Float32Array, b: Float32Array, d: number, options: MmdOptions = {}): { mmd2: number; pValue?: number; sigma: number } {
  const s = options.sigma;
  if (!(s === undefined || s === 'median' || (typeof s === 'number' && Number.isFinite(s) && s > 0))) {
    throw new TrellisError('BAD_OPTION', `MMD bandwidth sigma ${JSON.stringify(s)} is neither 'median' nor a positive number`, "pass sigma 'median' (the default) or a bandwidth > 0");
  }
  const rng = Rng.derive(options.seed ?? 0, 'mmd');
  const cap = options.maxSamples ?? 500;
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
    sigma = ds[Math.floor(ds.length / 2)] || 1;
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
  const perms = options.permutations ?? 100;
  if (perms <= 0) return { mmd2: observed, sigma };
  let exceed = 0;
  for (let p = 0; p < perms; p++) {
    const perm = rng.permutation(total);
    const pm = new Uint8Array(total);
    for (let i = 0; i < m; i++) pm[perm[i]!] = 1;
    if (stat(pm) >= observed) exceed++;
  }
  return { mmd2: observed, pValue: (exceed + 1) / (perms + 1), sigma };
}

/** Asymptotic two-sample Kolmogorov–Smirnov p-value for statistic `dstat` and sizes n, m. */
export function ksPValue(dstat: number, n: number, m: number): number {
  if (!(n >= 1 && m >= 1)) throw new TrellisError('EMPTY_INPUT', `a KS p-value for samples of ${n} and ${m} values`, 'pass two non-empty samples');
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

/** Two-sample KS statistic of two samples. */
export function ksStatistic(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (!(a.length >= 1 && b.length >= 1)) throw new TrellisError('EMPTY_INPUT', `a KS statistic of samples of ${a.length} and ${b.length} values`, 'pass two non-empty samples');
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

/** BBSD: a KS test per softmax output column; `maxStat` is the score, `pValue` Bonferroni-corrected (min p × k). */
export function bbsdKS(probsOld: Float32Array, probsNew: Float32Array, k: number): { maxStat: number; pValue: number; stats: number[] } {
  const n = Math.floor(probsOld.length / k);
  const m = Math.floor(probsNew.length / k);
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

/**
 * LogME (You et al. 2021, fixed-point version): mean over classes of the maximum log evidence per
 * sample of a Bayesian linear model from features `f` (`n × d`) to the one-hot labels. Higher = easier transfer.
 */
export function logme(f: Float32Array, y: Int32Array, d: number): number {
  const n = y.length;
  checkRows(f, n, d, 'LogME');
  checkLabelRange(y, Infinity);
  const ftf = new Float64Array(d * d);
  for (let i = 0; i < n; i++) for (let a = 0; a < d; a++) {
    const fa = f[i * d + a]!;
    if (fa === 0) continue;
    for (let b = 0; b < d; b++) ftf[a * d + b] = ftf[a * d + b]! + fa * f[i * d + b]!;
  }
  const { values: s, vectors: v } = symmetricEigen(ftf, d);
  for (let i = 0; i < d; i++) if (s[i]! < 0) s[i] = 0;
  const classes = [...new Set(y)].sort((p, q) => p - q);
  const eps = 1e-5;
  let total = 0;
  for (const c of classes) {
    const fty = new Float64Array(d);
    for (let i = 0; i < n; i++) if (y[i] === c) for (let t = 0; t < d; t++) fty[t] = fty[t]! + f[i * d + t]!;
    const tmp = new Float64Array(d); // Vᵀ Fᵀ y
    for (let k = 0; k < d; k++) {
      let s2 = 0;
      for (let t = 0; t < d; t++) s2 += v[t * d + k]! * fty[t]!;
      tmp[k] = s2;
    }
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
    let logdet = 0;
    for (let k = 0; k < d; k++) logdet += Math.log(alpha + beta * s[k]!);
    const evidence = (d / 2) * Math.log(alpha) + (n / 2) * Math.log(beta) - 0.5 * logdet
      - (beta / 2) * (betaDe + eps) - (alpha / 2) * (alphaDe + eps) - (n / 2) * Math.log(2 * Math.PI);
    total += evidence / n;
  }
  return total / classes.length;
}

/**
 * LEEP (Nguyen et al. 2020): the mean log-likelihood of the labels under the empirical conditional
 * of target labels given the source model's predicted classes. Higher = easier transfer.
 */
export function leep(sourceProbs: Float32Array, kSource: number, y: Int32Array): number {
  const n = y.length;
  checkRows(sourceProbs, n, kSource, 'LEEP');
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

/** H-score (Bao et al. 2019): `tr(pinv(cov f) · cov(E[f | y]))`. Higher = easier transfer. */
export function hScore(f: Float32Array, y: Int32Array, d: number): number {
  const n = y.length;
  checkRows(f, n, d, 'H-score');
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
 */
export function gaussianOtdd(fOld: Float32Array, yOld: Int32Array, fNew: Float32Array, yNew: Int32Array, d: number, options: { diagonal?: boolean } = {}): number {
  checkRows(fOld, yOld.length, d, 'OTDD (old features)');
  checkRows(fNew, yNew.length, d, 'OTDD (new features)');
  const classes = [...new Set(yOld)].filter((c) => yNew.includes(c)).sort((p, q) => p - q);
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
