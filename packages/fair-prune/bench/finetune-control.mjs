// Fine-tune control (3 seeds, the full-mode model): G1 drops, focus ratio and rich-get-richer rho at s = 0 (extra training only) and s >= 0.95. Args: denseEpochs ftLr ftEpochs minKeepFraction, e.g. 10 1e-3 2 0 (the reproduction) or 15 3e-4 3 0 (spec section 7.3).
import * as tf from '@tensorflow/tfjs-core';
import { Trainer, mlp, Rng, useBackend } from '@trellis-ml/core';
import { loadFashionMnist } from '@trellis-ml/datasets';
import { classGroups, computeMasks, disparity, evaluateGroups, fineTunePruned, flatParameters, setFlatParameters, spearman } from '../dist/index.js';
await useBackend('trellis-native', { threads: 1 });
const [denseEpochs, ftLr, ftEpochs, minKeepFraction] = process.argv.slice(2).map(Number);
const hidden = [300, 100];
const all = loadFashionMnist({ split: 'train', flatten: true });
const test = classGroups(loadFashionMnist({ split: 'test', flatten: true }));
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
for (const seed of [1, 2, 3]) {
  const perm = Rng.derive(seed, 'subset').permutation(all.size);
  const taken = new Array(10).fill(0); const keep = [];
  for (const i of perm) { const l = all.labels[i]; if (taken[l] < 1200) { taken[l]++; keep.push(i); } }
  const train = classGroups(all.subset(keep.sort((a, b) => a - b)));
  const dense = mlp({ inputShape: [784], hidden, numClasses: 10, seed });
  const tr = new Trainer({ model: dense, seed, batchSize: 128, optimizer: tf.train.adam(1e-3) });
  await tr.fit(train, { epochs: denseEpochs }); tr.dispose();
  const dTest = evaluateGroups(dense, test, 10);
  const focus = dTest.perGroup.map((g, a) => [g.accuracy, a]).sort((x, y) => x[0] - y[0]).slice(0, 3).map(([, a]) => a);
  let control = null;
  const out = [];
  for (const s of [0, 0.95, 0.98, 0.99]) {
    const m = mlp({ inputShape: [784], hidden, numClasses: 10, seed }); setFlatParameters(m, flatParameters(dense));
    const masks = computeMasks(dense, { sparsity: s, minKeepFraction });
    await fineTunePruned(m, masks, train, { epochs: ftEpochs, numGroups: 10, seed, lr: ftLr, mitigation: { kind: 'none' } });
    const rep = evaluateGroups(m, test, 10);
    if (s === 0) { control = rep; }
    const d = disparity(dTest, rep);
    const fd = mean(focus.map((a) => d.accuracyDrop[a])), rd = mean(d.accuracyDrop.filter((_, a) => !focus.includes(a)));
    const dc = s === 0 ? null : disparity(control, rep);
    out.push(`s=${s} acc ${(100 * rep.overall.accuracy).toFixed(1)} rich ${d.richGetRicherRho.toFixed(2)} ratio ${(fd / Math.max(rd, 0.001)).toFixed(2)} (${(100 * fd).toFixed(1)}/${(100 * rd).toFixed(1)}) maxAbsDrop ${(100 * Math.max(...d.accuracyDrop.map(Math.abs))).toFixed(1)}` + (dc ? ` | vs s=0 control: rich ${spearman(control.perGroup.map((g) => g.accuracy), dc.accuracyDrop).toFixed(2)}` : ''));
    m.dispose();
  }
  console.log(`seed ${seed} dense ${(100 * dTest.overall.accuracy).toFixed(1)} focus ${focus}\n  ` + out.join('\n  '));
  dense.dispose();
}
