// Pilot: choose the mitigation's configuration on a validation split held out from training (never the test set).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { Trainer, mlp, Rng } from '@trellis-ml/core';
import { loadFashionMnist } from '@trellis-ml/datasets';
import { classGroups, computeMasks, denseReference, disparity, evaluateGroups, fineTunePruned, flatParameters, setFlatParameters, classSetGroups, imbalanceByClass } from '../dist/index.js';
await tf.setBackend('wasm');
const design = process.argv[2] ?? 'classes';
const all = loadFashionMnist({ split: 'train', flatten: true });
const perm = new Rng(7).permutation(all.size);
let train = all.subset(perm.subarray(0, 6000));
let val = all.subset(perm.subarray(50000, 55000));
let numGroups = 10;
if (design === 'classes') { train = classGroups(train); val = classGroups(val); }
else { train = classSetGroups(imbalanceByClass(train, { 5: 0.1, 6: 0.1, 7: 0.1, 8: 0.1, 9: 0.1 }, 1), [5, 6, 7, 8, 9]); val = classSetGroups(val, [5, 6, 7, 8, 9]); numGroups = 2; }
const dense = mlp({ inputShape: [784], hidden: [128, 64], numClasses: 10, seed: 1 });
const tr = new Trainer({ model: dense, seed: 1, batchSize: 128 });
await tr.fit(train, { epochs: 5 });
const dRep = evaluateGroups(dense, val, numGroups);
const reference = denseReference(dense, train, numGroups);
console.log('dense val', dRep.overall.accuracy.toFixed(4));
const configs = JSON.parse(process.argv[3]);
for (const s of JSON.parse(process.argv[4] ?? "[0.9,0.95]")) {
  const masks = computeMasks(dense, { sparsity: s });
  for (const mit of configs) {
    const m = mlp({ inputShape: [784], hidden: [128, 64], numClasses: 10, seed: 1 });
    setFlatParameters(m, flatParameters(dense));
    const t0 = Date.now();
    const r = await fineTunePruned(m, masks, train, { epochs: Number(process.argv[5] ?? 2), numGroups, seed: 1, lr: 1e-3, mitigation: mit, dense, reference });
    const d = disparity(dRep, evaluateGroups(m, val, numGroups));
    console.log(s, JSON.stringify(mit), 'acc', (100 * d.prunedAccuracy).toFixed(2), 'xi_acc', (100 * d.accuracyDropSpread).toFixed(2), 'xi_R', d.excessLossSpread.toFixed(3), 'worst', (100 * d.worstGroupAccuracy).toFixed(2), 'maxλ', Math.max(...r.lambdas.map(Math.abs), 0).toFixed(2), `${Date.now() - t0}ms`);
    m.dispose();
  }
}
