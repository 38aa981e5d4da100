import { Dataset } from '@trellis-ml/core';
import { describe, expect, it } from 'vitest';
import {
  checkGroupArray, checkGroupIds, checkNoEmptyGroup, disparity, groupCounts, groupReport, imbalanceByClass, meanRankCorrelation, pairedTransformedSet, perExampleLoss, rotate90,
  spearman, transformedMinority, type GroupReport,
} from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';

describe('groupReport and disparity', () => {
  // 2 classes, logits chosen so softmax probabilities are exact-ish: [0, 0] -> p = 0.5
  const logits = Float32Array.from([2, 0, 0, 2, 0, 0, 2, 0, 0, 2, 0, 2]);
  const labels = Int32Array.from([0, 1, 1, 0, 1, 1]);
  const groups = Int32Array.from([0, 0, 0, 1, 1, 1]);
  it('computes per-group accuracy and loss', () => {
    const r = groupReport(logits, labels, groups, 2, 2, { bootstrapBelow: 0 });
    // rows: [2,0]→0 ✓, [0,2]→1 ✓, [0,0]→0 (label 1) ✗ | [2,0]→0 ✓, [0,2]→1 ✓, [0,2]→1 ✓
    expect(r.perGroup[0]!.accuracy).toBeCloseTo(2 / 3, 12);
    expect(r.perGroup[1]!.accuracy).toBe(1);
    const l2 = Math.log(1 + Math.exp(-2));
    expect(r.perGroup[0]!.loss).toBeCloseTo((2 * l2 + Math.log(2)) / 3, 6);
    expect(r.perGroup[1]!.loss).toBeCloseTo(l2, 6);
    expect(r.overall.accuracy).toBeCloseTo(5 / 6, 12);
    expect(r.overall.count).toBe(6);
  });

  it('gives ξ_acc, ξ_R, ψ, worst group and the rich-get-richer ρ from hand-made reports', () => {
    const rep = (acc: number[], loss: number[], overall: number): GroupReport => ({
      overall: { accuracy: overall, loss: 0, count: 300 },
      perGroup: acc.map((a, i) => ({ accuracy: a, loss: loss[i]!, count: 100 })),
    });
    const dense = rep([0.99, 0.9, 0.7], [0.05, 0.3, 0.8], 0.863);
    const pruned = rep([0.98, 0.85, 0.5], [0.07, 0.45, 1.4], 0.777);
    const d = disparity(dense, pruned);
    expect(d.accuracyDrop.map((x) => +x.toFixed(6))).toEqual([0.01, 0.05, 0.2]);
    expect(d.accuracyDropSpread).toBeCloseTo(0.19, 12);
    expect(d.excessLoss.map((x) => +x.toFixed(6))).toEqual([0.02, 0.15, 0.6]);
    expect(d.excessLossSpread).toBeCloseTo(0.58, 12);
    expect(d.overallDrop).toBeCloseTo(0.086, 12);
    expect(d.gapViolation[2]).toBeCloseTo(0.114, 12);
    expect(d.accuracyGapDense).toBeCloseTo(0.29, 12);
    expect(d.accuracyGapPruned).toBeCloseTo(0.48, 12);
    expect(d.worstGroupAccuracy).toBe(0.5);
    expect(d.richGetRicherRho).toBeCloseTo(-1, 12);
  });

  it('spearman handles ties with average ranks', () => {
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    // ranks a = [1, 2.5, 2.5, 4], b = [1, 2, 3, 4]: pearson = 0.9486832980505138
    expect(spearman([1, 2, 2, 3], [1, 2, 3, 4])).toBeCloseTo(0.9486832980505138, 12);
  });

  it('spearman on a non-monotone example matches 1 − 6Σd²/(n(n²−1))', () => {
    // ranks equal the values; d = [1, 1, 1, 1, 0], Σd² = 4 -> 1 − 24/120 = 0.8
    expect(spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])).toBeCloseTo(0.8, 12);
    // only the order matters: a monotone transform of either side gives the same ρ
    expect(spearman([0.1, 5, 7, 100, 101], [20, 10, 40, 30, 50])).toBeCloseTo(0.8, 12);
    // a larger indicator with a larger outcome is positive (the sign the theory predicts for ‖g_a‖ against R(a))
    expect(spearman([0.35, 7.6, 4.0], [0.1, 0.9, 0.5])).toBeCloseTo(1, 12);
  });

  it('meanRankCorrelation correlates within each run, then averages runs equally', () => {
    const indicator = [1, 2, 3, 4, 5];
    // run 1: ρ = 0.8; run 2: ρ = −1; run 3: constant outcome, ρ undefined and skipped -> (0.8 − 1)/2 = −0.1
    expect(meanRankCorrelation(indicator, [[2, 1, 4, 3, 5], [50, 40, 30, 20, 10], [1, 1, 1, 1, 1]])).toBeCloseTo(-0.1, 12);
    // averaging the outcomes first would let the large-valued run decide alone: mean outcome is decreasing, ρ = −1
    const pooled = [0, 1, 2, 3, 4].map((a) => ([2, 1, 4, 3, 5][a]! + [50, 40, 30, 20, 10][a]!) / 2);
    expect(spearman(indicator, pooled)).toBeCloseTo(-1, 12);
    expect(meanRankCorrelation(indicator, [[1, 1, 1, 1, 1]])).toBeNaN();
  });

  it('attaches bootstrap intervals to small groups', () => {
    const r = groupReport(logits, labels, groups, 2, 2, { bootstrapBelow: 200, resamples: 200, seed: 1 });
    const [lo, hi] = r.perGroup[0]!.ci95!;
    expect(lo).toBeLessThanOrEqual(2 / 3);
    expect(hi).toBeGreaterThanOrEqual(2 / 3);
    expect(lo).toBeGreaterThanOrEqual(0);
  });

  it('errors on a group with no samples in the evaluation set', () => {
    expect(trellisErrorOf(() => groupReport(logits, labels, groups, 2, 3)).code).toBe('EMPTY_GROUP');
  });

  it('errors on group ids outside [0, numGroups) instead of a raw TypeError', () => {
    const bad = Int32Array.from([0, 0, 2, 1, 1, 1]);
    expect(trellisErrorOf(() => groupReport(logits, labels, bad, 2, 2)).code).toBe('GROUP_ID_OUT_OF_RANGE');
    expect(() => groupReport(logits, labels, bad, 2, 2)).toThrow(/group id 2 of example 2 in the evaluation set is outside \[0, 2\)/);
    expect(trellisErrorOf(() => groupReport(logits, labels, Int32Array.from([0, 0, -1, 1, 1, 1]), 2, 2)).code).toBe('GROUP_IDS_MISSING');
    expect(trellisErrorOf(() => groupReport(logits, labels, groups, 2, 0)).code).toBe('BAD_GROUP_COUNT');
  });

  it('errors on labels outside [0, numClasses) and logits that are not numClasses per label, instead of a wrong or NaN loss', () => {
    const badLabels = Int32Array.from([0, 1, 5, 0, 1, 1]);
    expect(trellisErrorOf(() => groupReport(logits, badLabels, groups, 2, 2)).code).toBe('LABEL_OUT_OF_RANGE');
    expect(() => perExampleLoss(logits, badLabels, 2)).toThrow(/label 5 of example 2 is outside \[0, 2\)/);
    expect(trellisErrorOf(() => groupReport(logits, labels, groups, 3, 2)).code).toBe('LENGTH_MISMATCH');
    expect(() => perExampleLoss(logits.subarray(0, 10), labels, 2)).toThrow(/10 logits for 6 labels × 2 classes/);
  });

  it('errors on NaN or infinite logits instead of predicting class 0 (every label-0 example "correct") or a NaN loss', () => {
    const nan = Float32Array.from(logits).fill(NaN);
    expect(trellisErrorOf(() => groupReport(nan, labels, groups, 2, 2)).code).toBe('NON_FINITE_LOGITS');
    const inf = Float32Array.from(logits);
    inf[7] = Infinity;
    expect(() => perExampleLoss(inf, labels, 2)).toThrow(/logit 1 of example 3 is Infinity/);
  });
});

describe('group designs and group-id checks', () => {
  const ds = Dataset.fromArrays({ x: Float32Array.from({ length: 40 * 4 }, (_, i) => i % 7), shape: [2, 2, 1], labels: Int32Array.from({ length: 40 }, (_, i) => i % 4), numClasses: 4 });
  it('errors when group ids are missing for some or all samples', () => {
    expect(trellisErrorOf(() => checkGroupIds(ds, 2)).code).toBe('GROUP_IDS_MISSING');
    const partial = ds.withGroups(Int32Array.from({ length: 40 }, (_, i) => (i === 7 ? -1 : 0)));
    expect(trellisErrorOf(() => checkGroupIds(partial, 2)).code).toBe('GROUP_IDS_MISSING');
    expect(trellisErrorOf(() => checkGroupIds(ds.withGroups(new Int32Array(40).fill(2)), 2)).code).toBe('GROUP_ID_OUT_OF_RANGE');
  });
  it('errors on a group count that is not a positive integer instead of a RangeError', () => {
    for (const n of [-1, 2.5, 0, NaN]) {
      expect(trellisErrorOf(() => groupCounts([0, 1], n)).code).toBe('BAD_GROUP_COUNT');
      expect(trellisErrorOf(() => checkNoEmptyGroup([0, 1], n)).code).toBe('BAD_GROUP_COUNT');
      expect(trellisErrorOf(() => checkGroupArray([0, 1], 2, n)).code).toBe('BAD_GROUP_COUNT');
    }
    expect(() => groupCounts([0, 1], -1)).toThrow(/numGroups -1 is not a positive integer/);
  });
  it('groupCounts counts by hand and rejects an id outside [0, numGroups) instead of leaving it out (a mistyped id read as an empty group)', () => {
    expect(groupCounts([0, 2, 2, 1, 2], 4)).toEqual([1, 1, 3, 0]);
    expect(trellisErrorOf(() => groupCounts([0, 5], 2)).code).toBe('GROUP_ID_OUT_OF_RANGE');
    expect(trellisErrorOf(() => groupCounts([0, -1], 2)).code).toBe('GROUP_IDS_MISSING');
    expect(trellisErrorOf(() => groupCounts([0, 1.5], 2)).code).toBe('GROUP_IDS_MISSING');
    // checkNoEmptyGroup names the bad id, not "group 1 has no samples"
    expect(() => checkNoEmptyGroup([0, 7, 0], 2, 'the test split')).toThrow(/group id 7 of example 1 in the test split is outside \[0, 2\)/);
    expect(trellisErrorOf(() => checkNoEmptyGroup([0, 0], 2)).code).toBe('EMPTY_GROUP');
  });
  it('rotates 90° clockwise: out[r][c] = in[side−1−c][r]', () => {
    expect(Array.from(rotate90(Float32Array.from([1, 2, 3, 4])))).toEqual([3, 1, 4, 2]);
  });
  it('imbalanceByClass keeps the given fraction per class', () => {
    const imb = imbalanceByClass(ds, { 2: 0.2, 3: 0.5 }, 1);
    expect(imb.classCounts()).toEqual([10, 10, 2, 5]);
  });
  it('transformedMinority marks a seeded fraction as group 1 and pairedTransformedSet doubles the set', () => {
    const tm = transformedMinority(ds, { fraction: 0.25, seed: 3 });
    expect(tm.groups!.reduce((s, g) => s + g, 0)).toBe(10);
    const again = transformedMinority(ds, { fraction: 0.25, seed: 3 });
    expect(again.groups).toEqual(tm.groups);
    const paired = pairedTransformedSet(ds);
    expect(paired.size).toBe(80);
    expect(Array.from(paired.x.subarray(40 * 4, 40 * 4 + 4))).toEqual(Array.from(rotate90(ds.x.subarray(0, 4))));
  });
  it('errors on an unknown transform name, and on a transform that changes the image size', () => {
    expect(trellisErrorOf(() => transformedMinority(ds, { fraction: 0.25, seed: 3, transform: 'rotate' as never })).code).toBe('BAD_OPTION');
    expect(() => pairedTransformedSet(ds, 'invrt' as never)).toThrow(/unknown image transform "invrt"/);
    const shrink = (im: Float32Array) => im.subarray(0, 2);
    expect(trellisErrorOf(() => transformedMinority(ds, { fraction: 0.25, seed: 3, transform: shrink })).code).toBe('BAD_SHAPE');
    expect(() => pairedTransformedSet(ds, shrink)).toThrow(/the image transform returned 2 values for an image of 4/);
  });
});
