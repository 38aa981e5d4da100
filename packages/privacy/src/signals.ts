import * as tf from '@tensorflow/tfjs-core';
import { checkClassLabels, disposeBatch, TrellisError, type Dataset, type ModelAdapter } from '@trellis-ml/core';

/**
 * Per-example outputs an attacker reads from a model (black-box signals, plus the feature norm of
 * a named representation for the magnitude-disparity analysis). All arrays have one entry per
 * example (probs: `n × numClasses`). Computed in float64 from the logits.
 */
export interface Signals {
  numClasses: number;
  /** Softmax probabilities, `n × numClasses` row-major. */
  probs: Float64Array;
  labels: Int32Array;
  /** Cross-entropy −log p_y (member if small). */
  loss: Float64Array;
  /** p_y (member if large). */
  confidence: Float64Array;
  /** Entropy of p (member if small). */
  entropy: Float64Array;
  /** Modified entropy (Song & Mittal) (member if small). */
  modifiedEntropy: Float64Array;
  /** LiRA's logit-scaled confidence φ = log p_y − log Σ_{k≠y} p_k. */
  scaledLogit: Float64Array;
  /** 1 when the model's arg-max is the label. */
  correct: Uint8Array;
  /** ‖feature‖₂ of the representation tapped (when asked for). */
  featureNorm?: Float64Array;
}

/** Mentr's floor inside its logs (spec: 1e-30), as a log: `max(log x, LOG_FLOOR)` is `log(max(x, 1e-30))`. */
const LOG_FLOOR = Math.log(1e-30);

/**
 * Signals from raw logits (`n × k`, row-major) and labels. Softmax is taken in float64 from
 * max-subtracted logits; logs are clamped at 1e-30 (Mentr) and offset by 1e-45 (LiRA's φ).
 */
export function signalsFromLogits(logits: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number, featureNorm?: ArrayLike<number>): Signals {
  const k = numClasses;
  const n = labels.length;
  if (!(Number.isInteger(k) && k >= 1)) {
    throw new TrellisError('BAD_OPTION', `numClasses ${String(k)} is not a whole number ≥ 1`, "pass the model's class count (the width of one row of logits)");
  }
  if (logits.length !== n * k) {
    throw new TrellisError('LENGTH_MISMATCH', `${logits.length} logits for ${n} labels × ${k} classes`, 'pass one row of numClasses logits per label');
  }
  checkClassLabels(labels, k);
  const probs = new Float64Array(n * k);
  const loss = new Float64Array(n);
  const confidence = new Float64Array(n);
  const entropy = new Float64Array(n);
  const modifiedEntropy = new Float64Array(n);
  const scaledLogit = new Float64Array(n);
  const correct = new Uint8Array(n);
  const labelsOut = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    labelsOut[i] = y;
    let max = -Infinity;
    let arg = 0;
    for (let c = 0; c < k; c++) {
      const v = logits[i * k + c]!;
      if (Number.isNaN(v)) {
        throw new TrellisError('NAN_SCORE', `logit ${c} of example ${i} is NaN`, 'the model produced NaN outputs: check its weights (a diverged training run) and inputs');
      }
      if (v > max) {
        max = v;
        arg = c;
      }
    }
    if (!Number.isFinite(max)) {
      // +Infinity (or all −Infinity) leaves the softmax undefined: every signal of the row would be NaN
      throw new TrellisError('NAN_SCORE', `the largest logit of example ${i} is ${max}`, 'the model produced infinite outputs (an overflow, e.g. a diverged training run): check its weights and inputs');
    }
    // log Σ exp(l − max) = log1p(Σ over the classes other than the argmax): log(1 + tiny) would round
    // to 0 once the logit gap passes ≈ 37, and every such confident example would tie at loss 0
    let rest = 0;
    for (let c = 0; c < k; c++) if (c !== arg) rest += Math.exp(logits[i * k + c]! - max);
    const logZ = Math.log1p(rest);
    let h = 0;
    let others = 0;
    for (let c = 0; c < k; c++) {
      const logp = logits[i * k + c]! - max - logZ;
      const p = Math.exp(logp);
      probs[i * k + c] = p;
      h -= p > 0 ? p * logp : 0;
      if (c !== y) others += p;
    }
    const py = probs[i * k + y]!;
    const logpy = logits[i * k + y]! - max - logZ;
    // Mentr with 1 − p_y as the other classes' sum and log(1 − p) as log1p(−p): no cancellation near p = 1
    let mentr = -others * Math.max(logpy, LOG_FLOOR);
    for (let c = 0; c < k; c++) {
      if (c === y) continue;
      const p = probs[i * k + c]!;
      mentr -= p * Math.max(Math.log1p(-p), LOG_FLOOR);
    }
    loss[i] = -logpy;
    confidence[i] = py;
    entropy[i] = h;
    modifiedEntropy[i] = mentr;
    scaledLogit[i] = Math.log(py + 1e-45) - Math.log(others + 1e-45);
    correct[i] = arg === y ? 1 : 0;
  }
  const s: Signals = { numClasses: k, probs, labels: labelsOut, loss, confidence, entropy, modifiedEntropy, scaledLogit, correct };
  if (featureNorm && featureNorm.length !== n) {
    throw new TrellisError('LENGTH_MISMATCH', `${featureNorm.length} feature norms for ${n} labels`, 'pass one feature norm per example (or none)');
  }
  if (featureNorm) s.featureNorm = Float64Array.from(featureNorm);
  return s;
}

/** Options of {@link computeSignals}. */
export interface ComputeSignalsOptions {
  batchSize?: number;
  /** A tap of the model whose per-example L2 norm is recorded as `featureNorm` (e.g. the bottleneck). */
  featureTap?: string;
}

/** Runs `model` in inference mode over a labeled dataset and returns its {@link Signals}. */
export function computeSignals(model: ModelAdapter, dataset: Dataset, options: ComputeSignalsOptions = {}): Signals {
  if (!dataset.labels) throw new TrellisError('UNLABELED', 'membership signals need labels', 'pass a labeled dataset');
  const k = model.numClasses;
  const logits = new Float32Array(dataset.size * k);
  const norms = options.featureTap ? new Float64Array(dataset.size) : undefined;
  let offset = 0;
  for (const batch of dataset.batches(options.batchSize ?? 256)) {
    const [l, nrm] = tf.tidy(() => {
      const out = model.apply(batch.x, { training: false, taps: options.featureTap ? [options.featureTap] : [] });
      const f = options.featureTap ? out.features[options.featureTap] : undefined;
      const norm = f ? tf.norm(tf.reshape(f, [batch.size, -1]), 'euclidean', 1) : undefined;
      return [out.logits, norm] as const;
    });
    if (l.rank !== 2 || l.shape[0] !== batch.size || l.shape[1] !== k) {
      const shape = l.shape.join(', ');
      l.dispose();
      nrm?.dispose();
      disposeBatch(batch);
      // a wider row overran the buffer (RangeError), a narrower one was read misaligned (silently wrong signals)
      throw new TrellisError('OUTPUT_SHAPE_MISMATCH', `the model outputs logits of shape [${shape}] for a batch of ${batch.size}, but declares ${k} classes`,
        'make the model output one logit per class ([batch, numClasses]) and declare numClasses to match');
    }
    logits.set(l.dataSync() as Float32Array, offset * k);
    if (nrm && norms) norms.set(nrm.dataSync() as Float32Array, offset);
    offset += batch.size;
    l.dispose();
    nrm?.dispose();
    disposeBatch(batch);
  }
  return signalsFromLogits(logits, dataset.labels, k, norms);
}

/** Concatenates several {@link Signals} (same class count), e.g. members then non-members. */
export function concatSignals(parts: readonly Signals[]): Signals {
  if (parts.length === 0) throw new TrellisError('EMPTY', 'no signals to concatenate', 'pass at least one Signals object');
  const k = parts[0]!.numClasses;
  for (const [i, p] of parts.entries()) {
    if (p.numClasses !== k) {
      throw new TrellisError('CLASS_COUNT_MISMATCH', `signals ${i} have ${p.numClasses} classes, signals 0 have ${k}`, 'concatenate signals of models with the same classes');
    }
  }
  const cat = <T extends Float64Array | Int32Array | Uint8Array>(get: (s: Signals) => T, make: (n: number) => T): T => {
    const total = parts.reduce((s, p) => s + get(p).length, 0);
    const out = make(total);
    let o = 0;
    for (const p of parts) {
      out.set(get(p) as never, o);
      o += get(p).length;
    }
    return out;
  };
  const f64 = (n: number) => new Float64Array(n);
  const s: Signals = {
    numClasses: k,
    probs: cat((p) => p.probs, f64),
    labels: cat((p) => p.labels, (n) => new Int32Array(n)),
    loss: cat((p) => p.loss, f64),
    confidence: cat((p) => p.confidence, f64),
    entropy: cat((p) => p.entropy, f64),
    modifiedEntropy: cat((p) => p.modifiedEntropy, f64),
    scaledLogit: cat((p) => p.scaledLogit, f64),
    correct: cat((p) => p.correct, (n) => new Uint8Array(n)),
  };
  if (parts.every((p) => p.featureNorm)) s.featureNorm = cat((p) => p.featureNorm!, f64);
  return s;
}
