import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism } from 'node:os';
import {
  RunRecord, Trainer, check, checkChoice, dataParallelPlugin, dataParallelRank, earlyStopping, learningRateSchedule, mlp, runDataParallel, smallCnn,
  type BackendName, type Dataset, type GemmChoice, type ModelAdapter, type TrainerOptions, type TrainerPlugin,
} from '@trellis-ml/core';
import { loadFashionMnist, loadMnist } from '@trellis-ml/datasets';

/** Options of {@link runTrain}. */
export interface TrainCommandOptions {
  dataset: 'mnist' | 'fashion-mnist';
  model: 'mlp' | 'cnn';
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  out: string;
  /** Use only the first N training examples (quick runs, tests). */
  limit?: number;
  /** `'constant'` (default): Adam at `learningRate` throughout; `'cosine'`: cosine decay from it to 0 over the run's steps. */
  lrSchedule?: 'constant' | 'cosine';
  /**
   * Early stopping: hold out 10 % of the training examples (seeded), stop when their loss has not improved for this
   * many epochs, and keep the best epoch's weights. Off by default (validation is then the first 2,000 test
   * examples, for the log only).
   */
  patience?: number;
  resume?: boolean;
  progress?: boolean;
  log?: (line: string) => void;
  /**
   * Train data-parallel on this many worker threads (default 1: in this thread). Each worker runs
   * `backend` with `threads` threads (default 1) on its shard of every batch; see core's
   * `runDataParallel`.
   */
  workers?: number;
  /** The backend the data-parallel workers select (default `wasm`). */
  backend?: BackendName;
  /** Threads per data-parallel worker (default 1). */
  threads?: number;
  /** The GEMM library of the data-parallel workers on trellis-native (core's `UseBackendOptions.gemm`). */
  gemm?: GemmChoice;
}

/** What the data-parallel workers of `trellis train` receive (./trainWorker.ts). */
export interface TrainWorkerData {
  options: Omit<TrainCommandOptions, 'log'>;
  /** The run directory rank 0 resumes (every rank reads its checkpoint). */
  resumeDir?: string;
}

/** What `trellis train` wrote. */
export interface TrainCommandResult {
  runDir: string;
  summaryPath: string;
  reportPath: string;
  testAccuracy: number;
}

/** Loads a named dataset split. */
export function loadNamedDataset(name: 'mnist' | 'fashion-mnist', split: 'train' | 'test', limit?: number): Dataset {
  const opts = { split, ...(limit !== undefined ? { limit } : {}) };
  return name === 'mnist' ? loadMnist(opts) : loadFashionMnist(opts);
}

/** The baseline model of `trellis train`: MLP 784-256-128-10 or the small CNN (conv16-pool-conv32-pool-dense128). */
export function baselineModel(kind: 'mlp' | 'cnn', inputShape: number[], numClasses: number, seed: number): ModelAdapter {
  return kind === 'mlp'
    ? mlp({ inputShape, hidden: [256, 128], numClasses, seed })
    : smallCnn({ inputShape, numClasses, channels: [16, 32], dense: 128, seed });
}

/**
 * Throws `BAD_ARGS` for `trellis train` options that cannot run: fewer than one epoch, a batch size, an
 * example limit or a worker count below 1, a learning rate that is not positive. {@link runTrain} calls it;
 * the CLI calls it before the backend starts, so a wrong flag leaves no run directory behind.
 */
export function checkTrainOptions(o: Pick<TrainCommandOptions, 'epochs' | 'batchSize' | 'learningRate' | 'limit' | 'workers' | 'lrSchedule' | 'patience'>): void {
  const whole = (v: number | undefined): boolean => Number.isInteger(v) && v! >= 1;
  check(whole(o.epochs), 'BAD_ARGS', `--epochs ${String(o.epochs)} is not a positive whole number of epochs`, 'pass --epochs 1 or more (the default is 3, or 10 with --full)');
  check(whole(o.batchSize), 'BAD_ARGS', `--batch-size ${String(o.batchSize)} is not a positive whole number`, 'pass a batch size such as --batch-size 128 (the default)');
  check(o.limit === undefined || whole(o.limit), 'BAD_ARGS', `--limit ${String(o.limit)} is not a positive whole number of examples`, 'pass --limit 1 or more, or leave it out to train on the whole split');
  check(o.workers === undefined || whole(o.workers), 'BAD_ARGS', `--workers ${String(o.workers)} is not a positive integer`, 'pass --workers 2 to train on both cores of a 2-core machine');
  check(Number.isFinite(o.learningRate) && o.learningRate > 0, 'BAD_ARGS', `learning rate ${o.learningRate} is not a positive number (Adam would climb the loss or not move)`,
    'pass a positive rate, e.g. --lr 0.001 (the default)');
  if (o.lrSchedule !== undefined) checkChoice(o.lrSchedule, ['constant', 'cosine'] as const, 'learning-rate schedule', { code: 'BAD_ARGS', fix: 'pass --lr-schedule constant (the default) or cosine' });
  check(o.patience === undefined || whole(o.patience), 'BAD_ARGS', `--patience ${String(o.patience)} is not a positive whole number of epochs`, 'pass e.g. --patience 3, or leave it out to train every epoch');
  // the ranks would each decide on their own validation set, or rank 0 alone would stop
  check(o.patience === undefined || (o.workers ?? 1) === 1, 'BAD_ARGS', `--patience (early stopping) cannot run with --workers ${o.workers}: the data-parallel ranks must stop at the same epoch`,
    'train on one worker with --patience, or data-parallel without it');
}

/**
 * `trellis train`: trains the baseline model on a dataset with core's Trainer (checkpoint every
 * epoch), evaluates on the test split, and writes the run record and report.
 */
export async function runTrain(o: TrainCommandOptions): Promise<TrainCommandResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  checkTrainOptions(o);
  const workers = o.workers ?? 1;
  const dp = dataParallelRank();
  // What a resumed run must match (dataset, model, schedule, workers: a checkpoint of other settings would
  // otherwise be continued under these); rank 0 of a data-parallel run writes the same.
  const recordOptions = {
    out: o.out, name: 'train', seed: o.seed, packageOf: import.meta.url, resumeMarkers: ['checkpoint', 'checkpoint-prev'],
    config: {
      dataset: o.dataset, model: o.model, epochs: o.epochs, batchSize: o.batchSize, learningRate: o.learningRate, limit: o.limit ?? null, optimizer: 'adam',
      // only when asked: the settings of a run without them stay those earlier versions recorded (its --resume matches them)
      ...(o.lrSchedule !== undefined && o.lrSchedule !== 'constant' ? { lrSchedule: o.lrSchedule } : {}), ...(o.patience !== undefined ? { patience: o.patience } : {}),
      dataParallelWorkers: dp.active ? dp.workers : workers,
    },
  };
  let dir: string | undefined;
  if (dp.active) dir = (dp.data as TrainWorkerData).resumeDir;
  else if (o.resume) {
    dir = (await RunRecord.findResumable(recordOptions)).dir;
    log(`resuming ${dir}`);
  }
  if (workers > 1 && !dp.active) {
    const cores = availableParallelism();
    if (workers > cores) log(`note: ${workers} workers share ${cores} core(s), and every step waits for the slowest; --workers ${cores} is usually faster`);
    // Launch the workers; each runs this function again (./trainWorker.ts), rank 0 writes the run.
    const { log: _log, ...options } = o;
    const data: TrainWorkerData = { options, ...(dir ? { resumeDir: dir } : {}) };
    const results = await runDataParallel<TrainCommandResult>({ script: new URL('./trainWorker.js', import.meta.url), workers, data });
    return results[0]!;
  }
  check(!dp.active || dp.rank === 0, 'BAD_RANK', `runTrain ran on data-parallel rank ${dp.rank}`, 'run trainReplica on the ranks other than 0');
  const all = loadNamedDataset(o.dataset, 'train', o.limit);
  const test = loadNamedDataset(o.dataset, 'test');
  // with early stopping, the epochs are judged on held-out training examples, never on the test split
  const [train, holdout] = o.patience !== undefined ? all.split(0.9, o.seed) : [all, null];
  const record = await RunRecord.create({ ...recordOptions, ...(dir ? { dir, resume: true } : {}) });
  const model = baselineModel(o.model, [...train.shape], train.numClasses, o.seed);
  // A resume that had to skip a damaged checkpoint says so before the first epoch it trains (or at the end, if none is left).
  let restoreAnnounced = false;
  const announceRestore = (): void => {
    const restored = trainer.lastRestore;
    if (!restoreAnnounced && restored?.skipped.length) log(`resumed from ${restored.from} (after epoch ${restored.epoch + 1}); skipped damaged ${restored.skipped.join('; ')}`);
    restoreAnnounced = true;
  };
  const trainer = new Trainer({
    ...baselineTrainerOptions(o, model),
    checkpointDir: record.dir, progress: o.progress ?? false, label: `train ${o.dataset}${dp.active ? ` (${dp.workers} workers)` : ''}`,
    onLog: async (logs) => {
      announceRestore();
      await record.logMetrics(logs);
      log(`epoch ${Number(logs.epoch) + 1}/${o.epochs} loss=${logs.loss?.toFixed(4)} val_loss=${logs.val_loss?.toFixed(4)} val_accuracy=${logs.val_accuracy?.toFixed(4)}`);
    },
  });
  const started = Date.now();
  const validation = holdout ?? test.take(2000);
  await trainer.fit(train, { epochs: o.epochs, validation, resume: o.resume ?? false });
  const stopped = stoppingOf(trainer);
  announceRestore();
  const seconds = (Date.now() - started) / 1000;
  const ev = await trainer.evaluate(test);
  await record.saveModel(model);
  const summary = {
    dataset: o.dataset, model: o.model, epochs: o.epochs,
    testAccuracy: ev.accuracy, testLoss: ev.loss, testEce: ev.ece, testNll: ev.nll, testBrier: ev.brier,
    trainSeconds: seconds, tfjsVersion: tf.version_core, history: trainer.history, dataParallelWorkers: dp.workers,
    lrSchedule: o.lrSchedule ?? 'constant', ...(stopped ? { earlyStopping: stopped } : {}),
  };
  const summaryPath = await record.writeSummary(summary);
  const reportPath = await record.writeReport({
    title: `Baseline: ${o.model.toUpperCase()} on ${o.dataset}`,
    intro: `Seed ${o.seed}, ${o.epochs} epochs, batch ${o.batchSize}, Adam ${o.learningRate}${o.lrSchedule === 'cosine' ? ' with cosine decay to 0' : ''}, backend ${tf.getBackend()}` +
      `${dp.active ? `, data-parallel on ${dp.workers} workers` : ''}` +
      `${stopped ? `; early stopping on the loss of ${holdout!.size} held-out training examples (patience ${o.patience}): ${stoppingText(stopped, o.epochs)}` : ''}.`,
    sections: [
      { title: 'Test metrics', table: { columns: ['accuracy', 'loss', 'ECE', 'NLL', 'Brier'], rows: [[ev.accuracy, ev.loss, ev.ece, ev.nll, ev.brier]] } },
      {
        title: 'Training curve',
        plot: {
          $schema: 'https://vega.github.io/schema/vega-lite/v5.json', width: 420, height: 220,
          data: { values: trainer.history.flatMap((h) => [{ epoch: h.epoch + 1, metric: 'train loss', value: h.loss }, { epoch: h.epoch + 1, metric: 'val accuracy', value: h.val_accuracy }]) },
          mark: { type: 'line', point: true },
          encoding: { x: { field: 'epoch', type: 'quantitative' }, y: { field: 'value', type: 'quantitative' }, color: { field: 'metric', type: 'nominal' } },
        },
      },
    ],
  });
  trainer.dispose();
  model.dispose();
  if (stopped) log(`early stopping: ${stoppingText(stopped, o.epochs)}`);
  log(`test accuracy ${(ev.accuracy * 100).toFixed(2)}% — ${summaryPath}`);
  return { runDir: record.dir, summaryPath, reportPath, testAccuracy: ev.accuracy };
}

/** The early-stopping watch of `trellis train` (one per Trainer). */
const EARLY_STOPPING = 'early-stopping';

/** What the early-stopping watch of a finished fit says (null without one). */
function stoppingOf(trainer: Trainer): { bestEpoch: number; bestLoss: number | null; epochsTrained: number } | null {
  const watch = trainer.plugins.find((p) => p.name === EARLY_STOPPING);
  if (!watch) return null;
  // best is null (bestEpoch −1) when no held-out loss was a number: no epoch improved, the last weights stay
  const state = watch.getState!() as { best: number | null; bestEpoch: number };
  return { bestEpoch: state.bestEpoch, bestLoss: state.best, epochsTrained: trainer.history.length };
}

/** How the early stopping of a run ended, for the log and the report. */
function stoppingText(stopped: { bestEpoch: number; bestLoss: number | null; epochsTrained: number }, epochs: number): string {
  return stopped.bestEpoch < 0 || stopped.bestLoss === null
    ? `${stopped.epochsTrained} of ${epochs} epochs trained; no epoch had a held-out loss to keep (NaN), the last weights kept`
    : `${stopped.epochsTrained} of ${epochs} epochs trained; kept epoch ${stopped.bestEpoch + 1} (held-out loss ${stopped.bestLoss.toFixed(4)})`;
}

/**
 * What every rank's Trainer shares: model, seed, batch size, Adam, the data-parallel plugin (a no-op alone), the
 * learning-rate schedule and (rank 0 alone: it is refused with workers) early stopping.
 */
function baselineTrainerOptions(o: TrainCommandOptions, model: ModelAdapter): TrainerOptions {
  const plugins: TrainerPlugin[] = [dataParallelPlugin()];
  if (o.lrSchedule === 'cosine') plugins.push(learningRateSchedule({ kind: 'cosine', lr: o.learningRate }));
  if (o.patience !== undefined) plugins.push(earlyStopping({ name: EARLY_STOPPING, monitor: 'val_loss', patience: o.patience }));
  return { model, seed: o.seed, batchSize: o.batchSize, optimizer: tf.train.adam(o.learningRate), plugins };
}

/**
 * A non-zero rank of a data-parallel `trellis train`: the same model, seed and schedule as rank 0,
 * trained on its shards; it reads rank 0's checkpoint on resume but writes nothing.
 */
export async function trainReplica(o: TrainCommandOptions, resumeDir: string | undefined): Promise<void> {
  const train = loadNamedDataset(o.dataset, 'train', o.limit);
  const model = baselineModel(o.model, [...train.shape], train.numClasses, o.seed);
  const trainer = new Trainer({
    ...baselineTrainerOptions(o, model),
    ...(resumeDir ? { checkpointDir: resumeDir, saveCheckpoints: false } : {}),
  });
  await trainer.fit(train, { epochs: o.epochs, resume: resumeDir !== undefined });
  trainer.dispose();
  model.dispose();
}
