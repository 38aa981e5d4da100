import * as tf from '@tensorflow/tfjs-core';
import { claim, meanStd, type Claim, type ExperimentOptions, type ExperimentResult } from '@trellis-ml/core';
import type { DistillExperimentConfig } from './experimentConfig.js';
import { reffakdGenerator } from './generators.js';
import { methodPlugins, type MethodName, type Tuned } from './methods.js';
import { accuracyPlot } from './reportPlots.js';
import { configuredTuning, openDistillRun, reffakdSettings } from './runSetup.js';
import { pct, trainModel } from './training.js';

/**
 * Spec §10.3's CI smoke run (`--set smoke=true`): CE, ReffAKD-AE and LS students on a small MNIST subset
 * for 2 epochs, with spec §10.5's "beats 90 % on the MNIST subset for every method" and §10.3's
 * "finishes in under 3 min" as claims.
 *
 * @module
 */

/** The three methods of the smoke run (spec §10.3). */
export const SMOKE_METHODS: readonly MethodName[] = ['CE', 'ReffAKD-AE', 'LS'];
/** Spec §10.5: every smoke-run student beats this test accuracy. */
export const SMOKE_MIN_ACCURACY = 0.9;
/** Spec §10.3: the smoke run finishes in under this many seconds. */
export const SMOKE_MAX_SECONDS = 180;

/**
 * Runs the smoke run with `cfg` (the `smoke` preset plus any `--set` overrides): the autoencoder
 * generator, then each method for each seed with the reproduction's recipe and plugins, and a report
 * with the accuracies and the two claims. The wall-clock covers data loading, the generator and the
 * students (not the report).
 */
export async function runSmoke(cfg: DistillExperimentConfig, options: ExperimentOptions, log: (line: string) => void): Promise<ExperimentResult> {
  const t0 = performance.now();
  const { seeds, C, ds, record, progress, models, trainAll, val, raw, data, stats } = await openDistillRun(cfg, options, log);
  log(`distill smoke: ${ds.title} train ${trainAll.size}, val ${val.size}, test ${data.test.size}; ${cfg.studentEpochs} epochs; ${SMOKE_METHODS.join(', ')}; backend ${tf.getBackend()}; seeds ${seeds.join(',')}`);

  const reffakd = reffakdGenerator(reffakdSettings(cfg, ds, options.seed, C));
  const report = await reffakd.fit(raw.train);
  const tuned: Tuned = configuredTuning(cfg);
  const runs: Array<{ method: MethodName; seed: number; finalTest: number; ms: number }> = [];
  for (const seed of seeds) {
    for (const method of SMOKE_METHODS) {
      const model = models.student(seed);
      const r = await trainModel(model, methodPlugins(method, { reffakd }, tuned, C, seed, cfg.klReduction), seed, cfg.studentEpochs, cfg.studentMilestones, cfg, data, `smoke ${method} seed ${seed}`, progress);
      model.dispose();
      runs.push({ method, seed, finalTest: r.finalTest, ms: r.ms });
      await record.logMetrics({ kind: 'smoke-student', method, seed, ...r });
      log(`distill smoke: seed ${seed} ${method}: test ${pct(r.finalTest)}% (final epoch)`);
    }
  }
  reffakd.dispose();
  const seconds = (performance.now() - t0) / 1000;

  const rows = SMOKE_METHODS.map((m) => {
    const accs = runs.filter((r) => r.method === m).map((r) => 100 * r.finalTest);
    return { method: m, ...meanStd(accs), min: Math.min(...accs) };
  });
  const worst = runs.reduce((a, b) => (b.finalTest < a.finalTest ? b : a));
  const claims: Claim[] = [
    claim('smoke-accuracy', `CI smoke run (spec §10.3: ${ds.title} ${trainAll.size} train / ${data.test.size} test, ${cfg.studentEpochs} epochs): every student (CE, ReffAKD-AE, LS) beats ${100 * SMOKE_MIN_ACCURACY} % test accuracy (spec §10.5); measured: the lowest final-epoch test accuracy`,
      worst.finalTest, '>', SMOKE_MIN_ACCURACY, seeds, `lowest: ${worst.method} seed ${worst.seed}; ${rows.map((r) => `${r.method} ${r.mean.toFixed(2)} %`).join(', ')}`),
    claim('smoke-time', 'CI smoke run finishes in under 3 min (spec §10.3): wall-clock seconds of data, generator and students', seconds, '<', SMOKE_MAX_SECONDS, seeds, `${tf.getBackend()}`),
  ];
  const summary = {
    dataset: ds.id, mode: options.mode, smoke: true, tier: cfg.tier, seeds, backend: tf.getBackend(), config: cfg, tuned, seconds,
    inputs: stats ? { standardised: true, mean: stats.mean, std: stats.std } : { standardised: false },
    reffakd: { delta: report.delta, diagArgmaxCount: report.diagArgmaxCount, meanTrueClassProb: report.meanTrueClassProb, topPairs: report.topPairs.map((p) => ({ pair: p.label, value: p.value })) },
    accuracy: Object.fromEntries(rows.map((r) => [r.method, { finalTestMean: r.mean, finalTestStd: r.std, finalTestMin: r.min }])),
    runs,
  };
  const summaryPath = await record.writeSummary({ ...summary, claims });
  const reportPath = await record.writeReport({
    title: `distill — CI smoke run (${ds.title}, ${models.studentName})`,
    intro: `Spec §10.3's CI smoke run: ${ds.title} subset (${trainAll.size} train, the first ${data.test.size} test images, ${val.size} validation images unused by the claim), ${cfg.studentEpochs} epochs (SGD momentum ${cfg.momentum}, lr ${cfg.lr}, wd ${cfg.weightDecay}, batch ${cfg.batchSize}), seeds ${seeds.join(', ')}, the students CE, ReffAKD-AE (${models.aeName}, ${cfg.aeEpochs} epochs, T=${tuned.reffakd.T} α=${tuned.reffakd.alpha}) and LS (ε=${tuned.ls}). ${seconds.toFixed(1)} s on ${tf.getBackend()}.`,
    claims,
    sections: [{
      title: 'Smoke-run accuracy',
      text: `Final-epoch test accuracy (%), mean ± std over seeds; spec §10.5 asks every method to beat ${100 * SMOKE_MIN_ACCURACY} %. ReffAKD soft labels: 'auto' δ = ${report.delta.toFixed(4)}, ${report.diagArgmaxCount}/${C} rows diagonal-argmax, top pairs ${report.topPairs.map((p) => p.label).join(', ')}.`,
      table: { columns: ['method', 'test acc final (%)', 'std', 'lowest seed (%)'], rows: rows.map((r) => [r.method, r.mean, r.std, r.min]) },
      plot: accuracyPlot(rows.map((r) => ({ method: r.method, mean: r.mean, lo: r.mean - r.std, hi: r.mean + r.std }))),
    }],
  });
  return { runDir: record.dir, summaryPath, reportPath, claims, summary };
}
