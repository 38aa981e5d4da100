/**
 * Calibration metrics over a whole evaluated set, from logits (never per batch and averaged).
 * Built on core's metrics (ECE/MCE/Brier/NLL/reliability bins); this module adds what the
 * over-certainty study needs on top: adaptive (equal-mass) ECE, RMS calibration error, entropy in
 * bits, the over-confidence gap, a confidence histogram, comparisons against the source model and
 * a streaming accumulator.
 */
import {
  accuracy,
  argmaxRows,
  brier,
  check,
  crossEntropyFromLogits,
  meanConfidence,
  meanEntropy,
  reliabilityBins,
  softmaxRows64,
  TrellisError,
} from '@trellis-ml/core';
import { checkShapes } from './hostLogits.js';

/** Options of {@link calibrationReport}. */
export interface CalibrationOptions {
  /** Number of bins (default 15, the paper's ECE-15). */
  nBins?: number;
}

/** One bin of a reliability diagram (equal-width bins `((m−1)/M, m/M]`). */
export interface CalibrationBin {
  /** Lower edge of the bin (exclusive, except the first bin which includes 0). */
  lower: number;
  /** Upper edge of the bin (inclusive). */
  upper: number;
  /** Number of examples whose top-label confidence falls in the bin. */
  count: number;
  /** Accuracy of those examples (NaN for an empty bin). */
  accuracy: number;
  /** Mean top-label confidence of those examples (NaN for an empty bin). */
  meanConfidence: number;
  /** `meanConfidence − accuracy` (positive = over-confident; NaN for an empty bin). */
  gap: number;
}

/** Everything the study reports about one set of predictions. */
export interface CalibrationReport {
  /** Number of examples. */
  n: number;
  accuracy: number;
  /** Expected calibration error, equal-width bins. */
  ece: number;
  /** Maximum calibration error over non-empty equal-width bins. */
  mce: number;
  /** Adaptive ECE: equal-mass bins (sorted confidences split into bins of equal count). */
  ace: number;
  /** Root-mean-square calibration error over equal-width bins. */
  rmsce: number;
  /** Multi-class Brier score in [0, 2] (not divided by the class count). */
  brier: number;
  /** Negative log-likelihood from logits (log-sum-exp, exact for large logits). */
  nll: number;
  /** Mean top-label confidence. */
  meanConfidence: number;
  /** `meanConfidence − accuracy` (positive = over-confident). */
  overconfidenceGap: number;
  meanEntropyNats: number;
  meanEntropyBits: number;
  /** `1 / meanEntropyBits`: the paper's "certainty as inverse entropy". */
  certainty: number;
  /** Mean L2 norm of the logit vectors. */
  meanLogitNorm: number;
  /** Reliability-diagram data (equal-width bins). */
  reliability: CalibrationBin[];
  /** Number of examples per equal-width confidence bin. */
  confidenceHistogram: number[];
}

/** Throws `NON_FINITE_LOGITS` when any logit is NaN or infinite. */
export function assertFiniteLogits(logits: ArrayLike<number>, where = 'the logits'): void {
  for (let i = 0; i < logits.length; i++) {
    if (!Number.isFinite(logits[i]!)) {
      throw new TrellisError('NON_FINITE_LOGITS', `${where} contain ${logits[i]} at position ${i} (row ${i}, flattened)`,
        'check the model and its inputs for NaN/Inf (a diverged adaptation run, a corrupted weight file, unnormalised inputs) before computing calibration',
        { index: i, value: logits[i] });
    }
  }
}

/** Top-label confidences of `n × k` probabilities. */
export function topConfidences(probs: ArrayLike<number>, k: number): Float64Array {
  check(Number.isInteger(k) && k >= 1 && probs.length % k === 0, 'LOGITS_SHAPE_MISMATCH', `${probs.length} probabilities do not form whole rows of ${k} classes`,
    'pass n × k row-major probabilities and their class count k');
  const n = probs.length / k;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (let j = 0; j < k; j++) c = Math.max(c, probs[i * k + j]!);
    out[i] = c;
  }
  return out;
}

function checkBins(nBins: number): void {
  check(Number.isInteger(nBins) && nBins >= 1, 'BAD_BINS', `nBins ${nBins} is not a positive integer`, 'pass nBins such as 15');
}

/**
 * Adaptive ECE: sort examples by top-label confidence, split them into `nBins` bins of (as near as
 * possible) equal count, and take `Σ_m (|B_m|/N)·|acc(B_m) − conf(B_m)|`. Takes probabilities (each
 * row in [0, 1], summing to 1 within 1e-3); throws `BAD_PROBABILITIES` otherwise, and `BAD_BINS`,
 * `LOGITS_SHAPE_MISMATCH`, `LABEL_OUT_OF_RANGE` as {@link calibrationReport}.
 */
export function adaptiveEce(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number, nBins = 15): number {
  checkShapes(probs, labels, k);
  checkBins(nBins);
  for (let i = 0; i < labels.length; i++) {
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const v = probs[i * k + j]!;
      if (!(v >= 0 && v <= 1)) {
        throw new TrellisError('BAD_PROBABILITIES', `probability ${v} in row ${i}, class ${j} is not in [0, 1]`,
          'pass softmax probabilities (softmaxRows64(logits, k)), or pass the logits to calibrationReport', { row: i, value: v });
      }
      sum += v;
    }
    if (Math.abs(sum - 1) > 1e-3) {
      throw new TrellisError('BAD_PROBABILITIES', `row ${i} of the probabilities sums to ${sum}, not 1`,
        'pass softmax probabilities (softmaxRows64(logits, k)), or pass the logits to calibrationReport', { row: i, sum });
    }
  }
  return adaptiveEceOf(probs, labels, k, nBins);
}

/** {@link adaptiveEce} without the input checks (for probabilities this module computed itself). */
function adaptiveEceOf(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number, nBins: number): number {
  const n = labels.length;
  const conf = topConfidences(probs, k);
  const preds = argmaxRows(probs, k);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => conf[a]! - conf[b]!);
  let s = 0;
  for (let m = 0; m < nBins; m++) {
    const lo = Math.floor((m * n) / nBins);
    const hi = Math.floor(((m + 1) * n) / nBins);
    if (hi <= lo) continue;
    let hit = 0;
    let c = 0;
    for (let r = lo; r < hi; r++) {
      const i = order[r]!;
      hit += preds[i] === labels[i] ? 1 : 0;
      c += conf[i]!;
    }
    s += ((hi - lo) / n) * Math.abs(hit / (hi - lo) - c / (hi - lo));
  }
  return s;
}

/** Mean predictive entropy in bits of `n × k` probabilities. */
export function meanEntropyBits(probs: ArrayLike<number>, k: number): number {
  return meanEntropy(probs, k) / Math.LN2;
}

/** Mean L2 norm of `n × k` logit rows. */
export function meanLogitNorm(logits: ArrayLike<number>, k: number): number {
  // k = 0 used to loop forever, and a partial row to give NaN
  check(Number.isInteger(k) && k >= 1 && logits.length % k === 0, 'LOGITS_SHAPE_MISMATCH', `${logits.length} logits do not form whole rows of ${k} classes`,
    'pass n × k row-major logits and their class count k');
  const n = logits.length / k;
  let s = 0;
  for (let i = 0; i < n; i++) {
    let q = 0;
    for (let j = 0; j < k; j++) q += logits[i * k + j]! ** 2;
    s += Math.sqrt(q);
  }
  return s / n;
}

/**
 * The full calibration report of `n × k` logits against `n` labels, over the whole set: accuracy,
 * ECE / MCE / RMSCE (equal-width bins, `((m−1)/M, m/M]`), adaptive ECE, Brier, NLL, confidence,
 * over-confidence gap, entropy, logit norm and reliability-diagram data. Probabilities are
 * computed in float64 (core's `softmaxRows64`). Throws on NaN logits.
 */
export function calibrationReport(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number, options: CalibrationOptions = {}): CalibrationReport {
  checkShapes(logits, labels, k);
  assertFiniteLogits(logits);
  const nBins = options.nBins ?? 15;
  checkBins(nBins);
  const n = labels.length;
  const probs = softmaxRows64(logits, k);
  const acc = accuracy(argmaxRows(logits, k), labels);
  const bins = reliabilityBins(probs, labels, k, nBins);
  let ece = 0;
  let mce = 0;
  let ms = 0;
  const reliability: CalibrationBin[] = bins.map((b) => {
    if (b.count) {
      const d = Math.abs(b.accuracy - b.confidence);
      ece += (b.count / n) * d;
      mce = Math.max(mce, d);
      ms += (b.count / n) * d * d;
    }
    return { lower: b.lower, upper: b.upper, count: b.count, accuracy: b.accuracy, meanConfidence: b.confidence, gap: b.confidence - b.accuracy };
  });
  const conf = meanConfidence(probs, k);
  const hNats = meanEntropy(probs, k);
  const hBits = hNats / Math.LN2;
  return {
    n,
    accuracy: acc,
    ece,
    mce,
    ace: adaptiveEceOf(probs, labels, k, nBins),
    rmsce: Math.sqrt(ms),
    brier: brier(probs, labels, k),
    nll: crossEntropyFromLogits(logits, labels, k),
    meanConfidence: conf,
    overconfidenceGap: conf - acc,
    meanEntropyNats: hNats,
    meanEntropyBits: hBits,
    certainty: hBits > 0 ? 1 / hBits : Infinity,
    meanLogitNorm: meanLogitNorm(logits, k),
    reliability,
    confidenceHistogram: bins.map((b) => b.count),
  };
}

/** How a method's report compares with the source model's on the same cell. */
export interface RelativeToSource {
  /** `(H_method − H_src) / H_src` as a fraction (−0.8 = entropy down 80%). */
  dEntropy: number;
  /** `(ECE_method − ECE_src) / ECE_src`. */
  dEce: number;
  /** `(NLL_method − NLL_src) / NLL_src`. */
  dNll: number;
  /** Accuracy difference in points (×100). */
  dAccPoints: number;
  /** Relative error reduction `(err_src − err_method) / err_src`. */
  errorReduction: number;
  /**
   * Over-certain on this cell: entropy fell, the method is over-confident (gap > 0), and either its
   * ECE rose or its entropy fell proportionally more than its error.
   */
  overCertain: boolean;
}

/** Compares a method's report with the source model's on the same cell (spec §4 diagnostics). */
export function relativeToSource(method: CalibrationReport, source: CalibrationReport): RelativeToSource {
  const rel = (a: number, b: number): number => (b === 0 ? (a === 0 ? 0 : Infinity) : (a - b) / b);
  const errSrc = 1 - source.accuracy;
  const errM = 1 - method.accuracy;
  const dEntropy = rel(method.meanEntropyNats, source.meanEntropyNats);
  const dEce = rel(method.ece, source.ece);
  const errorReduction = errSrc === 0 ? 0 : (errSrc - errM) / errSrc;
  return {
    dEntropy,
    dEce,
    dNll: rel(method.nll, source.nll),
    dAccPoints: 100 * (method.accuracy - source.accuracy),
    errorReduction,
    overCertain: dEntropy < 0 && method.overconfidenceGap > 0 && (dEce > 0 || -dEntropy > errorReduction),
  };
}

/**
 * Accumulates per-batch logits and labels of a stream and scores them over everything seen (or over
 * the last `n` examples) — never as an average of per-batch metrics.
 */
export class StreamingCalibration {
  private logits: number[] = [];
  private labels: number[] = [];

  /** @param numClasses classes per logit row. */
  constructor(readonly numClasses: number, private readonly options: CalibrationOptions = {}) {}

  /** Number of examples seen. */
  get size(): number {
    return this.labels.length;
  }

  /** Adds one batch of `b × k` logits and `b` labels. */
  add(logits: ArrayLike<number>, labels: ArrayLike<number>): void {
    checkShapes(logits, labels, this.numClasses);
    for (let i = 0; i < logits.length; i++) this.logits.push(logits[i]!);
    for (let i = 0; i < labels.length; i++) this.labels.push(labels[i]!);
  }

  /** The report over every example added so far. */
  report(): CalibrationReport {
    return calibrationReport(this.logits, this.labels, this.numClasses, this.options);
  }

  /** The report over the last `n` examples (a sliding window). */
  windowed(n: number): CalibrationReport {
    const start = Math.max(0, this.labels.length - n);
    return calibrationReport(this.logits.slice(start * this.numClasses), this.labels.slice(start), this.numClasses, this.options);
  }
}
