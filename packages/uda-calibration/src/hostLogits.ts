/** Host-side (Float32Array / number) row statistics of `n × k` logits, shared by the methods that read logits on the host. */
import { argmaxRows } from '@trellis-ml/core';

/** Per-row softmax entropy in nats of `n × k` logits (float64, max-shifted). */
export function rowEntropies(logits: ArrayLike<number>, n: number, k: number): Float64Array {
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
  return argmaxRows(values.length === n * k ? values : Array.prototype.slice.call(values, 0, n * k) as number[], k);
}
