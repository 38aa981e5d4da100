/**
 * Training the toy language model through core's Trainer: whole sequences per example, `baseLoss:
 * 'none'` and the {@link sequenceLossPlugin} (mean next-token cross-entropy over response tokens).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelAdapter, TrainerPlugin } from '@trellis-ml/core';
import { check, Trainer } from '@trellis-ml/core';
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
  /**
   * Called before the first step (step 0), after every `evalEvery` optimizer steps, and after the last
   * step, with the number of steps taken and the model being trained (the Trainer's model: wrapped,
   * e.g. by a low-rank adapter, when a plugin wraps it).
   */
  onSteps?: (step: number, model: ModelAdapter) => void | Promise<void>;
  /** Steps between `onSteps` calls (default 10; an integer ≥ 1). */
  evalEvery?: number;
  progress?: boolean;
  label?: string;
}

/** Trains `model` on the sequences of `set` with Adam; returns the final epoch's mean loss. */
export async function trainLanguageModel(model: ModelAdapter, set: SequenceSet, lang: RequestLanguage, options: LmTrainOptions): Promise<number> {
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', 'trainLanguageModel needs its options', 'pass { epochs, learningRate, batchSize, seed }');
  check(Number.isFinite(options.learningRate) && options.learningRate > 0, 'BAD_OPTION', `learning rate ${String(options.learningRate)} is not a positive number`,
    'pass learningRate > 0, e.g. 3e-3');
  const every = options.evalEvery ?? 10;
  check(Number.isInteger(every) && every >= 1, 'BAD_OPTION', `evalEvery ${every} is not an integer ≥ 1`, 'evaluate every k ≥ 1 optimizer steps');
  // 0 or −1 used to be ignored (full training)
  check(options.maxSteps === undefined || (Number.isInteger(options.maxSteps) && options.maxSteps >= 1), 'BAD_OPTION',
    `maxSteps ${String(options.maxSteps)} is not an integer ≥ 1`, 'pass a step cap such as 100, or leave maxSteps out to train every epoch in full');
  let lastEval = -1;
  const atStep = async (step: number, m: ModelAdapter) => {
    if (!options.onSteps || step === lastEval) return;
    lastEval = step;
    await options.onSteps(step, m);
  };
  const onEpoch: TrainerPlugin = {
    name: 'lm-epoch-callback',
    apiVersion: 1,
    onFitStart: (ctx) => atStep(ctx.step, ctx.model),
    // onBatchEnd runs before the Trainer counts the step: ctx.step + 1 steps are done.
    onBatchEnd: async (ctx) => {
      if ((ctx.step + 1) % every === 0) await atStep(ctx.step + 1, ctx.model);
    },
    onEpochEnd: async (ctx) => {
      await options.onEpoch?.(ctx.epoch, ctx.logs.loss ?? NaN);
    },
    onFitEnd: (ctx) => atStep(ctx.step, ctx.model),
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
