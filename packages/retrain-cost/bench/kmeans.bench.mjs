// k-means on real PreIndex embeddings, exact JavaScript distances vs the backend-matmul assignment:
//   node packages/retrain-cost/bench/kmeans.bench.mjs [backend] [rows]     (default trellis-native 5000; build first)
// Trains the spec's MNIST CNN (M2) one epoch on 20,000 images, takes its `conv2` embeddings (6,272 wide) of
// the first `rows` test images, and clusters them from the class centroids and with k-means++ both ways;
// prints iterations, seconds and the ARI against the labels (the two ways must agree exactly).
import * as tf from '@tensorflow/tfjs-core';
import { importDist } from '../../core/bench/reference-models.mjs';

const core = await importDist('core');
const rc = await importDist('retrain-cost');
const datasets = await importDist('datasets');
const backend = process.argv[2] ?? 'trellis-native';
const rows = Number(process.argv[3] ?? 5000);
await core.useBackend(backend, { threads: 1 });
const model = rc.buildReproModel('cnn', [28, 28, 1], 10, 1);
const trainer = new core.Trainer({ model, seed: 1, batchSize: 64, optimizer: tf.train.adam(1e-3) });
await trainer.fit(datasets.loadMnist({ split: 'train', limit: 20000 }), { epochs: 1 });
const test = datasets.loadMnist({ split: 'test', limit: rows });
const n = test.size;
const chunks = [];
for (let i = 0; i < n; i += 500) {
  const m = Math.min(500, n - i);
  const x = tf.tensor(test.x.subarray(i * 784, (i + m) * 784), [m, 28, 28, 1]);
  const out = model.apply(x, { taps: ['conv2'] });
  chunks.push(out.features.conv2.dataSync().slice());
  tf.dispose([x, out.logits, ...Object.values(out.features)]);
}
const d = chunks[0].length / Math.min(500, n);
const z = new Float32Array(n * d);
chunks.reduce((off, c) => (z.set(c, off), off + c.length), 0);
const labels = test.labels;
const k = 10;
const mu = new Float32Array(k * d);
const count = new Float64Array(k);
for (let i = 0; i < n; i++) {
  count[labels[i]]++;
  for (let t = 0; t < d; t++) mu[labels[i] * d + t] += z[i * d + t];
}
for (let j = 0; j < k; j++) for (let t = 0; t < d; t++) mu[j * d + t] /= count[j];
console.log(`backend ${backend}, ${n} rows × ${d}`);
for (const [name, init] of [['class centroids', mu], ['k-means++', { kmeansPlusPlus: k }]]) {
  const res = {};
  for (const [way, matmulFrom] of [['exact', Infinity], ['matmul', undefined]]) {
    const t0 = performance.now();
    const r = rc.kmeans(z, n, d, init, { seed: 0, matmulFrom });
    res[way] = r;
    console.log(`${name.padEnd(16)} ${way.padEnd(6)} iterations ${r.iters}, ${((performance.now() - t0) / 1000).toFixed(2)} s, ARI ${rc.adjustedRandIndex(labels, r.labels).toFixed(4)}`);
  }
  if (!res.exact.labels.every((v, i) => v === res.matmul.labels[i])) throw new Error(`${name}: the two ways disagree`);
}
