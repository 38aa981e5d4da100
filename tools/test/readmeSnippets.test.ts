import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without type declarations
import { checkSnippets, extractSnippets } from '../readme-snippets.mjs';

interface Snippet { name: string; line: number; path: string; code: string; lines: number[] }

describe('README snippets', () => {
  it('extracts ts blocks with the file, continuation and fragment conventions', () => {
    const md = [
      '# x', //                                   1
      '```ts', //                                 2
      '// file: src/a.ts', //                     3
      'export const a = 1;', //                   4
      '```', //                                   5
      '```ts fragment', //                        6
      'f(x: number): void', //                    7
      '```', //                                   8
      '```sh', //                                 9
      'npm test', //                              10
      '```', //                                   11
      '```ts', //                                 12
      '// continues the example above', //        13
      'console.log(a);', //                       14
      '```', //                                   15
    ].join('\n');
    const got = extractSnippets(md, 'pkg') as Snippet[];
    expect(got.map((s) => [s.path, s.line])).toEqual([['pkg/src/a.ts', 2], ['pkg/block-12.ts', 12]]);
    expect(got[1]!.code).toBe('// file: src/a.ts\nexport const a = 1;\n\n// continues the example above\nconsole.log(a);\n');
    // each code line points back at its README line (the joined body's trailing empty line too)
    expect(got[1]!.lines).toEqual([3, 4, 5, 13, 14, 15]);
  });

  it('refuses a continuation with nothing before it and an unknown fence label', () => {
    expect(() => extractSnippets('```ts\n// continues the example above\nx;\n```\n', 'p')).toThrow(/no example comes before it/);
    expect(() => extractSnippets('```ts nocheck\nx;\n```\n', 'p')).toThrow(/unknown ts fence info "nocheck"/);
  });

  it('every ts block of every README type-checks against the packages', () => {
    const { status, diagnostics, snippets } = checkSnippets();
    expect(diagnostics).toBe('');
    expect(status).toBe(0);
    expect(snippets.length).toBeGreaterThanOrEqual(14);
  });
});
