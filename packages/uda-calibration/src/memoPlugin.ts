/**
 * MEMO as a core Trainer plugin: each step replaces the batch by augmented copies of its points,
 * minimises the marginal entropy, predicts the original points with the updated weights, then puts
 * every weight back to its source value — each step is an independent episode. The loss lives in
 * `objectives.ts`, the augmentations in `augmentation.ts`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, Rng, TrellisError, type ModelAdapter, type RngState, type TrainerPlugin } from '@trellis-ml/core';
import { augmentImages, resolveAugmentation, type AugmentationOptions, type ResolvedAugmentation } from './augmentation.js';
import { AdaptedModel } from './models.js';
import { marginalEntropyLoss } from './objectives.js';
import { checkBatch, claimAdaptation } from './pluginGuards.js';

/** Options of {@link memo} (defaults in brackets). */
export interface MemoOptions {
  /** Plugin name [`memo`]. */
  name?: string;
  /** Augmented copies per point, a whole number ≥ 1 [16, spec §7.5's CPU setting; the paper's CIFAR runs use 32]. */
  nAug?: number;
  /** The augmentations (see {@link AugmentationOptions}; defaults for 28 × 28 grayscale images). */
  augmentation?: AugmentationOptions;
  /** Seed of the augmentation draws [the Trainer's seed]. */
  seed?: number;
}

/** JSON state of {@link memo}: episodes run and the augmentation generator's state (null before setup). */
export interface MemoState {
  steps: number;
  augmentRng: RngState | null;
}

/** What {@link memo} returns besides the plugin hooks. */
export interface MemoControls {
  /** The `b × k` logits of the last batch's points, predicted after its update and before the reset; then forgets them (null when none is pending). */
  takePrediction(): Float32Array | null;
}

/**
 * MEMO (Zhang et al., NeurIPS 2022; zhangmarvin/memo): per test point, one gradient step on all
 * weights on the entropy of the marginal prediction `mean_a softmax(f(aug_a(x)))` over `nAug`
 * augmented copies; the point is then predicted (un-augmented) with the updated weights and every
 * weight is reset to its source value ("source" = the weights when the Trainer is set up). The model
 * runs in inference mode throughout (BatchNorm on its moving statistics — the source's, since they
 * are reset too), as the released CIFAR code's `net.eval()`.
 *
 * One Trainer step is one episode on its whole batch: with a batch of one point (what
 * `createAdaptation` feeds) it is MEMO exactly; a larger batch takes one step on the mean of its
 * points' marginal entropies. Use a stateless optimizer (SGD, as the paper): the reset covers the
 * weights, not an optimizer's moments. Throws `BAD_AUG_COUNT` / `BAD_AUGMENTATION` on bad options,
 * `AUGMENTATION_NEEDS_IMAGES` at setup.
 */
export function memo(options: MemoOptions = {}): TrainerPlugin<MemoState> & MemoControls {
  const nAug = options.nAug ?? 16;
  check(Number.isInteger(nAug) && nAug >= 1, 'BAD_AUG_COUNT', `MEMO needs a whole number ≥ 1 of augmented copies per point, got ${nAug}`, 'pass e.g. nAug: 16 (spec §7.5) or 32 (the paper\'s CIFAR setting)');
  resolveAugmentation(options.augmentation, null, 'MEMO');
  const name = options.name ?? 'memo';
  let settings: ResolvedAugmentation | null = null;
  let rng: Rng | null = null;
  let pendingRng: RngState | null = null;
  let source: Array<[tf.Variable, tf.Tensor]> = [];
  let original: tf.Tensor | null = null;
  let prediction: Float32Array | null = null;
  let steps = 0;

  const freeOriginal = (): void => {
    original?.dispose();
    original = null;
  };
  const reset = (): void => {
    for (const [v, value] of source) v.assign(value);
  };

  return {
    name,
    apiVersion: 1,
    setup(ctx) {
      // before the early return: a plugin reused in another Trainer claims that Trainer too
      claimAdaptation(ctx, name, 'MEMO');
      if (rng) return;
      settings = resolveAugmentation(options.augmentation, ctx.model.inputShape, 'MEMO');
      rng = Rng.derive(options.seed ?? ctx.seed, name, 'augment');
      if (pendingRng) rng.setState(pendingRng);
      pendingRng = null;
      source = Object.values(ctx.model.allVariables()).map((v) => [v, tf.keep(tf.clone(v))]);
    },
    wrapModel(model: ModelAdapter) {
      return new AdaptedModel(model, { normalization: 'inference' });
    },
    onBatchStart(ctx) {
      // on the batch as it came, before the augmented copies replace it (and leave its labels behind)
      checkBatch(ctx, name);
      if (!ctx.batch) return;
      check(rng !== null, 'NOT_SET_UP', 'MEMO has no source weights yet', 'run the plugin in a Trainer (trainer.setup() keeps the source weights)');
      freeOriginal();
      const x = ctx.batch.x;
      const n = x.shape[0]!;
      const shape = x.shape.slice(1);
      original = tf.keep(tf.clone(x));
      const copies = augmentImages(x.dataSync() as Float32Array, shape, n, nAug, settings!, rng!);
      const indices = new Int32Array(n * nAug);
      for (let c = 0; c < nAug; c++) indices.set(ctx.batch.indices, c * n);
      // The labels (if any) are left behind: MEMO's batch carries inputs only.
      return { x: tf.tensor(copies, [n * nAug, ...shape]), indices, size: n * nAug };
    },
    lossTerms(outputs) {
      return { 'marginal-entropy': marginalEntropyLoss(outputs.logits, nAug) };
    },
    afterApply(ctx) {
      if (!original) throw new TrellisError('NOT_SET_UP', 'MEMO has no point to predict after its step', 'let the Trainer call onBatchStart before the step (trainStep / fit do)');
      const x = original;
      const z = tf.tidy(() => ctx.model.apply(x, { training: false }).logits);
      prediction = Float32Array.from(z.dataSync() as Float32Array);
      z.dispose();
      freeOriginal();
      reset();
      steps++;
    },
    takePrediction() {
      const out = prediction;
      prediction = null;
      return out;
    },
    getState: () => ({ steps, augmentRng: rng?.getState() ?? pendingRng }),
    setState(s) {
      steps = s.steps;
      if (s.augmentRng) {
        if (rng) rng.setState(s.augmentRng);
        else pendingRng = s.augmentRng;
      }
    },
    dispose() {
      freeOriginal();
      tf.dispose(source.map(([, t]) => t));
      source = [];
    },
  };
}
