import { checkChoice } from './errors.js';

/**
 * A claim of a paper (or of an issue's "done when"), checked against what a run measured. The
 * report opens with the table of claims; a claim that does not hold is reported as such.
 */
export interface Claim {
  /** Short stable id, e.g. `crl-lowers-loss-auc`. */
  id: string;
  /** The claim in words. */
  statement: string;
  /** The measured value the claim is judged on. */
  measured: number;
  /** The threshold it is compared with. */
  threshold: number;
  /** How measured is compared with threshold. */
  comparator: '>=' | '<=' | '>' | '<';
  /** Whether the claim held on this run. */
  holds: boolean;
  /** Seeds the measurement is over. */
  seeds: number[];
  /** Optional spread (e.g. std over seeds) or context. */
  detail?: string;
}

const COMPARATORS = ['>=', '<=', '>', '<'] as const;

/**
 * Builds a {@link Claim}, computing `holds` from the measured value (NaN never holds).
 * @throws TrellisError `BAD_OPTION` for a comparator other than `>=`, `<=`, `>`, `<` (one such as `==` was
 * judged as `<`).
 */
export function claim(
  id: string,
  statement: string,
  measured: number,
  comparator: Claim['comparator'],
  threshold: number,
  seeds: number[],
  detail?: string,
): Claim {
  checkChoice(comparator, COMPARATORS, `comparator of claim "${id}"`);
  const holds = Number.isFinite(measured) && (
    comparator === '>=' ? measured >= threshold
      : comparator === '<=' ? measured <= threshold
        : comparator === '>' ? measured > threshold
          : measured < threshold);
  return { id, statement, measured, threshold, comparator, holds, seeds, ...(detail ? { detail } : {}) };
}

/** Mean and (sample) standard deviation of a list of numbers. */
export function meanStd(values: readonly number[]): { mean: number; std: number } {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN };
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std };
}
