import * as tf from '@tensorflow/tfjs-core';
import { accuracy, argmaxRows, check, checkChoice, checkClassLabels, disposeBatch, Rng, type Dataset } from '@trellis-ml/core';
import type { DepthConfig } from './depthConfig.js';
import type { DepthNet } from './depthNet.js';
import type { DepthTable } from './depthTable.js';

/** Options of {@link evaluateAllDepths}. */
export interface EvaluateDepthsOptions {
  /** Measure latency per depth (default true). */
  latency?: boolean;
  /** Batch size of the latency measurement (default 128). */
  latencyBatchSize?: number;
  /** Also time single examples (default false). */
  latencySingle?: boolean;
  /**
   * Timed repetitions per depth after warm-up (default 50), split over 5 interleaved rounds of
   * `ceil(timedRuns / 5)` runs: the table reports the median over the rounds of each round's fastest
   * run (not the median of all runs; {@link measureLatency} gives that).
   */
  timedRuns?: number;
  /** Warm-up repetitions before the first round (default 5; later rounds warm up once). */
  warmup?: number;
  /** Evaluation batch size (default 256). */
  batchSize?: number;
  /** Only these depths (default: the whole menu). */
  configs?: Array<DepthConfig | string>;
}

/** Throws BAD_OPTION for options that are not an object (`null` slipped past the `= {}` default and failed as a TypeError). */
function checkOptions(options: unknown, what: string): void {
  check(options !== null && typeof options === 'object', 'BAD_OPTION', `${what} options must be an object, got ${String(options)}`, 'pass an options object, or leave it out');
}

function checkCount(value: number, what: string, min: number): void {
  check(Number.isInteger(value) && value >= min, 'BAD_OPTION', `${what} ${value} is not an integer ≥ ${min}`, `pass ${what} as a whole number ≥ ${min}`);
}

/** Throws EMPTY_DATASET for a dataset of no examples (its accuracy would be NaN, its statistics untouched). */
export function checkNotEmpty(data: Dataset, what: string): void {
  check(data.size > 0, 'EMPTY_DATASET', `${what} got a dataset of 0 examples`, 'pass a dataset with at least one example (check the take/subset/split that produced it)');
}

/**
 * Accuracy of `model` on `data` at one depth (inference mode). Throws EMPTY_DATASET for a dataset of
 * no examples and LABEL_OUT_OF_RANGE for a label the model has no class for (it could never be right).
 */
export function depthAccuracy(model: DepthNet, data: Dataset, config: DepthConfig | string, batchSize = 256): number {
  check(data.labels, 'UNLABELED', 'cannot measure accuracy on a dataset without labels', 'evaluate on a labelled dataset');
  checkNotEmpty(data, 'depthAccuracy');
  const k = model.numClasses;
  checkClassLabels(data.labels, k, { context: 'depthAccuracy', fix: `the model has ${k} classes (0..${k - 1}): evaluate it on a dataset of its classes` });
  return accuracy(argmaxRows(depthLogits(model, data, [config], batchSize)[0]!, k), data.labels);
}

/**
 * The logits of every example of `data` at each of `configs`, as host arrays (`size × classes`, row-major, one
 * per depth, in the order given): inference mode, one {@link DepthNet.forwardMany} call per batch (depths share
 * their common prefix of blocks), every tensor disposed. The evaluation path of {@link depthAccuracy} and
 * `exitOutputs`; callers check the dataset.
 */
export function depthLogits(model: DepthNet, data: Dataset, configs: ReadonlyArray<DepthConfig | string>, batchSize = 256): Float32Array[] {
  const k = model.numClasses;
  const ids = configs.map((c) => model.resolve(c).id);
  const out = ids.map(() => new Float32Array(data.size * k));
  let offset = 0;
  for (const batch of data.batches(batchSize)) {
    const logits = model.forwardMany(batch.x, configs, { training: false });
    ids.forEach((id, i) => out[i]!.set(logits[id]!.dataSync(), offset * k));
    tf.dispose(Object.values(logits));
    offset += batch.size;
    disposeBatch(batch);
  }
  return out;
}

/** Median (or minimum) wall time (ms) of a forward pass at `config` on `x` (after `warmup` passes). */
export function measureLatency(model: DepthNet, x: tf.Tensor, config: DepthConfig | string, options: { timedRuns?: number; warmup?: number; statistic?: 'median' | 'min' } = {}): number {
  checkOptions(options, 'measureLatency');
  checkCount(options.timedRuns ?? 50, 'timedRuns', 1);
  checkCount(options.warmup ?? 5, 'warmup', 0);
  if (options.statistic !== undefined) checkChoice(options.statistic, ['median', 'min'] as const, 'latency statistic', { fix: "pass statistic 'median' (the default) or 'min'" });
  const run = () => {
    const y = tf.tidy(() => model.forward(x, { config, training: false }));
    y.dataSync();
    y.dispose();
  };
  for (let i = 0; i < (options.warmup ?? 5); i++) run();
  const times: number[] = [];
  for (let i = 0; i < (options.timedRuns ?? 50); i++) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return options.statistic === 'min' ? times[0]! : times[Math.floor(times.length / 2)]!;
}

/**
 * Evaluates every depth of the menu: accuracy, analytic FLOPs and parameters, and (by default) the
 * measured latency of a batch on the current backend: depths are timed in 5 interleaved rounds (so
 * machine load affects them alike); each round keeps its fastest run and the table reports the
 * median of the rounds, which resists the noise of a shared machine.
 */
export function evaluateAllDepths(model: DepthNet, data: Dataset, options: EvaluateDepthsOptions = {}): DepthTable {
  checkOptions(options, 'evaluateAllDepths');
  for (const key of ['latency', 'latencySingle'] as const) {
    check(options[key] === undefined || typeof options[key] === 'boolean', 'BAD_OPTION', `${key} ${JSON.stringify(options[key])} is not true or false`, `pass ${key}: true or false`);
  }
  checkNotEmpty(data, 'evaluateAllDepths');
  if (options.latency ?? true) {
    checkCount(options.timedRuns ?? 50, 'timedRuns', 1);
    checkCount(options.warmup ?? 5, 'warmup', 0);
    checkCount(options.latencyBatchSize ?? 128, 'latencyBatchSize', 1);
  }
  check(options.configs === undefined || (Array.isArray(options.configs) && options.configs.length > 0), 'BAD_OPTION',
    `configs ${JSON.stringify(options.configs)} is not a non-empty list of depths`, 'leave configs out to evaluate the whole menu, or list depth ids such as [\'d2\', \'d4\']');
  const configs = (options.configs ?? [...model.configs]).map((c) => model.resolve(c));
  const repeated = configs.map((c) => c.id).filter((id, i, ids) => ids.indexOf(id) !== i);
  check(repeated.length === 0, 'DUPLICATE_DEPTH', () => `configs lists depth "${repeated[0]}" more than once (the table would get duplicate rows)`, 'list each depth once');
  const rows = configs.map((c) => {
    const cost = model.cost(c);
    return { id: c.id, activeBlocks: cost.activeBlocks, accuracy: depthAccuracy(model, data, c, options.batchSize), flops: cost.flops, params: cost.params } as DepthTable['rows'][number];
  });
  const table: DepthTable = { rows, backend: tf.getBackend() };
  if (options.latency ?? true) {
    const bs = Math.min(options.latencyBatchSize ?? 128, data.size);
    table.latencyBatchSize = bs;
    const rounds = 5;
    const per = Math.max(1, Math.ceil((options.timedRuns ?? 50) / rounds));
    const measure = (n: number) => {
      const batch = data.batchAt(Int32Array.from({ length: n }, (_, i) => i));
      const samples = configs.map(() => [] as number[]);
      for (let r = 0; r < rounds; r++) {
        configs.forEach((c, i) => samples[i]!.push(measureLatency(model, batch.x, c, { timedRuns: per, warmup: r === 0 ? (options.warmup ?? 5) : 1, statistic: 'min' })));
      }
      disposeBatch(batch);
      return samples.map((s) => s.sort((a, b) => a - b)[Math.floor(s.length / 2)]!);
    };
    measure(bs).forEach((ms, i) => (rows[i]!.latencyMs = ms));
    if (options.latencySingle) measure(1).forEach((ms, i) => (rows[i]!.latencyMs1 = ms));
  }
  return table;
}

/** Median time (ms) of one `setDepth` call, cycling through the menu: the cost of switching depth at run time. */
export function measureSwitchCost(model: DepthNet, repetitions = 1000): number {
  checkCount(repetitions, 'repetitions', 1);
  const ids = model.configs.map((c) => c.id);
  const before = model.depth;
  const times: number[] = [];
  for (let i = 0; i < repetitions; i++) {
    const t0 = performance.now();
    model.setDepth(ids[i % ids.length]!);
    times.push(performance.now() - t0);
  }
  model.setDepth(before);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/**
 * Post-training batch-norm statistics per depth (US-Nets post-statistics, OFA's
 * `reset_running_statistics`): for every depth, training-mode passes over `samples` examples (no
 * weight update) set that depth's running mean/variance to the cumulative average of the batch
 * moments. A no-op for networks without batch-norm. Throws EMPTY_DATASET for a dataset of no
 * examples (no depth would get statistics, yet each would be marked recalibrated).
 */
export function recalibrateBatchNorm(model: DepthNet, data: Dataset, options: { samples?: number; batchSize?: number; seed?: number } = {}): void {
  checkOptions(options, 'recalibrateBatchNorm');
  checkCount(options.samples ?? 2000, 'samples', 1);
  checkCount(options.batchSize ?? 200, 'batchSize', 1);
  checkNotEmpty(data, 'recalibrateBatchNorm');
  if (model.bnMode === 'none') return;
  const n = Math.min(options.samples ?? 2000, data.size);
  const order = new Rng(options.seed ?? 0).permutation(data.size).slice(0, n);
  const bs = options.batchSize ?? 200;
  for (const c of model.configs) {
    let i = 0;
    for (let start = 0; start < n; start += bs) {
      const batch = data.batchAt(order.subarray(start, Math.min(n, start + bs)));
      // only the statistics update is wanted: dispose of the logits (a tidy would keep the record it returns)
      tf.dispose(Object.values(model.forwardMany(batch.x, [c], { training: true, calibrate: true, statsMomentum: i / (i + 1) })));
      disposeBatch(batch);
      i++;
    }
    model.calibrated.add(c.id);
  }
}
