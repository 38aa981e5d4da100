/**
 * One cell of the `trellis retrain-cost` grid and the retraining protocol (spec §10.3–10.4): the grid's
 * datasets, the seeded subsets and pretrained model of a dataset × model × seed cell, the shifted data of a
 * setting, retraining a copy of the deployed model to the target, and the pilot that uses all of these.
 */
import * as tf from '@tensorflow/tfjs-core';
import { evaluate, Rng, Trainer, type Dataset } from '@trellis-ml/core';
import { corrupt, loadFashionMnist, loadMnist, type Severity } from '@trellis-ml/datasets';
import { gridSettings, type DatasetName, type Family, type PilotPlan, type Plan } from './experimentPlan.js';
import { stratifiedRows } from './inputs.js';
import { buildReproModel, copyWeights, type ReproModel } from './models.js';
import { retrainToTarget } from './retrain.js';
import type { EnergyTracker } from './tracker.js';

/** One retraining run of the pilot. @internal */
export interface PilotRun {
  family: Family;
  severity: number;
  level: number;
  steps: number;
  censored: boolean;
  stopReason: string;
}

/** What the pilot found: its runs, the intensities they censored (`family-severity`) and its wall time (s). @internal */
export interface PilotResult {
  runs: PilotRun[];
  dropped: string[];
  wallS: number;
}

/** The pilot as the run reports it: the pilot cell and what it found. @internal */
export type PilotOutcome = PilotPlan & PilotResult;

/** Maps [0, 1] inputs to [−1, 1], as the grid's models see them. */
function normalize(d: Dataset): Dataset {
  const x = new Float32Array(d.x.length);
  for (let i = 0; i < x.length; i++) x[i] = (d.x[i]! - 0.5) / 0.5;
  return d.withInputs(x);
}

/** The full train or test split of a grid dataset (Fashion-MNIST: the package's deterministic split). @internal */
export function loadSplit(name: DatasetName, split: 'train' | 'test'): Dataset {
  return name === 'mnist' ? loadMnist({ split }) : loadFashionMnist({ split });
}

/** One dataset × model × seed cell of the plan, ready for its shifts: the pretrained model and its subsets. @internal */
export interface PreparedCell {
  /** The model pretrained as the plan says (dispose it when done). */
  model: ReturnType<typeof buildReproModel>;
  /** The clean retraining subset in [0, 1] (shift this) and its normalised copy (the indices' "old" data). */
  oldRaw: Dataset;
  oldData: Dataset;
  /** The clean test subset in [0, 1]. */
  testRaw: Dataset;
  /** Clean test accuracy and the retraining target (clean − 2 points MNIST, − 3 points Fashion). */
  aClean: number;
  target: number;
}

/**
 * Builds one cell exactly as `trellis retrain-cost` does: the seeded class-stratified retraining and test
 * subsets, the model pretrained on the plan's data, its clean accuracy and target (exported for the
 * bench probes, so they measure the grid's own model). @internal
 */
export async function prepareCell(fullTrain: Dataset, fullTest: Dataset, dsName: DatasetName, kind: ReproModel, seed: number, plan: Plan,
  log: (s: string) => void = () => {}): Promise<PreparedCell> {
  const oldRaw = fullTrain.subset(stratifiedRows(fullTrain.labels, fullTrain.size, plan.retrainN[kind], Rng.derive(seed, 'retrain-subset').nextUint32()));
  const pre = plan.pretrainOn === 'subset' ? normalize(oldRaw)
    : normalize(fullTrain.subset(stratifiedRows(fullTrain.labels, fullTrain.size, plan.pretrainN, Rng.derive(seed, 'pretrain').nextUint32())));
  const model = await pretrain(kind, pre, plan.pretrainEpochs[kind], seed, log);
  const testRaw = fullTest.subset(stratifiedRows(fullTest.labels, fullTest.size, plan.testN, Rng.derive(seed, 'test-subset').nextUint32()));
  const aClean = evaluate(model, normalize(testRaw)).accuracy;
  return { model, oldRaw, oldData: normalize(oldRaw), testRaw, aClean, target: aClean - (dsName === 'mnist' ? 0.02 : 0.03) };
}

/**
 * A shift of the plan's grid on a [0, 1] subset, 8-bit rounded and normalised as the experiment feeds it
 * (`seed` is the noise draw: the run seed for the retraining subset, {@link testSubsetSeed} for the test subset). @internal
 */
export function shiftedData(raw: Dataset, family: Family | 'control', severity: number, seed: number): Dataset {
  return normalize(corrupt(raw, family === 'control' ? 'clean' : family, severity as Severity, seed, { quantize: 'round' }));
}

/**
 * The noise seed of a run's test-subset shift: run seed + 1000, wrapped into 0..2^32 − 1 (`corrupt` refuses
 * larger seeds). Below 2^32 − 1000 that is seed + 1000; above, it is the seed core's 32-bit generator ran
 * seed + 1000 as (it keeps the low 32 bits), so no run's data changes. @internal
 */
export function testSubsetSeed(runSeed: number): number {
  return (runSeed + 1000) % 2 ** 32;
}

/** Retrains a copy of the deployed `model` on `newData` until `testData` reaches `target`: the protocol of spec §10.4, shared by the grid and the pilot. @internal */
export async function measureRetraining(model: ReturnType<typeof buildReproModel>, kind: ReproModel, newData: Dataset, testData: Dataset, target: number, plan: Plan, seed: number, tracker?: EnergyTracker) {
  const copy = buildReproModel(kind, [...newData.shape], 10, seed);
  copyWeights(model, copy);
  try {
    return await retrainToTarget(copy, newData, testData, {
      target, maxEpochs: plan.maxEpochs[kind], evalEvery: 0.25, cutoffs: [{ accDiff: 0.005, evals: 8 }, { accDiff: 0.01, evals: 12 }],
      batchSize: 32, seed, tracker,
    });
  } finally {
    copy.dispose();
  }
}

/**
 * Spec §10.3's pilot: pretrains the pilot cell as the grid would, retrains it at every family × severity of
 * the plan, and returns the runs and the intensities they censored (to drop from the grid). @internal
 */
export async function runPilot(plan: Plan, pilot: PilotPlan, log: (s: string) => void = () => {}): Promise<PilotResult> {
  const t0 = Date.now();
  log(`retrain-cost: pilot (spec §10.3) on ${pilot.dataset}/${pilot.model}, seed ${pilot.seed}`);
  const cell = await prepareCell(loadSplit(pilot.dataset, 'train'), loadSplit(pilot.dataset, 'test'), pilot.dataset, pilot.model, pilot.seed, plan, log);
  const runs: PilotRun[] = [];
  try {
    for (const st of gridSettings(plan).filter((g) => g.family !== 'control')) {
      const newData = shiftedData(cell.oldRaw, st.family, st.severity, pilot.seed);
      const testData = shiftedData(cell.testRaw, st.family, st.severity, testSubsetSeed(pilot.seed));
      const cost = await measureRetraining(cell.model, pilot.model, newData, testData, cell.target, plan, pilot.seed);
      runs.push({ family: st.family as Family, severity: st.severity, level: st.level, steps: cost.steps, censored: cost.censored, stopReason: cost.stopReason });
      log(`  pilot ${st.family}-${st.severity}: ${cost.steps} steps (${cost.stopReason})${cost.censored ? ' — censored, dropped from the grid' : ''}`);
    }
  } finally {
    cell.model.dispose();
  }
  return { runs, dropped: runs.filter((r) => r.censored).map((r) => `${r.family}-${r.severity}`), wallS: (Date.now() - t0) / 1000 };
}

/** Trains a fresh seeded repro model on `train` (Adam 1e-3, batch 32) for `epochs`: the deployed model of a cell. */
async function pretrain(kind: ReproModel, train: Dataset, epochs: number, seed: number, log: (s: string) => void) {
  const model = buildReproModel(kind, [...train.shape], train.numClasses, seed);
  const trainer = new Trainer({ model, seed, batchSize: 32, optimizer: tf.train.adam(1e-3) });
  const t0 = Date.now();
  await trainer.fit(train, { epochs });
  trainer.dispose();
  log(`  pretrained ${kind} on ${train.size} images × ${epochs} epochs in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return model;
}
