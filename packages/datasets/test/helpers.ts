import { expect } from 'vitest';
import { TrellisError } from '@trellis-ml/core';

/** The TrellisError `fn` throws (fails the test on a raw error such as a TypeError, or on no error). */
export function errorOf(fn: () => unknown): TrellisError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TrellisError);
    return e as TrellisError;
  }
  throw new Error('expected a TrellisError');
}
