/**
 * Lloyd's k-means (scikit-learn-compatible stopping rules) and the Adjusted Rand Index — the
 * clustering term of PreIndex (spec §4.2). Pure functions of host arrays; large inputs compute the
 * point–centre products with the tfjs backend's matmul and re-check uncertain rows exactly, so the
 * labels are those of the exact float64 computation on every backend. After the first assignment,
 * Hamerly's distance bounds let the rows whose label cannot change skip their distances (the labels
 * stay those of the full computation), and the centre sums follow only the rows that moved.
 */
import * as tf from '@tensorflow/tfjs-core';
import { largeFloat32Array, Rng, TrellisError } from '@trellis-ml/core';
import { checkFinite } from './inputs.js';

/** Options of {@link kmeans}. */
export interface KMeansOptions {
  /** Maximum Lloyd iterations (default 300, as scikit-learn). */
  maxIter?: number;
  /** Relative tolerance (default 1e-4): stop when the summed squared centre shift ≤ tol × mean feature variance. */
  tol?: number;
  /** Seed of the k-means++ initialisation (default 0). */
  seed?: number;
  /**
   * From how many multiply-adds per assignment pass (`n·k·d`) the point–centre products run on the
   * backend's matmul (default 2e7; `Infinity` keeps everything in JavaScript). The labels are the same
   * either way: rows whose best and second-best centres are within the float32 error bound are
   * re-assigned with exact float64 distances.
   */
  matmulFrom?: number;
}

/** Result of {@link kmeans}. */
export interface KMeansResult {
  /** Cluster of each point (after a final assignment pass). */
  labels: Int32Array;
  /** `k × d` centres. */
  centers: Float32Array;
  /** Lloyd iterations run. */
  iters: number;
  /** How many times an emptied cluster was re-seated at the farthest point (0 in a clean run). */
  reseated: number;
  /** Row assignments, over all passes, that the distance bounds decided without computing a distance. */
  boundSkips: number;
}

function sqDist(x: Float32Array, i: number, c: Float32Array | Float64Array, j: number, d: number): number {
  let s = 0;
  const xo = i * d;
  const co = j * d;
  for (let t = 0; t < d; t++) {
    const v = x[xo + t]! - c[co + t]!;
    s += v * v;
  }
  return s;
}

/**
 * Hamerly's distance bounds, carried across Lloyd iterations so that most rows skip the distance
 * computation once the centres settle: `upper[i]` ≥ the distance of row i to its assigned centre,
 * `lower[i]` ≤ its distance to every other centre (Euclidean, not squared).
 */
interface Bounds {
  upper: Float64Array;
  lower: Float64Array;
}

/**
 * Relative slack on every bound: covers the float64 rounding of the distances, shifts and sums the
 * bounds are built from, accumulated over up to `maxIter` updates, so a row is skipped only when its
 * label is certain.
 */
const SLACK = 1e-9;

/** Exact assignment of row i (all k distances): label (lowest index on ties), squared distance, bounds. */
function assignRowExact(x: Float32Array, i: number, d: number, centers: Float64Array, k: number, labels: Int32Array, dists: Float64Array, bounds: Bounds): boolean {
  let best = 0;
  let bestD = Infinity;
  let second = Infinity;
  for (let j = 0; j < k; j++) {
    const dd = sqDist(x, i, centers, j, d);
    if (dd < bestD) {
      second = bestD;
      bestD = dd;
      best = j;
    } else if (dd < second) second = dd;
  }
  bounds.upper[i] = Math.sqrt(bestD) * (1 + SLACK);
  bounds.lower[i] = Math.sqrt(second) * (1 - SLACK);
  dists[i] = bestD;
  const changed = labels[i] !== best;
  labels[i] = best;
  return changed;
}

function assign(x: Float32Array, n: number, d: number, centers: Float64Array, k: number, labels: Int32Array, dists: Float64Array, bounds: Bounds): boolean {
  let changed = false;
  for (let i = 0; i < n; i++) if (assignRowExact(x, i, d, centers, k, labels, dists, bounds)) changed = true;
  return changed;
}

/** The backend-matmul assignment of {@link kmeans}: every row, or only the rows listed. */
interface MatmulAssign {
  full: () => boolean;
  rows: (rows: readonly number[]) => boolean;
}

/**
 * Re-assignment after the centres moved by `moved[j]` (Hamerly): each row's bounds are loosened by the
 * moves; a row whose upper bound stays below both its lower bound and half the distance from its
 * centre to the nearest other centre keeps its label with no distance computed. The rows left go to
 * the backend matmul when `matmul` is given (all rows when more than a quarter are left, otherwise
 * just those); otherwise each row left gets the exact distance to its centre, which tightens its upper
 * bound, and, if that is not enough, all k distances. The labels are those of {@link assign} on the
 * same centres. `dists` is exact where computed and `NaN` elsewhere.
 */
function assignWithBounds(x: Float32Array, n: number, d: number, centers: Float64Array, k: number, labels: Int32Array, dists: Float64Array,
  bounds: Bounds, moved: Float64Array, matmul: MatmulAssign | null, counter: { boundSkips: number }): boolean {
  // the largest move among the other centres, and half the distance to the nearest other centre
  const otherMove = new Float64Array(k);
  const halfGap = new Float64Array(k).fill(Infinity);
  for (let a = 0; a < k; a++) {
    for (let j = 0; j < k; j++) if (j !== a && moved[j]! > otherMove[a]!) otherMove[a] = moved[j]!;
    for (let j = a + 1; j < k; j++) {
      let s2 = 0;
      for (let t = 0; t < d; t++) s2 += (centers[a * d + t]! - centers[j * d + t]!) ** 2;
      const g = 0.5 * Math.sqrt(s2) * (1 - SLACK);
      if (g < halfGap[a]!) halfGap[a] = g;
      if (g < halfGap[j]!) halfGap[j] = g;
    }
  }
  const { upper, lower } = bounds;
  const pending: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = labels[i]!;
    upper[i] = (upper[i]! + moved[a]!) * (1 + SLACK);
    lower[i] = Math.max(0, (lower[i]! - otherMove[a]!) * (1 - SLACK));
    dists[i] = NaN;
    if (upper[i]! >= Math.max(lower[i]!, halfGap[a]!)) pending.push(i);
  }
  if (matmul && pending.length > n / 4) return matmul.full();
  counter.boundSkips += n - pending.length;
  if (matmul) return pending.length > 0 && matmul.rows(pending);
  let changed = false;
  for (const i of pending) {
    const a = labels[i]!;
    const da = sqDist(x, i, centers, a, d);
    dists[i] = da;
    upper[i] = Math.sqrt(da) * (1 + SLACK);
    if (upper[i]! < Math.max(lower[i]!, halfGap[a]!)) continue;
    if (assignRowExact(x, i, d, centers, k, labels, dists, bounds)) changed = true;
  }
  return changed;
}

/** Unit roundoff of float32. */
const EPS32 = 2 ** -24;

/**
 * {@link assign} with the products `x·c` from the backend's float32 matmul, for the rows of `xt`: all
 * rows of `x`, or the rows `rows[r]` of `x` copied in that order (`xt` row r is `x` row `rows[r]`). The nearest
 * centre minimises `‖c‖² − 2·x·c`. Each product is off by at most `d·ε·‖x‖·‖c‖` (a standard bound for
 * float32 dot products, plus the centres' rounding to float32); where other centres are not clear
 * of the best by the two bounds, the row is assigned by exact distances to those candidates. `dists` (only used to
 * re-seat emptied clusters) are exact for the rows re-checked and `NaN` for the others: call
 * {@link exactDistances} before reading them.
 */
function assignByMatmul(xt: tf.Tensor2D, rows: readonly number[] | null, x: Float32Array, xNorm: Float64Array, d: number, centers: Float64Array, k: number,
  labels: Int32Array, dists: Float64Array, bounds: Bounds): boolean {
  const c32 = Float32Array.from(centers);
  const products = tf.tidy(() => tf.matMul(xt, tf.tensor2d(c32, [k, d]), false, true));
  const xc = products.dataSync() as Float32Array;
  products.dispose();
  const cNorm2 = new Float64Array(k);
  const cNorm = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    let s2 = 0;
    for (let t = 0; t < d; t++) s2 += c32[j * d + t]! * c32[j * d + t]!;
    cNorm2[j] = s2;
    cNorm[j] = Math.sqrt(s2);
  }
  const bound = (d + 2) * EPS32;
  const tiny = 4 * d * 2 ** -53;
  const scores = new Float64Array(k);
  const candidates = new Int32Array(k);
  // bounds on each squared distance: the score's error interval, or the exact value where computed
  const lo2 = new Float64Array(k);
  const hi2 = new Float64Array(k);
  let changed = false;
  const rowCount = xt.shape[0];
  for (let r = 0; r < rowCount; r++) {
    const i = rows ? rows[r]! : r;
    let best = 0;
    for (let j = 0; j < k; j++) {
      scores[j] = cNorm2[j]! - 2 * xc[r * k + j]!;
      if (scores[j]! < scores[best]!) best = j;
    }
    // Each score is off by ≤ 2·bound·‖x‖·‖c‖ (the float32 product and the centres' rounding to
    // float32) + 2ε‖c‖² (‖c‖² of the rounded centre); the exact path's own float64 rounding is far
    // below the last term. Centres not clear of the best by both errors are candidates.
    const xn = xNorm[i]!;
    const errorOf = (j: number): number => 2 * bound * xn * cNorm[j]! + 2 * EPS32 * cNorm2[j]! + tiny * (xn * xn + cNorm2[j]!);
    const errBest = errorOf(best);
    let count = 0;
    for (let j = 0; j < k; j++) {
      const e = errorOf(j);
      lo2[j] = xn * xn + scores[j]! - e;
      hi2[j] = xn * xn + scores[j]! + e;
      if (j === best || scores[j]! - scores[best]! <= errBest + e) candidates[count++] = j;
    }
    let label = best;
    if (count > 1) {
      // Exact distances to the candidates (in index order: the lowest index wins ties, as on the exact path).
      let bd = Infinity;
      for (let c = 0; c < count; c++) {
        const j = candidates[c]!;
        const dd = sqDist(x, i, centers, j, d);
        lo2[j] = dd;
        hi2[j] = dd;
        if (dd < bd) {
          bd = dd;
          label = j;
        }
      }
      dists[i] = bd;
    } else dists[i] = NaN;
    let nearestOther = Infinity;
    for (let j = 0; j < k; j++) if (j !== label && lo2[j]! < nearestOther) nearestOther = lo2[j]!;
    bounds.upper[i] = Math.sqrt(Math.max(0, hi2[label]!)) * (1 + SLACK);
    bounds.lower[i] = Math.sqrt(Math.max(0, nearestOther)) * (1 - SLACK);
    if (labels[i] !== label) changed = true;
    labels[i] = label;
  }
  return changed;
}

/** Fills the `NaN` entries of `dists` with exact squared distances to the assigned centres. */
function exactDistances(x: Float32Array, n: number, d: number, centers: Float64Array, labels: Int32Array, dists: Float64Array): void {
  for (let i = 0; i < n; i++) if (Number.isNaN(dists[i]!)) dists[i] = sqDist(x, i, centers, labels[i]!, d);
}

/**
 * Re-seats each empty cluster (in index order) at the not yet taken point farthest from its assigned
 * centre, as scikit-learn's `_relocate_empty_clusters_dense` does on the per-cluster sums: the point
 * moves *out* of its donor cluster's sum and count, and becomes the empty cluster's sum with count 1.
 * `owner` records that the point's sum now sits in the re-seated cluster. Returns how many clusters were re-seated.
 */
function reseatEmpty(x: Float32Array, n: number, d: number, k: number, labels: Int32Array, dists: Float64Array, sums: Float64Array, counts: Int32Array,
  owner: Int32Array): number {
  const taken = new Set<number>();
  let reseated = 0;
  for (let j = 0; j < k; j++) {
    if (counts[j]! > 0) continue;
    let far = -1;
    let farD = -1;
    for (let i = 0; i < n; i++) if (!taken.has(i) && dists[i]! > farD) { farD = dists[i]!; far = i; }
    taken.add(far);
    const donor = owner[far]!;
    for (let t = 0; t < d; t++) {
      sums[donor * d + t] = sums[donor * d + t]! - x[far * d + t]!;
      sums[j * d + t] = x[far * d + t]!;
    }
    counts[donor] = counts[donor]! - 1;
    counts[j] = 1;
    owner[far] = j;
    reseated++;
  }
  return reseated;
}

/**
 * Brings the per-cluster `sums` and `counts` from the assignment `owner` to `labels`, and sets
 * `owner = labels`. When fewer than half the rows moved, only those are subtracted from their old
 * cluster and added to their new one; otherwise every sum is rebuilt from scratch in row order (the
 * first pass always is). The sums are float64 over float32 rows, so the two ways differ only in the
 * last bits of a sum; both paths of {@link kmeans} (exact and matmul) share this update.
 */
function updateSums(x: Float32Array, n: number, d: number, k: number, labels: Int32Array, owner: Int32Array, sums: Float64Array, counts: Int32Array): void {
  let moved = 0;
  for (let i = 0; i < n; i++) if (labels[i] !== owner[i]) moved++;
  if (2 * moved >= n) {
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const j = labels[i]!;
      counts[j] = counts[j]! + 1;
      addRow(sums, j * d, x, i * d, d, 1);
      owner[i] = j;
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const from = owner[i]!;
    const to = labels[i]!;
    if (from === to) continue;
    addRow(sums, from * d, x, i * d, d, -1);
    addRow(sums, to * d, x, i * d, d, 1);
    counts[from] = counts[from]! - 1;
    counts[to] = counts[to]! + 1;
    owner[i] = to;
  }
}

/**
 * `acc[ao + t] += sign · x[xo + t]` for `t < d`. `sign · x` is exact for sign ±1, so adding `−x` rounds as
 * subtracting `x` does.
 */
function addRow(acc: Float64Array, ao: number, x: Float32Array, xo: number, d: number, sign: 1 | -1): void {
  const end = ao + d;
  let a = ao;
  let b = xo;
  for (; a + 3 < end; a += 4, b += 4) {
    acc[a] = acc[a]! + sign * x[b]!;
    acc[a + 1] = acc[a + 1]! + sign * x[b + 1]!;
    acc[a + 2] = acc[a + 2]! + sign * x[b + 2]!;
    acc[a + 3] = acc[a + 3]! + sign * x[b + 3]!;
  }
  for (; a < end; a++, b++) acc[a] = acc[a]! + sign * x[b]!;
}

/** k-means++ seeding (deterministic from `seed`; not bit-identical to scikit-learn's). */
function kmeansPlusPlus(x: Float32Array, n: number, d: number, k: number, seed: number): Float64Array {
  const rng = Rng.derive(seed, 'kmeans++');
  const centers = new Float64Array(k * d);
  const first = rng.int(n);
  for (let t = 0; t < d; t++) centers[t] = x[first * d + t]!;
  const closest = new Float64Array(n);
  for (let i = 0; i < n; i++) closest[i] = sqDist(x, i, centers, 0, d);
  for (let j = 1; j < k; j++) {
    let total = 0;
    for (let i = 0; i < n; i++) total += closest[i]!;
    let r = rng.next() * total;
    let pick = n - 1;
    for (let i = 0; i < n; i++) {
      r -= closest[i]!;
      if (r < 0) {
        pick = i;
        break;
      }
    }
    for (let t = 0; t < d; t++) centers[j * d + t] = x[pick * d + t]!;
    for (let i = 0; i < n; i++) closest[i] = Math.min(closest[i]!, sqDist(x, i, centers, j, d));
  }
  return centers;
}

/** Throws `NON_FINITE_VALUES` naming the first NaN or infinite entry of `v`, if any. */
function checkFinitePoints(v: Float32Array, what: string): void {
  checkFinite(v, `${what} of k-means`, 'remove or impute NaN/Inf rows first (check the model for NaN activations, or classCentroids for a class without rows)');
}

/**
 * Lloyd's k-means on `n` points of dimension `d` (row-major `x`), with `k = init.length / d`
 * given centres or `k` k-means++ centres. Stops when assignments stop changing or the summed
 * squared centre shift ≤ `tol ×` mean per-feature variance; an emptied cluster is re-seated at
 * the point farthest from its centre; a final assignment pass follows the last update.
 * @throws TrellisError `BAD_SHAPE`, `BAD_CLUSTERS` (k outside 1…n), `BAD_OPTION` for a `maxIter` that is not a whole
 * number ≥ 0 or a `tol` that is not a finite number ≥ 0, `NON_FINITE_VALUES` for NaN/±Infinity points or centres.
 */
export function kmeans(x: Float32Array, n: number, d: number, init: Float32Array | { kmeansPlusPlus: number }, options: KMeansOptions = {}): KMeansResult {
  if (x.length !== n * d) {
    throw new TrellisError('BAD_SHAPE', `k-means got ${x.length} values for ${n} points of dimension ${d}`, 'pass x with n × d values');
  }
  if (!(init instanceof Float32Array) && !(init !== null && typeof init === 'object' && 'kmeansPlusPlus' in init)) {
    throw new TrellisError('BAD_CLUSTERS', `k-means got starting centres ${String(init)}`, 'pass k × d initial centres as a Float32Array, or { kmeansPlusPlus: k }');
  }
  const k = init instanceof Float32Array ? init.length / d : init.kmeansPlusPlus;
  if (!(Number.isInteger(k) && k >= 1 && k <= n)) {
    throw new TrellisError('BAD_CLUSTERS', `k-means needs 1 ≤ k ≤ n, got k = ${k} for n = ${n}`, 'pass k initial centres (k × d values) with k ≤ number of points');
  }
  const maxIter = options.maxIter ?? 300;
  if (!(Number.isInteger(maxIter) && maxIter >= 0)) {
    throw new TrellisError('BAD_OPTION', `k-means maxIter ${String(maxIter)} is not an integer ≥ 0`, 'pass maxIter 300 (scikit-learn\'s default), or 0 to assign to the starting centres only');
  }
  const relTol = options.tol ?? 1e-4;
  if (!(typeof relTol === 'number' && Number.isFinite(relTol) && relTol >= 0)) {
    // a NaN tol was silently ignored (shift ≤ NaN is never true), so k-means ran until assignments stopped changing
    throw new TrellisError('BAD_OPTION', `k-means tol ${typeof relTol === 'string' ? `"${relTol}"` : String(relTol)} is not a finite number ≥ 0`, 'pass tol 1e-4 (scikit-learn\'s default), or 0 to stop only when assignments stop changing');
  }
  // tolerance = tol × mean over features of the per-feature variance (scikit-learn)
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const row = x.subarray(i * d, i * d + d);
    for (let t = 0; t < d; t++) mean[t] = mean[t]! + row[t]!;
  }
  for (let t = 0; t < d; t++) mean[t] = mean[t]! / n;
  const viaMatmul = n * k * d >= (options.matmulFrom ?? 2e7);
  // the variance pass also takes each row's norm, which the matmul path's error bounds need
  const xNorm = new Float64Array(n);
  let varSum = 0;
  for (let i = 0; i < n; i++) {
    const row = x.subarray(i * d, i * d + d);
    let s2 = 0;
    for (let t = 0; t < d; t++) {
      varSum += (row[t]! - mean[t]!) ** 2;
      s2 += row[t]! * row[t]!;
    }
    xNorm[i] = Math.sqrt(s2);
  }
  if (!Number.isFinite(varSum)) checkFinitePoints(x, 'the points'); // one pass only when the variance pass met a NaN/Inf
  if (init instanceof Float32Array) checkFinitePoints(init, 'the starting centres');
  const tol = relTol * (varSum / n / d);
  let centers = init instanceof Float32Array ? Float64Array.from(init) : kmeansPlusPlus(x, n, d, k, options.seed ?? 0);
  const labels = new Int32Array(n).fill(-1);
  const dists = new Float64Array(n);
  const xt = viaMatmul ? tf.tensor2d(x, [n, d]) : null;
  const bounds: Bounds = { upper: new Float64Array(n), lower: new Float64Array(n) };
  // the rows the bounds leave (at most a quarter, see assignWithBounds) are copied into one buffer, whose
  // pages are touched only as far as the largest such set reaches
  let gathered: Float32Array | null = null;
  const matmul: MatmulAssign | null = xt && {
    full: () => assignByMatmul(xt, null, x, xNorm, d, centers, k, labels, dists, bounds),
    rows: (rows) => {
      gathered ??= largeFloat32Array(Math.floor(n / 4) * d);
      for (let r = 0; r < rows.length; r++) gathered.set(x.subarray(rows[r]! * d, (rows[r]! + 1) * d), r * d);
      const xs = tf.tensor2d(gathered.subarray(0, rows.length * d), [rows.length, d]);
      try {
        return assignByMatmul(xs, rows, x, xNorm, d, centers, k, labels, dists, bounds);
      } finally {
        xs.dispose();
      }
    },
  };
  const full = (): boolean => (matmul ? matmul.full() : assign(x, n, d, centers, k, labels, dists, bounds));
  // each centre's move since the last assignment (null: no assignment yet, so every row needs its distances)
  let moved: Float64Array | null = null;
  const counter = { boundSkips: 0 };
  const assignAll = (): boolean => (moved ? assignWithBounds(x, n, d, centers, k, labels, dists, bounds, moved, matmul, counter) : full());
  try {
    let iters = 0;
    let reseated = 0;
    // Per-cluster sums and counts carried across iterations: `owner[i]` is the cluster whose sum holds row i
    // (its label, or the cluster it was re-seated into), so only rows that moved are subtracted and added.
    const sums = new Float64Array(k * d);
    const counts = new Int32Array(k);
    const owner = new Int32Array(n).fill(-1);
    for (; iters < maxIter; iters++) {
      const changed = assignAll();
      if (!changed && iters > 0) break;
      updateSums(x, n, d, k, labels, owner, sums, counts);
      if (counts.some((c) => c === 0)) {
        exactDistances(x, n, d, centers, labels, dists);
        reseated += reseatEmpty(x, n, d, k, labels, dists, sums, counts, owner);
      }
      const next = new Float64Array(k * d);
      for (let j = 0; j < k; j++) {
        // a donor emptied by a re-seat keeps scikit-learn's zero sum, the data mean in its centred frame
        for (let t = 0; t < d; t++) next[j * d + t] = counts[j]! > 0 ? sums[j * d + t]! / counts[j]! : mean[t]!;
      }
      let shift = 0;
      for (let t = 0; t < k * d; t++) shift += (next[t]! - centers[t]!) ** 2;
      moved = new Float64Array(k);
      for (let j = 0; j < k; j++) {
        let m2 = 0;
        for (let t = j * d; t < (j + 1) * d; t++) m2 += (next[t]! - centers[t]!) ** 2;
        moved[j] = Math.sqrt(m2) * (1 + SLACK);
      }
      centers = next;
      if (shift <= tol) {
        iters++;
        break;
      }
    }
    assignAll();
    return { labels, centers: Float32Array.from(centers), iters, reseated, boundSkips: counter.boundSkips };
  } finally {
    xt?.dispose();
  }
}

function comb2(v: number): number {
  return (v * (v - 1)) / 2;
}

/**
 * Adjusted Rand Index (Hubert–Arabie) between two labelings; 1 when the denominator is 0.
 * Example: `adjustedRandIndex([0,0,1,1], [0,0,1,2])` → 0.5714286.
 */
export function adjustedRandIndex(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new TrellisError('BAD_SHAPE', `ARI got labelings of lengths ${a.length} and ${b.length}`, 'pass two labelings of the same points');
  }
  const n = a.length;
  const table = new Map<string, number>();
  const rows = new Map<number, number>();
  const cols = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const key = `${a[i]}|${b[i]}`;
    table.set(key, (table.get(key) ?? 0) + 1);
    rows.set(a[i]!, (rows.get(a[i]!) ?? 0) + 1);
    cols.set(b[i]!, (cols.get(b[i]!) ?? 0) + 1);
  }
  let sumIj = 0;
  for (const v of table.values()) sumIj += comb2(v);
  let sumA = 0;
  for (const v of rows.values()) sumA += comb2(v);
  let sumB = 0;
  for (const v of cols.values()) sumB += comb2(v);
  const expected = n > 1 ? (sumA * sumB) / comb2(n) : 0;
  const denom = 0.5 * (sumA + sumB) - expected;
  if (denom === 0) return 1;
  return (sumIj - expected) / denom;
}
