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

const BUDGET_KEYS = ['maxFlops', 'maxLatencyMs', 'maxBlocks'] as const;

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
export function selectDepth(table: DepthTable, budget: Budget, options: OverBudgetOptions = {}): DepthChoice {
  check(typeof table === 'object' && table !== null && Array.isArray(table.rows), 'EMPTY_DEPTH_TABLE', `the depth table is ${String(table)}, not { rows: [...] }`,
    'evaluate the model with evaluateAllDepths first and pass its table');
  checkBudgetShape(budget, options, BUDGET_KEYS, 'selectDepth');
  check(table.rows.length > 0, 'EMPTY_DEPTH_TABLE', 'the depth table has no rows', 'evaluate the model with evaluateAllDepths first');
  table.rows.forEach(checkRow);
  checkBudgetLimits(budget, BUDGET_KEYS);
  if (budget.maxLatencyMs !== undefined) {
    check(table.rows.every((r) => r.latencyMs !== undefined), 'NO_LATENCY', 'the budget limits latency but the table has no measured latencies',
      'build the table with evaluateAllDepths(model, data, { latency: true })');
  }
  const { best, overBudget } = chooseWithinBudget(table.rows, budget, (r) => ({ accuracy: r.accuracy, flops: r.flops, blocks: r.activeBlocks, latencyMs: r.latencyMs }));
  if (!overBudget || options.onOverBudget !== 'throw') return { config: best.id, row: best, overBudget };
  throw new TrellisError('NO_DEPTH_FITS',
    `no depth fits the budget ${JSON.stringify(budget)}; the cheapest, "${best.id}", needs ${best.flops} FLOPs, ${best.activeBlocks} blocks${best.latencyMs !== undefined ? `, ${best.latencyMs.toFixed(3)} ms` : ''}`,
    "raise the budget, add a shallower depth to the model's menu, or leave out onOverBudget: 'throw' to fall back to the shallowest depth (flagged overBudget)",
    { budget, smallest: best });
}

/** What a budgeted choice ({@link selectDepth}, `chooseEntropyThreshold`) does when nothing fits the budget. */
export interface OverBudgetOptions {
  /** `'smallest'` (default): return the cheapest candidate flagged `overBudget: true`; `'throw'`: throw. */
  onOverBudget?: 'throw' | 'smallest';
}

/**
 * Checks a budget's shape and the over-budget option: an object (EMPTY_BUDGET otherwise) of known limit names
 * (BAD_BUDGET: an unknown one would be ignored), and `onOverBudget` `'smallest'` or `'throw'` (BAD_OPTION).
 * Shared by {@link selectDepth} and `chooseEntropyThreshold`.
 */
export function checkBudgetShape(budget: unknown, options: unknown, keys: readonly string[], what: string): void {
  check(typeof budget === 'object' && budget !== null, 'EMPTY_BUDGET', `the budget is ${String(budget)}, not an object of limits`,
    `pass { ${keys.map((k) => `${k}?`).join(', ')} } with at least one limit`);
  check(options !== null && typeof options === 'object', 'BAD_OPTION', `${what} options must be an object, got ${String(options)}`, "pass { onOverBudget: 'smallest' | 'throw' } or nothing");
  const unknown = Object.keys(budget).filter((k) => !keys.includes(k));
  check(unknown.length === 0, 'BAD_BUDGET', () => `the budget has unknown limit(s) ${unknown.join(', ')}; they would be ignored`,
    `use only ${keys.join(', ')}`, { unknown });
  const policy = (options as OverBudgetOptions).onOverBudget;
  check(policy === undefined || policy === 'throw' || policy === 'smallest', 'BAD_OPTION',
    `onOverBudget ${JSON.stringify(policy)} is not 'smallest' or 'throw'`, "pass onOverBudget: 'smallest' (default) or 'throw'");
}

/** Throws EMPTY_BUDGET for a budget that sets no limit and BAD_BUDGET for a limit that is not a number ≥ 0 (negative or NaN). */
export function checkBudgetLimits(budget: object, keys: readonly string[]): void {
  const limits = Object.entries(budget).filter(([, v]) => v !== undefined);
  check(limits.length > 0, 'EMPTY_BUDGET', 'the budget sets no limit', `pass ${keys.join(', ')} (at least one)`);
  for (const [k, v] of limits) {
    check(typeof v === 'number' && v >= 0, 'BAD_BUDGET', `budget ${k}=${String(v)} is not a number ≥ 0`, 'pass numeric limits (a negative limit would fit nothing)');
  }
}

/**
 * The most accurate candidate within the budget (ties to fewer FLOPs, then fewer blocks), or, when none fits,
 * the cheapest (fewest FLOPs, then fewest blocks) flagged `overBudget`. The budget is checked by the caller.
 */
export function chooseWithinBudget<T>(items: readonly T[], budget: Budget, costOf: (item: T) => { accuracy: number; flops: number; blocks: number; latencyMs?: number }): { best: T; overBudget: boolean } {
  const scored = items.map((item) => ({ item, c: costOf(item) }));
  const fits = scored.filter(({ c }) =>
    (budget.maxFlops === undefined || c.flops <= budget.maxFlops)
    && (budget.maxLatencyMs === undefined || c.latencyMs! <= budget.maxLatencyMs)
    && (budget.maxBlocks === undefined || c.blocks <= budget.maxBlocks));
  if (fits.length > 0) {
    return { best: [...fits].sort((a, b) => b.c.accuracy - a.c.accuracy || a.c.flops - b.c.flops || a.c.blocks - b.c.blocks)[0]!.item, overBudget: false };
  }
  // the cheapest: fewest FLOPs, then fewest blocks (a fromBlocks backbone without FLOPs reads 0 for every depth)
  return { best: [...scored].sort((a, b) => a.c.flops - b.c.flops || a.c.blocks - b.c.blocks)[0]!.item, overBudget: true };
}
