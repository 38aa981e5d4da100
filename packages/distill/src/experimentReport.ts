import * as tf from '@tensorflow/tfjs-core';
import type { Claim, ExperimentResult, ReportSection } from '@trellis-ml/core';
import { pixelStats } from './autoencoder.js';
import { adapterParams, totalCost } from './cost.js';
import type { TrainingFreeChecks } from './experimentChecks.js';
import { cumulativeMacsSeries, type PipelineCosts } from './experimentCosts.js';
import { confusedPairsDiagnostic, gridSection, macsSection, temperatureSection } from './experimentFigures.js';
import type { SoftLabelSetup } from './experimentSources.js';
import type { StudentResults } from './experimentStudents.js';
import type { Tuning } from './experimentTuning.js';
import { accuracyPlot } from './reportPlots.js';
import type { DistillRun } from './runSetup.js';
import { inputLayoutText, pct } from './training.js';

/**
 * The reproduction's `summary.json` and report: the full run's (accuracy table, cost table, figures 1
 * to 5, claims) and the grid-only stage's (the grid, the selected settings and the training-free checks).
 *
 * @module
 */

/** The teacher's entry of `summary.json`: architecture, test accuracy, parameters and training time. */
function teacherSummary(run: DistillRun, src: SoftLabelSetup): Record<string, unknown> {
  const { cfg, models } = run;
  const conv = cfg.tier === 'conv';
  const { teacherModel, teacherRun } = src;
  return { name: models.teacherName, ...(conv ? { channels: cfg.teacherChannels } : { hidden: cfg.teacherHidden }), testAccuracy: teacherRun.finalTest, params: adapterParams(teacherModel), ms: teacherRun.ms };
}

/**
 * Writes the summary and report of stage 1 of a two-stage reproduction (`gridOnly`): the grid's table
 * and selected settings, the temperature diagnostic and the claims that need no student run.
 */
export async function writeGridOnlyReport(run: DistillRun, src: SoftLabelSetup, tuning: Tuning, checks: TrainingFreeChecks): Promise<ExperimentResult> {
  const { cfg, options, seeds, ds, models, record, data } = run;
  const conv = cfg.tier === 'conv';
  const test = data.test;
  const { reffakdReport, teacherRun } = src;
  const { tuned, gridRows, gridCells, temperaturePoints } = tuning;
  const claims = checks.claims;
  const temperature = temperaturePoints.length ? temperatureSection(temperaturePoints, reffakdReport.boosted, test.labels!, null) : null;
  const summary = {
    dataset: ds.id, mode: options.mode, tier: cfg.tier, gridOnly: true, seeds, backend: tf.getBackend(), tuned, config: cfg,
    teacher: teacherSummary(run, src), reffakd: checks.reffakdSummary, grid: gridRows, gridCells, testVectors: checks.vectors, badInputs: checks.bad,
    diagnostics: { temperature: { points: temperaturePoints, rows: temperature?.rows ?? [] } },
    nextStage: `--set grid=false --set reffakdT=${tuned.reffakd.T} --set reffakdAlpha=${tuned.reffakd.alpha} --set kdT=${tuned.kd.T} --set kdAlpha=${tuned.kd.alpha} --set lsEpsilon=${tuned.ls} --set tfkdAlpha=${tuned.tfkd}`,
  };
  const summaryPath = await record.writeSummary({ ...summary, claims });
  const reportPath = await record.writeReport({
    title: `distill — validation grid only (${ds.title}, ${options.mode}, ${conv ? 'conv tier' : 'MLP tier'})`,
    intro: `Stage 1 of a two-stage reproduction on ${ds.title}: teacher ${models.teacherName} (${cfg.teacherEpochs} epochs, test ${pct(teacherRun.finalTest)}%), the soft-label generators and the validation grid (seed ${seeds[0]}, ${cfg.gridEpochs} epochs, ${models.studentName}). Selected: ReffAKD T=${tuned.reffakd.T} α=${tuned.reffakd.alpha}; KD T=${tuned.kd.T} α=${tuned.kd.alpha}; LS ε=${tuned.ls}; Tf-KD_reg α=${tuned.tfkd}. Stage 2: the same command with ${summary.nextStage} and without gridOnly. Only the claims that need no student run are checked here.`,
    claims,
    sections: [gridSection(gridRows, gridCells), ...(temperature ? [temperature.section] : []), ...checks.sections],
  });
  return { runDir: record.dir, summaryPath, reportPath, claims, summary };
}

/** What {@link writeReproductionReport} reports on. */
export interface ReproductionResults {
  run: DistillRun;
  src: SoftLabelSetup;
  tuning: Tuning;
  checks: TrainingFreeChecks;
  students: StudentResults;
  costs: PipelineCosts;
  claims: Claim[];
}

/** The cost table: the sources, one student run, the whole pipelines and their ratios (MACs and seconds). */
function costTable(run: DistillRun, costs: PipelineCosts, students: StudentResults): NonNullable<ReportSection['table']> {
  const { cfg, models } = run;
  const { aeCost, teacherCost, reffakdPipe, kdPipe, onlineTeacherMacs, genMacsRatio, genMsRatio, pipeMacsRatio, pipeMsRatio } = costs;
  const { studentMacs, studentParams } = students;
  return {
    columns: ['item', 'params', 'forward MACs / example', 'fit MACs', 'fit time (s)', 'label MACs', 'label time (s)', 'total MACs', 'total time (s)'],
    rows: [
      [`ReffAKD autoencoder (${models.aeName}) + matrix`, aeCost.params, aeCost.forwardMacsPerExample, aeCost.fitMacs, aeCost.fitMs / 1000, aeCost.labelMacs, aeCost.labelMs / 1000, totalCost(aeCost).macs, totalCost(aeCost).ms / 1000],
      [`teacher ${models.teacherName} (training + ${cfg.augment ? 'online logits of one student run' : 'cached logits'})`, teacherCost.params, teacherCost.forwardMacsPerExample, teacherCost.fitMacs, teacherCost.fitMs / 1000, teacherCost.labelMacs, teacherCost.labelMs / 1000, totalCost(teacherCost).macs, totalCost(teacherCost).ms / 1000],
      ['teacher, if run online every student step (analytic)', teacherCost.params, teacherCost.forwardMacsPerExample, teacherCost.fitMacs, null, onlineTeacherMacs, null, teacherCost.fitMacs + onlineTeacherMacs, null],
      [`student ${models.studentName} training (one run)`, studentParams.all, studentMacs, reffakdPipe.student.macs, reffakdPipe.student.ms / 1000, 0, 0, reffakdPipe.student.macs, reffakdPipe.student.ms / 1000],
      ['whole ReffAKD pipeline', null, null, null, null, null, null, reffakdPipe.total.macs, reffakdPipe.total.ms / 1000],
      [`whole KD pipeline (${cfg.augment ? 'online' : 'cached'} teacher)`, null, null, null, null, null, null, kdPipe.total.macs, kdPipe.total.ms / 1000],
      ['ratio generator / teacher', null, null, null, null, null, null, genMacsRatio, genMsRatio],
      ['ratio ReffAKD pipeline / KD pipeline', null, null, null, null, null, null, pipeMacsRatio, pipeMsRatio],
    ] as Array<Array<string | number | null>>,
  };
}

/**
 * Writes the full reproduction's `summary.json` and report: the accuracy table, the cost table, the
 * figures (S, P and top pairs from the checks; accuracy bars; the grid; accuracy vs cumulative MACs;
 * the two diagnostics) and the claims.
 */
export async function writeReproductionReport(results: ReproductionResults): Promise<ExperimentResult> {
  const { run, src, tuning, checks, students, costs, claims } = results;
  const { cfg, options, seeds, ds, models, record, trainAll, val, data, stats } = run;
  const conv = cfg.tier === 'conv';
  const test = data.test;
  const { reffakdReport, teacherModel, teacherRun, teacherMacs } = src;
  const { tuned, gridRows, gridCells, temperaturePoints } = tuning;
  const { accRows, studentMacs, studentParams } = students;
  const { aeCost, teacherCost, reffakdPipe, kdPipe, onlineTeacherMacs, genMacsRatio, genMsRatio, pipeMacsRatio, pipeMsRatio } = costs;
  const macsSeries = cumulativeMacsSeries(run, costs, students);

  // ---- figure 5: true-class probability vs T, and the students' confused pairs vs the matrix's top pairs
  const ceProb = accRows.find((r) => r.method === 'CE')!.trueClassProb;
  const temperature = temperaturePoints.length ? temperatureSection(temperaturePoints, reffakdReport.boosted, test.labels!, ceProb) : null;
  const { sTop5, confusedRows, section: confusionSection } = confusedPairsDiagnostic(run, reffakdReport.S, students);

  // ---- summary and report
  const summary = {
    dataset: ds.id, mode: options.mode, tier: cfg.tier, seeds, backend: tf.getBackend(), tuned, config: cfg,
    inputs: { ...(stats ? { standardised: true, mean: stats.mean, std: stats.std } : { standardised: false }), padded28to32: conv && cfg.resize28 === 'pad', ...(conv ? { resize28: cfg.resize28, layoutPixelStats: pixelStats(run.raw.train.x) } : {}), augment: cfg.augment },
    models: {
      student: { name: models.studentName, params: studentParams.all, trainableParams: studentParams.trainable, forwardMacs: studentMacs },
      teacher: { name: models.teacherName, params: teacherCost.params, trainableParams: adapterParams(teacherModel, 'trainable'), forwardMacs: teacherMacs },
      autoencoder: { name: models.aeName, params: aeCost.params, encoderForwardMacs: aeCost.forwardMacsPerExample, ...(conv ? { forwardMacs: reffakdReport.aeForwardMacs } : {}) },
    },
    teacher: teacherSummary(run, src),
    reffakd: checks.reffakdSummary,
    accuracy: Object.fromEntries(accRows.map((r) => [r.method, { finalTestMean: r.fin.mean, finalTestStd: r.fin.std, selectedTestMean: r.sel.mean, selectedTestStd: r.sel.std, vsCeMean: r.d.mean, vsCeStd: r.d.std, testTrueClassProbMean: r.trueClassProb }])),
    costs: { reffakd: aeCost, teacher: teacherCost, reffakdPipeline: reffakdPipe, kdPipeline: kdPipe, onlineTeacherMacs, genMacsRatio, genMsRatio, pipeMacsRatio, pipeMsRatio },
    testVectors: checks.vectors, badInputs: checks.bad, grid: gridRows, gridCells,
    // the data of the diagnostic figures (spec §10.4 figures 4 and 5)
    diagnostics: {
      cumulativeMacs: macsSeries,
      temperature: { points: temperaturePoints, rows: temperature?.rows ?? [], ceTestTrueClassProb: ceProb },
      confusedPairs: {
        sTop5: sTop5.map((p) => ({ pair: p.label, a: p.a, b: p.b, value: p.value })),
        students: confusedRows.map((r) => ({ method: r.method, top5: r.top5.map((p) => ({ pair: p.label, a: p.a, b: p.b, count: p.count })), overlapWithSTop5: r.overlap, confusion: r.confusion })),
      },
    },
  };
  const summaryPath = await record.writeSummary({ ...summary, claims });
  const sections = [
    {
      title: `Student accuracy (${ds.title}, ${models.studentName})`,
      text: `Test accuracy (%) at the final epoch (primary) and at the epoch with the best validation accuracy, mean ± std over seeds ${seeds.join(', ')}; Δ vs CE is paired by seed. Same split, same seeds, same optimiser (SGD momentum 0.9, lr ${cfg.lr}, wd ${cfg.weightDecay}, ${cfg.studentEpochs} epochs); inputs ${inputLayoutText(cfg)}${stats ? `standardised with the training pixels' mean ${stats.mean.toFixed(4)} and std ${stats.std.toFixed(4)} (recomputed; spec §10.1: ≈ ${ds.specStats.mean} / ${ds.specStats.std})` : 'raw [0, 1] pixels'} (students and teacher)${cfg.augment ? ', flip/±15° rotation on every training batch' : ''}. Settings: ReffAKD T=${tuned.reffakd.T} α=${tuned.reffakd.alpha} (the controls reuse them); KD T=${tuned.kd.T} α=${tuned.kd.alpha}; LS ε=${tuned.ls}; Tf-KD_reg α=${tuned.tfkd} (a=0.99, τ=20, multiplier C)${cfg.grid ? ', each chosen on validation' : ' (fixed, no grid in this mode)'}; soft-label KL reduction ${cfg.klReduction} (ReffAKD, controls and KD alike); shuffled control: ${cfg.shuffleSeed === 'per-seed' ? 'a new permutation per seed' : 'one permutation'}. Teacher ${models.teacherName} (${cfg.teacherEpochs} epochs): ${pct(teacherRun.finalTest)}%.`,
      table: {
        columns: ['method', 'test acc final (%)', 'std', 'test acc at best-val epoch (%)', 'std', 'Δ vs CE (pp)', 'std'],
        rows: accRows.map((r) => [r.method, r.fin.mean, r.fin.std, r.sel.mean, r.sel.std, r.d.mean, r.d.std]),
      },
      plot: accuracyPlot(accRows.map((r) => ({ method: r.method, mean: r.fin.mean, lo: r.fin.mean - r.fin.std, hi: r.fin.mean + r.fin.std }))),
    },
    {
      title: 'Cost of the soft labels and of the whole pipeline',
      text: `Analytic MACs (training = 3 × forward per example seen) and measured wall-clock on the ${tf.getBackend()} backend (training time excludes the per-epoch validation/test evaluation). ${cfg.augment ? 'With augmentation the teacher runs online (its labelling cost is shown for one student run).' : 'The teacher\'s logits are cached once (no augmentation); the online alternative is shown analytically.'}`,
      table: costTable(run, costs, students),
    },
    macsSection(run, macsSeries),
    ...(gridRows.length ? [gridSection(gridRows, gridCells)] : []),
    ...(temperature ? [temperature.section] : []),
    confusionSection,
    ...checks.sections,
  ];
  const reportPath = await record.writeReport({
    title: `distill — ReffAKD on ${ds.title} (${options.mode}, ${conv ? 'conv tier' : 'MLP tier'})`,
    intro: `Teacher-free knowledge distillation from autoencoder class-similarity soft labels (ReffAKD, arXiv 2404.09886) against hard labels, label smoothing, Tf-KD_reg and a real teacher, with the pixel, random-encoder and shuffled-matrix controls, on ${ds.title} (${ds.splitText}; train ${trainAll.size}, validation ${val.size}, test ${test.size}).${ds.name === 'fashion' ? '' : ` The dataset-specific claims use spec §10.4's ${ds.title} column (each claim cites it).`}`,
    claims,
    sections,
  });
  return { runDir: record.dir, summaryPath, reportPath, claims, summary };
}
