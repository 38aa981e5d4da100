#!/usr/bin/env node
/**
 * Compares two runs' `summary.json` (files or run directories), ignoring wall-clock fields: every claim
 * by id and measured value, and every other top-level key with its clock fields (seconds, ms, energy, …)
 * removed. Used by `tools/kill-and-resume.mjs`, and to check that a change moves no figure — the same
 * study before and after (e.g. with the previous native build through `TRELLIS_NATIVE_ADDON`):
 *
 *   node tools/summary-diff.mjs <run-dir-or-summary.json> <run-dir-or-summary.json>
 *
 * Prints each difference and exits 1 when there is any. Fields that report a measured time under another
 * name (privacy's LiRA timing ratios, texts quoting seconds, run paths) show up as differences.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Keys whose values are wall-clock or energy readings, different between any two runs. */
export const CLOCK = /(^|\.)(seconds|ms|[a-zA-Z]*Ms|[a-zA-Z]*Seconds|wallS|trainS|cpuS|msPerBatch|latencyMs|switchMs|time|createdAt|genMsRatio|pipeMsRatio|cumulativeMs|kWh[a-zA-Z]*|energy[a-zA-Z]*)$/;

/** `v` with every clock key removed, at any depth. */
export function stripClocks(v) {
  if (Array.isArray(v)) return v.map(stripClocks);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => !CLOCK.test(k)).map(([k, x]) => [k, stripClocks(x)]));
  return v;
}

/** The differences between two parsed summaries, one message each (claims by position and id; `resumed` ignored). */
export function summaryDifferences(a, b) {
  const out = [];
  for (const [i, c] of (a.claims ?? []).entries()) {
    const d = b.claims?.[i];
    if (!d || d.id !== c.id || d.measured !== c.measured) out.push(`claim ${c.id}: ${c.measured} vs ${d ? `${d.id} ${d.measured}` : 'missing'}`);
  }
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (key !== 'claims' && key !== 'resumed' && !CLOCK.test(key) && JSON.stringify(stripClocks(a[key])) !== JSON.stringify(stripClocks(b[key]))) {
      out.push(`summary key ${key} differs (beyond wall-clock fields)`);
    }
  }
  return out;
}

/** Reads `summary.json` from a file path or a run directory. */
export function readSummary(path) {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'summary.json') : path;
  return JSON.parse(readFileSync(file, 'utf8'));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [first, second] = process.argv.slice(2);
  if (!first || !second) {
    console.error('usage: node tools/summary-diff.mjs <run-dir-or-summary.json> <run-dir-or-summary.json>');
    process.exit(2);
  }
  const a = readSummary(first);
  const diffs = summaryDifferences(a, readSummary(second));
  for (const line of diffs) console.log(line);
  console.log(diffs.length ? `${diffs.length} difference(s)` : `claims: ${a.claims?.length ?? 0} identical; summary identical apart from wall-clock fields`);
  process.exit(diffs.length ? 1 : 0);
}
