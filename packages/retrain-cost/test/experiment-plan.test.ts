import { describe, expect, it } from 'vitest';
import { coverageGap, planFor } from '../src/experiment.js';

const opts = (mode: 'quick' | 'full', params?: Record<string, string>) => ({ mode, seed: 1, out: '/tmp/unused', params });

describe('reproduction plan (spec §4.2, §10.2)', () => {
  it('clusters every row up to 10,000 for the MLP and 5,000 rows for the CNN in full mode', () => {
    const p = planFor(opts('full'));
    expect(p.retrainN).toEqual({ mlp: 10000, cnn: 5000 });
    expect(p.clusteringSubsample).toEqual({ mlp: 10000, cnn: 5000 });
  });
  it('--set clusteringSubsample overrides both models', () => {
    expect(planFor(opts('full', { clusteringSubsample: '1000' })).clusteringSubsample).toEqual({ mlp: 1000, cnn: 1000 });
    expect(planFor(opts('quick')).clusteringSubsample).toEqual({ mlp: 3000, cnn: 3000 });
  });
  it("runs k-means to scikit-learn's 300 iterations unless --set clusteringMaxIter says otherwise", () => {
    expect(planFor(opts('full')).clusteringMaxIter).toBe(300);
    expect(planFor(opts('full', { clusteringMaxIter: '0' })).clusteringMaxIter).toBe(0);
  });
  it('rejects a --set value that is not a number', () => {
    expect(() => planFor(opts('full', { clusteringMaxIter: 'many' }))).toThrow(/clusteringMaxIter=many is not a number/);
  });
});

describe('predictor-coverage claim value', () => {
  it('is exact at the band edges (12/16 = 75%, 17/20 = 85%) despite floating-point subtraction', () => {
    expect(Math.abs(12 / 16 - 0.8)).toBeGreaterThan(0.05); // the bug: 0.05000000000000004
    expect(coverageGap(12 / 16)).toBe(0.05);
    expect(coverageGap(17 / 20)).toBe(0.05);
    expect(coverageGap(11 / 16)).toBe(0.1125);
    expect(coverageGap(0.8)).toBe(0);
  });
});
