/**
 * Small pure pieces of the reproduction's analysis (spec §10.7, §13): correlations with bootstrap
 * intervals, how much an index costs in training-epoch equivalents, and how often an index orders
 * two models' retraining costs correctly.
 */
import { Rng } from '@trellis-ml/core';
import { checkSameLength } from './inputs.js';
import { bootstrapCI, kendall, median, pearson, spearman, type BootstrapInterval } from './stats.js';

/** Spearman ρ, Pearson r and Kendall τ-b of one index against one cost, each with a bootstrap CI. */
export interface CorrelationWithIntervals {
  n: number;
  spearman: number;
  pearson: number;
  kendall: number;
  spearmanCI: BootstrapInterval;
  pearsonCI: BootstrapInterval;
  kendallCI: BootstrapInterval;
}

/**
 * Spearman(index, cost), Pearson(index, `pearsonCost(cost)`) and Kendall(index, cost) with 95%
 * percentile-bootstrap intervals (spec §7.1: "Pearson r, Spearman ρ and Kendall τ with bootstrap 95%
 * CIs"). The resampling stream is `Rng.derive(seed, 'bootstrap', ...labels)`, separate from every
 * stream of the grid, and the same pairs are drawn for the three statistics.
 */
export function correlationsWithIntervals(index: readonly number[], cost: readonly number[], seed: number, labels: ReadonlyArray<string | number>,
  options: { resamples?: number; level?: number; pearsonCost?: (c: number) => number } = {}): CorrelationWithIntervals {
  const tr = options.pearsonCost ?? ((c: number) => c);
  const pearsonOf = (x: number[], y: number[]): number => pearson(x, y.map(tr));
  const ci = (stat: (x: number[], y: number[]) => number): BootstrapInterval =>
    bootstrapCI(index, cost, stat, Rng.derive(seed, 'bootstrap', ...labels), { resamples: options.resamples, level: options.level });
  return {
    n: index.length,
    spearman: spearman(index, cost), pearson: pearsonOf([...index], [...cost]), kendall: kendall(index, cost),
    spearmanCI: ci(spearman), pearsonCI: ci(pearsonOf), kendallCI: ci(kendall),
  };
}

/**
 * What computing an index costs in training-epoch equivalents (spec §13.2 "index cost ≤ 1
 * training-epoch equivalent"): the median index wall time over settings divided by the training time
 * of one epoch, Σ training seconds / Σ epochs over the runs that trained. NaN when no run trained.
 */
export function epochEquivalents(indexSeconds: readonly number[], trainSeconds: readonly number[], trainEpochs: readonly number[]): number {
  checkSameLength(trainSeconds, trainEpochs, 'epochEquivalents (training seconds and epochs per run)');
  const epochs = trainEpochs.reduce((s, v) => s + v, 0);
  if (!(epochs > 0) || !indexSeconds.length) return NaN;
  return median(indexSeconds) / (trainSeconds.reduce((s, v) => s + v, 0) / epochs);
}

/** One setting measured on two models: each model's index value and retraining cost. */
export interface ModelPair {
  indexA: number;
  indexB: number;
  costA: number;
  costB: number;
}

/**
 * The fraction of settings where the index orders the two models' costs correctly, i.e.
 * sign(indexB − indexA) = sign(costB − costA), over the settings whose costs differ (spec §13.3,
 * ARM's cross-architecture claim). NaN when every pair is tied in cost.
 */
export function orderingAgreement(pairs: readonly ModelPair[]): number {
  let ok = 0;
  let n = 0;
  for (const p of pairs) {
    if (p.costA === p.costB) continue;
    n++;
    if (Math.sign(p.indexB - p.indexA) === Math.sign(p.costB - p.costA)) ok++;
  }
  return n ? ok / n : NaN;
}
