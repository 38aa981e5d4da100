import { describe, expect, it } from 'vitest';
import { scoreAttack } from '../src/audit.js';
import { advantage, auc, balancedAccuracy, minNonMembersFor, oracleBalancedAccuracy, rocCurve, thinRoc, tprAtFpr } from '../src/rocMetrics.js';
import { expectCode } from './helpers.js';

describe('attack metrics (higher score = member)', () => {
  it('AUC equals the Mann–Whitney statistic with average ranks for ties', () => {
    // members 0.9, 0.4, 0.4 ; non-members 0.4, 0.1 → pairs: (0.9>0.4),(0.9>0.1),(0.4=0.4: ½)×2,(0.4>0.1)×2 = 5/6
    expect(auc([0.9, 0.4, 0.4, 0.4, 0.1], [1, 1, 1, 0, 0])).toBeCloseTo(5 / 6, 12);
    expect(auc([1, 2, 3, 4], [0, 0, 1, 1])).toBe(1);
    expect(auc([1, 2, 3, 4], [1, 1, 0, 0])).toBe(0);
  });

  it('ROC has one point per distinct score and runs from (0,0) to (1,1)', () => {
    const roc = rocCurve([0.9, 0.4, 0.4, 0.1], [1, 1, 0, 0]);
    expect(Array.from(roc.fpr)).toEqual([0, 0, 0.5, 1]);
    expect(Array.from(roc.tpr)).toEqual([0, 0.5, 1, 1]);
    expect(roc.thresholds[0]).toBe(Infinity);
  });

  it('TPR at FPR takes the last ROC point with FPR strictly below the rate (LiRA convention)', () => {
    // 1000 non-members scored 0..999, 10 members scored 1000.5 + i for i < 5 (above all) and -1 otherwise
    const scores: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < 1000; i++) { scores.push(i); y.push(0); }
    for (let i = 0; i < 10; i++) { scores.push(i < 5 ? 1000.5 + i : -1); y.push(1); }
    expect(tprAtFpr(scores, y, 0.01)).toBeCloseTo(0.5, 12);
    // at exactly 9 false positives (< 10) TPR is still 0.5; members at -1 never count
    expect(minNonMembersFor(0.01)).toBe(1000);
    expect(minNonMembersFor(0.001)).toBe(10000);
  });

  it('refuses TPR at an FPR the number of non-members cannot support', () => {
    const e = expectCode(() => tprAtFpr([1, 2, 3, 4], [1, 0, 1, 0], 0.001), 'TOO_FEW_NON_MEMBERS');
    expect(e.problem).toContain('10000');
  });

  it('rejects NaN scores, bad labels and one-class inputs with clear errors', () => {
    expectCode(() => auc([0.1, NaN, 0.3], [1, 0, 0]), 'NAN_SCORE');
    expectCode(() => auc([0.1, 0.2], [1, 2]), 'BAD_MEMBERSHIP_LABEL');
    expectCode(() => auc([0.1, 0.2], [1, 1]), 'ONE_CLASS_ONLY');
    expectCode(() => auc([0.1, 0.2], [1]), 'LENGTH_MISMATCH');
  });

  it('thinRoc keeps a short curve whole and refuses fewer than two points', () => {
    const roc = rocCurve([0.9, 0.4, 0.4, 0.1], [1, 1, 0, 0]);
    expect(thinRoc(roc, 100).length).toBe(roc.fpr.length);
    expect(thinRoc(roc, 100)[0]).toEqual({ fpr: roc.fpr[0], tpr: roc.tpr[0] });
    expect(expectCode(() => thinRoc(roc, 0), 'BAD_OPTION').problem).toBe('thinRoc needs a whole number of points ≥ 2, got 0');
    expectCode(() => thinRoc(roc, 1), 'BAD_OPTION');
    expectCode(() => thinRoc(roc, 2.5), 'BAD_OPTION');
  });

  it('the non-member floor refuses an FPR outside (0, 1) instead of returning a negative or non-finite count', () => {
    expect(minNonMembersFor(0.01)).toBe(1000);
    expect(expectCode(() => minNonMembersFor(0), 'BAD_FPR').problem).toBe('FPR 0 is outside (0, 1)');
    expectCode(() => minNonMembersFor(-0.1), 'BAD_FPR');
    expectCode(() => minNonMembersFor(NaN), 'BAD_FPR');
  });

  it('balanced accuracy refuses soft predictions (scores or probabilities) instead of counting them as wrong', () => {
    const e = expectCode(() => balancedAccuracy([0.9, 0.7, 0.2, 0.1], [1, 1, 0, 0]), 'BAD_PREDICTION');
    expect(e.problem).toBe('prediction 0.9 at 0 is neither 0 nor 1');
    expect(e.fix).toContain('threshold them first');
    expectCode(() => scoreAttack('nn', [0.9, 0.7, 0.2, 0.1], [1, 1, 0, 0], [0.9, 0.7, 0.2, 0.1]), 'BAD_PREDICTION');
  });

  it('balanced accuracy, oracle balanced accuracy and advantage', () => {
    expect(balancedAccuracy([1, 0, 1, 1], [1, 1, 0, 0])).toBeCloseTo(0.5 * (0.5 + 0), 12);
    // best threshold 0.5: TPR 1, FPR 0.5 → BA 0.75, advantage 0.5
    expect(oracleBalancedAccuracy([0.9, 0.8, 0.7, 0.1], [1, 1, 0, 0])).toBe(1);
    expect(oracleBalancedAccuracy([0.9, 0.7, 0.8, 0.1], [1, 1, 0, 0])).toBeCloseTo(0.75, 12);
    expect(advantage([0.9, 0.7, 0.8, 0.1], [1, 1, 0, 0])).toBeCloseTo(0.5, 12);
  });
});
