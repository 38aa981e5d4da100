/**
 * The spec's tiny decoder-only transformer (§10.2 Tier B) as a {@link UnitModelAdapter} over plain
 * `tf.Variable`s: learned token and position embeddings, pre-RMSNorm blocks of causal multi-head
 * attention and a SwiGLU MLP (as in Llama), a final norm and an LM head. Kernels use TF.js `[in, out]`
 * layout. Units: per block, the `d_ff` SwiGLU channels (A = gate and up columns, B = down rows) and the
 * `d_model` attention value/output channels (A = W_v columns, B = W_o rows; W_q/W_k are not part of
 * units, spec §2.1). Tokens are embedded by a one-hot matmul (no `gather`, so its gradient is never
 * needed on any backend).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ApplyOptions, ModelOutputs } from '@trellis-ml/core';
import { check, loadVariablesInto, Rng, saveVariables, requireBackend } from '@trellis-ml/core';
import type { WeightOverridableModel } from './lowRank.js';
import type { UnitModelAdapter, UnitModule } from './units.js';

/** Options of {@link tinyTransformer}. */
export interface TransformerOptions {
  vocabSize: number;
  /** Sequence length T (inputs are `[b, T]` token ids as floats). */
  maxLen: number;
  layers?: number;
  dModel?: number;
  heads?: number;
  dFf?: number;
  seed: number;
}

let instances = 0;

/** The tiny transformer. Build it with {@link tinyTransformer}. */
export class TinyTransformer implements UnitModelAdapter, WeightOverridableModel {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly layers: number;
  readonly dModel: number;
  readonly heads: number;
  readonly dFf: number;
  readonly maxLen: number;
  private readonly vars: Record<string, tf.Variable> = {};

  constructor(readonly options: TransformerOptions) {
    check(typeof options === 'object' && options !== null, 'BAD_OPTION', 'the tiny transformer needs its options', 'pass { vocabSize, maxLen, seed } (e.g. vocabSize: lang.vocabSize, maxLen: lang.maxLen)');
    this.layers = options.layers ?? 4;
    this.dModel = options.dModel ?? 64;
    this.heads = options.heads ?? 4;
    this.dFf = options.dFf ?? 256;
    this.maxLen = options.maxLen;
    this.inputShape = [options.maxLen];
    this.numClasses = options.vocabSize;
    const sizes = { vocabSize: options.vocabSize, maxLen: options.maxLen, layers: this.layers, dModel: this.dModel, heads: this.heads, dFf: this.dFf };
    for (const [k, v] of Object.entries(sizes)) {
      check(Number.isInteger(v) && v >= 1, 'BAD_OPTION', `transformer size ${k} ${typeof v === 'string' ? `"${v}"` : String(v)} is not an integer ≥ 1`, `pass ${k} as a whole number ≥ 1${k === 'vocabSize' || k === 'maxLen' ? ` (lang.${k === 'vocabSize' ? 'vocabSize' : 'maxLen'} for the request language)` : ''}`);
    }
    check(Number.isFinite(options.seed), 'NO_SEED', 'the tiny transformer needs a numeric seed', 'pass `seed` (its initial weights are drawn from it)');
    check(this.dModel % this.heads === 0, 'BAD_OPTION', `d_model ${this.dModel} is not divisible by ${this.heads} heads`, 'pick d_model = heads × head size');
    const rng = Rng.derive(options.seed, 'transformer-init');
    const d = this.dModel;
    const id = instances++;
    const add = (name: string, shape: number[], values: Float32Array) => {
      const init = tf.tensor(values, shape);
      this.vars[name] = tf.variable(init, true, `tt${id}/${name}`);
      init.dispose(); // the variable holds its own reference; the initial tensor would otherwise outlive dispose()
    };
    const glorot = (fanIn: number, fanOut: number, scale = 1) => rng.uniformArray(fanIn * fanOut, -1, 1).map((v) => v * scale * Math.sqrt(6 / (fanIn + fanOut)));
    const residualScale = 1 / Math.sqrt(2 * this.layers);
    add('embed/tokens', [options.vocabSize, d], rng.normalArray(options.vocabSize * d, 0, 0.3));
    add('embed/positions', [options.maxLen, d], rng.normalArray(options.maxLen * d, 0, 0.3));
    for (let l = 0; l < this.layers; l++) {
      add(`L${l}/attn_norm/gain`, [d], new Float32Array(d).fill(1));
      for (const p of ['q', 'k', 'v']) add(`L${l}/${p}/kernel`, [d, d], glorot(d, d));
      add(`L${l}/o/kernel`, [d, d], glorot(d, d, residualScale));
      add(`L${l}/mlp_norm/gain`, [d], new Float32Array(d).fill(1));
      add(`L${l}/gate/kernel`, [d, this.dFf], glorot(d, this.dFf));
      add(`L${l}/up/kernel`, [d, this.dFf], glorot(d, this.dFf));
      add(`L${l}/down/kernel`, [this.dFf, d], glorot(this.dFf, d, residualScale));
    }
    add('final_norm/gain', [d], new Float32Array(d).fill(1));
    add('head/kernel', [d, options.vocabSize], glorot(d, options.vocabSize));
  }

  /** MLP units (`L{l}.mlp`, d_ff each) and attention channel units (`L{l}.attn`, d_model each). */
  unitModules(): UnitModule[] {
    const out: UnitModule[] = [];
    for (let l = 0; l < this.layers; l++) {
      out.push({
        id: `L${l}.attn`, layer: l, kind: 'attn', numUnits: this.dModel, tap: `L${l}.attn`,
        aSide: [{ variable: `L${l}/v/kernel`, axis: 1 }], bSide: { variable: `L${l}/o/kernel`, axis: 0 }, headDim: this.dModel / this.heads,
      });
      out.push({
        id: `L${l}.mlp`, layer: l, kind: 'mlp', numUnits: this.dFf, tap: `L${l}.mlp`,
        aSide: [{ variable: `L${l}/gate/kernel`, axis: 1 }, { variable: `L${l}/up/kernel`, axis: 1 }], bSide: { variable: `L${l}/down/kernel`, axis: 0 },
      });
    }
    return out;
  }

  tapNames(): string[] {
    const out: string[] = [];
    for (let l = 0; l < this.layers; l++) out.push(`L${l}.attn`, `L${l}.mlp`, `L${l}.out`);
    return out;
  }

  /** `L<last>.out`, the residual stream the final norm and LM head read (not `L<last>.mlp`, the tap listed before it). */
  get featureTap(): string {
    return `L${this.layers - 1}.out`;
  }

  /**
   * The projection matrices of every block (q, k, v, o, gate, up, down kernels), the weights a
   * low-rank adapter targets by default (spec §10.3 step 5: "on all projections").
   */
  projectionVariables(): string[] {
    const out: string[] = [];
    for (let l = 0; l < this.layers; l++) for (const p of ['q', 'k', 'v', 'o', 'gate', 'up', 'down']) out.push(`L${l}/${p}/kernel`);
    return out;
  }

  apply(x: tf.Tensor, options: ApplyOptions = {}): ModelOutputs {
    return this.applyWithWeights(x, {}, options);
  }

  /**
   * The forward pass with some weights replaced: `weights[name]` (same shape as the variable) is used
   * instead of variable `name`. A low-rank adapter passes `W + s·A·B` here, so gradients flow to A and
   * B while the variables themselves are never touched.
   */
  applyWithWeights(x: tf.Tensor, weights: Readonly<Record<string, tf.Tensor>>, options: ApplyOptions = {}): ModelOutputs {
    for (const [name, w] of Object.entries(weights)) {
      const own = this.vars[name];
      check(own, 'UNKNOWN_WEIGHT', `the transformer has no weight "${name}" to replace`, `replace one of: ${Object.keys(this.vars).join(', ')}`);
      check(w.shape.length === own.shape.length && w.shape.every((n, i) => n === own.shape[i]), 'WEIGHT_SHAPE_MISMATCH',
        `the replacement for "${name}" has shape [${w.shape.join(', ')}] but the weight is [${own.shape.join(', ')}]`, 'pass a tensor of the weight\'s shape');
    }
    check(x.rank === 2 && x.shape[1] === this.maxLen, 'INPUT_SHAPE_MISMATCH', `token inputs of shape [${x.shape.join(', ')}] do not fit a transformer of length ${this.maxLen}`,
      `pass [batch, ${this.maxLen}] token ids`);
    const taps = new Set(options.taps ?? []);
    const v: Record<string, tf.Tensor> = { ...this.vars, ...weights };
    const [b, T] = x.shape as [number, number];
    const d = this.dModel;
    const H = this.heads;
    const dh = d / H;
    const V = this.numClasses;
    const features: Record<string, tf.Tensor> = {};
    const mm = (a: tf.Tensor, w: tf.Tensor, out: number) => tf.reshape(tf.matMul(tf.reshape(a, [-1, a.shape[a.shape.length - 1]!]), w as tf.Tensor2D), [b, T, out]);
    const norm = (a: tf.Tensor, g: tf.Tensor) => tf.mul(tf.mul(a, tf.rsqrt(tf.add(tf.mean(tf.square(a), -1, true), 1e-5))), g);
    const tokens = tf.cast(x, 'int32');
    let h: tf.Tensor = tf.reshape(tf.matMul(tf.oneHot(tf.reshape(tokens, [-1]) as tf.Tensor1D, V), v['embed/tokens'] as tf.Tensor2D), [b, T, d]);
    h = tf.add(h, tf.slice(v['embed/positions']!, [0, 0], [T, d]));
    const causal = tf.tensor2d(Float32Array.from({ length: T * T }, (_, i) => (i % T > Math.floor(i / T) ? -1e9 : 0)), [T, T]);
    const heads = (a: tf.Tensor) => tf.transpose(tf.reshape(a, [b, T, H, dh]), [0, 2, 1, 3]);
    for (let l = 0; l < this.layers; l++) {
      const a = norm(h, v[`L${l}/attn_norm/gain`]!);
      const q = heads(mm(a, v[`L${l}/q/kernel`]!, d));
      const k = heads(mm(a, v[`L${l}/k/kernel`]!, d));
      const val = heads(mm(a, v[`L${l}/v/kernel`]!, d));
      const att = tf.softmax(tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)), causal));
      const ctx = tf.reshape(tf.transpose(tf.matMul(att, val), [0, 2, 1, 3]), [b, T, d]);
      if (taps.has(`L${l}.attn`)) features[`L${l}.attn`] = ctx;
      h = tf.add(h, mm(ctx, v[`L${l}/o/kernel`]!, d));
      const m = norm(h, v[`L${l}/mlp_norm/gain`]!);
      const gate = mm(m, v[`L${l}/gate/kernel`]!, this.dFf);
      const hidden = tf.mul(tf.mul(gate, tf.sigmoid(gate)), mm(m, v[`L${l}/up/kernel`]!, this.dFf));
      if (taps.has(`L${l}.mlp`)) features[`L${l}.mlp`] = hidden;
      h = tf.add(h, mm(hidden, v[`L${l}/down/kernel`]!, d));
      if (taps.has(`L${l}.out`)) features[`L${l}.out`] = h;
    }
    const logits = mm(norm(h, v['final_norm/gain']!), v['head/kernel']!, V);
    return { logits, features };
  }

  trainableVariables(): Record<string, tf.Variable> {
    return { ...this.vars };
  }

  allVariables(): Record<string, tf.Variable> {
    return { ...this.vars };
  }

  /**
   * Copies every weight of `other` (same architecture) into this model.
   * @throws TrellisError `ARCHITECTURE_MISMATCH` when `other` has other weights or shapes (nothing is copied then).
   */
  copyFrom(other: TinyTransformer): void {
    const theirs = Object.entries(other?.vars ?? {});
    const same = other?.heads === this.heads && theirs.length === Object.keys(this.vars).length && theirs.every(([name, w]) => {
      const own = this.vars[name];
      return own !== undefined && own.shape.length === w.shape.length && own.shape.every((d, i) => d === w.shape[i]);
    });
    // a model of other sizes used to fail half-way with a raw TypeError or tfjs shape error, some weights already copied
    check(same, 'ARCHITECTURE_MISMATCH', () => `cannot copy a transformer of sizes ${describeSizes(other)} into one of sizes ${describeSizes(this)}`,
      'copy between transformers built with the same vocabSize, maxLen, layers, dModel, heads and dFf');
    for (const [name, w] of theirs) this.vars[name]!.assign(w);
  }

  /** A new model with the same architecture and a copy of the weights. */
  clone(): TinyTransformer {
    const m = new TinyTransformer(this.options);
    m.copyFrom(this);
    return m;
  }

  async save(dir: string): Promise<void> {
    await saveVariables(this.vars, dir);
  }

  async load(dir: string): Promise<void> {
    await loadVariablesInto(this.vars, dir);
  }

  dispose(): void {
    for (const w of Object.values(this.vars)) w.dispose();
  }
}

function describeSizes(m: TinyTransformer | undefined): string {
  return m?.options ? `{ vocabSize ${m.numClasses}, maxLen ${m.maxLen}, layers ${m.layers}, dModel ${m.dModel}, heads ${m.heads}, dFf ${m.dFf} }` : String(m);
}

/** A seeded tiny transformer (defaults: 4 layers, d_model 64, 4 heads, d_ff 256 — the spec's Tier B). */
export function tinyTransformer(options: TransformerOptions): TinyTransformer {
  requireBackend('tinyTransformer()');
  return new TinyTransformer(options);
}
