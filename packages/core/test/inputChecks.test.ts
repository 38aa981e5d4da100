import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { checkChoice, checkClassLabels, clipByGlobalNorm, TrellisError } from '@trellis-ml/core';

function errorOf(fn: () => unknown): TrellisError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TrellisError) return e;
    throw e;
  }
  throw new Error('expected a TrellisError');
}

describe('checkClassLabels', () => {
  it('passes class ids in [0, k), including none at all', () => {
    expect(() => checkClassLabels(new Int32Array([0, 2, 1, 2]), 3)).not.toThrow();
    expect(() => checkClassLabels([], 1)).not.toThrow();
    expect(() => checkClassLabels([0, 7, 123], Infinity)).not.toThrow();
  });

  it('names the first bad label, its index, and the range', () => {
    for (const [bad, at] of [[3, 1], [-1, 1], [0.5, 1], [NaN, 1]] as const) {
      const e = errorOf(() => checkClassLabels([0, bad, 9], 3));
      expect(e.code).toBe('LABEL_OUT_OF_RANGE');
      expect(e.problem).toBe(`label ${bad} of example ${at} is outside [0, 3)`);
      expect(e.details).toEqual({ index: at, label: bad });
      expect(e.fix).toContain('0..2');
    }
  });

  it('takes the caller\'s wording: a context, what a label and an item are called, the fix', () => {
    const e = errorOf(() => checkClassLabels([1, 2], 2, { context: 'ece', label: 'class id', item: 'code', fix: 'raise k' }));
    expect(e.problem).toBe('ece: class id 2 of code 1 is outside [0, 2)');
    expect(e.fix).toBe('raise k');
  });

  it('with k = Infinity refuses only what is not a whole number ≥ 0', () => {
    expect(errorOf(() => checkClassLabels([4, -2], Infinity)).problem).toBe('label -2 of example 1 is not a class id (a whole number ≥ 0)');
    expect(errorOf(() => checkClassLabels([1.5], Infinity)).code).toBe('LABEL_OUT_OF_RANGE');
  });
});

describe('checkChoice', () => {
  it('passes a listed choice and narrows it', () => {
    const mode: unknown = 'full';
    checkChoice(mode, ['quick', 'full'] as const, 'study mode');
    const narrowed: 'quick' | 'full' = mode;
    expect(narrowed).toBe('full');
  });

  it('refuses anything else with the choices as the fix, under the caller\'s code and fix', () => {
    const shown = [['fast', '"fast"'], [undefined, 'undefined'], [3, '3'], ['3', '"3"'], ['Full', '"Full"']] as const;
    for (const [bad, text] of shown) {
      const e = errorOf(() => checkChoice(bad, ['quick', 'full'] as const, 'study mode'));
      expect(e.code).toBe('BAD_OPTION');
      expect(e.problem).toBe(`unknown study mode ${text}`);
      expect(e.fix).toBe("use one of 'quick', 'full'");
      expect(e.details).toEqual({ value: bad, allowed: ['quick', 'full'] });
    }
    const e = errorOf(() => checkChoice('x', ['a'], 'mode', { code: 'BAD_MODE', fix: 'pass a' }));
    expect([e.code, e.fix]).toEqual(['BAD_MODE', 'pass a']);
    const worded = errorOf(() => checkChoice('x', ['a', 'b'], 'mode', { fix: (choices) => `pass mode ${choices} (or nothing)` }));
    expect(worded.fix).toBe("pass mode 'a', 'b' (or nothing)");
  });
});

describe('clipByGlobalNorm', () => {
  it('scales by min(1, maxNorm / ‖g‖₂) and refuses a maxNorm that is not > 0 (−1 flipped every gradient)', async () => {
    await tf.setBackend('cpu');
    const grads = { a: tf.tensor1d([3]), b: tf.tensor1d([0, 4]) }; // global norm 5
    const clipped = clipByGlobalNorm(grads, 1);
    expect(Array.from(clipped.a!.dataSync())[0]).toBeCloseTo(0.6, 6);
    expect(Array.from(clipped.b!.dataSync())[1]).toBeCloseTo(0.8, 6);
    const kept = clipByGlobalNorm(grads, 10);
    expect(Array.from(kept.b!.dataSync())).toEqual([0, 4]);
    for (const maxNorm of [-1, 0, NaN]) {
      expect(errorOf(() => clipByGlobalNorm(grads, maxNorm)).code, String(maxNorm)).toBe('BAD_OPTION');
    }
    tf.dispose([...Object.values(grads), ...Object.values(clipped), ...Object.values(kept)]);
  });
});
