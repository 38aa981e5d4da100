/**
 * The grid runner of the `trellis retrain-cost` reproduction: for every dataset × model × seed cell it
 * pretrains the deployed model, and for every shift setting computes PreIndex, ARM, RESQUE and the
 * baselines from one forward pass, then retrains a copy to the target while the tracker measures the
 * energy (spec §10.4). Each setting becomes one {@link GridRow}; the tracker's logs go to an energy log.
 */
import { appendFile, readFile } from 'node:fs/promises';
import { Rng, TrellisError, type Dataset, type RunRecord, type StudyJournal } from '@trellis-ml/core';
import { armFromRepresentations } from './arm.js';
import { accuracyOf, bbsdKS, gaussianOtdd, hScore, leep, logme, mmd2 } from './baselines.js';
import { loadSplit, measureRetraining, prepareCell, shiftedData, testSubsetSeed, type PreparedCell } from './experimentCell.js';
import type { DatasetName, Family, GridSetting, Plan } from './experimentPlan.js';
import { buildReproModel, REPRO_MODEL_INFO, type ReproModel, type ReproModelInfo } from './models.js';
import { preIndex, preIndexAgainst, preIndexReference, type PreIndexOptions, type PreIndexReference } from './preindex.js';
import { classSums, resqueFromSums } from './resque.js';
import { extractRepresentations, resolveTaps } from './taps.js';
import { EnergyTracker, type EnergyReport, type EnergySample } from './tracker.js';
import type { EnergyInputs } from './energyAudit.js';

/** Index names correlated with cost; for LogME, LEEP and H-score the negated score (lower = harder). @internal */
export const INDEX_NAMES = ['preIndex', 'preIndexP', 'invAri', 'arm', 'armPooled', 'armBinCdf', 'resque', 'accuracyDrop', 'mmd2', 'bbsd', 'negLogme', 'negLeep', 'negHScore', 'otdd'] as const;
/** One of {@link INDEX_NAMES}. @internal */
export type IndexName = (typeof INDEX_NAMES)[number];

/** One grid setting's measurements (one retraining run). @internal */
export interface GridRow {
  dataset: DatasetName; model: ReproModel; seed: number; family: Family | 'control'; severity: number; level: number;
  indices: Record<IndexName, number>;
  distances: Record<string, Record<string, number>>;
  ari: Record<string, number>;
  steps: number; epochs: number; epochsFractional: number; censored: boolean; stopReason: string;
  initialAcc: number; finalAcc: number; target: number;
  kWh: number; kgCO2e: number; kWhAll: number; cpuS: number; wallS: number; indexMs: number; gradNormSum: number; paramChange: number;
  /** MMD² permutation p-value (100 permutations, alibi-detect's default test; drift at p < 0.05). */
  mmdPValue: number;
  /** ARM at every construction × W mode × bin count (`perUnitAverage/value-sort/32` is `indices.arm`). */
  armVariants: Record<string, number>;
  /** PreIndex's wall time (ms) with every component (all distances, five k-means runs), and the training passes' seconds (the tracker's training segments). */
  preIndexMs: number; trainS: number;
  /**
   * PreIndex (corrected) computed with `components: 'index'` (the primary distance and the two k-means runs its
   * value needs, not every diagnostic) and that call's wall time: the index's own cost (spec §13.2).
   */
  preIndexOnly: number; preIndexOnlyMs: number;
  /** PreIndex (corrected) on the cell's `preIndexSubsample` rows and its wall time (NaN when left out). */
  preIndexSub: number; preIndexSubMs: number;
  /**
   * PreIndex (corrected) against the cell's clean-side reference ({@link preIndexAgainst}) and that call's wall time;
   * `preIndexReferenceMs` is the reference's one-time cost (the same in every row of a cell).
   */
  preIndexPerShift: number; preIndexPerShiftMs: number; preIndexReferenceMs: number;
  /** Training kWh of each epoch (the tracker's per-epoch values). */
  kWhPerEpoch: number[];
  /** Whether the tracker metered (RAPL) or modelled this run's energy, and its CPU method. */
  energyKind: 'metered' | 'modelled'; cpuMethod: string;
}

/** What the bad-input check found: how many of the three expected `TrellisError`s were thrown, and their messages. @internal */
export interface BadInputCheck {
  count: number;
  messages: string[];
}

/** Feeds PreIndex three bad inputs (different shapes, unpaired data, an unknown layer) and collects the expected `TrellisError`s. @internal */
export async function checkBadInputs(model: ReturnType<typeof buildReproModel>, old: Dataset): Promise<BadInputCheck> {
  const messages: string[] = [];
  const expect = async (code: string, f: () => Promise<unknown>): Promise<void> => {
    try {
      await f();
    } catch (e) {
      if (e instanceof TrellisError && e.code === code) messages.push(`${code}: ${e.message}`);
    }
  };
  const small = old.take(40);
  await expect('SHAPE_MISMATCH', () => preIndex(model, small, small.reshape([small.exampleSize])));
  await expect('UNPAIRED_DATA', () => preIndex(model, small, old.subset(Int32Array.from({ length: 40 }, (_, i) => 40 + i))));
  await expect('UNKNOWN_LAYER', () => preIndex(model, small, small, { layers: ['no_such_layer'] }));
  return { count: messages.length, messages };
}

/** One line of the energy log (`energy-samples.jsonl`): a run's tracker inputs, per-interval samples and report. @internal */
export interface EnergyLogLine {
  run: string;
  inputs: EnergyInputs;
  samples: EnergySample[];
  report: EnergyReport;
}

/** Reads the energy log the grid appended to, one {@link EnergyLogLine} per retraining run. @internal */
export async function readEnergyLog(path: string): Promise<EnergyLogLine[]> {
  return (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as EnergyLogLine);
}

/** What the grid measured: one row per retraining run, the bad-input check (of the first cell) and the cells it skipped. @internal */
export interface GridOutcome {
  rows: GridRow[];
  badInputs: BadInputCheck | null;
  skipped: string[];
}

/** Where the grid writes: the run record (metrics) and the energy log, and the progress log. @internal */
export interface GridSinks {
  record: RunRecord;
  energyLog: string;
  log: (s: string) => void;
  /** The run's journal: each dataset × model × seed cell is a unit (its energy samples go to `energyLog`, an append-only file of the journal). */
  journal: StudyJournal;
}

/**
 * Runs the grid: every dataset × model × the model's seeds, each at every setting. A cell that throws (e.g. a
 * CNN on a backend without convolution gradients) is recorded in `skipped` and the others go on. @internal
 */
export async function runGrid(plan: Plan, seeds: readonly number[], settings: readonly GridSetting[], sinks: GridSinks): Promise<GridOutcome> {
  const { log } = sinks;
  const rows: GridRow[] = [];
  let badInputs: BadInputCheck | null = null;
  const skipped: string[] = [];
  for (const dsName of plan.datasets) {
    log(`retrain-cost: loading ${dsName}`);
    const fullTrain = loadSplit(dsName, 'train');
    const fullTest = loadSplit(dsName, 'test');
    for (const kind of plan.models) {
      const modelSeeds = seeds.slice(0, plan.seedsPerModel[kind]);
      for (const seed of modelSeeds) {
        // each cell is a unit of the run's journal: an interrupted grid resumes after the last finished cell
        const checked = await sinks.journal.collect(`${dsName}/${kind} seed ${seed}`, { rows, skipped }, async () => {
          let found: BadInputCheck | null = null;
          let cellModel: { dispose(): void } | undefined;
          try {
            const cell = await prepareCell(fullTrain, fullTest, dsName, kind, seed, plan, log);
            const { model, oldData, aClean, target } = cell;
            cellModel = model;
            log(`  ${dsName}/${kind} seed ${seed}: clean test accuracy ${(aClean * 100).toFixed(2)}%, target ${(target * 100).toFixed(2)}%`);
            if (!badInputs) found = await checkBadInputs(model, oldData);
            const info = REPRO_MODEL_INFO[kind];
            const { layers, postActivation } = resolveTaps(model, 'auto', 10);
            // clean-side representations for ARM/RESQUE/baselines (computed once)
            const exOld = extractRepresentations(model, oldData, { layers: [...layers, info.penultimate], probs: true, batchSize: 64 });
            // spec §13.2: the same paired rows of every setting, drawn once per cell
            const subRows = plan.preIndexSubsample > 0
              ? Rng.derive(seed, 'preindex-subsample', dsName, kind).sample(oldData.size, Math.max(20, Math.round(plan.preIndexSubsample * oldData.size))).sort()
              : null;
            const piOptions = preIndexOptionsFor(plan, kind, seed, layers, info);
            // the clean side of the index's value, built once per cell and reused by every setting (reported, not claimed)
            const piReference = await preIndexReference(model, oldData, { ...piOptions, components: 'index' });
            const ctx: CellContext = { dsName, kind, seed, plan, cell, info, layers, postActivation, exOld, subRows, piOptions, piReference, ...sinks };
            for (const st of settings) await measureSetting(ctx, st, rows);
          } catch (e) {
            // e.g. a CNN on a backend without convolution gradients: record and go on with the other cells
            const msg = `${dsName}/${kind}/s${seed}: ${(e as Error).message}`;
            skipped.push(msg);
            log(`  SKIPPED ${msg}`);
          } finally {
            cellModel?.dispose(); // a skipped cell frees its source model too
          }
          return found;
        });
        badInputs ??= checked;
      }
    }
  }
  return { rows, badInputs, skipped };
}

/** One pretrained cell with what every setting of it shares: the taps, the clean-side representations and the subsample rows. */
interface CellContext extends GridSinks {
  dsName: DatasetName;
  kind: ReproModel;
  seed: number;
  plan: Plan;
  cell: PreparedCell;
  info: ReproModelInfo;
  layers: ReturnType<typeof resolveTaps>['layers'];
  postActivation: ReturnType<typeof resolveTaps>['postActivation'];
  exOld: ReturnType<typeof extractRepresentations>;
  subRows: Int32Array | null;
  piOptions: PreIndexOptions;
  /** The clean side of PreIndex's value (`components: 'index'`), built once for the cell. */
  piReference: PreIndexReference;
}

/** The grid's PreIndex options for a cell (every setting of it uses them). */
function preIndexOptionsFor(plan: Plan, kind: ReproModel, seed: number, layers: string[], info: ReproModelInfo): PreIndexOptions {
  return { layers, embeddingLayer: info.embedding, batchSize: 64, combine: { baselineCorrect: true }, clustering: { subsample: plan.clusteringSubsample[kind], seed, maxIter: plan.clusteringMaxIter } };
}

/**
 * One setting of a cell: shifts the retraining and test subsets, computes the indices and baselines (timed as
 * "index ms"), the ARM variants and the subsample PreIndex (after the timing), retrains a copy of the model to
 * the target under the tracker, logs the energy and metrics, and appends the run's row to `rows`.
 */
async function measureSetting(ctx: CellContext, st: GridSetting, rows: GridRow[]): Promise<void> {
  const { dsName, kind, seed, plan, info, layers, postActivation, exOld, subRows, piOptions, piReference, record, energyLog, log } = ctx;
  const { model, oldRaw, oldData, testRaw, target } = ctx.cell;
  const ti = Date.now();
  const newData = shiftedData(oldRaw, st.family, st.severity, seed);
  const testData = shiftedData(testRaw, st.family, st.severity, testSubsetSeed(seed));
  const pi = await preIndex(model, oldData, newData, piOptions);
  const exNew = extractRepresentations(model, newData, { layers: [...layers, info.penultimate], probs: true, batchSize: 64 });
  const armA = armFromRepresentations(exOld.perLayer, exOld.n, exNew.perLayer, exNew.n, layers, postActivation, { bins: 32 });
  const armB = armFromRepresentations(exOld.perLayer, exOld.n, exNew.perLayer, exNew.n, layers, postActivation, { bins: 32, construction: 'pooled' });
  const armC = armFromRepresentations(exOld.perLayer, exOld.n, exNew.perLayer, exNew.n, layers, postActivation, { bins: 32, wasserstein: 'bin-cdf' });
  const emb = exOld.perLayer[info.embedding]!;
  const embNew = exNew.perLayer[info.embedding]!;
  const res = resqueFromSums(classSums(emb.values, oldData.labels!, emb.width, 10), classSums(embNew.values, newData.labels!, embNew.width, 10), 10, emb.width);
  const fo = exOld.perLayer[info.penultimate]!;
  const fn = exNew.perLayer[info.penultimate]!;
  const mmd = mmd2(fo.values, fn.values, fo.width, { permutations: 100, seed, maxSamples: 300 });
  const indices: Record<IndexName, number> = {
    preIndex: pi.corrected, preIndexP: pi.p, invAri: pi.invAri, arm: armA.value, armPooled: armB.value, armBinCdf: armC.value, resque: res.value,
    // same as accuracyDrop(model, old, new), from the softmax outputs this pass already computed
    accuracyDrop: accuracyOf(exOld.probs!, oldData.labels!, 10) - accuracyOf(exNew.probs!, newData.labels!, 10),
    mmd2: mmd.mmd2, // the permutations draw after the subsample, so the statistic is the same as without the test
    bbsd: bbsdKS(exOld.probs!, exNew.probs!, 10).maxStat,
    negLogme: -logme(fn.values, newData.labels!, fn.width),
    negLeep: -leep(exNew.probs!, 10, newData.labels!),
    negHScore: -hScore(fn.values, newData.labels!, fn.width),
    otdd: gaussianOtdd(fo.values, oldData.labels!, fn.values, newData.labels!, fo.width, { diagonal: true }),
  };
  const indexMs = Date.now() - ti;
  // every ARM variant of spec §10.5, for the report only (after the timing, so "index ms" stays the cost of the indices and baselines)
  const armVariants: Record<string, number> = {};
  for (const construction of ['perUnitAverage', 'pooled'] as const) {
    for (const wasserstein of ['value-sort', 'bin-cdf'] as const) {
      for (const bins of [16, 32, 64]) {
        armVariants[`${construction}/${wasserstein}/${bins}`] = armFromRepresentations(exOld.perLayer, exOld.n, exNew.perLayer, exNew.n, layers, postActivation, { bins, construction, wasserstein }).value;
      }
    }
  }
  // PreIndex's own cost (spec §13.2): only what its value needs (the primary distance, two k-means runs), same value
  const valueOnly = { ...piOptions, components: 'index' } as const;
  const piOnly = await preIndex(model, oldData, newData, valueOnly);
  // the same value against the cell's clean-side reference: what each further shift costs once it is built
  const piShift = await preIndexAgainst(piReference, newData);
  const piSub = subRows ? await preIndex(model, oldData.subset(subRows), newData.subset(subRows), valueOnly) : null;
  // retrain a copy of the deployed model and measure the cost
  const tracker = new EnergyTracker({ timer: false, cpu: { method: plan.cpuMethod, tdpWatts: plan.tdpWatts } });
  const cost = await measureRetraining(model, kind, newData, testData, target, plan, seed, tracker);
  const runId = `${dsName}/${kind}/s${seed}/${st.family}-${st.severity}`;
  await appendFile(energyLog, JSON.stringify({ run: runId, inputs: tracker.inputs(), samples: tracker.log, report: cost.energyIncludingEval }) + '\n');
  const row: GridRow = {
    dataset: dsName, model: kind, seed, family: st.family, severity: st.severity, level: st.level, indices,
    distances: Object.fromEntries(Object.entries(pi.distances).map(([b, m]) => [b, { ...m }])), ari: { ...pi.ari },
    steps: cost.steps, epochs: cost.epochs, epochsFractional: cost.epochsFractional, censored: cost.censored, stopReason: cost.stopReason,
    initialAcc: cost.initialAcc, finalAcc: cost.finalAcc, target, kWh: cost.energy.kWh, kgCO2e: cost.energy.kgCO2e, kWhAll: cost.energyIncludingEval.kWh,
    cpuS: cost.energy.cpuS, wallS: cost.wallS, indexMs,
    gradNormSum: cost.gradNormPerEpoch.reduce((s, v) => s + (Number.isFinite(v) ? v : 0), 0), paramChange: cost.paramChangePerEpoch[cost.paramChangePerEpoch.length - 1] ?? 0,
    mmdPValue: mmd.pValue ?? NaN, armVariants, preIndexMs: pi.wallMs, preIndexOnlyMs: piOnly.wallMs, preIndexOnly: piOnly.corrected, trainS: cost.energy.durationS,
    preIndexSub: piSub?.corrected ?? NaN, preIndexSubMs: piSub?.wallMs ?? NaN,
    preIndexPerShift: piShift.corrected, preIndexPerShiftMs: piShift.wallMs, preIndexReferenceMs: piReference.wallMs,
    kWhPerEpoch: cost.energyPerEpoch.map((e) => e.kWh), energyKind: cost.energy.energyKind, cpuMethod: cost.energy.methods.cpu,
  };
  rows.push(row);
  await record.logMetrics({ run: runId, ...row, indices, energy: cost.energy, evals: cost.evals });
  log(`  ${runId}: PreIndex ${indices.preIndex.toFixed(4)} ARM ${indices.arm.toFixed(4)} RESQUE ${indices.resque.toFixed(4)} accDrop ${indices.accuracyDrop.toFixed(4)} → ${cost.steps} steps (${cost.stopReason}, acc ${(cost.initialAcc * 100).toFixed(1)}→${(cost.finalAcc * 100).toFixed(1)}%), ${(cost.energy.kWh * 1000).toFixed(3)} Wh, ${cost.wallS.toFixed(0)} s`);
}
