import { Rng } from '@trellis-ml/core';
import { describe, expect, it } from 'vitest';
import { buildConfigs, sampleLayerDrop, sampleSubnets, selectDepth, type Budget, type DepthTable } from '../src/index.js';
import { expectTrellisError } from './helpers.js';

const table: DepthTable = {
  rows: [
    { id: 'd2', activeBlocks: 2, accuracy: 0.85, flops: 100, params: 10, latencyMs: 1 },
    { id: 'd4', activeBlocks: 4, accuracy: 0.88, flops: 200, params: 20, latencyMs: 2 },
    { id: 'd6', activeBlocks: 6, accuracy: 0.87, flops: 300, params: 30, latencyMs: 3 },
    { id: 'd8', activeBlocks: 8, accuracy: 0.90, flops: 400, params: 40, latencyMs: 4 },
  ],
};

describe('selectDepth', () => {
  it('returns the most accurate depth within a FLOP, latency or block budget', () => {
    expect(selectDepth(table, { maxFlops: 350 }).config).toBe('d4');
    expect(selectDepth(table, { maxFlops: 1e9 }).config).toBe('d8');
    expect(selectDepth(table, { maxLatencyMs: 1.5 }).config).toBe('d2');
    expect(selectDepth(table, { maxBlocks: 6, maxFlops: 150 })).toMatchObject({ config: 'd2', overBudget: false });
    const tie: DepthTable = { rows: [{ ...table.rows[1]!, id: 'big', flops: 900 }, table.rows[1]!] };
    expect(selectDepth(tie, { maxFlops: 1000 }).config).toBe('d4');
  });

  it('a budget no depth fits gives c_min flagged overBudget (the spec), or an error on request', async () => {
    expect(selectDepth(table, { maxFlops: 50 })).toMatchObject({ config: 'd2', overBudget: true });
    expect(selectDepth(table, { maxFlops: 50 }, { onOverBudget: 'smallest' })).toMatchObject({ config: 'd2', overBudget: true });
    const e = await expectTrellisError(() => selectDepth(table, { maxFlops: 50 }, { onOverBudget: 'throw' }), 'NO_DEPTH_FITS');
    expect(e.problem).toContain('"d2"');
    await expectTrellisError(() => selectDepth(table, {}), 'EMPTY_BUDGET');
    await expectTrellisError(() => selectDepth(table, { maxFlops: -5 }), 'BAD_BUDGET');
    await expectTrellisError(() => selectDepth(table, { maxBlocks: NaN }), 'BAD_BUDGET');
    // rows without FLOP counts (a fromBlocks backbone): the shallowest is the one with the fewest blocks
    const noFlops: DepthTable = { rows: [4, 1, 2].map((k) => ({ id: `d${k}`, activeBlocks: k, accuracy: 0.5, flops: 0, params: 0 })) };
    expect(selectDepth(noFlops, { maxBlocks: 0 }, { onOverBudget: 'smallest' }).config).toBe('d1');
    expect(selectDepth(noFlops, { maxFlops: 0 }).config).toBe('d1');
    await expectTrellisError(() => selectDepth({ rows: table.rows.map(({ latencyMs: _, ...r }) => r) }, { maxLatencyMs: 3 }), 'NO_LATENCY');
  });

  it('a misspelt limit is an error, not ignored (it used to return the most accurate depth whatever its cost)', async () => {
    const e = await expectTrellisError(() => selectDepth(table, { maxFlop: 150 } as unknown as Budget), 'BAD_BUDGET');
    expect(e.problem).toContain('unknown limit(s) maxFlop');
    expect(e.fix).toContain('maxFlops, maxLatencyMs, maxBlocks');
    await expectTrellisError(() => selectDepth(table, { maxFlops: 350, maxLatency: 1 } as unknown as Budget), 'BAD_BUDGET');
    // a missing budget or table used to be a TypeError; a misspelt fallback silently meant 'throw'
    expect((await expectTrellisError(() => selectDepth(table, undefined as unknown as Budget), 'EMPTY_BUDGET')).problem).toContain('budget is undefined');
    expect((await expectTrellisError(() => selectDepth(undefined as unknown as DepthTable, { maxFlops: 1 }), 'EMPTY_DEPTH_TABLE')).problem).toContain('table is undefined');
    const o = await expectTrellisError(() => selectDepth(table, { maxFlops: 50 }, { onOverBudget: 'lowest' as 'smallest' }), 'BAD_OPTION');
    expect(o.problem).toContain('onOverBudget "lowest"');
  });
});

describe('sub-network sampling', () => {
  const subs = buildConfigs({ numBlocks: 8, stages: [[0, 1, 2, 3, 4, 5, 6, 7]] }, [1, 2, 3, 4, 5, 6, 7]);
  it('trains every sub-network when the menu has at most 4 depths', () => {
    expect(sampleSubnets(subs.slice(0, 3), 4, {}, new Rng(1)).map((c) => c.id)).toEqual(['d1', 'd2', 'd3']);
  });
  it('sandwich: c_min always, plus r distinct random others, deterministic per seed', () => {
    const draw = (seed: number) => sampleSubnets(subs, 8, { subnetsPerStep: 2 }, new Rng(seed)).map((c) => c.id);
    for (let s = 0; s < 20; s++) {
      const d = draw(s);
      expect(d[0]).toBe('d1');
      expect(d).toHaveLength(3);
      expect(new Set(d).size).toBe(3);
    }
    expect(draw(5)).toEqual(draw(5));
    expect(sampleSubnets(subs, 8, { subnetsPerStep: 2, sandwich: false }, new Rng(1))).toHaveLength(2);
  });
  it('LayerDrop drops each block with probability p (linear: rising with depth)', () => {
    const rng = new Rng(3);
    const blocks = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    let kept = 0;
    const keptLast = { flat: 0, linear: 0 };
    for (let i = 0; i < 2000; i++) {
      const k = sampleLayerDrop(blocks, 0.2, false, rng);
      kept += k.length;
      if (k.includes(9)) keptLast.flat++;
      if (sampleLayerDrop(blocks, 0.5, true, rng).includes(9)) keptLast.linear++;
    }
    expect(kept / 20000).toBeCloseTo(0.8, 1);
    expect(keptLast.linear / 2000).toBeCloseTo(0.5, 1);
  });
});
