import { afterEach, describe, expect, it } from 'vitest';
import { LARGE_ARRAY_BYTES, largeFloat32Array, registerLargeArrayAdvisor } from '@trellis-ml/core';

describe('largeFloat32Array', () => {
  afterEach(() => registerLargeArrayAdvisor(null));

  it('gives arrays from LARGE_ARRAY_BYTES the registered advice before anything writes them, and smaller ones none', () => {
    const seen: Array<{ length: number; allZero: boolean }> = [];
    registerLargeArrayAdvisor((a) => {
      seen.push({ length: a.length, allZero: a.every((v) => v === 0) });
      return a.byteLength;
    });
    const big = largeFloat32Array(LARGE_ARRAY_BYTES / 4);
    const small = largeFloat32Array(LARGE_ARRAY_BYTES / 4 - 1);
    expect(big).toBeInstanceOf(Float32Array);
    expect(big.length).toBe(LARGE_ARRAY_BYTES / 4);
    expect(small.length).toBe(LARGE_ARRAY_BYTES / 4 - 1);
    expect(seen).toEqual([{ length: LARGE_ARRAY_BYTES / 4, allZero: true }]);
    expect(big.every((v) => v === 0) && small.every((v) => v === 0)).toBe(true);
  });

  it('without an advisor (or after removing it) is a plain zero-filled array', () => {
    let calls = 0;
    const mine = (): number => ++calls;
    expect(registerLargeArrayAdvisor(mine)).toBeNull();
    expect(registerLargeArrayAdvisor(null)).toBe(mine);
    const a = largeFloat32Array(LARGE_ARRAY_BYTES / 4 + 3);
    expect(a.length).toBe(LARGE_ARRAY_BYTES / 4 + 3);
    expect(calls).toBe(0);
    expect(largeFloat32Array(0).length).toBe(0);
  });
});
