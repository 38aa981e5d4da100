/**
 * The one check that a list of labels holds class ids, shared by every package that reads labels
 * (datasets, metrics, attacks, indices, group reports).
 */
import { TrellisError } from './errors.js';

/** How {@link checkClassLabels} words its error; every field has a default. */
export interface ClassLabelWording {
  /** Prefix naming the caller, e.g. `'ece'` gives `"ece: label 12 of example 3 …"`. Default: none. */
  context?: string;
  /** What one label is called. Default `'label'` (e.g. `'class id'`). */
  label?: string;
  /** What the label belongs to. Default `'example'` (e.g. `'row'`, `'code'`). */
  item?: string;
  /** The fix to print. Default: remap the labels, or pass the right class count. */
  fix?: string;
}

/**
 * Throws unless every label is a class id: a whole number in `[0, k)`. With `k = Infinity` (the class
 * count is read from the labels afterwards) any whole number ≥ 0 passes. One pass, no allocation.
 *
 * @example checkClassLabels(new Int32Array([0, 2, 1]), 3) // passes
 * @example checkClassLabels([0, 3], 3) // throws: label 3 of example 1 is outside [0, 3)
 * @throws TrellisError `LABEL_OUT_OF_RANGE` naming the first bad label and its index (`details.index`, `details.label`).
 */
export function checkClassLabels(labels: ArrayLike<number>, k: number, wording: ClassLabelWording = {}): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (!(Number.isInteger(y) && y >= 0 && y < k)) throw labelError(y, i, k, wording);
  }
}

function labelError(y: number, i: number, k: number, wording: ClassLabelWording): TrellisError {
  const { context, label = 'label', item = 'example' } = wording;
  const where = `${context === undefined ? '' : `${context}: `}${label} ${y} of ${item} ${i}`;
  const bounded = Number.isFinite(k);
  const problem = bounded ? `${where} is outside [0, ${k})` : `${where} is not a class id (a whole number ≥ 0)`;
  const fix = wording.fix
    ?? (bounded ? `labels must be class ids 0..${k - 1}: remap them, or pass the right number of classes` : 'pass integer class labels 0, 1, 2, …');
  return new TrellisError('LABEL_OUT_OF_RANGE', problem, fix, { index: i, label: y });
}
