// Runs the distill reproduction by hand: `node packages/distill/bench/run.mjs [quick|full] [key=value ...]`
// (after `npx tsc -b packages/distill`). Picks core's useBackend('wasm') when core exports it, else the
// stock wasm backend, else cpu.
import * as tf from '@tensorflow/tfjs-core';
import * as core from '@trellis-ml/core';
import { experiment } from '../dist/index.js';

async function pickBackend() {
  if (typeof core.useBackend === 'function') {
    await core.useBackend('wasm');
    return;
  }
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    if (await tf.setBackend('wasm')) return;
  } catch {
    // fall through to cpu
  }
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
}

await pickBackend();
await tf.ready();
const mode = process.argv[2] ?? 'quick';
const params = Object.fromEntries(process.argv.slice(3).map((kv) => kv.split('=')));
const start = Date.now();
const result = await experiment.run({ mode, seed: Number(process.env.SEED ?? 1), out: process.env.OUT ?? 'runs', params });
console.log(`backend ${tf.getBackend()}, ${((Date.now() - start) / 1000).toFixed(0)} s, report ${result.reportPath}`);
for (const c of result.claims) console.log(`${c.holds ? 'holds' : 'NO   '} ${c.id}: ${c.measured} ${c.comparator} ${c.threshold}${c.detail ? ` (${c.detail})` : ''}`);
