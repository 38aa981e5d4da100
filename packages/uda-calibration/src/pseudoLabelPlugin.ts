/** Hard pseudo-labelling (PL) as a core Trainer plugin: cross-entropy against confident argmax labels, BatchNorm scale and shift only. */
import * as tf from '@tensorflow/tfjs-core';
import { check, type TrainerPlugin } from '@trellis-ml/core';
import { AdaptedModel, batchNormVariables } from './models.js';
import { pseudoLabelLoss, pseudoLabelSelect, type PseudoLabelSelection } from './objectives.js';
import { checkBatch, claimAdaptation, skippedStepGuard } from './pluginGuards.js';

/** Options of {@link pseudoLabel}. */
export interface PseudoLabelOptions {
  /** Plugin name (default `pl`). */
  name?: string;
  /** Confidence a sample's top probability must reach to be trained on (default 0.9, spec §3). */
  threshold?: number;
}

/** JSON state of {@link pseudoLabel}: samples kept and seen so far. */
export interface PseudoLabelState {
  kept: number;
  seen: number;
}

/**
 * Hard pseudo-labelling (PL): cross-entropy against each sample's own argmax, on the samples whose
 * top probability is at least `threshold`; BatchNorm scale and shift only, BatchNorm on batch
 * statistics (also when predicting), as TENT. A batch where no sample reaches the threshold makes
 * no update (the BatchNorm weights are restored after the Trainer's step; {@link createAdaptation}
 * also skips the optimizer step, see `skipsUpdate()`). Throws `NO_BATCHNORM` without BatchNorm.
 */
export function pseudoLabel(options: PseudoLabelOptions = {}): TrainerPlugin<PseudoLabelState> & { state(): PseudoLabelState; skipsUpdate(): boolean } {
  const threshold = options.threshold ?? 0.9;
  check(threshold > 0 && threshold <= 1, 'BAD_THRESHOLD', `the pseudo-label threshold ${threshold} is outside (0, 1]`, 'pass a probability such as 0.9');
  let affine: Record<string, tf.Variable> = {};
  let last: PseudoLabelSelection | null = null;
  let kept = 0;
  let seen = 0;
  const guard = skippedStepGuard();
  const name = options.name ?? 'pl';
  return {
    name,
    apiVersion: 1,
    setup(ctx) {
      claimAdaptation(ctx, name, 'pseudo-labelling');
    },
    wrapModel(model) {
      const bn = batchNormVariables(model, 'pseudo-labelling');
      affine = bn.affine;
      return new AdaptedModel(model, { trainable: (n) => n in bn.affine, normalization: 'batch' });
    },
    onBatchStart: (ctx) => checkBatch(ctx, name),
    lossTerms(outputs) {
      const k = outputs.logits.shape[outputs.logits.shape.length - 1]!;
      const probs = tf.softmax(outputs.logits);
      const sel = pseudoLabelSelect(probs.dataSync() as Float32Array, k, threshold);
      probs.dispose();
      last = sel;
      kept += sel.kept;
      seen += sel.mask.length;
      guard.release();
      if (sel.kept === 0) guard.hold(Object.values(affine));
      return { ce: pseudoLabelLoss(outputs.logits, sel) };
    },
    transformGradients(grads) {
      return last && last.kept === 0 ? {} : grads;
    },
    afterApply() {
      guard.restore();
    },
    onBatchEnd(ctx) {
      if (last) ctx.logs['pl/kept'] = last.kept;
    },
    skipsUpdate: () => last !== null && last.kept === 0,
    state: () => ({ kept, seen }),
    getState: () => ({ kept, seen }),
    setState(s) {
      kept = s.kept;
      seen = s.seen;
    },
    dispose() {
      guard.release();
    },
  };
}
