import * as tf from '@tensorflow/tfjs-core';
import { TrellisError, claim, mlp, type Claim, type ReportSection } from '@trellis-ml/core';
import type { DistillExperimentConfig } from './experimentConfig.js';
import { datasetClaim, expectedPairHits, type DistillDataset } from './experimentDatasets.js';
import { matrixGenerator, teacherGenerator, type ReffakdReport } from './generators.js';
import * as L from './losses.js';
import { distillPlugin } from './plugin.js';
import { heatmap, topPairsPlot } from './reportPlots.js';
import { boostDiagonal, diagArgmaxCount, rowSoftmax, topPairs, validateSoftLabelMatrix } from './similarity.js';

/**
 * The reproduction's checks that need no student run: the spec §5.8 loss test vectors, the bad-input
 * errors, and the soft-label matrix's claims and report sections (shared by the full run and the
 * grid-only stage).
 *
 * @module
 */

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
      return plugin.setup!({ model: student, baseLossActive: true } as never);
    }),
  ];
  teacher.dispose();
  student.dispose();
  return { passed: results.filter(Boolean).length, total: results.length, messages };
}

/** Inputs of {@link trainingFreeChecks}. */
export interface TrainingFreeInputs {
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
/** What {@link trainingFreeChecks} returns: its claims, report sections and the data behind them for `summary.json`. */
export interface TrainingFreeChecks {
  claims: Claim[];
  sections: ReportSection[];
  vectors: ReturnType<typeof checkTestVectors>;
  bad: ReturnType<typeof checkBadInputs>;
  reffakdSummary: Record<string, unknown>;
}

/**
 * The claims and report sections that need no student run: the soft-label matrix (diagonal, expected
 * pairs), the loss test vectors, the bad-input errors and, on the conv tier, the ConvAE ÷ CNN-T forward
 * MACs (spec §10.4). Shared by the full run and the grid-only stage.
 */
export function trainingFreeChecks(o: TrainingFreeInputs): TrainingFreeChecks {
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
