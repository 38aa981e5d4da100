import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from './dataset.js';
import { disposeBatch } from './dataset.js';
import { check } from './errors.js';
import { classificationMetrics, type ClassificationMetrics } from './metrics.js';
import type { ModelAdapter } from './model.js';

/**
 * Logits of every example of `dataset`, in dataset order, as one `n × k` host array.
 * @throws TrellisError `OUTPUT_SHAPE_MISMATCH` when the model's logits are not `[batch, numClasses]`.
 */
export function predictLogits(model: ModelAdapter, dataset: Dataset, batchSize = 256): Float32Array {
  const k = model.numClasses;
  const out = new Float32Array(dataset.size * k);
  let offset = 0;
  for (const batch of dataset.batches(batchSize)) {
    // finally: a forward pass or a shape check that throws used to leave the batch (and the logits) allocated
    let values: tf.Tensor | null = null;
    try {
      values = tf.tidy(() => model.apply(batch.x, { training: false }).logits);
      check(values.shape[values.shape.length - 1] === k, 'OUTPUT_SHAPE_MISMATCH',
        `the model outputs ${values.shape[values.shape.length - 1]} values per example but declares ${k} classes`, 'make the last layer output one logit per class');
      // fewer rows used to leave the rest of `out` at 0 (scored as logits), more overran it with a RangeError
      check(values.rank === 2 && values.shape[0] === batch.size, 'OUTPUT_SHAPE_MISMATCH',
        `the model returned logits of shape [${values.shape.join(', ')}] for a batch of ${batch.size} examples`, 'return [batch, classes] logits, one row per example');
      out.set(values.dataSync() as Float32Array, offset);
      offset += batch.size * k;
    } finally {
      values?.dispose();
      disposeBatch(batch);
    }
  }
  return out;
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  batchSize?: number;
}

/** Result of {@link evaluate}: every standard metric plus the raw logits. */
export interface Evaluation extends ClassificationMetrics {
  logits: Float32Array;
}

/**
 * Evaluates `model` on a labeled dataset: accuracy, loss, NLL, ECE (15 bins), MCE, Brier,
 * confidence, and per-group accuracy when the dataset has group ids. Metrics are over the whole set.
 */
export function evaluate(model: ModelAdapter, dataset: Dataset, options: EvaluateOptions = {}): Evaluation {
  check(dataset.labels, 'UNLABELED', 'cannot evaluate on a dataset without labels', 'evaluate on a labeled copy of the data');
  check(dataset.numClasses === model.numClasses, 'CLASS_COUNT_MISMATCH',
    `the dataset has ${dataset.numClasses} classes but the model outputs ${model.numClasses}`, 'build the model with one output per class of the dataset');
  const logits = predictLogits(model, dataset, options.batchSize ?? 256);
  return { ...classificationMetrics(logits, dataset.labels, model.numClasses, dataset.groups), logits };
}
