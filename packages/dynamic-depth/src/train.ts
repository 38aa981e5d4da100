import * as tf from '@tensorflow/tfjs-core';
import { check, checkInputShape, Trainer, type Dataset, type EpochLogs, type TrainerPlugin } from '@trellis-ml/core';
import type { DepthNet } from './depthNet.js';
import { depthAccuracy, recalibrateBatchNorm } from './evaluateDepths.js';
import {
  coopDepth,
  cosineDecay,
  earlyExit,
  layerDrop,
  ofaDepth,
  type CoopDepthOptions,
  type EarlyExitOptions,
  type LayerDropOptions,
  type OfaDepthOptions,
} from './plugin.js';

/** Optimiser and schedule shared by every training routine (spec §6.3: Adam 1e-3, cosine to 0, batch 128). */
export interface BaseTrainOptions {
  epochs: number;
  batchSize?: number;
  /** Adam learning rate (default 1e-3), decayed by a cosine to 0 over the run. */
  lr?: number;
  seed: number;
  /** Extra plugins to compose into the Trainer. */
  plugins?: TrainerPlugin[];
  progress?: boolean;
  label?: string;
}

/** What a training routine returns besides the model. */
export interface TrainReport {
  history: EpochLogs[];
  /** Wall-clock seconds. */
  seconds: number;
}

/** `plugins` may be a function of the run's total steps; `cosine: false` leaves the learning rate to the plugins. */
async function fit(model: DepthNet, data: Dataset, opts: BaseTrainOptions, plugins: TrainerPlugin[] | ((totalSteps: number) => TrainerPlugin[]),
  onTrained?: (t: Trainer) => void, cosine = true): Promise<TrainReport> {
  check(Number.isInteger(opts.epochs) && opts.epochs > 0, 'BAD_EPOCHS', `epochs ${opts.epochs} is not a positive integer`, 'pass epochs ≥ 1');
  const batchSize = opts.batchSize ?? 128;
  const lr = opts.lr ?? 1e-3;
  const totalSteps = opts.epochs * data.numBatches(batchSize);
  const own = typeof plugins === 'function' ? plugins(totalSteps) : plugins;
  const trainer = new Trainer({
    model, optimizer: tf.train.adam(lr), seed: opts.seed, batchSize, progress: opts.progress, label: opts.label,
    plugins: [...(cosine ? [cosineDecay({ initial: lr, totalSteps })] : []), ...own, ...(opts.plugins ?? [])],
  });
  const t0 = performance.now();
  try {
    const history = await trainer.fit(data, { epochs: opts.epochs });
    onTrained?.(trainer);
    return { history: [...history], seconds: (performance.now() - t0) / 1000 };
  } finally {
    trainer.dispose();
  }
}

/** Trains `model` at its full depth only (the `full-only` baseline, or one `independent` model). */
export function trainFixedDepth(model: DepthNet, data: Dataset, opts: BaseTrainOptions): Promise<TrainReport> {
  model.setDepth(model.fullConfig);
  return fit(model, data, opts, []);
}

/** Trains `model` with LayerDrop (the `layerdrop` / `stochastic-depth` baselines). */
export function trainLayerDrop(model: DepthNet, data: Dataset, opts: BaseTrainOptions & LayerDropOptions): Promise<TrainReport> {
  return fit(model, data, opts, [layerDrop(opts)]);
}

/** Options of {@link trainOfaDepth}. */
export interface OfaDepthTrainOptions extends BaseTrainOptions, Omit<OfaDepthOptions, 'totalSteps' | 'lr' | 'name'> {
  /**
   * Epochs of full-depth training before the shrinking phases, with the optimiser of every routine
   * (Adam `lr`, cosine to 0; the `full-only` recipe). Default `epochs`; 0 when `model` is already
   * trained at full depth (then pass it, or a copy, as `teacher`, or let the plugin copy it).
   */
  fullDepthEpochs?: number;
}

/** Result of {@link trainOfaDepth}. */
export interface OfaDepthReport extends TrainReport {
  /** Wall-clock seconds of the full-depth training (0 when `fullDepthEpochs` is 0); `seconds` covers both parts. */
  fullDepthSeconds: number;
}

/**
 * Once-for-All's progressive shrinking of depth (the `ofa-depth` baseline): trains `model` at full
 * depth for `fullDepthEpochs` (the `full-only` recipe), then fine-tunes it for `epochs` epochs with
 * the {@link ofaDepth} plugin: the epochs' steps are split over OFA's phases (25 : 120), each phase
 * runs its own cosine from `lrRatio · lr` (1/12 and 1/4 of `lr`) to 0 with a fresh Adam, 2 depths
 * per step, loss `CE + kdRatio · KD` from the frozen full-depth network (a copy of `model` taken
 * before fine-tuning unless `teacher` is given). A fine-tune of 0 steps cannot hold the phases:
 * `epochs × batches` must be at least the number of phases.
 */
export async function trainOfaDepth(model: DepthNet, data: Dataset, opts: OfaDepthTrainOptions): Promise<OfaDepthReport> {
  const fullEpochs = opts.fullDepthEpochs ?? opts.epochs;
  check(Number.isInteger(fullEpochs) && fullEpochs >= 0, 'BAD_EPOCHS', `fullDepthEpochs ${fullEpochs} is not a whole number ≥ 0`,
    'pass the epochs of full-depth training (0 for a model already trained at full depth)');
  let fullDepthSeconds = 0;
  if (fullEpochs > 0) fullDepthSeconds = (await trainFixedDepth(model, data, { ...opts, epochs: fullEpochs })).seconds;
  const lr = opts.lr ?? 1e-3;
  const report = await fit(model, data, opts, (totalSteps) => [ofaDepth({
    totalSteps, lr,
    ...(opts.phases ? { phases: opts.phases } : {}),
    ...(opts.subnetsPerStep !== undefined ? { subnetsPerStep: opts.subnetsPerStep } : {}),
    ...(opts.kdRatio !== undefined ? { kdRatio: opts.kdRatio } : {}),
    ...(opts.temperature !== undefined ? { temperature: opts.temperature } : {}),
    ...(opts.teacher ? { teacher: opts.teacher } : {}),
  })], undefined, false);
  model.setDepth(model.fullConfig);
  return { ...report, seconds: report.seconds + fullDepthSeconds, fullDepthSeconds };
}

/**
 * Early-exit training (the `early-exit` baseline) of a network built with `headMode: 'per-depth'`:
 * every step sums the cross-entropy of every depth's own head ({@link earlyExit}), with the optimiser
 * of every routine (Adam `lr`, cosine to 0).
 */
export function trainEarlyExit(model: DepthNet, data: Dataset, opts: BaseTrainOptions & Omit<EarlyExitOptions, 'name'>): Promise<TrainReport> {
  return fit(model, data, opts, [earlyExit(opts.weights ? { weights: opts.weights } : {})]);
}

/** Result of {@link trainCoopDepth}. */
export interface CoopDepthResult extends TrainReport {
  /** Teammates A (the given model) and B; the caller owns and disposes them. */
  teammates: DepthNet[];
  /** The Leader (owned by the caller), or null. */
  leader: DepthNet | null;
  /** The Teammate with the higher mean validation accuracy over the menu (spec §2.6). */
  deployed: DepthNet;
  /** Mean validation accuracy over the menu, per Teammate. */
  validationMeans: number[];
}

/**
 * Cooperative training (Leader, Teammates A and B, their sub-networks) in one Trainer, then picks
 * the Teammate to deploy on `validation`. `model` becomes Teammate A. With `bnMode: 'recalibrate'`,
 * each Teammate's per-depth batch-norm statistics are recomputed from 2,000 training examples
 * ({@link recalibrateBatchNorm}) before the choice, as spec §1 asks before any evaluation.
 * `validation` is checked before training (labelled, non-empty, the model's input shape), so a bad
 * one cannot cost a whole run.
 */
export async function trainCoopDepth(model: DepthNet, data: Dataset, validation: Dataset, opts: BaseTrainOptions & CoopDepthOptions): Promise<CoopDepthResult> {
  check(validation !== null && typeof validation === 'object' && validation.labels, 'UNLABELED', 'trainCoopDepth picks the Teammate to deploy on a labelled validation set, but got none',
    'pass a labelled validation dataset (e.g. data.split(0.9, seed))');
  check(validation.size > 0, 'EMPTY_DATASET', 'the validation dataset has 0 examples', 'pass a validation dataset with at least one example');
  checkInputShape([validation.size, ...validation.shape], model.inputShape);
  const plugin = coopDepth(opts);
  let team: DepthNet[] = [];
  let leader: DepthNet | null = null;
  const report = await fit(model, data, opts, [plugin], () => {
    team = plugin.teammates();
    leader = plugin.leader();
    plugin.release();
  });
  for (const t of team) if (t.bnMode === 'recalibrate') recalibrateBatchNorm(t, data, { samples: 2000, seed: opts.seed });
  const means = team.map((t) => t.configs.reduce((s, c) => s + depthAccuracy(t, validation, c), 0) / t.configs.length);
  const best = means.indexOf(Math.max(...means));
  return { ...report, teammates: team, leader, deployed: team[best]!, validationMeans: means };
}
