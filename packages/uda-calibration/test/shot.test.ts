import { describe, expect, it } from 'vitest';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { checkLearningRateSchedule, checkShotBeta, shotIm, shotLearningRate, shotPseudoLabels } from '../src/index.js';

describe("SHOT's clustering pseudo-labels (hand-computed)", () => {
  // With labelset 'all' (every class a candidate; the default 'predicted' is pinned below).
  // Four 2-d features A = (1,0), B = (0,1), C = (1,1), D = (2,1); the model predicts class 0 for all
  // (A on a tie 0.5/0.5). Normalised: Ĉ = (0.70711, 0.70711), D̂ = (0.89443, 0.44721).
  // Seeding: c1 ∝ 0.5·A → direction (1, 0); c0 ∝ 0.5·A + B + Ĉ + D̂ = (2.10154, 2.15432) → (0.69828, 0.71582).
  // Cosine similarities to (c0, c1): A (0.69828, 1) → 1; B (0.71582, 0) → 0; C (0.99992, 0.70711) → 0;
  // D (0.94469, 0.89443) → 0. First assignment [1, 0, 0, 0].
  // Refit on hard labels: c1 = A → (1, 0); c0 = mean(B, Ĉ, D̂) ∝ (1.60154, 2.15432) → (0.59661, 0.80253).
  // Similarities: A (0.59661, 1) → 1; B (0.80253, 0) → 0; C (0.98934, 0.70711) → 0; D (0.89253, 0.89443) → 1.
  const features = [1, 0, 0, 1, 1, 1, 2, 1];
  const probs = [0.5, 0.5, 1, 0, 1, 0, 1, 0];

  it('seeds centroids with the soft predictions, assigns by cosine, refits on hard labels and assigns again', () => {
    const r = shotPseudoLabels(features, probs, 4, 2, 2, { appendOne: false, labelset: 'all' });
    expect(Array.from(r.initialLabels)).toEqual([1, 0, 0, 0]);
    expect(Array.from(r.labels)).toEqual([1, 0, 0, 1]);
    expect(r.clusters).toBe(2);
    expect(r.changedFromArgmax).toBe(0.5); // A and D differ from the argmax (0, 0)
  });

  it('is scale-invariant per row (cosine), and appendOne equals clustering the features with a trailing 1', () => {
    const scaled = features.map((v, i) => (i >= 6 ? 5 * v : v));
    expect(Array.from(shotPseudoLabels(scaled, probs, 4, 2, 2, { appendOne: false, labelset: 'all' }).labels)).toEqual([1, 0, 0, 1]);
    const withOne = [1, 0, 1, 0, 1, 1, 1, 1, 1, 2, 1, 1];
    const a = shotPseudoLabels(features, probs, 4, 2, 2, { labelset: 'all' });
    const b = shotPseudoLabels(withOne, probs, 4, 3, 2, { appendOne: false, labelset: 'all' });
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
    expect(Array.from(a.initialLabels)).toEqual(Array.from(b.initialLabels));
  });

  it('a class without probability mass or without members gets no centroid', () => {
    // Class 1 has zero soft mass: only c0 exists, everything joins it, and the refit keeps one cluster.
    const r = shotPseudoLabels([1, 0, 0, 1], [1, 0, 1, 0], 2, 2, 2, { appendOne: false, labelset: 'all' });
    expect(Array.from(r.labels)).toEqual([0, 0]);
    expect(r.clusters).toBe(1);
    // All-zero features without the appended 1 have no direction: every row keeps the model's argmax.
    const z = shotPseudoLabels([0, 0, 0, 0], [0.2, 0.8, 0.7, 0.3], 2, 2, 2, { appendOne: false, labelset: 'all' });
    expect(Array.from(z.labels)).toEqual([1, 0]);
  });

  it("labelset 'predicted' (the released code's) gives pseudo-labels only to classes some row's argmax names", () => {
    // Every row's argmax is class 0 (A on the tie), so class 1 is no candidate: every row gets 0, where
    // 'all' gives A and D to class 1 (above). 'predicted' is the default.
    const r = shotPseudoLabels(features, probs, 4, 2, 2, { appendOne: false, labelset: 'predicted' });
    const byDefault = shotPseudoLabels(features, probs, 4, 2, 2, { appendOne: false });
    expect(Array.from(byDefault.labels)).toEqual([0, 0, 0, 0]);
    expect(Array.from(byDefault.initialLabels)).toEqual([0, 0, 0, 0]);
    expect(Array.from(r.initialLabels)).toEqual([0, 0, 0, 0]);
    expect(Array.from(r.labels)).toEqual([0, 0, 0, 0]);
    expect(r.clusters).toBe(1);
    expect(r.changedFromArgmax).toBe(0);
    // with both classes predicted, it is 'all''s result
    const both = [0.4, 0.6, 1, 0, 1, 0, 1, 0];
    expect(Array.from(shotPseudoLabels(features, both, 4, 2, 2, { appendOne: false, labelset: 'predicted' }).labels))
      .toEqual(Array.from(shotPseudoLabels(features, both, 4, 2, 2, { appendOne: false, labelset: 'all' }).labels));
    expect(trellisErrorOf(() => shotPseudoLabels(features, probs, 4, 2, 2, { labelset: 'argmax' as 'all' })).code).toBe('BAD_OPTION');
  });

  it('rejects arrays that do not hold n rows', () => {
    expect(trellisErrorOf(() => shotPseudoLabels([1, 2, 3], probs, 4, 2, 2)).code).toBe('SHAPE_MISMATCH');
    expect(trellisErrorOf(() => shotPseudoLabels(features, probs, 4, 0, 2)).code).toBe('SHAPE_MISMATCH');
  });
});

describe("SHOT's learning-rate decay lr·(1 + 10·progress)^−0.75", () => {
  it('matches hand-computed values (progress = (step + 1)/total, clamped at 1)', () => {
    expect(shotLearningRate(0.01, 0, 10)).toBeCloseTo(0.01 * 2 ** -0.75, 12); // 0.0059460
    expect(shotLearningRate(0.01, 4, 10)).toBeCloseTo(0.0026084743, 9); // 6^−0.75
    expect(shotLearningRate(0.01, 9, 10)).toBeCloseTo(0.0016556003, 9); // 11^−0.75
    expect(shotLearningRate(0.01, 30, 10)).toBe(shotLearningRate(0.01, 9, 10));
  });

  it('bad input: no planned steps, an unknown schedule name, a bad β', () => {
    for (const t of [0, NaN, 2.5]) expect(trellisErrorOf(() => shotLearningRate(0.01, 0, t)).code).toBe('NO_TOTAL_STEPS');
    expect(trellisErrorOf(() => checkLearningRateSchedule('cosine')).code).toBe('BAD_LR_SCHEDULE');
    expect(() => checkLearningRateSchedule('shot-decay')).not.toThrow();
    for (const b of [-0.1, NaN, Infinity, '0.3']) expect(trellisErrorOf(() => checkShotBeta(b)).code, String(b)).toBe('BAD_BETA');
    expect(trellisErrorOf(() => shotIm({ beta: -1 })).code).toBe('BAD_BETA');
    expect(trellisErrorOf(() => shotIm({ beta: NaN })).code).toBe('BAD_BETA');
    expect(trellisErrorOf(() => shotIm({ lrSchedule: 'linear' as never })).code).toBe('BAD_LR_SCHEDULE');
    expect(trellisErrorOf(() => shotIm({ beta: 0.3, pseudoLabels: 'stream' as never })).code).toBe('BAD_PSEUDO_LABEL_MODE');
    expect(trellisErrorOf(() => shotIm().planSteps(0)).code).toBe('NO_TOTAL_STEPS');
  });
});
