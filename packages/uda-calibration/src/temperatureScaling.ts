/**
 * Temperature scaling (Guo et al. 2017): one scalar `T* = argmin_T NLL(z / T)` fitted on labelled
 * clean source validation logits, then applied to any logits. Post-hoc: it changes confidence, never
 * the predicted class.
 */
import { check, crossEntropyFromLogits } from '@trellis-ml/core';
import { assertFiniteLogits } from './calibration.js';
import { checkShapes } from './hostLogits.js';

/** Options of {@link fitTemperature}. */
export interface FitTemperatureOptions {
  /** Search range of T (default [0.05, 20]). */
  range?: [number, number];
  /** Golden-section iterations on log T (default 60: far below float32 resolution). */
  iterations?: number;
}

/** `logits / T` as a new array. */
export function applyTemperature(logits: ArrayLike<number>, temperature: number): Float32Array {
  check(Number.isFinite(temperature) && temperature > 0, 'BAD_TEMPERATURE', `temperature ${temperature} is not a positive number`, 'pass T > 0 (fit it with fitTemperature)');
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! / temperature;
  return out;
}

/**
 * Fits the temperature that minimises the NLL of `n × k` logits against their labels, by
 * golden-section search on log T (NLL(z/T) is unimodal in T for fixed logits). Takes logits, never
 * probabilities (passing softmax outputs is the classic mistake that makes ECE worse).
 */
export function fitTemperature(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number, options: FitTemperatureOptions = {}): number {
  check(labels.length > 0 && logits.length === labels.length * k, 'LOGITS_SHAPE_MISMATCH',
    `${logits.length} logits do not form ${labels.length} rows of ${k} classes`, 'pass n × k row-major logits and n labels (labelled source validation data)');
  checkShapes(logits, labels, k); // k ≥ 2 and every label an integer in [0, k)
  assertFiniteLogits(logits, 'the validation logits');
  const [lo, hi] = options.range ?? [0.05, 20];
  check(lo > 0 && hi > lo && Number.isFinite(hi), 'BAD_RANGE', `temperature range [${lo}, ${hi}] is not an interval of positive numbers`, 'pass range [lo, hi] with 0 < lo < hi < ∞');
  const iterations = options.iterations ?? 60;
  check(Number.isInteger(iterations) && iterations >= 1, 'BAD_OPTION', `iterations ${iterations} is not a positive whole number`, 'pass iterations such as 60 (the default), or leave it out');
  const f = (logT: number): number => crossEntropyFromLogits(applyTemperature(logits, Math.exp(logT)), labels, k);
  const g = (Math.sqrt(5) - 1) / 2;
  let a = Math.log(lo);
  let b = Math.log(hi);
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let i = 0; i < iterations; i++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  return Math.exp((a + b) / 2);
}
