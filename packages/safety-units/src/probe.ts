/**
 * The reasoning-direction probe (spec §7, §10.3 step 8, an optional diagnostic of the hypothesis): for
 * each harmful request compare the hidden state of the clean prompt with the prompt followed by a
 * refusal opener and by a compliance opener, per block and as greedy generation proceeds. If alignment
 * taught a refuse/comply decision, the aligned model's clean state lies closer to the refusal-prefixed
 * one than the pre-trained model's does. **Reconstructed** (the paper gives no pooling): last-position
 * hidden state (the residual stream after each block), greedy continuation of every variant for `t`
 * tokens, cosine distance averaged over requests.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelAdapter } from '@trellis-ml/core';
import { check, checkBatchSize } from '@trellis-ml/core';
import type { Request, RequestLanguage } from './language.js';
import { checkLanguageFits } from './lmEval.js';

/**
 * Cosine distance 1 − a·b / (‖a‖‖b‖) of two equally long, non-empty vectors, in [0, 2]. By convention two
 * zero vectors are at distance 0 and a zero vector is at distance 1 from any other vector.
 */
export function cosineDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  check(a.length === b.length && a.length > 0, 'BAD_SHAPE', `cosine distance of vectors of lengths ${a.length} and ${b.length}`, 'pass two non-empty vectors of equal length');
  return cosineDistanceAt(a, b, 0, a.length);
}

/** {@link cosineDistance} of `a[off, off + dim)` and `b[off, off + dim)`. */
function cosineDistanceAt(a: ArrayLike<number>, b: ArrayLike<number>, off: number, dim: number): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = off; i < off + dim; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  if (na === 0 && nb === 0) return 0;
  if (na === 0 || nb === 0) return 1;
  return 1 - dot / Math.sqrt(na * nb);
}

/** Mean {@link cosineDistance} between row i of `a` and row i of `b` (both `[rows, dim]`, row-major). */
export function meanRowCosineDistance(a: ArrayLike<number>, b: ArrayLike<number>, dim: number): number {
  check(Number.isInteger(dim) && dim >= 1 && a.length === b.length && a.length % dim === 0 && a.length > 0, 'BAD_SHAPE',
    `row-wise cosine distance of arrays of lengths ${a.length} and ${b.length} with row size ${dim}`, 'pass two non-empty [rows, dim] arrays of one shape');
  const rows = a.length / dim;
  let sum = 0;
  for (let r = 0; r < rows; r++) sum += cosineDistanceAt(a, b, r * dim, dim);
  return sum / rows;
}

/** Options of {@link reasoningDirectionProbe}. */
export interface ProbeOptions {
  /** Feature taps of the block outputs, one per block in order (the tiny transformer: `L{l}.out`). */
  blockTaps: readonly string[];
  /** Greedy tokens generated after each variant's input before the state is read (default [0, 1, 2]). */
  steps?: readonly number[];
  /** Batch size of the forward passes (default 256). */
  batchSize?: number;
}

/** One point of the probe: mean distances at block `layer` after `generated` greedy tokens. */
export interface ProbePoint {
  generated: number;
  layer: number;
  /** Mean cosine distance of the clean state to the refusal-prefixed state. */
  refusal: number;
  /** Mean cosine distance of the clean state to the compliance-prefixed state. */
  comply: number;
}

/**
 * Runs the probe on `requests` (spec §7): variants clean (`prompt`), `prompt + R_k` (the request's
 * refusal opener) and `prompt + OK_x` (its compliance opener); each is extended greedily (stopping at
 * EOS or the model's length) and, at every count in `steps`, the last-position state of every block tap
 * is compared with the clean variant's at the same count.
 */
export function reasoningDirectionProbe(model: ModelAdapter, lang: RequestLanguage, requests: readonly Request[], options: ProbeOptions): ProbePoint[] {
  check(requests.length > 0, 'EMPTY_DATASET', 'no requests to probe', 'pass at least one request');
  check((options?.blockTaps?.length ?? 0) > 0, 'BAD_OPTION', 'no block taps to read hidden states from', "pass the block-output taps, e.g. ['L0.out', 'L1.out']");
  const steps = [...(options.steps ?? [0, 1, 2])].sort((x, y) => x - y);
  for (const t of steps) check(Number.isInteger(t) && t >= 0, 'BAD_OPTION', `probe step ${t} is not an integer ≥ 0`, 'pass generated-token counts 0, 1, 2, …');
  const L = lang.maxLen;
  const bs = options.batchSize ?? 256;
  checkBatchSize(bs);
  checkLanguageFits(model, lang);
  const taps = [...options.blockTaps];
  const variants: number[][][] = [
    requests.map((r) => lang.prompt(r)),
    requests.map((r) => [...lang.prompt(r), lang.refusal(r)[0]!]),
    requests.map((r) => [...lang.prompt(r), lang.compliantAnswer(r)[0]!]),
  ];
  for (const v of variants) for (const s of v) check(s.length <= L, 'BAD_OPTION', `a probe input of ${s.length} tokens exceeds the model length ${L}`, 'probe shorter prompts');
  /** One pass: the greedy next token at each sequence's last position and, per tap, its last-position state [n, d]. */
  const pass = (seqs: number[][]): { next: Int32Array; states: Float32Array[] } => {
    const n = seqs.length;
    const next = new Int32Array(n);
    const states: Float32Array[] = [];
    for (let start = 0; start < n; start += bs) {
      const end = Math.min(n, start + bs);
      const x = new Float32Array((end - start) * L).fill(lang.tok.PAD);
      for (let i = start; i < end; i++) x.set(seqs[i]!, (i - start) * L);
      const outs = tf.tidy(() => {
        const o = model.apply(tf.tensor2d(x, [end - start, L]), { training: false, taps });
        for (const t of taps) {
          const f = o.features[t];
          check(f, 'BAD_TAP', `the model returned no feature "${t}"`, 'pass block taps the model exposes (tapNames())');
          // a tap of another shape (e.g. [b, d]) used to be read with the wrong stride
          check(f.rank === 3 && f.shape[0] === end - start && f.shape[1] === L && f.shape[2] === o.features[taps[0]!]!.shape[2], 'BAD_TAP',
            `tap "${t}" has shape [${f.shape.join(', ')}]; the probe reads block states [batch, ${L}, d] of one width d`, 'pass block-output taps (the tiny transformer: L{l}.out)');
        }
        return [o.logits, ...taps.map((t) => o.features[t]!)];
      });
      const logits = outs[0]!.dataSync();
      const V = outs[0]!.shape[2]!;
      const feats = outs.slice(1).map((f) => f.dataSync());
      const d = outs[1]!.shape[2]!;
      tf.dispose(outs);
      taps.forEach((_, l) => (states[l] ??= new Float32Array(n * d)));
      for (let i = start; i < end; i++) {
        const pos = seqs[i]!.length - 1;
        const o = ((i - start) * L + pos) * V;
        let best = 0;
        for (let c = 1; c < V; c++) if (logits[o + c]! > logits[o + best]!) best = c;
        next[i] = best;
        feats.forEach((f, l) => states[l]!.set(f.subarray(((i - start) * L + pos) * d, ((i - start) * L + pos + 1) * d), i * d));
      }
    }
    return { next, states };
  };
  const out: ProbePoint[] = [];
  let generated = 0;
  let results = variants.map(pass);
  for (const t of steps) {
    while (generated < t) {
      variants.forEach((v, k) => v.forEach((s, i) => {
        if (s.length < L && s[s.length - 1] !== lang.tok.EOS) s.push(results[k]!.next[i]!);
      }));
      generated++;
      results = variants.map(pass);
    }
    const d = results[0]!.states[0]!.length / requests.length;
    taps.forEach((_, l) => out.push({
      generated: t, layer: l,
      refusal: meanRowCosineDistance(results[0]!.states[l]!, results[1]!.states[l]!, d),
      comply: meanRowCosineDistance(results[0]!.states[l]!, results[2]!.states[l]!, d),
    }));
  }
  return out;
}
