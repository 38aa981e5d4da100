/**
 * Training the toy language model through core's Trainer: whole sequences per example, `baseLoss:
 * 'none'` and the {@link sequenceLossPlugin} (mean next-token cross-entropy over response tokens).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelAdapter, TrainerPlugin } from '@trellis-ml/core';
import { Trainer } from '@trellis-ml/core';
import type { RequestLanguage, SequenceSet } from './language.js';
import { sequenceLossPlugin } from './plugin.js';

/** Options of {@link trainLanguageModel}. */
export interface LmTrainOptions {
  epochs: number;
  learningRate: number;
  batchSize: number;
  seed: number;
  /** Extra plugins (freeze, budget, ...). */
  plugins?: TrainerPlugin[];
  /** Stop after this many steps. */
  maxSteps?: number;
  /** Called after every epoch with the epoch index and mean loss (e.g. to evaluate ASR along the way). */
  onEpoch?: (epoch: number, loss: number) => void | Promise<void>;
  progress?: boolean;
  label?: string;
}

/** Trains `model` on the sequences of `set` with Adam; returns the final epoch's mean loss. */
export async function trainLanguageModel(model: ModelAdapter, set: SequenceSet, lang: RequestLanguage, options: LmTrainOptions): Promise<number> {
  const onEpoch: TrainerPlugin = {
    name: 'lm-epoch-callback',
    apiVersion: 1,
    onEpochEnd: async (ctx) => {
      await options.onEpoch?.(ctx.epoch, ctx.logs.loss ?? NaN);
    },
  };
  const trainer = new Trainer({
    model,
    optimizer: tf.train.adam(options.learningRate),
    plugins: [sequenceLossPlugin(lang.lossOptions()), ...(options.plugins ?? []), onEpoch],
    seed: options.seed,
    batchSize: options.batchSize,
    baseLoss: 'none',
    progress: options.progress ?? false,
    label: options.label,
  });
  try {
    const history = await trainer.fit(set.data, { epochs: options.epochs, ...(options.maxSteps ? { maxSteps: options.maxSteps } : {}) });
    return history[history.length - 1]?.loss ?? NaN;
  } finally {
    trainer.dispose();
  }
}
