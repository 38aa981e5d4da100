import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dataset, Rng, TrellisError } from '@trellis-ml/core';
import { runNode, type NodeRun } from '../../../tools/test-support/runNode.js';

/** A linearly separable 3-class toy set in 8 dimensions (seeded). */
export function toyDataset(n = 240, seed = 1, groups = false): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 8);
  const labels = new Int32Array(n);
  const g = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    g[i] = i % 2;
    for (let j = 0; j < 8; j++) x[i * 8 + j] = rng.normal(j % 3 === c ? 1.5 : 0, 0.5);
  }
  return Dataset.fromArrays({ x, shape: [8], labels, numClasses: 3, groups: groups ? g : null });
}

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** The `TrellisError` code `fn` throws, or `'no error'` when it returns (fails the test when it throws something else). */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TrellisError);
    return (e as TrellisError).code;
  }
  return 'no error';
}

/**
 * Runs `body` (TypeScript, top-level await allowed) in a fresh Node process through vite-node, after it
 * has loaded tfjs-core, the cpu backend and tfjs-layers from core's dependencies; `body` may import
 * `CORE_SRC/<path>` for core's sources. For what a process fixes once: the wasm thread count, an empty
 * backend registry. Returns null when vite-node is not installed (nothing can run TypeScript in a child).
 */
export async function runFreshCoreProcess(body: string, timeout = 90_000): Promise<NodeRun | null> {
  const req = createRequire(import.meta.url);
  let viteNode: string;
  try {
    const pkg = req.resolve('vite-node/package.json');
    const bin = (JSON.parse(readFileSync(pkg, 'utf8')) as { bin: Record<string, string> }).bin['vite-node'];
    viteNode = join(dirname(pkg), bin ?? 'vite-node.mjs');
  } catch {
    return null;
  }
  const coreDir = join(dirname(fileURLToPath(import.meta.url)), '..');
  const dir = mkdtempSync(join(tmpdir(), 'trellis-core-child-'));
  const script = join(dir, 'child.mts');
  writeFileSync(
    script,
    `import { createRequire } from 'node:module';
const req = createRequire(${JSON.stringify(join(coreDir, 'package.json'))});
await import(req.resolve('@tensorflow/tfjs-core'));
await import(req.resolve('@tensorflow/tfjs-backend-cpu'));
await import(req.resolve('@tensorflow/tfjs-layers'));
${body.replaceAll('CORE_SRC/', join(coreDir, 'src') + '/')}
`,
  );
  try {
    return await runNode([viteNode, script], { timeout, cwd: coreDir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
