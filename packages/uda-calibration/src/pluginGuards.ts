/**
 * Guards shared by the adaptation plugins: the target-shape check every plugin runs on each batch,
 * and the undo of a step that must make no update (ETA/EATA and pseudo-labelling batches that keep
 * no sample).
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, type TrainerContext } from '@trellis-ml/core';
import { checkTargetShape } from './models.js';

/**
 * `onBatchStart` hook: throws `BASE_LOSS_ACTIVE` when the Trainer adds its base cross-entropy (it would
 * train on the target labels a labeled batch carries: a label leak into test-time adaptation), and
 * `TARGET_SHAPE_MISMATCH` when the batch's inputs do not fit the model.
 */
export function checkBatch(ctx: TrainerContext): void {
  check(!ctx.baseLossActive, 'BASE_LOSS_ACTIVE',
    'an adaptation plugin runs in a Trainer that adds its base cross-entropy, which trains on the target labels a labeled batch carries',
    "build the Trainer with baseLoss: 'none' (test-time adaptation never reads target labels; createAdaptation does this)");
  if (ctx.batch) checkTargetShape(ctx.batch.x.shape, ctx.model.inputShape);
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
