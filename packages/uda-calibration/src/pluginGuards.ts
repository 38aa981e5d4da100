/**
 * Guards shared by the adaptation plugins: the target-shape check every plugin runs on each batch,
 * and the undo of a step that must make no update (ETA/EATA and pseudo-labelling batches that keep
 * no sample).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TrainerContext } from '@trellis-ml/core';
import { checkTargetShape } from './models.js';

/** `onBatchStart` hook: throws `TARGET_SHAPE_MISMATCH` when the batch's inputs do not fit the model. */
export function checkBatch(ctx: TrainerContext): void {
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
