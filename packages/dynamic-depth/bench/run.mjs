// Runs the dynamic-depth reproduction by hand: `node packages/dynamic-depth/bench/run.mjs [quick|full] [key=value ...]`
// (after `npx tsc -b packages/dynamic-depth`). Uses core's useBackend when it is exported, else the cpu backend.
import * as tf from '@tensorflow/tfjs-core';
import * as core from '@trellis-ml/core';
import { experiment } from '../dist/index.js';

if (typeof core.useBackend === 'function') {
  await core.useBackend(process.env.TRELLIS_BACKEND ?? 'auto');
} else {
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
}
await tf.ready();
const mode = process.argv[2] ?? 'quick';
const params = Object.fromEntries(process.argv.slice(3).map((kv) => kv.split('=')));
const seed = Number(process.env.SEED ?? 1);
const result = await experiment.run({ mode, seed, out: process.env.OUT ?? 'runs', params, progress: false });
for (const c of result.claims) {
  console.log(`${c.holds ? 'HOLDS' : 'FAILS'}  ${c.id}: measured ${c.measured.toFixed(4)} ${c.comparator} ${c.threshold}${c.detail ? `  (${c.detail})` : ''}`);
}
console.log(result.reportPath);
