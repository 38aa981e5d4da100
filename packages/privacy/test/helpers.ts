import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { TrellisError } from '@trellis-ml/core';
import { expect } from 'vitest';

/** Uses the cpu backend (tests never pick wasm). */
export async function cpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** Expects `fn` to throw a TrellisError with `code`. */
export function expectCode(fn: () => unknown, code: string): TrellisError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TrellisError);
    expect((e as TrellisError).code).toBe(code);
    return e as TrellisError;
  }
  throw new Error(`expected a TrellisError ${code}, nothing was thrown`);
}
