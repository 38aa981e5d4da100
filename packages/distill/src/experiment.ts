import * as tf from '@tensorflow/tfjs-core';
import {
  applyParams, TrellisError, check, claim, evaluate, experimentSeeds, meanStd, mlp,
  type Claim, type Dataset, type ExperimentOptions, type ExperimentResult, type ModelAdapter, type ReportSection, type TechniqueExperiment, type TrainerPlugin,
} from '@trellis-ml/core';
import { DISTILL_DATASETS, datasetClaim, expectedPairHits, type DistillDataset, type DistillDatasetName } from './experimentDatasets.js';
import { adapterMacs, adapterParams, pipelineCost, pipelineSeries, totalCost, trainingMacs, type CumulativeStage, type GeneratorCost } from './cost.js';
import { confusionFromLogits, impliedTrueClassProb, meanTrueClassProb, pairOverlap, sumMatrices, topConfusedPairs, type ConfusedPair } from './diagnostics.js';
import {
  matrixGenerator, reffakdGenerator, shuffledMatrixGenerator, teacherGenerator,
  type ReffakdReport, type SoftLabelGenerator,
} from './generators.js';
import * as L from './losses.js';
import { EXTRAS, METHODS, methodPlugins, type MethodName, type Sources, type Tuned } from './methods.js';
import { CNN_T_CHANNELS } from './models.js';
import { distillPlugin, flipRotatePlugin, labelSmoothingPlugin } from './plugin.js';
import { accuracyPlot, confusionVsSimilarityPlot, gridHeatPlot, heatmap, macsCurvePlot, temperaturePlot, topPairsPlot } from './reportPlots.js';
import { boostDiagonal, diagArgmaxCount, rowSoftmax, topPairs, validateSoftLabelMatrix, type Matrix } from './similarity.js';
import { configuredTuning, openDistillRecord, reffakdSettings } from './runSetup.js';
import { runSmoke } from './smokeRun.js';
import { loadExperimentData, pct, tierModels, trainModel, type EpochRecord, type TrainResult } from './training.js';

export { methodPlugins, type MethodName, type Sources, type Tuned } from './methods.js';
export { standardize } from './training.js';

/** Sizes and budgets of one reproduction (quick or full); every field can be overridden with `params`. */
export interface DistillExperimentConfig {
  /**
   * Model tier (spec §10.2). `'mlp'` (Tier A, the default): MLP student 784-64-10, MLP teacher, dense
   * AE-D generator on flat 28×28 images. `'conv'` (Tier B, the paper-faithful conv setting): images
   * zero-padded 28→32 (centred), LeNet-5+BN student, CNN-T teacher, the paper's ConvAE generator;
   * every method, control, claim and budget field is the same (`--set tier=conv`).
   */
  tier: 'mlp' | 'conv';
  /**
   * The dataset (spec §10: MNIST and Fashion-MNIST; `--set dataset=mnist`). `'fashion'` (the default)
   * or `'mnist'`. Class names, the spec's expected similar pairs, the per-dataset claim thresholds of
   * spec §10.4, the recomputed input statistics and the `dataset` of the run record follow it; the
   * budgets and methods are the same.
   */
  dataset: DistillDatasetName;
  /** Conv widths of the CNN-T teacher (conv tier; default the spec's 32, 32, 64, 64, 128). */
  teacherChannels: number[];
  /**
   * Conv tier only: flip + ±15° rotation of every training batch of the students and the teacher (the
   * paper's transforms, spec §10.1 "optional"). Default false. With it the teacher's logits cannot be
   * cached and the teacher runs online at every student step; the autoencoder and its codes stay
   * un-augmented.
   */
  augment: boolean;
  trainSize: number;
  valSize: number;
  testSize: number;
  studentHidden: number[];
  teacherHidden: number[];
  teacherEpochs: number;
  teacherMilestones: number[];
  studentEpochs: number;
  studentMilestones: number[];
  lr: number;
  momentum: number;
  weightDecay: number;
  batchSize: number;
  aeEpochs: number;
  /**
   * The autoencoder's input and reconstruction target: `'unit'` / `'unit'` (default, spec §10.3: MSE to
   * unit-range pixels) or the notebooks' `aeInput=standardized` with `aeTarget=normalized` (§2.2).
   */
  aeInput: 'unit' | 'standardized';
  aeTarget: 'unit' | 'normalized';
  samplesPerClass: number;
  /** Tune T × α (ReffAKD, KD), ε (LS) and α (Tf-KD) on validation with the first seed. */
  grid: boolean;
  /**
   * Stop after the validation grid (default false): train the teacher and the generators, run the grid,
   * report its table and the selected settings with the claims that need no student runs, and skip the
   * final runs. Stage 1 of a two-stage reproduction: pass the selected settings to a second run with
   * `grid=false` (same seed: the same teacher and generators). Needs `grid=true`.
   */
  gridOnly: boolean;
  gridEpochs: number;
  /**
   * Grid values. Spec §10.3 has T ∈ {1, 4, 10, 20} × α ∈ {0.5, 0.9}; the default adds α = 0.1 (in the
   * notebooks' own grid α ∈ {0.1, …, 0.9}) because at α ≥ 0.5 every ReffAKD/KD cell smooths far more
   * than any cell of the LS grid (α = 0.5, T = 1 ≈ LS with ε ≈ 0.49), which is not equal tuning effort
   * (§10 (v)). `gridAlpha=0.5,0.9` restores the spec's grid. ε ∈ {0.05, 0.1, 0.2}; Tf-KD α ∈ {0.1, 0.5, 0.9}.
   */
  gridT: number[];
  gridAlpha: number[];
  gridEps: number[];
  gridTfkdAlpha: number[];
  /**
   * KL reduction of the soft-label term, for ReffAKD, its controls and teacher KD alike (spec §10.3:
   * `'batchmean'`, the default). `'elementwise-mean'` divides by C as the ReffAKD Fashion-MNIST notebook
   * does (`nn.KLDivLoss()`), i.e. a C-times weaker soft term at equal α and T.
   */
  klReduction: L.KlReduction;
  /**
   * Seed of the shuffled-matrix control: `'per-seed'` (default) draws a new off-diagonal permutation for
   * every student seed, so the control averages over permutations; `'fixed'` uses one permutation (the
   * run's base seed) for every student seed.
   */
  shuffleSeed: 'per-seed' | 'fixed';
  /**
   * Standardise the student's and teacher's inputs with the training pixels' mean and population std
   * (spec §10.1: "Normalise with the train mean/std, recomputed in code", ≈ 0.286 / 0.353 on
   * Fashion-MNIST), as the notebooks' `Normalize(mean, std)` does. Default true. The soft-label
   * generators (autoencoder, pixel control) always see the [0, 1] pixels: their features are not the
   * student's input pipeline, and the AE-D reconstructs unit-range pixels (§10.3).
   */
  normalizeInputs: boolean;
  /** Also train the extra rows ReffAKD+DKD and ReffAKD+DIST (mode replace-teacher; on in quick, off in full). */
  extras: boolean;
  /**
   * Figure 5 (a) when the validation grid is off: train one extra ReffAKD-AE student (first seed, the
   * final runs' budget) for every T of `gridT` and every α of this list, to plot the student's mean
   * true-class probability against T. Default `0.1,0.9` in quick (8 short runs), empty in full, where
   * the grid's ReffAKD runs supply the points (with the grid on this list is not used). Empty: no sweep.
   */
  temperatureSweepAlpha: number[];
  /**
   * Run spec §10.3's CI smoke run instead of the reproduction (`--set smoke=true`): its own preset
   * (MNIST, 6,000 train / 1,000 val / 2,000 test, 2 student epochs, CE, ReffAKD-AE (AE-D) and LS only,
   * no teacher, no grid), with spec §10.5's claim that every student beats 90 % test accuracy and
   * §10.3's < 3 min. Other `--set` values still override the preset.
   */
  smoke: boolean;
  /** Settings used when `grid` is off (or the starting point). */
  reffakdT: number;
  reffakdAlpha: number;
  kdT: number;
  kdAlpha: number;
  lsEpsilon: number;
  tfkdAlpha: number;
}

const QUICK: DistillExperimentConfig = {
  tier: 'mlp', dataset: 'fashion', teacherChannels: [...CNN_T_CHANNELS], augment: false,
  trainSize: 6000, valSize: 1000, testSize: 2000, studentHidden: [64], teacherHidden: [256, 256],
  teacherEpochs: 4, teacherMilestones: [3], studentEpochs: 5, studentMilestones: [3, 4],
  lr: 0.05, momentum: 0.9, weightDecay: 5e-4, batchSize: 128, aeEpochs: 3, aeInput: 'unit', aeTarget: 'unit', samplesPerClass: 40,
  klReduction: 'batchmean', shuffleSeed: 'per-seed', normalizeInputs: true,
  grid: false, gridOnly: false, gridEpochs: 8, gridT: [1, 4, 10, 20], gridAlpha: [0.1, 0.5, 0.9], gridEps: [0.05, 0.1, 0.2], gridTfkdAlpha: [0.1, 0.5, 0.9], extras: true,
  temperatureSweepAlpha: [0.1, 0.9], smoke: false,
  // fixed settings (no grid): the values the validation grid of a full run selected (README)
  reffakdT: 20, reffakdAlpha: 0.1, kdT: 1, kdAlpha: 0.1, lsEpsilon: 0.1, tfkdAlpha: 0.1,
};

const FULL: DistillExperimentConfig = {
  ...QUICK,
  trainSize: 54000, valSize: 6000, testSize: 10000, teacherHidden: [512, 512], teacherEpochs: 10, teacherMilestones: [3, 6, 8],
  studentEpochs: 15, studentMilestones: [5, 9, 12], grid: true, extras: false, temperatureSweepAlpha: [],
};

/**
 * Spec §10.3's CI smoke run: MNIST subset 6,000 train / 2,000 test (the first 2,000 test images, as every
 * quick run; validation: the last 1,000 training images), 2 epochs (lr 0.05 throughout), one seed in
 * quick mode, CE, ReffAKD-AE (AE-D) and LS with the quick run's fixed settings.
 */
const SMOKE: DistillExperimentConfig = {
  ...QUICK, smoke: true, dataset: 'mnist', trainSize: 6000, valSize: 1000, testSize: 2000, studentEpochs: 2, studentMilestones: [],
  extras: false, grid: false, temperatureSweepAlpha: [],
};

/** One student run's measurements. */
interface StudentRun extends TrainResult {
  method: MethodName;
  seed: number;
  /** Mean `softmax(z)[y]` of the final model on the test data. */
  testTrueClassProb: number;
  /** Confusion counts of the final model on the test data (`[true][predicted]`). */
  confusion: Matrix;
}

/** The test-data diagnostics of a trained student: mean true-class probability and confusion counts. */
function testDiagnostics(model: ModelAdapter, test: Dataset): { testTrueClassProb: number; confusion: Matrix } {
  const { logits } = evaluate(model, test);
  return { testTrueClassProb: meanTrueClassProb(logits, test.labels!, test.numClasses), confusion: confusionFromLogits(logits, test.labels!, test.numClasses) };
}

/** The §5.8 reference vectors, recomputed at run time; returns the largest error against its tolerance. */
export function checkTestVectors(): { checked: number; mismatches: string[]; maxAbsError: number } {
  const zsA = [[1.0, 2.0, 0.5, -1.0], [0.3, -0.2, 2.2, 0.0], [-0.5, 0.2, 0.1, 1.7]];
  const ztA = [[0.5, 3.0, 0.0, -0.5], [0.1, 0.4, 1.5, -0.3], [-1.0, 0.0, 0.3, 2.5]];
  const S = [[0.9, 0.6, 0.3, 0.2], [0.6, 0.85, 0.4, 0.3], [0.3, 0.4, 0.8, 0.5], [0.2, 0.3, 0.5, 0.95]];
  const values = tf.tidy(() => {
    const zs = tf.tensor2d(zsA);
    const zt = tf.tensor2d(ztA);
    const y = tf.tensor1d([1, 2, 3], 'int32');
    const P = matrixGenerator(S.map((r, i) => r.map((v, j) => v + (i === j ? 0.01 : 0))), { isLogits: true });
    const p = P.targets({ labels: y }, 1);
    const v = (t: tf.Tensor): number => t.dataSync()[0]!;
    const d = L.dkd(zs, zt, y, { alpha: 1, beta: 8, T: 4 });
    const dist1 = L.distTerms(zs, tf.softmax(zt) as tf.Tensor2D, 1);
    const out: Array<[string, number, number, number]> = [
      ['CE', v(L.crossEntropy(zs, y)), 0.408388, 1e-5],
      ['ReffAKD T4 KL batchmean', v(L.softTargetKL(zs, p, { T: 4, scaleT2: false })), 0.005783, 1e-5],
      ['ReffAKD T4 a.5 loss', v(L.reffakdLoss(zs, y, p, { T: 4, alpha: 0.5 })), 0.250462, 1e-5],
      ['ReffAKD T4 a.5 elementwise loss', v(L.reffakdLoss(zs, y, p, { T: 4, alpha: 0.5, reduction: 'elementwise-mean' })), 0.215761, 1e-5],
      ['ReffAKD T20 a.9 loss', v(L.reffakdLoss(zs, y, p, { T: 20, alpha: 0.9 })), 7.506184, 5e-5 * 7.506184],
      ['ReffAKD T20 a.9 elementwise loss', v(L.reffakdLoss(zs, y, p, { T: 20, alpha: 0.9, reduction: 'elementwise-mean' })), 1.907175, 5e-5 * 1.907175],
      ['ReffAKD T1 a.1 loss', v(L.reffakdLoss(zs, y, p, { T: 1, alpha: 0.1 })), 0.395464, 1e-5],
      ['KD T4 KL', v(L.hintonKD(zs, zt, { T: 4 })) / 16, 0.010065, 1e-5],
      ['KD T4 loss', 0.1 * v(L.crossEntropy(zs, y)) + 0.9 * v(L.hintonKD(zs, zt, { T: 4 })), 0.185781, 1e-5],
      ['DKD TCKD', v(d.tckd), 0.114907, 1e-5],
      ['DKD NCKD', v(d.nckd), 0.073952, 1e-5],
      ['DKD total', v(d.total), 0.706524, 1e-5],
      ['LS uniform-all', v(L.crossEntropy(zs, y, { labelSmoothing: 0.1 })), 0.552555, 1e-5],
      ['LS uniform-others', v(L.crossEntropy(zs, y, { labelSmoothing: 0.1, variant: 'uniform-others' })), 0.600610, 1e-5],
      ['Tf-KD_reg code form', v(L.tfkdRegLoss(zs, y, { tau: 20, alpha: 0.1 })), 0.378699, 1e-5],
      ['Tf-KD_reg batchmean form', v(L.tfkdRegLoss(zs, y, { tau: 20, alpha: 0.1, reduction: 'batchmean' })), 0.412149, 1e-5],
      ['LogitStd T²·KL', v(L.logitStdKD(zs, zt, { T: 2 })), 0.049516, 1e-5],
      ['DIST τ1 inter', v(dist1.inter), 0.020342, 1e-5],
      ['DIST τ1 intra', v(dist1.intra), 0.229602, 1e-5],
      ['DIST τ1 loss', v(L.dist(zs, zt)), 0.249944, 1e-5],
      ['DIST τ4 loss', v(L.dist(zs, zt, { tau: 4 })), 2.399852, 1e-5 * 2.399852 * 2],
    ];
    P.dispose();
    return out;
  });
  const mismatches = values.filter(([, got, want, tol]) => !(Math.abs(got - want) <= tol)).map(([n, got, want]) => `${n}: ${got} vs ${want}`);
  return { checked: values.length, mismatches, maxAbsError: Math.max(...values.map(([, got, want]) => Math.abs(got - want))) };
}

/** Feeds the issue's three bad inputs and counts those rejected with the expected error code. */
export function checkBadInputs(): { passed: number; total: number; messages: string[] } {
  const messages: string[] = [];
  const expectCode = (code: string, f: () => unknown): boolean => {
    try {
      f();
    } catch (e) {
      if (e instanceof TrellisError && e.code === code) {
        messages.push(`${code}: ${e.message}`);
        return true;
      }
      messages.push(`expected ${code}, got ${(e as Error).message}`);
      return false;
    }
    messages.push(`expected ${code}, nothing was thrown`);
    return false;
  };
  const teacher = mlp({ inputShape: [4], hidden: [3], numClasses: 5, seed: 0 });
  const student = mlp({ inputShape: [4], hidden: [3], numClasses: 3, seed: 0 });
  const results = [
    expectCode('SOFT_LABELS_NOT_NORMALIZED', () => matrixGenerator([[0.5, 0.6, 0], [0, 1, 0], [0, 0, 1]])),
    expectCode('MATRIX_SIZE_MISMATCH', () => validateSoftLabelMatrix([[1, 0], [0, 1]], 3)),
    expectCode('TEACHER_CLASS_MISMATCH', () => {
      const plugin = distillPlugin({ source: teacherGenerator(teacher), method: { kind: 'soft-kl', T: 4 }, ceWeight: 0.5, kdWeight: 0.5 });
      return plugin.setup!({ model: student } as never);
    }),
  ];
  teacher.dispose();
  student.dispose();
  return { passed: results.filter(Boolean).length, total: results.length, messages };
}

/** Inputs of {@link trainingFreeChecks}. */
interface TrainingFreeInputs {
  reffakdReport: ReffakdReport;
  /** The pixel-feature control's report (its S and top pairs). */
  pixelsReport: ReffakdReport;
  cfg: DistillExperimentConfig;
  seeds: number[];
  teacherMacs: number;
  C: number;
  /** The dataset: class names, expected pairs and the matrix-structure claim. */
  dataset: DistillDataset;
  aeName: string;
}

/**
 * The claims and report sections that need no student run: the soft-label matrix (diagonal, expected
 * pairs), the loss test vectors, the bad-input errors and, on the conv tier, the ConvAE ÷ CNN-T forward
 * MACs (spec §10.4). Shared by the full run and the grid-only stage.
 */
function trainingFreeChecks(o: TrainingFreeInputs): {
  claims: Claim[]; sections: ReportSection[]; vectors: ReturnType<typeof checkTestVectors>; bad: ReturnType<typeof checkBadInputs>; reffakdSummary: Record<string, unknown>;
} {
  const { reffakdReport: r, cfg, seeds, C, dataset } = o;
  const names = dataset.classNames;
  // rows of P with a diagonal argmax under the notebooks' fixed δ = 0.008 (report only)
  const fixedBoostAe = diagArgmaxCount(rowSoftmax(boostDiagonal(r.S, 0.008)));
  const fixedBoostPixels = diagArgmaxCount(rowSoftmax(boostDiagonal(o.pixelsReport.S, 0.008)));
  const pixelsTopPairs = o.pixelsReport.topPairs.map((p) => p.label);
  const vectors = checkTestVectors();
  const bad = checkBadInputs();
  const rowSumErr = Math.max(...r.P.map((row) => Math.abs(row.reduce((s, v) => s + v, 0) - 1)));
  const top5 = topPairs(r.S, 5, names);
  const expectedHits = expectedPairHits(top5, dataset);
  // figure 1's bar chart: the top 10 off-diagonal pairs of S, each marked if the spec expects it
  const top10 = topPairs(r.S, 10, names).map((p) => ({ pair: p.label, a: p.a, b: p.b, value: p.value, expected: expectedPairHits([p], dataset) === 1 }));
  const claims: Claim[] = [
    claim('matrix-diagonal', "'auto' boost: rows of P whose argmax is the true class", r.diagArgmaxCount, '>=', C, seeds, `δ = ${r.delta.toFixed(4)}; without boost ${r.diagArgmaxCountUnboosted}/${C}; max |row sum − 1| = ${rowSumErr.toExponential(1)}`),
    datasetClaim(dataset.structure, expectedHits, seeds, top5.map((p) => p.label).join(', ')),
    claim('loss-test-vectors', 'loss functions off the spec §5.8 test vectors (count of mismatches)', vectors.mismatches.length, '<=', 0, seeds, `${vectors.checked} values, max abs error ${vectors.maxAbsError.toExponential(1)}`),
    claim('bad-input-errors', 'bad inputs (unnormalised soft labels, wrong-size matrix, teacher with other classes) rejected with a clear error', bad.passed, '>=', bad.total, seeds),
  ];
  // Tier B's cost check (spec §10.4): a full ConvAE forward costs ≈ 1/22 of a CNN-T forward
  if (cfg.tier === 'conv') {
    const ratio = r.aeForwardMacs / o.teacherMacs;
    claims.push(claim('convae-teacher-forward-macs', 'ConvAE ÷ CNN-T teacher forward MACs per image: relative deviation from the spec\'s ≈ 1/22 (§10.4)', Math.abs(22 * ratio - 1), '<=', 0.1, seeds,
      `${r.aeForwardMacs.toLocaleString('en-US')} / ${o.teacherMacs.toLocaleString('en-US')} = 1/${(1 / ratio).toFixed(1)} (the paper's ResNet18 teacher: 1/434)`));
  }
  const sections: ReportSection[] = [
    {
      title: 'ReffAKD soft labels P = softmax(S + δI)',
      text: `Built from ${cfg.samplesPerClass} training images per class (sampling seed 42) encoded by the autoencoder (${o.aeName}, ${cfg.aeEpochs} epochs, input ${cfg.aeInput === 'standardized' ? 'standardised' : '[0, 1]'} pixels, target ${cfg.aeTarget}, final MSE ${r.aeMse[r.aeMse.length - 1]?.toFixed(5)}). 'auto' boost δ = ${r.delta.toFixed(4)}; ${r.diagArgmaxCount}/${C} rows put their maximum on the true class; mean P[c][c] = ${r.meanTrueClassProb.toFixed(4)}. Without a boost ${r.diagArgmaxCountUnboosted}/${C}; with the notebooks' fixed δ = 0.008: ${fixedBoostAe}/${C} (pixel control: ${fixedBoostPixels}/${C}).`,
      plot: heatmap(r.P, names, 'soft labels P'),
    },
    {
      title: 'Class-similarity matrix S (mean cosine of autoencoder codes)',
      text: `Top pairs: ${r.topPairs.map((p) => `${p.label} ${p.value.toFixed(3)}`).join('; ')}. Pixel-feature control top pairs: ${pixelsTopPairs.join(', ')}. The table is S; the heat map is S' = S + δI (δ = ${r.delta.toFixed(4)} on the diagonal), whose row-wise softmax is P.`,
      table: { columns: ['class', ...names], rows: r.S.map((row, a) => [names[a]!, ...row.map((v) => Number(v.toFixed(4)))]) },
      plot: heatmap(r.boosted, names, "class similarity S' = S + δI"),
    },
    {
      title: 'Top off-diagonal pairs of S',
      text: `The ten most similar class pairs of the autoencoder's S; orange: pairs spec §2.3 expects on ${dataset.title} (${expectedHits} of the top 5, the matrix-structure claim).`,
      table: { columns: ['pair', 'S[a][b]', 'expected by the spec'], rows: top10.map((p) => [p.pair, Number(p.value.toFixed(4)), p.expected ? 'yes' : 'no']) },
      plot: topPairsPlot(top10, `Top ${top10.length} off-diagonal pairs of S (${o.aeName})`),
    },
    {
      title: 'Loss test vectors and bad inputs',
      text: `${vectors.checked} reference values of spec §5.8 recomputed on ${tf.getBackend()}: ${vectors.mismatches.length ? `mismatches: ${vectors.mismatches.join('; ')}` : 'all within tolerance'} (max abs error ${vectors.maxAbsError.toExponential(2)}). Bad inputs: ${bad.messages.join(' | ')}`,
    },
  ];
  const reffakdSummary = {
    delta: r.delta, diagArgmaxCount: r.diagArgmaxCount, meanTrueClassProb: r.meanTrueClassProb, aeMse: r.aeMse,
    topPairs: r.topPairs.map((p) => ({ pair: p.label, value: p.value })), top10Pairs: top10, S: r.S, P: r.P,
    pixelsTopPairs,
    fixedBoost0008DiagArgmax: fixedBoostAe,
    fixedBoost0008DiagArgmaxPixels: fixedBoostPixels,
  };
  return { claims, sections, vectors, bad, reffakdSummary };
}

/** One α × T cell of the ReffAKD / KD validation grid (figure 3), with the ReffAKD student's test diagnostic (figure 5a). */
interface GridCell {
  method: 'ReffAKD-AE' | 'KD (teacher)';
  T: number;
  alpha: number;
  /** Best validation accuracy over the epochs, %. */
  valAcc: number;
  /** Mean true-class probability of the final model on the test data. */
  testTrueClassProb: number;
}

/** The report section of the validation grid, with figure 3 (the α × T heat-grid) when the grid has ReffAKD/KD cells. */
function gridSection(rows: Array<[string, string, number]>, cells: readonly GridCell[]): ReportSection {
  return {
    title: 'Tuning grid (validation accuracy, first seed)',
    ...(cells.length ? { text: 'The heat-grid shows the ReffAKD and KD cells (best validation accuracy over the epochs, %); LS and Tf-KD_reg are in the table.' } : {}),
    table: { columns: ['method', 'setting', 'best val acc (%)'], rows },
    ...(cells.length ? { plot: gridHeatPlot(cells.map(({ method, T, alpha, valAcc }) => ({ method, T, alpha, valAcc }))) } : {}),
  };
}

/** One point of figure 5 (a): a ReffAKD-AE student trained at (T, α) and its mean true-class probability on the test data. */
interface TemperaturePoint {
  T: number;
  alpha: number;
  /** Where the student comes from: a cell of the validation grid or the temperature sweep. */
  from: 'grid' | 'sweep';
  epochs: number;
  testTrueClassProb: number;
}

/**
 * Figure 5 (a): the ReffAKD students' mean true-class probability on the test data against T, beside
 * spec §3.1's prediction `softmax(T·S'[y])[y]` averaged over the test labels, and the CE students' value.
 */
function temperatureSection(points: readonly TemperaturePoint[], Sprime: Matrix, testLabels: ArrayLike<number>, ce: number | null): { section: ReportSection; rows: Array<Record<string, number | null>> } {
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

/** The mode's configuration with `options.params` overrides applied (exported for tests). */
export function readParams(options: ExperimentOptions): DistillExperimentConfig {
  // `smoke=true` selects the CI smoke run's preset; the other --set values override it as usual
  const smoke = options.params?.smoke === true || options.params?.smoke === 'true';
  const cfg = applyParams(smoke ? SMOKE : options.mode === 'full' ? FULL : QUICK, options.params, { technique: 'distill' });
  check(cfg.klReduction === 'batchmean' || cfg.klReduction === 'elementwise-mean', 'BAD_PARAM', `klReduction "${cfg.klReduction}" is not a KL reduction`,
    "use klReduction=batchmean or klReduction=elementwise-mean");
  check(cfg.aeInput === 'unit' || cfg.aeInput === 'standardized', 'BAD_PARAM', `aeInput "${cfg.aeInput}" is not an autoencoder input mode`, 'use aeInput=unit or aeInput=standardized');
  check(cfg.aeTarget === 'unit' || cfg.aeTarget === 'normalized', 'BAD_PARAM', `aeTarget "${cfg.aeTarget}" is not a reconstruction target`, 'use aeTarget=unit or aeTarget=normalized');
  check(cfg.dataset === 'fashion' || cfg.dataset === 'mnist', 'BAD_PARAM', `dataset "${cfg.dataset}" is not a dataset of the reproduction`,
    'use dataset=fashion (Fashion-MNIST, the default) or dataset=mnist (spec §10: MNIST and Fashion-MNIST)');
  check(cfg.tier === 'mlp' || cfg.tier === 'conv', 'BAD_PARAM', `tier "${cfg.tier}" is not a model tier`, 'use tier=mlp (Tier A) or tier=conv (Tier B: LeNet-5+BN, CNN-T, ConvAE)');
  check(!cfg.augment || cfg.tier === 'conv', 'BAD_PARAM', 'augment=true needs image inputs: flip/rotation augmentation is for the conv tier only', 'add --set tier=conv, or drop augment');
  check(cfg.shuffleSeed === 'per-seed' || cfg.shuffleSeed === 'fixed', 'BAD_PARAM', `shuffleSeed "${cfg.shuffleSeed}" is not a shuffle mode`, 'use shuffleSeed=per-seed or shuffleSeed=fixed');
  check(!cfg.gridOnly || cfg.grid, 'BAD_PARAM', 'gridOnly=true stops after the validation grid, but grid is off', 'add --set grid=true (on by default in --full)');
  return cfg;
}

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
  description: 'ReffAKD: teacher-free soft labels from a compact autoencoder vs CE, label smoothing, Tf-KD and teacher KD (Fashion-MNIST, or --set dataset=mnist; MLP tier, or --set tier=conv for LeNet-5+BN / CNN-T / ConvAE)',
  async run(options: ExperimentOptions): Promise<ExperimentResult> {
    const log = options.log ?? ((line: string) => console.log(line));
    const cfg = readParams(options);
    if (cfg.smoke) return runSmoke(cfg, options, log);
    const seeds = experimentSeeds(options);
    const C = 10;
    const ds = DISTILL_DATASETS[cfg.dataset];
    const names = ds.classNames;
    const record = await openDistillRecord(options, seeds, cfg, ds);
    const progress = options.progress ?? false;

    // ---- data: the datasets package's fixed split (last valSize training images validate); conv tier:
    // 28×28 zero-padded to 32×32; student/teacher inputs standardised with the training statistics
    const conv = cfg.tier === 'conv';
    const models = tierModels(cfg, C);
    const { trainAll, val, raw, data, stats } = loadExperimentData(cfg, ds);
    const test = data.test;
    const augment = (seed: number): TrainerPlugin[] => (cfg.augment ? [flipRotatePlugin({ seed, fill: stats ? -stats.mean / stats.std : 0 })] : []);
    log(`distill: ${ds.title} train ${trainAll.size}, val ${val.size}, test ${test.size}; tier ${cfg.tier} (student ${models.studentName}, teacher ${models.teacherName}, generator ${models.aeName}); inputs ${conv ? 'zero-padded 28→32, ' : ''}${stats ? `standardised (mean ${stats.mean.toFixed(4)}, std ${stats.std.toFixed(4)})` : 'raw [0, 1]'}${cfg.augment ? ', flip/±15° rotation augmentation' : ''}; backend ${tf.getBackend()}; seeds ${seeds.join(',')}`);

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

    // ---- tuning on validation (first seed, gridEpochs), or the fixed defaults
    const tuned: Tuned = configuredTuning(cfg);
    const gridRows: Array<[string, string, number]> = [];
    const gridCells: GridCell[] = [];
    const temperaturePoints: TemperaturePoint[] = [];
    const softKl = (source: SoftLabelGenerator, T: number, alpha: number): TrainerPlugin[] =>
      [distillPlugin({ source, method: { kind: 'soft-kl', T, reduction: cfg.klReduction }, ...L.weightsFromAlpha(alpha, 'alpha-weights-kd') })];
    if (cfg.grid) {
      const gridMilestones = [Math.round(cfg.gridEpochs * 0.5), Math.round(cfg.gridEpochs * 0.75)];
      const gridRun = async (label: string, setting: string, plugins: TrainerPlugin[]): Promise<{ bestVal: number; testTrueClassProb: number }> => {
        const model = models.student(seeds[0]!);
        const r = await trainModel(model, [...augment(seeds[0]!), ...plugins], seeds[0]!, cfg.gridEpochs, gridMilestones, cfg, data, `grid ${label} ${setting}`, progress);
        const testTrueClassProb = testDiagnostics(model, test).testTrueClassProb;
        model.dispose();
        gridRows.push([label, setting, pct(r.bestVal)]);
        log(`distill: grid ${label} ${setting}: best val ${pct(r.bestVal)}%`);
        return { bestVal: r.bestVal, testTrueClassProb };
      };
      for (const [key, source] of [['reffakd', reffakd], ['kd', teacher]] as const) {
        let best = -1;
        const method = key === 'kd' ? 'KD (teacher)' as const : 'ReffAKD-AE' as const;
        for (const T of cfg.gridT) {
          for (const alpha of cfg.gridAlpha) {
            const { bestVal: acc, testTrueClassProb } = await gridRun(method, `T=${T} α=${alpha}`, softKl(source, T, alpha));
            gridCells.push({ method, T, alpha, valAcc: pct(acc), testTrueClassProb });
            if (key === 'reffakd') temperaturePoints.push({ T, alpha, from: 'grid', epochs: cfg.gridEpochs, testTrueClassProb });
            if (acc > best) {
              best = acc;
              tuned[key] = { T, alpha };
            }
          }
        }
      }
      let best = -1;
      for (const e of cfg.gridEps) {
        const acc = (await gridRun('LS', `ε=${e}`, [labelSmoothingPlugin({ epsilon: e })])).bestVal;
        if (acc > best) [best, tuned.ls] = [acc, e];
      }
      best = -1;
      for (const a of cfg.gridTfkdAlpha) {
        const acc = (await gridRun('Tf-KD_reg', `α=${a}`, methodPlugins('Tf-KD_reg', sources, { ...tuned, tfkd: a }, C, seeds[0]!, cfg.klReduction))).bestVal;
        if (acc > best) [best, tuned.tfkd] = [acc, a];
      }
    } else if (cfg.temperatureSweepAlpha.length) {
      // figure 5 (a) without a grid: one extra ReffAKD-AE student per (T, α), first seed, the final runs' budget
      for (const alpha of cfg.temperatureSweepAlpha) {
        for (const T of cfg.gridT) {
          const model = models.student(seeds[0]!);
          await trainModel(model, [...augment(seeds[0]!), ...softKl(reffakd, T, alpha)], seeds[0]!, cfg.studentEpochs, cfg.studentMilestones, cfg, data, `sweep ReffAKD-AE T=${T} α=${alpha}`, progress);
          const { testTrueClassProb } = testDiagnostics(model, test);
          model.dispose();
          temperaturePoints.push({ T, alpha, from: 'sweep', epochs: cfg.studentEpochs, testTrueClassProb });
          log(`distill: temperature sweep ReffAKD-AE T=${T} α=${alpha}: mean test true-class probability ${testTrueClassProb.toFixed(4)}`);
        }
      }
    }
    log(`distill: settings ReffAKD T=${tuned.reffakd.T} α=${tuned.reffakd.alpha}; KD T=${tuned.kd.T} α=${tuned.kd.alpha}; LS ε=${tuned.ls}; Tf-KD α=${tuned.tfkd}`);
    const checks = trainingFreeChecks({ reffakdReport, pixelsReport: pixels.report()!, cfg, seeds, teacherMacs, C, dataset: ds, aeName: models.aeName });
    const teacherSummary = { name: models.teacherName, ...(conv ? { channels: cfg.teacherChannels } : { hidden: cfg.teacherHidden }), testAccuracy: teacherRun.finalTest, params: adapterParams(teacherModel), ms: teacherRun.ms };
    const disposeAll = (): void => {
      for (const g of [reffakd, pixels, random, ...shuffledBySeed.values(), teacher]) g.dispose();
      teacherModel.dispose();
    };
    if (cfg.gridOnly) {
      // stage 1 of a two-stage reproduction: the grid's table and selected settings, no final runs
      const claims = checks.claims;
      const temperature = temperaturePoints.length ? temperatureSection(temperaturePoints, reffakdReport.boosted, test.labels!, null) : null;
      const summary = {
        dataset: ds.id, mode: options.mode, tier: cfg.tier, gridOnly: true, seeds, backend: tf.getBackend(), tuned, config: cfg,
        teacher: teacherSummary, reffakd: checks.reffakdSummary, grid: gridRows, gridCells, testVectors: checks.vectors, badInputs: checks.bad,
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
      disposeAll();
      return { runDir: record.dir, summaryPath, reportPath, claims, summary };
    }

    // ---- final runs: every method, every seed, same split
    const runs: StudentRun[] = [];
    let studentMacs = 0;
    let studentParams = { all: 0, trainable: 0 };
    const methods = METHODS.filter((m) => cfg.extras || !EXTRAS.has(m));
    for (const seed of seeds) {
      for (const method of methods) {
        const model = models.student(seed);
        studentMacs = adapterMacs(model);
        studentParams = { all: adapterParams(model), trainable: adapterParams(model, 'trainable') };
        const r = await trainModel(model, [...augment(seed), ...methodPlugins(method, sources, tuned, C, seed, cfg.klReduction)], seed, cfg.studentEpochs, cfg.studentMilestones, cfg, data, `${method} seed ${seed}`, progress);
        const diag = testDiagnostics(model, test);
        model.dispose();
        runs.push({ method, seed, ...r, ...diag });
        await record.logMetrics({ kind: 'student', method, seed, ...r, testTrueClassProb: diag.testTrueClassProb });
        log(`distill: seed ${seed} ${method}: test ${pct(r.finalTest)}% (final), ${pct(r.bestValTest)}% (best-val epoch ${r.bestEpoch + 1})`);
      }
    }

    // ---- aggregate
    const by = (m: MethodName, f: (r: StudentRun) => number): number[] => seeds.map((s) => f(runs.find((r) => r.method === m && r.seed === s)!));
    const paired = (a: MethodName, b: MethodName): number[] => seeds.map((s, i) => 100 * (by(a, (r) => r.finalTest)[i]! - by(b, (r) => r.finalTest)[i]!));
    const accRows = methods.map((m) => {
      const fin = meanStd(by(m, (r) => 100 * r.finalTest));
      const sel = meanStd(by(m, (r) => 100 * r.bestValTest));
      const d = meanStd(paired(m, 'CE'));
      return { method: m, fin, sel, d, trueClassProb: meanStd(by(m, (r) => r.testTrueClassProb)).mean };
    });
    const diff = (a: MethodName, b: MethodName) => meanStd(paired(a, b));

    // ---- costs
    // with augmentation the shared teacher ran online for every KD run (grid and seeds): its labelling
    // cost is counted pro rata for one final student run (the same share a cached teacher pays once)
    const rawTeacherCost = teacher.cost();
    const onlineExamples = rawTeacherCost.labelMacs / rawTeacherCost.forwardMacsPerExample;
    const perRunExamples = trainAll.size * cfg.studentEpochs;
    const teacherCost: GeneratorCost = cfg.augment && onlineExamples > 0
      ? { ...rawTeacherCost, labelMacs: rawTeacherCost.forwardMacsPerExample * perRunExamples, labelMs: rawTeacherCost.labelMs * perRunExamples / onlineExamples }
      : rawTeacherCost;
    const aeCost: GeneratorCost = reffakd.cost();
    const studentRun = (m: MethodName) => ({ forwardMacsPerExample: studentMacs, examplesSeen: runs.find((r) => r.method === m)!.examplesSeen, ms: meanStd(by(m, (r) => r.ms)).mean });
    const reffakdPipe = pipelineCost(aeCost, studentRun('ReffAKD-AE'));
    const kdPipe = pipelineCost(teacherCost, studentRun('KD (teacher)'));
    const onlineTeacherMacs = teacherMacs * trainAll.size * cfg.studentEpochs;
    const genMacsRatio = totalCost(aeCost).macs / totalCost(teacherCost).macs;
    const genMsRatio = totalCost(aeCost).ms / totalCost(teacherCost).ms;
    const pipeMacsRatio = reffakdPipe.total.macs / kdPipe.total.macs;
    const pipeMsRatio = reffakdPipe.total.ms / kdPipe.total.ms;
    const costTable = {
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

    // ---- figure 4: student test accuracy vs the pipeline's cumulative MACs (stages in order)
    const epochMean = (m: MethodName, f: (e: EpochRecord) => number): number[] =>
      Array.from({ length: cfg.studentEpochs }, (_, e) => meanStd(by(m, (r) => f(r.epochs[e]!))).mean);
    const studentSeries = (m: MethodName) => ({ forwardMacsPerExample: studentMacs, examplesPerEpoch: data.train.size, epochMs: epochMean(m, (e) => e.trainMs), epochAccuracy: epochMean(m, (e) => e.test) });
    const noSource = { fitMacs: 0, fitMs: 0, labelMacs: 0, labelMs: 0 };
    const macsSeries: Array<CumulativeStage & { pipeline: string }> = [
      ...pipelineSeries(aeCost, studentSeries('ReffAKD-AE'), { fit: 'autoencoder training', label: 'soft labels (encoding + matrix)' }).map((r) => ({ pipeline: 'ReffAKD', ...r })),
      ...pipelineSeries(teacherCost, studentSeries('KD (teacher)'), { fit: 'teacher training', label: cfg.augment ? 'teacher logits (online, one student run)' : 'teacher logits (cached)' }).map((r) => ({ pipeline: 'KD', ...r })),
      ...pipelineSeries(noSource, studentSeries('CE'), { fit: '', label: '' }).map((r) => ({ pipeline: 'CE (no soft labels)', ...r })),
    ];
    const lastOf = (p: string) => macsSeries.filter((r) => r.pipeline === p).at(-1)!;
    const macsSection: ReportSection = {
      title: 'Accuracy vs cumulative MACs (ReffAKD and KD pipelines)',
      text: `Each pipeline's stages in order — soft-label source training (autoencoder / teacher), soft-label production (encoding + matrix / ${cfg.augment ? 'online teacher logits for one student run' : 'cached teacher logits'}), then the student's epochs — with analytic MACs (training = 3 × forward per example) and measured wall-clock (${tf.getBackend()}), accumulated. The dashed rules mark where the soft-label stages end; the points are the student's test accuracy after each epoch (mean over seeds ${seeds.join(', ')}). CE needs no soft labels and is shown for reference. End points: ReffAKD ${pct(lastOf('ReffAKD').accuracy!)}% at ${lastOf('ReffAKD').cumulativeMacs.toExponential(2)} MACs, KD ${pct(lastOf('KD').accuracy!)}% at ${lastOf('KD').cumulativeMacs.toExponential(2)} MACs, CE ${pct(lastOf('CE (no soft labels)').accuracy!)}% at ${lastOf('CE (no soft labels)').cumulativeMacs.toExponential(2)} MACs.`,
      table: {
        columns: ['pipeline', 'stage', 'stage MACs', 'cumulative MACs', 'cumulative time (s)', 'student test acc (%)'],
        rows: macsSeries.map((r) => [r.pipeline, r.stage, r.macs, r.cumulativeMacs, Number((r.cumulativeMs / 1000).toFixed(2)), r.accuracy === null ? null : pct(r.accuracy)]),
      },
      plot: macsCurvePlot(macsSeries),
    };

    // ---- figure 5: true-class probability vs T, and the students' confused pairs vs the matrix's top pairs
    const ceProb = accRows.find((r) => r.method === 'CE')!.trueClassProb;
    const temperature = temperaturePoints.length ? temperatureSection(temperaturePoints, reffakdReport.boosted, test.labels!, ceProb) : null;
    const sTop5 = topPairs(reffakdReport.S, 5, names);
    const confusionBy = (m: MethodName): Matrix => sumMatrices(seeds.map((s) => runs.find((r) => r.method === m && r.seed === s)!.confusion));
    const confusedRows = (['CE', 'KD (teacher)', 'ReffAKD-AE'] as const).map((m) => {
      const M = confusionBy(m);
      const top5: ConfusedPair[] = topConfusedPairs(M, 5, names);
      return { method: m, confusion: M, top5, overlap: pairOverlap(sTop5, top5) };
    });
    const reffConf = confusedRows.find((r) => r.method === 'ReffAKD-AE')!;
    const sKeys = new Set(sTop5.map((p) => `${p.a}-${p.b}`));
    const cKeys = new Set(reffConf.top5.map((p) => `${p.a}-${p.b}`));
    const scatter = topPairs(reffakdReport.S, (C * (C - 1)) / 2, names).map((p) => {
      const key = `${p.a}-${p.b}`;
      const kind = sKeys.has(key) && cKeys.has(key) ? 'top 5 of S and top 5 confused' : sKeys.has(key) ? 'top 5 of S' : cKeys.has(key) ? 'top 5 confused' : 'other';
      return { pair: p.label, similarity: p.value, confusions: reffConf.confusion[p.a]![p.b]! + reffConf.confusion[p.b]![p.a]!, kind };
    });
    const confusionSection: ReportSection = {
      title: 'Diagnostic: the students\' most confused pairs vs the matrix\'s top pairs',
      text: `Test confusions of each pair in both directions, summed over seeds ${seeds.join(', ')} (${test.size} test images per seed); ties broken by class index. Top 5 of S: ${sTop5.map((p) => p.label).join(', ')}. Overlap = how many of S's top 5 pairs are among the student's top 5 confused pairs: ReffAKD-AE ${reffConf.overlap}/5; the CE and KD students (no similarity matrix) show how much of that overlap the data alone gives. The plot places every pair of the ReffAKD-AE student by its similarity and its confusions. Reported as a diagnostic, not a claim.`,
      table: {
        columns: ['student', 'top 5 confused pairs (confusions)', "overlap with S's top 5"],
        rows: confusedRows.map((r) => [r.method, r.top5.map((p) => `${p.label} (${p.count})`).join(', '), r.overlap]),
      },
      plot: confusionVsSimilarityPlot(scatter, `Pairs: similarity S[a][b] vs test confusions of the ReffAKD-AE student`),
    };

    // ---- claims
    const dCe = diff('ReffAKD-AE', 'CE');
    const dKd = diff('KD (teacher)', 'ReffAKD-AE');
    const dShuf = diff('ReffAKD-AE', 'ReffAKD-shuffled');
    const dLs = diff('ReffAKD-AE', 'LS');
    const fmt = (m: { mean: number; std: number }) => `${m.mean.toFixed(2)} ± ${m.std.toFixed(2)} pp`;
    const claims: Claim[] = [
      datasetClaim(ds.reffakdGeCe, dCe.mean, seeds, fmt(dCe)),
      datasetClaim(ds.reffakdNearKd, dKd.mean, seeds, `${fmt(dKd)}; KD − CE ${fmt(diff('KD (teacher)', 'CE'))}`),
      claim('generator-macs-fraction', 'soft-label generator (AE training + encoding + matrix) MACs ÷ teacher (training + logits) MACs', genMacsRatio, '<=', 0.1, seeds,
        `${totalCost(aeCost).macs.toExponential(2)} vs ${totalCost(teacherCost).macs.toExponential(2)}`),
      claim('generator-time-fraction', 'soft-label generator measured wall-clock ÷ teacher measured wall-clock', genMsRatio, '<=', 0.1, seeds,
        `${(totalCost(aeCost).ms / 1000).toFixed(1)} s vs ${(totalCost(teacherCost).ms / 1000).toFixed(1)} s on ${tf.getBackend()}`),
      claim('pipeline-macs-fraction', 'whole ReffAKD pipeline ÷ whole KD pipeline (MACs, cached teacher logits)', pipeMacsRatio, '<=', 0.2, seeds, `measured wall-clock ratio ${pipeMsRatio.toFixed(3)}`),
      claim('shuffled-control', 'class structure matters beyond smoothing: ReffAKD-AE − shuffled-matrix control, pp', dShuf.mean, '>=', 0, seeds, fmt(dShuf)),
      datasetClaim(ds.ls, ds.ls.measure(dLs.mean), seeds, `${fmt(dLs)}; LS ε=${tuned.ls}`),
      ...checks.claims,
    ];

    // ---- summary and report
    const summary = {
      dataset: ds.id, mode: options.mode, tier: cfg.tier, seeds, backend: tf.getBackend(), tuned, config: cfg,
      inputs: { ...(stats ? { standardised: true, mean: stats.mean, std: stats.std } : { standardised: false }), padded28to32: conv, augment: cfg.augment },
      models: {
        student: { name: models.studentName, params: studentParams.all, trainableParams: studentParams.trainable, forwardMacs: studentMacs },
        teacher: { name: models.teacherName, params: teacherCost.params, trainableParams: adapterParams(teacherModel, 'trainable'), forwardMacs: teacherMacs },
        autoencoder: { name: models.aeName, params: aeCost.params, encoderForwardMacs: aeCost.forwardMacsPerExample, ...(conv ? { forwardMacs: reffakdReport.aeForwardMacs } : {}) },
      },
      teacher: teacherSummary,
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
        text: `Test accuracy (%) at the final epoch (primary) and at the epoch with the best validation accuracy, mean ± std over seeds ${seeds.join(', ')}; Δ vs CE is paired by seed. Same split, same seeds, same optimiser (SGD momentum 0.9, lr ${cfg.lr}, wd ${cfg.weightDecay}, ${cfg.studentEpochs} epochs); inputs ${conv ? 'zero-padded 28→32, ' : ''}${stats ? `standardised with the training pixels' mean ${stats.mean.toFixed(4)} and std ${stats.std.toFixed(4)} (recomputed; spec §10.1: ≈ ${ds.specStats.mean} / ${ds.specStats.std})` : 'raw [0, 1] pixels'} (students and teacher)${cfg.augment ? ', flip/±15° rotation on every training batch' : ''}. Settings: ReffAKD T=${tuned.reffakd.T} α=${tuned.reffakd.alpha} (the controls reuse them); KD T=${tuned.kd.T} α=${tuned.kd.alpha}; LS ε=${tuned.ls}; Tf-KD_reg α=${tuned.tfkd} (a=0.99, τ=20, multiplier C)${cfg.grid ? ', each chosen on validation' : ' (fixed, no grid in this mode)'}; soft-label KL reduction ${cfg.klReduction} (ReffAKD, controls and KD alike); shuffled control: ${cfg.shuffleSeed === 'per-seed' ? 'a new permutation per seed' : 'one permutation'}. Teacher ${models.teacherName} (${cfg.teacherEpochs} epochs): ${pct(teacherRun.finalTest)}%.`,
        table: {
          columns: ['method', 'test acc final (%)', 'std', 'test acc at best-val epoch (%)', 'std', 'Δ vs CE (pp)', 'std'],
          rows: accRows.map((r) => [r.method, r.fin.mean, r.fin.std, r.sel.mean, r.sel.std, r.d.mean, r.d.std]),
        },
        plot: accuracyPlot(accRows.map((r) => ({ method: r.method, mean: r.fin.mean, lo: r.fin.mean - r.fin.std, hi: r.fin.mean + r.fin.std }))),
      },
      {
        title: 'Cost of the soft labels and of the whole pipeline',
        text: `Analytic MACs (training = 3 × forward per example seen) and measured wall-clock on the ${tf.getBackend()} backend (training time excludes the per-epoch validation/test evaluation). ${cfg.augment ? 'With augmentation the teacher runs online (its labelling cost is shown for one student run).' : 'The teacher\'s logits are cached once (no augmentation); the online alternative is shown analytically.'}`,
        table: costTable,
      },
      macsSection,
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
    disposeAll();
    return { runDir: record.dir, summaryPath, reportPath, claims, summary };
  },
};

/** Default configurations of the two modes (for the README and tests). */
export const EXPERIMENT_CONFIGS: Record<'quick' | 'full' | 'smoke', DistillExperimentConfig> = { quick: QUICK, full: FULL, smoke: SMOKE };
