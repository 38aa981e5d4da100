import { RunRecord, type ExperimentOptions } from '@trellis-ml/core';
import type { DistillExperimentConfig } from './experiment.js';
import type { DistillDataset } from './experimentDatasets.js';
import type { ReffakdOptions } from './generators.js';
import type { Tuned } from './methods.js';

/**
 * What the reproduction and the CI smoke run set up the same way: the run record, the ReffAKD
 * generator's settings and the configured (untuned) method settings.
 *
 * @module
 */

/** Opens the run record of a `trellis distill` run (name, seed, the whole configuration, package version). */
export function openDistillRecord(options: ExperimentOptions, seeds: number[], cfg: DistillExperimentConfig, ds: DistillDataset): Promise<RunRecord> {
  return RunRecord.create({ out: options.out, name: 'distill', seed: options.seed, config: { mode: options.mode, seeds, ...cfg, dataset: ds.id }, packageOf: import.meta.url });
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
