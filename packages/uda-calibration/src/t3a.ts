/**
 * T3A — test-time classifier adjustment (Iwasawa & Matsuo, NeurIPS 2021), gradient-free: the linear
 * head is replaced by per-class prototypes built from a memory of "supports" (feature vectors of the
 * input to the last Dense layer). The memory starts with the head's weight columns; every target
 * batch adds its features, labelled by the *source* head's argmax and ranked by the source head's
 * entropy; each class keeps only its `filterK` lowest-entropy supports. Logits = features ·
 * column-normalised (Σ of row-normalised supports per class). Pure host code on Float32Arrays: no
 * tensors, nothing to dispose, deterministic.
 */
import { check } from '@trellis-ml/core';
import { rowArgmax, rowEntropies } from './hostLogits.js';

export { rowArgmax, rowEntropies };

/** Options of {@link T3AClassifier}. */
export interface T3AOptions {
  /** Supports kept per class, lowest entropy first (default 100, spec §7.5); `-1` keeps all. */
  filterK?: number;
}

/** The linear head T3A starts from: `kernel` is `featureDim × numClasses`, row-major (TF.js Dense layout). */
export interface LinearHead {
  kernel: ArrayLike<number>;
  /** Per-class bias (used only to label and rank the initial supports, as the head's own output). */
  bias?: ArrayLike<number> | null;
  featureDim: number;
  numClasses: number;
}

const NORM_EPS = 1e-12;

/**
 * T3A's entropy filter: the indices of the supports to keep — per class (in class order) the
 * `filterK` supports with the lowest entropy, ascending; `filterK = -1` keeps all. Ties keep the
 * earlier support first (a stable sort; ours — the reference sorts without a stability guarantee).
 */
export function selectSupports(labels: ArrayLike<number>, entropies: ArrayLike<number>, numClasses: number, filterK: number): Int32Array {
  const kept: number[] = [];
  for (let c = 0; c < numClasses; c++) {
    const members: number[] = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === c) members.push(i);
    members.sort((a, b) => entropies[a]! - entropies[b]! || a - b);
    kept.push(...(filterK < 0 ? members : members.slice(0, filterK)));
  }
  return Int32Array.from(kept);
}

/**
 * The adjusted classifier's weights, `featureDim × numClasses` row-major: column `c` is the sum of
 * the L2-normalised supports labelled `c`, itself L2-normalised (a class without supports gets a
 * zero column, hence logit 0).
 */
export function prototypeWeights(supports: ArrayLike<number>, labels: ArrayLike<number>, featureDim: number, numClasses: number): Float64Array {
  const w = new Float64Array(featureDim * numClasses);
  for (let s = 0; s < labels.length; s++) {
    let norm = 0;
    for (let i = 0; i < featureDim; i++) norm += supports[s * featureDim + i]! ** 2;
    const inv = 1 / Math.max(Math.sqrt(norm), NORM_EPS);
    const c = labels[s]!;
    for (let i = 0; i < featureDim; i++) w[i * numClasses + c]! += supports[s * featureDim + i]! * inv;
  }
  for (let c = 0; c < numClasses; c++) {
    let norm = 0;
    for (let i = 0; i < featureDim; i++) norm += w[i * numClasses + c]! ** 2;
    const inv = 1 / Math.max(Math.sqrt(norm), NORM_EPS);
    for (let i = 0; i < featureDim; i++) w[i * numClasses + c]! *= inv;
  }
  return w;
}

/** `n × numClasses` logits `features · weights` (features unnormalised, no bias — T3A's adjusted head). */
export function prototypeLogits(features: ArrayLike<number>, n: number, weights: ArrayLike<number>, featureDim: number, numClasses: number): Float32Array {
  const out = new Float32Array(n * numClasses);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < numClasses; c++) {
      let dot = 0;
      for (let i = 0; i < featureDim; i++) dot += features[r * featureDim + i]! * weights[i * numClasses + c]!;
      out[r * numClasses + c] = dot;
    }
  }
  return out;
}

/** `n × numClasses` output of the linear head on `n` feature rows (`x · kernel + bias`). */
export function linearHeadLogits(head: LinearHead, features: ArrayLike<number>, n: number): Float64Array {
  const { featureDim: d, numClasses: k, kernel, bias } = head;
  const out = new Float64Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      let dot = bias ? bias[c]! : 0;
      for (let i = 0; i < d; i++) dot += features[r * d + i]! * kernel[i * k + c]!;
      out[r * k + c] = dot;
    }
  }
  return out;
}

/**
 * The T3A support memory and adjusted classifier. Construction puts the head's weight columns in
 * the memory, each labelled by the head's argmax on it and ranked by the head's entropy on it (as
 * in the paper's code), then applies the filter. {@link T3AClassifier.predict} never changes the
 * memory; {@link T3AClassifier.add} appends a batch and filters.
 */
export class T3AClassifier {
  readonly featureDim: number;
  readonly numClasses: number;
  readonly filterK: number;
  private supports: Float32Array;
  private labels: Int32Array;
  private entropies: Float64Array;
  private weights: Float64Array | null = null;

  constructor(head: LinearHead, options: T3AOptions = {}) {
    const { featureDim: d, numClasses: k } = head;
    const filterK = options.filterK ?? 100;
    check(filterK === -1 || (Number.isInteger(filterK) && filterK >= 1), 'BAD_FILTER_K', `T3A's filterK must be a positive integer or -1 (keep all), got ${filterK}`,
      'pass filterK from the sweep {1, 5, 20, 50, 100, -1}');
    check(Number.isInteger(d) && d > 0 && Number.isInteger(k) && k > 1 && head.kernel.length === d * k, 'BAD_HEAD',
      `the head kernel has ${head.kernel.length} values, expected featureDim × numClasses = ${d} × ${k}`, 'pass the last Dense layer\'s kernel (featureDim × numClasses, row-major)');
    check(!head.bias || head.bias.length === k, 'BAD_HEAD', `the head bias has ${head.bias?.length} values, expected ${k}`, 'pass the last Dense layer\'s bias, or none');
    this.featureDim = d;
    this.numClasses = k;
    this.filterK = filterK;
    const columns = new Float32Array(k * d);
    for (let c = 0; c < k; c++) for (let i = 0; i < d; i++) columns[c * d + i] = head.kernel[i * k + c]!;
    const headOut = linearHeadLogits(head, columns, k);
    this.supports = columns;
    this.labels = rowArgmax(headOut, k, k);
    this.entropies = rowEntropies(headOut, k, k);
    this.filter();
  }

  /** Number of supports per class. */
  supportCounts(): Int32Array {
    const counts = new Int32Array(this.numClasses);
    for (const l of this.labels) counts[l]!++;
    return counts;
  }

  /** `n × numClasses` logits of the adjusted classifier for `n` feature rows (the memory is unchanged). */
  predict(features: ArrayLike<number>, n: number): Float32Array {
    this.checkRows(features, n);
    this.weights ??= prototypeWeights(this.supports, this.labels, this.featureDim, this.numClasses);
    return prototypeLogits(features, n, this.weights, this.featureDim, this.numClasses);
  }

  /**
   * Appends `n` feature rows to the memory, labelled by the argmax of `headLogits` (the source
   * head's `n × numClasses` output on them) and ranked by its entropy, then keeps the `filterK`
   * lowest-entropy supports per class.
   */
  add(features: ArrayLike<number>, headLogits: ArrayLike<number>, n: number): void {
    this.checkRows(features, n);
    check(headLogits.length === n * this.numClasses, 'LOGITS_SHAPE_MISMATCH', `${headLogits.length} head logits for ${n} rows of ${this.numClasses} classes`, 'pass the source head\'s logits for the same rows');
    const d = this.featureDim;
    const m = this.labels.length;
    const supports = new Float32Array((m + n) * d);
    supports.set(this.supports);
    for (let i = 0; i < n * d; i++) supports[m * d + i] = features[i]!;
    const labels = new Int32Array(m + n);
    labels.set(this.labels);
    labels.set(rowArgmax(headLogits, n, this.numClasses), m);
    const entropies = new Float64Array(m + n);
    entropies.set(this.entropies);
    entropies.set(rowEntropies(headLogits, n, this.numClasses), m);
    this.supports = supports;
    this.labels = labels;
    this.entropies = entropies;
    this.filter();
  }

  private filter(): void {
    const keep = selectSupports(this.labels, this.entropies, this.numClasses, this.filterK);
    const d = this.featureDim;
    const supports = new Float32Array(keep.length * d);
    keep.forEach((s, r) => supports.set(this.supports.subarray(s * d, (s + 1) * d), r * d));
    this.supports = supports;
    this.labels = Int32Array.from(keep, (s) => this.labels[s]!);
    this.entropies = Float64Array.from(keep, (s) => this.entropies[s]!);
    this.weights = null;
  }

  private checkRows(features: ArrayLike<number>, n: number): void {
    check(features.length === n * this.featureDim, 'FEATURE_SHAPE_MISMATCH', `${features.length} feature values for ${n} rows of ${this.featureDim}`,
      'pass the input of the last Dense layer (n × featureDim)');
  }
}
