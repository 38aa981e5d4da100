/** SHOT-IM as a core Trainer plugin: information maximisation on every layer but the classifier head. */
import { check, type TrainerPlugin } from '@trellis-ml/core';
import { AdaptedModel } from './models.js';
import { informationMaximization } from './objectives.js';
import { checkBatch } from './pluginGuards.js';

/** Options of {@link shotIm}. */
export interface ShotImOptions {
  /** Plugin name (default `shot-im`). */
  name?: string;
  /** Weight of the diversity term `H(mean p)` (default 1; SHOT-IM). */
  diversityWeight?: number;
  /** Layer whose variables stay frozen: the classifier head (default `logits`). */
  head?: string;
}

/**
 * SHOT-IM (Liang et al., ICML 2020): information maximisation — low per-sample entropy, high
 * entropy of the batch-mean prediction — training every layer except the classifier head. (The
 * full SHOT's clustering pseudo-labels are not implemented.)
 */
export function shotIm(options: ShotImOptions = {}): TrainerPlugin<Record<string, never>> {
  const head = options.head ?? 'logits';
  return {
    name: options.name ?? 'shot-im',
    apiVersion: 1,
    wrapModel(model) {
      const names = Object.keys(model.trainableVariables());
      check(names.some((n) => n.startsWith(`${head}/`)), 'NO_HEAD', `the model has no layer "${head}" to freeze as the classifier head (variables: ${names.join(', ')})`,
        'pass `head` with the name of the last (classifier) layer');
      return new AdaptedModel(model, { trainable: (n) => !n.startsWith(`${head}/`) });
    },
    onBatchStart: checkBatch,
    lossTerms(outputs) {
      const { entropy, diversity } = informationMaximization(outputs.logits, options.diversityWeight ?? 1);
      return { entropy, diversity };
    },
    getState: () => ({}),
    setState: () => undefined,
  };
}
