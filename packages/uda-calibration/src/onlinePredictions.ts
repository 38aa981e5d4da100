/**
 * The online-prediction recorder plugin: keeps the logits each batch was predicted with before its
 * update (the online test-time-adaptation protocol). Pair it with TENT, ETA/EATA, SHOT-IM, pseudo-labelling
 * or DEC; MEMO (whose step sees augmented copies) and CoTTA (which predicts with its teacher) hand out their
 * predictions through their own `takePrediction()`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TrainerPlugin } from '@trellis-ml/core';

/** One recorded batch of {@link onlinePredictions}. */
export interface OnlineRecord {
  /** Dataset indices of the batch's examples. */
  indices: Int32Array;
  /** `b × k` logits of the training-mode forward pass, made before the batch's update. */
  logits: Float32Array;
}

/**
 * Records the prediction each batch got before its update (the forward pass the loss used), for
 * the online evaluation protocol. Runs last (`order: 'post'`); drain with `take()`.
 */
export function onlinePredictions(name = 'online-predictions'): TrainerPlugin<Record<string, never>> & { take(): OnlineRecord[] } {
  let current: tf.Tensor | null = null;
  let records: OnlineRecord[] = [];
  return {
    name,
    apiVersion: 1,
    order: 'post',
    lossTerms(outputs) {
      current?.dispose();
      current = tf.keep(tf.clone(outputs.logits));
      return {};
    },
    onBatchEnd(ctx) {
      if (!current || !ctx.batch) return;
      records.push({ indices: Int32Array.from(ctx.batch.indices), logits: current.dataSync() as Float32Array });
      current.dispose();
      current = null;
    },
    take() {
      const out = records;
      records = [];
      return out;
    },
    getState: () => ({}),
    setState: () => undefined,
    dispose() {
      current?.dispose();
      current = null;
    },
  };
}
