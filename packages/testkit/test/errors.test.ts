import { describe, expect, expectTypeOf, it } from 'vitest';
import { TrellisError } from '@trellis-ml/core';
import { trellisErrorOf } from '@trellis-ml/testkit/check';
import * as entry from '@trellis-ml/testkit';

const bad = (): TrellisError => new TrellisError('BAD_OPTION', 'steps is -1', 'pass a positive integer');

/** The message of the Error `fn` throws (or its Promise rejects with), or a note when it does not. */
async function failureOf(fn: () => unknown): Promise<{ message: string; cause: unknown }> {
  try {
    await fn();
  } catch (e) {
    expect(e).not.toBeInstanceOf(TrellisError);
    return { message: (e as Error).message, cause: (e as Error).cause };
  }
  throw new Error('trellisErrorOf did not throw');
}

describe('trellisErrorOf: the TrellisError a call throws', () => {
  it('returns the TrellisError a function throws (the same object, code, message and fix)', () => {
    const thrown = bad();
    const e = trellisErrorOf(() => { throw thrown; });
    expect(e).toBe(thrown);
    expect(e.code).toBe('BAD_OPTION');
    expect(e.message).toBe('steps is -1 — pass a positive integer');
    expect(e.fix).toBe('pass a positive integer');
    expect(entry.trellisErrorOf).toBe(trellisErrorOf);
  });

  it('throws an Error saying what was thrown when a function throws something else', async () => {
    const type = new TypeError("Cannot read properties of undefined (reading 'shape')");
    expect(await failureOf(() => trellisErrorOf(() => { throw type; }))).toEqual({
      message: "expected a TrellisError, but a TypeError was thrown instead: Cannot read properties of undefined (reading 'shape')", cause: type,
    });
    expect((await failureOf(() => trellisErrorOf(() => { throw 'no'; }))).message).toBe('expected a TrellisError, but string "no" was thrown instead');
    expect((await failureOf(() => trellisErrorOf(() => { throw null; }))).message).toBe('expected a TrellisError, but null null was thrown instead');
    // an error that looks like one from another copy of core is named as such, not accepted
    const lookalike = Object.assign(new Error('x — y'), { name: 'TrellisError', code: 'BAD_OPTION' });
    expect((await failureOf(() => trellisErrorOf(() => { throw lookalike; }))).message).toBe('expected a TrellisError, but a TrellisError of another copy of @trellis-ml/core was thrown instead: x — y');
  });

  it('throws an Error when the function returns without throwing', async () => {
    expect(await failureOf(() => trellisErrorOf(() => 1))).toEqual({ message: 'expected a TrellisError, but no error was thrown', cause: undefined });
    expect((await failureOf(() => trellisErrorOf(() => undefined))).message).toBe('expected a TrellisError, but no error was thrown');
  });

  it('async: a Promise of the TrellisError the Promise rejects with, or a rejection saying what happened instead', async () => {
    const thrown = bad();
    const p = trellisErrorOf(async () => { await Promise.resolve(); throw thrown; });
    expect(p).toBeInstanceOf(Promise);
    expect(await p).toBe(thrown);
    // a thenable that is not a Promise, and a sync function returning a rejected Promise
    expect(await trellisErrorOf(() => ({ then: (_ok: unknown, fail: (e: unknown) => void) => fail(thrown) }))).toBe(thrown);
    expect(await trellisErrorOf(() => Promise.reject(thrown))).toBe(thrown);
    const range = new RangeError('Invalid array length');
    expect(await failureOf(() => trellisErrorOf(async () => { throw range; }))).toEqual({
      message: 'expected a TrellisError, but a RangeError was thrown instead: Invalid array length (the Promise rejected with it)', cause: range,
    });
    expect((await failureOf(() => trellisErrorOf(async () => 1))).message).toBe('expected a TrellisError, but the Promise resolved without an error');
    // a sync throw from a function that would have returned a Promise is still caught
    const syncFirst = (): Promise<number> => { throw thrown; };
    expect(trellisErrorOf(syncFirst)).toBe(thrown);
  });

  it('types: a Promise for functions declared to return one, the error itself otherwise (await the unknown)', async () => {
    expectTypeOf(() => trellisErrorOf(() => { throw bad(); })).returns.toEqualTypeOf<TrellisError>();
    expectTypeOf(() => trellisErrorOf(() => JSON.parse('{'))).returns.toEqualTypeOf<TrellisError>();
    expectTypeOf(() => trellisErrorOf(async () => { throw bad(); })).returns.toEqualTypeOf<Promise<TrellisError>>();
    expectTypeOf(() => trellisErrorOf(() => Promise.resolve(1))).returns.toEqualTypeOf<Promise<TrellisError>>();
    // a function typed to return unknown (or void | Promise<void>) gets the sync type even when it is async at
    // run time: awaiting the result is right either way
    const hook: () => unknown = async () => { throw bad(); };
    expectTypeOf(() => trellisErrorOf(hook)).returns.toEqualTypeOf<TrellisError>();
    expect(trellisErrorOf(hook)).toBeInstanceOf(Promise);
    expect((await trellisErrorOf(hook)).code).toBe('BAD_OPTION');
  });
});
