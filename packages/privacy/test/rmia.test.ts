import { describe, expect, it } from 'vitest';
import { Rng } from '@trellis-ml/core';
import { rmiaLeaveOneOut, rmiaScores, tuneRmiaOfflineA, type RmiaReference } from '../src/rmia.js';
import { expectCode } from './helpers.js';

describe('RMIA (spec §5.2)', () => {
  it('offline with a = 1 and one OUT model: LR(x) = 0.9 / 0.3 = 3 beats population ratios 1 (0.5/0.5) but not 4 (0.8/0.2) → 0.5', () => {
    const ref: RmiaReference = { prob: [0.3], keep: [0], populationProb: [0.5, 0.2] };
    expect(Array.from(rmiaScores([0.9], [0.5, 0.8], [ref], { mode: 'offline', offlineA: 1 }))).toEqual([0.5]);
    // γ = 2: LR(x)/LR(z) = 3/1 = 3 > 2 still counts, 3/4 does not → 0.5; γ = 4: none → 0
    expect(rmiaScores([0.9], [0.5, 0.8], [ref], { mode: 'offline', offlineA: 1, gamma: 2 })[0]).toBe(0.5);
    expect(rmiaScores([0.9], [0.5, 0.8], [ref], { mode: 'offline', offlineA: 1, gamma: 4 })[0]).toBe(0);
  });

  it('offline with the default a = 0.3: p = ½(1.3·P_out + 0.7), for x and z alike', () => {
    // p(x) = ½(1.3·0.3 + 0.7) = 0.545 → LR(x) = 0.9 / 0.545 = 1.651…; p(z) = 0.675, 0.48 → LR(z) = 0.741, 1.667 → 1 of 2 below
    const ref: RmiaReference = { prob: [0.3], keep: [0], populationProb: [0.5, 0.2] };
    expect(rmiaScores([0.9], [0.5, 0.8], [ref], { mode: 'offline' })[0]).toBe(0.5);
    // with target x probability 0.91: LR(x) = 1.6697 > 1.6667 → both below → 1
    expect(rmiaScores([0.91], [0.5, 0.8], [ref], { mode: 'offline' })[0]).toBe(1);
  });

  it('online: p(x) = ½(mean IN + mean OUT), p(z) = the mean over every reference model', () => {
    const refs: RmiaReference[] = [
      { prob: [0.9, 0.2], keep: [1, 0], populationProb: [0.4, 0.6] },
      { prob: [0.5, 0.6], keep: [0, 1], populationProb: [0.2, 0.2] },
      { prob: [0.7, 0.4], keep: [1, 0], populationProb: [0.3, 0.1] },
    ];
    // x0: IN {0.9, 0.7} → 0.8, OUT {0.5} → p 0.65, target 0.8 → LR 1.2308; x1: IN {0.6}, OUT {0.2, 0.4} → p 0.45, target 0.3 → LR 0.6667
    // z: p = 0.3, 0.3 (means over all three), target 0.3, 0.45 → LR 1, 1.5
    expect(Array.from(rmiaScores([0.8, 0.3], [0.3, 0.45], refs, { mode: 'online' }))).toEqual([0.5, 0]);
  });

  it('equals the brute-force count of population points with LR(x)/LR(z) > γ', () => {
    const rng = new Rng(3);
    const n = 40;
    const m = 60;
    const u = (k: number) => Array.from({ length: k }, () => rng.uniform(0.01, 0.99));
    const refs: RmiaReference[] = Array.from({ length: 4 }, (_, r) => ({ prob: u(n), keep: Array.from({ length: n }, (_, i) => (i + r) % 2), populationProb: u(m) }));
    const target = u(n);
    const targetZ = u(m);
    for (const mode of ['online', 'offline'] as const) {
      const s = rmiaScores(target, targetZ, refs, { mode, gamma: 1.5 });
      for (let x = 0; x < n; x++) {
        const outs = refs.filter((r) => r.keep[x] === 0).map((r) => r.prob[x]!);
        const ins = refs.filter((r) => r.keep[x] === 1).map((r) => r.prob[x]!);
        const mean = (v: number[]) => v.reduce((p, q) => p + q, 0) / v.length;
        const px = mode === 'online' ? 0.5 * (mean(ins) + mean(outs)) : 0.5 * (1.3 * mean(outs) + 0.7);
        let count = 0;
        for (let z = 0; z < m; z++) {
          const meanZ = mean(refs.map((r) => r.populationProb[z]!));
          const pz = mode === 'online' ? meanZ : 0.5 * (1.3 * meanZ + 0.7);
          if ((target[x]! / px) / (targetZ[z]! / pz) > 1.5) count++;
        }
        expect(s[x], `${mode} x${x}`).toBe(count / m);
      }
    }
  });

  it('bad input gets a clear error', () => {
    const ref: RmiaReference = { prob: [0.3], keep: [0], populationProb: [0.5] };
    expectCode(() => rmiaScores([0.9], [0.5], [], { mode: 'offline' }), 'NO_REFERENCE_MODELS');
    expectCode(() => rmiaScores([0.9], [], [{ ...ref, populationProb: [] }], { mode: 'offline' }), 'NO_POPULATION');
    expectCode(() => rmiaScores([0.9, 0.1], [0.5], [ref], { mode: 'offline' }), 'LENGTH_MISMATCH');
    expectCode(() => rmiaScores([1.2], [0.5], [ref], { mode: 'offline' }), 'NAN_SCORE');
    expectCode(() => rmiaScores([NaN], [0.5], [ref], { mode: 'offline' }), 'NAN_SCORE');
    expectCode(() => rmiaScores([0.9], [0.5], [{ ...ref, keep: [1] }], { mode: 'offline' }), 'NO_OUT_MODELS');
    expectCode(() => rmiaScores([0.9], [0.5], [ref], { mode: 'online' }), 'NO_IN_MODELS');
    expectCode(() => rmiaScores([0.9], [0.5], [ref], { mode: 'onlin' as 'online' }), 'BAD_OPTION');
    expectCode(() => rmiaScores([0.9], [0.5], [ref], { mode: 'offline', gamma: 0 }), 'BAD_OPTION');
    expectCode(() => rmiaScores([0.9], [0.5], [ref], { mode: 'offline', offlineA: 1.5 }), 'BAD_OPTION');
  });

  it('tunes offline a on a pair of reference models: the smallest a of the grid with the best AUC, on the examples the reference left out', () => {
    // pseudo-target: x0 a member the reference finds hard (0.5 vs 0.2), x1 a non-member both find easy (0.9 vs 0.9),
    // x2 IN for the reference, so not used. One population point z (0.6 vs 0.5).
    // a = 0.5: p(x1) = ½(1.5·0.9 + 0.5) = 0.925 → LR 0.973 > LR(z) = 0.6 / ½(1.5·0.5 + 0.5) = 0.96 → both score 1 → AUC 0.5;
    // a = 0.6: p(x1) = 0.92 → LR 0.978 < LR(z) = 0.6 / 0.6 = 1 → x1 scores 0, x0 (LR 0.5 / 0.36 = 1.39) scores 1 → AUC 1.
    const pseudoTarget: RmiaReference = { prob: [0.5, 0.9, 0.99], keep: [1, 0, 1], populationProb: [0.6] };
    const reference: RmiaReference = { prob: [0.2, 0.9, 0.99], keep: [0, 0, 1], populationProb: [0.5] };
    expect(tuneRmiaOfflineA(pseudoTarget, reference)).toEqual({ a: 0.6, auc: 1 });
    // the excluded example cannot matter: flip its membership and the result is the same
    expect(tuneRmiaOfflineA({ ...pseudoTarget, keep: [1, 0, 0] }, reference)).toEqual({ a: 0.6, auc: 1 });
    // the reference's left-out examples all IN for the pseudo-target: no AUC
    expectCode(() => tuneRmiaOfflineA({ ...pseudoTarget, keep: [1, 1, 1] }, reference), 'ONE_CLASS_ONLY');
  });

  describe('leave-one-out over M models (the study\'s protocol)', () => {
    const rng = new Rng(11);
    const n = 30;
    const m = 25;
    const u = (k: number) => Array.from({ length: k }, () => rng.uniform(0.02, 0.98));
    const models: RmiaReference[] = Array.from({ length: 4 }, (_, i) => ({ prob: u(n), keep: Array.from({ length: n }, (_, j) => ((j >> i) & 1)), populationProb: u(m) }));

    it('pools each target\'s scores against the other models, skipping examples without OUT (or, online, IN) references', () => {
      for (const mode of ['online', 'offline'] as const) {
        const pooled = rmiaLeaveOneOut(models, { mode, offlineA: 0.4, gamma: 1.2 });
        const want: number[] = [];
        const wantMember: number[] = [];
        for (let t = 0; t < models.length; t++) {
          const refs = models.filter((_, i) => i !== t);
          const usable = Array.from({ length: n }, (_, j) => j).filter((j) => refs.some((r) => r.keep[j] === 0) && (mode === 'offline' || refs.some((r) => r.keep[j] === 1)));
          const sub = (v: ArrayLike<number>) => usable.map((j) => v[j]!);
          const s = rmiaScores(sub(models[t]!.prob), models[t]!.populationProb, refs.map((r) => ({ prob: sub(r.prob), keep: sub(r.keep), populationProb: r.populationProb })), { mode, offlineA: 0.4, gamma: 1.2 });
          want.push(...s);
          wantMember.push(...usable.map((j) => models[t]!.keep[j]!));
        }
        expect(Array.from(pooled.scores)).toEqual(want);
        expect(Array.from(pooled.isMember)).toEqual(wantMember);
        expect(pooled.targets).toBe(4);
        expect(pooled.offlineA).toEqual(mode === 'offline' ? [0.4, 0.4, 0.4, 0.4] : []);
      }
      // every model trained on j with bit pattern; j = 15 is IN for all four, j = 0 OUT for all: online skips both in every round
      expect(rmiaLeaveOneOut(models, { mode: 'online' }).scores.length).toBeLessThan(4 * n);
    });

    it('with references: 1, tunes a per target on the first two other models and scores against the first one only', () => {
      const pooled = rmiaLeaveOneOut(models, { mode: 'offline', offlineA: 'tune', references: 1 });
      const wantA = [1, 0, 0, 0].map((_, t) => {
        const others = models.filter((_, i) => i !== t);
        return tuneRmiaOfflineA(others[0]!, others[1]!).a;
      });
      expect(pooled.offlineA).toEqual(wantA);
      const others0 = models.slice(1);
      const usable = Array.from({ length: n }, (_, j) => j).filter((j) => others0[0]!.keep[j] === 0);
      const sub = (v: ArrayLike<number>) => usable.map((j) => v[j]!);
      const s0 = rmiaScores(sub(models[0]!.prob), models[0]!.populationProb, [{ prob: sub(others0[0]!.prob), keep: sub(others0[0]!.keep), populationProb: others0[0]!.populationProb }], { mode: 'offline', offlineA: wantA[0]! });
      expect(Array.from(pooled.scores.slice(0, usable.length))).toEqual(Array.from(s0));
    });

    it('bad input gets a clear error', () => {
      expectCode(() => rmiaLeaveOneOut(models.slice(0, 1), { mode: 'online' }), 'TOO_FEW_MODELS');
      expectCode(() => rmiaLeaveOneOut(models.slice(0, 2), { mode: 'offline', offlineA: 'tune' }), 'TOO_FEW_MODELS');
      expectCode(() => rmiaLeaveOneOut(models, { mode: 'offline', references: 0 }), 'BAD_OPTION');
      expectCode(() => rmiaLeaveOneOut(models, { mode: 'offline', references: 4 }), 'BAD_OPTION');
      expectCode(() => rmiaLeaveOneOut(models, { mode: 'offline', offlineA: 'auto' as 'tune' }), 'BAD_OPTION');
      expectCode(() => rmiaLeaveOneOut([models[0]!, { ...models[1]!, populationProb: [0.5] }], { mode: 'offline' }), 'LENGTH_MISMATCH');
      expectCode(() => rmiaLeaveOneOut(models, { mode: 'offlin' as 'offline' }), 'BAD_OPTION');
    });
  });
});
