// Runs the fair-prune reproduction from the built dist/: `node bench/run.mjs quick|full [key=value ...]`.
import * as tf from '@tensorflow/tfjs-core';
import * as core from '@trellis-ml/core';
import { experiment } from '../dist/index.js';

if (typeof core.useBackend === 'function') await core.useBackend('wasm');
else {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    await tf.setBackend('wasm');
  } catch {
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
  }
}
await tf.ready();
const mode = process.argv[2] ?? 'quick';
const params = Object.fromEntries(process.argv.slice(3).map((kv) => kv.split('=')));
const seed = Number(params.seed ?? 1);
delete params.seed;
console.log(`backend ${tf.getBackend()}, mode ${mode}, params ${JSON.stringify(params)}`);
const result = await experiment.run({ mode, seed, out: params.out ?? 'runs', params });
for (const c of result.claims) console.log(`${c.holds ? 'HOLDS' : 'NO   '} ${c.id}: measured ${c.measured.toFixed(4)} ${c.comparator} ${c.threshold}${c.detail ? ` (${c.detail})` : ''}`);
console.log(`report: ${result.reportPath}`);
