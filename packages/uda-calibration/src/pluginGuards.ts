/**
 * Guards shared by the adaptation plugins: the per-batch check every plugin runs (no base loss, no target labels, the
 * model's input shape), the one-method-per-Trainer claim each makes at setup, and the undo of a step that must make
 * no update (ETA/EATA and pseudo-labelling batches that keep no sample).
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, TrellisError, type TrainerContext } from '@trellis-ml/core';
import { checkTargetShape } from './models.js';

/**
 * `onBatchStart` guard of the adaptation plugin `plugin`, called before it changes or replaces the batch. Throws
 * `BASE_LOSS_ACTIVE` when the Trainer adds its base cross-entropy (it would train on the target labels a labeled
 * batch carries: a label leak into test-time adaptation), `TARGET_LABELS_PRESENT` when the batch carries labels
 * (`batch.y`) at all — with the base loss off, another plugin of the Trainer could still train on them (a
 * loss-replacing plugin such as privacy's crl, or any plugin whose loss reads `batch.y`), and test-time adaptation
 * never needs them — and `TARGET_SHAPE_MISMATCH` when the batch's inputs do not fit the model.
 */
export function checkBatch(ctx: TrainerContext, plugin: string): void {
  check(!ctx.baseLossActive, 'BASE_LOSS_ACTIVE',
    'an adaptation plugin runs in a Trainer that adds its base cross-entropy, which trains on the target labels a labeled batch carries',
    "build the Trainer with baseLoss: 'none' (test-time adaptation never reads target labels; createAdaptation does this)");
  if (!ctx.batch) return;
  check(ctx.batch.y === undefined || ctx.batch.y === null, 'TARGET_LABELS_PRESENT',
    `the batch reaching the adaptation plugin "${plugin}" carries labels, which a plugin in this Trainer could train on (any loss that reads batch.y: privacy's crl or relaxLoss, a fair-prune group constraint, distill): a target-label leak`,
    'adapt on `dataset.withoutLabels()` (the adaptation runner, runStream, does this): test-time adaptation never needs the target labels; score the predictions against them afterwards. '
      + 'A plugin that needs the labels cannot run beside test-time adaptation: train it in a Trainer of its own',
    { plugin });
  checkTargetShape(ctx.batch.x.shape, ctx.model.inputShape);
}

/** The `ctx.store` key under which an adaptation plugin claims its Trainer (see {@link claimAdaptation}). */
export const ADAPTATION_METHOD_KEY = '@trellis-ml/uda-calibration:adaptation-method';

/** What an adaptation plugin stores under {@link ADAPTATION_METHOD_KEY}: its plugin name and its method. */
export interface AdaptationClaim {
  /** The plugin's name in the Trainer. */
  plugin: string;
  /** The method, for the message (e.g. `TENT`). */
  method: string;
}

/**
 * `setup` guard of the adaptation plugin `plugin` (running `method`): claims the Trainer in its per-Trainer
 * `ctx.store`, and throws `TTA_CONFLICT`, naming both plugins, when another adaptation plugin claimed it already —
 * two methods in one Trainer stack their wrappers and losses, and the result depends on their order. The same
 * plugin claiming again is no conflict (plugin names are unique within a Trainer), and each Trainer has its own
 * store, so separate Trainers, and a plugin reused in a new Trainer, do not interfere. Companion plugins that make no
 * update (`onlinePredictions`) do not claim.
 */
export function claimAdaptation(ctx: Pick<TrainerContext, 'store'>, plugin: string, method: string): void {
  const held = ctx.store.get(ADAPTATION_METHOD_KEY) as AdaptationClaim | undefined;
  if (held && held.plugin !== plugin) {
    throw new TrellisError('TTA_CONFLICT',
      `plugins "${held.plugin}" (${held.method}) and "${plugin}" (${method}) are two test-time adaptation methods in one Trainer: each adapts the model with its own objective and trainable weights, so the result would depend on their order and be neither method`,
      'use one adaptation method per Trainer (to compare methods, give each its own Trainer and model copy, as createAdaptation does); onlinePredictions may run beside any one of them',
      { plugins: [held.plugin, plugin] });
  }
  ctx.store.set(ADAPTATION_METHOD_KEY, { plugin, method } satisfies AdaptationClaim);
}

/** What {@link skippedStepGuard} returns. */
export interface SkippedStepGuard {
  /** Copies `vars` (releasing any earlier copy) before the Trainer's step. */
  hold(vars: tf.Variable[]): void;
  /** Writes the held copies back into their variables, then releases them (no-op when nothing is held). */
  restore(): void;
  /** Frees the held copies without restoring them. */
  release(): void;
}

/**
 * Undoes a step that must make no update (a batch where ETA or PL keeps no sample): `hold` copies
 * the variables before the Trainer's step, `restore` writes them back after it — a zero gradient
 * still moves weights under Adam or momentum.
 */
export function skippedStepGuard(): SkippedStepGuard {
  let held: Array<[tf.Variable, tf.Tensor]> | null = null;
  const release = (): void => {
    tf.dispose((held ?? []).map(([, t]) => t));
    held = null;
  };
  return {
    hold(vars) {
      release();
      held = vars.map((v) => [v, tf.keep(tf.clone(v))]);
    },
    restore() {
      for (const [v, t] of held ?? []) v.assign(t);
      release();
    },
    release,
  };
}
