/**
 * Unit importance (spec §3.2): I_j = Var_t(x_{t,j}) · ‖B_j‖²₂ — the activation fluctuation of the
 * channel entering the output projection B times the squared norm of its outgoing weights (FLAP's
 * "WIFV" metric, which SSAH reuses) — plus the alternatives named in the spec. Only forward passes:
 * no labels, no gradients. Streaming: activations are reduced batch by batch into Float64
 * accumulators (Chan/Welford), never held in memory.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset, ModelAdapter } from '@trellis-ml/core';
import { check, checkChoice, disposeBatch, TrellisError } from '@trellis-ml/core';
import { validateLayout, type UnitLayout } from './units.js';

/**
 * Scoring methods:
 * - `wifv` (default, Eq. 1): `var_j · ‖B_j‖²`;
 * - `activation-norm` (Wanda-style, structured): `sqrt(mean_t x²_{t,j}) · ‖B_j‖`;
 * - `variance`: `var_j` alone (no weights);
 * - `magnitude`: `‖B_j‖` alone (data-free; the spec's magnitude-freeze control).
 */
export type ScoreMethod = 'wifv' | 'activation-norm' | 'variance' | 'magnitude';

const SCORE_METHODS: readonly ScoreMethod[] = ['wifv', 'activation-norm', 'variance', 'magnitude'];

/** Per-unit statistics and scores of one data set. */
export interface UnitScores {
  method: ScoreMethod;
  /** Score per unit, by module id. */
  scores: Record<string, Float64Array>;
  /** Activation mean per unit (for FLAP bias compensation). */
  means: Record<string, Float64Array>;
  /** Activation variance per unit (unbiased). */
  variances: Record<string, Float64Array>;
  /** Positions (tokens, or examples for rank-2 activations) the statistics cover. */
  count: number;
}

/**
 * Chooses which positions of a token sequence count (spec §3.1 `tokenScope`). Called per batch with
 * the batch's input tokens `[batch × length]`; returns one byte per position.
 */
export type PositionMask = (tokens: Float32Array, batch: number, length: number) => Uint8Array;

/** Options of {@link scoreUnits}. */
export interface ScoreOptions {
  method?: ScoreMethod;
  batchSize?: number;
  /** Score at most this many examples (default all). */
  maxExamples?: number;
  /** For sequence activations `[b, T, units]`: which positions count (default: all). */
  positions?: PositionMask;
  /** Square the attention-module scores (FLAP's quirk, spec §3.2; default false). */
  squareAttentionScores?: boolean;
}

/** Running per-unit count/mean/M2 in Float64 (parallel Welford merge per batch). */
export class UnitMoments {
  count = 0;
  readonly mean: Float64Array;
  readonly m2: Float64Array;
  readonly sumSq: Float64Array;

  constructor(readonly numUnits: number) {
    this.mean = new Float64Array(numUnits);
    this.m2 = new Float64Array(numUnits);
    this.sumSq = new Float64Array(numUnits);
  }

  /**
   * Adds the rows of `values` (`rows × numUnits`, row-major) whose `keep` byte is 1 (all when absent).
   * @throws TrellisError `BAD_SHAPE` when `values` does not hold `rows × numUnits` numbers or `keep` does not hold `rows` bytes.
   */
  add(values: ArrayLike<number>, rows: number, keep?: Uint8Array): void {
    const u = this.numUnits;
    // a short `values` used to add undefined entries (NaN moments); a short `keep` dropped the rows past its end
    check(Number.isInteger(rows) && rows >= 0 && values?.length === rows * u, 'BAD_SHAPE', `${values?.length} values for ${String(rows)} rows of ${u} units`,
      'pass rows × numUnits activations, row-major');
    check(keep === undefined || keep.length === rows, 'BAD_SHAPE', `a keep mask of ${keep?.length} entries for ${rows} rows`, 'pass one keep byte per row');
    let n = 0;
    const bMean = new Float64Array(u);
    for (let r = 0; r < rows; r++) {
      if (keep && !keep[r]) continue;
      n++;
      const o = r * u;
      for (let j = 0; j < u; j++) bMean[j]! += values[o + j]!;
    }
    if (n === 0) return;
    for (let j = 0; j < u; j++) bMean[j]! /= n;
    const bM2 = new Float64Array(u);
    for (let r = 0; r < rows; r++) {
      if (keep && !keep[r]) continue;
      const o = r * u;
      for (let j = 0; j < u; j++) {
        const x = values[o + j]!;
        const d = x - bMean[j]!;
        bM2[j]! += d * d;
        this.sumSq[j]! += x * x;
      }
    }
    const total = this.count + n;
    for (let j = 0; j < u; j++) {
      const delta = bMean[j]! - this.mean[j]!;
      this.mean[j]! += (delta * n) / total;
      this.m2[j]! += bM2[j]! + (delta * delta * this.count * n) / total;
    }
    this.count = total;
  }

  /** Unbiased variance per unit (0 with fewer than two positions). */
  variance(): Float64Array {
    const out = new Float64Array(this.numUnits);
    if (this.count < 2) return out;
    for (let j = 0; j < this.numUnits; j++) out[j] = this.m2[j]! / (this.count - 1);
    return out;
  }
}

/**
 * Squared L2 norm of each unit's outgoing weights: row j of a B kernel `[hidden, out]` in TF.js layout
 * (`axis` 0, the default), or column j with `axis` 1.
 * @throws TrellisError `NO_NEURON_AXIS` unless `kernel` is rank 2 and `axis` is 0 or 1.
 */
export function outgoingNormsSq(kernel: tf.Tensor, axis: 0 | 1 = 0): Float64Array {
  check(kernel?.rank === 2 && (axis === 0 || axis === 1), 'NO_NEURON_AXIS', `outgoing norms of a kernel of shape [${kernel?.shape?.join(', ')}] along axis ${String(axis)}`,
    'pass a rank-2 B kernel and its unit axis (0 for [hidden, out] in TF.js layout, 1 for [out, hidden])');
  const v = tf.tidy(() => tf.sum(tf.square(kernel), 1 - axis).dataSync());
  return Float64Array.from(v);
}

/**
 * Combines activation statistics and outgoing norms into scores (pure; spec Eq. 1 for `wifv`).
 * @param variance unbiased activation variance per unit
 * @param meanSq mean of squared activations per unit (for `activation-norm`)
 * @param normSq squared outgoing-weight norm per unit
 * @throws TrellisError `BAD_OPTION` for an unknown method, `BAD_SHAPE` when the three arrays differ in length.
 */
export function unitScoreFromStats(method: ScoreMethod, variance: Float64Array, meanSq: Float64Array, normSq: Float64Array): Float64Array {
  // an unknown method used to fall through to `magnitude`; a short statistic gave NaN scores
  checkChoice(method, SCORE_METHODS, 'scoring method', { fix: `use one of ${SCORE_METHODS.join(', ')} (default wifv)` });
  const n = normSq.length;
  check(variance.length === n && meanSq.length === n, 'BAD_SHAPE', `unit statistics of lengths ${variance.length} (variance), ${meanSq.length} (mean square) and ${n} (norms)`,
    'pass one variance, mean square and squared norm per unit');
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    out[j] = method === 'wifv' ? variance[j]! * normSq[j]!
      : method === 'activation-norm' ? Math.sqrt(meanSq[j]!) * Math.sqrt(normSq[j]!)
        : method === 'variance' ? variance[j]!
          : Math.sqrt(normSq[j]!);
  }
  return out;
}

/**
 * Scores every unit of `layout` on `data` (forward passes only, batched and streaming).
 * Activations are read from the model's taps (`module.tap`, shape `[b, units]` or `[b, T, units]`).
 * @throws TrellisError `TOO_FEW_POSITIONS` when a module's statistics cover fewer than two positions
 * (one for `activation-norm`; the variance, and so every score, would be 0), `BAD_OPTION` for a
 * `positions` that is not a function or returns a mask of the wrong length.
 */
export function scoreUnits(adapter: ModelAdapter, layout: UnitLayout, data: Dataset, options: ScoreOptions = {}): UnitScores {
  const method = options.method ?? 'wifv';
  checkChoice(method, SCORE_METHODS, 'scoring method', { fix: `use one of ${SCORE_METHODS.join(', ')} (default wifv)` });
  check(data.size > 0, 'EMPTY_DATASET', 'the scoring set is empty', 'pass a data set with examples');
  check(options.maxExamples === undefined || (Number.isInteger(options.maxExamples) && options.maxExamples >= 1), 'BAD_OPTION',
    `maxExamples ${String(options.maxExamples)} is not an integer ≥ 1`, 'score at least one example, or leave maxExamples out to score all');
  check(options.positions === undefined || typeof options.positions === 'function', 'BAD_OPTION', `positions ${String(options.positions)} is not a function`,
    'pass a PositionMask function (tokens, batch, length) => Uint8Array, or leave positions out to use every position');
  validateLayout(adapter, layout);
  const vars = adapter.trainableVariables();
  const moments = new Map(layout.map((m) => [m.id, new UnitMoments(m.numUnits)]));
  const taps = [...new Set(layout.map((m) => m.tap))];
  const limit = Math.min(options.maxExamples ?? data.size, data.size);
  const set = limit < data.size ? data.take(limit) : data;
  if (method !== 'magnitude') {
    for (const batch of set.batches(options.batchSize ?? 64)) {
      const out = tf.tidy(() => {
        const o = adapter.apply(batch.x, { training: false, taps });
        return taps.map((t) => {
          const f = o.features[t];
          if (!f) throw new TrellisError('UNKNOWN_TAP', `the model returned no feature "${t}"`, 'make apply() return every tap a unit module names');
          return f;
        });
      });
      try {
        let keep: Uint8Array | undefined;
        const tokens = options.positions ? (batch.x.dataSync() as Float32Array) : undefined;
        for (const m of layout) {
          const f = out[taps.indexOf(m.tap)]!;
          check(f.shape[f.shape.length - 1] === m.numUnits, 'NO_NEURON_AXIS',
            `tap "${m.tap}" has shape [${f.shape.join(', ')}] but module "${m.id}" has ${m.numUnits} units on its last axis`,
            'tap the activation entering the output projection, with units on the last axis');
          const rows = f.size / m.numUnits;
          if (f.rank === 3 && options.positions && tokens && !keep) {
            keep = options.positions(tokens, f.shape[0]!, f.shape[1]!);
            // a shorter mask silently dropped the positions past its end
            check(keep?.length === rows, 'BAD_OPTION', `the positions mask has ${keep?.length} entries for a batch of ${f.shape[0]} × ${f.shape[1]} positions`,
              'return one byte per position (batch × length, row-major) from the positions function');
          }
          moments.get(m.id)!.add(f.dataSync(), rows, f.rank === 3 ? keep : undefined);
        }
      } finally {
        tf.dispose(out);
        disposeBatch(batch);
      }
    }
    // With fewer than two positions the variance is 0 for every unit (and with none the mean square is
    // too): every score would be 0 and the classification would follow the layout order.
    const need = method === 'activation-norm' ? 1 : 2;
    for (const m of layout) {
      const c = moments.get(m.id)!.count;
      check(c >= need, 'TOO_FEW_POSITIONS', `module "${m.id}" was scored on ${c} position(s); the ${method} score needs at least ${need}`,
        options.positions ? 'select more positions with `positions` (or score more examples)' : 'score at least two examples (or sequence positions)');
    }
  }
  const scores: Record<string, Float64Array> = {};
  const means: Record<string, Float64Array> = {};
  const variances: Record<string, Float64Array> = {};
  let count = 0;
  for (const m of layout) {
    const mo = moments.get(m.id)!;
    const normSq = outgoingNormsSq(vars[m.bSide.variable]!, m.bSide.axis);
    const variance = mo.variance();
    const meanSq = mo.sumSq.map((s) => (mo.count ? s / mo.count : 0));
    let s = unitScoreFromStats(method, variance, meanSq, normSq);
    if (options.squareAttentionScores && m.kind === 'attn') s = s.map((x) => x * x);
    scores[m.id] = s;
    means[m.id] = Float64Array.from(mo.mean);
    variances[m.id] = variance;
    count = Math.max(count, mo.count);
  }
  return { method, scores, means, variances, count };
}

/** The safety and utility scores of one model (spec §3: I_S on D_S, I_U on D_U). */
export interface AttributeScores {
  safety: UnitScores;
  utility: UnitScores;
}

/**
 * Scores units on safety data and on utility data. Both sets must speak the model's vocabulary:
 * same input shape and the same number of outputs (tokens) as the model; token inputs must be in range.
 */
export function scoreAttributes(adapter: ModelAdapter, layout: UnitLayout, sets: { safety: Dataset; utility: Dataset }, options: ScoreOptions & { tokenInputs?: boolean } = {}): AttributeScores {
  check(sets?.safety && sets.utility, 'EMPTY_DATASET', 'scoreAttributes needs a `safety` and a `utility` set', 'pass { safety: D_S, utility: D_U } (e.g. encodeSequences(lang, …).data)');
  checkSameVocabulary(adapter, sets.safety, sets.utility, options.tokenInputs ?? false);
  return { safety: scoreUnits(adapter, layout, sets.safety, options), utility: scoreUnits(adapter, layout, sets.utility, options) };
}

/**
 * Throws `VOCABULARY_MISMATCH` when the safety and utility sets (or the model) disagree on the
 * vocabulary: different numbers of classes/tokens, different input shapes, or token ids out of range.
 */
export function checkSameVocabulary(adapter: ModelAdapter, safety: Dataset, utility: Dataset, tokenInputs: boolean): void {
  const fix = 'build the safety and utility sets with the same tokenizer/language as the model being scored';
  check(safety.numClasses === utility.numClasses, 'VOCABULARY_MISMATCH',
    `the safety set has ${safety.numClasses} classes/tokens but the utility set has ${utility.numClasses}: they come from different models' vocabularies`, fix);
  check(safety.numClasses === adapter.numClasses, 'VOCABULARY_MISMATCH',
    `the scoring sets have ${safety.numClasses} classes/tokens but the model outputs ${adapter.numClasses}`, fix);
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
  check(same(safety.shape, utility.shape), 'VOCABULARY_MISMATCH',
    `the safety set's examples have shape [${safety.shape.join(', ')}] but the utility set's [${utility.shape.join(', ')}]`, fix);
  if (tokenInputs) {
    for (const [name, d] of [['safety', safety], ['utility', utility]] as const) {
      for (let i = 0; i < d.x.length; i++) {
        const t = d.x[i]!;
        if (!(Number.isInteger(t) && t >= 0 && t < adapter.numClasses)) {
          throw new TrellisError('VOCABULARY_MISMATCH', `the ${name} set has token id ${t}, outside the model's vocabulary [0, ${adapter.numClasses})`, fix);
        }
      }
    }
  }
}
