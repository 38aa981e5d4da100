/** Validation of the (old, new) dataset pair every index takes, with errors that say what to do. */
import { check, checkClassLabels, Rng, TrellisError, type Dataset, type ModelAdapter } from '@trellis-ml/core';

/** Throws `SHAPE_MISMATCH` when old and new examples differ in shape, or do not fit the model. */
export function checkSameShape(oldData: Dataset, newData: Dataset, model?: ModelAdapter): void {
  const a = oldData.shape.join('×');
  const b = newData.shape.join('×');
  if (a !== b) {
    throw new TrellisError('SHAPE_MISMATCH', `old examples have shape [${oldData.shape.join(', ')}] but new examples have [${newData.shape.join(', ')}]`,
      'pass old and new data of the same example shape (reshape one with dataset.reshape, or resize the images first)',
      { old: oldData.shape, new: newData.shape });
  }
  if (oldData.numClasses !== newData.numClasses) {
    throw new TrellisError('CLASS_COUNT_MISMATCH', `old data has ${oldData.numClasses} classes but new data has ${newData.numClasses}`,
      'use the same label space for both datasets');
  }
  if (model && model.numClasses !== oldData.numClasses) {
    throw new TrellisError('CLASS_COUNT_MISMATCH', `the data has ${oldData.numClasses} classes but the model outputs ${model.numClasses}`,
      'pass the model the data was labelled for');
  }
}

/** Throws `UNLABELED` when a dataset the index needs labels of has none. */
export function checkLabeled(d: Dataset, which: string, index: string): Int32Array {
  if (!d.labels) {
    throw new TrellisError('UNLABELED', `${index} needs labels on the ${which} data, which has none`,
      which === 'new' ? 'label a sample of the new data, or use ARM (arm), which needs no labels' : 'pass the labelled data the model was trained on');
  }
  return d.labels;
}

/**
 * PreIndex compares each clean example with its own shifted copy: same size, same order, same
 * labels. Throws `UNPAIRED_DATA` otherwise, pointing to ARM and RESQUE, which need no pairing.
 */
export function checkPaired(oldData: Dataset, newData: Dataset): void {
  const offer = 'PreIndex needs the same examples clean and shifted (new[i] = shift(old[i])). For unpaired data use arm(...) (no labels needed) or resqueShift(...) (labels, no pairing)';
  if (oldData.size !== newData.size) {
    throw new TrellisError('UNPAIRED_DATA', `old data has ${oldData.size} examples but new data has ${newData.size}, so they cannot be pairs`, offer,
      { oldSize: oldData.size, newSize: newData.size });
  }
  const a = checkLabeled(oldData, 'old', 'PreIndex');
  const b = checkLabeled(newData, 'new', 'PreIndex');
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      throw new TrellisError('UNPAIRED_DATA', `example ${i} has label ${a[i]} in the old data but ${b[i]} in the new data, so the sets are not paired`, offer,
        { index: i });
    }
  }
}

/**
 * A seeded class-stratified sample of about `max` row indices (sorted), or all rows when n ≤ max. Each class
 * gets `round(share × max)` of its rows, so the total can differ from `max` by up to half the number of classes
 * in either direction (labels [0, 0, 1, 1] with max 3 give all 4 rows); without labels, exactly `max` rows.
 */
export function stratifiedRows(labels: Int32Array | null, n: number, max: number, seed: number): Int32Array {
  if (n <= max) return Int32Array.from({ length: n }, (_, i) => i);
  const rng = Rng.derive(seed, 'stratified');
  if (!labels) return rng.sample(n, max).sort();
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const l = labels[i]!;
    if (!byClass.has(l)) byClass.set(l, []);
    byClass.get(l)!.push(i);
  }
  const out: number[] = [];
  const classes = [...byClass.keys()].sort((x, y) => x - y);
  for (const c of classes) {
    const rows = byClass.get(c)!;
    const take = Math.round((rows.length / n) * max);
    const perm = rng.permutation(rows.length);
    for (let k = 0; k < Math.min(take, rows.length); k++) out.push(rows[perm[k]!]!);
  }
  return Int32Array.from(out).sort();
}

/**
 * Throws unless `values` holds `rows` row-major rows of `width` numbers: `BAD_SHAPE` for a width that
 * is not a whole number ≥ 1 or a length that does not match, `EMPTY_INPUT` when there is no row.
 */
export function checkRows(values: ArrayLike<number>, rows: number, width: number, what: string): void {
  check(Number.isInteger(width) && width >= 1, 'BAD_SHAPE', () => `${what}: width ${String(width)} is not a whole number ≥ 1`,
    'pass the number of values per row (the class count or the feature dimension)');
  check(rows >= 1, 'EMPTY_INPUT', () => `${what}: no rows`, 'pass at least one example');
  check(values.length === rows * width, 'BAD_SHAPE', () => `${what}: ${values.length} values do not form ${rows} rows of width ${width}`,
    'pass n × width row-major values, one row per label');
}

/**
 * Throws `LABEL_OUT_OF_RANGE` unless every label is a whole number in `[0, k)`; with `k` = Infinity
 * (the class count is read from the labels) any whole number ≥ 0 passes.
 */
export function checkLabelRange(labels: ArrayLike<number>, k: number): void {
  checkClassLabels(labels, k, { item: 'row', ...(Number.isFinite(k) ? { fix: `pass labels 0..${k - 1} (k = the model's number of classes)` } : {}) });
}

/**
 * Throws `NON_FINITE_VALUES` naming the first NaN or ±Infinity of `values` (`what` names them, e.g.
 * "LogME's features"); with `width`, the position is read as a row and column of a row-major matrix.
 */
export function checkFinite(values: ArrayLike<number>, what: string, fix = 'remove or impute the NaN/Inf values first', width?: number): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) continue;
    const at = width ? `row ${Math.floor(i / width)}, column ${i % width}` : `position ${i}`;
    throw new TrellisError('NON_FINITE_VALUES', `${what} contain ${v} at ${at}`, fix, { index: i, value: v });
  }
}

/**
 * The rows of a row-major `values` matrix of `width` columns. Throws `BAD_SHAPE` unless `width` is a whole
 * number ≥ 1 and `values` holds whole rows of it, and `NON_FINITE_VALUES` at the first NaN or ±Infinity.
 */
export function checkedRowCount(values: ArrayLike<number>, width: number, what: string): number {
  check(Number.isInteger(width) && width >= 1, 'BAD_SHAPE', () => `${what}: width ${String(width)} is not a whole number ≥ 1`,
    'pass the number of values per row (the feature dimension or the class count)');
  check(values.length % width === 0, 'BAD_SHAPE', () => `${what}: ${values.length} values are not whole rows of width ${width}`,
    'pass n × width row-major values (both sets with the same width)');
  checkFinite(values, `${what}: the values`, 'remove or impute the NaN/Inf rows first (check the model for NaN activations)', width);
  return values.length / width;
}

/** Throws `LENGTH_MISMATCH` unless the two lists have the same length. */
export function checkSameLength(a: ArrayLike<unknown>, b: ArrayLike<unknown>, what: string): void {
  check(a.length === b.length, 'LENGTH_MISMATCH', () => `${what}: ${a.length} values against ${b.length}`, 'pass one value on each side per item');
}
