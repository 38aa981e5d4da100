#!/usr/bin/env node
// One training step of core's smallCnn with BatchNorm (uda-calibration's `cnn-bn`: conv 32 → BN → ReLU →
// pool, conv 64 → BN → ReLU → pool, dense 128, 10 classes) on MNIST, batch 128, Adam 1e-3, with core's
// Trainer: median ms per step over `--epochs` passes of 6,400 images after a warm-up pass, and the
// kernels of one step by time (tf.profile).
//
//   npx tsc -b tsconfig.json
//   node packages/core/bench/batchnorm-step.mjs [--backend wasm] [--epochs 3] [--profile]
//   TRELLIS_CORE_DIST=<another build of core's dist> node packages/core/bench/batchnorm-step.mjs   # compare builds
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { importDist } from './reference-models.mjs';

const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const i = argv.indexOf(name);
  return i < 0 ? fallback : argv[i + 1];
};
const backend = option('--backend', 'wasm');
const epochs = Number(option('--epochs', '3'));
const core = process.env.TRELLIS_CORE_DIST
  ? await import(pathToFileURL(path.join(process.env.TRELLIS_CORE_DIST, 'index.js')).href)
  : await importDist('core');
const datasets = await importDist('datasets');
await core.useBackend(backend, { threads: 1 });
const n = 6400;
const batch = 128;
const train = datasets.loadMnist({ split: 'train', limit: n });
const model = core.smallCnn({ inputShape: [28, 28, 1], numClasses: 10, batchNorm: true, seed: 1 });
const trainer = new core.Trainer({ model, seed: 1, batchSize: batch, optimizer: tf.train.adam(1e-3) });
await trainer.fit(train, { epochs: 1 });
const tensors = tf.memory().numTensors;
const perStep = [];
for (let e = 0; e < epochs; e++) {
  const t0 = performance.now();
  await trainer.fit(train, { epochs: 1 });
  perStep.push((performance.now() - t0) / (n / batch));
}
perStep.sort((a, b) => a - b);
const median = perStep[Math.floor(perStep.length / 2)];
console.log(JSON.stringify({ kind: 'batchnorm-step', backend: tf.getBackend(), coreDist: process.env.TRELLIS_CORE_DIST ?? 'packages/core/dist', batch, msPerStep: Number(median.toFixed(1)), passes: perStep.map((v) => Number(v.toFixed(1))), tensorGrowth: tf.memory().numTensors - tensors }));
if (argv.includes('--profile')) {
  const [first] = train.batches(batch);
  const prof = await tf.profile(() => {
    const loss = tf.tidy(() => tf.variableGrads(() => tf.losses.softmaxCrossEntropy(tf.oneHot(first.y, 10), model.model.apply(first.x, { training: true }))).value);
    loss.dataSync();
    loss.dispose();
  });
  const byKernel = new Map();
  for (const k of prof.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + k.kernelTimeMs);
  for (const [name, ms] of [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`${name.padEnd(32)} ${ms.toFixed(2)} ms`);
  core.disposeBatch(first);
}
trainer.dispose();
model.dispose?.();
