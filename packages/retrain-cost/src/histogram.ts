/**
 * Histograms and the four distances between probability vectors that PreIndex and ARM use
 * (spec §3.3–3.4). Every function is pure and works on host arrays.
 */
import { TrellisError } from '@trellis-ml/core';
import { checkSameLength } from './inputs.js';

/**
 * Throws unless `p` and `q` are two pmfs a distance is defined on: `LENGTH_MISMATCH` for unequal lengths,
 * `EMPTY_INPUT` for empty ones (the distance would be 0/0 = NaN). Finiteness is checked by each distance from
 * a sum it computes anyway (see {@link nonFinitePmf}), so the per-row loop of PreIndex pays no extra pass.
 */
function checkPmfs(p: ArrayLike<number>, q: ArrayLike<number>, what: string): void {
  checkSameLength(p, q, what);
  if (p.length === 0) throw new TrellisError('EMPTY_INPUT', `${what}: the pmfs are empty`, 'pass two probability vectors of at least one bin (histogramPmf gives them)');
}

/**
 * The `NON_FINITE_VALUES` error naming the first NaN/±Infinity entry of `p` or `q` (a NaN entry used to come out
 * as a NaN distance, or, in KL and JS, to be skipped silently). Called when a distance's running sum is not finite.
 */
function nonFinitePmf(p: ArrayLike<number>, q: ArrayLike<number>, what: string): TrellisError {
  let i = 0;
  while (i < p.length - 1 && p[i]! >= 0 && p[i]! - p[i]! === 0 && q[i]! >= 0 && q[i]! - q[i]! === 0) i++;
  return new TrellisError('NON_FINITE_VALUES', `${what}: entry ${i} is ${String(p[i])} and ${String(q[i])}, and the distance is not finite`,
    'pass probability vectors of finite entries ≥ 0 (histogramPmf of finite values gives them)');
}

/** The four distances PreIndex reports: Wasserstein, Jensen–Shannon, 1 − Bhattacharyya coefficient, KL. */
export type DistanceName = 'W' | 'JS' | 'BH' | 'KL';

/** All distance names, in the order the reference writes them. */
export const DISTANCE_NAMES: readonly DistanceName[] = ['W', 'JS', 'BH', 'KL'];

/** How the Wasserstein distance between two pmfs is read (spec §3.4, §14.3). */
export type WassersteinMode = 'value-sort' | 'bin-cdf';

/** The {@link WassersteinMode}s (PreIndex and ARM check their option against it). */
export const WASSERSTEIN_MODES: readonly WassersteinMode[] = ['value-sort', 'bin-cdf'];
/** The fix an unknown {@link WassersteinMode} gets. */
export const WASSERSTEIN_FIX = "use wasserstein: 'value-sort' (the reference's, default) or 'bin-cdf'";

/**
 * Fills `counts` (length `bins`) with the NumPy-compatible histogram of `v` over `[lo, hi]`
 * (equal-width bins; the top edge belongs to the last bin; values outside are ignored).
 *
 * Edges follow `np.linspace` (`lo + i·step`, `step = (hi − lo)/bins` in float64, last edge = `hi`)
 * cast to the data's dtype, as NumPy 1.24 (the reference's pin) does: for a `Float32Array` (every
 * tapped activation) the edges are rounded to float32, so a float32 value lying on a float32 edge
 * goes to the bin above it, exactly as `np.histogram` on float32 activations.
 */
function countInto(v: ArrayLike<number>, lo: number, hi: number, counts: Int32Array, offset: number, length: number, bins: number): number {
  const norm = bins / (hi - lo);
  const step = (hi - lo) / bins;
  const f32 = v instanceof Float32Array;
  const edges = edgeScratch(bins + 1);
  for (let i = 0; i < bins; i++) edges[i] = f32 ? Math.fround(lo + i * step) : lo + i * step;
  edges[bins] = hi;
  let total = 0;
  for (let k = 0; k < length; k++) {
    const x = v[offset + k]!;
    if (!(x >= lo && x <= hi)) {
      if (x !== x) throw nonFinite(x, offset + k); // NaN: NumPy drops it silently with a range, which skews the pmf
      continue;
    }
    let i = Math.floor((x - lo) * norm);
    if (i >= bins) i = bins - 1;
    if (i > 0 && x < edges[i]!) i--;
    if (i < bins - 1 && x >= edges[i + 1]!) i++;
    counts[i]!++;
    total++;
  }
  return total;
}

// One buffer of bin edges and one of counts for every histogram (both are rebuilt on each call; fresh
// arrays per call were a large share of the time of PreIndex's per-row histograms).
let edges = new Float64Array(65);
function edgeScratch(length: number): Float64Array {
  if (edges.length < length) edges = new Float64Array(length);
  return edges;
}
let counts = new Int32Array(64);
function countScratch(bins: number): Int32Array {
  if (counts.length < bins) counts = new Int32Array(bins);
  counts.fill(0, 0, bins);
  return counts;
}

/** Throws `BAD_BINS` unless `bins` is a whole number ≥ 1 (a histogram of 0, negative or fractional bins is not defined). */
export function checkBins(bins: number, where = 'histogram'): void {
  if (!(Number.isInteger(bins) && bins >= 1)) {
    throw new TrellisError('BAD_BINS', `${where} bin count ${String(bins)} is not a whole number ≥ 1`, 'pass a bin count such as 32 (PreIndex uses 16, 32 and 64)');
  }
}

/** The error of a NaN or ±Infinity value at `at` of a histogram's input. */
function nonFinite(x: number, at: number): TrellisError {
  return new TrellisError('NON_FINITE_VALUES', `a histogram's value at ${at} is ${String(x)}: it has no bin (and ±Infinity no finite range)`,
    'remove or impute the NaN/Inf values first (check the model for NaN activations)');
}

/** Throws `EMPTY_INPUT` for a histogram of no values (its "pmf" would be all zeros, not a probability vector). */
function checkNotEmpty(length: number): void {
  if (!(length >= 1)) {
    throw new TrellisError('EMPTY_INPUT', `a histogram of ${length} values`, 'pass at least one value (a layer with no units or a sample with no activations has no histogram)');
  }
}

/**
 * The range NumPy uses for a histogram of `v`: `[min, max]`, widened by ±0.5 when they are equal.
 * @throws TrellisError `EMPTY_INPUT` for no values, `NON_FINITE_VALUES` for a NaN or ±Infinity value (as
 * `np.histogram` refuses a range that is not finite).
 */
export function histogramRange(v: ArrayLike<number>, offset = 0, length = v.length): [number, number] {
  checkNotEmpty(length);
  for (let k = 0; k < length; k++) if (Number.isNaN(v[offset + k])) throw nonFinite(NaN, offset + k);
  return ownRange(v, offset, length);
}

/**
 * {@link histogramRange} of a non-empty slice without the NaN scan (NaN never moves min or max; the histogram's
 * counting pass finds it): ±Infinity throws `NON_FINITE_VALUES`.
 */
function ownRange(v: ArrayLike<number>, offset: number, length: number): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < length; k++) {
    const x = v[offset + k]!;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) {
    // ±Infinity, or only NaN values (then lo and hi never moved)
    let k = 0;
    while (k < length - 1 && Number.isFinite(v[offset + k])) k++;
    throw nonFinite(v[offset + k]!, offset + k);
  }
  if (lo === hi) return [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

/**
 * The `bins`-bin histogram of the entries of `v` on its own range, normalised to a pmf
 * (counts / total) — the reference's per-sample rule (spec §3.3). With a `range`, values outside it are
 * ignored (NumPy's rule).
 * Example: `histogramPmf([0, 1, 2, 3, 4, 10], 4)` → `[0.5, 1/3, 0, 1/6]`.
 * @throws TrellisError `BAD_BINS` for a bin count that is not a whole number ≥ 1, `EMPTY_INPUT` for no values,
 * `NON_FINITE_VALUES` for a NaN value (or ±Infinity without a `range`), `BAD_RANGE` for a bad `range`.
 */
export function histogramPmf(v: ArrayLike<number>, bins: number, range?: [number, number]): Float64Array {
  return histogramPmfSlice(v, 0, v.length, bins, range);
}

/** Like {@link histogramPmf} for the slice `v[offset, offset + length)` (no copy). */
export function histogramPmfSlice(v: ArrayLike<number>, offset: number, length: number, bins: number, range?: [number, number]): Float64Array {
  checkBins(bins); // before the allocation, which would throw a RangeError for a fractional or negative count
  return histogramPmfInto(v, offset, length, new Float64Array(bins), range);
}

/**
 * Like {@link histogramPmfSlice}, written into `out`, whose first `bins` entries (default: all of it)
 * receive the pmf and are returned as a view when `bins` is shorter than `out`; nothing is allocated
 * (for loops over many rows that reuse one buffer).
 */
export function histogramPmfInto(v: ArrayLike<number>, offset: number, length: number, out: Float64Array, range?: [number, number], bins = out.length): Float64Array {
  checkBins(bins);
  if (bins > out.length) {
    throw new TrellisError('BAD_BINS', `histogram bin count ${bins} is more than the buffer's length ${out.length}`, 'pass a buffer of at least `bins` entries (new Float64Array(bins))');
  }
  checkNotEmpty(length);
  const [lo, hi] = range ? checkedRange(range) : ownRange(v, offset, length);
  const c = countScratch(bins);
  const total = countInto(v, lo, hi, c, offset, length, bins);
  for (let i = 0; i < bins; i++) out[i] = total > 0 ? c[i]! / total : 0;
  return bins === out.length ? out : out.subarray(0, bins);
}

/**
 * A given histogram range as NumPy reads `range=(lo, hi)`: both ends finite and `lo ≤ hi`, or `BAD_RANGE`
 * (an inverted or NaN range used to give an all-zero "pmf"); equal ends are widened by ±0.5.
 */
function checkedRange([lo, hi]: [number, number]): [number, number] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi)) {
    throw new TrellisError('BAD_RANGE', `histogram range [${String(lo)}, ${String(hi)}] is not two finite numbers with min ≤ max`,
      'pass [min, max] of finite values (histogramRange gives it; values that are all NaN or ±Infinity have no finite range), or no range to use the values\' own');
  }
  return lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

/**
 * The reference's "Wasserstein" between two pmfs of equal length: the 1-D Wasserstein distance
 * between the pmf *values* read as samples, `(1/b) Σ |p_(i) − q_(i)|` over sorted entries.
 * Permutation-invariant over bins (spec §3.4, §14.3).
 * @throws TrellisError `LENGTH_MISMATCH` when the pmfs differ in length, `EMPTY_INPUT` when they are empty, `NON_FINITE_VALUES` for a NaN/±Infinity entry.
 */
export function wassersteinValueSort(p: ArrayLike<number>, q: ArrayLike<number>): number {
  checkPmfs(p, q, 'Wasserstein (value-sort) of two pmfs');
  const n = p.length;
  if (sortScratchA.length < n) {
    sortScratchA = new Float64Array(n);
    sortScratchB = new Float64Array(n);
  }
  const a = sortScratchA.subarray(0, n);
  const b = sortScratchB.subarray(0, n);
  for (let i = 0; i < n; i++) {
    a[i] = p[i]!;
    b[i] = q[i]!;
  }
  a.sort();
  b.sort();
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.abs(a[i]! - b[i]!);
  if (!Number.isFinite(s)) throw nonFinitePmf(p, q, 'Wasserstein (value-sort) of two pmfs'); // NaN/±Inf entries make s NaN or Inf
  return s / n;
}

// Reused sort buffers of {@link wassersteinValueSort} (called once per row and layer by PreIndex).
let sortScratchA = new Float64Array(64);
let sortScratchB = new Float64Array(64);

/**
 * The principled alternative: W1 between two pmfs on one shared grid of `b` equal bins, as a
 * fraction of the range: `Σ_j |F_p(j) − F_q(j)| / b`.
 * @throws TrellisError `LENGTH_MISMATCH` when the pmfs differ in length, `EMPTY_INPUT` when they are empty, `NON_FINITE_VALUES` for a NaN/±Infinity entry.
 */
export function wassersteinBinCdf(p: ArrayLike<number>, q: ArrayLike<number>): number {
  checkPmfs(p, q, 'Wasserstein (bin-cdf) of two pmfs');
  let fp = 0;
  let fq = 0;
  let s = 0;
  for (let i = 0; i < p.length; i++) {
    fp += p[i]!;
    fq += q[i]!;
    s += Math.abs(fp - fq);
  }
  if (!Number.isFinite(s)) throw nonFinitePmf(p, q, 'Wasserstein (bin-cdf) of two pmfs');
  return s / p.length;
}

/**
 * Jensen–Shannon divergence in nats (not its square root); zero-numerator terms are 0.
 * @throws TrellisError `LENGTH_MISMATCH` when the pmfs differ in length, `EMPTY_INPUT` when they are empty, `NON_FINITE_VALUES` for a NaN/±Infinity entry.
 */
export function jensenShannon(p: ArrayLike<number>, q: ArrayLike<number>): number {
  checkPmfs(p, q, 'Jensen–Shannon of two pmfs');
  let s = 0;
  let all = 0; // Σ m: NaN/±Inf exactly when an entry is
  for (let i = 0; i < p.length; i++) {
    const a = p[i]!;
    const b = q[i]!;
    const m = (a + b) / 2;
    all += m;
    if (a > 0) s += 0.5 * a * Math.log(a / m);
    if (b > 0) s += 0.5 * b * Math.log(b / m);
  }
  if (!Number.isFinite(all)) throw nonFinitePmf(p, q, 'Jensen–Shannon of two pmfs');
  return s;
}

/**
 * `1 − Σ √(p_i q_i)`: one minus the Bhattacharyya coefficient (the squared Hellinger distance).
 * @throws TrellisError `LENGTH_MISMATCH` when the pmfs differ in length, `EMPTY_INPUT` when they are empty, `NON_FINITE_VALUES` for a NaN/±Infinity entry.
 */
export function bhattacharyya(p: ArrayLike<number>, q: ArrayLike<number>): number {
  checkPmfs(p, q, 'Bhattacharyya of two pmfs');
  let same = true;
  let all = 0;
  for (let i = 0; i < p.length && same; i++) {
    same = p[i] === q[i];
    all += p[i]!;
  }
  if (same) {
    if (!Number.isFinite(all)) throw nonFinitePmf(p, q, 'Bhattacharyya of two pmfs');
    return 0; // exact 0 for identical pmfs (1 − Σp can round to 2.8e-17)
  }
  let s = 0;
  for (let i = 0; i < p.length; i++) s += Math.sqrt(p[i]! * q[i]!);
  // a NaN, an Infinity times 0 or a negative product gives NaN, an Infinity times a positive entry Infinity
  if (!Number.isFinite(s)) throw nonFinitePmf(p, q, 'Bhattacharyya of two pmfs');
  return 1 - s;
}

/**
 * KL(p‖q) in nats. Without `epsilon`, the reference rule: a term with `p_i > 0, q_i = 0` (∞ in
 * SciPy) counts as 0, so the value can be negative (spec §14.4). With `epsilon`, both pmfs are
 * smoothed (`(p + ε) / (1 + bε)`) first.
 * @throws TrellisError `LENGTH_MISMATCH` when the pmfs differ in length, `EMPTY_INPUT` when they are empty, `NON_FINITE_VALUES` for a NaN/±Infinity entry, `BAD_OPTION` for an `epsilon` that is
 * not a finite number ≥ 0.
 */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>, epsilon?: number): number {
  checkPmfs(p, q, 'KL of two pmfs');
  checkKlEpsilon(epsilon);
  const b = p.length;
  let s = 0;
  let all = 0; // Σ (a + c): NaN/±Inf exactly when an entry is (the ∞→0 rule would skip a NaN term)
  for (let i = 0; i < b; i++) {
    let a = p[i]!;
    let c = q[i]!;
    if (epsilon !== undefined) {
      a = (a + epsilon) / (1 + b * epsilon);
      c = (c + epsilon) / (1 + b * epsilon);
    }
    all += a + c;
    if (a > 0 && c > 0) s += a * Math.log(a / c);
  }
  if (!Number.isFinite(all)) throw nonFinitePmf(p, q, 'KL of two pmfs');
  return s;
}

/**
 * Throws `BAD_OPTION` unless the KL smoothing `epsilon` is undefined (the reference's ∞→0 rule) or a finite
 * number ≥ 0 (a negative one can make a smoothed "probability" negative or its normaliser 0).
 */
export function checkKlEpsilon(epsilon: unknown): void {
  if (epsilon !== undefined && !(typeof epsilon === 'number' && Number.isFinite(epsilon) && epsilon >= 0)) {
    throw new TrellisError('BAD_OPTION', `KL smoothing klEpsilon ${typeof epsilon === 'string' ? `"${epsilon}"` : String(epsilon)} is not a finite number ≥ 0`,
      'pass a small klEpsilon such as 1e-10, or leave it out for the reference\'s ∞→0 rule');
  }
}

/** The four distances by name (W is the reference's value-sort reading). */
export const distances: Record<DistanceName, (p: ArrayLike<number>, q: ArrayLike<number>) => number> = {
  W: wassersteinValueSort,
  JS: jensenShannon,
  BH: bhattacharyya,
  KL: (p, q) => klDivergence(p, q),
};
