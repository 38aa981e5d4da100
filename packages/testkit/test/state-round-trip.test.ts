import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TrainerPlugin } from '@trellis-ml/core';
import { checkPluginConformance, stateDifference, type ConformanceResult } from '@trellis-ml/testkit/check';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const failed = (r: ConformanceResult[]) => Object.fromEntries(r.filter((x) => !x.ok).map((x) => [x.check, x.message]));

/** A plugin whose state is `initial` and whose setState keeps whatever it is given (JSON's copy): no hooks, so every other check passes. */
function keepsWhatItGets(name: string, initial: () => unknown, restore: (s: unknown) => unknown = (s) => s): () => TrainerPlugin {
  return () => {
    let state = initial();
    return { name, apiVersion: 1, getState: () => state, setState: (s: unknown) => void (state = restore(s)) };
  };
}

describe('state-round-trip goes through the checkpoint\'s encoding and compares the restored state structurally', () => {
  it('a state holding NaN, Infinity and a Float32Array passes: the checkpoint keeps them (core\'s journal encoding)', async () => {
    // plain JSON writes NaN as null and a Float32Array as {"0":1,…}; the Trainer's checkpoint no longer does
    const r = await checkPluginConformance(keepsWhatItGets('keeps-specials', () => ({ step: 3, best: Infinity, stats: { mean: [0.5, NaN, 2] }, w: new Float32Array([1, 2.5, -3]) })), { steps: 3 });
    expect(failed(r)).toEqual({});
  });

  it('a Map that its restore leaves a plain object fails, naming the path and what the checkpoint keeps', async () => {
    // JSON writes a Map as {}, which JSON writes again as the same text: the old text comparison passed it
    const r = await checkPluginConformance(keepsWhatItGets('map-losing', () => ({ step: 3, seen: new Map([['a', 1]]) })), { steps: 3 });
    expect(failed(r)).toEqual({ 'state-round-trip': expect.stringContaining('at state.seen: a Map of 1 before, an empty object after — a checkpoint stores the state as JSON (keeping NaN, ±Infinity and typed arrays), which writes Maps, Sets and Dates as plain objects') });
    expect(failed(r)['state-round-trip']).toMatch(/keep such values in a JSON form in getState .* and rebuild them in setState$/);
  });

  it('a restore that drops a NaN it was given fails, naming the path', async () => {
    const r = await checkPluginConformance(keepsWhatItGets('nan-dropping', () => ({ stats: { mean: [0.5, NaN] } }), (s) => {
      const j = s as { stats: { mean: number[] } };
      return { stats: { mean: j.stats.mean.map((v) => (Number.isNaN(v) ? 0 : v)) } };
    }), { steps: 3 });
    expect(failed(r)).toEqual({ 'state-round-trip': expect.stringMatching(/at state\.stats\.mean\[1\]: NaN before, 0 after — setState must restore exactly what getState returned/) });
  });

  it('a plugin that rebuilds NaN and its typed array in setState passes', async () => {
    const rebuilds = keepsWhatItGets('rebuilds', () => ({ w: new Float32Array([1, 2.5, -3]), best: NaN }), (s) => {
      const j = s as { w: Record<string, number>; best: number | null };
      return { w: Float32Array.from(Object.values(j.w)), best: j.best ?? NaN };
    });
    expect(failed(await checkPluginConformance(rebuilds, { steps: 3 }))).toEqual({});
  });

  it('a restore that changes a plain value names its path and says setState must restore it', async () => {
    const r = await checkPluginConformance(keepsWhatItGets('off-by-one', () => ({ counts: { 'class-2': [4, 7] } }), (s) => {
      const j = s as { counts: Record<string, number[]> };
      return { counts: { 'class-2': [j.counts['class-2']![0], j.counts['class-2']![1]! + 1] } };
    }), { steps: 3 });
    expect(failed(r)).toEqual({ 'state-round-trip': expect.stringMatching(/at state\.counts\["class-2"\]\[1\]: 7 before, 8 after — setState must restore exactly what getState returned/) });
  });
});

describe('stateDifference', () => {
  it('NaN equals only NaN; 0 equals -0', () => {
    expect(stateDifference({ mean: [1, NaN] }, { mean: [1, NaN] })).toBeNull();
    expect(stateDifference({ mean: [1, NaN] }, { mean: [1, null] })).toEqual({ path: 'state.mean[1]', before: 'NaN', after: 'null' });
    expect(stateDifference(NaN, 0)).toEqual({ path: 'state', before: 'NaN', after: '0' });
    expect(stateDifference(0, NaN)).toEqual({ path: 'state', before: '0', after: 'NaN' });
    expect(stateDifference({ 'x-y': [Infinity] }, { 'x-y': [null] })).toEqual({ path: 'state["x-y"][0]', before: 'Infinity', after: 'null' });
    expect(stateDifference(0, -0)).toBeNull();
  });

  it('typed arrays by type and elements', () => {
    expect(stateDifference(new Float32Array([1, 2]), new Float32Array([1, 2]))).toBeNull();
    expect(stateDifference(new Float32Array([1, NaN]), new Float32Array([1, NaN]))).toBeNull();
    expect(stateDifference(new Float32Array([1, 2]), new Float64Array([1, 2]))).toEqual({ path: 'state', before: 'Float32Array(2)', after: 'Float64Array(2)' });
    expect(stateDifference(new Float32Array([1, 2]), new Float32Array([1, 3]))).toEqual({ path: 'state[1]', before: '2', after: '3' });
    expect(stateDifference(new Int32Array([1, 2]), new Int32Array([1, 2, 0]))).toEqual({ path: 'state', before: 'Int32Array(2)', after: 'Int32Array(3)' });
    expect(stateDifference(new Float32Array([1, 2]), [1, 2])).toEqual({ path: 'state', before: 'Float32Array(2)', after: 'an array of 2' });
  });

  it('objects and Maps by keys, whatever their order', () => {
    expect(stateDifference({ a: 1, b: [2, 3] }, { b: [2, 3], a: 1 })).toBeNull();
    expect(stateDifference({ a: 1 }, { a: 1, c: 0 })).toEqual({ path: 'state.c', before: 'no such key', after: '0' });
    expect(stateDifference({ a: 1, c: 0 }, { a: 1 })).toEqual({ path: 'state.c', before: '0', after: 'no such key' });
    // as in JSON, a key holding undefined is no key
    expect(stateDifference({ a: 1, b: undefined }, { a: 1 })).toBeNull();
    expect(stateDifference(new Map([['a', 1], ['b', 2]]), new Map([['b', 2], ['a', 1]]))).toBeNull();
    expect(stateDifference(new Map([['a', 1]]), new Map([['a', 2]]))).toEqual({ path: 'state.get("a")', before: '1', after: '2' });
    expect(stateDifference(new Map([[3, 'x']]), new Map())).toEqual({ path: 'state.get(3)', before: '"x"', after: 'no such key' });
    expect(stateDifference({ m: new Map([['a', 1]]) }, { m: {} })).toEqual({ path: 'state.m', before: 'a Map of 1', after: 'an empty object' });
    expect(stateDifference(new Set([1, 2]), new Set([2, 1]))).toBeNull();
    expect(stateDifference(new Set([1, 2]), new Set([1]))).toEqual({ path: 'state', before: 'a Set of 2 holding 2', after: 'a Set of 1 without it' });
  });

  it('reports the first difference in order, from the given root', () => {
    expect(stateDifference({ a: [1, 2], b: 'x' }, { a: [1, 5], b: 'y' }, 'plugin')).toEqual({ path: 'plugin.a[1]', before: '2', after: '5' });
    expect(stateDifference([{ n: 1 }], [{ n: '1' }])).toEqual({ path: 'state[0].n', before: '1', after: '"1"' });
    expect(stateDifference(null, {})).toEqual({ path: 'state', before: 'null', after: 'an empty object' });
  });
});
