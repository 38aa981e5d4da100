import { describe, expect, it } from 'vitest';
import { median, pairOrder, summarizeTimingPairs, timePair, trainingWork, type TimingPair } from '../src/benchmark.js';
import type { AttackResult } from '../src/audit.js';
import { privacyClaims, QUICK_CONFIG, FULL_CONFIG, type LiraRun } from '../src/experiment.js';
import { liraKeepMasks } from '../src/split.js';
import { expectCode } from './helpers.js';

describe('LiRA reference-time benchmark', () => {
  it('a LiRA reference model does the same work as a baseline run (keep masks give N of the 2N audit pool)', () => {
    for (const cfg of [QUICK_CONFIG, FULL_CONFIG]) {
      const n = cfg.members;
      for (const keep of liraKeepMasks(2 * n, 3, 1)) expect(keep.reduce((a, b) => a + b, 0)).toBe(n);
      expect(trainingWork(n, cfg.recipe)).toEqual(trainingWork(liraKeepMasks(2 * n, 1, 7)[0]!.reduce((a, b) => a + b, 0), cfg.recipe));
    }
    // 2500 examples at batch 128: 20 steps per epoch (the last batch is partial), 80 epochs
    expect(trainingWork(2500, FULL_CONFIG.recipe)).toEqual({ examples: 2500, batchSize: 128, epochs: 80, steps: 1600 });
  });

  it('interleaves baseline and reference runs, alternating which goes first (ABBA)', async () => {
    const calls: string[] = [];
    const run = (name: string, seconds: number) => async () => {
      calls.push(name);
      return { seconds };
    };
    const pairs: TimingPair[] = [];
    for (let k = 0; k < 4; k++) pairs.push((await timePair(k, run(`B${k}`, 10), run(`R${k}`, 5 + k))).pair);
    expect(calls).toEqual(['B0', 'R0', 'R1', 'B1', 'B2', 'R2', 'R3', 'B3']);
    expect(pairs.map((p) => p.order)).toEqual(['baseline-first', 'reference-first', 'baseline-first', 'reference-first']);
    expect(pairOrder(5)).toBe('reference-first');
    expect(pairs[2]).toEqual({ pair: 2, order: 'baseline-first', baselineSeconds: 10, referenceSeconds: 7, ratio: 0.7 });
  });

  it('summarises pairs by the median of per-pair ratios', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    const pair = (k: number, b: number, r: number): TimingPair => ({ pair: k, order: pairOrder(k), baselineSeconds: b, referenceSeconds: r, ratio: r / b });
    // ratios 1.0, 0.5, 1.2 → median 1.0 although the load doubled during pair 2
    const s = summarizeTimingPairs([pair(0, 10, 10), pair(1, 20, 10), pair(2, 10, 12)]);
    expect(s.medianRatio).toBeCloseTo(1, 12);
    expect(s.ratioOfMedians).toBeCloseTo(10 / 10, 12);
    expect(s.minRatio).toBeCloseTo(0.5, 12);
    expect(s.maxRatio).toBeCloseTo(1.2, 12);
    expectCode(() => summarizeTimingPairs([]), 'EMPTY');
    expectCode(() => summarizeTimingPairs([pair(0, 0, 1)]), 'BAD_TIMING');
  });

  it('the benchmark claim is |median ratio − 1| ≤ 0.25 from the interleaved pairs', () => {
    const pairsOf = (ratios: number[]) => ratios.map((r, k): TimingPair => ({ pair: k, order: pairOrder(k), baselineSeconds: 10, referenceSeconds: 10 * r, ratio: r }));
    const liraRun = (ratios: number[]): LiraRun => {
      const pairs = pairsOf(ratios);
      const w = trainingWork(500, QUICK_CONFIG.recipe);
      const result = (attack: string): AttackResult => ({ attack, auc: 0.6, balancedAccuracy: null, oracleBalancedAccuracy: 0.6, tprAt1pct: null, tprAt01pct: null, advantage: 0.2, members: 1000, nonMembers: 1000, roc: [] });
      return {
        method: 'vanilla', models: 4, referencesPerTarget: 3, results: [result('lira-online-fixed'), result('loss (pooled)')], meanModelSeconds: 10, medianModelSeconds: 10,
        benchmark: { method: 'vanilla', baselineWork: w, referenceWork: w, pairs, summary: summarizeTimingPairs(pairs) },
      };
    };
    const ok = privacyClaims([], [liraRun([0.95, 1.3, 1.02])], [1], QUICK_CONFIG).find((c) => c.id === 'benchmark-lira-reference-time')!;
    expect(ok.measured).toBeCloseTo(0.02, 12);
    expect(ok.holds).toBe(true);
    expect(ok.statement).toContain('interleaved');
    const slow = privacyClaims([], [liraRun([1.4, 1.3])], [1], QUICK_CONFIG).find((c) => c.id === 'benchmark-lira-reference-time')!;
    expect(slow.measured).toBeCloseTo(0.35, 12);
    expect(slow.holds).toBe(false);
  });
});
