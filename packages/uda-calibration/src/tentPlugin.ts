/** TENT as a core Trainer plugin: mean-entropy minimisation on the BatchNorm scale and shift. */
import type { TrainerPlugin } from '@trellis-ml/core';
import { AdaptedModel, batchNormVariables } from './models.js';
import { entropyLoss } from './objectives.js';
import { checkBatch, claimAdaptation } from './pluginGuards.js';

/** Options of {@link tent}. */
export interface TentOptions {
  /** Plugin name (default `tent`). */
  name?: string;
}

/**
 * TENT (Wang et al., ICLR 2021): minimise the mean softmax entropy of each target batch, updating
 * only the BatchNorm scale and shift, with BatchNorm always on batch statistics (also when
 * predicting). Throws `NO_BATCHNORM` for a model without BatchNorm.
 */
export function tent(options: TentOptions = {}): TrainerPlugin<Record<string, never>> {
  const name = options.name ?? 'tent';
  return {
    name,
    apiVersion: 1,
    setup(ctx) {
      claimAdaptation(ctx, name, 'TENT');
    },
    wrapModel(model) {
      const bn = batchNormVariables(model, 'TENT');
      return new AdaptedModel(model, { trainable: (n) => n in bn.affine, normalization: 'batch' });
    },
    onBatchStart: (ctx) => checkBatch(ctx, name),
    lossTerms(outputs) {
      return { entropy: entropyLoss(outputs.logits) };
    },
    getState: () => ({}),
    setState: () => undefined,
  };
}
