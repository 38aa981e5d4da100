/**
 * The `TrellisError` a call throws, for tests that check an error's `code`, `message` or `fix` (without vitest:
 * any test runner's `expect` works on what it returns).
 *
 * @module
 */
import { TrellisError } from '@trellis-ml/core';

/** What a thrown value was, for the message of a test that expected a TrellisError. */
function describeThrown(e: unknown): string {
  if (e instanceof Error) {
    const named = e.name === 'TrellisError' ? 'a TrellisError of another copy of @trellis-ml/core' : `a ${e.name}`;
    return `${named} was thrown instead: ${e.message}`;
  }
  let text: string;
  try {
    text = typeof e === 'string' ? JSON.stringify(e) : String(e);
  } catch {
    text = Object.prototype.toString.call(e);
  }
  return `${e === null ? 'null' : typeof e} ${text} was thrown instead`;
}

/** `e` when it is a TrellisError; an Error saying what `e` was otherwise (with `e` as its `cause`). */
function trellisOrFail(e: unknown, async: boolean): TrellisError {
  if (e instanceof TrellisError) return e;
  throw new Error(`expected a TrellisError, but ${describeThrown(e)}${async ? ' (the Promise rejected with it)' : ''}`, { cause: e });
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Calls `fn` and returns the {@link TrellisError} it throws, to check its `code`, `message` or `fix`:
 * `expect(trellisErrorOf(() => f(-1)).code).toBe('BAD_OPTION')`. It throws an Error (so the test fails with a
 * clear message) when `fn` returns without throwing, or throws something else (a TypeError, a string), saying
 * what was thrown. When `fn` returns a Promise (a thenable), it returns a Promise of the error the Promise rejects
 * with, with the same checks: `expect((await trellisErrorOf(async () => load(path))).code).toBe('IDX_DAMAGED')`.
 *
 * The overload is picked from `fn`'s declared return type: a function returning a Promise (an async lambda)
 * gives a `Promise<TrellisError>`, any other a `TrellisError` (this first overload, for a lambda that only
 * throws, keeps `() => { throw e; }`, whose return type `never` would fit the Promise overload, synchronous). A function whose return type is `unknown`, `any`,
 * or a union such as `void | Promise<void>` (a plugin hook) may return a Promise at run time that its type does
 * not show: `await` the result then (awaiting a `TrellisError` gives it back), as one does for a Promise.
 *
 * @throws Error when `fn` returns (or its Promise resolves) without a TrellisError, or throws (rejects with)
 * anything else; its `cause` is what was thrown.
 */
export function trellisErrorOf(fn: () => never): TrellisError;
/**
 * An `fn` that returns a Promise (an async lambda): a Promise of the {@link TrellisError} it rejects with, which
 * rejects when it resolves or rejects with anything else (a sync throw of `fn` is handled as above).
 */
export function trellisErrorOf(fn: () => PromiseLike<unknown>): Promise<TrellisError>;
/**
 * Any other `fn`: the {@link TrellisError} it throws. When `fn`'s return type does not rule out a Promise
 * (`unknown`, `void | Promise<void>`), `await` the result: at run time it is a Promise when `fn` returned one.
 */
export function trellisErrorOf(fn: () => unknown): TrellisError;
export function trellisErrorOf(fn: () => unknown): TrellisError | Promise<TrellisError> {
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    return trellisOrFail(e, false);
  }
  if (isThenable(result)) {
    return Promise.resolve(result).then(
      () => { throw new Error('expected a TrellisError, but the Promise resolved without an error'); },
      (e: unknown) => trellisOrFail(e, true),
    );
  }
  throw new Error('expected a TrellisError, but no error was thrown');
}
