// Runs the privacy reproduction by hand: node packages/privacy/bench/run.mjs [quick|full] [key=value ...]
// (build first: npx tsc -b packages/privacy). Uses core's useBackend when core exports it, else wasm, else cpu.
import * as tf from '@tensorflow/tfjs-core';
import * as core from '@trellis-ml/core';
import { experiment } from '../dist/index.js';

const mode = process.argv[2] ?? 'quick';
const params = Object.fromEntries(process.argv.slice(3).map((kv) => kv.split('=')));
if (typeof core.useBackend === 'function') await core.useBackend('wasm');
else if (process.env.TRELLIS_CORE_BACKEND) {
  // core's useBackend is not exported from its index yet: load it from core's build directly
  const { useBackend } = await import('../../core/dist/backend/useBackend.js');
  await useBackend('wasm');
} else {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    await tf.setBackend('wasm');
  } catch {
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
  }
}
await tf.ready();
console.log(`backend ${tf.getBackend()}`);
const result = await experiment.run({ mode, seed: 1, out: 'runs', params });
console.log(`report: ${result.reportPath}`);
for (const c of result.claims) console.log(`${c.holds ? 'HOLDS' : 'FAILS'}  ${c.id}: ${c.measured.toFixed(4)} ${c.comparator} ${c.threshold}${c.detail ? `  (${c.detail})` : ''}`);
