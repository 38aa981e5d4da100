import { describe, expect, it } from 'vitest';
import { claim, renderReport } from '@trellis-ml/core';

describe('reports', () => {
  it('render claims first, tables, and Vega-Lite plots as SVG without a browser', async () => {
    const r = await renderReport({
      title: 'T',
      claims: [claim('c1', 'x at least 1', 0.5, '>=', 1, [1, 2])],
      sections: [{ title: 'S', table: { columns: ['a'], rows: [[1.23456]] }, plot: { data: { values: [{ x: 1, y: 2 }, { x: 2, y: 1 }] }, mark: 'line', encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } } } }],
    });
    expect(r.markdown.indexOf('## Claims')).toBeLessThan(r.markdown.indexOf('## S'));
    expect(r.markdown).toContain('| c1 | x at least 1 | 0.5 | >= 1 | NO | 1,2 |');
    expect(r.markdown).toContain('| 1.235 |');
    expect(Object.keys(r.svgs)).toEqual(['plot-1.svg']);
    expect(r.svgs['plot-1.svg']).toMatch(/^<svg[^>]*>.*<path/s);
    expect(r.html).toContain('<svg');
  });
  it('claim refuses a comparator it does not know (== was judged as <, so 0 "== 1" held)', () => {
    expect(() => claim('c', 'x equals 1', 0, '==' as never, 1, [1])).toThrow(/unknown comparator of claim "c" "==" — use one of '>=', '<=', '>', '<'/);
    expect(claim('c', 'x below 1', 0, '<', 1, [1]).holds).toBe(true);
    expect(claim('c', 'x at most 1', 1, '<=', 1, [1]).holds).toBe(true);
    expect(claim('c', 'x above 1', 1, '>', 1, [1]).holds).toBe(false);
  });
  it('escapes a double quote in a link (it ended the href attribute)', async () => {
    const r = await renderReport({ title: 'T', sections: [], links: [{ label: 'a "b"', href: 'x" onclick="y' }] });
    expect(r.html).toContain('<a href="x&quot; onclick=&quot;y">a &quot;b&quot;</a>');
    expect(r.markdown).toContain('- [a "b"](x" onclick="y)');
  });
});
