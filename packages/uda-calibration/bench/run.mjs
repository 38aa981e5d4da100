// Runs the uda-calibration reproduction from the built dist/ (npx tsc -b packages/uda-calibration first).
// Usage: node packages/uda-calibration/bench/run.mjs [quick|full] [key=value ...]
import * as tf from '@tensorflow/tfjs-core';
import * as core from '@trellis-ml/core';
import { experiment } from '../dist/index.js';

const mode = process.argv[2] ?? 'quick';
const params = Object.fromEntries(process.argv.slice(3).map((kv) => kv.split('=')));
if (typeof core.useBackend === 'function') {
  await core.useBackend(process.env.TRELLIS_BACKEND ?? 'auto');
} else if (process.env.TRELLIS_BACKEND === 'wasm') {
  await import('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend('wasm');
} else {
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
}
await tf.ready();
console.log(`backend ${tf.getBackend()}`);
const result = await experiment.run({ mode, seed: Number(process.env.SEED ?? 1), out: process.env.OUT ?? 'runs', params });
for (const c of result.claims) {
  console.log(`${c.holds ? 'HOLDS' : 'FAILS'}  ${c.id}: measured ${c.measured.toFixed(4)} ${c.comparator} ${c.threshold}${c.detail ? ` (${c.detail})` : ''}`);
}
console.log(`report: ${result.reportPath}`);
