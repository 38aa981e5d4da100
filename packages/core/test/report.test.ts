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
});
