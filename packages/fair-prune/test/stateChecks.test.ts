import { describe, expect, it } from 'vitest';
import { GroupBuffer, accuracyGapConstraints, compareWithinNoise, groupConstraints } from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';

const filledBuffer = (numGroups: number, size: number): GroupBuffer => {
  const b = new GroupBuffer(numGroups, size);
  for (let g = 0; g < numGroups; g++) for (let i = 0; i <= g; i++) b.push(g, i + 1);
  return b;
};

describe('GroupBuffer.setState refuses a state of another shape (it loaded silently and corrupted later means)', () => {
  it('refuses a state of another group count', () => {
    const b = new GroupBuffer(3, 4);
    const e = trellisErrorOf(() => b.setState(filledBuffer(2, 4).getState()));
    expect(e.code).toBe('BAD_STATE');
    expect(e.message).toMatch(/is for 2 groups, this buffer has 3/);
    expect(e.message).toMatch(/same numGroups and buffer size/);
    expect(trellisErrorOf(() => b.setState(filledBuffer(4, 4).getState())).code).toBe('BAD_STATE');
  });

  it('refuses a state of another buffer size (a longer one used to be cut short, a shorter one left stale values)', () => {
    const b = new GroupBuffer(2, 4);
    const e = trellisErrorOf(() => b.setState(filledBuffer(2, 3).getState()));
    expect(e.code).toBe('BAD_STATE');
    expect(e.message).toMatch(/holds 3 values per group \(group 0\), this buffer holds 4/);
    expect(trellisErrorOf(() => b.setState(filledBuffer(2, 5).getState())).code).toBe('BAD_STATE');
    // the refused states left the buffer as it was
    expect(b.count(0)).toBe(0);
    expect(b.mean(1)).toBeNaN();
  });

  it('refuses missing arrays, ragged rows, and counts or positions outside the buffer', () => {
    const b = new GroupBuffer(2, 3);
    const good = filledBuffer(2, 3).getState();
    const bad: unknown[] = [
      null,
      'state',
      { ...good, values: undefined },
      { ...good, filled: [1] },
      { ...good, next: [1, 2, 0] },
      { ...good, values: [[1, 0, 0], [1, 2]] },
      { ...good, values: [[1, 0, 0], [1, '2', 0]] },
      { ...good, filled: [4, 2] },
      { ...good, filled: [-1, 2] },
      { ...good, filled: [1.5, 2] },
      { ...good, next: [3, 2] },
      { ...good, next: [NaN, 2] },
      // group 0 holds 1 value, so its next slot is 1: a next of 2 would have the mean read an unwritten slot
      { ...good, next: [2, 2] },
    ];
    for (const s of bad) expect(trellisErrorOf(() => b.setState(s as never)).code, JSON.stringify(s)).toBe('BAD_STATE');
    b.setState(JSON.parse(JSON.stringify(good)));
    expect(b.mean(1)).toBe(1.5);
    // a full group may continue from any slot
    const full = new GroupBuffer(1, 2);
    [1, 2, 3].forEach((v) => full.push(0, v));
    const again = new GroupBuffer(1, 2);
    again.setState(full.getState());
    expect(again.getState()).toEqual(full.getState());
  });

  it('the constraint plugins refuse a checkpoint of another buffer size', () => {
    const saved = groupConstraints({ numGroups: 2, bufferSize: 8 });
    const resumed = groupConstraints({ numGroups: 2, bufferSize: 4 });
    expect(trellisErrorOf(() => resumed.setState!(JSON.parse(JSON.stringify(saved.getState!())))).code).toBe('BAD_STATE');
    const reference = { groupLoss: [1, 1], loss: 1, groupAccuracy: [1, 1], accuracy: 1 };
    const a = accuracyGapConstraints({ numGroups: 2, reference, bufferSize: 8 });
    const b = accuracyGapConstraints({ numGroups: 2, reference, bufferSize: 16 });
    expect(trellisErrorOf(() => b.setState!(JSON.parse(JSON.stringify(a.getState!())))).code).toBe('BAD_STATE');
    // the same settings restore
    const same = accuracyGapConstraints({ numGroups: 2, reference, bufferSize: 8 });
    same.setState!(JSON.parse(JSON.stringify(a.getState!())));
    expect(same.getState!()).toEqual(a.getState!());
  });

  it('groupConstraints without a buffer refuses a checkpoint saved with one (its buffered statistics were dropped silently)', () => {
    const saved = groupConstraints({ numGroups: 2, bufferSize: 8, initialLambdas: [0.5, 0] });
    const resumed = groupConstraints({ numGroups: 2 });
    const e = trellisErrorOf(() => resumed.setState!(JSON.parse(JSON.stringify(saved.getState!()))));
    expect(e.code).toBe('BAD_STATE');
    expect(e.message).toMatch(/bufferSize/);
    // multipliers alone still restore into a buffered plugin (warm start; its buffer starts empty)
    const warm = groupConstraints({ numGroups: 2, bufferSize: 8 });
    warm.setState!({ lambdas: [0.25, 0], sum: [0, 0], count: [0, 0] });
    expect(warm.lambdas()).toEqual([0.25, 0]);
  });
});

describe('compareWithinNoise with no groups', () => {
  it('throws BAD_GROUPS saying there are no groups (it failed with "accuracy undefined is not a fraction")', () => {
    const e = trellisErrorOf(() => compareWithinNoise({ overall: 0.9, perGroup: [] }, { overall: 0.85, perGroup: [] }, [], 100));
    expect(e.code).toBe('BAD_GROUPS');
    expect(e.message).toMatch(/no groups/);
    expect(e.message).not.toMatch(/undefined/);
  });

  it('refuses a group size or total that is not a whole number (NaN read as an empty group; 2.5 or Infinity gave a noise band)', () => {
    const ref = { overall: 0.8, perGroup: [0.9, 0.5] };
    const vr = { overall: 0.75, perGroup: [0.8, 0.6] };
    expect(trellisErrorOf(() => compareWithinNoise(ref, vr, [100, NaN], 200)).code).toBe('BAD_GROUPS');
    expect(trellisErrorOf(() => compareWithinNoise(ref, vr, [100, 2.5], 200)).code).toBe('BAD_GROUPS');
    expect(trellisErrorOf(() => compareWithinNoise(ref, vr, [100, 100], Infinity)).code).toBe('BAD_GROUPS');
    expect(trellisErrorOf(() => compareWithinNoise(ref, vr, [100, 100], NaN)).code).toBe('BAD_GROUPS');
    expect(() => compareWithinNoise(ref, vr, [100, 2.5], 200)).toThrow(/test-set size 2.5 of group 1 is not a whole number/);
    // an empty group keeps its own error
    expect(trellisErrorOf(() => compareWithinNoise(ref, vr, [100, 0], 200)).code).toBe('EMPTY_GROUP');
    expect(compareWithinNoise(ref, vr, [100, 100], 200).groupsWorse).toEqual([0]);
  });
});

describe('more bad input on the same paths', () => {
  it('GroupBuffer.mean and count refuse a group id outside the buffer (count returned undefined, mean NaN as if empty)', () => {
    const b = filledBuffer(2, 3);
    for (const g of [2, -1, 0.5, NaN]) {
      expect(trellisErrorOf(() => b.mean(g)).code, String(g)).toBe('GROUP_ID_OUT_OF_RANGE');
      expect(trellisErrorOf(() => b.count(g)).code, String(g)).toBe('GROUP_ID_OUT_OF_RANGE');
    }
    expect(b.count(1)).toBe(2);
    expect(b.mean(1)).toBe(1.5);
  });

  it('compareWithinNoise and accuracyDiffNoise refuse a z that is not a finite number > 0 (NaN made every group "within noise")', () => {
    const ref = { overall: 0.8, perGroup: [0.9, 0.5] };
    const vr = { overall: 0.75, perGroup: [0.8, 0.6] };
    for (const z of [NaN, -1.96, 0, Infinity]) expect(trellisErrorOf(() => compareWithinNoise(ref, vr, [100, 100], 200, z)).code, String(z)).toBe('BAD_OPTION');
    expect(() => compareWithinNoise(ref, vr, [100, 100], 200, NaN)).toThrow(/z NaN is not a finite number > 0/);
    expect(compareWithinNoise(ref, vr, [100, 100], 200, 1).groupsWorse).toEqual([0]);
  });
});
