import * as tf from '@tensorflow/tfjs-core';
import { check, Trainer, type Dataset, type EpochLogs, type TrainerPlugin } from '@trellis-ml/core';
import type { DepthNet } from './depthNet.js';
import { depthAccuracy, recalibrateBatchNorm } from './evaluateDepths.js';
import { coopDepth, cosineDecay, layerDrop, type CoopDepthOptions, type LayerDropOptions } from './plugin.js';

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

async function fit(model: DepthNet, data: Dataset, opts: BaseTrainOptions, plugins: TrainerPlugin[], onTrained?: (t: Trainer) => void): Promise<TrainReport> {
  check(Number.isInteger(opts.epochs) && opts.epochs > 0, 'BAD_EPOCHS', `epochs ${opts.epochs} is not a positive integer`, 'pass epochs ≥ 1');
  const batchSize = opts.batchSize ?? 128;
  const lr = opts.lr ?? 1e-3;
  const trainer = new Trainer({
    model, optimizer: tf.train.adam(lr), seed: opts.seed, batchSize, progress: opts.progress, label: opts.label,
    plugins: [cosineDecay({ initial: lr, totalSteps: opts.epochs * data.numBatches(batchSize) }), ...plugins, ...(opts.plugins ?? [])],
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
 */
export async function trainCoopDepth(model: DepthNet, data: Dataset, validation: Dataset, opts: BaseTrainOptions & CoopDepthOptions): Promise<CoopDepthResult> {
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
