import { Rng, TrellisError, argmaxRows, bootstrapInterval, check, checkClassLabels, predictLogits, spearman, type Dataset, type ModelAdapter } from '@trellis-ml/core';
import { checkGroupArray, checkGroupIds, checkNoEmptyGroup } from './groups.js';

/** Per-group accuracy and loss, disparity metrics and rank correlations, as pure host functions. */

/** Accuracy, mean cross-entropy and size of one group (or of the whole set). */
export interface GroupStats {
  accuracy: number;
  loss: number;
  count: number;
  /** Bootstrap 95% interval of the accuracy, for groups smaller than `bootstrapBelow`. */
  ci95?: [number, number];
}

/** A model's accuracy and loss, overall and per group, on one evaluation set. */
export interface GroupReport {
  overall: GroupStats;
  perGroup: GroupStats[];
}

/** Options of {@link groupReport}. */
export interface GroupReportOptions {
  /** Attach a bootstrap 95% CI to groups with fewer samples than this (default 200; 0 disables). */
  bootstrapBelow?: number;
  /** Bootstrap resamples (default 1000). */
  resamples?: number;
  /** Seed of the bootstrap (default 0). */
  seed?: number;
}

/**
 * Checks `n × k` logits against `n` labels.
 * @throws TrellisError `LENGTH_MISMATCH` when there are not `k` logits per label, `LABEL_OUT_OF_RANGE` for a label outside `[0, k)`,
 * `NON_FINITE_LOGITS` for a NaN or infinite logit.
 */
export function checkLogitRows(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number): void {
  check(Number.isInteger(k) && k >= 1 && logits.length === labels.length * k, 'LENGTH_MISMATCH',
    () => `${logits.length} logits for ${labels.length} labels × ${k} classes`, 'pass one row of numClasses logits per label (numClasses = the model\'s class count)');
  checkClassLabels(labels, k, { fix: `labels must be integers 0..${k - 1} (is numClasses right?)` });
  for (let i = 0; i < logits.length; i++) {
    if (!Number.isFinite(logits[i]!)) {
      throw new TrellisError('NON_FINITE_LOGITS', `logit ${i % k} of example ${Math.floor(i / k)} is ${logits[i]}, so the example has no prediction or loss`,
        'evaluate a model whose outputs are finite: NaN or infinite logits usually mean its training diverged (lower the learning rate, or restore a checkpoint)');
    }
  }
}

/**
 * Per-example cross-entropy from `n × k` logits (log-sum-exp form).
 * @throws TrellisError `LENGTH_MISMATCH` when there are not `k` logits per label, `LABEL_OUT_OF_RANGE` for a label outside `[0, k)`, `NON_FINITE_LOGITS`.
 */
export function perExampleLoss(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number): Float64Array {
  checkLogitRows(logits, labels, k);
  const out = new Float64Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[i * k + j]!);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(logits[i * k + j]! - max);
    out[i] = max + Math.log(sum) - logits[i * k + labels[i]!]!;
  }
  return out;
}

/**
 * Per-group accuracy and loss from logits. Every group in `[0, numGroups)` must have samples.
 * @throws TrellisError `EMPTY_GROUP` when a group has no samples, `GROUP_IDS_MISSING` / `GROUP_ID_OUT_OF_RANGE` on bad ids,
 *   `LENGTH_MISMATCH` / `LABEL_OUT_OF_RANGE` (see {@link perExampleLoss}).
 */
export function groupReport(logits: ArrayLike<number>, labels: ArrayLike<number>, groups: ArrayLike<number>, numClasses: number, numGroups: number,
  options: GroupReportOptions = {}): GroupReport {
  check(labels.length === groups.length, 'GROUP_IDS_MISSING', `${groups.length} group ids for ${labels.length} labels`, 'give every example a group id');
  checkGroupArray(groups, labels.length, numGroups, 'the evaluation set');
  checkNoEmptyGroup(groups, numGroups);
  const preds = argmaxRows(logits, numClasses);
  const losses = perExampleLoss(logits, labels, numClasses);
  const hit = new Float64Array(numGroups);
  const loss = new Float64Array(numGroups);
  const count = new Float64Array(numGroups);
  const members: number[][] = Array.from({ length: numGroups }, () => []);
  let totalHit = 0;
  let totalLoss = 0;
  for (let i = 0; i < labels.length; i++) {
    const g = groups[i]!;
    const h = preds[i] === labels[i] ? 1 : 0;
    hit[g]! += h;
    loss[g]! += losses[i]!;
    count[g]! += 1;
    members[g]!.push(h);
    totalHit += h;
    totalLoss += losses[i]!;
  }
  const below = options.bootstrapBelow ?? 200;
  check(below >= 0, 'BAD_OPTION', () => `bootstrapBelow ${String(below)} is not a number ≥ 0`, 'pass the group size below which a bootstrap CI is attached, e.g. 200 (0 disables)');
  const perGroup: GroupStats[] = [];
  for (let g = 0; g < numGroups; g++) {
    const s: GroupStats = { accuracy: hit[g]! / count[g]!, loss: loss[g]! / count[g]!, count: count[g]! };
    if (count[g]! < below) s.ci95 = bootstrapCi(members[g]!, options.resamples ?? 1000, Rng.derive(options.seed ?? 0, 'bootstrap', g));
    perGroup.push(s);
  }
  const n = labels.length;
  return { overall: { accuracy: totalHit / n, loss: totalLoss / n, count: n }, perGroup };
}

/**
 * Percentile bootstrap 95% interval of the mean of 0/1 outcomes (core's {@link bootstrapInterval}:
 * `resamples` draws of n outcomes with replacement, NumPy-default quantiles of the resampled means).
 */
export function bootstrapCi(outcomes: readonly number[], resamples: number, rng: Rng): [number, number] {
  check(outcomes.length >= 1, 'EMPTY_GROUP', 'a bootstrap interval of no outcomes is undefined', 'pass the 0/1 outcomes of a group with at least one example');
  const ci = bootstrapInterval(outcomes.length, (idx) => {
    let s = 0;
    for (const i of idx) s += outcomes[i]!;
    return s / idx.length;
  }, rng, { resamples });
  return [ci.lo, ci.hi];
}

/**
 * Evaluates `model` per group on a labeled dataset with group ids.
 * @throws TrellisError `GROUP_IDS_MISSING` when ids are missing, `EMPTY_GROUP` when a group has no sample.
 */
export function evaluateGroups(model: ModelAdapter, data: Dataset, numGroups: number, options: GroupReportOptions = {}): GroupReport {
  check(data.labels, 'UNLABELED', 'per-group evaluation needs labels', 'evaluate on a labeled dataset');
  const groups = checkGroupIds(data, numGroups, 'the evaluation set');
  checkNoEmptyGroup(groups, numGroups);
  const logits = predictLogits(model, data);
  return groupReport(logits, data.labels, groups, model.numClasses, numGroups, options);
}

/** How pruning changed each group, dense → pruned (see the spec's §3). Accuracies are fractions. */
export interface Disparity {
  /** `R(a) = J(θ̄; D_a) − J(θ*; D_a)`. */
  excessLoss: number[];
  /** `ξ_R = max_a R(a) − min_a R(a)`. */
  excessLossSpread: number;
  /** `Δ_a = acc_a(θ*) − acc_a(θ̄)` (positive = worse). */
  accuracyDrop: number[];
  /** `Δ = acc(θ*) − acc(θ̄)`. */
  overallDrop: number;
  /** `ξ_acc = max_a Δ_a − min_a Δ_a`, the accuracy-drop spread. */
  accuracyDropSpread: number;
  /** `ψ_a = Δ_a − Δ`. */
  gapViolation: number[];
  /** `G(θ*) = max_a acc_a − min_a acc_a` of the dense model. */
  accuracyGapDense: number;
  /** `G(θ̄)` of the pruned model. */
  accuracyGapPruned: number;
  /** `min_a acc_a(θ̄)`. */
  worstGroupAccuracy: number;
  /** Overall accuracy of the pruned model. */
  prunedAccuracy: number;
  /** Spearman ρ between `acc_a(θ*)` and `Δ_a` ("rich get richer" when negative); NaN with fewer than 3 groups or a constant side. */
  richGetRicherRho: number;
}

/** Disparity metrics between a dense and a pruned model's {@link GroupReport}s on the same set. */
export function disparity(dense: GroupReport, pruned: GroupReport): Disparity {
  check(dense.perGroup.length === pruned.perGroup.length, 'GROUP_COUNT_MISMATCH',
    `the dense report has ${dense.perGroup.length} groups and the pruned one ${pruned.perGroup.length}`, 'compare reports of the same evaluation set and group design');
  check(dense.perGroup.length >= 1, 'EMPTY_GROUP', 'the reports have no groups, so there is no disparity to measure', 'pass reports from groupReport / evaluateGroups with numGroups ≥ 1');
  const excessLoss = pruned.perGroup.map((p, a) => p.loss - dense.perGroup[a]!.loss);
  const accuracyDrop = dense.perGroup.map((d, a) => d.accuracy - pruned.perGroup[a]!.accuracy);
  const overallDrop = dense.overall.accuracy - pruned.overall.accuracy;
  const spread = (v: number[]): number => Math.max(...v) - Math.min(...v);
  return {
    excessLoss,
    excessLossSpread: spread(excessLoss),
    accuracyDrop,
    overallDrop,
    accuracyDropSpread: spread(accuracyDrop),
    gapViolation: accuracyDrop.map((d) => d - overallDrop),
    accuracyGapDense: spread(dense.perGroup.map((g) => g.accuracy)),
    accuracyGapPruned: spread(pruned.perGroup.map((g) => g.accuracy)),
    worstGroupAccuracy: Math.min(...pruned.perGroup.map((g) => g.accuracy)),
    prunedAccuracy: pruned.overall.accuracy,
    richGetRicherRho: dense.perGroup.length > 2 ? spearman(dense.perGroup.map((g) => g.accuracy), accuracyDrop) : NaN,
  };
}

/**
 * Mean over runs of the Spearman ρ between a per-group indicator and each run's per-group outcome
 * (e.g. the excess loss at each sparsity): the correlation runs over the groups *within* one run, and
 * runs count equally. (Averaging the outcomes over runs first would let the run with the largest
 * values — a collapsed model — decide the ranking alone.) Runs whose ρ is undefined (a constant side)
 * are skipped; NaN when none is defined.
 */
export function meanRankCorrelation(indicator: readonly number[], outcomesByRun: ReadonlyArray<readonly number[]>): number {
  const rhos = outcomesByRun.map((o) => spearman(indicator, o)).filter((r) => Number.isFinite(r));
  return rhos.length ? rhos.reduce((s, r) => s + r, 0) / rhos.length : NaN;
}
