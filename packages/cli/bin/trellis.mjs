#!/usr/bin/env node
// The `trellis` command. It lives outside dist/ so npm links it at install time, before the first build.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('trellis: the CLI is not built yet — run `npm run build` at the repository root (or `npx tsc -b packages/cli`), then try again.');
  process.exit(2);
}
await import(entry.href);
