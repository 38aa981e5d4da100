import { describe, expect, it } from 'vitest';
import { headlineTable, specE3, specE4, type Aggregate, type CellRow } from '../src/studyReport.js';

const agg = (accuracy: number, ece: number, nll: number, gap: number): Aggregate => ({ accuracy, ece, mce: 0, nll, brier: 0, entropyBits: 0, gap });

describe('spec §7.7 E4 check', () => {
  it('counts the five conditions on seed means (hand-computed)', () => {
    // seed means: DEC acc 0.70, ECE 0.05, NLL 0.9, gap −0.02; TENT acc 0.71, ECE 0.10, NLL 1.0, gap 0.08; source acc 0.50
    const r = specE4([
      { dec: agg(0.68, 0.04, 0.8, -0.03), tent: agg(0.70, 0.09, 1.1, 0.07), source: agg(0.5, 0.3, 2, 0.2) },
      { dec: agg(0.72, 0.06, 1.0, -0.01), tent: agg(0.72, 0.11, 0.9, 0.09), source: agg(0.5, 0.3, 2, 0.2) },
    ]);
    expect(r.met).toBe(5);
    expect(r.detail).toContain('ECE ratio 0.500');
  });
  it('fails the ECE bound just above 0.6 × TENT and the accuracy band just below TENT − 2 points', () => {
    const r = specE4([{ dec: agg(0.6899, 0.0601, 0.9, 0.01), tent: agg(0.71, 0.1, 1.0, 0.08), source: agg(0.5, 0.3, 2, 0.2) }]);
    expect(r.met).toBe(3);
    expect(r.detail).toMatch(/ECE ≤ 0\.6 × TENT: no/);
    expect(r.detail).toMatch(/acc ≥ TENT − 2 pts: no/);
    expect(r.detail).toMatch(/\|gap\| < TENT: yes/);
  });
  it('compares the confidence gap by magnitude: an under-confident DEC further from 0 than TENT fails', () => {
    const r = specE4([{ dec: agg(0.7, 0.05, 0.9, -0.09), tent: agg(0.7, 0.1, 1.0, 0.08), source: agg(0.5, 0.3, 2, 0.2) }]);
    expect(r.detail).toMatch(/\|gap\| < TENT: no/);
    expect(r.met).toBe(4);
  });
});

describe('spec §7.7 E3 check (claim t3a-over-certain)', () => {
  const ent = (entropyBits: number, nll: number): Aggregate => ({ accuracy: 0.5, ece: 0.1, mce: 0, nll, brier: 0, entropyBits, gap: 0 });
  it('entropy down and NLL up on seed means: both conditions (hand-computed deltas)', () => {
    // seed means: T3A entropy 0.3, NLL 3.0; source entropy 1.2, NLL 2.0 → Δ −0.9 bits (−75 %), Δ NLL +1.0 (+50 %)
    const r = specE3([{ t3a: ent(0.2, 2.5), source: ent(1.0, 1.8) }, { t3a: ent(0.4, 3.5), source: ent(1.4, 2.2) }]);
    expect(r.met).toBe(2);
    expect(r.dEntropyBits).toBeCloseTo(-0.9, 12);
    expect(r.dNll).toBeCloseTo(1.0, 12);
    expect(r.dEntropyRel).toBeCloseTo(-0.75, 12);
    expect(r.dNllRel).toBeCloseTo(0.5, 12);
    expect(r.detail).toBe('entropy lower: yes (Δ -0.9000 bits, -75.0 %); NLL higher: yes (Δ 1.0000, +50.0 %)');
  });
  it('an NLL that falls fails the second condition; equal entropy fails the first', () => {
    expect(specE3([{ t3a: ent(0.5, 1.9), source: ent(1.0, 2.0) }]).met).toBe(1);
    expect(specE3([{ t3a: ent(1.0, 1.9), source: ent(1.0, 2.0) }]).met).toBe(0);
  });
});

describe('headline table (main table and the first-seed ablation table)', () => {
  const cell = (seed: number, method: string, shift: string, accuracy: number, ece: number, tau?: number): CellRow => ({
    seed, dataset: 'mnist', model: 'cnn-bn', shift, severity: 5, method, protocol: 'online', accuracy, ece, mce: 0.5, ace: ece, nll: 1,
    brier: 0.2, entropyBits: 0.4, gap: 0.1, logitNorm: 10, msPerBatch: 1, peakTensors: 1, ...(tau === undefined ? {} : { tau }),
  });
  const rows = [
    cell(1, 'source', 'contrast', 0.5, 0.2), cell(1, 'source', 'rotate', 0.3, 0.4), cell(2, 'source', 'contrast', 0.9, 0.1),
    cell(1, 'DEC', 'contrast', 0.4, 0.1, 4), cell(1, 'DEC', 'rotate', 0.2, 0.3, 2), cell(2, 'DEC', 'contrast', 0.8, 0.05, 6),
    cell(1, 'DEC (fixed τ=1)', 'contrast', 0.6, 0.2, 1),
  ];
  const options = { datasets: ['mnist'], models: ['cnn-bn'], protocols: ['online' as const, 'post' as const], methods: ['source', 'DEC', 'DEC (fixed τ=1)', 'TENT'] };
  it('averages the kept cells per method (hand-computed) and leaves out combinations without cells', () => {
    const t = headlineTable(rows, { ...options, keep: () => true });
    expect(t.columns).not.toContain('mean τ');
    // source over three cells: accuracy (0.5 + 0.3 + 0.9) / 3 = 0.5667, ECE (0.2 + 0.4 + 0.1) / 3 = 0.2333
    expect(t.rows[0]).toEqual(['mnist/cnn-bn', 'online', 'source', 0.5667, 0.2333, 0.5, 1, 0.2, 0.4, 0.1]);
    expect(t.rows.map((r) => r[2])).toEqual(['source', 'DEC', 'DEC (fixed τ=1)']); // no TENT cells, no post cells
  });
  it('one seed with τ: seed 1 only, mean τ over the cells that logged it, blank where none did', () => {
    const t = headlineTable(rows, { ...options, keep: (r) => r.seed === 1, withTau: true });
    expect(t.columns.at(-1)).toBe('mean τ');
    const byMethod = Object.fromEntries(t.rows.map((r) => [r[2], r]));
    // DEC on seed 1: accuracy (0.4 + 0.2) / 2 = 0.3, τ (4 + 2) / 2 = 3 (seed 2's τ = 6 left out)
    expect(byMethod['DEC']![3]).toBeCloseTo(0.3, 12);
    expect(byMethod['DEC']!.at(-1)).toBe(3);
    expect(byMethod['DEC (fixed τ=1)']!.at(-1)).toBe(1);
    expect(byMethod['source']![3]).toBeCloseTo(0.4, 12);
    expect(byMethod['source']!.at(-1)).toBe('');
  });
});
