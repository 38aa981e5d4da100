// Indicator probe (seed 1, the full-mode model): per-sparsity rank correlations of the indicators with the excess loss on the training and test sets, with and without fine-tuning, and the effect of the pruning guard at s = 0.99. Run: node packages/fair-prune/bench/indicator-probe.mjs
import * as tf from '@tensorflow/tfjs-core';
import { Trainer, mlp, Rng, useBackend } from '@trellis-ml/core';
import { loadFashionMnist } from '@trellis-ml/datasets';
import { classGroups, computeMasks, applyMasks, disparity, evaluateGroups, fineTunePruned, flatParameters, setFlatParameters, groupDiagnostics, spearman } from '../dist/index.js';
await useBackend('trellis-native', { threads: 1 });
const seed = 1, hidden = [300, 100];
const all = loadFashionMnist({ split: 'train', flatten: true });
const perm = Rng.derive(seed, 'subset').permutation(all.size);
const taken = new Array(10).fill(0); const keep = []; const rest = [];
for (const i of perm) { const l = all.labels[i]; if (taken[l] < 1200) { taken[l]++; keep.push(i); } else rest.push(i); }
keep.sort((a, b) => a - b);
const train = classGroups(all.subset(keep));
const val = classGroups(all.subset(rest.slice(0, 5000).sort((a, b) => a - b)));
const test = classGroups(loadFashionMnist({ split: 'test', flatten: true }));
const dense = mlp({ inputShape: [784], hidden, numClasses: 10, seed });
const tr = new Trainer({ model: dense, seed, batchSize: 128, optimizer: tf.train.adam(1e-3) });
await tr.fit(train, { epochs: 10 }); tr.dispose();
const dTest = evaluateGroups(dense, test, 10), dTrain = evaluateGroups(dense, train, 10), dVal = evaluateGroups(dense, val, 10);
const f = (xs, k = 3) => xs.map((x) => x.toFixed(k)).join(' ');
console.log('dense test acc', f(dTest.perGroup.map((g) => g.accuracy)), 'val acc', f(dVal.perGroup.map((g) => g.accuracy)));
console.log('dense train loss', f(dTrain.perGroup.map((g) => g.loss)), 'test loss', f(dTest.perGroup.map((g) => g.loss)));
const diag = groupDiagnostics(dense, train, 10, { maxPerGroup: 1000, hessianPerGroup: 256, powerIterations: 12, seed });
console.log('gradNorm', f(diag.gradNorm), '\nhess', f(diag.hessianTopEig, 1), '\nbound', f(diag.boundaryProximity));
console.log('rho(hess, bound)', spearman(diag.hessianTopEig, diag.boundaryProximity).toFixed(3), 'rho(grad, bound)', spearman(diag.gradNorm, diag.boundaryProximity).toFixed(3));
const clone = () => { const m = mlp({ inputShape: [784], hidden, numClasses: 10, seed }); setFlatParameters(m, flatParameters(dense)); return m; };
const corr = (R) => ['gradNorm', 'hessianTopEig', 'boundaryProximity'].map((k) => spearman(diag[k], R).toFixed(2)).join('/');
// continued-training control: s = 0 fine-tune
for (const [label, opts] of [['default guard', {}], ['guard count-only', { minKeepFraction: 0 }]]) {
  for (const s of (label === 'default guard' ? [0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99] : [0.98, 0.99])) {
    const masks = computeMasks(dense, { sparsity: s, ...opts });
    const kept = Object.fromEntries(Object.entries(masks.masks).map(([n, m]) => [n, m.reduce((a, b) => a + b, 0)]));
    for (const ft of [false, true]) {
      const m = clone();
      if (ft) await fineTunePruned(m, masks, train, { epochs: 2, numGroups: 10, seed, lr: 1e-3, mitigation: { kind: 'none' } });
      else applyMasks(m, masks);
      const pTest = evaluateGroups(m, test, 10), pTrain = evaluateGroups(m, train, 10);
      const dT = disparity(dTest, pTest), dTr = disparity(dTrain, pTrain);
      console.log(`${label} s=${s} ft=${ft} kept ${JSON.stringify(kept)} acc ${pTest.overall.accuracy.toFixed(3)} rich ${dT.richGetRicherRho.toFixed(2)} | rho ind~R_test ${corr(dT.excessLoss)} ~R_train ${corr(dTr.excessLoss)} ~drop_test ${corr(dT.accuracyDrop)}`);
      console.log(`   drop ${f(dT.accuracyDrop.map((x) => 100 * x), 1)}  R_test ${f(dT.excessLoss, 2)} R_train ${f(dTr.excessLoss, 2)}`);
      m.dispose();
    }
  }
}
