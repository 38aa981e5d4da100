#!/usr/bin/env node
// `h` + the SHA-256 of the sources the addon is compiled from (native/*.cc and *.h by name, then
// binding.gyp). The one copy of the computation: binding.gyp runs this file to compile the value into the
// addon (versions().sources), and src/addon.ts requires it to compare a build with the package's files.
'use strict';
const { createHash } = require('node:crypto');
const { readFileSync, readdirSync } = require('node:fs');
const path = require('node:path');

/** The hash of the sources under package root `root` (this file's package by default). */
function sourcesHash(root = path.resolve(__dirname, '..')) {
  const files = readdirSync(path.join(root, 'native')).filter((f) => /\.(cc|h)$/.test(f)).sort().map((f) => `native/${f}`);
  const h = createHash('sha256');
  for (const f of [...files, 'binding.gyp']) h.update(`${f}\0`).update(readFileSync(path.join(root, f))).update('\0');
  return `h${h.digest('hex')}`;
}

module.exports = { sourcesHash };
if (require.main === module) process.stdout.write(sourcesHash());
