#!/usr/bin/env node
// Prints `h` + the SHA-256 of the sources the addon is compiled from (native/*.cc and *.h by name, then
// binding.gyp). binding.gyp compiles it into the addon (versions().sources); src/addon.ts computes the
// same over the package's files at load and refuses a build from other sources. Keep the two in step.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const files = readdirSync(path.join(root, 'native')).filter((f) => /\.(cc|h)$/.test(f)).sort().map((f) => `native/${f}`);
const h = createHash('sha256');
for (const f of [...files, 'binding.gyp']) h.update(`${f}\0`).update(readFileSync(path.join(root, f))).update('\0');
process.stdout.write(`h${h.digest('hex')}`);
