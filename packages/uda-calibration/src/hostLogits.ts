/** Host-side (Float32Array / number) row statistics of `n × k` logits, shared by the methods that read logits on the host. */
import { argmaxRows, check, checkClassLabels, TrellisError } from '@trellis-ml/core';

/** Per-row softmax entropy in nats of `n × k` logits (float64, max-shifted). */
export function rowEntropies(logits: ArrayLike<number>, n: number, k: number): Float64Array {
  checkRowsHeld(logits, n, k);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[i * k + j]!);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(logits[i * k + j]! - max);
    const logSum = Math.log(sum);
    let h = 0;
    for (let j = 0; j < k; j++) {
      const logp = logits[i * k + j]! - max - logSum;
      h -= Math.exp(logp) * logp;
    }
    out[i] = h;
  }
  return out;
}

/** Per-row argmax of `n × k` values (first maximum on ties): core's `argmaxRows` on the first `n` rows. */
export function rowArgmax(values: ArrayLike<number>, n: number, k: number): Int32Array {
  checkRowsHeld(values, n, k);
  return argmaxRows(values.length === n * k ? values : Array.prototype.slice.call(values, 0, n * k) as number[], k);
}

/** Throws `LOGITS_SHAPE_MISMATCH` unless `values` holds at least `n` rows of `k` (a longer buffer is read in part). */
function checkRowsHeld(values: ArrayLike<number>, n: number, k: number): void {
  check(Number.isInteger(n) && n >= 0 && Number.isInteger(k) && k >= 1 && values.length >= n * k, 'LOGITS_SHAPE_MISMATCH',
    `${values.length} values do not hold ${n} rows of ${k} classes`, 'pass the row count n and class count k of the n × k row-major values');
}

/**
 * Throws `BAD_CLASSES` (k not an integer ≥ 2), `EMPTY_DATASET`, `LOGITS_SHAPE_MISMATCH` (not n × k
 * values) or `LABEL_OUT_OF_RANGE` (a label that is not an integer in [0, k)).
 */
export function checkShapes(values: ArrayLike<number>, labels: ArrayLike<number>, k: number): void {
  check(Number.isInteger(k) && k >= 2, 'BAD_CLASSES', `numClasses ${k} is not an integer ≥ 2`, 'pass the number of classes of the model');
  check(labels.length > 0, 'EMPTY_DATASET', 'no examples to score', 'pass at least one example');
  check(values.length === labels.length * k, 'LOGITS_SHAPE_MISMATCH',
    `${values.length} values do not form ${labels.length} rows of ${k} classes`, 'pass n × k row-major logits and n labels');
  checkClassLabels(labels, k);
}

