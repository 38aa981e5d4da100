import * as tf from '@tensorflow/tfjs-core';
import { Trainer, check, evaluate, mlp, range, setLearningRate, type Dataset, type ModelAdapter, type TrainerContext, type TrainerPlugin } from '@trellis-ml/core';
import { pixelStats } from './autoencoder.js';
import type { DistillDataset } from './experimentDatasets.js';
import { toSquareImages, type Resize28 } from './imageResize.js';
import { cnnTeacher, lenet5Bn } from './models.js';

/**
 * The training recipe and data handling shared by the reproduction and its CI smoke run: SGD with
 * momentum, a multi-step schedule and PyTorch-style weight decay, per-epoch validation/test records,
 * the data split and input standardisation, and the tier's model builders.
 *
 * @module
 */

/** The recipe fields of a run's configuration (spec §10.3). */
export interface TrainingRecipe {
  lr: number;
  momentum: number;
  weightDecay: number;
  batchSize: number;
}

/** Multi-step learning-rate schedule (×0.2 after each milestone epoch) and PyTorch-style weight decay `g += wd·w` on every parameter. */
export function sgdRecipe(cfg: TrainingRecipe, milestones: number[]): TrainerPlugin {
  return {
    name: 'sgd-recipe',
    apiVersion: 1,
    onEpochStart: (ctx) => {
      const drops = milestones.filter((m) => ctx.epoch >= m).length;
      setLearningRate(ctx.optimizer, cfg.lr * 0.2 ** drops, 'the SGD recipe');
    },
    transformGradients: (grads, ctx) => {
      if (!(cfg.weightDecay > 0)) return grads;
      const vars = ctx.model.trainableVariables();
      const out: tf.NamedTensorMap = {};
      for (const [k, g] of Object.entries(grads)) out[k] = vars[k] ? tf.tidy(() => tf.add(g, tf.mul(vars[k]!, cfg.weightDecay))) : g;
      return out;
    },
  };
}

/** One epoch of a {@link trainModel} run: validation and test accuracy after it, and its training time (evaluation excluded). */
export interface EpochRecord {
  val: number;
  test: number;
  trainMs: number;
}

/**
 * Records validation and test accuracy after every epoch (validation-based selection; the test number
 * is only read at the selected epoch), each epoch's training time and the time spent evaluating, so
 * training time excludes it.
 */
function selection(val: Dataset, test: Dataset): TrainerPlugin & { epochs: EpochRecord[]; evalMs: number } {
  let epochStart = 0;
  const state = {
    name: 'selection',
    apiVersion: 1 as const,
    epochs: [] as EpochRecord[],
    evalMs: 0,
    onEpochStart: () => {
      epochStart = performance.now();
    },
    onEpochEnd: (ctx: TrainerContext) => {
      const t0 = performance.now();
      const trainMs = t0 - epochStart;
      state.epochs.push({ val: evaluate(ctx.model, val).accuracy, test: evaluate(ctx.model, test).accuracy, trainMs });
      state.evalMs += performance.now() - t0;
    },
  };
  return state;
}

/** What {@link trainModel} measured. */
export interface TrainResult {
  finalTest: number;
  finalVal: number;
  bestValTest: number;
  bestVal: number;
  bestEpoch: number;
  /** Training wall-clock, ms (evaluation excluded). */
  ms: number;
  examplesSeen: number;
  /** Per-epoch validation/test accuracy and training time. */
  epochs: EpochRecord[];
}

/** Trains `model` for `epochs` with the recipe and `plugins` (the model is left to the caller). */
export async function trainModel(
  model: ModelAdapter, plugins: TrainerPlugin[], seed: number, epochs: number, milestones: number[],
  cfg: TrainingRecipe, data: { train: Dataset; val: Dataset; test: Dataset }, label: string, progress: boolean,
): Promise<TrainResult> {
  const sel = selection(data.val, data.test);
  const trainer = new Trainer({
    model, seed, batchSize: cfg.batchSize, optimizer: tf.train.momentum(cfg.lr, cfg.momentum),
    plugins: [sgdRecipe(cfg, milestones), ...plugins, sel], progress, label,
  });
  const t0 = performance.now();
  await trainer.fit(data.train, { epochs });
  const ms = performance.now() - t0 - sel.evalMs;
  trainer.dispose();
  let best = 0;
  sel.epochs.forEach((e, i) => {
    if (e.val > sel.epochs[best]!.val) best = i;
  });
  const last = sel.epochs[sel.epochs.length - 1]!;
  return {
    finalTest: last.test, finalVal: last.val, bestValTest: sel.epochs[best]!.test, bestVal: sel.epochs[best]!.val, bestEpoch: best, ms,
    examplesSeen: epochs * data.train.size, epochs: sel.epochs,
  };
}

/**
 * `(x − mean) / std` applied to every input value (a new dataset; labels shared).
 */
export function standardize(d: Dataset, stats: { mean: number; std: number }): Dataset {
  check(stats.std > 0, 'BAD_OPTION', `input standard deviation ${stats.std} is not positive`, 'standardise with statistics of a non-constant training set');
  const x = new Float32Array(d.x.length);
  for (let i = 0; i < x.length; i++) x[i] = (d.x[i]! - stats.mean) / stats.std;
  return d.withInputs(x);
}

/**
 * How the run's images reach the models, for the log and the report: `''` on the MLP tier, else
 * `'zero-padded 28→32, '` or `'bilinear-resized 28→32 (torchvision Resize(32)), '`.
 */
export function inputLayoutText(cfg: Pick<DataAndTier, 'tier' | 'resize28'>): string {
  if (cfg.tier !== 'conv') return '';
  return cfg.resize28 === 'bilinear' ? 'bilinear-resized 28→32 (torchvision Resize(32)), ' : 'zero-padded 28→32, ';
}

/** A fraction as a percentage rounded to 2 decimals. */
export const pct = (x: number): number => Number((100 * x).toFixed(2));

/** The fields of a run's configuration that choose its data and models. */
export interface DataAndTier {
  tier: 'mlp' | 'conv';
  /** Conv tier: 28→32 by zero padding (`'pad'`, the default when absent) or bilinear resizing. */
  resize28?: Resize28;
  trainSize: number;
  valSize: number;
  testSize: number;
  normalizeInputs: boolean;
  studentHidden: number[];
  teacherHidden: number[];
  teacherChannels: number[];
}

/** The tier's model builders and their names in the report. */
export interface TierModels {
  student: (seed: number) => ModelAdapter;
  teacher: (seed: number) => ModelAdapter;
  studentName: string;
  teacherName: string;
  aeName: string;
}

/** The student / teacher builders of the tier (spec §10.2). */
export function tierModels(cfg: DataAndTier, C: number): TierModels {
  if (cfg.tier === 'conv') {
    return {
      student: (seed) => lenet5Bn({ numClasses: C, seed }),
      teacher: (seed) => cnnTeacher({ numClasses: C, seed, channels: cfg.teacherChannels }),
      studentName: 'LeNet-5+BN (32×32)', teacherName: `CNN-T ${cfg.teacherChannels.join('-')} (32×32)`, aeName: 'ConvAE 12-24-48, k4/s2 (32×32)',
    };
  }
  return {
    student: (seed) => mlp({ inputShape: [784], hidden: cfg.studentHidden, numClasses: C, seed }),
    teacher: (seed) => mlp({ inputShape: [784], hidden: cfg.teacherHidden, numClasses: C, seed }),
    studentName: `MLP 784-${cfg.studentHidden.join('-')}-${C}`, teacherName: `MLP 784-${cfg.teacherHidden.join('-')}-${C}`, aeName: 'AE-D 784-128-32',
  };
}

/** The data of a run: the split, the generators' [0, 1] view and the students' (standardised) view. */
export interface ExperimentData {
  /** The first `trainSize` training images (28×28, [0, 1]). */
  trainAll: Dataset;
  /** The last `valSize` training images. */
  val: Dataset;
  /** The first `testSize` test images. */
  testRaw: Dataset;
  /** Train / val / test in the tier's layout, [0, 1] pixels (what the generators see). */
  raw: { train: Dataset; val: Dataset; test: Dataset };
  /** Train / val / test as the students and the teacher see them (standardised unless `normalizeInputs` is off). */
  data: { train: Dataset; val: Dataset; test: Dataset };
  /** The training pixels' mean / std (null without standardisation). */
  stats: { mean: number; std: number } | null;
}

/**
 * Loads the dataset's fixed split: the last `valSize` training images are validation (Fashion-MNIST is
 * interleaved by class: the last 600 per class; MNIST in file order: spec §10.1's last 6,000), the first
 * `trainSize` of the rest train, the first `testSize` test images test. The conv tier brings the
 * [0, 1] images to 32×32 once, by `resize28` (centred zero padding by default, or bilinear resizing);
 * the students' inputs are then standardised with the training split's statistics of the *28×28*
 * images in both modes (so the padding takes the background's standardised value, and both modes
 * share one normalisation).
 */
export function loadExperimentData(cfg: DataAndTier, ds: DistillDataset): ExperimentData {
  const fullTrain = ds.load({ split: 'train', flatten: true });
  const trainAll = fullTrain.subset(range(Math.min(cfg.trainSize, fullTrain.size - cfg.valSize)));
  const val = fullTrain.subset(Int32Array.from({ length: cfg.valSize }, (_, i) => fullTrain.size - cfg.valSize + i));
  const testRaw = ds.load({ split: 'test', flatten: true, limit: cfg.testSize });
  const layout = (d: Dataset): Dataset => (cfg.tier === 'conv' ? toSquareImages(d, 32, cfg.resize28 ?? 'pad') : d);
  const raw = { train: layout(trainAll), val: layout(val), test: layout(testRaw) };
  const stats = cfg.normalizeInputs ? pixelStats(trainAll.x) : null;
  const data = stats
    ? { train: standardize(raw.train, stats), val: standardize(raw.val, stats), test: standardize(raw.test, stats) }
    : raw;
  return { trainAll, val, testRaw, raw, data, stats };
}
