import { describe, expect, it } from 'vitest';
import { buildConfigs, resolveConfig, spreadIndices, validateConfig } from '../src/index.js';
import { expectTrellisError } from './helpers.js';

const mlpLayout = { numBlocks: 6, stages: [[0, 1, 2, 3, 4, 5]] };
// CNN-like: stage 0 blocks 0,1; block 2 is a mandatory transition; stage 1 blocks 3,4
const cnnLayout = { numBlocks: 5, stages: [[0, 1], [3, 4]] };

describe('depth configurations', () => {
  it('first-k keeps the first d blocks of each stage (OFA elastic depth)', () => {
    const c = buildConfigs(mlpLayout, [2, 4, 6]);
    expect(c.map((x) => x.id)).toEqual(['d2', 'd4', 'd6']);
    expect(c[0]!.activeBlocks).toEqual([0, 1]);
    expect(c[1]!.activeBlocks).toEqual([0, 1, 2, 3]);
    const s = buildConfigs(cnnLayout, [[2, 1], [0, 0]]);
    expect(s[0]).toEqual({ id: 's2-1', activeBlocks: [0, 1, 3], perStage: [2, 1] });
    expect(s[1]!.activeBlocks).toEqual([]);
  });

  it('every-other spreads the kept blocks over the stage (LayerDrop pruning)', () => {
    expect(spreadIndices(6, 3)).toEqual([0, 2, 4]);
    expect(spreadIndices(8, 4)).toEqual([0, 2, 4, 6]);
    expect(spreadIndices(4, 0)).toEqual([]);
    expect(buildConfigs(mlpLayout, [3], 'every-other')[0]!.activeBlocks).toEqual([0, 2, 4]);
  });

  it('custom lists are validated and sorted', () => {
    const c = buildConfigs(mlpLayout, [], { custom: { a: [5, 1] } });
    expect(c[0]).toEqual({ id: 'a', activeBlocks: [1, 5], perStage: [2] });
  });

  it('rejects depths that do not exist, mandatory blocks, unknown ids', async () => {
    await expectTrellisError(() => buildConfigs(mlpLayout, [7]), 'BAD_DEPTH');
    await expectTrellisError(() => buildConfigs(cnnLayout, [2]), 'BAD_DEPTH');
    await expectTrellisError(() => validateConfig({ id: 'x', activeBlocks: [0, 2] }, cnnLayout), 'MANDATORY_BLOCK');
    await expectTrellisError(() => validateConfig({ id: 'x', activeBlocks: [9] }, cnnLayout), 'BAD_DEPTH');
    await expectTrellisError(() => buildConfigs(mlpLayout, [2, 2]), 'DUPLICATE_DEPTH');
    const e = await expectTrellisError(() => resolveConfig(buildConfigs(mlpLayout, [2, 6]), 'd3'), 'UNKNOWN_DEPTH');
    expect(e.fix).toContain('d2, d6');
  });

  it('rejects an unknown block selection (a misspelt first-k used to select every-other)', async () => {
    const e = await expectTrellisError(() => buildConfigs(mlpLayout, [2, 4], 'first_k' as 'first-k'), 'BAD_OPTION');
    expect(e.problem).toContain('block selection "first_k"');
    await expectTrellisError(() => buildConfigs(mlpLayout, [2], null as unknown as 'first-k'), 'BAD_OPTION');
  });
});
