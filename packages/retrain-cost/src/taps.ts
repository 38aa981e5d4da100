/**
 * Activation taps: which layers an index reads, and one forward pass that turns a dataset into
 * per-sample representation vectors (spatial means of conv outputs, dense outputs as is) plus the
 * raw output of one embedding layer (spec §3.1–3.2).
 */
import * as tf from '@tensorflow/tfjs-core';
import { disposeBatch, largeFloat32Array, TrellisError, type Dataset, type ModelAdapter } from '@trellis-ml/core';

/** Preprocessing applied to each input batch before the model (default: none — the dataset is fed as is). */
export type Preprocess = (x: tf.Tensor) => tf.Tensor;

/** Options shared by every index that reads activations. */
export interface TapOptions {
  /** Layers to tap: `'auto'` (default) = every Dense/Conv layer wider than the class count, or explicit names. */
  layers?: 'auto' | readonly string[];
  /** Applied to each batch before the model, inside `tf.tidy` (default identity). */
  preprocess?: Preprocess;
  /** Forward-pass batch size (default 32; the result does not depend on it). */
  batchSize?: number;
}

/** A layer the auto rule may tap. */
export interface TapLayerInfo {
  name: string;
  className: string;
  width: number;
  /** The layer has a fused non-linear activation, so the tap is post-activation (the reference taps pre-activation). */
  postActivation: boolean;
}

const TAPPABLE = new Set(['Dense', 'Conv2D', 'Conv1D', 'DepthwiseConv2D', 'SeparableConv2D', 'SliceConv2D']);

interface LayerLike {
  name: string;
  getClassName(): string;
  outputShape: unknown;
  getConfig(): Record<string, unknown>;
}

/** The layers of a `LayersModelAdapter`-like adapter, or null for adapters without layer metadata. */
function layersOf(model: ModelAdapter): LayerLike[] | null {
  const inner = (model as { model?: { layers?: LayerLike[] } }).model;
  return inner && Array.isArray(inner.layers) ? inner.layers : null;
}

/** Describes the conv/dense layers of a layers-model adapter (name, class, width, fused activation). */
export function describeLayers(model: ModelAdapter): TapLayerInfo[] {
  const layers = layersOf(model);
  if (!layers) return [];
  const out: TapLayerInfo[] = [];
  for (const l of layers) {
    const cls = l.getClassName();
    if (!TAPPABLE.has(cls)) continue;
    const shape = l.outputShape as Array<number | null>;
    const width = shape[shape.length - 1] ?? 0;
    const act = String(l.getConfig().activation ?? 'linear');
    out.push({ name: l.name, className: cls, width, postActivation: act !== 'linear' });
  }
  return out;
}

/**
 * Resolves the tapped layers: `'auto'` keeps conv/dense layers with width > `numClasses`;
 * explicit names must exist in `model.tapNames()`.
 * @throws TrellisError `UNKNOWN_LAYER` for a name the model does not have, `BAD_OPTION` for an empty list (no
 * layer to tap), `NO_TAPPABLE_LAYERS` when `'auto'` finds no layer.
 */
export function resolveTaps(model: ModelAdapter, layers: TapOptions['layers'], numClasses: number): { layers: string[]; postActivation: string[] } {
  const info = describeLayers(model);
  if (layers === undefined || layers === 'auto') {
    if (info.length === 0) {
      throw new TrellisError('NO_TAPPABLE_LAYERS', 'cannot pick layers automatically: the model exposes no Dense/Conv layer metadata',
        `pass layers: [...] explicitly, choosing from: ${model.tapNames().join(', ') || '(no taps)'}`);
    }
    const chosen = info.filter((l) => l.width > numClasses);
    if (chosen.length === 0) {
      throw new TrellisError('NO_TAPPABLE_LAYERS', `no Dense/Conv layer is wider than the ${numClasses} classes`,
        'pass layers: [...] explicitly, or use a model with a hidden layer wider than the class count');
    }
    return { layers: chosen.map((l) => l.name), postActivation: chosen.filter((l) => l.postActivation).map((l) => l.name) };
  }
  if (!Array.isArray(layers) || layers.length === 0) {
    throw new TrellisError('BAD_OPTION', `layers ${Array.isArray(layers) ? 'is an empty list' : `${String(layers)} is neither 'auto' nor a list of names`}: there is no layer to tap`,
      `pass layers: 'auto' (the default) or at least one name from: ${model.tapNames().join(', ') || '(no taps)'}`);
  }
  checkLayerNames(model, layers);
  const byName = new Map(info.map((l) => [l.name, l]));
  return { layers: [...layers], postActivation: layers.filter((n) => byName.get(n)?.postActivation) };
}

/** Throws `UNKNOWN_LAYER` naming the missing layer and the available ones. */
export function checkLayerNames(model: ModelAdapter, names: readonly string[]): void {
  const known = new Set(model.tapNames());
  for (const n of names) {
    if (!known.has(n)) {
      throw new TrellisError('UNKNOWN_LAYER', `the model has no layer named "${n}"`,
        `use one of: ${[...known].join(', ')}`, { layer: n, available: [...known] });
    }
  }
}

/** Per-sample representations of one dataset. */
export interface Representations {
  /** Layer name → `n × width` row-major (conv outputs averaged over height and width). */
  perLayer: Record<string, { values: Float32Array; width: number }>;
  /** Raw flattened output of the embedding layer for the rows in `embeddingRows` (when asked). */
  embedding?: { values: Float32Array; dim: number; rows: Int32Array };
  /** Softmax outputs `n × k` (when asked). */
  probs?: Float32Array;
  n: number;
}

/** Options of {@link extractRepresentations}. */
export interface ExtractOptions {
  layers: readonly string[];
  preprocess?: Preprocess;
  batchSize?: number;
  /**
   * Keep the raw output of this layer for the given (sorted) rows. `into`, when its length is
   * `rows.length ×` the layer's flattened size, receives the values instead of a new array (repeated
   * extractions reuse one buffer: a fresh array of hundreds of MB costs more than the forward pass).
   */
  embedding?: { layer: string; rows: Int32Array; into?: Float32Array };
  /** Also return softmax outputs. */
  probs?: boolean;
}

/** Reduces one tap output to `[b, width]`: spatial mean for rank-4 (NHWC), mean over steps for rank 3. */
function perSample(t: tf.Tensor): tf.Tensor2D {
  if (t.rank === 2) return t as tf.Tensor2D;
  if (t.rank === 4) return tf.mean(t, [1, 2]) as tf.Tensor2D;
  if (t.rank === 3) return tf.mean(t, 1) as tf.Tensor2D;
  return tf.reshape(t, [t.shape[0]!, -1]) as tf.Tensor2D;
}

/** The fix of a non-finite activation: the indices compare distributions of finite numbers. */
const NON_FINITE_FIX = 'the model gives NaN/Inf on these inputs (overflow or NaN weights): check the inputs for NaN or huge values '
  + '(normalise them, e.g. with preprocess) and the weights for NaN; the indices cannot compare non-finite activations';

/** Throws `NON_FINITE_VALUES` at the first NaN/±Infinity of a batch's `rows × width` values, naming the layer and example. */
function checkFiniteBatch(values: Float32Array, width: number, what: string, firstRow: number): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) {
      throw new TrellisError('NON_FINITE_VALUES', `${what} ${v} at example ${firstRow + Math.floor(i / width)} (entry ${i % width})`, NON_FINITE_FIX,
        { example: firstRow + Math.floor(i / width), value: v });
    }
  }
}

/**
 * One inference-mode forward pass over `data` (in order), returning per-sample representations of
 * each tapped layer, the embedding rows asked for, and optionally the softmax outputs. Every value it
 * returns is checked to be finite, so no index reads NaN/Inf activations (the error names the layer and
 * example, where a histogram or distance would only say that a value is not finite). Each batch's tensors are freed even when the forward pass or
 * `preprocess` throws.
 * @throws TrellisError `UNKNOWN_LAYER` for a tap the model does not have, `NON_FINITE_VALUES` at the first
 * NaN/±Infinity activation (naming the layer and the example).
 */
export function extractRepresentations(model: ModelAdapter, data: Dataset, options: ExtractOptions): Representations {
  const taps = [...new Set([...options.layers, ...(options.embedding ? [options.embedding.layer] : [])])];
  checkLayerNames(model, taps);
  const n = data.size;
  const batchSize = options.batchSize ?? 32;
  const chunks: Record<string, Float32Array[]> = {};
  const widths: Record<string, number> = {};
  for (const l of options.layers) chunks[l] = [];
  const embRows = options.embedding?.rows;
  let embDim = 0;
  let embValues: Float32Array | null = null;
  let embCursor = 0;
  const probChunks: Float32Array[] = [];
  let offset = 0;
  for (const batch of data.batches(batchSize)) {
    let outs: Record<string, tf.Tensor> | null = null;
    try {
      outs = tf.tidy(() => {
        const x = options.preprocess ? options.preprocess(batch.x) : batch.x;
        const o = model.apply(x, { training: false, taps });
        const res: Record<string, tf.Tensor> = {};
        for (const l of options.layers) res[l] = perSample(o.features[l]!);
        if (options.embedding) res['\u0000emb'] = o.features[options.embedding.layer]!;
        if (options.probs) res['\u0000probs'] = tf.softmax(o.logits);
        return res;
      });
      for (const l of options.layers) {
        const t = outs[l]!;
        widths[l] = t.shape[1]!;
        const values = t.dataSync() as Float32Array;
        checkFiniteBatch(values, widths[l]!, `layer "${l}" gives`, offset);
        chunks[l]!.push(values);
      }
      if (options.embedding && embRows) {
        // the raw output, flattened per row (row-major, so no reshape), copied straight into place
        const t = outs['\u0000emb']!;
        embDim = t.size / batch.size;
        const into = options.embedding.into;
        embValues ??= into?.length === embRows.length * embDim ? into : largeFloat32Array(embRows.length * embDim);
        const all = t.dataSync() as Float32Array;
        while (embCursor < embRows.length && embRows[embCursor]! < offset + batch.size) {
          const r = embRows[embCursor]! - offset;
          const row = all.subarray(r * embDim, (r + 1) * embDim);
          checkFiniteBatch(row, embDim, `the embedding layer "${options.embedding.layer}" gives`, offset + r);
          embValues.set(row, embCursor * embDim);
          embCursor++;
        }
      }
      if (options.probs) {
        const probs = outs['\u0000probs']!.dataSync() as Float32Array;
        checkFiniteBatch(probs, probs.length / batch.size, 'the softmax outputs contain', offset);
        probChunks.push(probs);
      }
    } finally {
      if (outs) tf.dispose(Object.values(outs));
      disposeBatch(batch);
    }
    offset += batch.size;
  }
  const perLayer: Representations['perLayer'] = {};
  for (const l of options.layers) perLayer[l] = { values: concat(chunks[l]!), width: widths[l]! };
  const out: Representations = { perLayer, n };
  if (options.embedding && embRows) out.embedding = { values: embValues ?? new Float32Array(0), dim: embDim, rows: embRows };
  if (options.probs) out.probs = concat(probChunks);
  return out;
}

function concat(parts: Float32Array[]): Float32Array {
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Float32Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
