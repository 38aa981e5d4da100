import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without type declarations
import { compareRun, formatNumber, renderAll, renderResult, renderSummary, resultFromRun, resultProblems, verdict } from '../results.mjs';

interface Claim { id: string; statement: string; measured: number; threshold: number; comparator: string; holds: boolean }

const claim = (id: string, measured: number, comparator: string, threshold: number, holds: boolean): Claim =>
  ({ id, statement: `${id} | piped\nstatement`, measured, threshold, comparator, holds });

const result = (claims: Claim[]) => ({
  name: 'full', technique: 'demo', command: 'node packages/cli/dist/bin.js demo --full --seed 1',
  recordedAt: '2026-12-01T12:02:33.677Z', finishedAt: '2026-12-01T12:33:33.677Z', seeds: [1, 2, 3],
  environment: { node: 'v20.20.2', tfjsCore: '4.22.0', backend: 'trellis-native', backendThreads: 1, versions: { '@trellis-ml/demo': '0.1.0' } },
  config: { mode: 'full' }, claims,
});

/** A repository with one package README showing `name`, and the given results files. */
function repo(readme: string, results: Record<string, unknown>): string {
  const root = mkdtempSync(join(tmpdir(), 'results-'));
  writeFileSync(join(root, 'README.md'), '# root\n\n<!-- results: summary -->\n<!-- /results -->\n');
  mkdirSync(join(root, 'packages', 'demo', 'results'), { recursive: true });
  writeFileSync(join(root, 'packages', 'demo', 'README.md'), readme);
  for (const [name, r] of Object.entries(results)) writeFileSync(join(root, 'packages', 'demo', 'results', `${name}.json`), JSON.stringify(r));
  return root;
}

describe('committed study results (tools/results.mjs)', () => {
  it('evaluates the four comparators, and nothing else', () => {
    expect([verdict(1, '>=', 1), verdict(1, '>', 1), verdict(0.99, '<=', 1), verdict(1, '<', 1)]).toEqual([true, false, true, false]);
    expect(verdict(Number.NaN, '>=', 0)).toBeUndefined();
    expect(verdict(1, '==', 1)).toBeUndefined();
  });

  it('formats to 3 significant digits, with more where the figure would read as its threshold', () => {
    expect(formatNumber(0.5720675733)).toBe('0.572');
    expect(formatNumber(-0.486)).toBe('−0.486');
    expect(formatNumber(10)).toBe('10');
    // 0.56996 at 3 digits is "0.57", the threshold it fails
    expect(formatNumber(0.56996, 0.57)).toBe('0.56996');
    expect(formatNumber(1.98, 2)).toBe('1.98');
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBe('∞');
  });

  it('finds a verdict that does not follow from its figures, and missing fields', () => {
    const good = result([claim('a', 0.572, '>=', 0.57, true), claim('b', 2.1, '<=', 1, false)]);
    expect(resultProblems(good, 'x')).toEqual([]);
    const edited = result([claim('a', 0.56, '>=', 0.57, true)]);
    expect(resultProblems(edited, 'x')).toEqual(['x: claim a says holds=true, but 0.56 >= 0.57 is false']);
    const { command: _c, ...noCommand } = good;
    expect(resultProblems(noCommand, 'x')).toEqual(['x: missing "command"']);
  });

  it('renders a result block and the root summary row by hand-checked text', () => {
    const r = result([claim('a', 0.572, '>=', 0.57, true), claim('b', 2.1, '<=', 1, false)]);
    expect(renderResult(r, 'results/full.json')).toBe([
      '`node packages/cli/dist/bin.js demo --full --seed 1`',
      '',
      'Recorded 2026-12-01 12:02 UTC (31 min wall-clock) on trellis-native, 1 thread; Node v20.20.2, tfjs-core 4.22.0, @trellis-ml/demo 0.1.0; seeds 1, 2, 3. **1 of 2 claims hold.** Every figure: [results/full.json](results/full.json).',
      '',
      '| claim | what it checks | measured | needs | holds |',
      '| --- | --- | --- | --- | --- |',
      '| `a` | a \\| piped statement | 0.572 | ≥ 0.57 | yes |',
      '| `b` | b \\| piped statement | 2.1 | ≤ 1 | **no** |',
      '',
    ].join('\n'));
    expect(renderSummary([{ pkg: 'demo', file: 'results/full.json', result: r }]).split('\n')[2])
      .toBe('| [demo](packages/demo/README.md) | [full](packages/demo/results/full.json) | 2026-12-01 | trellis-native | 1 of 2 | `b` 2.1 (≤ 1) |');
  });

  it('fills README blocks, and reports unknown names and results shown nowhere', () => {
    const r = result([claim('a', 1, '>=', 1, true)]);
    const root = repo('# demo\n\n<!-- results: full -->\nstale text\n<!-- /results -->\n\n<!-- results: gone -->\n<!-- /results -->\n', { full: r, extra: { ...r, name: 'extra' } });
    const { changed, problems } = renderAll(root);
    expect(problems).toEqual([
      'packages/demo/README.md: no packages/demo/results/gone.json for its "gone" block',
      'packages/demo/results/extra.json: no block of packages/demo/README.md shows it (add <!-- results: extra --><!-- /results -->)',
    ]);
    const demo = changed.find((c: { file: string }) => c.file.endsWith(join('demo', 'README.md')));
    expect(demo.text).toContain(`<!-- results: full -->\n\n${renderResult(r, 'results/full.json')}\n<!-- /results -->`);
    expect(demo.text).not.toContain('stale text');
    const rootReadme = changed.find((c: { file: string }) => c.file === join(root, 'README.md'));
    expect(rootReadme.text).toContain('| [demo](packages/demo/README.md) | [extra](packages/demo/results/extra.json)');
  });

  it('captures a run record, refusing an unfinished run and a command that did not make it', () => {
    const run = mkdtempSync(join(tmpdir(), 'run-'));
    writeFileSync(join(run, 'config.json'), JSON.stringify({ name: 'demo', seed: 1, createdAt: '2026-12-01T12:00:00.000Z', node: 'v20', tfjsCore: '4.22.0', backend: 'cpu', config: { seeds: [1] } }));
    expect(() => resultFromRun(run, 'full', 'trellis demo --seed 1')).toThrow(/no summary.json/);
    writeFileSync(join(run, 'summary.json'), JSON.stringify({ seeds: [1], claims: [claim('a', 1, '>=', 1, true)] }));
    expect(() => resultFromRun(run, 'full', 'trellis other --seed 1')).toThrow(/does not run "demo" with --seed 1/);
    expect(() => resultFromRun(run, 'full', 'trellis demo --seed 12')).toThrow(/--seed 1/);
    const got = resultFromRun(run, 'full', 'trellis demo --seed 1');
    expect(got).toMatchObject({ name: 'full', technique: 'demo', recordedAt: '2026-12-01T12:00:00.000Z', seeds: [1], environment: { backend: 'cpu', node: 'v20' } });
    expect(resultProblems(got, 'x')).toEqual([]);
  });

  it('compares a re-run with the committed result: changed values, flipped verdicts, new claims', () => {
    const committed = result([claim('a', 1, '>=', 1, true), claim('b', 0.5, '<=', 1, true)]);
    const rerun = result([claim('a', 1, '>=', 1, true), claim('b', 1.5, '<=', 1, false), claim('c', 3, '>=', 1, true)]);
    expect(compareRun(committed, committed)).toEqual({ lines: [], flipped: 0 });
    expect(compareRun(rerun, committed)).toEqual({ lines: ['b: 0.5 → 1.5 (verdict true → false)', 'c: new in the run (3, holds true)'], flipped: 1 });
  });

  it('every committed result is well-formed and every README block is up to date', () => {
    const { changed, problems } = renderAll();
    expect(problems).toEqual([]);
    expect(changed.map((c: { file: string }) => c.file)).toEqual([]);
    // the root README shows the summary of all of them
    expect(readFileSync(new URL('../../README.md', import.meta.url), 'utf8')).toContain('<!-- results: summary -->');
  });
});
