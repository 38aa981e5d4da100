/**
 * RESQUE's distribution-shift index (Sangarya, Kim, AAAI 2025): the mean over classes of the angle
 * (as a fraction of π) between the summed representation of class k on old data and on new data
 * at one layer (spec §5). Labels needed, pairing not.
 */
import { TrellisError, type Dataset, type ModelAdapter } from '@trellis-ml/core';
import { checkLabeled, checkLabelRange, checkSameLength, checkSameShape } from './inputs.js';
import { checkLayerNames, extractRepresentations, type TapOptions } from './taps.js';

/** RESQUE's value and per-class angles (classes missing from either set get NaN and are skipped). */
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

/** `arccos(clip(cos(c, c'), −1, 1)) / π` between two vectors (0 for identical directions). */
export function angleFraction(c: ArrayLike<number>, c2: ArrayLike<number>): number {
  checkSameLength(c, c2, 'angleFraction');
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

/** RESQUE from class sums (pure): mean angle fraction over classes present in both. */
export function resqueFromSums(oldSums: Float64Array, newSums: Float64Array, k: number, width: number): ResqueResult {
  const perClass: number[] = [];
  let sum = 0;
  let count = 0;
  for (let c = 0; c < k; c++) {
    const a = oldSums.subarray(c * width, (c + 1) * width);
    const b = newSums.subarray(c * width, (c + 1) * width);
    const th = angleFraction(a, b);
    perClass.push(th);
    if (Number.isFinite(th)) {
      sum += th;
      count++;
    }
  }
  return { value: count ? sum / count : NaN, perClass, layer: '' };
}

/** RESQUE of `model` between labelled `oldData` and `newData` at `layer` (spatial means for conv layers). */
export async function resqueShift(model: ModelAdapter, oldData: Dataset, newData: Dataset, options: TapOptions & { layer: string }): Promise<ResqueResult> {
  checkSameShape(oldData, newData, model);
  checkLayerNames(model, [options.layer]);
  const yo = checkLabeled(oldData, 'old', 'RESQUE');
  const yn = checkLabeled(newData, 'new', 'RESQUE');
  const ex = { layers: [options.layer], preprocess: options.preprocess, batchSize: options.batchSize ?? 32 };
  const ro = extractRepresentations(model, oldData, ex).perLayer[options.layer]!;
  const rn = extractRepresentations(model, newData, ex).perLayer[options.layer]!;
  const k = model.numClasses;
  const r = resqueFromSums(classSums(ro.values, yo, ro.width, k), classSums(rn.values, yn, rn.width, k), k, ro.width);
  return { ...r, layer: options.layer };
}
