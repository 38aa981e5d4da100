import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without type declarations
import { summaryDifferences } from '../summary-diff.mjs';

const diff = summaryDifferences as (a: unknown, b: unknown) => string[];

describe('tools/summary-diff.mjs', () => {
  const base = {
    seconds: 12.5,
    claims: [{ id: 'a', measured: 0.5 }, { id: 'b', measured: 2 }],
    grid: [{ accuracy: 0.9, trainMs: 40, cell: { seconds: 3, loss: 0.1 } }],
  };

  it('ignores wall-clock fields at any depth', () => {
    expect(diff(base, { ...base, seconds: 99, grid: [{ accuracy: 0.9, trainMs: 41, cell: { seconds: 4, loss: 0.1 } }] })).toEqual([]);
  });

  it('reports a claim whose measured value or id changed, a missing claim, and any other changed field', () => {
    const other = { ...base, claims: [{ id: 'a', measured: 0.6 }], grid: [{ accuracy: 0.91, trainMs: 40, cell: { seconds: 3, loss: 0.1 } }] };
    expect(diff(base, other)).toEqual(['claim a: 0.5 vs a 0.6', 'claim b: 2 vs missing', 'summary key grid differs (beyond wall-clock fields)']);
  });
});
