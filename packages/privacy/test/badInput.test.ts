import { Dataset } from '@trellis-ml/core';
import { describe, expect, it } from 'vitest';
import { scoreAttack } from '../src/audit.js';
import { checkNoSharedExamples, dedupeExamples } from '../src/data.js';
import { liraScores } from '../src/lira.js';
import { auc, balancedAccuracy, rocCurve, tprAtFpr } from '../src/rocMetrics.js';
import { signalsFromLogits } from '../src/signals.js';
import { checkDisjoint } from '../src/split.js';
import { bestThreshold } from '../src/thresholdAttack.js';
import { expectCode } from './helpers.js';

// The bad inputs issue 4 lists: members and non-members overlapping, too few non-members for the
// FPR asked, scores with NaN. Each must fail with a TrellisError naming what was wrong and the fix.
describe('bad input gets a clear error', () => {
  it('members and non-members overlapping: by index, and by content (a duplicated image)', () => {
    const e = expectCode(() => checkDisjoint([1, 2, 3, 4], [4, 5, 3]), 'MEMBERS_OVERLAP');
    expect(e.problem).toContain('2 example(s)');
    expect(e.problem).toContain('4, 3');
    expect(e.fix).toContain('disjoint');
    expectCode(() => checkDisjoint([1, 1], [2]), 'DUPLICATE_INDEX');
    expectCode(() => checkDisjoint([1], [2, 2]), 'DUPLICATE_INDEX');

    const img = (v: number) => Array.from({ length: 4 }, (_, j) => (v + j) / 10);
    const members = Dataset.fromArrays({ x: Float32Array.from([...img(1), ...img(2)]), shape: [4], labels: Int32Array.of(0, 1), numClasses: 2 });
    const nonMembers = Dataset.fromArrays({ x: Float32Array.from([...img(3), ...img(2)]), shape: [4], labels: Int32Array.of(0, 1), numClasses: 2 });
    const c = expectCode(() => checkNoSharedExamples(members, nonMembers), 'MEMBERS_OVERLAP');
    expect(c.problem).toContain('non-member 1 = member 1');
    expect(c.fix).toContain('dedupeExamples');
    const other = Dataset.fromArrays({ x: Float32Array.from(img(5)), shape: [4], labels: Int32Array.of(0), numClasses: 2 });
    expect(() => checkNoSharedExamples(members, other)).not.toThrow();
    // after deduplicating the pool the duplicate is gone
    expect(dedupeExamples(Dataset.fromArrays({ x: Float32Array.from([...img(1), ...img(2), ...img(2)]), shape: [4], labels: Int32Array.of(0, 1, 1), numClasses: 2 })).removed).toBe(1);
  });

  it('too few non-members for the FPR asked: refused with the counts, or reported as null by the harness', () => {
    const n = 999; // one short of the 1 000 that TPR at 1 % FPR needs
    const scores = Array.from({ length: 2 * n }, (_, i) => i);
    const y = scores.map((_, i) => (i < n ? 0 : 1));
    const e = expectCode(() => tprAtFpr(scores, y, 0.01), 'TOO_FEW_NON_MEMBERS');
    expect(e.problem).toContain('1000 non-member scores, but only 999');
    expect(e.fix).toContain('pool scores');
    expect(tprAtFpr(scores, y, 0.02)).toBe(1); // 999 ≥ 500 suffices at 2 %
    expect(tprAtFpr(scores, y, 0.01, { minNonMembers: 999 })).toBe(1);
    expectCode(() => tprAtFpr(scores, y, 0), 'BAD_FPR');
    const r = scoreAttack('loss', scores, y);
    expect(r.tprAt1pct).toBeNull();
    expect(r.tprAt01pct).toBeNull();
    expect(r.nonMembers).toBe(999);
  });

  it('scores with NaN: every metric, the threshold fit, the harness, signals and LiRA refuse them, naming the entry', () => {
    const scores = [0.9, 0.2, NaN, 0.1];
    const y = [1, 1, 0, 0];
    for (const f of [() => auc(scores, y), () => rocCurve(scores, y), () => tprAtFpr(scores, y, 0.5), () => bestThreshold(scores, y), () => scoreAttack('x', scores, y)]) {
      const e = expectCode(f, 'NAN_SCORE');
      expect(e.problem).toBe('scores[2] is NaN');
    }
    expectCode(() => balancedAccuracy([1, NaN], [1, 0]), 'NAN_SCORE');
    expect(expectCode(() => signalsFromLogits([0, 1, 2, NaN], [0, 1], 2), 'NAN_SCORE').problem).toContain('example 1');
    expect(expectCode(() => liraScores([0, 1], [{ phi: [0, NaN], keep: [0, 1] }], { mode: 'offline' }), 'NAN_SCORE').fix).toContain('diverged');
  });
});
