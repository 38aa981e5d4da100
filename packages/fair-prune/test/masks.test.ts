import { describe, expect, it } from 'vitest';
import {
  cubicSparsity, decodeMasks, encodeMasks, isPruningEpoch, magnitudeMasks, prunableNames, type HostWeight,
} from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';

const w = (values: number[], shape: number[]): HostWeight => ({ values: Float32Array.from(values), shape });

describe('magnitudeMasks', () => {
  const weights = {
    'fc1/kernel': w([0.5, -0.1, 0.3, -0.7, 0.2, 0.05], [2, 3]),
    'fc1/bias': w([0.01, 0.02, 0.03], [3]),
    'logits/kernel': w([0.4, -0.2, 0.1, 0.6, -0.3, 0.15], [3, 2]),
  };
  const noGuard = { minKeepFraction: 0, minKeepCount: 0 };

  it('global: prunes exactly ceil(s·N) of the smallest |w|, never biases', () => {
    const m = magnitudeMasks(weights, { sparsity: 0.5, ...noGuard });
    // 12 prunable weights -> 6 pruned: 0.05, 0.1, 0.1, 0.15, 0.2, 0.2
    expect(m.pruned).toBe(6);
    expect(m.prunable).toBe(12);
    expect(Object.keys(m.masks)).toEqual(['fc1/kernel', 'logits/kernel']);
    expect(Array.from(m.masks['fc1/kernel']!)).toEqual([1, 0, 1, 1, 0, 0]);
    // ties 0.1 (fc1 idx1 and logits idx2) and 0.2 (fc1 idx4, logits idx1): both pruned here
    expect(Array.from(m.masks['logits/kernel']!)).toEqual([1, 0, 0, 1, 1, 0]);
    const s = magnitudeMasks(weights, { sparsity: 0.4, ...noGuard }); // ceil(4.8) = 5
    expect(s.pruned).toBe(5);
    // the tie at 0.2 is broken by position: fc1/kernel (earlier) is pruned, logits/kernel kept
    expect(s.masks['fc1/kernel']![4]).toBe(0);
    expect(s.masks['logits/kernel']![1]).toBe(1);
  });

  it('is deterministic and counts ceil(s·N) on random weights', () => {
    const vals = Array.from({ length: 1000 }, (_, i) => Math.round(Math.sin(i * 7.3) * 20) / 20); // many ties
    const big = { 'a/kernel': w(vals, [10, 100]) };
    for (const s of [0.5, 0.9, 0.95, 0.99]) {
      const m1 = magnitudeMasks(big, { sparsity: s, ...noGuard });
      const m2 = magnitudeMasks(big, { sparsity: s, ...noGuard });
      expect(m1.pruned).toBe(Math.ceil(s * 1000));
      expect(m1.masks['a/kernel']).toEqual(m2.masks['a/kernel']);
      // every kept |w| >= every pruned |w|
      const kept = vals.filter((_, i) => m1.masks['a/kernel']![i] === 1).map(Math.abs);
      const pruned = vals.filter((_, i) => m1.masks['a/kernel']![i] === 0).map(Math.abs);
      expect(Math.min(...kept)).toBeGreaterThanOrEqual(Math.max(...pruned));
    }
  });

  it('layerwise prunes the same fraction in each tensor', () => {
    const m = magnitudeMasks(weights, { sparsity: 0.5, scope: 'layerwise', ...noGuard });
    expect(m.perLayer['fc1/kernel']).toBe(0.5);
    expect(m.perLayer['logits/kernel']).toBe(0.5);
    expect(Array.from(m.masks['logits/kernel']!)).toEqual([1, 0, 0, 1, 1, 0]);
  });

  it('the minimum-keep guard stops a layer from collapsing and moves the budget elsewhere', () => {
    const big = { 'small/kernel': w(Array.from({ length: 100 }, () => 0.001), [10, 10]), 'large/kernel': w(Array.from({ length: 1000 }, (_, i) => 1 + i), [10, 100]) };
    const m = magnitudeMasks(big, { sparsity: 0.5 }); // 550 pruned; small keeps max(1%, 10) = 10
    expect(m.pruned).toBe(550);
    expect(m.masks['small/kernel']!.reduce((s, v) => s + v, 0)).toBe(10);
  });

  it('the default guard (10 weights) does not starve a small last layer at s = 0.99; a 1% floor would', () => {
    // a wide first layer of small weights and a 100-weight last layer of large ones (the LeNet-300-100 situation)
    const net = { 'fc1/kernel': w(Array.from({ length: 10000 }, (_, i) => 0.001 + i * 1e-7), [100, 100]), 'logits/kernel': w(Array.from({ length: 100 }, (_, i) => 1 + i), [10, 10]) };
    const kept = (m: ReturnType<typeof magnitudeMasks>, n: string) => m.masks[n]!.reduce((s, v) => s + v, 0);
    // N = 10100, ceil(0.99·N) = 9999 pruned, 101 kept: fc1 stops at its floor of 10, so 91 of the 100 logits weights stay
    const def = magnitudeMasks(net, { sparsity: 0.99 });
    expect(def.pruned).toBe(9999);
    expect(kept(def, 'fc1/kernel')).toBe(10);
    expect(kept(def, 'logits/kernel')).toBe(91);
    // with a 1% floor fc1 keeps 100, and the rest of the budget comes out of the last layer, down to its 10-weight floor
    const onePercent = magnitudeMasks(net, { sparsity: 0.99, minKeepFraction: 0.01 });
    expect(kept(onePercent, 'fc1/kernel')).toBe(100);
    expect(kept(onePercent, 'logits/kernel')).toBe(10);
  });

  it('keepFirstLast leaves the first and last prunable tensors dense', () => {
    const three = { 'a/kernel': w([1, 2], [1, 2]), 'b/kernel': w([1, 2], [1, 2]), 'c/kernel': w([1, 2], [1, 2]) };
    expect(prunableNames(three, { keepFirstLast: true })).toEqual(['b/kernel']);
  });

  it('keeps previously pruned weights pruned (nested masks for gradual schedules)', () => {
    const first = magnitudeMasks(weights, { sparsity: 0.25, ...noGuard });
    const changed = { ...weights, 'fc1/kernel': w([0.5, -0.9, 0.3, -0.7, 0.2, 0.05], [2, 3]) };
    const second = magnitudeMasks(changed, { sparsity: 0.5, ...noGuard }, first);
    for (const n of Object.keys(first.masks)) first.masks[n]!.forEach((v, i) => v === 0 && expect(second.masks[n]![i]).toBe(0));
  });

  it('rejects a sparsity outside [0, 1)', () => {
    for (const s of [1, -0.1, 1.5, NaN]) expect(trellisErrorOf(() => magnitudeMasks(weights, { sparsity: s })).code).toBe('SPARSITY_OUT_OF_RANGE');
  });

  it('refuses a NaN or infinite weight (its sort key would scramble the order of the finite ones)', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const damaged = { ...weights, 'logits/kernel': w([0.4, -0.2, bad, 0.6, -0.3, 0.15], [3, 2]) };
      expect(() => magnitudeMasks(damaged, { sparsity: 0.5 })).toThrow(new RegExp(`weight 2 of "logits/kernel" is ${bad}`));
      expect(trellisErrorOf(() => magnitudeMasks(damaged, { sparsity: 0.5, scope: 'layerwise' })).code).toBe('NON_FINITE_WEIGHTS');
    }
    // a non-finite weight in a variable that is not pruned (a bias) is not this function's business
    expect(magnitudeMasks({ ...weights, 'fc1/bias': w([NaN, 0, 0], [3]) }, { sparsity: 0.5, ...noGuard }).sparsity).toBe(0.5);
  });

  it('rejects an unknown scope and a guard outside its range instead of pruning globally or not at all', () => {
    expect(trellisErrorOf(() => magnitudeMasks(weights, { sparsity: 0.5, scope: 'layer-wise' as never })).code).toBe('BAD_OPTION');
    expect(() => magnitudeMasks(weights, { sparsity: 0.5, scope: 'layer-wise' as never })).toThrow(/unknown pruning scope "layer-wise"/);
    expect(() => magnitudeMasks(weights, { sparsity: 0.5, minKeepCount: NaN })).toThrow(/minKeepCount NaN is not a non-negative integer/);
    expect(trellisErrorOf(() => magnitudeMasks(weights, { sparsity: 0.5, minKeepCount: -1 })).code).toBe('BAD_OPTION');
    expect(() => magnitudeMasks(weights, { sparsity: 0.5, minKeepFraction: 2 })).toThrow(/minKeepFraction 2 is outside \[0, 1\]/);
    expect(trellisErrorOf(() => magnitudeMasks(weights, undefined as never)).code).toBe('BAD_OPTION');
  });

  it('round-trips through the JSON encoding', () => {
    const m = magnitudeMasks(weights, { sparsity: 0.5, ...noGuard });
    const back = decodeMasks(JSON.parse(JSON.stringify(encodeMasks(m))));
    expect(back.masks).toEqual(m.masks);
    expect(back.sparsity).toBe(0.5);
  });

  it('refuses damaged saved masks instead of decoding them short or dropping a layer', () => {
    const enc = encodeMasks(magnitudeMasks(weights, { sparsity: 0.5, ...noGuard }));
    const [name] = Object.keys(enc.bits);
    expect(trellisErrorOf(() => decodeMasks({ shapes: enc.shapes, bits: { ...enc.bits, [name!]: '!!' } })).code).toBe('BAD_STATE');
    expect(trellisErrorOf(() => decodeMasks({ shapes: enc.shapes, bits: { ...enc.bits, [name!]: '' } })).code).toBe('BAD_STATE'); // cut short
    const { [name!]: _dropped, ...rest } = enc.bits;
    expect(trellisErrorOf(() => decodeMasks({ shapes: enc.shapes, bits: rest })).code).toBe('BAD_STATE');
  });
});

describe('cubic schedule', () => {
  const sched = { kind: 'gradual' as const, startEpoch: 1, endEpoch: 5, everyEpochs: 2, initialSparsity: 0 };
  it('follows s_f + (s_0 − s_f)(1 − (t − t0)/span)³ at pruning epochs', () => {
    expect(cubicSparsity(0, 0.9, sched)).toBeNull();
    expect(cubicSparsity(1, 0.9, sched)).toBeCloseTo(0, 12);
    expect(cubicSparsity(2, 0.9, sched)).toBeCloseTo(0, 12); // holds the epoch-1 value
    expect(cubicSparsity(3, 0.9, sched)).toBeCloseTo(0.9 - 0.9 * 0.5 ** 3, 12);
    expect(cubicSparsity(5, 0.9, sched)).toBeCloseTo(0.9, 12);
    expect(cubicSparsity(9, 0.9, sched)).toBeCloseTo(0.9, 12);
    expect([0, 1, 2, 3, 4, 5, 6].map((e) => isPruningEpoch(e, sched))).toEqual([false, true, false, true, false, true, false]);
  });
  it('isPruningEpoch checks the schedule as cubicSparsity does (everyEpochs 0 pruned every epoch)', () => {
    expect(trellisErrorOf(() => isPruningEpoch(1, { ...sched, everyEpochs: 0 })).code).toBe('BAD_SCHEDULE');
    expect(trellisErrorOf(() => isPruningEpoch(1, { ...sched, startEpoch: 5, endEpoch: 1 })).code).toBe('BAD_SCHEDULE');
  });
});
