import { describe, expect, it } from 'vitest';
import { Rng } from '@trellis-ml/core';
import { liraLeaveOneOut, liraScores } from '../src/lira.js';
import { auc } from '../src/rocMetrics.js';
import { liraKeepMasks } from '../src/split.js';
import { expectCode } from './helpers.js';

describe('LiRA', () => {
  const refs = [
    { phi: [2, 0], keep: [1, 0] },
    { phi: [4, 1], keep: [1, 1] },
    { phi: [0, -1], keep: [0, 0] },
    { phi: [1, -3], keep: [0, 0] },
  ];
  it('online: log N(φ; μ_in, σ_in) − log N(φ; μ_out, σ_out) with medians and per-example stds', () => {
    const s = liraScores([3, 0], refs, { mode: 'online' });
    // example 0: IN {2,4} → μ 3, σ 1 ; OUT {0,1} → μ 0.5, σ 0.5 ; φ = 3
    const lp = (x: number, m: number, sd: number) => -0.5 * ((x - m) / sd) ** 2 - Math.log(sd) - 0.5 * Math.log(2 * Math.PI);
    expect(s[0]).toBeCloseTo(lp(3, 3, 1) - lp(3, 0.5, 0.5), 10);
    // example 1: IN {1} (σ 0 → floored), OUT {0,-1,-3} → median -1
    expect(Number.isFinite(s[1]!)).toBe(true);
  });

  it('offline is two-sided (−log N under OUT), offline-onesided is log Φ', () => {
    const off = liraScores([3, 0], refs, { mode: 'offline' });
    const lp = (x: number, m: number, sd: number) => -0.5 * ((x - m) / sd) ** 2 - Math.log(sd) - 0.5 * Math.log(2 * Math.PI);
    expect(off[0]).toBeCloseTo(-lp(3, 0.5, 0.5), 10);
    const one = liraScores([0.5, 0.5], [{ phi: [0, 0], keep: [0, 0] }, { phi: [1, 1], keep: [0, 0] }], { mode: 'offline-onesided' });
    expect(one[0]).toBeCloseTo(Math.log(0.5), 6);
  });

  it('offline-onesided stays exact and increasing in both tails (z ≥ 8.3 all scored 0 before; the seam at z = −5 jumped)', () => {
    // OUT φ ∈ {−1, 1}: μ 0, σ 1, so the score is log Φ(φ); reference values from scipy.stats.norm.logcdf
    const outs = [{ phi: Array(10).fill(-1), keep: Array(10).fill(0) }, { phi: Array(10).fill(1), keep: Array(10).fill(0) }];
    const z = [-30, -5.00001, -5, -4.99999, -1, 0, 1, 8.5, 10, 30];
    const scipy = [-454.32124395634327, -15.065050259076763, -15.064998393988727, -15.064946528997424, -1.8410216450092634,
      -0.6931471805599453, -0.1727537790234499, -9.47953482220325e-18, -7.61985302416047e-24, -4.906713927147908e-198];
    const s = liraScores(z, outs, { mode: 'offline-onesided' });
    for (let j = 0; j < z.length; j++) expect(Math.abs(s[j]! - scipy[j]!), `z = ${z[j]}`).toBeLessThanOrEqual(2e-7 * Math.abs(scipy[j]!));
    for (let j = 1; j < z.length; j++) expect(s[j]!, `z = ${z[j]}`).toBeGreaterThan(s[j - 1]!);
    // a member far above the OUT distribution now outranks a non-member less far above it
    expect(auc([s[9]!, s[7]!], [1, 0])).toBe(1);
  });

  it('fixed variance uses one global std', () => {
    const a = liraScores([3, 0], refs, { mode: 'offline', fixedVariance: true });
    const b = liraScores([3, 0], refs, { mode: 'offline' });
    expect(a[0]).not.toBeCloseTo(b[0]!, 3);
  });

  it('errors when an example has no OUT model, or no IN model online', () => {
    expectCode(() => liraScores([1], [{ phi: [1], keep: [1] }], { mode: 'offline' }), 'NO_OUT_MODELS');
    expectCode(() => liraScores([1], [{ phi: [1], keep: [0] }], { mode: 'online' }), 'NO_IN_MODELS');
    expectCode(() => liraScores([NaN], [{ phi: [1], keep: [0] }], { mode: 'offline' }), 'NAN_SCORE');
  });

  it('refuses an unknown or missing mode instead of silently running the one-sided offline test', () => {
    const e = expectCode(() => liraScores([3, 0], refs, { mode: 'Online' as never }), 'BAD_OPTION');
    expect(e.problem).toContain('unknown LiRA mode "Online"');
    expect(expectCode(() => liraScores([3, 0], refs, undefined as never), 'BAD_OPTION').problem).toContain('no options');
    expectCode(() => liraLeaveOneOut(refs, { mode: 'ofline' as never }), 'BAD_OPTION');
    expectCode(() => liraLeaveOneOut(refs, undefined as never), 'BAD_OPTION');
  });

  it('refuses infinite φ (it would make the Gaussian scores NaN), naming the entry', () => {
    expect(expectCode(() => liraScores([Infinity, 0], refs, { mode: 'online' }), 'NAN_SCORE').problem).toBe('target φ[0] is Infinity');
    const bad = [{ phi: [Infinity, 0], keep: [1, 0] }, ...refs.slice(1)];
    const e = expectCode(() => liraScores([3, 0], bad, { mode: 'online', fixedVariance: true }), 'NAN_SCORE');
    expect(e.problem).toBe("a reference model's φ[0] is Infinity");
    expect(e.fix).toContain('diverged');
  });

  it('leave-one-out refuses models scored on audit pools of different sizes', () => {
    const ragged = [{ phi: [1, 2, 3], keep: [1, 0, 1] }, { phi: [0, 1], keep: [0, 1] }, { phi: [0, 1], keep: [1, 0] }];
    const e = expectCode(() => liraLeaveOneOut(ragged, { mode: 'offline' }), 'LENGTH_MISMATCH');
    expect(e.problem).toContain('model 1 has 2 φ values and 2 keep flags, model 0 has 3');
  });

  it('leave-one-out pools M × n scores and separates a synthetic IN/OUT shift', () => {
    const n = 200;
    const keeps = liraKeepMasks(n, 8, 3);
    const rng = new Rng(7);
    const base = Array.from({ length: n }, () => rng.normal(0, 2));
    const models = keeps.map((keep) => ({ keep, phi: base.map((b, j) => b + (keep[j] ? 2.5 : 0) + rng.normal(0, 0.5)) }));
    for (const mode of ['online', 'offline'] as const) {
      const pooled = liraLeaveOneOut(models, { mode });
      if (mode === 'offline') expect(pooled.scores.length).toBeGreaterThan(7.5 * n); // skips examples IN for all 7 references
      else expect(pooled.scores.length).toBeGreaterThan(7 * n); // online skips examples IN for no reference
      expect(auc(pooled.scores, pooled.isMember)).toBeGreaterThan(0.85);
    }
  });
});
