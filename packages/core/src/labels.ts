/**
 * The one check that a list of labels holds class ids, shared by every package that reads labels
 * (datasets, metrics, attacks, indices, group reports), and the one check of a loss's logits against
 * its label tensor, shared by the per-step loss functions.
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, TrellisError } from './errors.js';

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

/**
 * Whether a loss function reads its label tensor back to the host to check every label is a class id.
 * The loss functions that take int class ids (and {@link checkLogitsAndLabels}) share this option.
 */
export interface LabelCheckOptions {
  /**
   * Read the labels on the host and refuse any that is not a class id (`LABEL_OUT_OF_RANGE`): without it
   * `tf.oneHot` turns such a label into a row of zeros that adds nothing to the loss. Default `true`
   * (only `false` skips the read).
   * The read is one synchronous device-to-host copy per call, so a plugin that computes the loss in every
   * training step passes `false`: the labels of a `Dataset`'s batches were checked when it was built.
   * Shapes and the label dtype are checked either way (they cost no read).
   */
  checkLabelValues?: boolean;
}

/** Options of {@link checkLogitsAndLabels}. */
export interface LogitsAndLabelsOptions extends LabelCheckOptions {
  /** The caller, prefixed to every message, e.g. `'memberLoss'` gives `"memberLoss: label 5 of example 1 …"`. */
  context: string;
}

/**
 * Checks a loss's `[batch, classes]` logits against its int32 class-id labels `[batch]`. Every check but
 * the last is free (it reads shapes and the dtype only); the last reads the labels on the host unless
 * `options.checkLabelValues` is `false`.
 *
 * @example checkLogitsAndLabels(tf.zeros([2, 3]), tf.tensor1d([0, 2], 'int32'), { context: 'myLoss' }) // passes
 * @example checkLogitsAndLabels(tf.zeros([2, 3]), tf.tensor1d([0, 3], 'int32'), { context: 'myLoss' }) // throws: label 3 of example 1 is outside [0, 3)
 * @throws TrellisError, in this order: `BAD_OPTION` (no context);
 * `BAD_SHAPE` (logits that are not a 2-D tensor, or of no classes); `SHAPE_MISMATCH` (labels that are not a
 * 1-D tensor of one label per row); `EMPTY_BATCH` (no rows: a batch mean over them is NaN or 0);
 * `BAD_LABELS` (labels that are not int32); `LABEL_OUT_OF_RANGE` (a label outside `[0, classes)`, see {@link checkClassLabels}).
 */
export function checkLogitsAndLabels(logits: tf.Tensor, labels: tf.Tensor, options: LogitsAndLabelsOptions): void {
  check(typeof options?.context === 'string', 'BAD_OPTION', () => `checkLogitsAndLabels needs { context }, got ${String(options)}`,
    "pass the caller's name, e.g. { context: 'myLoss' }");
  const { context } = options;
  check(logits instanceof tf.Tensor && logits.rank === 2 && logits.shape[1]! > 0, 'BAD_SHAPE',
    () => `${context}: the logits are ${logits instanceof tf.Tensor ? `of shape [${logits.shape.join(', ')}]` : `a ${typeof logits}`}, not [batch, classes] with at least one class`,
    "pass the model's 2-D logits: one row per example, at least one class");
  const rows = logits.shape[0]!;
  check(labels instanceof tf.Tensor && labels.rank === 1 && labels.shape[0] === rows, 'SHAPE_MISMATCH',
    () => `${context}: ${labels instanceof tf.Tensor ? `labels of shape [${labels.shape.join(', ')}]` : 'no label tensor'} for ${rows} rows of logits [${logits.shape.join(', ')}]`,
    'pass one integer class id per row of the logits, as a 1-D tensor');
  check(rows > 0, 'EMPTY_BATCH', `${context}: the logits [${logits.shape.join(', ')}] have no rows (the mean over an empty batch would be NaN or 0)`,
    'compute the loss on a batch of at least one example');
  check(labels.dtype === 'int32', 'BAD_LABELS', `${context}: the labels are ${labels.dtype}, not int32 class ids`,
    "pass integer class labels, e.g. tf.tensor1d([0, 2, 1], 'int32') (or tf.cast(labels, 'int32'))");
  if (options.checkLabelValues === false) return;
  const k = logits.shape[1]!;
  checkClassLabels(labels.dataSync(), k, { context, fix: `pass class ids 0..${k - 1}: the logits have ${k} classes (remap the labels, or build the model with the right numClasses)` });
}
