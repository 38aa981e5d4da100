/**
 * The plan of the `trellis retrain-cost` reproduction: its quick / full presets, the `--set` overrides
 * and their validation, and the grid of shift settings (clean control + family × severity) it runs.
 */
import { applyParams, type ExperimentOptions, type ParamRule, type ParamSchema } from '@trellis-ml/core';
import { DATASET_NAME_ALIASES, type Severity } from '@trellis-ml/datasets';
import type { ReproModel } from './models.js';

/** A dataset of the reproduction grid. @internal */
export type DatasetName = 'mnist' | 'fashion';
/** A shift family of the reproduction grid. @internal */
export type Family = 'gauss' | 'salt_pepper' | 'blur';

/** What a `trellis retrain-cost` run does (sizes per model). @internal */
export interface Plan {
  datasets: DatasetName[];
  models: ReproModel[];
  families: Family[];
  severities: Severity[];
  /** Pretrain on the clean retraining subset (the lab's protocol, §7.4; default) or on `pretrainN` images of the full train split. */
  pretrainOn: 'subset' | 'full';
  pretrainN: number;
  pretrainEpochs: Record<ReproModel, number>;
  retrainN: Record<ReproModel, number>;
  testN: number;
  maxEpochs: Record<ReproModel, number>;
  seedsPerModel: Record<ReproModel, number>;
  /**
   * Spec §13.2 ("with subsampling to 10 % of the data, ρ should drop by ≤ 0.02"): PreIndex is also computed on
   * this fraction of each cell's paired clean / shifted rows (one seeded draw per cell, the same rows at every
   * setting), after the timing of the indices; 0 leaves it out (`--set preIndexSubsample=…`).
   */
  preIndexSubsample: number;
  /** Rows the PreIndex clustering uses: spec §4.2 default "all samples up to 10,000" (MLP), §10.2 allows 5,000 for the CNN's 6,272-wide embedding. */
  clusteringSubsample: Record<ReproModel, number>;
  /**
   * Lloyd iterations of PreIndex's k-means from the clean class centroids (`clustering.maxIter`): 300, the
   * reference's scikit-learn default; 0 assigns each shifted embedding to its nearest clean class centroid.
   */
  clusteringMaxIter: number;
  tdpWatts: number;
  /** The tracker's CPU method (`--set cpuMethod=…`): `'process'` (default), `'load'`, `'constant'`, `'auto'` (RAPL if readable) or `'rapl'`. */
  cpuMethod: (typeof CPU_METHODS)[number];
  /**
   * Spec §10.3's pilot: before the grid, retrain one model on one dataset (its own seed, not one of the
   * grid's) at every family × severity, and drop from the whole grid every intensity that run censored
   * (cap or plateau cutoff). `null` runs no pilot (quick mode; `--set pilot=false`).
   */
  pilot: PilotPlan | null;
}

/** Which cell the §10.3 pilot retrains: `--set pilotDataset=…`, `pilotModel=…`, `pilotSeed=…`. @internal */
export interface PilotPlan {
  dataset: DatasetName;
  model: ReproModel;
  seed: number;
}

/** Spec §10.3's "one model, one dataset": MNIST / MLP, with a seed that is not one of the grid's. */
const defaultPilot = (runSeed: number): PilotPlan => ({ dataset: 'mnist', model: 'mlp', seed: runSeed + 100 });

/** A grid setting: the clean control or a family at a severity (`level` = the intensity, e.g. σ). @internal */
export interface GridSetting {
  family: Family | 'control';
  severity: number;
  level: number;
}

/** The tracker CPU methods `--set cpuMethod=…` accepts. */
const CPU_METHODS = ['process', 'load', 'constant', 'auto', 'rapl'] as const;
/** The intensity of each family at severities 1–5 (σ for gauss and blur, the amount for salt_pepper; the corruptions of `@trellis-ml/datasets`). */
const LEVELS: Record<Family, number[]> = { gauss: [0.1, 0.2, 0.35, 0.5, 0.8], salt_pepper: [0.02, 0.05, 0.1, 0.2, 0.3], blur: [0.5, 0.8, 1.2, 1.6, 2.0] };

/** What each `--set` key of the reproduction accepts (checked before anything loads or trains). */
const PARAM_RULES: Record<string, ParamRule> = {
  datasets: { choices: ['mnist', 'fashion'], aliases: DATASET_NAME_ALIASES, minLength: 1 }, models: { choices: ['mlp', 'cnn'], minLength: 1 },
  families: { choices: Object.keys(LEVELS), minLength: 1 }, severities: { integer: true, min: 1, max: 5, minLength: 1 },
  pretrainOn: { choices: ['subset', 'full'] }, pretrainN: { integer: true, min: 1 }, testN: { integer: true, min: 1 },
  retrainN: { type: 'number', integer: true, min: 1 }, maxEpochs: { type: 'number', integer: true, min: 1 },
  pretrainEpochs: { type: 'number', integer: true, min: 1 }, seedsPerModel: { type: 'number', integer: true, min: 1 },
  clusteringSubsample: { type: 'number', integer: true, min: 1 }, clusteringMaxIter: { integer: true, min: 0 },
  preIndexSubsample: { min: 0, below: 1 }, tdpWatts: { above: 0 }, cpuMethod: { choices: CPU_METHODS },
  pilotDataset: { type: 'string', choices: ['mnist', 'fashion'], aliases: DATASET_NAME_ALIASES }, pilotModel: { type: 'string', choices: ['mlp', 'cnn'] },
  // the seeds core's 32-bit Rng tells apart (4294967297 would run as 1)
  pilotSeed: { type: 'number', integer: true, min: 0, max: 4294967295 },
};

/** A mode's preset plan (the pilot's seed follows the run's). */
function presetPlan(mode: ExperimentOptions['mode'], seed: number): Plan {
  return mode === 'quick'
    ? {
      datasets: ['mnist'], models: ['mlp'], families: ['blur'], severities: [3, 4, 5], pretrainOn: 'subset', pretrainN: 10000,
      pretrainEpochs: { mlp: 4, cnn: 2 }, retrainN: { mlp: 3000, cnn: 2000 }, testN: 1000, maxEpochs: { mlp: 8, cnn: 5 },
      seedsPerModel: { mlp: 1, cnn: 1 }, clusteringSubsample: { mlp: 3000, cnn: 3000 }, preIndexSubsample: 0.1, clusteringMaxIter: 300, tdpWatts: 85, cpuMethod: 'process',
      pilot: null,
    }
    : {
      datasets: ['mnist', 'fashion'], models: ['mlp', 'cnn'], families: ['gauss', 'salt_pepper', 'blur'], severities: [1, 2, 3, 4, 5],
      pretrainOn: 'subset', pretrainN: 60000, pretrainEpochs: { mlp: 5, cnn: 3 }, retrainN: { mlp: 10000, cnn: 5000 }, testN: 2000, maxEpochs: { mlp: 30, cnn: 15 },
      seedsPerModel: { mlp: 2, cnn: 1 }, clusteringSubsample: { mlp: 10000, cnn: 5000 }, preIndexSubsample: 0.1, clusteringMaxIter: 300, tdpWatts: 85, cpuMethod: 'process',
      pilot: defaultPilot(seed),
    };
}

/**
 * The `--set` view of a plan: its grid and shared settings; the per-model keys (`retrainN`, …) and the
 * pilot's keys start unset (they override both models / the pilot only when given).
 */
function flatDefaults(plan: Plan) {
  const unset = undefined as number | undefined;
  return {
    datasets: plan.datasets, models: plan.models, families: plan.families, severities: plan.severities, pretrainOn: plan.pretrainOn,
    pretrainN: plan.pretrainN, testN: plan.testN, clusteringMaxIter: plan.clusteringMaxIter, preIndexSubsample: plan.preIndexSubsample,
    tdpWatts: plan.tdpWatts, cpuMethod: plan.cpuMethod, pilot: plan.pilot !== null,
    retrainN: unset, maxEpochs: unset, pretrainEpochs: unset, seedsPerModel: unset, clusteringSubsample: unset,
    pilotDataset: undefined as DatasetName | undefined, pilotModel: undefined as ReproModel | undefined, pilotSeed: unset,
  };
}

/** The reproduction's `--set` keys in a mode: defaults (per-model keys unset) and what each accepts. */
export function retrainCostParameters(mode: ExperimentOptions['mode']): ParamSchema {
  const plan = presetPlan(mode, 1);
  const perModel = (v: Record<ReproModel, number>): string => `mlp ${v.mlp}, cnn ${v.cnn}`;
  return {
    defaults: {
      ...flatDefaults(plan), retrainN: perModel(plan.retrainN), maxEpochs: perModel(plan.maxEpochs), pretrainEpochs: perModel(plan.pretrainEpochs),
      seedsPerModel: perModel(plan.seedsPerModel), clusteringSubsample: perModel(plan.clusteringSubsample),
      pilotDataset: plan.pilot?.dataset, pilotModel: plan.pilot?.model, pilotSeed: plan.pilot ? 'seed + 100' : undefined,
    },
    rules: PARAM_RULES,
  };
}

/**
 * The run plan of a mode with its `--set` overrides (exported for tests): `retrainN`, `maxEpochs`,
 * `pretrainEpochs`, `seedsPerModel` and `clusteringSubsample` set both models; `pilot=true|false` and
 * `pilotDataset` / `pilotModel` / `pilotSeed` choose spec §10.3's pilot. Unknown keys, unknown datasets,
 * models or families and out-of-range values are `UNKNOWN_PARAM` / `BAD_PARAM` errors.
 * @internal
 */
export function planFor(options: ExperimentOptions): Plan {
  const p = options.params ?? {};
  const plan = presetPlan(options.mode, options.seed);
  const o = applyParams(flatDefaults(plan), p, { technique: 'retrain-cost', rules: PARAM_RULES });
  Object.assign(plan, {
    datasets: o.datasets, models: o.models, families: o.families, severities: o.severities, pretrainOn: o.pretrainOn, pretrainN: o.pretrainN,
    testN: o.testN, clusteringMaxIter: o.clusteringMaxIter, preIndexSubsample: o.preIndexSubsample, tdpWatts: o.tdpWatts, cpuMethod: o.cpuMethod,
  });
  for (const key of ['retrainN', 'maxEpochs', 'pretrainEpochs', 'seedsPerModel', 'clusteringSubsample'] as const) {
    const v = o[key];
    if (v !== undefined) plan[key] = { mlp: v, cnn: v };
  }
  plan.pilot = o.pilot ? (plan.pilot ?? defaultPilot(options.seed)) : null;
  if (plan.pilot) plan.pilot = { dataset: o.pilotDataset ?? plan.pilot.dataset, model: o.pilotModel ?? plan.pilot.model, seed: o.pilotSeed ?? plan.pilot.seed };
  return plan;
}

/**
 * The grid's settings: the clean control, then every family × severity of the plan except the ones the
 * pilot dropped (keys `family-severity`, e.g. `gauss-5`). @internal
 */
export function gridSettings(plan: Pick<Plan, 'families' | 'severities'>, dropped: ReadonlySet<string> = new Set()): GridSetting[] {
  const settings: GridSetting[] = [{ family: 'control', severity: 0, level: 0 }];
  for (const f of plan.families) {
    for (const s of plan.severities) if (!dropped.has(`${f}-${s}`)) settings.push({ family: f, severity: s, level: LEVELS[f][s - 1]! });
  }
  return settings;
}
