#!/usr/bin/env node
/**
 * The figures of the READMEs' "latest full study" tables come from committed run results, never typed in.
 *
 *   node tools/results.mjs capture <run-dir> --name <name> --command "<the command that made it>"
 *       reads the run record's config.json and summary.json and writes packages/<technique>/results/<name>.json
 *       (environment, config, every claim with its measured value, threshold and verdict)
 *   node tools/results.mjs render [package]
 *                                      rewrites every README block between `<!-- results: <name> -->` and
 *                                      `<!-- /results -->` from the committed results (`summary` in the root README:
 *                                      one row per result of every package)
 *   node tools/results.mjs check       exits 1 when a block is stale, a result file is malformed or referenced
 *                                      nowhere, or a claim's verdict does not follow from its measured value
 *                                      (run by `npm test`)
 *   node tools/results.mjs compare <run-dir> <results.json>
 *                                      a re-run against the committed result, claim by claim (exit 1 on a
 *                                      differing verdict); clock-based claims differ between runs
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readmes } from './readme-snippets.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BLOCK = /(<!-- results: ([a-z0-9-]+) -->)([\s\S]*?)(<!-- \/results -->)/g;
const COMPARATORS = { '>=': (m, t) => m >= t, '<=': (m, t) => m <= t, '>': (m, t) => m > t, '<': (m, t) => m < t };
const SHOWN_COMPARATOR = { '>=': '≥', '<=': '≤', '>': '>', '<': '<' };

/** Whether `measured comparator threshold` holds (undefined for an unknown comparator or a non-number). */
export function verdict(measured, comparator, threshold) {
  const f = COMPARATORS[comparator];
  if (!f || typeof measured !== 'number' || typeof threshold !== 'number' || Number.isNaN(measured)) return undefined;
  return f(measured, threshold);
}

/** A number for a table: whole numbers as they are, others to 3 significant digits, more while it would read as `other`. */
export function formatNumber(x, other) {
  if (typeof x !== 'number') return String(x);
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : x > 0 ? '∞' : '−∞';
  let s = String(x);
  if (!Number.isInteger(x)) {
    for (let digits = 3; digits <= 12; digits++) {
      s = String(Number(x.toPrecision(digits)));
      if (typeof other !== 'number' || x === other || Number(s) !== other) break;
    }
  }
  return s.replace(/^-/, '−');
}

/** The problems of one parsed result file (empty when it is well-formed and every verdict follows from its figures). */
export function resultProblems(result, where) {
  const out = [];
  for (const key of ['name', 'technique', 'command', 'recordedAt', 'environment', 'config', 'claims']) {
    if (result[key] === undefined) out.push(`${where}: missing "${key}"`);
  }
  for (const [i, c] of (Array.isArray(result.claims) ? result.claims : []).entries()) {
    const id = c?.id ?? `#${i}`;
    for (const key of ['id', 'statement', 'measured', 'threshold', 'comparator', 'holds']) {
      if (c?.[key] === undefined) out.push(`${where}: claim ${id} has no "${key}"`);
    }
    const v = verdict(c?.measured, c?.comparator, c?.threshold);
    if (v === undefined) out.push(`${where}: claim ${id}: cannot evaluate ${c?.measured} ${c?.comparator} ${c?.threshold}`);
    else if (v !== c.holds) out.push(`${where}: claim ${id} says holds=${c.holds}, but ${c.measured} ${c.comparator} ${c.threshold} is ${v}`);
  }
  if (result.claims !== undefined && !Array.isArray(result.claims)) out.push(`${where}: "claims" is not a list`);
  return out;
}

const cell = (s) => String(s).replace(/\s+/g, ' ').replace(/\|/g, '\\|');
const day = (iso) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
const holding = (r) => `${r.claims.filter((c) => c.holds).length} of ${r.claims.length}`;

/** Minutes between two ISO times, for the header ("≈ 31 min"). */
function minutes(from, to) {
  const m = (Date.parse(to) - Date.parse(from)) / 60000;
  return Number.isFinite(m) ? `${m < 10 ? m.toFixed(1) : Math.round(m)} min` : '';
}

/** The Markdown block of one result: the command, where and when it ran, and every claim. */
export function renderResult(r, link) {
  const e = r.environment;
  const versions = Object.entries(e.versions ?? {}).map(([p, v]) => `${p} ${v}`).join(', ');
  const lines = [
    `\`${r.command}\``,
    '',
    `Recorded ${day(r.recordedAt)}${r.finishedAt ? ` (${minutes(r.recordedAt, r.finishedAt)} wall-clock)` : ''} on ${e.backend}` +
      `${e.backendThreads ? `, ${e.backendThreads} thread${e.backendThreads === 1 ? '' : 's'}` : ''}; Node ${e.node}, tfjs-core ${e.tfjsCore}` +
      `${versions ? `, ${versions}` : ''}; seeds ${(r.seeds ?? []).join(', ')}. **${holding(r)} claims hold.** Every figure: [${link}](${link}).` +
      (r.note ? ` ${r.note}` : ''),
    '',
    '| claim | what it checks | measured | needs | holds |',
    '| --- | --- | --- | --- | --- |',
    ...r.claims.map((c) => `| \`${c.id}\` | ${cell(c.statement)} | ${formatNumber(c.measured, c.threshold)} | ${SHOWN_COMPARATOR[c.comparator] ?? c.comparator} ${formatNumber(c.threshold)} | ${c.holds ? 'yes' : '**no**'} |`),
  ];
  return `${lines.join('\n')}\n`;
}

/** The root README's table: one row per committed result of every package, with the backend it ran on. */
export function renderSummary(entries) {
  const lines = [
    '| technique | study (results file) | recorded | backend | claims holding | failing: measured (needs) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...entries.map(({ pkg, file, result: r }) => {
      const failing = r.claims.filter((c) => !c.holds).map((c) => `\`${c.id}\` ${formatNumber(c.measured, c.threshold)} (${SHOWN_COMPARATOR[c.comparator] ?? c.comparator} ${formatNumber(c.threshold)})`);
      return `| [${pkg}](packages/${pkg}/README.md) | [${r.name}](packages/${pkg}/${file}) | ${r.recordedAt.slice(0, 10)} | ${r.environment?.backend ?? '?'} | ${holding(r)} | ${failing.join('; ') || 'none'} |`;
    }),
  ];
  return `${lines.join('\n')}\n`;
}

/** Every committed result: `{ pkg, file (relative to the package), path, result }`, packages and names sorted. */
export function loadResults(root = ROOT) {
  const out = [];
  for (const pkg of readdirSync(join(root, 'packages')).sort()) {
    const dir = join(root, 'packages', pkg, 'results');
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
      out.push({ pkg, file: `results/${f}`, path: join(dir, f), result: JSON.parse(readFileSync(join(dir, f), 'utf8')) });
    }
  }
  return out;
}

/**
 * Renders every README's result blocks. Returns the READMEs whose text changes (`{ file, text }`), the
 * problems found (unknown result names, malformed results, results no README shows) and how many results there are.
 */
export function renderAll(root = ROOT) {
  const entries = loadResults(root);
  const problems = entries.flatMap((e) => resultProblems(e.result, relative(root, e.path)));
  const shown = new Set();
  const changed = [];
  // the root README and each package's (the READMEs the snippet check reads, examples left out)
  for (const { file, name, folder } of readmes(root).filter((r) => r.folder !== 'examples')) {
    const pkg = folder === null ? null : name;
    const before = readFileSync(file, 'utf8');
    const after = before.replace(BLOCK, (whole, open, name, _body, close) => {
      if (pkg === null) {
        if (name !== 'summary') {
          problems.push(`${relative(root, file)}: the root README only has the "summary" block, not "${name}"`);
          return whole;
        }
        return `${open}\n\n${renderSummary(entries)}\n${close}`;
      }
      const entry = entries.find((e) => e.pkg === pkg && e.result.name === name);
      if (!entry) {
        problems.push(`${relative(root, file)}: no packages/${pkg}/results/${name}.json for its "${name}" block`);
        return whole;
      }
      shown.add(entry.path);
      return `${open}\n\n${renderResult(entry.result, entry.file)}\n${close}`;
    });
    if (after !== before) changed.push({ file, text: after });
  }
  for (const e of entries) if (!shown.has(e.path)) problems.push(`${relative(root, e.path)}: no block of packages/${e.pkg}/README.md shows it (add <!-- results: ${e.result.name} --><!-- /results -->)`);
  return { changed, problems, count: entries.length };
}

/** The result file written by `capture`: what a run record says, plus the command that made it. */
export function resultFromRun(runDir, name, command, note) {
  const config = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
  const summaryPath = join(runDir, 'summary.json');
  if (!existsSync(summaryPath)) throw new Error(`${runDir} has no summary.json: the run did not finish (resume it with --resume first)`);
  const summary = JSON.parse(readFileSync(summaryPath, 'utf8'));
  if (!Array.isArray(summary.claims)) throw new Error(`${summaryPath} has no claims`);
  if (!command.includes(` ${config.name} `) || (config.seed !== undefined && !new RegExp(`--seed ${config.seed}(\\s|$)`).test(command))) {
    throw new Error(`the command does not run "${config.name}" with --seed ${config.seed}: give the command that made ${runDir}`);
  }
  const environment = Object.fromEntries(['node', 'platform', 'tfjsCore', 'trellisCore', 'backend', 'backendThreads', 'backendKernels', 'backendLibraries', 'versions']
    .filter((k) => config[k] !== undefined).map((k) => [k, config[k]]));
  return {
    name, technique: config.name, command, ...(note ? { note } : {}),
    recordedAt: config.createdAt, finishedAt: statSync(summaryPath).mtime.toISOString(),
    ...(summary.resumed ? { resumed: summary.resumed } : {}),
    seeds: summary.seeds ?? config.config?.seeds, environment, config: config.config, claims: summary.claims,
  };
}

function capture(args) {
  const runDir = args[0];
  const opt = (flag) => { const i = args.indexOf(flag); return i >= 0 ? args[i + 1] : undefined; };
  const name = opt('--name');
  const command = opt('--command');
  if (!runDir || !name || !/^[a-z0-9-]+$/.test(name) || !command) {
    throw new Error('usage: results.mjs capture <run-dir> --name <lowercase-name> --command "<command>" [--note "<text>"]');
  }
  const result = resultFromRun(runDir, name, command, opt('--note'));
  const problems = resultProblems(result, runDir);
  if (problems.length) throw new Error(problems.join('\n'));
  const target = join(ROOT, 'packages', result.technique, 'results', `${name}.json`);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`${relative(ROOT, target)}: ${holding(result)} claims hold`);
}

/** A re-run against a committed result: one line per claim whose value or verdict differs. */
export function compareRun(runResult, committed) {
  const lines = [];
  let flipped = 0;
  for (const c of committed.claims) {
    const d = runResult.claims.find((x) => x.id === c.id);
    if (!d) { lines.push(`${c.id}: missing in the run`); flipped++; continue; }
    if (d.holds !== c.holds) flipped++;
    if (d.measured !== c.measured || d.holds !== c.holds) lines.push(`${c.id}: ${c.measured} → ${d.measured}${d.holds !== c.holds ? ` (verdict ${c.holds} → ${d.holds})` : ''}`);
  }
  for (const d of runResult.claims) if (!committed.claims.some((c) => c.id === d.id)) lines.push(`${d.id}: new in the run (${d.measured}, holds ${d.holds})`);
  return { lines, flipped };
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'capture') return capture(args);
  if (cmd === 'render' || cmd === 'check') {
    const only = cmd === 'render' ? args[0] : undefined;
    const all = renderAll();
    const inScope = (file) => !only || file === join(ROOT, 'packages', only, 'README.md');
    const changed = all.changed.filter((c) => inScope(c.file));
    const problems = only ? all.problems.filter((p) => p.includes(`packages/${only}/`)) : all.problems;
    if (cmd === 'render') for (const c of changed) writeFileSync(c.file, c.text);
    for (const p of problems) console.error(p);
    if (cmd === 'check') for (const c of changed) console.error(`${relative(ROOT, c.file)}: a results block is stale (node tools/results.mjs render)`);
    else for (const c of changed) console.log(`rendered ${relative(ROOT, c.file)}`);
    if (problems.length || (cmd === 'check' && changed.length)) process.exitCode = 1;
    else if (cmd === 'check') console.log(`${all.count} results, every README block up to date`);
    return;
  }
  if (cmd === 'compare') {
    const [runDir, file] = args;
    const committed = JSON.parse(readFileSync(file, 'utf8'));
    const { lines, flipped } = compareRun(JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')), committed);
    console.log(lines.length ? lines.join('\n') : 'every claim identical');
    if (flipped) process.exitCode = 1;
    return;
  }
  console.error('usage: node tools/results.mjs capture|render|check|compare …  (see the comment at the top of tools/results.mjs)');
  process.exitCode = 2;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => { console.error(e.message); process.exitCode = 1; });
}
