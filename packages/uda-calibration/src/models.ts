/**
 * Model helpers of the adaptation methods: the BatchNorm variables of a model, adapters that
 * restrict what trains or force batch statistics, a copy of a layers model (the DEC student or a
 * fresh source copy per cell), and the `mlp-bn` source model of the study.
 */
import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  check,
  initializeWeights,
  LayersModelAdapter,
  Rng,
  TrellisError,
  type ApplyOptions,
  type ModelAdapter,
  type ModelOutputs,
  requireBackend,
} from '@trellis-ml/core';

/** The BatchNorm variables of a model, by stable name. */
export interface BatchNormVariables {
  /** Layer prefixes that are batch-norm layers (e.g. `bn1`). */
  layers: string[];
  /** Trainable scale and shift (`<layer>/gamma`, `<layer>/beta`). */
  affine: Record<string, tf.Variable>;
  /** Moving statistics (`<layer>/moving_mean`, `<layer>/moving_variance`). */
  statistics: Record<string, tf.Variable>;
}

/**
 * Finds the batch-norm layers of a model (a `<layer>/moving_mean` variable marks one). Throws
 * `NO_BATCHNORM` when there are none and `method` needs them.
 */
export function batchNormVariables(model: ModelAdapter, method = 'this method'): BatchNormVariables {
  const all = model.allVariables();
  const trainable = model.trainableVariables();
  const layers = Object.keys(all).filter((n) => n.endsWith('/moving_mean')).map((n) => n.slice(0, -'/moving_mean'.length));
  if (layers.length === 0) {
    throw new TrellisError('NO_BATCHNORM',
      `${method} adapts only BatchNorm layers, but the source model has none (variables: ${Object.keys(all).slice(0, 8).join(', ')}${Object.keys(all).length > 8 ? ', …' : ''})`,
      'use a source model with BatchNormalization layers (mlpBn(), or core smallCnn({ batchNorm: true })), or a method that trains other weights (certaintyDistillation, shotIm)');
  }
  const affine: Record<string, tf.Variable> = {};
  const statistics: Record<string, tf.Variable> = {};
  for (const l of layers) {
    for (const w of ['gamma', 'beta']) if (trainable[`${l}/${w}`]) affine[`${l}/${w}`] = trainable[`${l}/${w}`]!;
    for (const w of ['moving_mean', 'moving_variance']) if (all[`${l}/${w}`]) statistics[`${l}/${w}`] = all[`${l}/${w}`]!;
  }
  check(Object.keys(affine).length > 0, 'NO_BATCHNORM', `the BatchNorm layers ${layers.join(', ')} have no trainable scale or shift`,
    'build the BatchNormalization layers with center/scale enabled and trainable');
  return { layers, affine, statistics };
}

/** Options of {@link AdaptedModel}. */
export interface AdaptedModelOptions {
  /** Which variables train (by stable name); default: all of the inner model's. */
  trainable?: (name: string) => boolean;
  /**
   * `'batch'`: always normalise with batch statistics (TENT, BN-adapt), even at evaluation.
   * `'inference'`: always run in inference mode (BatchNorm on the moving statistics), also in a
   * training step (MEMO, which adapts with the source statistics as its released CIFAR code).
   */
  normalization?: 'default' | 'batch' | 'inference';
}

/**
 * A view of a model that restricts its trainable variables and/or always uses batch statistics.
 * It shares the inner model's variables (nothing is copied); disposing it disposes the inner model.
 */
export class AdaptedModel implements ModelAdapter {
  readonly inputShape: readonly number[];
  readonly numClasses: number;

  constructor(readonly inner: ModelAdapter, private readonly options: AdaptedModelOptions = {}) {
    this.inputShape = inner.inputShape;
    this.numClasses = inner.numClasses;
  }

  apply(x: tf.Tensor, options: ApplyOptions = {}): ModelOutputs {
    const n = this.options.normalization;
    return this.inner.apply(x, { ...options, training: n === 'batch' ? true : n === 'inference' ? false : options.training });
  }

  tapNames(): string[] {
    return this.inner.tapNames();
  }

  /** The inner model's feature tap (see core's `ModelAdapter.featureTap`). */
  get featureTap(): string | undefined {
    return this.inner.featureTap;
  }

  trainableVariables(): Record<string, tf.Variable> {
    const keep = this.options.trainable;
    const all = this.inner.trainableVariables();
    if (!keep) return all;
    return Object.fromEntries(Object.entries(all).filter(([n]) => keep(n)));
  }

  allVariables(): Record<string, tf.Variable> {
    return this.inner.allVariables();
  }

  save(dir: string): Promise<void> {
    return this.inner.save(dir);
  }

  load(dir: string): Promise<void> {
    return this.inner.load(dir);
  }

  dispose(): void {
    this.inner.dispose();
  }
}

/** The layers model under `model`, looking through {@link AdaptedModel} views; `null` when there is none. */
export function layersModelOf(model: ModelAdapter): LayersModelAdapter | null {
  let m: ModelAdapter = model;
  while (m instanceof AdaptedModel) m = m.inner;
  return m instanceof LayersModelAdapter ? m : null;
}

/**
 * The name of the layer whose output feeds the Dense classifier `head` (T3A's features, SHOT's
 * clustering features): for `mlp-bn` the last `relu`, for the CNN its last hidden activation.
 * Throws `NO_HEAD` when `head` is missing or not a Dense layer, `NO_FEATURE_LAYER` when its input is
 * not the output of a layer of the model.
 */
export function headFeatureLayer(model: LayersModelAdapter, head: string, method: string): string {
  let layer: tfl.layers.Layer;
  try {
    layer = model.model.getLayer(head);
  } catch {
    throw new TrellisError('NO_HEAD', `${method}: the model has no layer "${head}" (layers: ${model.tapNames().join(', ')})`, 'pass `head` with the name of the last Dense layer');
  }
  check(layer.getClassName() === 'Dense', 'NO_HEAD', `${method} needs a Dense classifier head, but "${head}" is a ${layer.getClassName()} layer`, 'pass `head` with the name of the last Dense layer');
  const input = layer.input as tfl.SymbolicTensor | tfl.SymbolicTensor[];
  const featureLayer = (Array.isArray(input) ? input[0] : input)?.sourceLayer?.name;
  check(featureLayer && model.tapNames().includes(featureLayer), 'NO_FEATURE_LAYER',
    `the input of "${head}" is not the output of a layer of the model, so ${method} cannot read its features`,
    'put at least one layer (e.g. a flatten or an activation) before the last Dense layer');
  return featureLayer;
}

/** Options of {@link cloneLayersModel}. */
export interface CloneOptions {
  /** Set this BatchNorm momentum in the copy (TF.js default 0.99). */
  bnMomentum?: number;
}

/** A copy of a Keras model config with every `*_initializer` replaced by `Zeros` (nested configs included). */
function withZeroInitializers(config: unknown): unknown {
  if (Array.isArray(config)) return config.map(withZeroInitializers);
  if (config === null || typeof config !== 'object') return config;
  return Object.fromEntries(Object.entries(config).map(([key, value]) => [key,
    key.endsWith('_initializer') && value !== null && typeof value === 'object' ? { class_name: 'Zeros', config: {} } : withZeroInitializers(value)]));
}

/**
 * An independent copy (same topology, same weights including BatchNorm moving statistics) of a
 * layers-model adapter: the frozen teacher or trainable student of DEC, or a fresh source copy.
 */
export async function cloneLayersModel(source: ModelAdapter, options: CloneOptions = {}): Promise<LayersModelAdapter> {
  if (!(source instanceof LayersModelAdapter)) {
    throw new TrellisError('NOT_CLONEABLE', 'the source model is not a LayersModelAdapter, so it cannot be copied automatically',
      'wrap a tf.LayersModel with adaptLayersModel(), or build the copy yourself (same architecture) and pass it');
  }
  const json = source.model.toJSON(null, false) as unknown as { config: { layers?: Array<{ class_name: string; config: Record<string, unknown> }> } };
  if (options.bnMomentum !== undefined) {
    check(options.bnMomentum >= 0 && options.bnMomentum < 1, 'BAD_MOMENTUM', `BatchNorm momentum ${options.bnMomentum} is outside [0, 1)`, 'pass e.g. 0.99 (TF.js default) or 0.9');
    for (const l of json.config.layers ?? []) if (l.class_name === 'BatchNormalization') l.config.momentum = options.bnMomentum;
  }
  // every weight is overwritten below, so the copy's layers need not draw their random initial values
  const copy = await tfl.models.modelFromJSON({ modelTopology: withZeroInitializers(json) as never });
  const weights = source.model.getWeights();
  copy.setWeights(weights);
  return new LayersModelAdapter(copy);
}

/** Options of {@link mlpBn}. */
export interface MlpBnOptions {
  inputShape: number[];
  numClasses: number;
  /** Hidden widths (default [256, 128], spec §7.4). */
  hidden?: number[];
  /** BatchNorm momentum (default 0.9 — PyTorch's 0.1 — so short source trainings end with settled moving statistics; TF.js's own default is 0.99). */
  bnMomentum?: number;
  seed: number;
}

/**
 * The study's `mlp-bn` source model: flatten → (dense without bias → BatchNorm → ReLU) per hidden
 * width → dense logits. Layers `fc1, bn1, relu1, …, logits`; seeded.
 */
export function mlpBn(options: MlpBnOptions): LayersModelAdapter {
  requireBackend('mlpBn()');
  const hidden = options.hidden ?? [256, 128];
  const flat = options.inputShape.length === 1;
  const layers: tfl.layers.Layer[] = flat ? [] : [tfl.layers.flatten({ inputShape: options.inputShape, name: 'flatten' })];
  hidden.forEach((units, i) => {
    layers.push(tfl.layers.dense({ ...(flat && i === 0 ? { inputShape: options.inputShape } : {}), units, useBias: false, name: `fc${i + 1}` }));
    layers.push(tfl.layers.batchNormalization({ name: `bn${i + 1}`, momentum: options.bnMomentum ?? 0.9 }));
    layers.push(tfl.layers.activation({ activation: 'relu', name: `relu${i + 1}` }));
  });
  layers.push(tfl.layers.dense({ ...(flat && hidden.length === 0 ? { inputShape: options.inputShape } : {}), units: options.numClasses, name: 'logits' }));
  const adapter = new LayersModelAdapter(tfl.sequential({ layers }));
  initializeWeights(adapter, Rng.derive(options.seed, 'init'));
  return adapter;
}

/** Throws `TARGET_SHAPE_MISMATCH` when a target batch does not fit the source model's input. */
export function checkTargetShape(batchShape: readonly number[], inputShape: readonly number[]): void {
  const got = batchShape.slice(1);
  const ok = got.length === inputShape.length && got.every((d, i) => inputShape[i]! < 0 || d === inputShape[i]);
  if (!ok) {
    throw new TrellisError('TARGET_SHAPE_MISMATCH',
      `a target batch of examples shaped [${got.join(', ')}] does not fit the source model, which expects [${inputShape.join(', ')}]`,
      `adapt on target data shaped like the source data (dataset.reshape([${inputShape.join(', ')}]) when only the layout differs)`,
      { got, expected: inputShape });
  }
}
