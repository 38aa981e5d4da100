import { TrellisError } from '@trellis-ml/core';

/** The TrellisError code `f` throws, `'no error'` when it returns, or a note when it throws something else. */
export function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof TrellisError ? e.code : `not a TrellisError: ${String(e)}`;
  }
  return 'no error';
}
