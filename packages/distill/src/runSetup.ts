import { RunRecord, experimentSeeds, type ExperimentOptions, type StudyJournal, type TrainerPlugin } from '@trellis-ml/core';
import type { DistillExperimentConfig } from './experimentConfig.js';
import { DISTILL_DATASETS, type DistillDataset } from './experimentDatasets.js';
import type { ReffakdOptions } from './generators.js';
import type { Tuned } from './methods.js';
import { flipRotatePlugin } from './plugin.js';
import { loadExperimentData, tierModels, type ExperimentData, type TierModels } from './training.js';

/**
 * What the reproduction and the CI smoke run set up the same way: the run record, the seeds, the tier's
 * models and the data, the ReffAKD generator's settings and the configured (untuned) method settings.
 *
 * @module
 */

/** Opens the run record of a `trellis distill` run (name, seed, the whole configuration, package version). */
export function openDistillRecord(options: ExperimentOptions, seeds: number[], cfg: DistillExperimentConfig, ds: DistillDataset): Promise<RunRecord> {
  return RunRecord.create({
    out: options.out, name: 'distill', seed: options.seed, config: { mode: options.mode, seeds, ...cfg, dataset: ds.id }, packageOf: import.meta.url,
    ...(options.resume ? { resume: true } : {}),
  });
}

/** An opened run: its configuration, seeds, dataset, run record, the tier's models and the loaded data. */
export interface DistillRun extends ExperimentData {
  cfg: DistillExperimentConfig;
  options: ExperimentOptions;
  /** The student seeds (`experimentSeeds(options)`). */
  seeds: number[];
  /** Number of classes (10 on both datasets). */
  C: number;
  ds: DistillDataset;
  record: RunRecord;
  /**
   * The run's journal: each grid cell, temperature-sweep point and student run is a unit, so an
   * interrupted run resumes after the last finished one (the teacher and the generators are trained
   * again first: with one seed they come out the same).
   */
  journal: StudyJournal;
  /** Show per-epoch progress bars. */
  progress: boolean;
  models: TierModels;
  log: (line: string) => void;
}

/** Opens the run record and loads the dataset's split for the run's configuration (see {@link loadExperimentData}). */
export async function openDistillRun(cfg: DistillExperimentConfig, options: ExperimentOptions, log: (line: string) => void): Promise<DistillRun> {
  const seeds = experimentSeeds(options);
  const C = 10;
  const ds = DISTILL_DATASETS[cfg.dataset];
  const record = await openDistillRecord(options, seeds, cfg, ds);
  const journal = await record.openJournal();
  if (journal.finished) log(`distill: resuming ${record.dir}: the teacher and the generators are trained again, then ${journal.finished} finished grid cells and student runs are replayed from its journal`);
  const progress = options.progress ?? false;
  const models = tierModels(cfg, C);
  return { cfg, options, seeds, C, ds, record, journal, progress, models, log, ...loadExperimentData(cfg, ds) };
}

/**
 * The augmentation plugins of a training run with this seed: flip + ±15° rotation when `augment` is on
 * (conv tier; the fill is the background's standardised value), none otherwise. They act on the
 * resized (`resize28`) and standardised batches; because standardisation is one affine map per pixel
 * and each rotated pixel is a weighted mean (weights summing to 1, the fill included), this equals the
 * notebooks' Resize → flip/rotate → Normalize order up to float rounding.
 */
export function augmentation(run: Pick<DistillRun, 'cfg' | 'stats'>): (seed: number) => TrainerPlugin[] {
  const { cfg, stats } = run;
  return (seed) => (cfg.augment ? [flipRotatePlugin({ seed, fill: stats ? -stats.mean / stats.std : 0 })] : []);
}

/**
 * The ReffAKD generator's settings from the run's configuration (spec §10.3: 40 images per class,
 * sampling seed 42, `'auto'` diagonal boost; the tier's autoencoder); controls add `featureSource`.
 */
export function reffakdSettings(cfg: DistillExperimentConfig, ds: DistillDataset, seed: number, numClasses: number): ReffakdOptions {
  return {
    numClasses, samplesPerClass: cfg.samplesPerClass, sampleSeed: 42, diagBoost: 'auto', seed, classNames: ds.classNames,
    aeInput: cfg.aeInput, aeTraining: { epochs: cfg.aeEpochs, reconstructionTarget: cfg.aeTarget }, autoencoder: cfg.tier === 'conv' ? 'conv' : 'dense',
  };
}

/** The methods' settings as configured (`--set reffakdT=…` etc.), used when no validation grid picks them. */
export function configuredTuning(cfg: DistillExperimentConfig): Tuned {
  return { reffakd: { T: cfg.reffakdT, alpha: cfg.reffakdAlpha }, kd: { T: cfg.kdT, alpha: cfg.kdAlpha }, ls: cfg.lsEpsilon, tfkd: cfg.tfkdAlpha };
}
