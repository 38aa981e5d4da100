/**
 * SHOT's self-supervised pseudo-labels (Liang et al., ICML 2020, §3.3): one round of weighted-centroid
 * clustering in feature space with cosine distance, as a pure host function on `Float32Array`s.
 * No labels enter: only the features that feed the frozen classifier head and the model's own soft
 * predictions on them.
 */
import { check, checkChoice } from '@trellis-ml/core';

/** Options of {@link shotPseudoLabels}. */
export interface ShotClusteringOptions {
  /**
   * Append a constant 1 to every feature before the L2 normalisation (default true: the released
   * SHOT code does; it also keeps an all-zero ReLU feature from having no direction). `false`
   * clusters the normalised features alone (the paper's text).
   */
  appendOne?: boolean;
  /**
   * Which classes can receive a pseudo-label. `'predicted'` (default): the released SHOT code's `labelset`,
   * only classes that are the argmax of at least one row (both assignments are restricted to them).
   * `'all'` (ours; the default until 2026-12-04): every class with soft mass gets a centroid, so a class the
   * model never predicts can still capture rows. Over the full study's 144 cells the two differ in 35 (33 on
   * `contrast` and `invert`), by up to 13 points in a cell, and their mean accuracies by ≤ 0.1 point (EXPERIMENTS.md).
   */
  labelset?: 'all' | 'predicted';
}

/** What {@link shotPseudoLabels} returns. */
export interface ShotClustering {
  /** The pseudo-label of each row (after the refit on hard labels). */
  labels: Int32Array;
  /** The labels of the first assignment (to the centroids seeded by the soft predictions). */
  initialLabels: Int32Array;
  /** Classes that had a centroid in the final assignment (classes the first assignment left empty have none). */
  clusters: number;
  /** Fraction of rows whose pseudo-label differs from the model's argmax prediction. */
  changedFromArgmax: number;
}

/**
 * SHOT's pseudo-labels of `n` rows from their `d`-dim features and `k`-class soft predictions:
 *
 * 1. each feature (with a constant 1 appended when `appendOne`) is L2-normalised: `f̂_i`;
 * 2. seed one centroid per class with the soft predictions: `c_k = Σ_i p_ik f̂_i / Σ_i p_ik` (with
 *    `labelset: 'predicted'`, only classes some row's argmax names are candidates in steps 3 and 4);
 * 3. assign each row to the nearest centroid in cosine distance `1 − f̂_i·c_k/‖c_k‖`;
 * 4. refit every class's centroid as the mean of the `f̂_i` assigned to it (hard labels; a class
 *    with no member gets no centroid) and assign again.
 *
 * Ties go to the lower class index; a centroid of zero length is no candidate; a row with no
 * candidate at all (every feature zero without `appendOne`) keeps the model's argmax. Float64
 * arithmetic throughout. Throws `SHAPE_MISMATCH` when the arrays do not hold `n` rows, `BAD_OPTION` for an
 * unknown `labelset`.
 */
export function shotPseudoLabels(features: ArrayLike<number>, probs: ArrayLike<number>, n: number, d: number, k: number, options: ShotClusteringOptions = {}): ShotClustering {
  check(Number.isInteger(n) && n >= 0 && Number.isInteger(d) && d >= 1 && Number.isInteger(k) && k >= 1, 'SHAPE_MISMATCH',
    `SHOT clustering needs whole positive sizes, got n ${n}, d ${d}, k ${k}`, 'pass the number of rows, the feature width and the class count');
  check(features.length === n * d && probs.length === n * k, 'SHAPE_MISMATCH',
    `SHOT clustering got ${features.length} feature values and ${probs.length} probabilities for ${n} rows of ${d} features and ${k} classes`,
    'pass n × d features and n × k probabilities (row-major)');
  const width = options.appendOne === false ? d : d + 1;
  const unit = normalisedRows(features, n, d, width);
  const argmax = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs[i * k + c]! > probs[i * k + best]!) best = c;
    argmax[i] = best;
  }
  const labelset = options.labelset ?? 'predicted';
  checkChoice(labelset, ['all', 'predicted'] as const, 'SHOT labelset', { code: 'BAD_OPTION' });
  const candidate = new Uint8Array(k).fill(labelset === 'all' ? 1 : 0);
  if (labelset === 'predicted') for (let i = 0; i < n; i++) candidate[argmax[i]!] = 1;
  const initialLabels = assign(unit, centroids(unit, n, width, k, (i, c) => probs[i * k + c]!), n, width, k, argmax, candidate);
  const hard = centroids(unit, n, width, k, (i, c) => (initialLabels[i] === c ? 1 : 0));
  const labels = assign(unit, hard, n, width, k, argmax, candidate);
  let clusters = 0;
  for (let c = 0; c < k; c++) if (hard.norms[c]! > 0) clusters++;
  let changed = 0;
  for (let i = 0; i < n; i++) if (labels[i] !== argmax[i]) changed++;
  return { labels, initialLabels, clusters, changedFromArgmax: n ? changed / n : 0 };
}

/** Rows of `features` (with a trailing 1 when `width = d + 1`), each scaled to unit L2 norm (a zero row stays zero). */
function normalisedRows(features: ArrayLike<number>, n: number, d: number, width: number): Float64Array {
  const out = new Float64Array(n * width);
  for (let i = 0; i < n; i++) {
    let sq = 0;
    for (let j = 0; j < d; j++) {
      const v = features[i * d + j]!;
      out[i * width + j] = v;
      sq += v * v;
    }
    if (width > d) {
      out[i * width + d] = 1;
      sq += 1;
    }
    const norm = Math.sqrt(sq);
    if (norm > 0) for (let j = 0; j < width; j++) out[i * width + j]! /= norm;
  }
  return out;
}

/** Weighted-mean centroids `Σ_i w(i, c) f̂_i / Σ_i w(i, c)` and their lengths (0 for a class of zero total weight). */
function centroids(unit: Float64Array, n: number, width: number, k: number, weight: (i: number, c: number) => number): { values: Float64Array; norms: Float64Array } {
  const values = new Float64Array(k * width);
  const mass = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      const w = weight(i, c);
      if (w === 0) continue;
      mass[c]! += w;
      for (let j = 0; j < width; j++) values[c * width + j]! += w * unit[i * width + j]!;
    }
  }
  const norms = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    if (!(mass[c]! > 0)) continue;
    let sq = 0;
    for (let j = 0; j < width; j++) {
      values[c * width + j]! /= mass[c]!;
      sq += values[c * width + j]! ** 2;
    }
    norms[c] = Math.sqrt(sq);
  }
  return { values, norms };
}

/** Nearest centroid among the `candidate` classes in cosine distance per row (first class on ties; `fallback` when no centroid has a direction). */
function assign(unit: Float64Array, cs: { values: Float64Array; norms: Float64Array }, n: number, width: number, k: number, fallback: Int32Array, candidate: Uint8Array): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -1;
    let bestSim = -Infinity;
    for (let c = 0; c < k; c++) {
      if (!candidate[c]) continue;
      const norm = cs.norms[c]!;
      if (!(norm > 0)) continue;
      let dot = 0;
      for (let j = 0; j < width; j++) dot += unit[i * width + j]! * cs.values[c * width + j]!;
      const sim = dot / norm;
      if (sim > bestSim) {
        bestSim = sim;
        best = c;
      }
    }
    out[i] = best >= 0 ? best : fallback[i]!;
  }
  return out;
}
