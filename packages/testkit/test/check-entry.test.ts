import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import * as entry from '@trellis-ml/testkit';
import * as checkEntry from '@trellis-ml/testkit/check';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const blockVitest = fileURLToPath(new URL('./fixtures/block-vitest.mjs', import.meta.url));

/**
 * Imports `specifier` in a plain Node process (the built `dist`, no `source` condition) where `vitest` cannot be
 * resolved, and returns the module's export names, or the import's error message.
 */
async function importWithoutVitest(specifier: string): Promise<{ exports?: string[]; error?: string }> {
  const script = `import(${JSON.stringify(specifier)}).then((m) => console.log(JSON.stringify({ exports: Object.keys(m).sort() })), (e) => console.log(JSON.stringify({ error: String(e?.message ?? e) })))`;
  const { NODE_OPTIONS: _, ...env } = process.env;
  // cwd: the package, so the specifier resolves through node_modules/@trellis-ml/testkit like a user's import
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', blockVitest, '--input-type=module', '-e', script], { cwd: pkg, env });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as { exports?: string[]; error?: string };
}

/** The bare specifiers (packages) the module graph of a source file imports, following its relative imports. */
async function sourceGraph(file: string): Promise<{ files: string[]; packages: string[] }> {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = async (f: string): Promise<void> => {
    if (files.has(f)) return;
    files.add(f);
    const text = await readFile(f, 'utf8');
    // static imports and re-exports (type-only ones vanish from the emitted JavaScript), and dynamic imports
    for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) await visit(resolve(dirname(f), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec);
    }
  };
  await visit(file);
  return { files: [...files].map((f) => f.slice(pkg.length)).sort(), packages: [...packages].sort() };
}

describe('@trellis-ml/testkit/check: the testkit without vitest', () => {
  it('exports everything the package entry does except describePluginConformance', () => {
    expect(Object.keys(checkEntry).sort()).toEqual(Object.keys(entry).filter((k) => k !== 'describePluginConformance').sort());
    expect(checkEntry.checkPluginConformance).toBe(entry.checkPluginConformance);
    expect(typeof entry.describePluginConformance).toBe('function');
  });

  it('imports in plain Node where vitest cannot be resolved (the built package; the entry "." cannot)', { timeout: 60_000 }, async () => {
    expect(existsSync(join(pkg, 'dist/check.js')), 'dist/check.js is missing: build first (npx tsc -b packages/testkit)').toBe(true);
    const check = await importWithoutVitest('@trellis-ml/testkit/check');
    expect(check.error).toBeUndefined();
    expect(check.exports).toEqual(Object.keys(checkEntry).sort());
    expect(check.exports).toContain('checkPluginConformance');
    // the control: the blocker works, and the package entry does need vitest (for describePluginConformance)
    expect(await importWithoutVitest('@trellis-ml/testkit')).toEqual({ error: expect.stringMatching(/^BLOCKED: "vitest" is not installed here \(imported from .*\/dist\/describe\.js\)/) });
  });

  it('its source module graph leaves out describe.ts and vitest (checked without a build)', async () => {
    const graph = await sourceGraph(join(pkg, 'src/check.ts'));
    expect(graph.files).toEqual(['src/check.ts', 'src/conformance.ts', 'src/errors.ts', 'src/hostReads.ts', 'src/resume.ts']);
    expect(graph.packages.filter((p) => /^(vitest|@vitest\/)/.test(p))).toEqual([]);
    // the scan does see the vitest-bound module from the package entry
    const full = await sourceGraph(join(pkg, 'src/index.ts'));
    expect(full.files).toContain('src/describe.ts');
    expect(full.packages).toContain('vitest');
  });
});

describe('the conformance suite without a backend picked', () => {
  it("picks core's cpu backend (every check failed with NO_BACKEND)", { timeout: 120_000 }, async () => {
    const { runNode } = await import('../../../tools/test-support/runNode.js');
    const { NODE_OPTIONS: _, ...env } = process.env;
    const script = fileURLToPath(new URL('./fixtures/no-backend-conformance.mjs', import.meta.url));
    const r = await runNode([script], { cwd: pkg, env });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toEqual({ backend: 'cpu', failed: [] });
  });
});
