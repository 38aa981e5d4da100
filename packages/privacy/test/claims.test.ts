import { describe, expect, it } from 'vitest';
import type { AttackResult } from '../src/audit.js';
import { privacyClaims, QUICK_CONFIG, type MethodRun } from '../src/experiment.js';

function run(method: string, seed: number, testAcc: number, lossAuc: number, mentrBa: number): MethodRun {
  const a = (attack: string, auc: number, ba: number): AttackResult => ({ attack, auc, balancedAccuracy: ba, oracleBalancedAccuracy: ba, tprAt1pct: null, tprAt01pct: null, advantage: 0, members: 10, nonMembers: 10, roc: [] });
  return { method, seed, trainAcc: 1, testAcc, attacks: [a('loss', lossAuc, 0.5), a('modifiedEntropy', lossAuc, mentrBa)], featureNorm: null, trainSeconds: 1, shadowSeconds: [1] };
}

describe('privacy claims are computed from the measured runs', () => {
  it('CRL claims hold or fail on the paired per-seed numbers', () => {
    const runs = [run('vanilla', 1, 0.85, 0.58, 0.60), run('crl', 1, 0.845, 0.54, 0.55), run('vanilla', 2, 0.85, 0.57, 0.60), run('crl', 2, 0.80, 0.545, 0.55)];
    const claims = privacyClaims(runs, [], [1, 2], QUICK_CONFIG);
    const byId = Object.fromEntries(claims.map((c) => [c.id, c]));
    expect(byId['baseline-leaks']!.holds).toBe(true);
    expect(byId['crl-lowers-loss-auc']!.measured).toBeCloseTo(0.0325, 10);
    expect(byId['crl-lowers-loss-auc']!.holds).toBe(true);
    expect(byId['crl-accuracy-cost']!.measured).toBeCloseTo(0.0275, 10);
    expect(byId['crl-accuracy-cost']!.holds).toBe(false);
  });

  it('LiRA and RMIA claims compare pooled AUCs of the same run', () => {
    const a = (attack: string, auc: number): AttackResult => ({ attack, auc, balancedAccuracy: null, oracleBalancedAccuracy: 0.5, tprAt1pct: null, tprAt01pct: null, advantage: 0, members: 10, nonMembers: 10, roc: [] });
    const lira = [{
      method: 'vanilla', models: 9, referencesPerTarget: 8, meanModelSeconds: 1, medianModelSeconds: 1,
      results: [a('lira-online', 0.6), a('lira-online-fixed', 0.62), a('lira-offline', 0.55), a('lira-offline-fixed', 0.58), a('rmia-online', 0.65), a('rmia-offline', 0.57), a('rmia-offline-1ref', 0.56), a('loss (pooled)', 0.59)],
      rmia: { population: 5000, gamma: 1, offlineA: [0.3, 0.4] },
    }];
    const byId = Object.fromEntries(privacyClaims([], lira, [1], QUICK_CONFIG).map((c) => [c.id, c]));
    expect(byId['lira-beats-loss']!.measured).toBeCloseTo(0.03, 12);
    expect(byId['rmia-beats-loss']!.measured).toBeCloseTo(0.06, 12);
    expect(byId['rmia-beats-loss']!.holds).toBe(true);
    expect(byId['rmia-offline-beats-lira-offline']!.measured).toBeCloseTo(-0.01, 12);
    expect(byId['rmia-offline-beats-lira-offline']!.holds).toBe(false);
    // without RMIA results (rmiaPopulation = 0) there are no RMIA claims
    const noRmia = privacyClaims([], [{ ...lira[0]!, results: lira[0]!.results.filter((r) => !r.attack.startsWith('rmia')), rmia: undefined }], [1], QUICK_CONFIG);
    expect(noRmia.map((c) => c.id)).not.toContain('rmia-beats-loss');
  });
});
