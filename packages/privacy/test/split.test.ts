import { describe, expect, it } from 'vitest';
import { checkDisjoint, checkSplit, liraKeepMasks, makeMIASplit } from '../src/split.js';
import { expectCode } from './helpers.js';

describe('MIA split', () => {
  it('gives disjoint target members / non-members and shadows drawn from the shadow half only', () => {
    const s = makeMIASplit(1000, { membersPerModel: 100, shadows: 3, seed: 5 });
    expect(s.members.length).toBe(100);
    expect(s.nonMembers.length).toBe(100);
    expect(s.population.length).toBe(600);
    const target = new Set([...s.members, ...s.nonMembers]);
    expect(target.size).toBe(200);
    for (const sh of s.shadows) for (const j of [...sh.members, ...sh.nonMembers]) expect(target.has(j)).toBe(false);
    expect(Array.from(s.shadows[0]!.members)).not.toEqual(Array.from(s.shadows[1]!.members));
    expect(makeMIASplit(1000, { membersPerModel: 100, shadows: 3, seed: 5 }).members).toEqual(s.members);
  });

  it('rejects overlapping members and non-members, and a pool too small', () => {
    const e = expectCode(() => checkDisjoint([1, 2, 3], [3, 4]), 'MEMBERS_OVERLAP');
    expect(e.problem).toContain('3');
    expectCode(() => checkSplit({ members: Int32Array.of(1), nonMembers: Int32Array.of(2), shadows: [{ members: Int32Array.of(2), nonMembers: Int32Array.of(5) }] }), 'TARGET_SHADOW_OVERLAP');
    expectCode(() => makeMIASplit(100, { membersPerModel: 30, shadows: 1, seed: 0 }), 'POOL_TOO_SMALL');
  });

  it('refuses a pool size or model count that is not a non-negative integer, and missing options', () => {
    expect(expectCode(() => makeMIASplit(NaN, { membersPerModel: 2, shadows: 1, seed: 1 }), 'BAD_OPTION').problem).toBe('pool size NaN is not a non-negative integer');
    expectCode(() => makeMIASplit(10.5, { membersPerModel: 2, shadows: 1, seed: 1 }), 'BAD_OPTION');
    expect(expectCode(() => makeMIASplit(100, undefined as never), 'BAD_OPTION').fix).toContain('membersPerModel');
    expect(expectCode(() => liraKeepMasks(-1, 2, 1), 'BAD_OPTION').problem).toBe('audit pool size -1 is not a non-negative integer');
    expect(expectCode(() => liraKeepMasks(10, 2.5, 1), 'BAD_OPTION').problem).toBe('2.5 LiRA models is not a non-negative integer');
  });

  it('LiRA keep masks put exactly half of the pool in each model', () => {
    const keeps = liraKeepMasks(101, 4, 1);
    for (const k of keeps) expect(k.reduce((a, b) => a + b, 0)).toBe(50);
  });
});
