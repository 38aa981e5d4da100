import { describe, expect, it } from 'vitest';
import {
  attributeTransfer, classifyUnits, freezeMaskSetting1, freezeMaskSetting2, globalRanks, GROUP_CODE, groupMask, maskCount, meanMatrix,
  randomMask, randomMaskLike, rankedMask, selectUnits, transferShares, zscore, type AttributeScores, type UnitGroup, type UnitLayout, type UnitScores,
} from '../src/index.js';
import { expectTrellisError } from './helpers.js';

const layout: UnitLayout = [
  { id: 'L0.attn', layer: 0, kind: 'attn', numUnits: 40, tap: 't0', aSide: [], bSide: { variable: 'o0', axis: 0 }, headDim: 10 },
  { id: 'L0.mlp', layer: 0, kind: 'mlp', numUnits: 160, tap: 't1', aSide: [], bSide: { variable: 'd0', axis: 0 } },
  { id: 'L1.mlp', layer: 1, kind: 'mlp', numUnits: 100, tap: 't2', aSide: [], bSide: { variable: 'd1', axis: 0 } },
];

function fakeScores(seed: number): AttributeScores {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const make = (): UnitScores => ({ method: 'wifv', count: 1, means: {}, variances: {}, scores: Object.fromEntries(layout.map((m) => [m.id, Float64Array.from({ length: m.numUnits }, rnd)])) });
  return { safety: make(), utility: make() };
}

describe('classification (spec §3.4)', () => {
  it('respects the fractions exactly; groups are disjoint and cover all units', () => {
    for (const normalize of ['zscore-module', 'rank-global', 'none'] as const) {
      const cls = classifyUnits(layout, fakeScores(3), { normalize, fractions: { esu: 0.02, euu: 0.1, ru: 0.15 } });
      expect(cls.counts).toEqual({ ESU: 6, EUU: 30, RU: 45, CU: 219 });
      let covered = 0;
      for (const m of layout) for (const g of cls.groups[m.id]!) { expect(g).toBeLessThan(4); covered++; }
      expect(covered).toBe(300);
      // ESU are the highest D; EUU the lowest D among the rest; RU the lowest T among the rest.
      const all = layout.flatMap((m) => Array.from(cls.groups[m.id]!, (g, i) => ({ g, D: cls.D[m.id]![i]!, T: cls.T[m.id]![i]! })));
      const minEsuD = Math.min(...all.filter((u) => u.g === GROUP_CODE.ESU).map((u) => u.D));
      expect(Math.max(...all.filter((u) => u.g !== GROUP_CODE.ESU).map((u) => u.D))).toBeLessThanOrEqual(minEsuD);
      const maxRuT = Math.max(...all.filter((u) => u.g === GROUP_CODE.RU).map((u) => u.T));
      expect(Math.min(...all.filter((u) => u.g === GROUP_CODE.CU).map((u) => u.T))).toBeGreaterThanOrEqual(maxRuT);
    }
  });

  it('z-scores and global ranks match hand values', () => {
    const z = zscore(Float64Array.from([1, 2, 3]));
    expect(z[0]).toBeCloseTo(-Math.sqrt(1.5), 10);
    expect(z[1]).toBe(0);
    expect(Array.from(zscore(Float64Array.from([4, 4])))).toEqual([0, 0]);
    const r = globalRanks({ a: Float64Array.from([10, 30]), b: Float64Array.from([20, 20]) }, ['a', 'b']);
    expect(Array.from(r.a!)).toEqual([0, 1]);
    expect(Array.from(r.b!)).toEqual([0.5, 0.5]);
  });

  it('freeze sets: Setting (i) = ESU + top CU of all units, Setting (ii) = ESU + all CU', () => {
    const cls = classifyUnits(layout, fakeScores(5), { fractions: { esu: 0.015, euu: 0.1, ru: 0.15 } });
    const s1 = freezeMaskSetting1(cls, 0.06);
    expect(maskCount(s1)).toBe(5 + 18);
    expect(maskCount(freezeMaskSetting2(cls))).toBe(cls.counts.ESU + cls.counts.CU);
    const restricted = selectUnits(cls, { groups: ['ESU', 'CU'], restrictToLayers: [1] });
    expect(maskCount({ 'L1.mlp': restricted['L1.mlp']! })).toBe(maskCount(restricted));
    // The CU part of Setting (i) is the 18 CU units with the highest D (the most safety-leaning CU).
    const cuUnits = layout.flatMap((m) => Array.from(cls.groups[m.id]!, (g, i) => ({ g, D: cls.D[m.id]![i]!, frozen: s1[m.id]![i]! }))).filter((u) => u.g === GROUP_CODE.CU);
    const frozenCu = cuUnits.filter((u) => u.frozen);
    expect(frozenCu.length).toBe(18);
    expect(Math.min(...frozenCu.map((u) => u.D))).toBeGreaterThanOrEqual(Math.max(...cuUnits.filter((u) => !u.frozen).map((u) => u.D)));
    const rnd = randomMaskLike(layout, s1, 9);
    for (const m of layout) expect(rnd[m.id]!.reduce((x, y) => x + y, 0)).toBe(s1[m.id]!.reduce((x, y) => x + y, 0));
  });

  it('head granularity gives every channel of a head the same score', () => {
    const cls = classifyUnits(layout, fakeScores(8), { attentionGranularity: 'head', normalize: 'none' });
    const S = cls.S['L0.attn']!;
    expect(S[0]).toBe(S[9]);
    expect(S[10]).toBe(S[19]);
  });

  it('attribute transfer of a classification with itself is diagonal', () => {
    const cls = classifyUnits(layout, fakeScores(2), { fractions: { esu: 0.02, euu: 0.1, ru: 0.1 } });
    const t = attributeTransfer(cls, cls);
    expect(t[0]![0]).toBeCloseTo(0.02, 10);
    expect(t[0]![2]).toBe(0);
    expect(t.flat().reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
    expect(maskCount(groupMask(cls, 'ESU', 'RU'))).toBe(6 + 30);
  });

  it('a unit fraction outside (0, 1) is a clear error', () => {
    const sc = fakeScores(1);
    expect(() => classifyUnits(layout, sc, { fractions: { esu: 0, euu: 0.1, ru: 0.1 } })).toThrowError(/ESU fraction 0 is outside \(0, 1\)/);
    expect(() => classifyUnits(layout, sc, { fractions: { esu: 0.01, euu: 1.2, ru: 0.1 } })).toThrowError(/outside \(0, 1\)/);
    expect(() => classifyUnits(layout, sc, { fractions: { esu: 0.5, euu: 0.3, ru: 0.3 } })).toThrowError(/sum to/);
    const cls = classifyUnits(layout, sc);
    expect(() => selectUnits(cls, { groups: ['ESU'], topCU: 1.5 })).toThrowError(/outside \(0, 1\)/);
    // negative or NaN used to be skipped silently (no CU taken); 0 still means none
    expectTrellisError(() => selectUnits(cls, { groups: ['ESU'], topCU: -0.1 }), 'BAD_FRACTION', /top-CU fraction -0.1 is outside \[0, 1\)/);
    expectTrellisError(() => selectUnits(cls, { groups: ['ESU'], topCU: NaN }), 'BAD_FRACTION', /top-CU fraction NaN/);
    expect(maskCount(selectUnits(cls, { groups: ['ESU'], topCU: 0 }))).toBe(maskCount(groupMask(cls, 'ESU')));
  });

  it('misspelt options and group names are clear errors (they used to fall back silently)', () => {
    const sc = fakeScores(1);
    expectTrellisError(() => classifyUnits(layout, sc, { normalize: 'rank' as never }), 'BAD_OPTION', /unknown normalization "rank"/);
    expectTrellisError(() => classifyUnits(layout, sc, { attentionGranularity: 'heads' as never }), 'BAD_OPTION', /unknown attention granularity "heads"/);
    expectTrellisError(() => classifyUnits(layout, {} as AttributeScores), 'BAD_SCORES', /lack `safety` or `utility`/);
    // a NaN or infinite score (a diverged model) used to zero its whole module and classify by layout order
    for (const bad of [NaN, Infinity]) {
      const sc2 = fakeScores(1);
      sc2.safety.scores[layout[1]!.id]![3] = bad;
      expectTrellisError(() => classifyUnits(layout, sc2), 'NON_FINITE_SCORES', new RegExp(`safety score of unit 3 of module "${layout[1]!.id}" is ${bad}`));
    }
    // a head size that does not divide the attention module gave its last partial head a NaN score
    const oddHeads = layout.map((m) => (m.kind === 'attn' ? { ...m, headDim: 15 } : m));
    expectTrellisError(() => classifyUnits(oddHeads, sc, { attentionGranularity: 'head' }), 'BAD_LAYOUT', /headDim 15, which does not split its 40 units/);
    const cls = classifyUnits(layout, sc);
    expectTrellisError(() => groupMask(cls, 'esu' as UnitGroup), 'BAD_OPTION', /unknown unit group "esu"/);
    expectTrellisError(() => selectUnits(cls, { groups: ['SAFE' as UnitGroup] }), 'BAD_OPTION', /unknown unit group "SAFE"/);
    expectTrellisError(() => selectUnits(cls, { groups: ['ESU'], topCU: 0.1, cuRanking: 'T' as never }), 'BAD_OPTION', /unknown CU ranking "T"/);
    expectTrellisError(() => transferShares(attributeTransfer(cls, cls), 'XYZ' as UnitGroup), 'BAD_OPTION', /unknown unit group "XYZ"/);
  });

  it('unit counts of ranked and random sets must be whole numbers within the layout', () => {
    const cls = classifyUnits(layout, fakeScores(1));
    // -1 used to take all but one unit (slice(0, -1)), 2.5 two units, 999 all; randomMask threw a raw RangeError
    expectTrellisError(() => rankedMask(layout, cls.D, -1, 'top'), 'BAD_OPTION', /unit count -1 is not an integer in \[0, 300\]/);
    expectTrellisError(() => rankedMask(layout, cls.D, 2.5, 'top'), 'BAD_OPTION', /unit count 2.5/);
    expectTrellisError(() => rankedMask(layout, cls.D, 3, 'bottm' as never), 'BAD_OPTION', /unknown end "bottm"/);
    expectTrellisError(() => randomMask(layout, 999, 1), 'BAD_OPTION', /unit count 999 is not an integer in \[0, 300\]/);
    expectTrellisError(() => randomMask(layout, '3' as never, 1), 'BAD_OPTION', /unit count "3"/);
    expect(maskCount(rankedMask(layout, cls.D, 300, 'top'))).toBe(300);
    expect(maskCount(randomMask(layout, 0, 1))).toBe(0);
  });

  it('transferShares normalises a transfer-matrix row; meanMatrix averages matrices (hand values)', () => {
    // ESU row: 1 % stayed ESU, 2 % → CU, 1 % → RU of all units  ⇒  shares 1/4, 0, 1/2, 1/4 of the ESU.
    const t = [[0.01, 0, 0.02, 0.01], [0, 0.1, 0.02, 0], [0, 0.03, 0.6, 0.01], [0, 0, 0.05, 0.15]];
    expect(transferShares(t, 'ESU')).toEqual({ ESU: 0.25, EUU: 0, CU: 0.5, RU: 0.25 });
    const ru = transferShares(t, 'RU');
    expect(ru.CU).toBeCloseTo(0.25, 12);
    expect(ru.RU).toBeCloseTo(0.75, 12);
    expect(Object.values(transferShares([[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], 'ESU')).every(Number.isNaN)).toBe(true);
    expect(() => transferShares([[1, 0], [0, 1]], 'ESU')).toThrowError(/4×4/);
    expect(meanMatrix([[[1, 2], [3, 4]], [[3, 2], [1, 0]]])).toEqual([[2, 2], [2, 2]]);
    expect(() => meanMatrix([[[1, 2]], [[1]]])).toThrowError(/differ in shape/);
  });
});
