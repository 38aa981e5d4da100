/**
 * The plan of the `trellis retrain-cost` reproduction: its quick / full presets, the `--set` overrides
 * and their validation, and the grid of shift settings (clean control + family × severity) it runs.
 */
import { TrellisError, type ExperimentOptions } from '@trellis-ml/core';
import type { Severity } from '@trellis-ml/datasets';
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

/**
 * The run plan of a mode with its `--set` overrides (exported for tests).
 * @internal
 */
export function planFor(options: ExperimentOptions): Plan {
  const p = options.params ?? {};
  const list = <T extends string>(key: string, dflt: T[]): T[] => (p[key] !== undefined ? String(p[key]).split(',').map((s) => s.trim()) as T[] : dflt);
  const num = (key: string, dflt: number): number => {
    if (p[key] === undefined) return dflt;
    const v = Number(p[key]);
    if (!Number.isFinite(v)) throw new TrellisError('BAD_PARAM', `--set ${key}=${String(p[key])} is not a number`, `pass a number, e.g. --set ${key}=${dflt}`);
    return v;
  };
  const quick = options.mode === 'quick';
  const plan: Plan = quick
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
      pilot: defaultPilot(options.seed),
    };
  plan.datasets = list('datasets', plan.datasets);
  plan.models = list('models', plan.models);
  plan.families = list('families', plan.families);
  plan.severities = list('severities', plan.severities.map(String)).map(Number) as Severity[];
  plan.pretrainN = num('pretrainN', plan.pretrainN);
  if (p.pretrainOn !== undefined) plan.pretrainOn = String(p.pretrainOn) as Plan['pretrainOn'];
  plan.testN = num('testN', plan.testN);
  for (const m of ['mlp', 'cnn'] as const) {
    plan.retrainN[m] = num(`retrainN`, plan.retrainN[m]);
    plan.maxEpochs[m] = num(`maxEpochs`, plan.maxEpochs[m]);
    plan.pretrainEpochs[m] = num(`pretrainEpochs`, plan.pretrainEpochs[m]);
    if (p.seedsPerModel !== undefined) plan.seedsPerModel[m] = num('seedsPerModel', 1);
    plan.clusteringSubsample[m] = num('clusteringSubsample', plan.clusteringSubsample[m]);
  }
  plan.clusteringMaxIter = num('clusteringMaxIter', plan.clusteringMaxIter);
  plan.preIndexSubsample = num('preIndexSubsample', plan.preIndexSubsample);
  if (!(plan.preIndexSubsample >= 0 && plan.preIndexSubsample < 1)) {
    throw new TrellisError('BAD_PARAM', `--set preIndexSubsample=${plan.preIndexSubsample} is not a fraction in [0, 1)`, 'pass e.g. --set preIndexSubsample=0.1 (spec §13.2), or 0 to leave the subsample check out');
  }
  plan.tdpWatts = num('tdpWatts', plan.tdpWatts);
  if (p.cpuMethod !== undefined) {
    const m = String(p.cpuMethod);
    if (!(CPU_METHODS as readonly string[]).includes(m)) throw new TrellisError('BAD_PARAM', `--set cpuMethod=${m} is not a tracker CPU method`, `pass one of ${CPU_METHODS.join(', ')} (default process)`);
    plan.cpuMethod = m as Plan['cpuMethod'];
  }
  if (p.pilot !== undefined) {
    const on = String(p.pilot);
    if (on !== 'true' && on !== 'false') throw new TrellisError('BAD_PARAM', `--set pilot=${on} is not true or false`, 'pass --set pilot=true (spec §10.3 pilot before the grid) or --set pilot=false');
    plan.pilot = on === 'true' ? (plan.pilot ?? defaultPilot(options.seed)) : null;
  }
  if (plan.pilot) {
    plan.pilot.dataset = String(p.pilotDataset ?? plan.pilot.dataset) as DatasetName;
    plan.pilot.model = String(p.pilotModel ?? plan.pilot.model) as ReproModel;
    plan.pilot.seed = num('pilotSeed', plan.pilot.seed);
    if (!['mnist', 'fashion'].includes(plan.pilot.dataset)) throw new TrellisError('BAD_PARAM', `--set pilotDataset=${plan.pilot.dataset} is not a grid dataset`, 'pass --set pilotDataset=mnist or --set pilotDataset=fashion');
    if (!['mlp', 'cnn'].includes(plan.pilot.model)) throw new TrellisError('BAD_PARAM', `--set pilotModel=${plan.pilot.model} is not a grid model`, 'pass --set pilotModel=mlp or --set pilotModel=cnn');
  }
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
