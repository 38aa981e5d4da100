import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runNode } from '../../../tools/test-support/runNode.js';

const bin = resolve(__dirname, '../dist/bin.js');
const fixtures = resolve(__dirname, 'fixtures');
const run = (args: string[]) => runNode([bin, ...args], { cwd: fixtures });

describe('trellis check-plugin', () => {
  it('runs the conformance suite on the default export: one line per check, exit 0 when all pass', async () => {
    const r = await run(['check-plugin', 'plugins.mjs', '--backend', 'cpu']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`checking the plugin factory "default" of ${resolve(fixtures, 'plugins.mjs')}`);
    const checks = r.stdout.split('\n').filter((l) => /^(ok  |FAIL)  /.test(l)).map((l) => l.slice(6).split(':')[0]);
    expect(checks).toEqual(['contract', 'hook-names', 'sync-tape-hooks', 'trains', 'no-tensor-leak', 'no-batch-reads', 'state-round-trip', 'dispose-frees', 'deterministic', 'no-epoch-leak', 'resume-matches']);
    expect(r.stdout).toMatch(/\nall 11 checks pass\n/);
  });

  it('a failing check is FAIL with its message and exits 1; the module\'s conformanceOptions are used', async () => {
    const bad = await run(['check-plugin', './plugins.mjs', '--export', 'labelReader', '--backend', 'cpu']);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/\nFAIL  no-batch-reads: 6 of 6 steps read their batch back to the host \(dataSync\/data calls: labels 6\)/);
    expect(bad.stdout).toMatch(/\n1 of 11 checks fail\n/);
    const allowed = await run(['check-plugin', 'allowed.mjs', '--backend', 'cpu']);
    expect(allowed.status).toBe(0);
    expect(allowed.stdout).toContain('with conformanceOptions (allowBatchReads)');
    expect(allowed.stdout).toMatch(/\nok    no-batch-reads: .*allowed, "counts labels on the host for a test"/);
  });

  it('bad input is refused before the backend starts, saying what to pass', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['check-plugin'], /needs the module that exports your plugin factory\n {2}fix: write `trellis check-plugin \.\/dist\/myPlugin\.js`/],
      [['check-plugin', 'missing.mjs'], /there is no file .*missing\.mjs\n {2}fix: pass the path of the built JavaScript module/],
      [['check-plugin', 'plugins.mjs', '--export', 'nope'], /has no export "nope"\n {2}fix: pass --export with one of its function exports: default, labelReader/],
      [['check-plugin', 'plugins.mjs', '--export', 'notAFactory'], /the export "notAFactory" of .* is number, not a plugin factory/],
      [['check-plugin', 'plugins.mjs', '--seed', '3'], /`trellis check-plugin` does not take --seed\n {2}fix: use one of --backend, --threads, --gemm, --help, --version, --export/],
      [['check-plugin', 'plugins.mjs', 'other.mjs'], /unexpected argument "other\.mjs"/],
    ];
    for (const [args, message] of cases) {
      const r = await run([...args, '--backend', 'cpu']);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stdout, args.join(' ')).not.toMatch(/backend:/);
    }
  });
});
