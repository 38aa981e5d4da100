/**
 * Certainty distillation / Dynamic Entropy Control (Amin & Kim): the per-sample pseudo-label
 * temperature computed from how unfamiliar a target input looks to the frozen source model
 * (teacher entropy above the source level, logit norm below it), the two source statistics it
 * needs, and the two divergences of the released code and of the paper's text.
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, checkChoice, median, predictLogits, type Dataset, type ModelAdapter } from '@trellis-ml/core';
import { assertFiniteLogits } from './calibration.js';
import { rowEntropies } from './hostLogits.js';

/** The only source-side information DEC needs at test time: two scalars from clean validation data. */
export interface SourceStats {
  /** `h0`: mean (or median) teacher entropy in bits on clean source validation inputs. */
  h0Bits: number;
  /** `κ`: median L2 norm of the teacher's logit vectors on clean source validation inputs. */
  logitNorm: number;
  /** Number of classes the statistics were computed for. */
  numClasses: number;
  /** Number of validation inputs used. */
  count: number;
}

/** How the pseudo-label temperature is formed (spec §2.5, plus the §7.6 ablations). */
export type TemperatureMode =
  /** `τ = T·γ`: entropy and logit norm, as the paper's text describes (default). */
  | 'entropy-and-norm'
  /** `τ = T`: entropy only, what the released code feeds the pseudo-label. */
  | 'entropy-only'
  /** `τ = ((tMin + tMax)/2)·γ`: logit norm only (ablation). */
  | 'norm-only'
  /** `τ = fixedTemperature` for every sample (ablation; 1 = plain self-distillation). */
  | 'fixed';

/** Configuration of {@link certaintyTemperatures}. */
export interface TemperatureConfig {
  /** Lowest entropy-driven temperature (default 1.0, the released example). */
  tMin: number;
  /** Highest entropy-driven temperature (default 3.0, the released example). */
  tMax: number;
  mode: TemperatureMode;
  /** Temperature of `mode: 'fixed'`. */
  fixedTemperature?: number;
  /** Clamp of the final τ (default `[tMin·0.25, 20]`; ours — the reference has none and γ is unbounded). */
  tauClamp?: [number, number];
}

/** Default DEC temperature settings (spec §2.3: t_min 1, t_max 3, entropy and norm). */
export const DEFAULT_TEMPERATURE_CONFIG: TemperatureConfig = { tMin: 1, tMax: 3, mode: 'entropy-and-norm' };

/** Per-sample temperatures: entropy-driven `T`, norm factor `γ` and the temperature `τ` fed to the pseudo-label. */
export interface CertaintyTemperatures {
  T: Float32Array;
  gamma: Float32Array;
  tau: Float32Array;
  /** Teacher entropy per sample, in bits. */
  entropyBits: Float32Array;
  /** Teacher logit L2 norm per sample. */
  norm: Float32Array;
}

const TEMPERATURE_MODES: readonly TemperatureMode[] = ['entropy-and-norm', 'entropy-only', 'norm-only', 'fixed'];

/**
 * Checks DEC's source statistics against `k` classes and its temperature settings (`BAD_SOURCE_STATS`,
 * `CLASS_COUNT_MISMATCH`, `BAD_TEMPERATURE`); the plugin runs it when it is built, the temperature functions on every call.
 * @internal
 */
export function checkCertaintyConfig(stats: SourceStats, cfg: TemperatureConfig, k: number): void {
  // The entropy scale √(log2 k) is 0 for one class: every temperature would be NaN.
  check(Number.isInteger(k) && k >= 2, 'BAD_CLASSES', `DEC's temperatures need at least 2 classes; the logits have ${k}`,
    'adapt a classifier with 2 or more outputs');
  check(stats !== null && typeof stats === 'object', 'BAD_SOURCE_STATS', `the source statistics are ${String(stats)}`,
    'pass stats: computeSourceStats(teacher, clean source validation data)');
  check(stats.numClasses === k, 'CLASS_COUNT_MISMATCH', `the source statistics are for ${stats.numClasses} classes but the logits have ${k}`,
    'compute the source statistics with the same model');
  check(Number.isFinite(stats.h0Bits) && stats.h0Bits >= 0 && Number.isFinite(stats.logitNorm) && stats.logitNorm > 0, 'BAD_SOURCE_STATS',
    `source statistics h0=${stats.h0Bits}, κ=${stats.logitNorm} are not a non-negative entropy and a positive norm`,
    'compute them with computeSourceStats on clean source validation inputs');
  check(cfg.tMin > 0 && cfg.tMax >= cfg.tMin && Number.isFinite(cfg.tMax), 'BAD_TEMPERATURE', `tMin ${cfg.tMin} / tMax ${cfg.tMax} are not 0 < tMin ≤ tMax < ∞`, 'pass e.g. tMin 1, tMax 3');
  checkChoice(cfg.mode, TEMPERATURE_MODES, 'temperature mode', { code: 'BAD_TEMPERATURE' });
  if (cfg.mode === 'fixed') {
    check(cfg.fixedTemperature !== undefined && cfg.fixedTemperature > 0 && Number.isFinite(cfg.fixedTemperature), 'BAD_TEMPERATURE', "mode 'fixed' needs a positive, finite fixedTemperature", 'pass fixedTemperature, e.g. 1');
  }
  if (cfg.tauClamp !== undefined) {
    const c = cfg.tauClamp;
    check(Array.isArray(c) && c.length === 2 && c[0] > 0 && c[1] >= c[0] && Number.isFinite(c[1]), 'BAD_TEMPERATURE',
      `tauClamp ${Array.isArray(c) ? `[${c.join(', ')}]` : String(c)} is not an interval [lo, hi] with 0 < lo ≤ hi < ∞`, 'pass e.g. tauClamp: [0.25, 20], or leave it out');
  }
}

function clampOf(cfg: TemperatureConfig): [number, number] {
  return cfg.tauClamp ?? [cfg.tMin * 0.25, 20];
}

/** Per-row softmax entropy in bits and logit L2 norm of `n × k` logits (stable log-sum-exp form). */
export function entropyAndNorm(logits: ArrayLike<number>, k: number): { entropyBits: Float32Array; norm: Float32Array } {
  const n = logits.length / k;
  const nats = rowEntropies(logits, n, k);
  const entropyBits = new Float32Array(n);
  const norm = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let sq = 0;
    for (let j = 0; j < k; j++) sq += logits[i * k + j]! ** 2;
    entropyBits[i] = nats[i]! / Math.LN2;
    norm[i] = Math.sqrt(sq);
  }
  return { entropyBits, norm };
}

/**
 * Host version of the certainty regularizer (spec §2.3) for `n × k` teacher logits:
 * `s = sigmoid((H_bits − h0)/sqrt(log2 k))`, `T = tMin + s·(tMax − tMin)`, `γ = κ/max(‖z‖, 1e-6)`,
 * and `τ` per `mode`, clamped. A sample that looks like source data (`H = h0`, `‖z‖ = κ`) gets
 * `τ = (tMin + tMax)/2`.
 */
export function certaintyTemperatures(logits: ArrayLike<number>, k: number, stats: SourceStats, cfg: TemperatureConfig = DEFAULT_TEMPERATURE_CONFIG): CertaintyTemperatures {
  checkCertaintyConfig(stats, cfg, k);
  check(logits.length % k === 0, 'LOGITS_SHAPE_MISMATCH', `${logits.length} values do not form rows of ${k} classes`, 'pass n × k row-major logits');
  assertFiniteLogits(logits, 'the teacher logits');
  const n = logits.length / k;
  const out: CertaintyTemperatures = {
    T: new Float32Array(n), gamma: new Float32Array(n), tau: new Float32Array(n), entropyBits: new Float32Array(n), norm: new Float32Array(n),
  };
  const scale = Math.sqrt(Math.log2(k));
  const [lo, hi] = clampOf(cfg);
  const diag = entropyAndNorm(logits, k);
  for (let i = 0; i < n; i++) {
    const hBits = diag.entropyBits[i]!;
    const norm = diag.norm[i]!;
    const s = 1 / (1 + Math.exp(-(hBits - stats.h0Bits) / scale));
    const T = cfg.tMin + s * (cfg.tMax - cfg.tMin);
    const gamma = stats.logitNorm / Math.max(norm, 1e-6);
    const raw = cfg.mode === 'entropy-and-norm' ? T * gamma
      : cfg.mode === 'entropy-only' ? T
        : cfg.mode === 'norm-only' ? ((cfg.tMin + cfg.tMax) / 2) * gamma
          : cfg.fixedTemperature!;
    out.T[i] = T;
    out.gamma[i] = gamma;
    out.tau[i] = Math.min(hi, Math.max(lo, raw));
    out.entropyBits[i] = hBits;
    out.norm[i] = norm;
  }
  return out;
}

/**
 * Tensor version of {@link certaintyTemperatures} for use inside a training step: returns `[b]`
 * tensors `T`, `gamma`, `tau` (functions of the frozen teacher's logits only).
 */
export function certaintyTemperaturesTensor(teacherLogits: tf.Tensor, stats: SourceStats, cfg: TemperatureConfig = DEFAULT_TEMPERATURE_CONFIG): { T: tf.Tensor1D; gamma: tf.Tensor1D; tau: tf.Tensor1D } {
  checkRows(teacherLogits, 'the teacher logits');
  const k = teacherLogits.shape[1]!;
  checkCertaintyConfig(stats, cfg, k);
  return tf.tidy(() => {
    const z = teacherLogits as tf.Tensor2D;
    const logp = tf.logSoftmax(z);
    const hBits = tf.div(tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1)), Math.LN2);
    const s = tf.sigmoid(tf.div(tf.sub(hBits, stats.h0Bits), Math.sqrt(Math.log2(k))));
    const T = tf.add(cfg.tMin, tf.mul(s, cfg.tMax - cfg.tMin)) as tf.Tensor1D;
    const norm = tf.maximum(tf.sqrt(tf.sum(tf.square(z), -1)), 1e-6);
    const gamma = tf.div(stats.logitNorm, norm) as tf.Tensor1D;
    const raw = cfg.mode === 'entropy-and-norm' ? tf.mul(T, gamma)
      : cfg.mode === 'entropy-only' ? T
        : cfg.mode === 'norm-only' ? tf.mul((cfg.tMin + cfg.tMax) / 2, gamma)
          : tf.fill([z.shape[0]], cfg.fixedTemperature!);
    const [lo, hi] = clampOf(cfg);
    const tau = tf.clipByValue(raw, lo, hi) as tf.Tensor1D;
    return { T, gamma, tau };
  });
}

/** Options of {@link computeSourceStats}. */
export interface SourceStatsOptions {
  /** How `h0` reduces the per-sample entropies (the reference's `H_batch` is undefined; default `'mean'`). */
  h0Reducer?: 'mean' | 'median';
  batchSize?: number;
}

/**
 * Computes `h0` (teacher entropy in bits, mean by default) and `κ` (median logit norm) on clean
 * source validation inputs. Labels are never read: the dataset is stripped of them first.
 */
export function computeSourceStats(teacher: ModelAdapter, validation: Dataset, options: SourceStatsOptions = {}): SourceStats {
  check(validation.size > 0, 'EMPTY_DATASET', 'the source validation set is empty', 'pass clean source validation inputs');
  const k = teacher.numClasses;
  const logits = predictLogits(teacher, validation.withoutLabels(), options.batchSize ?? 256);
  assertFiniteLogits(logits, 'the teacher logits on the validation set');
  const per = entropyAndNorm(logits, k);
  const h0Bits = (options.h0Reducer ?? 'mean') === 'mean' ? per.entropyBits.reduce((s, v) => s + v, 0) / per.entropyBits.length : median(per.entropyBits);
  return { h0Bits, logitNorm: median(per.norm), numClasses: k, count: validation.size };
}

/** The divergence between student and pseudo-label (spec §2.4). */
export type DistillationDivergence =
  /** `mean_i −Σ_k q_ik ln p_ik` (standard distillation; fixed point p = q). Default. */
  | 'soft-ce'
  /** The released code's Keras `BinaryCrossentropy(y_true = p_student, y_pred = q)` (parity mode). */
  | 'bce-reference';

/**
 * Throws unless `divergence` is one of {@link DistillationDivergence}'s (a misspelt one used to fall through to the BCE branch).
 * @internal
 */
export function checkDivergence(divergence: DistillationDivergence): void {
  checkChoice(divergence, ['soft-ce', 'bce-reference'] as const, 'divergence', { fix: "pass divergence 'soft-ce' (the default) or 'bce-reference' (the released code's parity loss)" });
}

/** Throws `LOGITS_SHAPE_MISMATCH` unless `t` is a `[rows, classes]` tensor. */
function checkRows(t: tf.Tensor, what: string): void {
  check(t.rank === 2, 'LOGITS_SHAPE_MISMATCH', `${what} have shape [${t.shape}], not [rows, classes]`, 'pass the model\'s 2-D logits for the batch');
}

/**
 * The DEC loss for one batch: `D(p_student, q) · mean(τ)²` with `q = softmax(z_teacher / τ)`.
 * The pseudo-label depends on the teacher's logits and τ only (keep the teacher out of the optimizer).
 */
export function certaintyDistillationLoss(studentLogits: tf.Tensor, teacherLogits: tf.Tensor, tau: tf.Tensor1D, divergence: DistillationDivergence = 'soft-ce'): tf.Scalar {
  checkRows(studentLogits, 'the student logits');
  checkRows(teacherLogits, 'the teacher logits');
  const [b, k] = studentLogits.shape;
  check(teacherLogits.shape[0] === b && teacherLogits.shape[1] === k, 'LOGITS_SHAPE_MISMATCH',
    `the student logits are [${studentLogits.shape}] but the teacher logits [${teacherLogits.shape}] (broadcasting would pair the wrong rows)`,
    'pass the teacher\'s logits for the same batch, from a model with the same classes');
  check(tau.rank === 1 && tau.shape[0] === b, 'LOGITS_SHAPE_MISMATCH', `τ has shape [${tau.shape}] for a batch of ${b} rows`,
    'pass one temperature per row, e.g. the tau of certaintyTemperaturesTensor(teacherLogits, …)');
  checkDivergence(divergence);
  return tf.tidy(() => {
    const q = tf.softmax(tf.div(teacherLogits, tf.expandDims(tau, 1)));
    let d: tf.Scalar;
    if (divergence === 'soft-ce') {
      d = tf.neg(tf.mean(tf.sum(tf.mul(q, tf.logSoftmax(studentLogits)), -1))) as tf.Scalar;
    } else {
      const p = tf.softmax(studentLogits);
      const eps = 1e-7;
      const qc = tf.clipByValue(q, eps, 1 - eps);
      d = tf.neg(tf.mean(tf.add(tf.mul(p, tf.log(qc)), tf.mul(tf.sub(1, p), tf.log(tf.sub(1, qc)))))) as tf.Scalar;
    }
    const m = tf.mean(tau);
    return tf.mul(d, tf.square(m)) as tf.Scalar;
  });
}
