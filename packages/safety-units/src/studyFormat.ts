/**
 * Number formatting shared by the study's log lines, report tables and claims.
 *
 * @module
 */

/** Percent with one decimal (0.1234 → 12.3). */
export const pct = (x: number) => Math.round(x * 1000) / 10;
/** Percent with two decimals (grid fractions such as 0.25 %). */
export const pct2 = (x: number) => Math.round(x * 10000) / 100;
/** Rounded to three decimals; non-finite values become NaN. */
export const round3 = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : NaN);
/** {@link pct}, or `'n/a'` for a non-finite value. */
export const pctOrNa = (x: number) => (Number.isFinite(x) ? pct(x) : 'n/a');
