import { applyParams, check, type ExperimentOptions, type ParamRule, type ParamSchema } from '@trellis-ml/core';
import { DATASET_NAME_ALIASES } from '@trellis-ml/datasets';
import type { DistillDatasetName } from './experimentDatasets.js';
import { RESIZE28_MODES, type Resize28 } from './imageResize.js';
import type * as L from './losses.js';
import { CNN_T_CHANNELS } from './models.js';

/**
 * The settings of a `trellis distill` run: the configuration's fields, the quick / full / smoke presets
 * and the reading and validation of `--set key=value` overrides.
 *
 * @module
 */

/** Sizes and budgets of one reproduction (quick or full); every field can be overridden with `params`. */
export interface DistillExperimentConfig {
  /**
   * Model tier (spec §10.2). `'mlp'` (Tier A, the default): MLP student 784-64-10, MLP teacher, dense
   * AE-D generator on flat 28×28 images. `'conv'` (Tier B, the paper-faithful conv setting): images
   * brought to 32×32 (`resize28`), LeNet-5+BN student, CNN-T teacher, the paper's ConvAE generator;
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
  /**
   * Conv tier only: how the 28×28 images become 32×32 (`--set resize28=bilinear`). `'pad'` (default, spec
   * §10.1/§10.2 "28→32 zero-padded", and what every earlier conv run used): centred zero padding.
   * `'bilinear'`: the notebooks' torchvision `Resize(32)` (spec §9, half-pixel centres). Either way it is
   * applied once to the [0, 1] images, before the standardisation (`Resize` → `Normalize`), and every
   * model and generator sees the result. `'bilinear'` on the MLP tier is a `BAD_PARAM` error.
   */
  resize28: Resize28;
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
  tier: 'mlp', dataset: 'fashion', resize28: 'pad', teacherChannels: [...CNN_T_CHANNELS], augment: false,
  trainSize: 6000, valSize: 1000, testSize: 2000, studentHidden: [64], teacherHidden: [256, 256],
  teacherEpochs: 4, teacherMilestones: [3], studentEpochs: 5, studentMilestones: [3, 4],
  lr: 0.05, momentum: 0.9, weightDecay: 5e-4, batchSize: 128, aeEpochs: 3, aeInput: 'unit', aeTarget: 'unit', samplesPerClass: 40,
  klReduction: 'batchmean', shuffleSeed: 'per-seed', normalizeInputs: true,
  grid: false, gridOnly: false, gridEpochs: 8, gridT: [1, 4, 10, 20], gridAlpha: [0.1, 0.5, 0.9], gridEps: [0.05, 0.1, 0.2], gridTfkdAlpha: [0.1, 0.5, 0.9], extras: true,
  temperatureSweepAlpha: [0.1, 0.9], smoke: false,
  // fixed settings (no grid): the values the validation grid of a full run selected (EXPERIMENTS.md)
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

/** Default configurations of the two modes (for the README and tests). */
export const EXPERIMENT_CONFIGS: Record<'quick' | 'full' | 'smoke', DistillExperimentConfig> = { quick: QUICK, full: FULL, smoke: SMOKE };

const whole = { integer: true, min: 1 } as const;
const wholeList = { integer: true, min: 1, minLength: 1 } as const;
const unit = { min: 0, max: 1 } as const;

/** What each `--set` key accepts (the checks that involve two keys follow in {@link readParams}). */
const PARAM_RULES: Record<string, ParamRule> = {
  tier: { choices: ['mlp', 'conv'], hint: 'mlp is Tier A; conv is Tier B: LeNet-5+BN, CNN-T, ConvAE' },
  dataset: { choices: ['fashion', 'mnist'], aliases: DATASET_NAME_ALIASES, hint: 'spec §10: Fashion-MNIST, the default, and MNIST' },
  resize28: { choices: RESIZE28_MODES, hint: "pad: zero padding, spec §10.1, the default; bilinear: the notebooks' torchvision Resize(32)" },
  klReduction: { choices: ['batchmean', 'elementwise-mean'] }, aeInput: { choices: ['unit', 'standardized'] },
  aeTarget: { choices: ['unit', 'normalized'] }, shuffleSeed: { choices: ['per-seed', 'fixed'] },
  teacherChannels: wholeList, studentHidden: wholeList, teacherHidden: wholeList, trainSize: whole, valSize: whole, testSize: whole,
  teacherEpochs: whole, studentEpochs: whole, aeEpochs: whole, gridEpochs: whole, batchSize: whole,
  teacherMilestones: { integer: true, min: 1 }, studentMilestones: { integer: true, min: 1 },
  lr: { above: 0 }, momentum: { min: 0, below: 1 }, weightDecay: { min: 0 }, samplesPerClass: { integer: true, min: 2 },
  gridT: { above: 0, minLength: 1 }, gridAlpha: { ...unit, minLength: 1 }, gridEps: { min: 0, below: 1, minLength: 1 }, gridTfkdAlpha: { ...unit, minLength: 1 },
  temperatureSweepAlpha: unit, reffakdT: { above: 0 }, kdT: { above: 0 }, reffakdAlpha: unit, kdAlpha: unit, tfkdAlpha: unit, lsEpsilon: { min: 0, below: 1 },
};

/** The `--set` keys of a mode: the preset's fields and the ranges of the numeric ones. */
export function distillParameters(mode: ExperimentOptions['mode']): ParamSchema {
  return { defaults: mode === 'full' ? FULL : QUICK, rules: PARAM_RULES };
}

/** The mode's configuration with `options.params` overrides applied (exported for tests). */
export function readParams(options: ExperimentOptions): DistillExperimentConfig {
  // `smoke=true` selects the CI smoke run's preset; the other --set values override it as usual
  const smoke = options.params?.smoke === true || options.params?.smoke === 'true';
  const cfg = applyParams(smoke ? SMOKE : options.mode === 'full' ? FULL : QUICK, options.params, { technique: 'distill', rules: PARAM_RULES });
  check(cfg.resize28 === 'pad' || cfg.tier === 'conv', 'BAD_PARAM', `resize28=${cfg.resize28} resizes the conv tier's 28×28 images to 32×32, but the MLP tier reads the flat 28×28 pixels`,
    'add --set tier=conv, or drop resize28');
  check(!cfg.augment || cfg.tier === 'conv', 'BAD_PARAM', 'augment=true needs image inputs: flip/rotation augmentation is for the conv tier only', 'add --set tier=conv, or drop augment');
  check(!cfg.gridOnly || cfg.grid, 'BAD_PARAM', 'gridOnly=true stops after the validation grid, but grid is off', 'add --set grid=true (on by default in --full)');
  return cfg;
}
