import { check, TrellisError } from '@trellis-ml/core';

/** One depth's row of a {@link DepthTable}. */
export interface DepthRow {
  /** Depth id. */
  id: string;
  /** Active skippable blocks. */
  activeBlocks: number;
  /** Top-1 accuracy on the evaluated set. */
  accuracy: number;
  /** Analytic FLOPs per example. */
  flops: number;
  /** Parameters touched. */
  params: number;
  /**
   * Measured latency (ms) of one batch of `latencyBatchSize`, when measured: the median over 5
   * interleaved rounds of each round's fastest run (see {@link evaluateAllDepths}), so a robust
   * near-minimum, not the median of all timed runs (`measureLatency` gives that).
   */
  latencyMs?: number;
  /** The same for a single example, when measured. */
  latencyMs1?: number;
}

/** Accuracy and cost of every depth of a model (what {@link selectDepth} chooses from). */
export interface DepthTable {
  rows: DepthRow[];
  /** Backend the latencies were measured on. */
  backend?: string;
  /** Batch size of `latencyMs`. */
  latencyBatchSize?: number;
}

/** A runtime budget: any combination of FLOPs per example, measured latency (ms per batch) and active blocks. */
export interface Budget {
  maxFlops?: number;
  maxLatencyMs?: number;
  maxBlocks?: number;
}

/** What {@link selectDepth} returns. */
export interface DepthChoice {
  /** The chosen depth id. */
  config: string;
  row: DepthRow;
  /** True when nothing fitted and the shallowest depth was returned (the default, `onOverBudget: 'smallest'`). */
  overBudget: boolean;
}

const BUDGET_KEYS = ['maxFlops', 'maxLatencyMs', 'maxBlocks'];

/** Throws BAD_DEPTH_TABLE unless `row` has a name, a finite accuracy and non-negative costs (a NaN would win or lose every comparison silently). */
function checkRow(row: DepthRow, i: number): void {
  check(row !== null && typeof row === 'object', 'BAD_DEPTH_TABLE', `row ${i} of the depth table is ${String(row)}, not { id, activeBlocks, accuracy, flops, … }`,
    'build the table with evaluateAllDepths');
  const bad = typeof row.id !== 'string' ? `id ${String(row.id)}`
    : !Number.isFinite(row.accuracy) ? `accuracy ${String(row.accuracy)}`
      : !(Number.isFinite(row.flops) && row.flops >= 0) ? `flops ${String(row.flops)}`
        : !(Number.isInteger(row.activeBlocks) && row.activeBlocks >= 0) ? `activeBlocks ${String(row.activeBlocks)}`
          : row.latencyMs !== undefined && !(Number.isFinite(row.latencyMs) && row.latencyMs >= 0) ? `latencyMs ${String(row.latencyMs)}` : null;
  check(bad === null, 'BAD_DEPTH_TABLE', () => `row ${i} ("${String(row.id)}") of the depth table has ${bad}: ids are strings, accuracies finite numbers, FLOPs, latencies and block counts numbers ≥ 0`,
    'build the table with evaluateAllDepths on a non-empty labelled dataset (a NaN accuracy comes from an empty one), or fix the row', { row: i });
}

/**
 * The runtime policy: the most accurate depth whose cost fits the budget (ties go to the cheaper
 * depth). A pure function of the table, cheap enough to call per request. When no depth fits it
 * returns the shallowest depth (`c_min`: fewest FLOPs, then fewest blocks) flagged `overBudget`, as
 * the spec's runtime policy does (default, `onOverBudget: 'smallest'`), or, with
 * `onOverBudget: 'throw'`, throws NO_DEPTH_FITS. A row without a string id, a finite accuracy or
 * non-negative costs throws BAD_DEPTH_TABLE.
 */
export function selectDepth(table: DepthTable, budget: Budget, options: { onOverBudget?: 'throw' | 'smallest' } = {}): DepthChoice {
  check(typeof table === 'object' && table !== null && Array.isArray(table.rows), 'EMPTY_DEPTH_TABLE', `the depth table is ${String(table)}, not { rows: [...] }`,
    'evaluate the model with evaluateAllDepths first and pass its table');
  check(typeof budget === 'object' && budget !== null, 'EMPTY_BUDGET', `the budget is ${String(budget)}, not an object of limits`,
    'pass { maxFlops?, maxLatencyMs?, maxBlocks? } with at least one limit');
  check(options !== null && typeof options === 'object', 'BAD_OPTION', `selectDepth options must be an object, got ${String(options)}`, "pass { onOverBudget: 'smallest' | 'throw' } or nothing");
  const unknown = Object.keys(budget).filter((k) => !BUDGET_KEYS.includes(k));
  check(unknown.length === 0, 'BAD_BUDGET', () => `the budget has unknown limit(s) ${unknown.join(', ')}; they would be ignored`,
    `use only ${BUDGET_KEYS.join(', ')}`, { unknown });
  check(options.onOverBudget === undefined || options.onOverBudget === 'throw' || options.onOverBudget === 'smallest', 'BAD_OPTION',
    `onOverBudget ${JSON.stringify(options.onOverBudget)} is not 'smallest' or 'throw'`, "pass onOverBudget: 'smallest' (default) or 'throw'");
  check(table.rows.length > 0, 'EMPTY_DEPTH_TABLE', 'the depth table has no rows', 'evaluate the model with evaluateAllDepths first');
  table.rows.forEach(checkRow);
  const limits = Object.entries(budget).filter(([, v]) => v !== undefined);
  check(limits.length > 0, 'EMPTY_BUDGET', 'the budget sets no limit', 'pass maxFlops, maxLatencyMs and/or maxBlocks');
  for (const [k, v] of limits) {
    check(typeof v === 'number' && v >= 0, 'BAD_BUDGET', `budget ${k}=${String(v)} is not a number ≥ 0`, 'pass numeric limits (a negative limit would fit nothing)');
  }
  if (budget.maxLatencyMs !== undefined) {
    check(table.rows.every((r) => r.latencyMs !== undefined), 'NO_LATENCY', 'the budget limits latency but the table has no measured latencies',
      'build the table with evaluateAllDepths(model, data, { latency: true })');
  }
  const fits = table.rows.filter((r) =>
    (budget.maxFlops === undefined || r.flops <= budget.maxFlops)
    && (budget.maxLatencyMs === undefined || r.latencyMs! <= budget.maxLatencyMs)
    && (budget.maxBlocks === undefined || r.activeBlocks <= budget.maxBlocks));
  if (fits.length > 0) {
    const best = [...fits].sort((a, b) => b.accuracy - a.accuracy || a.flops - b.flops || a.activeBlocks - b.activeBlocks)[0]!;
    return { config: best.id, row: best, overBudget: false };
  }
  // the shallowest: fewest FLOPs, then fewest blocks (a fromBlocks backbone without FLOPs reads 0 for every depth)
  const smallest = [...table.rows].sort((a, b) => a.flops - b.flops || a.activeBlocks - b.activeBlocks)[0]!;
  if (options.onOverBudget !== 'throw') return { config: smallest.id, row: smallest, overBudget: true };
  throw new TrellisError('NO_DEPTH_FITS',
    `no depth fits the budget ${JSON.stringify(budget)}; the cheapest, "${smallest.id}", needs ${smallest.flops} FLOPs, ${smallest.activeBlocks} blocks${smallest.latencyMs !== undefined ? `, ${smallest.latencyMs.toFixed(3)} ms` : ''}`,
    "raise the budget, add a shallower depth to the model's menu, or leave out onOverBudget: 'throw' to fall back to the shallowest depth (flagged overBudget)",
    { budget, smallest });
}
