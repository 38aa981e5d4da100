import { TrellisError, median as coreMedian } from '@trellis-ml/core';
import type { TrainingRecipe } from './recipe.js';

/**
 * Timing a LiRA reference model against a baseline training run, fairly: the two are trained in
 * interleaved pairs (one of each, back to back, alternating which goes first) so both see the same
 * machine load, and the statistic is the median of the per-pair ratios.
 */

/** The work of one training run: examples, batch size, epochs and optimizer steps. */
export interface TrainingWork {
  examples: number;
  batchSize: number;
  epochs: number;
  /** epochs × ⌈examples / batchSize⌉ (the Trainer keeps the last, partial batch). */
  steps: number;
}

/** The training work of `examples` examples under `recipe`. */
export function trainingWork(examples: number, recipe: Pick<TrainingRecipe, 'batchSize' | 'epochs'>): TrainingWork {
  if (!(Number.isInteger(examples) && examples >= 0)) throw new TrellisError('BAD_OPTION', `trainingWork got ${String(examples)} examples, not a whole number ≥ 0`, 'pass the size of the training set (dataset.size)');
  for (const key of ['batchSize', 'epochs'] as const) {
    const v = recipe?.[key];
    if (!(Number.isInteger(v) && v > 0)) throw new TrellisError('BAD_OPTION', `trainingWork got ${key} ${String(v)}, not a positive whole number`, `pass the recipe's ${key}, e.g. SPEC_RECIPE`);
  }
  return { examples, batchSize: recipe.batchSize, epochs: recipe.epochs, steps: recipe.epochs * Math.ceil(examples / recipe.batchSize) };
}

/** Which run of a pair goes first: baseline, reference, reference, baseline, … (ABBA, cancels a linear drift in load). */
export type PairOrder = 'baseline-first' | 'reference-first';

/** Order of pair `index` in the ABBA sequence (even pairs baseline first, odd pairs reference first). */
export function pairOrder(index: number): PairOrder {
  if (!(Number.isInteger(index) && index >= 0)) throw new TrellisError('BAD_OPTION', `pair index ${String(index)} is not a whole number ≥ 0`, 'number the timing pairs 0, 1, 2, …');
  return index % 2 === 0 ? 'baseline-first' : 'reference-first';
}

/** One baseline run and one LiRA reference run timed back to back. */
export interface TimingPair {
  pair: number;
  order: PairOrder;
  baselineSeconds: number;
  referenceSeconds: number;
  /** referenceSeconds / baselineSeconds. */
  ratio: number;
}

/**
 * Runs `baseline` and `reference` back to back in the order {@link pairOrder}(index) and returns
 * their times (each callback reports its own `seconds`, e.g. the Trainer's fit time) and results.
 */
export async function timePair<B extends { seconds: number }, R extends { seconds: number }>(
  index: number,
  baseline: () => Promise<B>,
  reference: () => Promise<R>,
): Promise<{ pair: TimingPair; baseline: B; reference: R }> {
  const order = pairOrder(index);
  let b: B;
  let r: R;
  if (order === 'baseline-first') {
    b = await baseline();
    r = await reference();
  } else {
    r = await reference();
    b = await baseline();
  }
  return { pair: { pair: index, order, baselineSeconds: b.seconds, referenceSeconds: r.seconds, ratio: r.seconds / b.seconds }, baseline: b, reference: r };
}

/**
 * Median (mean of the two middle values for an even count), core's {@link coreMedian}.
 * @throws TrellisError `EMPTY` for no values.
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new TrellisError('EMPTY', 'the median of no values', 'pass at least one value');
  return coreMedian(values);
}

/** Summary of interleaved timing pairs. */
export interface TimingSummary {
  pairs: number;
  /** Median of the per-pair ratios reference / baseline (the benchmark's figure). */
  medianRatio: number;
  /** median(reference) / median(baseline), for comparison. */
  ratioOfMedians: number;
  minRatio: number;
  maxRatio: number;
  medianBaselineSeconds: number;
  medianReferenceSeconds: number;
}

/** Summarises interleaved timing pairs (throws `EMPTY` for none, `BAD_TIMING` for a non-positive time). */
export function summarizeTimingPairs(pairs: readonly TimingPair[]): TimingSummary {
  if (pairs.length === 0) throw new TrellisError('EMPTY', 'no timing pairs to summarise', 'time at least one baseline/reference pair');
  for (const p of pairs) {
    if (!(p.baselineSeconds > 0 && p.referenceSeconds > 0)) {
      throw new TrellisError('BAD_TIMING', `pair ${p.pair} has times ${p.baselineSeconds} s (baseline) and ${p.referenceSeconds} s (reference)`, 'time each run with a positive wall-clock duration');
    }
  }
  const ratios = pairs.map((p) => p.referenceSeconds / p.baselineSeconds);
  const mb = median(pairs.map((p) => p.baselineSeconds));
  const mr = median(pairs.map((p) => p.referenceSeconds));
  return {
    pairs: pairs.length, medianRatio: median(ratios), ratioOfMedians: mr / mb,
    minRatio: Math.min(...ratios), maxRatio: Math.max(...ratios), medianBaselineSeconds: mb, medianReferenceSeconds: mr,
  };
}
