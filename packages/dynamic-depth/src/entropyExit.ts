/**
 * Entropy-threshold exiting, BranchyNet's test-time rule (Teerapittayanon, McDanel, Kung, ICPR 2016): a sample
 * leaves an early-exit network at the first exit whose softmax entropy is below the threshold; the last exit
 * takes every sample still left. Pure functions over host arrays, plus one helper that collects the exits'
 * logits of a `headMode: 'per-depth'` {@link DepthNet} on a dataset.
 *
 * Entropy is in nats (natural logarithm, 0·log 0 = 0), as core's `meanEntropy`: it lies in `[0, ln k]` for k
 * classes (ln 10 ≈ 2.303 for 10 classes).
 */
import { accuracy, argmaxRows, check, checkClassLabels, meanEntropy, softmaxRows64, TrellisError, type Dataset } from '@trellis-ml/core';
import type { DepthConfig } from './depthConfig.js';
import type { DepthNet } from './depthNet.js';
import { checkBudgetLimits, checkBudgetShape, chooseWithinBudget, type OverBudgetOptions } from './depthTable.js';
import { checkNotEmpty, depthLogits } from './evaluateDepths.js';

/**
 * What a sample pays when it leaves at an exit: per-example FLOPs (multiply-adds × 2, the unit of
 * {@link DepthNet.cost}) and skippable block passes. It is cumulative: a sample that leaves at exit e also ran the
 * heads of the exits before it, which is what {@link DepthNet.cascadeCost} counts.
 */
export interface ExitCost {
  flops: number;
  activeBlocks: number;
}

/**
 * The outputs of an early-exit network's exits on N samples, ordered shallow → deep. Give exactly one of
 * `logits` and `probabilities`: per exit an `N × numClasses` row-major array (what {@link exitOutputs} returns).
 */
export interface ExitOutputs {
  /** Per exit, the logits (softmax is applied here). */
  logits?: ReadonlyArray<ArrayLike<number>>;
  /** Per exit, probabilities (rows of entries in [0, 1] summing to 1), used as given. */
  probabilities?: ReadonlyArray<ArrayLike<number>>;
  /** Classes per row. */
  numClasses: number;
  /** Class ids of the samples: with them the result has an accuracy. */
  labels?: ArrayLike<number>;
  /** What leaving at each exit costs (one per exit): with them the result has mean costs. */
  costs?: ReadonlyArray<ExitCost>;
  /** Exit names (depth ids), one per exit, for reports. */
  exits?: readonly string[];
}

/**
 * An entropy threshold in nats: one number for every exit but the last (the common, one-knob case, which a
 * sweep traces), or one per exit but the last, `numExits − 1` of them (BranchyNet's per-exit thresholds: the
 * exits' entropies have different scales, so one threshold per exit can save more for the same accuracy). The
 * last exit has none: it takes every sample left. Each is a number ≥ 0 (`Infinity` sends every sample out at
 * the first exit, 0 keeps every sample to the last: an entropy is never below 0).
 */
export type EntropyThreshold = number | readonly number[];

/** What {@link entropyExit} returns. */
export interface EntropyExitResult {
  /** The threshold as given. */
  threshold: number | number[];
  /** The threshold of each exit but the last (`numExits − 1` values). */
  thresholds: number[];
  /** Per sample, the index (0 = shallowest) of the exit it leaves at. */
  exit: Int32Array;
  /** Per sample, the class it is given: the argmax of the exit it leaves at. */
  prediction: Int32Array;
  /** Per sample, the softmax entropy (nats) of the exit it leaves at. */
  entropy: Float64Array;
  /** Samples leaving at each exit. */
  exitCounts: number[];
  /** Share of the samples leaving at each exit (sums to 1). */
  exitFractions: number[];
  /** Top-1 accuracy of the predictions (when labels were given). */
  accuracy?: number;
  /** Mean skippable block passes per sample (when costs were given). */
  meanBlocks?: number;
  /** Mean FLOPs per sample (when costs were given). */
  meanFlops?: number;
  /** Exit names, when given. */
  exits?: string[];
}

/** Checked outputs with every exit's entropies and predictions computed once (a sweep reuses them). */
interface Prepared {
  n: number;
  numExits: number;
  entropy: Float64Array[];
  prediction: Int32Array[];
  labels?: ArrayLike<number>;
  costs?: readonly ExitCost[];
  exits?: string[];
}

function prepare(outputs: ExitOutputs, what: string): Prepared {
  check(outputs !== null && typeof outputs === 'object', 'BAD_OPTION', `${what} needs the exits' outputs, got ${String(outputs)}`,
    'pass { logits: [exit0, exit1, …], numClasses, labels?, costs? } (exitOutputs(model, data) builds it)');
  const kind = outputs.logits !== undefined ? 'logits' : 'probabilities';
  check((outputs.logits === undefined) !== (outputs.probabilities === undefined), 'BAD_OPTION',
    `${what} needs exactly one of logits and probabilities, got ${outputs.logits === undefined ? 'neither' : 'both'}`, 'pass the exits\' logits (or their softmax probabilities), not both');
  const values = outputs[kind]!;
  check(Array.isArray(values) && values.length > 0, 'BAD_OPTION', `${what}: ${kind} is ${String(values)}, not a list with one array per exit`,
    'pass one N × numClasses row-major array per exit, ordered shallow → deep');
  const k = outputs.numClasses;
  check(Number.isInteger(k) && k > 0, 'BAD_SHAPE', `${what}: numClasses ${String(k)} is not a positive integer`, 'pass the number of classes (the length of one row)');
  values.forEach((v, e) => check(v !== null && typeof v === 'object' && Number.isInteger(v.length) && v.length % k === 0, 'BAD_SHAPE',
    () => `${what}: the ${kind} of exit ${e} are ${v !== null && typeof v === 'object' ? `${String(v.length)} values, not whole rows of ${k} classes` : String(v)}`,
    'pass one N × numClasses row-major array per exit (N samples)'));
  const n = values[0]!.length / k;
  values.forEach((v, e) => check(v.length === n * k, 'SHAPE_MISMATCH', () => `${what}: exit ${e} has ${v.length / k} samples, exit 0 has ${n}`,
    'pass the outputs of the same samples at every exit'));
  check(n > 0, 'EMPTY_DATASET', `${what} got 0 samples`, 'pass the outputs of at least one sample (check the dataset that produced them)');
  for (let e = 0; e < values.length; e++) {
    const v = values[e]!;
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i]!)) {
        throw new TrellisError(kind === 'logits' ? 'NON_FINITE_LOGITS' : 'BAD_PROBABILITIES',
          `${what}: ${kind} of exit ${e}, sample ${Math.floor(i / k)}, class ${i % k} is ${v[i]}, so the sample has no entropy or prediction there`,
          'check the model (NaN weights after a diverged training run?) and its inputs', { exit: e, sample: Math.floor(i / k) });
      }
    }
  }
  const probs = values.map((v, e) => {
    if (kind === 'logits') return softmaxRows64(v, k);
    const p = Float64Array.from(v);
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (let j = 0; j < k; j++) sum += p[i * k + j]!;
      const bad = p.subarray(i * k, (i + 1) * k).some((x) => x < 0 || x > 1) || Math.abs(sum - 1) > 1e-3;
      check(!bad, 'BAD_PROBABILITIES', () => `${what}: the probabilities of exit ${e}, sample ${i} are not a distribution (entries in [0, 1] summing to 1; the sum is ${sum})`,
        'pass softmax probabilities, or pass the logits instead (as logits)', { exit: e, sample: i });
    }
    return p;
  });
  if (outputs.labels !== undefined) {
    const y = outputs.labels;
    check(y !== null && typeof y === 'object' && y.length === n, 'SHAPE_MISMATCH', () => `${what}: ${String(y?.length)} labels for ${n} samples`, 'pass one class id per sample');
    checkClassLabels(y, k, { context: what, fix: `pass class ids 0..${k - 1} (the outputs have ${k} classes)` });
  }
  if (outputs.costs !== undefined) {
    const c = outputs.costs;
    check(Array.isArray(c) && c.length === values.length, 'BAD_OPTION', () => `${what}: ${Array.isArray(c) ? c.length : String(c)} exit costs for ${values.length} exits`,
      'pass one { flops, activeBlocks } per exit (DepthNet.cascadeCost of the exits up to it)');
    c.forEach((x, e) => check(x !== null && typeof x === 'object' && Number.isFinite(x.flops) && x.flops >= 0 && Number.isFinite(x.activeBlocks) && x.activeBlocks >= 0, 'BAD_OPTION',
      () => `${what}: the cost of exit ${e} is ${JSON.stringify(x)}, not { flops, activeBlocks } of numbers ≥ 0`, 'pass finite, non-negative costs'));
  }
  if (outputs.exits !== undefined) {
    check(Array.isArray(outputs.exits) && outputs.exits.length === values.length, 'BAD_OPTION', `${what}: ${String(outputs.exits?.length)} exit names for ${values.length} exits`,
      'pass one name per exit, or leave exits out');
  }
  return {
    n, numExits: values.length,
    // entropy per row, reusing core's meanEntropy on each row (the mean over one row is its entropy, in nats)
    entropy: probs.map((p) => Float64Array.from({ length: n }, (_, i) => meanEntropy(p.subarray(i * k, (i + 1) * k), k))),
    prediction: values.map((v) => argmaxRows(v, k)),
    ...(outputs.labels !== undefined ? { labels: outputs.labels } : {}),
    ...(outputs.costs !== undefined ? { costs: outputs.costs } : {}),
    ...(outputs.exits !== undefined ? { exits: [...outputs.exits] } : {}),
  };
}

/** The threshold of each exit but the last; BAD_THRESHOLD for NaN, negative, non-numeric or a list of the wrong length. */
function exitThresholds(threshold: EntropyThreshold, numExits: number): number[] {
  const list = typeof threshold === 'number' ? Array.from({ length: numExits - 1 }, () => threshold) : threshold;
  check(Array.isArray(list) && list.length === numExits - 1, 'BAD_THRESHOLD',
    () => `${Array.isArray(threshold) ? `${threshold.length} thresholds` : `threshold ${String(threshold)}`} for ${numExits} exits: give one number, or one per exit but the last (${numExits - 1})`,
    'the last exit has no threshold (it takes every sample left): pass one entropy in nats, or a list of numExits − 1');
  list.forEach((t, i) => check(typeof t === 'number' && t >= 0, 'BAD_THRESHOLD', () => `entropy threshold ${i} is ${String(t)}, not a number ≥ 0 (nats)`,
    'pass entropies ≥ 0 in nats, e.g. 0.5 (ln k is the largest entropy of k classes)'));
  return [...list];
}

function apply(p: Prepared, threshold: EntropyThreshold): EntropyExitResult {
  const thresholds = exitThresholds(threshold, p.numExits);
  const last = p.numExits - 1;
  const exit = new Int32Array(p.n);
  const prediction = new Int32Array(p.n);
  const entropy = new Float64Array(p.n);
  const exitCounts = Array.from({ length: p.numExits }, () => 0);
  for (let i = 0; i < p.n; i++) {
    let e = 0;
    // the first exit whose entropy is strictly below its threshold; the last exit takes the rest
    while (e < last && !(p.entropy[e]![i]! < thresholds[e]!)) e++;
    exit[i] = e;
    prediction[i] = p.prediction[e]![i]!;
    entropy[i] = p.entropy[e]![i]!;
    exitCounts[e]!++;
  }
  const result: EntropyExitResult = {
    threshold: typeof threshold === 'number' ? threshold : [...threshold], thresholds, exit, prediction, entropy, exitCounts,
    exitFractions: exitCounts.map((c) => c / p.n),
  };
  if (p.labels) result.accuracy = accuracy(prediction, p.labels);
  if (p.costs) {
    const costs = p.costs;
    result.meanFlops = exitCounts.reduce((s, c, e) => s + c * costs[e]!.flops, 0) / p.n;
    result.meanBlocks = exitCounts.reduce((s, c, e) => s + c * costs[e]!.activeBlocks, 0) / p.n;
  }
  if (p.exits) result.exits = p.exits;
  return result;
}

/**
 * BranchyNet's test-time rule on the outputs of an early-exit network's exits (shallow → deep): each sample
 * leaves at the first exit whose softmax entropy (nats) is strictly below that exit's threshold, and the last
 * exit takes every sample left. Returns per sample its exit, prediction and entropy there, and the summary:
 * the share of samples per exit, the accuracy (with `labels`) and the mean cost (with `costs`: mean FLOPs and
 * mean skippable block passes per sample).
 *
 * Example (3 exits, 2 classes, one threshold 0.5): a sample whose exits give logits `[1, 0]`, `[3, 0]` and
 * `[0, 2]` has entropies 0.5822, 0.1909 and 0.3653 nats there, so it leaves at exit 1 and is given class 0; with
 * per-exit thresholds `[0.6, 0.1]` it leaves at exit 0 (class 0), with `[0.1, 0.1]` at the last exit (class 1).
 *
 * @throws TrellisError `BAD_THRESHOLD` (NaN, negative, or a list that is not one per exit but the last),
 * `NON_FINITE_LOGITS` (a NaN or infinite logit), `BAD_PROBABILITIES`, `SHAPE_MISMATCH` (exits of other sample
 * counts, labels of another count), `EMPTY_DATASET` (no samples), `LABEL_OUT_OF_RANGE`, `BAD_OPTION` (costs or
 * exit names that are not one per exit, or both or neither of logits and probabilities).
 */
export function entropyExit(outputs: ExitOutputs, threshold: EntropyThreshold): EntropyExitResult {
  const p = prepare(outputs, 'entropyExit');
  return apply(p, threshold);
}

/** One threshold of {@link entropyThresholdSweep}: accuracy against mean cost. */
export interface EntropyExitPoint {
  threshold: number | number[];
  accuracy: number;
  /** Share of the samples leaving at each exit. */
  exitFractions: number[];
  /** Mean FLOPs per sample (when the outputs have costs). */
  meanFlops?: number;
  /** Mean skippable block passes per sample (when the outputs have costs). */
  meanBlocks?: number;
}

/**
 * The default thresholds of a sweep: 0 (every sample to the last exit), the 5%, 10%, …, 95% quantiles of the
 * entropies of every exit but the last (so the points spread over where the samples are), and ln k rounded up
 * to 3 decimals (every sample out at the first exit); sorted, without repeats.
 */
function defaultThresholds(p: Prepared, k: number): number[] {
  const pooled = Float64Array.from(p.entropy.slice(0, -1).flatMap((e) => Array.from(e))).sort();
  const grid = [0, Math.ceil(Math.log(k) * 1000) / 1000];
  if (pooled.length > 0) for (let i = 1; i < 20; i++) grid.push(pooled[Math.floor((i / 20) * (pooled.length - 1))]!);
  return [...new Set(grid)].sort((a, b) => a - b);
}

/**
 * Accuracy against mean cost over entropy thresholds: the early-exit network's anytime curve. `thresholds`
 * (each one number or one per exit but the last) default to 0, the 5%…95% quantiles of the early exits'
 * entropies and ln k (rounded up), in increasing order, so the mean cost falls along the list. Needs labels
 * (`UNLABELED` otherwise); the outputs are checked once, as by {@link entropyExit}.
 */
export function entropyThresholdSweep(outputs: ExitOutputs, thresholds?: ReadonlyArray<EntropyThreshold>): EntropyExitPoint[] {
  const p = prepare(outputs, 'entropyThresholdSweep');
  check(p.labels, 'UNLABELED', 'entropyThresholdSweep needs the samples\' labels to measure accuracy', 'pass labels with the outputs (exitOutputs on a labelled dataset)');
  check(thresholds === undefined || (Array.isArray(thresholds) && thresholds.length > 0), 'BAD_THRESHOLD', `thresholds ${JSON.stringify(thresholds)} is not a non-empty list`,
    'leave thresholds out for the default grid, or pass e.g. [0, 0.1, 0.5]');
  return (thresholds ?? defaultThresholds(p, outputs.numClasses)).map((t) => {
    const r = apply(p, t);
    return {
      threshold: r.threshold, accuracy: r.accuracy!, exitFractions: r.exitFractions,
      ...(r.meanFlops !== undefined ? { meanFlops: r.meanFlops, meanBlocks: r.meanBlocks! } : {}),
    };
  });
}

/** A budget of mean cost per sample for {@link chooseEntropyThreshold}. */
export interface ExitBudget {
  /** Largest mean FLOPs per sample. */
  maxFlops?: number;
  /** Largest mean skippable block passes per sample. */
  maxBlocks?: number;
}

/** What {@link chooseEntropyThreshold} returns. */
export interface EntropyThresholdChoice {
  threshold: number | number[];
  point: EntropyExitPoint;
  /** True when no threshold fitted and the cheapest was returned (the default, `onOverBudget: 'smallest'`). */
  overBudget: boolean;
}

const EXIT_BUDGET_KEYS = ['maxFlops', 'maxBlocks'] as const;

/**
 * The threshold to deploy: the most accurate point of a sweep (run it on validation data) whose mean cost fits
 * the budget, ties to fewer mean FLOPs, then fewer blocks — {@link selectDepth}'s rule with mean costs. When no
 * point fits it returns the cheapest point flagged `overBudget: true` (default, `onOverBudget: 'smallest'`), as
 * `selectDepth` does, or throws NO_THRESHOLD_FITS with `onOverBudget: 'throw'`.
 *
 * @throws TrellisError `BAD_OPTION` (no points, or a point without a finite accuracy), `EMPTY_BUDGET`, `BAD_BUDGET`
 * (an unknown limit, e.g. `maxLatencyMs`, which mean costs do not have; a negative or NaN one; a limit the sweep
 * has no cost for), `NO_THRESHOLD_FITS`.
 */
export function chooseEntropyThreshold(points: readonly EntropyExitPoint[], budget: ExitBudget, options: OverBudgetOptions = {}): EntropyThresholdChoice {
  check(Array.isArray(points) && points.length > 0, 'BAD_OPTION', `chooseEntropyThreshold needs the points of a sweep, got ${JSON.stringify(points)}`,
    'pass entropyThresholdSweep(outputs) (of validation data)');
  checkBudgetShape(budget, options, EXIT_BUDGET_KEYS, 'chooseEntropyThreshold');
  points.forEach((pt, i) => check(pt !== null && typeof pt === 'object' && Number.isFinite(pt.accuracy), 'BAD_OPTION',
    () => `point ${i} of the sweep has accuracy ${String(pt?.accuracy)}, not a finite number`, 'pass the points entropyThresholdSweep returns'));
  checkBudgetLimits(budget, EXIT_BUDGET_KEYS);
  for (const [key, field] of [['maxFlops', 'meanFlops'], ['maxBlocks', 'meanBlocks']] as const) {
    check(budget[key] === undefined || points.every((pt) => Number.isFinite(pt[field])), 'BAD_BUDGET', `the budget limits ${key} but the sweep has no ${field}`,
      'sweep outputs that have costs (exitOutputs(model, data) adds them)');
  }
  const { best, overBudget } = chooseWithinBudget(points, budget, (pt) => ({ accuracy: pt.accuracy, flops: pt.meanFlops ?? 0, blocks: pt.meanBlocks ?? 0 }));
  if (overBudget && options.onOverBudget === 'throw') {
    throw new TrellisError('NO_THRESHOLD_FITS', `no threshold fits the budget ${JSON.stringify(budget)}; the cheapest, ${JSON.stringify(best.threshold)}, costs ${best.meanFlops ?? '?'} FLOPs and ${best.meanBlocks ?? '?'} blocks per sample on average`,
      "raise the budget, sweep larger thresholds (more samples leave early), or leave out onOverBudget: 'throw' to fall back to the cheapest threshold (flagged overBudget)", { budget });
  }
  return { threshold: best.threshold, point: best, overBudget };
}

/** Options of {@link exitOutputs}. */
export interface ExitOutputsOptions {
  /** Evaluation batch size (default 256). */
  batchSize?: number;
  /** The exits, a subset of the menu (default: every depth); they are ordered shallow → deep whatever the order given. */
  configs?: ReadonlyArray<DepthConfig | string>;
}

/**
 * The exits' logits of a `headMode: 'per-depth'` network on a dataset, ready for {@link entropyExit} and
 * {@link entropyThresholdSweep}: exits are the menu's depths ordered shallow → deep ({@link DepthNet.compareCost}),
 * logits come from the package's evaluation path (inference mode, one `forwardMany` per batch, so each exit is one
 * pass sharing its prefix of blocks with the shallower ones; no tensor is left behind), labels from the dataset,
 * and the cost of leaving at exit e is {@link DepthNet.cascadeCost} of the exits up to e (its blocks and the heads
 * of every exit it passed). Every exit is computed for every sample: this measures the rule, it does not skip work.
 *
 * @throws TrellisError `NO_EXIT_HEADS` (a shared-head network: its depths have no exits of their own),
 * `EMPTY_DATASET`, `DUPLICATE_DEPTH`, `UNKNOWN_DEPTH`, `BAD_OPTION`.
 */
export function exitOutputs(model: DepthNet, data: Dataset, options: ExitOutputsOptions = {}): ExitOutputs & { logits: Float32Array[]; costs: ExitCost[]; exits: string[] } {
  const { configs, bs } = resolveExits(model, data, options);
  return outputsAt(model, data, configs, bs);
}

/** The exits' logits and leaving costs at resolved, checked `configs` (see {@link exitOutputs}). */
function outputsAt(model: DepthNet, data: Dataset, configs: DepthConfig[], bs: number): ExitOutputs & { logits: Float32Array[]; costs: ExitCost[]; exits: string[] } {
  return {
    logits: depthLogits(model, data, configs, bs),
    numClasses: model.numClasses,
    ...(data.labels ? { labels: data.labels } : {}),
    costs: configs.map((_, e) => model.cascadeCost(configs.slice(0, e + 1))),
    exits: configs.map((c) => c.id),
  };
}

/** {@link exitOutputs}' checks of its arguments (no forward pass); the exits ordered shallow → deep and the batch size. */
function resolveExits(model: DepthNet, data: Dataset, options: ExitOutputsOptions): { configs: DepthConfig[]; bs: number } {
  check(options !== null && typeof options === 'object', 'BAD_OPTION', `exitOutputs options must be an object, got ${String(options)}`, 'pass { batchSize?, configs? } or nothing');
  check(model.headMode === 'per-depth', 'NO_EXIT_HEADS', 'entropy-threshold exiting needs a network with one classifier head per depth, but this one has a shared head',
    "build it with headMode: 'per-depth' (residualMLP or resNetCNN) and train it with earlyExit / trainEarlyExit");
  checkNotEmpty(data, 'exitOutputs');
  const bs = options.batchSize ?? 256;
  check(Number.isInteger(bs) && bs >= 1, 'BAD_OPTION', `batchSize ${bs} is not an integer ≥ 1`, 'pass batchSize as a whole number ≥ 1');
  check(options.configs === undefined || (Array.isArray(options.configs) && options.configs.length > 0), 'BAD_OPTION',
    `configs ${JSON.stringify(options.configs)} is not a non-empty list of depths`, "leave configs out for every exit, or list depth ids such as ['d2', 'd6']");
  const configs = (options.configs ?? model.configs).map((c) => model.resolve(c)).sort((a, b) => model.compareCost(a, b));
  const repeated = configs.map((c) => c.id).filter((id, i, ids) => ids.indexOf(id) !== i);
  check(repeated.length === 0, 'DUPLICATE_DEPTH', () => `configs lists depth "${repeated[0]}" more than once`, 'list each exit once');
  return { configs, bs };
}

/**
 * {@link entropyExit} of a `headMode: 'per-depth'` network on a dataset: {@link exitOutputs}, then the rule at
 * `threshold`. For a sweep or several thresholds, call `exitOutputs` once and pass its result to
 * {@link entropyThresholdSweep} / {@link entropyExit}.
 */
export function evaluateEntropyExit(model: DepthNet, data: Dataset, threshold: EntropyThreshold, options: ExitOutputsOptions = {}): EntropyExitResult {
  // the options, then the threshold against the exits they give, before any forward pass
  const { configs, bs } = resolveExits(model, data, options);
  exitThresholds(threshold, configs.length);
  return entropyExit(outputsAt(model, data, configs, bs), threshold);
}
