#!/usr/bin/env node
// `npm run build:native`: builds build/Release/trellis_native.node with node-gyp, offline.
// Checks the two Debian packages first, finds node-gyp (npm's bundled copy, else `npx node-gyp`)
// and points it at this Node's own headers (--nodedir), so nothing is downloaded.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fail = (msg) => {
  console.error(`build:native: ${msg}`);
  process.exit(1);
};
const headers = ['/usr/include/dnnl.hpp', '/usr/include/oneapi/dnnl/dnnl.hpp'];
if (!headers.some((h) => existsSync(h))) fail('oneDNN headers not found: apt-get install -y libdnnl-dev');
const libDirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib'];
if (!libDirs.some((d) => existsSync(path.join(d, 'libopenblas.so.0')))) fail('OpenBLAS not found: apt-get install -y libopenblas-dev');

const nodeDir = path.resolve(process.execPath, '..', '..');
const nodeDirArgs = existsSync(path.join(nodeDir, 'include', 'node', 'node_api.h')) ? [`--nodedir=${nodeDir}`] : [];
const candidates = [
  process.env.npm_config_node_gyp,
  path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter((p) => p != null && existsSync(p));
const cmd = candidates.length > 0 ? [process.execPath, candidates[0]] : ['npx', '--yes', 'node-gyp'];
const args = [...cmd.slice(1), 'rebuild', ...nodeDirArgs];
console.error(`build:native: ${cmd[0]} ${args.join(' ')}`);
const r = spawnSync(cmd[0], args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
