import * as tf from '@tensorflow/tfjs-core';
import { type ExperimentOptions, type ExperimentResult, type TechniqueExperiment } from '@trellis-ml/core';
import { trainingFreeChecks } from './experimentChecks.js';
import { distillParameters, readParams } from './experimentConfig.js';
import { pipelineCosts } from './experimentCosts.js';
import { reproductionClaims } from './experimentClaims.js';
import { writeGridOnlyReport, writeReproductionReport } from './experimentReport.js';
import { buildSoftLabelSources } from './experimentSources.js';
import { runStudents } from './experimentStudents.js';
import { tuneSettings } from './experimentTuning.js';
import { augmentation, openDistillRun } from './runSetup.js';
import { runSmoke } from './smokeRun.js';
import { inputLayoutText } from './training.js';

/**
 * The `trellis distill` experiment: reads the settings, then runs the CI smoke run or the reproduction's
 * stages in order (soft-label sources, tuning, training-free checks, students, costs, claims, report).
 *
 * @module
 */

export { checkBadInputs, checkTestVectors } from './experimentChecks.js';
export { EXPERIMENT_CONFIGS, readParams, type DistillExperimentConfig } from './experimentConfig.js';
export { methodPlugins, type MethodName, type Sources, type Tuned } from './methods.js';
export { standardize } from './training.js';

/**
 * The reproduction (spec §10 on Fashion-MNIST, or MNIST with `dataset: 'mnist'`; Tier A MLP by default, Tier B conv with `tier: 'conv'`):
 * a teacher trained once; ReffAKD's autoencoder soft labels and the controls; students with CE, LS, Tf-KD_reg, teacher KD,
 * ReffAKD (and ReffAKD inside DKD/DIST) on the same split and seeds; validation-based selection;
 * a report with spec §10.4's figures: the heat maps of S' and P and the top pairs of S (1), the accuracy
 * bars (2), the α × T validation heat-grid when the grid runs (3), accuracy vs cumulative MACs (4), and the
 * diagnostics true-class probability vs T and confused pairs vs the matrix's top pairs (5); plus the cost
 * table. `smoke: true` runs spec §10.3's CI smoke run instead.
 */
export const experiment: TechniqueExperiment = {
  name: 'distill',
  parameters: distillParameters,
  checkParams: (options) => void readParams({ ...options, out: '' }),
  resumable: true,
  description: 'ReffAKD: teacher-free soft labels from a compact autoencoder vs CE, label smoothing, Tf-KD and teacher KD (Fashion-MNIST, or --set dataset=mnist; MLP tier, or --set tier=conv for LeNet-5+BN / CNN-T / ConvAE)',
  async run(options: ExperimentOptions): Promise<ExperimentResult> {
    const log = options.log ?? ((line: string) => console.log(line));
    const cfg = readParams(options);
    if (cfg.smoke) return runSmoke(cfg, options, log);
    // ---- data: the datasets package's fixed split (last valSize training images validate); conv tier:
    // 28×28 zero-padded (or bilinear-resized, resize28) to 32×32; student/teacher inputs standardised with the training statistics
    const run = await openDistillRun(cfg, options, log);
    const { seeds, C, ds, models, trainAll, val, data, stats } = run;
    const test = data.test;
    const augment = augmentation(run);
    log(`distill: ${ds.title} train ${trainAll.size}, val ${val.size}, test ${test.size}; tier ${cfg.tier} (student ${models.studentName}, teacher ${models.teacherName}, generator ${models.aeName}); inputs ${inputLayoutText(cfg)}${stats ? `standardised (mean ${stats.mean.toFixed(4)}, std ${stats.std.toFixed(4)})` : 'raw [0, 1]'}${cfg.augment ? ', flip/±15° rotation augmentation' : ''}; backend ${tf.getBackend()}; seeds ${seeds.join(',')}`);

    const src = await buildSoftLabelSources(run, augment);
    const tuning = await tuneSettings(run, augment, src);
    const checks = trainingFreeChecks({ reffakdReport: src.reffakdReport, pixelsReport: src.pixels.report()!, cfg, seeds, teacherMacs: src.teacherMacs, C, dataset: ds, aeName: models.aeName });
    if (cfg.gridOnly) {
      // stage 1 of a two-stage reproduction: the grid's table and selected settings, no final runs
      const result = await writeGridOnlyReport(run, src, tuning, checks);
      src.dispose();
      return result;
    }

    const students = await runStudents(run, augment, src.sources, tuning.tuned);
    const costs = pipelineCosts(run, src, students);
    const claims = reproductionClaims(run, students, costs, tuning.tuned, checks);
    const result = await writeReproductionReport({ run, src, tuning, checks, students, costs, claims });
    src.dispose();
    return result;
  },
};
