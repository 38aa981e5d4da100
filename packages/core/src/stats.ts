/**
 * The one set of descriptive statistics every package uses: correlations (Pearson, Spearman,
 * Kendall τ-b), ranks, median, quantile, and the percentile bootstrap. Pure functions on plain
 * numbers, computed in float64.
 */
import { check } from './errors.js';

function sameLength(x: ArrayLike<number>, y: ArrayLike<number>): void {
  check(x.length === y.length, 'LENGTH_MISMATCH', () => `a correlation of ${x.length} values with ${y.length} values`, 'pass two lists of the same length (one value per item on each side)');
}

/** Whether every entry of `v` equals the first (a constant side has no correlation; its float mean may not be exact). */
function isConstant(v: ArrayLike<number>): boolean {
  for (let i = 1; i < v.length; i++) if (v[i] !== v[0]) return false;
  return true;
}

/**
 * Pearson correlation, clipped to [−1, 1] as SciPy's `pearsonr` does. NaN when n < 2, when either
 * side is constant (every value equal: `[0.1, 0.1, 0.1]` too, whose float64 mean is not exactly 0.1),
 * or when a side holds NaN.
 * @throws TrellisError `LENGTH_MISMATCH` when the two sides differ in length.
 */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  sameLength(x, y);
  const n = x.length;
  if (n < 2 || isConstant(x) || isConstant(y)) return NaN;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) { mx += x[i]!; my += y[i]!; }
  mx /= n;
  my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? Math.min(1, Math.max(-1, sxy / Math.sqrt(sxx * syy))) : NaN;
}

/** Ranks 1..n, ties given their average rank (e.g. [10, 20, 20, 5] → [2, 3.5, 3.5, 1]). */
export function ranks(x: ArrayLike<number>): number[] {
  const idx = Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[a]! - x[b]! || a - b);
  const r = new Array<number>(x.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && x[idx[j + 1]!] === x[idx[i]!]) j++;
    for (let k = i; k <= j; k++) r[idx[k]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Whether any entry of `v` is NaN (the statistics and metrics that propagate NaN check it first). */
export function holdsNaN(v: ArrayLike<number>): boolean {
  for (let i = 0; i < v.length; i++) if (Number.isNaN(v[i])) return true;
  return false;
}

/**
 * Spearman's ρ: Pearson correlation of the average ranks. NaN when a side is constant or holds a NaN
 * (SciPy's default `nan_policy='propagate'`; NaN has no rank, and ranking around it gave arbitrary values).
 * @throws TrellisError `LENGTH_MISMATCH` when the two sides differ in length.
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  sameLength(x, y);
  if (holdsNaN(x) || holdsNaN(y)) return NaN;
  return pearson(ranks(x), ranks(y));
}

/**
 * Kendall's τ-b (tie-corrected). NaN when either side is constant or holds a NaN.
 * @throws TrellisError `LENGTH_MISMATCH` when the two sides differ in length.
 */
export function kendall(x: ArrayLike<number>, y: ArrayLike<number>): number {
  sameLength(x, y);
  if (holdsNaN(x) || holdsNaN(y)) return NaN;
  const n = x.length;
  let concordant = 0, discordant = 0, tiedX = 0, tiedY = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    const a = Math.sign(x[i]! - x[j]!);
    const b = Math.sign(y[i]! - y[j]!);
    if (a === 0 && b === 0) continue;
    if (a === 0) tiedX++;
    else if (b === 0) tiedY++;
    else if (a === b) concordant++;
    else discordant++;
  }
  const denom = Math.sqrt((concordant + discordant + tiedX) * (concordant + discordant + tiedY));
  return denom === 0 ? NaN : (concordant - discordant) / denom;
}

/** Median (the mean of the two middle values for an even count); NaN for no values or when one is NaN (as `numpy.median`). */
export function median(x: ArrayLike<number>): number {
  if (!x.length || holdsNaN(x)) return NaN;
  const s = Array.from(x).sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The q-quantile (q clamped to [0, 1]) with linear interpolation between order statistics, NumPy's
 * default (`np.quantile(x, q)`): position (n − 1)·q in the sorted values. A position that falls on an
 * order statistic returns it as it is, also next to an infinite value (`quantile([1, 2, Infinity], 0.5)`
 * is 2, `quantile([1, Infinity], 1)` is Infinity, where `2 + (∞ − 2)·0` gave NaN). NaN for no values or
 * when one is NaN (NaN has no place in the order).
 * @throws TrellisError `BAD_OPTION` when q is NaN.
 */
export function quantile(x: ArrayLike<number>, q: number): number {
  check(!Number.isNaN(q), 'BAD_OPTION', 'quantile q is NaN', 'pass q in [0, 1], e.g. 0.5 for the median');
  if (!x.length || holdsNaN(x)) return NaN;
  const s = Array.from(x).sort((a, b) => a - b);
  const pos = (s.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  if (pos === lo) return s[lo]!;
  return s[lo]! + (s[lo + 1]! - s[lo]!) * (pos - lo);
}

/** A percentile-bootstrap confidence interval; `valid` = resamples whose statistic was finite. */
export interface BootstrapInterval {
  lo: number;
  hi: number;
  valid: number;
}

/** Options of {@link bootstrapInterval}. */
export interface BootstrapOptions {
  /** Resamples drawn (default 1,000). */
  resamples?: number;
  /** Coverage of the interval (default 0.95). */
  level?: number;
}

/**
 * Percentile bootstrap over n items: each of `resamples` draws picks n item indices with replacement
 * (`rng.int(n)`, in order), evaluates `statistic` on them, and the interval is the (1 − level)/2 and
 * (1 + level)/2 {@link quantile}s of the finite values. Resamples whose statistic is not finite (e.g. a
 * correlation of constant values) are skipped and not counted in `valid`; lo = hi = NaN when none is
 * (or n = 0).
 * @throws TrellisError `BAD_COUNT` for an item count n that is not a whole number ≥ 0, `BAD_OPTION` for a resample
 * count that is not a whole number ≥ 1 or a level outside (0, 1).
 */
export function bootstrapInterval(
  n: number, statistic: (indices: readonly number[]) => number, rng: { int(n: number): number }, options: BootstrapOptions = {},
): BootstrapInterval {
  check(Number.isInteger(n) && n >= 0, 'BAD_COUNT', () => `bootstrap over ${String(n)} items: the count is not a whole number ≥ 0`, 'pass n, the number of items the statistic is computed over (e.g. the length of the data)');
  const level = options.level ?? 0.95;
  const resamples = options.resamples ?? 1000;
  check(Number.isInteger(resamples) && resamples >= 1, 'BAD_OPTION', () => `bootstrap resamples ${String(resamples)} is not a whole number ≥ 1`, 'pass resamples such as 1000 (the default)');
  check(level > 0 && level < 1, 'BAD_OPTION', () => `bootstrap level ${String(level)} is outside (0, 1)`, 'pass level such as 0.95 (the default)');
  const values: number[] = [];
  if (n > 0) {
    const indices = new Array<number>(n);
    for (let b = 0; b < resamples; b++) {
      for (let i = 0; i < n; i++) indices[i] = rng.int(n);
      const v = statistic(indices);
      if (Number.isFinite(v)) values.push(v);
    }
  }
  return { lo: quantile(values, (1 - level) / 2), hi: quantile(values, (1 + level) / 2), valid: values.length };
}

/**
 * Percentile-bootstrap interval of a paired statistic such as {@link spearman}: resamples (x_i, y_i)
 * pairs together (see {@link bootstrapInterval}). NaN interval for fewer than 2 pairs.
 * @throws TrellisError `LENGTH_MISMATCH` when x and y differ in length.
 */
export function pairedBootstrapInterval(
  x: ArrayLike<number>, y: ArrayLike<number>, statistic: (x: number[], y: number[]) => number,
  rng: { int(n: number): number }, options: BootstrapOptions = {},
): BootstrapInterval {
  sameLength(x, y);
  if (x.length < 2) return { lo: NaN, hi: NaN, valid: 0 };
  return bootstrapInterval(x.length, (idx) => statistic(idx.map((i) => x[i]!), idx.map((i) => y[i]!)), rng, options);
}
