import * as tf from '@tensorflow/tfjs-core';
import type { ReportSection } from '@trellis-ml/core';
import type { MacsSeriesStage } from './experimentCosts.js';
import type { StudentResults } from './experimentStudents.js';
import type { GridCell, TemperaturePoint } from './experimentTuning.js';
import { impliedTrueClassProb, pairOverlap, sumMatrices, topConfusedPairs, type ConfusedPair } from './diagnostics.js';
import type { MethodName } from './methods.js';
import { confusionVsSimilarityPlot, gridHeatPlot, macsCurvePlot, temperaturePlot } from './reportPlots.js';
import type { DistillRun } from './runSetup.js';
import { topPairs, type ClassPair, type Matrix } from './similarity.js';
import { pct } from './training.js';

/**
 * The report sections of spec §10.4's figures 3 to 5: the validation grid's α × T heat-grid, accuracy
 * against cumulative MACs, and the two diagnostics (true-class probability vs T, the students'
 * confused pairs vs the matrix's top pairs), each with the data `summary.json` keeps.
 *
 * @module
 */

/** The report section of the validation grid, with figure 3 (the α × T heat-grid) when the grid has ReffAKD/KD cells. */
export function gridSection(rows: Array<[string, string, number]>, cells: readonly GridCell[]): ReportSection {
  return {
    title: 'Tuning grid (validation accuracy, first seed)',
    ...(cells.length ? { text: 'The heat-grid shows the ReffAKD and KD cells (best validation accuracy over the epochs, %); LS and Tf-KD_reg are in the table.' } : {}),
    table: { columns: ['method', 'setting', 'best val acc (%)'], rows },
    ...(cells.length ? { plot: gridHeatPlot(cells.map(({ method, T, alpha, valAcc }) => ({ method, T, alpha, valAcc }))) } : {}),
  };
}

/**
 * Figure 5 (a): the ReffAKD students' mean true-class probability on the test data against T, beside
 * spec §3.1's prediction `softmax(T·S'[y])[y]` averaged over the test labels, and the CE students' value.
 */
export function temperatureSection(points: readonly TemperaturePoint[], Sprime: Matrix, testLabels: ArrayLike<number>, ce: number | null): { section: ReportSection; rows: Array<Record<string, number | null>> } {
  const Ts = [...new Set(points.map((p) => p.T))].sort((a, b) => a - b);
  const alphas = [...new Set(points.map((p) => p.alpha))].sort((a, b) => a - b);
  const predicted = new Map(Ts.map((T) => [T, impliedTrueClassProb(Sprime, T, testLabels)]));
  const plotRows = [
    ...Ts.map((T) => ({ series: "predicted softmax(T·S'[y])[y]", T, prob: predicted.get(T)! })),
    ...points.map((p) => ({ series: `ReffAKD-AE student, α = ${p.alpha}`, T: p.T, prob: p.testTrueClassProb })),
    ...(ce === null ? [] : Ts.map((T) => ({ series: 'CE student (no T)', T, prob: ce }))),
  ];
  const student = (T: number, a: number): number | null => points.find((p) => p.T === T && p.alpha === a)?.testTrueClassProb ?? null;
  const rows: Array<Record<string, number | null>> = Ts.map((T) => ({
    T, predicted: predicted.get(T)!,
    ...Object.fromEntries(alphas.map((a) => [`student α=${a}`, student(T, a)])),
  }));
  const from = points[0]?.from === 'grid' ? `the validation grid's ReffAKD runs (first seed, ${points[0].epochs} epochs)` : `extra ReffAKD-AE runs of the temperature sweep (first seed, ${points[0]?.epochs} epochs, the final runs' budget)`;
  return {
    rows,
    section: {
      title: 'Diagnostic: true-class probability vs T (spec §3.1)',
      text: `Mean softmax(z)[y] of the ReffAKD-AE students on the test data, from ${from}, against the true-class probability spec §3.1 derives from the KD term alone: its minimiser puts the logits at T·S'[y], so the student's implied target is softmax(T·S'[y]) (averaged over the test labels). The students also carry the CE term (weight 1 − α), which pulls towards the CE student's value${ce === null ? '' : ` (${ce.toFixed(3)}, mean over seeds)`}, so the prediction describes the KD term's pull, the more so the closer α is to 1. Reported as a diagnostic, not a claim.`,
      table: { columns: ['T', "predicted softmax(T·S'[y])[y]", ...alphas.map((a) => `student α = ${a}`)], rows: Ts.map((T) => [T, Number(predicted.get(T)!.toFixed(4)), ...alphas.map((a) => { const v = student(T, a); return v === null ? null : Number(v.toFixed(4)); })]) },
      plot: temperaturePlot(plotRows),
    },
  };
}

/** Figure 4's section: each pipeline's stages against cumulative MACs, with the student's test accuracy per epoch. */
export function macsSection(run: DistillRun, macsSeries: readonly MacsSeriesStage[]): ReportSection {
  const { cfg, seeds } = run;
  const lastOf = (p: string) => macsSeries.filter((r) => r.pipeline === p).at(-1)!;
  return {
    title: 'Accuracy vs cumulative MACs (ReffAKD and KD pipelines)',
    text: `Each pipeline's stages in order — soft-label source training (autoencoder / teacher), soft-label production (encoding + matrix / ${cfg.augment ? 'online teacher logits for one student run' : 'cached teacher logits'}), then the student's epochs — with analytic MACs (training = 3 × forward per example) and measured wall-clock (${tf.getBackend()}), accumulated. The dashed rules mark where the soft-label stages end; the points are the student's test accuracy after each epoch (mean over seeds ${seeds.join(', ')}). CE needs no soft labels and is shown for reference. End points: ReffAKD ${pct(lastOf('ReffAKD').accuracy!)}% at ${lastOf('ReffAKD').cumulativeMacs.toExponential(2)} MACs, KD ${pct(lastOf('KD').accuracy!)}% at ${lastOf('KD').cumulativeMacs.toExponential(2)} MACs, CE ${pct(lastOf('CE (no soft labels)').accuracy!)}% at ${lastOf('CE (no soft labels)').cumulativeMacs.toExponential(2)} MACs.`,
    table: {
      columns: ['pipeline', 'stage', 'stage MACs', 'cumulative MACs', 'cumulative time (s)', 'student test acc (%)'],
      rows: macsSeries.map((r) => [r.pipeline, r.stage, r.macs, r.cumulativeMacs, Number((r.cumulativeMs / 1000).toFixed(2)), r.accuracy === null ? null : pct(r.accuracy)]),
    },
    plot: macsCurvePlot(macsSeries),
  };
}

/** One student's confused pairs (figure 5 b): its summed confusion counts, top 5 confused pairs and their overlap with S's top 5. */
export interface ConfusedPairsRow {
  method: MethodName;
  confusion: Matrix;
  top5: ConfusedPair[];
  overlap: number;
}

/** Figure 5 (b): the top 5 pairs of S, the CE / KD / ReffAKD-AE students' most confused pairs, and the section. */
export interface ConfusedPairsDiagnostic {
  sTop5: ClassPair[];
  confusedRows: ConfusedPairsRow[];
  section: ReportSection;
}

/** The students' most confused pairs (test confusions summed over seeds) against the top pairs of the similarity matrix `S`. */
export function confusedPairsDiagnostic(run: DistillRun, S: Matrix, students: StudentResults): ConfusedPairsDiagnostic {
  const { seeds, C, ds, data } = run;
  const { runs } = students;
  const names = ds.classNames;
  const test = data.test;
  const sTop5 = topPairs(S, 5, names);
  const confusionBy = (m: MethodName): Matrix => sumMatrices(seeds.map((s) => runs.find((r) => r.method === m && r.seed === s)!.confusion));
  const confusedRows = (['CE', 'KD (teacher)', 'ReffAKD-AE'] as const).map((m) => {
    const M = confusionBy(m);
    const top5: ConfusedPair[] = topConfusedPairs(M, 5, names);
    return { method: m, confusion: M, top5, overlap: pairOverlap(sTop5, top5) };
  });
  const reffConf = confusedRows.find((r) => r.method === 'ReffAKD-AE')!;
  const sKeys = new Set(sTop5.map((p) => `${p.a}-${p.b}`));
  const cKeys = new Set(reffConf.top5.map((p) => `${p.a}-${p.b}`));
  const scatter = topPairs(S, (C * (C - 1)) / 2, names).map((p) => {
    const key = `${p.a}-${p.b}`;
    const kind = sKeys.has(key) && cKeys.has(key) ? 'top 5 of S and top 5 confused' : sKeys.has(key) ? 'top 5 of S' : cKeys.has(key) ? 'top 5 confused' : 'other';
    return { pair: p.label, similarity: p.value, confusions: reffConf.confusion[p.a]![p.b]! + reffConf.confusion[p.b]![p.a]!, kind };
  });
  const section: ReportSection = {
    title: 'Diagnostic: the students\' most confused pairs vs the matrix\'s top pairs',
    text: `Test confusions of each pair in both directions, summed over seeds ${seeds.join(', ')} (${test.size} test images per seed); ties broken by class index. Top 5 of S: ${sTop5.map((p) => p.label).join(', ')}. Overlap = how many of S's top 5 pairs are among the student's top 5 confused pairs: ReffAKD-AE ${reffConf.overlap}/5; the CE and KD students (no similarity matrix) show how much of that overlap the data alone gives. The plot places every pair of the ReffAKD-AE student by its similarity and its confusions. Reported as a diagnostic, not a claim.`,
    table: {
      columns: ['student', 'top 5 confused pairs (confusions)', "overlap with S's top 5"],
      rows: confusedRows.map((r) => [r.method, r.top5.map((p) => `${p.label} (${p.count})`).join(', '), r.overlap]),
    },
    plot: confusionVsSimilarityPlot(scatter, `Pairs: similarity S[a][b] vs test confusions of the ReffAKD-AE student`),
  };
  return { sTop5, confusedRows, section };
}
