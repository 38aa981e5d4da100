import { type ModelAdapter, type TrainerPlugin } from '@trellis-ml/core';
import { adapterMacs, trainingMacs } from './cost.js';
import {
  reffakdGenerator, shuffledMatrixGenerator, teacherGenerator,
  type ReffakdGenerator, type ReffakdReport, type SoftLabelGenerator,
} from './generators.js';
import type { Sources } from './methods.js';
import { reffakdSettings, type DistillRun } from './runSetup.js';
import { pct, trainModel, type TrainResult } from './training.js';

/**
 * The reproduction's soft-label sources: the teacher (trained once, cached or online logits), the
 * ReffAKD autoencoder generator (trained once) and its pixel, random-encoder and shuffled-matrix controls.
 *
 * @module
 */

/** The trained soft-label sources of a reproduction and what the report needs of them. */
export interface SoftLabelSetup {
  teacherModel: ModelAdapter;
  teacherRun: TrainResult;
  /** Forward MACs per example of the teacher. */
  teacherMacs: number;
  teacher: SoftLabelGenerator;
  reffakd: ReffakdGenerator;
  reffakdReport: ReffakdReport;
  /** The pixel-feature control. */
  pixels: ReffakdGenerator;
  /** The random-encoder control. */
  random: ReffakdGenerator;
  /** Every source by method (the shuffled control built on first use per seed). */
  sources: Sources;
  /** Frees every generator and the teacher model. */
  dispose: () => void;
}

/**
 * Trains the teacher (seed = the run's base seed; its logits cached once unless `augment` makes it run
 * online) and fits the ReffAKD generator and its controls on the [0, 1] training images.
 */
export async function buildSoftLabelSources(run: DistillRun, augment: (seed: number) => TrainerPlugin[]): Promise<SoftLabelSetup> {
  const { cfg, options, ds, C, models, data, raw, progress, log } = run;
  // ---- teacher (trained once, seed 0 of the run's base seed), cached logits (no augmentation)
  const teacherModel = models.teacher(options.seed);
  const teacherRun = await trainModel(teacherModel, augment(options.seed), options.seed, cfg.teacherEpochs, cfg.teacherMilestones, cfg, data, 'teacher', progress);
  const teacherMacs = adapterMacs(teacherModel);
  log(`distill: teacher ${models.teacherName} test ${pct(teacherRun.finalTest)}% in ${(teacherRun.ms / 1000).toFixed(1)}s`);
  // cached logits are exact only without augmentation; with it the teacher runs online
  const teacher = teacherGenerator(teacherModel, { cache: cfg.augment ? 'none' : 'epoch-invariant', trainingCost: { macs: trainingMacs(teacherMacs, teacherRun.examplesSeen), ms: teacherRun.ms } });
  teacher.prepare!(data.train);

  // ---- ReffAKD generator (AE trained once) and the controls
  const common = reffakdSettings(cfg, ds, options.seed, C);
  const reffakd = reffakdGenerator({ ...common, log });
  const reffakdReport = await reffakd.fit(raw.train);
  const pixels = reffakdGenerator({ ...common, featureSource: 'pixels' });
  await pixels.fit(raw.train);
  const random = reffakdGenerator({ ...common, featureSource: 'random-encoder' });
  await random.fit(raw.train);
  const shuffledBySeed = new Map<number, SoftLabelGenerator>();
  const shuffled = (seed: number): SoftLabelGenerator => {
    const key = cfg.shuffleSeed === 'fixed' ? options.seed : seed;
    if (!shuffledBySeed.has(key)) shuffledBySeed.set(key, shuffledMatrixGenerator(reffakd, key));
    return shuffledBySeed.get(key)!;
  };
  const sources: Sources = { teacher, reffakd, pixels, random, shuffled };
  log(`distill: ReffAKD δ=${reffakdReport.delta.toFixed(4)}, diag-argmax ${reffakdReport.diagArgmaxCount}/${C}, mean P[c][c] ${reffakdReport.meanTrueClassProb.toFixed(4)}, top pairs ${reffakdReport.topPairs.map((p) => p.label).join(', ')}`);
  const dispose = (): void => {
    for (const g of [reffakd, pixels, random, ...shuffledBySeed.values(), teacher]) g.dispose();
    teacherModel.dispose();
  };
  return { teacherModel, teacherRun, teacherMacs, teacher, reffakd, reffakdReport, pixels, random, sources, dispose };
}
