/**
 * RESQUE's distribution-shift index (Sangarya, Kim, AAAI 2025): the mean over classes of the angle
 * (as a fraction of π) between the summed representation of class k on old data and on new data
 * at one layer (spec §5). Labels needed, pairing not.
 */
import { TrellisError, type Dataset, type ModelAdapter } from '@trellis-ml/core';
import { checkFinite, checkLabeled, checkLabelRange, checkSameLength, checkSameShape } from './inputs.js';
import { checkLayerNames, extractRepresentations, type TapOptions } from './taps.js';

/** RESQUE's value and per-class angles (classes without rows in either set get NaN and are skipped). */
export interface ResqueResult {
  value: number;
  perClass: number[];
  layer: string;
}

/** Sums of rows per class: `k × width`. */
export function classSums(values: Float32Array, labels: Int32Array, width: number, k: number): Float64Array {
  if (!(Number.isInteger(width) && width >= 1 && values.length === labels.length * width)) {
    throw new TrellisError('BAD_SHAPE', `${values.length} representation values do not form ${labels.length} rows of width ${width}`,
      'pass n × width row-major representations and one label per row');
  }
  checkLabelRange(labels, k);
  const s = new Float64Array(k * width);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i]!;
    for (let t = 0; t < width; t++) s[c * width + t] = s[c * width + t]! + values[i * width + t]!;
  }
  return s;
}

/**
 * `arccos(clip(cos(c, c'), −1, 1)) / π` between two vectors (0 for identical directions; NaN when either
 * is the zero vector, whose direction is undefined).
 * @throws TrellisError `LENGTH_MISMATCH` for vectors of different lengths, `NON_FINITE_VALUES` for a NaN/±Infinity entry.
 */
export function angleFraction(c: ArrayLike<number>, c2: ArrayLike<number>): number {
  checkSameLength(c, c2, 'angleFraction');
  checkFinite(c, 'angleFraction: the entries of the first vector', 'pass finite vectors');
  checkFinite(c2, 'angleFraction: the entries of the second vector', 'pass finite vectors');
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < c.length; i++) {
    dot += c[i]! * c2[i]!;
    na += c[i]! * c[i]!;
    nb += c2[i]! * c2[i]!;
  }
  if (na === 0 || nb === 0) return NaN;
  const cos = Math.max(-1, Math.min(1, dot / Math.sqrt(na * nb)));
  if (cos >= 1 - 1e-15 && c.length > 0) {
    let same = true;
    for (let i = 0; i < c.length && same; i++) same = c[i] === c2[i];
    if (same) return 0;
  }
  return Math.acos(cos) / Math.PI;
}

/** Rows per class of labels in `[0, k)`. */
function classCounts(labels: Int32Array, k: number): Int32Array {
  const counts = new Int32Array(k);
  for (const c of labels) counts[c]!++;
  return counts;
}

/**
 * RESQUE from class sums (pure): the mean angle fraction over classes present in both sets. With `counts`
 * (rows per class on each side), a class is skipped only when it has no row on one side, and a class with rows
 * whose summed representation is the zero vector is an error; without them, a zero sum marks a class as absent.
 * @throws TrellisError `BAD_SHAPE` unless both sums hold `k × width` values, `NON_FINITE_VALUES` for a NaN/±Infinity sum (a skipped NaN angle used to read as "no
 * shift"), `ZERO_CLASS_SUM` for a class with rows but a zero sum, `EMPTY_INPUT` when no class is in both sets.
 */
export function resqueFromSums(oldSums: Float64Array, newSums: Float64Array, k: number, width: number,
  counts?: { old: ArrayLike<number>; new: ArrayLike<number> }): ResqueResult {
  if (!(Number.isInteger(k) && k >= 1 && Number.isInteger(width) && width >= 1 && oldSums.length === k * width && newSums.length === k * width)) {
    // shorter sums used to leave the last classes empty, read as absent (skipped) instead of an error
    throw new TrellisError('BAD_SHAPE', `RESQUE got ${oldSums.length} old and ${newSums.length} new class-sum values for ${k} classes of width ${width}`,
      'pass k × width class sums on each side (classSums gives them)');
  }
  const sumsFix = 'sum finite representations (check the model for NaN/Inf activations)';
  checkFinite(oldSums, "RESQUE's old class sums (row = class)", sumsFix, width);
  checkFinite(newSums, "RESQUE's new class sums (row = class)", sumsFix, width);
  const perClass: number[] = [];
  let sum = 0;
  let count = 0;
  for (let c = 0; c < k; c++) {
    if (counts && (counts.old[c] === 0 || counts.new[c] === 0)) {
      perClass.push(NaN);
      continue;
    }
    const a = oldSums.subarray(c * width, (c + 1) * width);
    const b = newSums.subarray(c * width, (c + 1) * width);
    const th = angleFraction(a, b);
    if (counts && Number.isNaN(th)) {
      throw new TrellisError('ZERO_CLASS_SUM', `class ${c} has rows in both sets but its summed representation is the zero vector in the ${a.every((v) => v === 0) ? 'old' : 'new'} set, so its angle is undefined`,
        'tap a layer whose outputs are not all zero for this class (e.g. before a ReLU rather than after it)', { class: c });
    }
    perClass.push(th);
    if (Number.isFinite(th)) {
      sum += th;
      count++;
    }
  }
  if (count === 0) {
    throw new TrellisError('EMPTY_INPUT', 'RESQUE found no class with rows in both the old and the new set', 'pass old and new data that share at least one class');
  }
  return { value: sum / count, perClass, layer: '' };
}

/**
 * RESQUE of `model` between labelled `oldData` and `newData` at `layer` (spatial means for conv layers).
 * @throws TrellisError `SHAPE_MISMATCH` / `CLASS_COUNT_MISMATCH` for data that do not match, `UNKNOWN_LAYER`,
 * `UNLABELED`, `NON_FINITE_VALUES` when an activation is NaN/±Infinity, `ZERO_CLASS_SUM` / `EMPTY_INPUT` (see
 * {@link resqueFromSums}).
 */
export async function resqueShift(model: ModelAdapter, oldData: Dataset, newData: Dataset, options: TapOptions & { layer: string }): Promise<ResqueResult> {
  checkSameShape(oldData, newData, model);
  checkLayerNames(model, [options.layer]);
  const yo = checkLabeled(oldData, 'old', 'RESQUE');
  const yn = checkLabeled(newData, 'new', 'RESQUE');
  const ex = { layers: [options.layer], preprocess: options.preprocess, batchSize: options.batchSize ?? 32 };
  const ro = extractRepresentations(model, oldData, ex).perLayer[options.layer]!;
  const rn = extractRepresentations(model, newData, ex).perLayer[options.layer]!;
  const k = model.numClasses;
  const r = resqueFromSums(classSums(ro.values, yo, ro.width, k), classSums(rn.values, yn, rn.width, k), k, ro.width,
    { old: classCounts(yo, k), new: classCounts(yn, k) });
  return { ...r, layer: options.layer };
}
