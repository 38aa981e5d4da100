#!/usr/bin/env node
/**
 * Installs the packages the way a user does — from the tarballs `npm pack` makes — into an empty
 * project outside the repository, then checks that every package's entry point loads, that the
 * `trellis` command starts, and that a small model trains on real MNIST from the installed
 * `@trellis-ml/datasets`. Run after `npm run build`:
 *
 *   node tools/pack-check.mjs [--keep]
 *
 * Exit codes: 0 passed; 1 a check failed (a packaging bug); 3 `npm install` itself failed (no
 * registry or cache: not a verdict on the packages). `--keep` leaves the project for inspection.
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const keep = process.argv.includes('--keep');

function sh(cmd, args, cwd, timeoutS = 600) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutS * 1000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, status: r.status };
}

const packages = readdirSync(join(ROOT, 'packages')).sort()
  .map((dir) => ({ dir, json: JSON.parse(readFileSync(join(ROOT, 'packages', dir, 'package.json'), 'utf8')) }))
  .filter((p) => !p.json.private);
const work = mkdtempSync(join(tmpdir(), 'trellis-pack-'));
const packs = join(work, 'packs');
const project = join(work, 'project');
let failed = 0;
const check = (ok, what, detail = '') => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) {
    failed++;
    if (detail) console.log(detail.split('\n').slice(-20).join('\n'));
  }
};

/** Runs the checks; returns the exit code. */
function main() {
  mkdirSync(packs, { recursive: true });
  const tarballs = [];
  for (const p of packages) {
    const r = sh('npm', ['pack', '--silent', '--pack-destination', packs], join(ROOT, 'packages', p.dir));
    check(r.ok, `npm pack ${p.json.name}`, r.out);
    tarballs.push(join(packs, r.out.trim().split('\n').pop()));
  }
  if (failed > 0) return 1;
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'trellis-pack-check', private: true, type: 'module' }, null, 2));
  const core = packages.find((p) => p.json.name === '@trellis-ml/core');
  // core's peers, and the optional peers a user adds for the parts that need them (vitest, for the testkit's
  // describePluginConformance): npm installs neither kind by itself here
  const optional = packages.flatMap((p) => Object.entries(p.json.peerDependenciesMeta ?? {})
    .filter(([, meta]) => meta.optional).map(([n]) => `${n}@${p.json.peerDependencies[n]}`));
  const peers = [...new Set([...Object.entries(core.json.peerDependencies ?? {}).map(([n, v]) => `${n}@${v}`), ...optional])];
  // --ignore-scripts: backend-native's addon is optional and built by users who have its libraries
  const install = sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', ...tarballs, ...peers], project, 900);
  if (!install.ok) {
    console.log(install.out.split('\n').slice(-20).join('\n'));
    console.log('pack-check: npm install failed (registry or cache unavailable?); nothing was checked');
    return 3;
  }
  console.log(`ok   npm install of ${tarballs.length} tarballs (+ ${peers.join(', ')})`);

  // nothing compiles or runs at install (the install above ran with --ignore-scripts, so check the manifests):
  // no install scripts, and a package shipping binding.gyp says gypfile: false, else npm runs `node-gyp rebuild`
  const installScripts = packages.flatMap((p) => {
    const dir = join(project, 'node_modules', ...p.json.name.split('/'));
    const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const scripts = ['preinstall', 'install', 'postinstall'].filter((k) => json.scripts?.[k] !== undefined).map((k) => `${p.json.name}: scripts.${k}`);
    const gyp = readdirSync(dir).includes('binding.gyp') && json.gypfile !== false ? [`${p.json.name}: binding.gyp without "gypfile": false (npm would run node-gyp rebuild)`] : [];
    return [...scripts, ...gyp];
  });
  check(installScripts.length === 0, 'no package runs a script or a native build at npm install', installScripts.join('\n'));

  // every entry point: the package's own and its subpath exports (e.g. @trellis-ml/testkit/check)
  const entries = packages.flatMap((p) => Object.keys(p.json.exports ?? { '.': null }).map((k) => (k === '.' ? p.json.name : `${p.json.name}/${k.slice(2)}`)));
  const imports = entries.map((e) => `await import('${e}').then((m) => { if (Object.keys(m).length === 0) throw new Error('${e} exports nothing'); });`);
  writeFileSync(join(project, 'load.mjs'), `${imports.join('\n')}\nconsole.log('loaded');\n`);
  const load = sh(process.execPath, ['load.mjs'], project);
  check(load.ok && load.out.includes('loaded'), `every entry point loads (${entries.length}, of ${packages.length} packages)`, load.out);

  const help = sh(process.execPath, [join('node_modules', '@trellis-ml', 'cli', 'dist', 'bin.js'), '--help'], project);
  check(help.ok && /trellis .*retrain-cost/s.test(help.out), '`trellis --help` lists the techniques', help.out);
  const version = sh(process.execPath, [join('node_modules', '@trellis-ml', 'cli', 'dist', 'bin.js'), '--version'], project);
  check(version.ok && /^@trellis-ml\/retrain-cost \d+\.\d+\.\d+$/m.test(version.out) && !version.out.includes('not installed'),
    '`trellis --version` finds every installed technique package', version.out);
  const techniqueHelp = sh(process.execPath, [join('node_modules', '@trellis-ml', 'cli', 'dist', 'bin.js'), 'distill', '--help'], project);
  check(techniqueHelp.ok && /^ {2}studentEpochs +5 +15 +a whole number ≥ 1$/m.test(techniqueHelp.out), '`trellis distill --help` lists its --set keys', techniqueHelp.out);

  writeFileSync(join(project, 'train.mjs'), `
import * as tf from '@tensorflow/tfjs-core';
import { Trainer, mlp, useBackend } from '@trellis-ml/core';
import { loadMnist } from '@trellis-ml/datasets';
await useBackend('wasm');
const train = loadMnist({ split: 'train', limit: 2000 });
const test = loadMnist({ split: 'test', limit: 500 });
const model = mlp({ inputShape: [28, 28, 1], hidden: [64], numClasses: 10, seed: 1 });
const trainer = new Trainer({ model, seed: 1, batchSize: 64, optimizer: tf.train.adam(1e-3) });
await trainer.fit(train, { epochs: 2 });
const { accuracy } = await trainer.evaluate(test);
console.log('accuracy', accuracy.toFixed(3));
if (!(accuracy > 0.7)) throw new Error('trained to ' + accuracy);
`);
  const train = sh(process.execPath, ['train.mjs'], project);
  check(train.ok, `an MLP trains on MNIST from the installed packages (${(train.out.match(/accuracy [0-9.]+/) ?? ['no accuracy'])[0]})`, train.out);
  return failed === 0 ? 0 : 1;
}

let code = 1;
try {
  code = main();
} finally {
  if (keep) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
process.exit(code);
