import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { check, TrellisError } from './errors.js';
import type { Rng } from './rng.js';

/** What a model returns for a batch: logits plus any named intermediate features asked for. */
export interface ModelOutputs {
  /** `[batch, classes]` (or the model's output). */
  logits: tf.Tensor;
  /** Named intermediate activations ("taps"), present when requested. */
  features: Record<string, tf.Tensor>;
}

/** Options of {@link ModelAdapter.apply}. */
export interface ApplyOptions {
  /** Training mode (dropout, batch-norm batch statistics). */
  training?: boolean;
  /** Names of intermediate features to return (see {@link ModelAdapter.tapNames}). */
  taps?: readonly string[];
}

/**
 * The model contract of Trellis. A technique talks to a model only through this adapter, so any
 * model that can be adapted (a `tf.LayersModel`, a hand-written function of variables, a wrapper)
 * works with every plugin.
 */
export interface ModelAdapter {
  /** Shape of one input example. */
  readonly inputShape: readonly number[];
  /** Number of output classes. */
  readonly numClasses: number;
  /** Forward pass. Must be callable inside `tf.tidy` and a gradient tape. */
  apply(x: tf.Tensor, options?: ApplyOptions): ModelOutputs;
  /** Names of the intermediate features {@link ModelAdapter.apply} can return. */
  tapNames(): string[];
  /**
   * The tap whose output the classifier head reads (the model's penultimate representation), when the
   * model knows it; one of {@link ModelAdapter.tapNames}. Declare it when the taps do not end with the
   * classifier layer (dynamic-depth's `DepthNet` declares `features`, the input of its head, which its taps
   * list last). Plugins that read "the feature before the classifier" by default (privacy's CRL and SRCM) get
   * it through {@link penultimateTap}, which falls back to the tap listed before the last one when a model
   * declares none. A wrapper that delegates `tapNames` to the model it wraps delegates this too.
   */
  readonly featureTap?: string | undefined;
  /** Trainable variables, keyed by stable names (`layer/weight`). */
  trainableVariables(): Record<string, tf.Variable>;
  /** All variables (trainable or not, e.g. batch-norm moving statistics), keyed by stable names. */
  allVariables(): Record<string, tf.Variable>;
  /** Saves weights (and topology where the model has one) to a directory. */
  save(dir: string): Promise<void>;
  /** Loads weights saved by {@link ModelAdapter.save} into this model (same architecture). */
  load(dir: string): Promise<void>;
  /** Frees the model's variables. */
  dispose(): void;
}

/** Reads `inputShape`/`numClasses` from a layers model. */
function layersModelShapes(model: tfl.LayersModel): { inputShape: number[]; numClasses: number } {
  const inShape = model.inputs[0]?.shape;
  const outShape = model.outputs[0]?.shape;
  check(inShape && outShape, 'BAD_MODEL', 'the layers model has no input or output', 'build the model with tf.sequential or tf.model before adapting it');
  return { inputShape: inShape.slice(1).map((d) => d ?? -1), numClasses: outShape[outShape.length - 1] ?? -1 };
}

/**
 * Adapts a `tf.LayersModel` (sequential or functional). Taps are the model's layer names; a tapped
 * forward pass runs one functional model with several outputs, built once per tap set.
 */
export class LayersModelAdapter implements ModelAdapter {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  private readonly tapModels = new Map<string, tfl.LayersModel>();

  /** Wraps `model`; it stays owned by the adapter ({@link LayersModelAdapter.dispose} frees it). */
  constructor(readonly model: tfl.LayersModel) {
    const s = layersModelShapes(model);
    this.inputShape = s.inputShape;
    this.numClasses = s.numClasses;
  }

  apply(x: tf.Tensor, options: ApplyOptions = {}): ModelOutputs {
    const training = options.training ?? false;
    checkInputShape(x.shape, this.inputShape);
    const taps = options.taps ?? [];
    if (taps.length === 0) {
      return { logits: this.model.apply(x, { training }) as tf.Tensor, features: {} };
    }
    const tapModel = this.tapModel(taps);
    const outs = tapModel.apply(x, { training }) as tf.Tensor[];
    const features: Record<string, tf.Tensor> = {};
    taps.forEach((t, i) => (features[t] = outs[i]!));
    return { logits: outs[taps.length]!, features };
  }

  tapNames(): string[] {
    return this.model.layers.map((l) => l.name);
  }

  /**
   * The layer whose output the model's output layer reads (`fcN` of {@link mlp}, `fc1` of {@link smallCnn}),
   * or `undefined` when that layer reads the model's input or several layers. When defined it is the layer
   * listed just before the output layer (in a single-output graph only the head's one input sits there), so
   * {@link penultimateTap} picks the same tap as its "tap before the last" fallback.
   */
  get featureTap(): string | undefined {
    const out = this.model.outputs[0];
    const inbound = out?.sourceLayer.inboundNodes[out.nodeIndex]?.inboundLayers ?? [];
    // the input layer is no feature (a functional model lists it among its layers)
    const name = inbound.length === 1 && inbound[0]!.getClassName() !== 'InputLayer' ? inbound[0]!.name : undefined;
    return name !== undefined && this.tapNames().includes(name) ? name : undefined;
  }

  private tapModel(taps: readonly string[]): tfl.LayersModel {
    const key = taps.join('\u0000');
    let m = this.tapModels.get(key);
    if (!m) {
      const names = new Set(this.tapNames());
      for (const t of taps) {
        check(names.has(t), 'UNKNOWN_TAP', `the model has no layer named "${t}"`, `tap one of: ${[...names].join(', ')}`, { tap: t });
      }
      const outputs = [...taps.map((t) => this.model.getLayer(t).output as tfl.SymbolicTensor), this.model.outputs[0]!];
      m = tfl.model({ inputs: this.model.inputs, outputs });
      this.tapModels.set(key, m);
    }
    return m;
  }

  trainableVariables(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    for (const w of this.model.trainableWeights) out[w.originalName] = w.read() as tf.Variable;
    return out;
  }

  allVariables(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    for (const w of this.model.weights) out[w.originalName] = w.read() as tf.Variable;
    return out;
  }

  /** Writes `model.json` + `weights.bin` (loadable with `tf.loadLayersModel(fileLoadHandler(dir))`) and `variables/`. */
  async save(dir: string): Promise<void> {
    await this.model.save(fileSaveHandler(dir));
    await saveVariables(this.allVariables(), join(dir, 'variables'));
  }

  async load(dir: string): Promise<void> {
    await loadVariablesInto(this.allVariables(), join(dir, 'variables'));
  }

  dispose(): void {
    this.model.dispose();
  }
}

/**
 * The tap holding `model`'s penultimate representation (the input of its classifier head), the default
 * feature of plugins that read one (privacy's CRL centre loss, the SRCM head): the model's declared
 * {@link ModelAdapter.featureTap} when it has one; otherwise the tap listed just before the last one, which
 * is right for models whose taps end with the classifier layer (a {@link LayersModelAdapter}'s taps are its
 * layers in order: `fc2` for `mlp({ hidden: [256, 128] })`) and wrong for models whose taps end elsewhere
 * (those declare `featureTap`). `undefined` when the model declares none and has fewer than two taps.
 * It does not check that the tap exists: a caller that reads it does.
 */
export function penultimateTap(model: ModelAdapter): string | undefined {
  const names = model.tapNames();
  return model.featureTap ?? names[names.length - 2];
}

/** Adapts a layers model: `adaptLayersModel(tf.sequential({...}))`. */
export function adaptLayersModel(model: tfl.LayersModel): LayersModelAdapter {
  return new LayersModelAdapter(model);
}

/** Throws a clear error when a batch does not match the model's input shape. */
export function checkInputShape(batchShape: readonly number[], inputShape: readonly number[]): void {
  const got = batchShape.slice(1);
  const ok = got.length === inputShape.length && got.every((d, i) => inputShape[i]! < 0 || d === inputShape[i]);
  if (!ok) {
    throw new TrellisError('INPUT_SHAPE_MISMATCH',
      `inputs of shape [${got.join(', ')}] do not fit a model that expects [${inputShape.join(', ')}]`,
      `reshape the dataset (dataset.reshape([${inputShape.join(', ')}])) or build the model for [${got.join(', ')}]`,
      { got, expected: inputShape });
  }
}

/**
 * Re-initialises every variable of `adapter` from `rng` so a run is reproducible from its seed:
 * kernels (rank ≥ 2) Glorot-uniform, biases/betas/moving means 0, gammas/moving variances 1.
 */
export function initializeWeights(adapter: ModelAdapter, rng: Rng): void {
  const vars = adapter.allVariables();
  for (const name of Object.keys(vars).sort()) {
    const v = vars[name]!;
    const size = v.size;
    let values: Float32Array;
    const leaf = name.split('/').pop() ?? name;
    if (/gamma|variance/.test(leaf)) values = new Float32Array(size).fill(1);
    else if (v.shape.length >= 2) {
      const receptive = v.shape.slice(0, -2).reduce((p, d) => p * d, 1);
      const fanIn = v.shape[v.shape.length - 2]! * receptive;
      const fanOut = v.shape[v.shape.length - 1]! * receptive;
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      values = rng.uniformArray(size, -limit, limit);
    } else values = new Float32Array(size);
    tf.tidy(() => v.assign(tf.tensor(values, v.shape, v.dtype === 'int32' ? 'int32' : 'float32')));
  }
}

// ---------------------------------------------------------------- file IO (no tfjs-node needed)

import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A tfjs IOHandler that writes `model.json` + `weights.bin` into `dir` with plain `fs`. */
export function fileSaveHandler(dir: string): tf.io.IOHandler {
  return tf.io.withSaveHandler(async (artifacts) => {
    await mkdir(dir, { recursive: true });
    const weights = artifacts.weightData ? new Uint8Array(concatWeightData(artifacts.weightData)) : new Uint8Array();
    await writeFile(join(dir, 'weights.bin'), weights);
    const json = {
      modelTopology: artifacts.modelTopology,
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
      weightsManifest: [{ paths: ['./weights.bin'], weights: artifacts.weightSpecs ?? [] }],
    };
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
  });
}

function concatWeightData(data: ArrayBuffer | ArrayBuffer[]): ArrayBuffer {
  if (!Array.isArray(data)) return data;
  const total = data.reduce((s, b) => s + b.byteLength, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const b of data) {
    out.set(new Uint8Array(b), off);
    off += b.byteLength;
  }
  return out.buffer;
}

/** A tfjs IOHandler that reads what {@link fileSaveHandler} wrote (for `tf.loadLayersModel`). */
export function fileLoadHandler(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as {
        modelTopology: unknown; weightsManifest: Array<{ weights: tf.io.WeightsManifestEntry[] }>;
      };
      const bin = await readFile(join(dir, 'weights.bin'));
      return {
        modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs: json.weightsManifest.flatMap((m) => m.weights),
        weightData: new Uint8Array(bin).buffer as ArrayBuffer,
      };
    },
  };
}

/** Writes named variables to `dir` (`weights.json` manifest + `weights.bin`), atomically. */
export async function saveVariables(vars: Record<string, tf.Tensor>, dir: string): Promise<void> {
  const named = Object.entries(vars).map(([name, tensor]) => ({ name, tensor }));
  const { data, specs } = await tf.io.encodeWeights(named);
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeFile(join(tmp, 'weights.bin'), new Uint8Array(data));
  await writeFile(join(tmp, 'weights.json'), JSON.stringify(specs));
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

/** Reads variables saved by {@link saveVariables} (caller disposes the tensors). */
export async function readVariables(dir: string): Promise<Record<string, tf.Tensor>> {
  let specs: tf.io.WeightsManifestEntry[];
  let bin: Buffer;
  try {
    specs = JSON.parse(await readFile(join(dir, 'weights.json'), 'utf8')) as tf.io.WeightsManifestEntry[];
    bin = await readFile(join(dir, 'weights.bin'));
  } catch (e) {
    throw new TrellisError('CHECKPOINT_UNREADABLE', `cannot read saved weights in ${dir}: ${(e as Error).message}`,
      'point at a directory written by Trellis (model/ of a run or a checkpoint)');
  }
  const width: Record<string, number> = { float32: 4, int32: 4, bool: 1 };
  const sized = Array.isArray(specs) && specs.every((w) => width[w.dtype] !== undefined && !w.quantization);
  const bytes = sized ? specs.reduce((n, w) => n + w.shape.reduce((a, d) => a * d, 1) * width[w.dtype]!, 0) : Array.isArray(specs) ? bin.length : -1;
  if (bytes !== bin.length) {
    throw new TrellisError('CHECKPOINT_UNREADABLE', `${join(dir, 'weights.bin')} has ${bin.length} bytes but weights.json describes ${bytes < 0 ? 'no weights' : `${bytes}`}: the files are truncated or damaged`,
      'point at a directory written by Trellis (model/ of a run or a checkpoint), or restore it from a copy');
  }
  return tf.io.decodeWeights(new Uint8Array(bin).buffer as ArrayBuffer, specs);
}

/**
 * Checks that `saved` holds every variable of `vars` with the same shape (`CHECKPOINT_MISMATCH`
 * otherwise: a checkpoint of another architecture).
 */
export function checkSavedShapes(vars: Record<string, tf.Variable>, saved: Record<string, tf.Tensor>, dir: string): void {
  for (const [name, v] of Object.entries(vars)) {
    const t = saved[name];
    if (!t) {
      throw new TrellisError('CHECKPOINT_MISMATCH', `the saved weights in ${dir} have no variable "${name}"`,
        'load a checkpoint saved from the same architecture (layer names must match)', { missing: name });
    }
    if (t.shape.join('x') !== v.shape.join('x')) {
      throw new TrellisError('CHECKPOINT_MISMATCH',
        `saved "${name}" has shape [${t.shape.join(', ')}] but the model's is [${v.shape.join(', ')}]`,
        'load a checkpoint saved from the same architecture');
    }
  }
}

/** Loads saved variables into `vars`, checking names and shapes (a checkpoint of another architecture fails clearly). */
export async function loadVariablesInto(vars: Record<string, tf.Variable>, dir: string): Promise<void> {
  const saved = await readVariables(dir);
  try {
    checkSavedShapes(vars, saved, dir);
    for (const [name, v] of Object.entries(vars)) v.assign(saved[name]!);
  } finally {
    tf.dispose(Object.values(saved));
  }
}
