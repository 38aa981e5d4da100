/**
 * Classification metrics as pure functions over host arrays: `logits` is `n × k` row-major,
 * `labels` holds n integer classes. All are means over the whole set (not per batch).
 *
 * Shapes are checked (O(1), plus one pass over the labels): a class count that is not a positive
 * integer, a row array whose length is not a multiple of it, labels of another length than the rows,
 * or a label outside `[0, k)` throw a {@link TrellisError} instead of returning a number computed from
 * misaligned rows. Values are not checked: NaN logits give NaN metrics.
 */
import { check } from './errors.js';
import { checkClassLabels } from './labels.js';
import { holdsNaN } from './stats.js';

/** Throws unless `k` is a positive integer and `values` holds whole rows of k; returns the row count. */
function rowCount(values: ArrayLike<number>, k: number, what: string): number {
  check(Number.isInteger(k) && k > 0, 'BAD_SHAPE', () => `${what}: the class count k = ${k} is not a positive integer`,
    'pass k, the number of classes (the length of one row)');
  check(values.length % k === 0, 'BAD_SHAPE', () => `${what}: ${values.length} values are not whole rows of k = ${k}`,
    'pass an n × k row-major array (n examples, one value per class each) and its k');
  return values.length / k;
}

/** {@link rowCount}, then labels: one per row, each an integer class in [0, k). */
function checkLabels(values: ArrayLike<number>, labels: ArrayLike<number>, k: number, what: string): void {
  const n = rowCount(values, k, what);
  check(labels.length === n, 'LENGTH_MISMATCH', () => `${what}: ${labels.length} labels for ${n} rows of ${k} classes`,
    'pass one label per row (probabilities or logits n × k, labels n)');
  checkClassLabels(labels, k, { context: what, fix: `labels must be class ids 0..${k - 1}: remap them, or pass the right k` });
}

function softmaxInto<T extends Float32Array | Float64Array>(logits: ArrayLike<number>, k: number, out: T): T {
  const n = rowCount(logits, k, 'softmax');
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[i * k + j]!);
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const e = Math.exp(logits[i * k + j]! - max);
      out[i * k + j] = e;
      sum += e;
    }
    for (let j = 0; j < k; j++) out[i * k + j] = out[i * k + j]! / sum;
  }
  return out;
}

/** Row-wise softmax of `n × k` logits (numerically stable), as a new float32 array. */
export function softmaxRows(logits: ArrayLike<number>, k: number): Float32Array {
  return softmaxInto(logits, k, new Float32Array(logits.length));
}

/**
 * The same in float64 — what the calibration metrics bin: their bin edges are the float64 values
 * `m/M`, and a float32 softmax moves a confidence of exactly `m/M` (1/15 for 15 equal logits is
 * stored as 0.0666666716) over the edge into the next bin.
 */
export function softmaxRows64(logits: ArrayLike<number>, k: number): Float64Array {
  return softmaxInto(logits, k, new Float64Array(logits.length));
}

/** Index of the largest value of each row. */
export function argmaxRows(values: ArrayLike<number>, k: number): Int32Array {
  const n = rowCount(values, k, 'argmaxRows');
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (values[i * k + j]! > values[i * k + best]!) best = j;
    out[i] = best;
  }
  return out;
}

/** Fraction of `predictions` equal to `labels`. */
export function accuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  check(predictions.length === labels.length, 'LENGTH_MISMATCH', () => `accuracy of ${predictions.length} predictions against ${labels.length} labels`,
    'pass one predicted class per label (argmaxRows(logits, k) gives them from logits)');
  if (labels.length === 0) return NaN;
  let hit = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) hit++;
  return hit / labels.length;
}

/** Accuracy and count per group id. */
export function perGroupAccuracy(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
  groups: ArrayLike<number>,
): Record<number, { accuracy: number; count: number }> {
  check(predictions.length === labels.length && groups.length === labels.length, 'LENGTH_MISMATCH',
    () => `per-group accuracy of ${predictions.length} predictions, ${labels.length} labels and ${groups.length} group ids`,
    'pass one prediction, one label and one group id per example');
  const hits = new Map<number, [number, number]>();
  for (let i = 0; i < labels.length; i++) {
    const g = groups[i]!;
    const h = hits.get(g) ?? [0, 0];
    h[0] += predictions[i] === labels[i] ? 1 : 0;
    h[1] += 1;
    hits.set(g, h);
  }
  const out: Record<number, { accuracy: number; count: number }> = {};
  for (const [g, [hit, count]] of [...hits].sort((a, b) => a[0] - b[0])) out[g] = { accuracy: hit / count, count };
  return out;
}

/** Mean negative log-likelihood of the labels under `probs` (probabilities clipped at 1e-12). */
export function nll(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  checkLabels(probs, labels, k, 'nll');
  return nllOf(probs, labels, k);
}

function nllOf(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  let s = 0;
  for (let i = 0; i < labels.length; i++) s -= Math.log(Math.max(probs[i * k + labels[i]!]!, 1e-12));
  return s / labels.length;
}

/** Mean cross-entropy from logits (log-sum-exp form, exact for large logits). */
export function crossEntropyFromLogits(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  checkLabels(logits, labels, k, 'cross-entropy');
  return crossEntropyOf(logits, labels, k);
}

function crossEntropyOf(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  let s = 0;
  for (let i = 0; i < labels.length; i++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[i * k + j]!);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(logits[i * k + j]! - max);
    s += max + Math.log(sum) - logits[i * k + labels[i]!]!;
  }
  return s / labels.length;
}

/** Multi-class Brier score `mean_i Σ_k (p_ik − 1[k = y_i])²`, in [0, 2] (not divided by k). */
export function brier(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  checkLabels(probs, labels, k, 'brier');
  return brierOf(probs, labels, k);
}

function brierOf(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  let s = 0;
  for (let i = 0; i < labels.length; i++) {
    for (let j = 0; j < k; j++) {
      const d = probs[i * k + j]! - (j === labels[i] ? 1 : 0);
      s += d * d;
    }
  }
  return s / labels.length;
}

/** One bin of a reliability diagram. */
export interface ReliabilityBin {
  lower: number;
  upper: number;
  count: number;
  accuracy: number;
  confidence: number;
}

/**
 * Reliability-diagram bins over top-label confidence: `bins` equal-width bins, bin m holding
 * confidences in ((m−1)/M, m/M] (a confidence of exactly 0 goes to the first bin).
 */
export function reliabilityBins(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number, bins = 15): ReliabilityBin[] {
  checkLabels(probs, labels, k, 'calibration bins');
  check(Number.isInteger(bins) && bins > 0, 'BAD_OPTION', () => `${bins} calibration bins is not a positive integer`, 'pass a bin count such as 15');
  return binsOf(probs, labels, k, bins);
}

/**
 * The bin of confidence `c` among `bins` equal-width bins: m with m/bins < c ≤ (m+1)/bins, the edges computed as
 * the report's `lower`/`upper` are. `ceil(c·bins) − 1` alone is off by one where `c·bins` rounds across an
 * integer (7/25·25 rounds up to 7.000…01; the double just above 11/15, times 15, rounds down to 11).
 */
function binIndex(c: number, bins: number): number {
  let m = Math.min(bins - 1, Math.max(0, Math.ceil(c * bins) - 1));
  if (m > 0 && c <= m / bins) m -= 1;
  else if (m < bins - 1 && c > (m + 1) / bins) m += 1;
  return m;
}

function binsOf(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number, bins: number): ReliabilityBin[] {
  const count = new Float64Array(bins);
  const hit = new Float64Array(bins);
  const conf = new Float64Array(bins);
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (probs[i * k + j]! > probs[i * k + best]!) best = j;
    const c = probs[i * k + best]!;
    const m = binIndex(c, bins);
    count[m]! += 1;
    hit[m]! += best === labels[i] ? 1 : 0;
    conf[m]! += c;
  }
  const out: ReliabilityBin[] = [];
  for (let m = 0; m < bins; m++) {
    const n = count[m]!;
    out.push({ lower: m / bins, upper: (m + 1) / bins, count: n, accuracy: n ? hit[m]! / n : NaN, confidence: n ? conf[m]! / n : NaN });
  }
  return out;
}

/** ECE and MCE are NaN for no rows or NaN probabilities, as loss and NLL are (the bins leave NaN rows out, which read as 0). */
function calibrationUndefined(probs: ArrayLike<number>, labels: ArrayLike<number>): boolean {
  return labels.length === 0 || holdsNaN(probs);
}

/**
 * Expected calibration error: `Σ_m (|B_m|/N)·|acc(B_m) − conf(B_m)|` over 15 equal-width bins by default.
 * NaN for no rows or NaN probabilities (as the other metrics; the bins leave such a row out, which gave 0).
 */
export function ece(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number, bins = 15): number {
  const b = reliabilityBins(probs, labels, k, bins);
  return calibrationUndefined(probs, labels) ? NaN : eceOf(b, labels.length);
}

function eceOf(bins: readonly ReliabilityBin[], n: number): number {
  let s = 0;
  for (const b of bins) if (b.count) s += (b.count / n) * Math.abs(b.accuracy - b.confidence);
  return s;
}

/** Maximum calibration error: the largest `|acc − conf|` over non-empty bins; NaN for no rows or NaN probabilities. */
export function mce(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number, bins = 15): number {
  const b = reliabilityBins(probs, labels, k, bins);
  return calibrationUndefined(probs, labels) ? NaN : mceOf(b);
}

function mceOf(bins: readonly ReliabilityBin[]): number {
  let s = 0;
  for (const b of bins) if (b.count) s = Math.max(s, Math.abs(b.accuracy - b.confidence));
  return s;
}

/** Mean top-label confidence. */
export function meanConfidence(probs: ArrayLike<number>, k: number): number {
  const n = rowCount(probs, k, 'meanConfidence');
  let s = 0;
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (let j = 0; j < k; j++) c = Math.max(c, probs[i * k + j]!);
    s += c;
  }
  return s / n;
}

/** Mean predictive entropy in nats (0·log 0 = 0); NaN when a probability is NaN. */
export function meanEntropy(probs: ArrayLike<number>, k: number): number {
  const n = rowCount(probs, k, 'meanEntropy');
  let s = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]!;
    if (p > 0) s -= p * Math.log(p);
    else if (Number.isNaN(p)) return NaN;
  }
  return s / n;
}

/** The standard metric set of {@link classificationMetrics}. */
export interface ClassificationMetrics {
  accuracy: number;
  loss: number;
  nll: number;
  ece: number;
  mce: number;
  brier: number;
  meanConfidence: number;
  /** meanConfidence − accuracy (positive = over-confident). */
  overconfidence: number;
  count: number;
  perGroupAccuracy?: Record<number, { accuracy: number; count: number }>;
}

/** Every standard metric from logits and labels (and groups, for per-group accuracy). */
export function classificationMetrics(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  k: number,
  groups?: ArrayLike<number> | null,
): ClassificationMetrics {
  // labels checked once here; the metrics below share the checked rows, and ECE and MCE one set of bins
  checkLabels(logits, labels, k, 'classificationMetrics');
  const probs = softmaxRows64(logits, k);
  const preds = argmaxRows(logits, k);
  const acc = accuracy(preds, labels);
  const conf = meanConfidence(probs, k);
  const bins = binsOf(probs, labels, k, 15);
  const noCalibration = calibrationUndefined(probs, labels);
  const m: ClassificationMetrics = {
    accuracy: acc,
    loss: crossEntropyOf(logits, labels, k),
    nll: nllOf(probs, labels, k),
    ece: noCalibration ? NaN : eceOf(bins, labels.length),
    mce: noCalibration ? NaN : mceOf(bins),
    brier: brierOf(probs, labels, k),
    meanConfidence: conf,
    overconfidence: conf - acc,
    count: labels.length,
  };
  if (groups) m.perGroupAccuracy = perGroupAccuracy(preds, labels, groups);
  return m;
}
