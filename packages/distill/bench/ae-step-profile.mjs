// Where an AE-D training step spends its kernel time: `tf.profile` over training epochs of ReffAKD's dense
// autoencoder (784→128→32, Adam 1e-3, batch 128) on 60 batches of Fashion-MNIST, summed per kernel and
// divided by the steps. Op-level wrappers (names ending `__op`) are left out, so nothing is counted twice.
//   node packages/distill/bench/ae-step-profile.mjs [backend] [epochs]     (default trellis-native 3; build first)
import * as tf from '@tensorflow/tfjs-core';
import { importDist } from '../../core/bench/reference-models.mjs';

const core = await importDist('core');
const distill = await importDist('distill');
const datasets = await importDist('datasets');
const backend = process.argv[2] ?? 'trellis-native';
const epochs = Number(process.argv[3] ?? 3);
const batches = 60;
await core.useBackend(backend, { threads: 1 });
const train = datasets.loadFashionMnist({ split: 'train', limit: 128 * batches });
const ae = distill.denseAutoencoder({ inputDim: 784, seed: 1 });
await distill.trainAutoencoder(ae, train, { epochs: 1, seed: 0 }); // warm-up
const perKernel = new Map();
for (let r = 0; r < epochs; r++) {
  const info = await tf.profile(() => distill.trainAutoencoder(ae, train, { epochs: 1, seed: r + 1 }));
  for (const k of info.kernels) {
    if (k.name.endsWith('__op')) continue;
    const ms = await k.kernelTimeMs;
    const e = perKernel.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += typeof ms === 'number' ? ms : 0;
    e.calls++;
    perKernel.set(k.name, e);
  }
}
const steps = batches * epochs;
const rows = [...perKernel.entries()].sort((a, b) => b[1].ms - a[1].ms);
const total = rows.reduce((s, [, e]) => s + e.ms, 0);
const products = rows.filter(([name]) => /MatMul/.test(name)).reduce((s, [, e]) => s + e.ms, 0);
console.log(`${backend}, one thread, ${steps} AE steps: kernel time ${(total / steps).toFixed(3)} ms a step, of which matrix products ${(products / steps).toFixed(3)} ms`);
for (const [name, e] of rows) console.log(`  ${name.padEnd(28)} ${(e.ms / steps).toFixed(4)} ms a step, ${(e.calls / steps).toFixed(1)} calls a step`);
ae.dispose();
console.log(`tensors left ${tf.memory().numTensors}`);
