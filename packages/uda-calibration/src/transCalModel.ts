/**
 * TransCal on a model and datasets: reads the features at the input of the model's Dense head (the
 * representation the reference's domain classifier sees), weights the source validation rows and fits
 * the target temperature ({@link transCal}).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { Dataset, Rng, check, disposeBatch, predictLogits, type LayersModelAdapter } from '@trellis-ml/core';
import { headFeatureLayer } from './models.js';
import { domainImportanceWeights, transCal, type TransCalOptions, type TransCalResult } from './transCal.js';

/**
 * Features of every example of `data` at the input of the Dense layer `head` (default `'logits'`, the
 * study models' classifier), row-major `size × dim`, in inference mode.
 */
export function headFeatures(model: LayersModelAdapter, data: Dataset, head = 'logits', chunk = 500): { features: Float32Array; dim: number } {
  const layer = headFeatureLayer(model, head, 'TransCal');
  let features: Float32Array | null = null;
  let dim = 0;
  let offset = 0;
  for (const batch of data.batches(chunk)) {
    const f = tf.tidy(() => {
      const t = model.apply(batch.x, { taps: [layer] }).features[layer]!;
      return tf.reshape(t, [batch.size, -1]);
    });
    if (features === null) {
      dim = f.shape[1]!;
      features = new Float32Array(data.size * dim);
    }
    features.set(f.dataSync() as Float32Array, offset);
    offset += batch.size * dim;
    f.dispose();
    disposeBatch(batch);
  }
  check(features !== null, 'EMPTY_DATASET', 'TransCal got an empty dataset', 'pass non-empty source and target sets');
  return { features: features!, dim };
}

/** Inputs of {@link transCalForModel}. */
export interface TransCalModelInputs {
  /** Labelled source training data (a seeded sample of `maxPerDomain` rows goes into the domain classifier). */
  sourceTrain: Dataset;
  /** Labelled clean source validation data (weighted; its error and calibrated confidence feed the estimate). */
  sourceVal: Dataset;
  /** The unlabelled target data. */
  target: Dataset;
  /** The model's logits on `target`, when already computed. */
  targetLogits?: Float32Array;
  /** Seed of the samples and of the domain resampling (default 0). */
  seed?: number;
  /** Most rows per domain for the domain classifier (default 5,000). */
  maxPerDomain?: number;
  /** The Dense head whose input is the feature layer (default `'logits'`). */
  head?: string;
}

/** {@link TransCalResult} with the importance weights' spread. */
export interface TransCalModelResult extends TransCalResult {
  /** Mean and maximum importance weight over the source validation rows. */
  weightMean: number;
  weightMax: number;
}

/** Runs TransCal for `model` from source training, source validation and target data (no target label is read). */
export function transCalForModel(model: LayersModelAdapter, inputs: TransCalModelInputs, options: TransCalOptions = {}): TransCalModelResult {
  const seed = inputs.seed ?? 0;
  const cap = inputs.maxPerDomain ?? 5000;
  check(inputs.sourceVal.labels, 'UNLABELED', 'TransCal needs labelled source validation data', 'pass the clean labelled validation split');
  const sample = (d: Dataset, label: string): Dataset => (d.size > cap ? d.subset(Rng.derive(seed, 'transcal', label).sample(d.size, cap)) : d);
  const head = inputs.head ?? 'logits';
  const src = headFeatures(model, sample(inputs.sourceTrain, 'source'), head);
  const tgt = headFeatures(model, sample(inputs.target, 'target'), head);
  const val = headFeatures(model, inputs.sourceVal, head);
  const weights = domainImportanceWeights(src.features, tgt.features, val.features, src.dim, { seed, maxPerDomain: cap });
  const result = transCal({
    targetLogits: inputs.targetLogits ?? predictLogits(model, inputs.target),
    sourceValLogits: predictLogits(model, inputs.sourceVal),
    sourceValLabels: inputs.sourceVal.labels!,
    weights,
    k: model.numClasses,
  }, options);
  let sum = 0;
  let max = 0;
  for (const w of weights) {
    sum += w;
    max = Math.max(max, w);
  }
  return { ...result, weightMean: sum / weights.length, weightMax: max };
}
