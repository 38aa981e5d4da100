import { describe, expect, it } from 'vitest';
import { TrellisError } from '@trellis-ml/core';
import { describeFashionMnistSource, loadFashionMnist, loadMnist } from '@trellis-ml/datasets';
import { trellisErrorOf } from '@trellis-ml/testkit';


// These checks run before any file is read, so the Fashion-MNIST cases cost nothing.
describe('loader options from JavaScript', () => {
  it('a missing or non-object options argument is BAD_OPTIONS with the call to make (it was a raw TypeError)', () => {
    const cases: Array<[() => unknown, string, string]> = [
      [() => (loadMnist as (o?: unknown) => unknown)(), 'loadMnist takes an options object, but got undefined', "loadMnist({ split: 'train' })"],
      [() => (loadFashionMnist as (o?: unknown) => unknown)(), 'loadFashionMnist takes an options object, but got undefined', "loadFashionMnist({ split: 'train' })"],
      [() => loadMnist('train' as unknown as { split: 'train' }), 'but got the string "train"', "loadMnist({ split: 'train' })"],
      [() => describeFashionMnistSource(null as unknown as object), 'describeFashionMnistSource takes an options object, but got null', 'describeFashionMnistSource()'],
    ];
    for (const [call, problem, fix] of cases) {
      const err = trellisErrorOf(call);
      expect(err.code).toBe('BAD_OPTIONS');
      expect(err.problem).toContain(problem);
      expect(err.fix).toContain(fix);
    }
  });

  it('an unknown option such as offset is refused, not ignored (it silently gave the first examples)', () => {
    const err = trellisErrorOf(() => loadMnist({ split: 'test', limit: 5, offset: 100 } as unknown as { split: 'test' }));
    expect(err.code).toBe('BAD_OPTION');
    expect(err.problem).toBe('unknown loadMnist option "offset"');
    expect(err.fix).toContain("'split', 'limit', 'flatten'");
    expect(err.fix).toContain('subset');
    expect(trellisErrorOf(() => loadFashionMnist({ split: 'test', flaten: true } as unknown as { split: 'test' })).problem).toBe('unknown loadFashionMnist option "flaten"');
    // a known option left undefined is fine, and so is an unknown one (nothing is lost)
    expect(loadMnist({ split: 'test', limit: undefined, flatten: undefined, offset: undefined } as unknown as { split: 'test' }).size).toBe(10000);
  });

  it('flatten must be a boolean (flatten: "false" used to flatten)', () => {
    const err = trellisErrorOf(() => loadMnist({ split: 'test', limit: 1, flatten: 'false' as unknown as boolean }));
    expect(err.code).toBe('BAD_OPTION');
    expect(err.problem).toBe('option flatten is the string "false", not true or false');
  });

  it('a dataDir that is not a string is BAD_PATH (it was a raw ERR_INVALID_ARG_TYPE TypeError)', () => {
    for (const call of [
      () => loadFashionMnist({ split: 'test', dataDir: 5 as unknown as string }),
      () => describeFashionMnistSource({ dataDir: {} as unknown as string }),
      () => loadFashionMnist({ split: 'test', dataDir: '' }),
    ]) {
      const err = trellisErrorOf(call);
      expect(err.code).toBe('BAD_PATH');
      expect(err.problem).toMatch(/^the dataDir argument is (number|an object|an empty string), not a path$/);
      expect(err.fix).toContain('0.json');
    }
  });
});
