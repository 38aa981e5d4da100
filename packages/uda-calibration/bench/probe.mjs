// Investigation probe (not part of the package API): one source model, a few cells, per-method diagnostics.
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, Trainer, predictLogits } from '@trellis-ml/core';
import { loadMnist, loadFashionMnist, corrupt } from '@trellis-ml/datasets';
const load = process.env.DATASET === 'fashion' ? loadFashionMnist : loadMnist;
import { mlpBn, computeSourceStats, createAdaptation, runStream, calibrationReport } from '../dist/index.js';

await useBackend(process.env.BACKEND ?? 'trellis-native');
const seed = 1;
const all = load({ split: 'train', limit: 9000 });
const [train, validation] = all.split(8 / 9, seed);
const test = load({ split: 'test', limit: 1000 });
const source = mlpBn({ inputShape: train.shape, numClasses: 10, seed });
const tr = new Trainer({ model: source, optimizer: tf.train.adam(1e-3), seed, batchSize: 128 });
await tr.fit(train, { epochs: 3 });
tr.dispose();
const stats = computeSourceStats(source, validation);
console.log('stats', stats);
const specs = JSON.parse(process.env.SPECS ?? '[{"kind":"tent"},{"kind":"eta"},{"kind":"dec"}]');
const cells = JSON.parse(process.env.CELLS ?? '[["gaussian_noise",5],["contrast",5],["rotate",4]]');
for (const [shift, sev] of cells) {
  const target = corrupt(test, shift, sev, seed);
  const src = calibrationReport(predictLogits(source, target), target.labels, 10);
  console.log(`${shift} s${sev}: source acc ${src.accuracy.toFixed(4)} ece ${src.ece.toFixed(4)}`);
  for (const spec of specs) {
    const m = await createAdaptation(spec, source, { seed, validation, stats });
    const logs = [];
    const res = await runStream(m, target, { seed, batchSize: 50, onBatch: ({ logs: l }) => logs.push(l) });
    m.dispose();
    const on = calibrationReport(res.online[0], target.labels, 10);
    const po = calibrationReport(res.post, target.labels, 10);
    const keys = [...new Set(logs.flatMap((l) => Object.keys(l)))];
    const diag = keys.map((k) => `${k}=${(logs.reduce((s, l) => s + (l[k] ?? 0), 0) / logs.length).toFixed(3)}`).join(' ');
    const zero = logs.filter((l) => l['eta/kept'] === 0).length;
    console.log(`  ${JSON.stringify(spec)}: online acc ${on.accuracy.toFixed(4)} ece ${on.ece.toFixed(4)} nll ${on.nll.toFixed(3)} gap ${on.overconfidenceGap.toFixed(4)} H ${on.meanEntropyBits.toFixed(3)} | post acc ${po.accuracy.toFixed(4)} ece ${po.ece.toFixed(4)} | ${diag}${zero ? ` zeroKeptBatches=${zero}` : ''}`);
  }
}
