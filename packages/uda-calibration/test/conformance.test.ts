import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Trainer, type LayersModelAdapter } from '@trellis-ml/core';
import { conformanceData, describePluginConformance, type ConformanceOptions } from '@trellis-ml/testkit';
import { afterAll, beforeAll } from 'vitest';
import { certaintyDistillation, computeSourceStats, cotta, eta, memo, mlpBn, onlinePredictions, pseudoLabel, shotIm, tent, type SourceStats } from '../src/index.js';

beforeAll(() => tf.setBackend('cpu'));

// Test-time adaptation runs on an unlabeled target stream with no base loss (the plugins never read
// labels), on a model with BatchNorm: the study's mlp-bn (fc1 → bn1 → relu1 → logits).
const bnModel = (seed: number) => mlpBn({ inputShape: [8], hidden: [16], numClasses: 3, seed });
const target = () => conformanceData().withoutLabels();
const tta: ConformanceOptions = { model: bnModel, data: target, baseLoss: 'none' };

// The frozen source teacher of DEC and the source statistics are the caller's (the plugin never
// disposes the teacher): trained briefly once, before the checks.
let teacher: LayersModelAdapter;
let stats: SourceStats;
beforeAll(async () => {
  teacher = bnModel(101);
  const t = new Trainer({ model: teacher, seed: 1, batchSize: 16, optimizer: tf.train.adam(0.01) });
  await t.fit(conformanceData(5), { epochs: 2 });
  t.dispose();
  stats = computeSourceStats(teacher, conformanceData(6));
});
afterAll(() => teacher.dispose());

describePluginConformance('uda-calibration: tent', () => tent(), tta);

describePluginConformance('uda-calibration: eta (defaults)', () => eta(), tta);
// A threshold of ln K keeps (almost) every sample, so the selected-entropy update runs on each step.
describePluginConformance('uda-calibration: eta (every sample reliable, no redundancy filter)', () => eta({ e0Factor: 1, redundancyEps: null }), tta);
// EATA: the diagonal Fisher is computed in wrapModel from clean source inputs (labels unused).
describePluginConformance('uda-calibration: eta with Fisher (EATA)', () =>
  eta({ e0Factor: 1, redundancyEps: null, fisher: { data: conformanceData(8), alpha: 50, samples: 32, batchSize: 16 } }), tta);

// PL: with threshold 0.9 an untrained fixture keeps few samples (no update then); 0.4 keeps most of them.
describePluginConformance('uda-calibration: pseudoLabel', () => pseudoLabel(), tta);
describePluginConformance('uda-calibration: pseudoLabel (threshold 0.4)', () => pseudoLabel({ threshold: 0.4 }), tta);

describePluginConformance('uda-calibration: shotIm', () => shotIm(), tta);
describePluginConformance('uda-calibration: shotIm (diversity 0.5)', () => shotIm({ diversityWeight: 0.5, head: 'logits' }), tta);
// Full SHOT: per-epoch pseudo-labels (clustered in fit's epoch start), and per-batch ones with SHOT's learning-rate decay.
describePluginConformance('uda-calibration: shotIm (full SHOT, β 0.3, per-epoch pseudo-labels)', () => shotIm({ beta: 0.3 }), tta);
describePluginConformance('uda-calibration: shotIm (full SHOT, per-batch pseudo-labels, SHOT decay)', () =>
  shotIm({ beta: 0.3, pseudoLabels: 'batch', lrSchedule: 'shot-decay' }), { ...tta, optimizer: () => tf.train.momentum(0.01, 0.9) });

// DEC: the fixture model is the student (a separate copy from the teacher).
describePluginConformance('uda-calibration: certaintyDistillation', () => certaintyDistillation({ teacher, stats }), tta);
describePluginConformance('uda-calibration: certaintyDistillation (bce-reference, entropy-only, bn-affine)', () =>
  certaintyDistillation({ teacher, stats, divergence: 'bce-reference', temperature: { mode: 'entropy-only' }, trainable: 'bn-affine' }), tta);
describePluginConformance('uda-calibration: certaintyDistillation (target-batch teacher, head only)', () =>
  certaintyDistillation({ teacher, stats, teacherNormalization: 'target-batch', trainable: 'head' }), tta);

// CoTTA (teacher and anchor copied at setup; augmentation averaging on every batch with threshold 1) and MEMO
// (one episode per batch: adapt, predict, reset) on the fixture's feature vectors: noise-only augmentation.
const noise = { maxRotationDegrees: 0, maxShiftPixels: 0, noiseStd: 0.3, clipRange: null };
// Both augment each batch's inputs on the host (seeded rotation, shift and noise), so their steps read the batch.
const hostAugmentation = { allowBatchReads: 'augments each batch on the host (seeded rotation, shift, noise)' };
describePluginConformance('uda-calibration: cotta', () => cotta({ augmentation: noise, augThreshold: 1, restoreProb: 0.05 }), { ...tta, ...hostAugmentation });
describePluginConformance('uda-calibration: memo', () => memo({ augmentation: noise, nAug: 4 }), { ...tta, ...hostAugmentation, optimizer: () => tf.train.sgd(0.01) });

// onlinePredictions records beside an adaptation method (the online protocol), and in plain
// supervised training.
describePluginConformance('uda-calibration: onlinePredictions beside tent', () => onlinePredictions(), { ...tta, companions: () => [tent()] });
describePluginConformance('uda-calibration: onlinePredictions (supervised)', () => onlinePredictions());
