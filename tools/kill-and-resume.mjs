#!/usr/bin/env node
/**
 * Checks `--resume` on a real run: starts `trellis <technique> …` with a fresh `--out`, SIGKILLs it
 * once its journal holds N finished units (plus a second, so the next unit is cut short), runs the
 * same command with `--resume`, and compares the resumed run's `summary.json` with a reference run's
 * (a finished run directory of the same command), ignoring wall-clock fields.
 *
 *   node tools/kill-and-resume.mjs <units> <reference-run-dir|-> -- <technique> [flags…]
 *
 * e.g. `node tools/kill-and-resume.mjs 3 /tmp/fp-mnist/fair-prune/2026-… -- fair-prune --full --backend
 * trellis-native --threads 1 --seed 1 --set dataset=mnist`. With `-` it only kills and resumes.
 * Prints the run directory, when it was killed, and each summary key and claim that differs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSummary, summaryDifferences } from './summary-diff.mjs';

const [unitsArg, reference, dashes, technique, ...flags] = process.argv.slice(2);
const units = Number(unitsArg);
if (!Number.isInteger(units) || units < 1 || dashes !== '--' || !technique) {
  console.error('usage: node tools/kill-and-resume.mjs <units ≥ 1> <reference-run-dir|-> -- <technique> [flags…]');
  process.exit(2);
}
const bin = resolve(fileURLToPath(new URL('.', import.meta.url)), '../packages/cli/dist/bin.js');
const out = mkdtempSync(join(tmpdir(), `kill-resume-${technique}-`));
const args = [bin, technique, ...flags, '--out', out];
const root = join(out, technique);
const journalLines = () => {
  if (!existsSync(root)) return 0;
  const dir = readdirSync(root)[0];
  const path = dir ? join(root, dir, 'journal.jsonl') : '';
  return path && existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).length : 0;
};

const started = Date.now();
const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
const exited = new Promise((done) => child.on('exit', done));
for (;;) {
  await new Promise((r) => setTimeout(r, 500));
  if (child.exitCode !== null) {
    console.error(`the run ended before its journal held ${units} units: nothing was killed`);
    process.exit(1);
  }
  if (journalLines() >= units) break;
}
await new Promise((r) => setTimeout(r, 1000));
child.kill('SIGKILL');
await exited;
const dir = join(root, readdirSync(root)[0]);
if (existsSync(join(dir, 'summary.json'))) {
  console.error('the run finished before the kill: choose fewer units or a longer run');
  process.exit(1);
}
console.log(`killed after ${((Date.now() - started) / 1000).toFixed(0)} s with ${journalLines()} finished units`);
const resumed = spawnSync(process.execPath, [...args, '--resume'], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
if (resumed.status !== 0) process.exit(resumed.status ?? 1);
console.log(resumed.stdout.split('\n').find((l) => l.includes('resuming')) ?? '(no resume line)');
console.log(`run directory: ${dir}`);
console.log(`summary.json says: ${JSON.stringify(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')).resumed)}`);
if (reference === '-') process.exit(0);

// wall-clock fields differ between any two runs; everything else must not
const a = readSummary(reference);
const diffs = summaryDifferences(a, readSummary(dir));
for (const line of diffs) console.log(line);
const differ = diffs.length;
const lines = (d) => readFileSync(join(d, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).length;
console.log(`metrics.jsonl lines: reference ${lines(reference)}, resumed ${lines(dir)}`);
console.log(differ ? `${differ} difference(s) (claims and texts that report a measured time differ between any two runs)` : `claims: ${a.claims?.length ?? 0} of ${a.claims?.length ?? 0} identical; summary identical apart from wall-clock fields`);
