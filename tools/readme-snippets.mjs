#!/usr/bin/env node
/**
 * Keeps the code examples in the READMEs honest: every ```ts and ```js block of the root README and
 * of each package's and example's README is extracted and checked against the packages' sources (`check`, run by
 * `npm test` through tools/test/readmeSnippets.test.ts: TypeScript blocks are type-checked, JavaScript
 * blocks only parsed, since their untyped data would need JSDoc casts) and, on demand, compiled and
 * run (`run`).
 *
 * Conventions inside a README:
 * - a block whose first line is `// file: <path>` is written at that path, so a later block of the
 *   same README can import it (`import { x } from '../src/x.js'`);
 * - a block whose first line starts with `// continues the example above` is checked and run as
 *   the previous block followed by this one (it may use the previous block's names);
 * - a block fenced ```ts fragment / ```js fragment (API signature listings, a file of the user's own
 *   package) is highlighted but not checked.
 *
 * Usage: node tools/readme-snippets.mjs check | run [substring] [--timeout=600]
 * (`run` executes the compiled snippets against the packages' `dist`: `npm run build` first.)
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * Where the snippets are written: inside the repository, so `@trellis-ml/*` resolve through
 * node_modules; `check` and `run` use separate folders so a test run cannot remove a running snippet.
 */
export const SNIPPET_DIR = join(ROOT, 'tools', '.snippets');

const FENCE = /^```(ts|js)([^\n]*)\n([\s\S]*?)^```/gm;
const FILE_HEADER = /^\/\/ file: (\S+)/;
const CONTINUES = /^\/\/ continues the example above/;

/**
 * The checkable ```ts blocks of one Markdown text.
 *
 * @param {string} markdown
 * @param {string} name a file-system-safe name for the README (used for snippet paths)
 * @returns {{ name: string, line: number, path: string, code: string, lines: number[] }[]}
 *   `lines[i]` is the README line of the snippet's line i (0-based).
 */
export function extractSnippets(markdown, name) {
  const out = [];
  let previous = null;
  let m;
  FENCE.lastIndex = 0;
  while ((m = FENCE.exec(markdown))) {
    const lang = m[1];
    const info = m[2].trim();
    const body = m[3];
    const line = markdown.slice(0, m.index).split('\n').length;
    const bodyLines = body.split('\n').map((_, i) => line + 1 + i);
    if (info === 'fragment') continue;
    if (info !== '') throw new Error(`${name}:${line}: unknown ${lang} fence info "${info}" (use \`\`\`${lang} or \`\`\`${lang} fragment)`);
    const first = body.split('\n', 1)[0] ?? '';
    const header = FILE_HEADER.exec(first);
    let code = body;
    let lines = bodyLines;
    if (CONTINUES.test(first)) {
      if (!previous) throw new Error(`${name}:${line}: "continues the example above" but no example comes before it`);
      code = `${previous.code}\n${body}`;
      lines = [...previous.lines, ...bodyLines];
    }
    const path = header ? join(name, header[1]) : join(name, `block-${line}.${lang}`);
    const snippet = { name, line, path, code, lines };
    out.push(snippet);
    previous = snippet;
  }
  return out;
}

/**
 * Every README the check covers: the root one (`folder` null, `name` 'root'), each package's and each example's
 * (`folder` 'packages' or 'examples', `name` the directory), under `root` (default: this repository).
 */
export function readmes(root = ROOT) {
  const list = [{ file: join(root, 'README.md'), name: 'root', folder: null }];
  for (const folder of ['packages', 'examples']) {
    if (!existsSync(join(root, folder))) continue;
    for (const pkg of readdirSync(join(root, folder)).sort()) {
      const file = join(root, folder, pkg, 'README.md');
      if (existsSync(file)) list.push({ file, name: pkg, folder });
    }
  }
  return list;
}

/**
 * Writes every snippet (plus a tsconfig) under `dir` (replacing what was there).
 *
 * @param {string} dir
 *
 * @returns {{ name: string, line: number, path: string, code: string, lines: number[], readme: string }[]}
 */
export function writeSnippets(dir) {
  rmSync(dir, { recursive: true, force: true });
  const all = [];
  for (const { file, name } of readmes()) {
    for (const s of extractSnippets(readFileSync(file, 'utf8'), name)) {
      const target = join(dir, s.path);
      mkdirSync(dirname(target), { recursive: true });
      // `export {}` makes every snippet a module (top-level await, no global name clashes)
      writeFileSync(target, `${s.code}\nexport {};\n`);
      all.push({ ...s, readme: relative(ROOT, file) });
    }
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }, null, 2));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    extends: relative(dir, join(ROOT, 'tsconfig.base.json')),
    compilerOptions: {
      rootDir: '.', outDir: 'out', composite: false, declaration: false, declarationMap: false,
      sourceMap: false, customConditions: ['source'], types: ['node'], allowJs: true, checkJs: false,
    },
    include: ['**/*.ts', '**/*.js', '**/*.mjs'],
    exclude: ['out'],
  }, null, 2));
  return all;
}

/**
 * Type-checks the snippets with the repository's TypeScript. Returns tsc's diagnostics, with the
 * snippet paths mapped back to README lines ('' when clean).
 *
 * @param {boolean} [emit] also write JavaScript to `<dir>/out` (for `run`)
 * @param {string} [dir] where to write them (default `tools/.snippets/check`)
 */
export function checkSnippets(emit = false, dir = join(SNIPPET_DIR, 'check')) {
  const snippets = writeSnippets(dir);
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [tsc, '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'];
  if (!emit) args.push('--noEmit');
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  const byPath = new Map(snippets.map((s) => [relative(ROOT, join(dir, s.path)), s]));
  // tsc prints `path(row,col): error …`; point at the README line instead
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().replace(/^(\S+?)\((\d+),(\d+)\)/gm, (all, path, row, col) => {
    const s = byPath.get(path);
    const line = s?.lines[Number(row) - 1];
    return s && line ? `${s.readme}:${line}:${col}` : all;
  });
  return { status: r.status ?? 1, diagnostics: text, snippets };
}

function run(filter, timeoutS) {
  const dir = join(SNIPPET_DIR, 'run');
  const { status, diagnostics, snippets } = checkSnippets(true, dir);
  if (status !== 0) {
    console.error(diagnostics);
    process.exit(1);
  }
  let failed = 0;
  for (const s of snippets) {
    if (filter && !s.path.includes(filter)) continue;
    if (/\.test\.ts$/.test(s.path)) continue; // test files run under vitest, not node
    const js = join(dir, 'out', s.path.replace(/\.ts$/, '.js'));
    const work = join(dir, 'work', s.name);
    mkdirSync(work, { recursive: true });
    const start = Date.now();
    const r = spawnSync(process.execPath, [js], { cwd: work, encoding: 'utf8', timeout: timeoutS * 1000 });
    const seconds = ((Date.now() - start) / 1000).toFixed(1);
    const ok = r.status === 0;
    if (!ok) failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${s.readme} block at line ${s.line} (${seconds} s)`);
    if (!ok) console.log(`${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').slice(-15).join('\n'));
  }
  process.exit(failed === 0 ? 0 : 1);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [cmd, ...rest] = process.argv.slice(2);
  const timeout = Number(rest.find((a) => a.startsWith('--timeout='))?.slice(10) ?? 600);
  const filter = rest.find((a) => !a.startsWith('--'));
  if (cmd === 'check') {
    const { status, diagnostics, snippets } = checkSnippets();
    console.log(diagnostics || `${snippets.length} README snippets type-check`);
    process.exit(status);
  } else if (cmd === 'run') {
    run(filter, timeout);
  } else {
    console.error('usage: node tools/readme-snippets.mjs check | run [substring] [--timeout=600]');
    process.exit(2);
  }
}
