import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { TrellisError } from '@trellis-ml/core';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { expect } from 'vitest';

/** Uses the cpu backend (tests never pick wasm). */
export async function cpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** Expects `fn` to throw a TrellisError with `code`, and returns it. */
export function expectCode(fn: () => unknown, code: string): TrellisError {
  const e = trellisErrorOf(fn);
  expect(e.code).toBe(code);
  return e;
}
