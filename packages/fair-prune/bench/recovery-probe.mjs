// Recovery probe (one seed, G1, the --full model and data): how far plain fine-tuning recovers at high sparsity, per
// pruning scope / fine-tune lr / epochs, with the per-layer sparsity and dead units of the masks.
// Args: seed sparsities(comma) configs(JSON) [test], e.g. `1 0.98,0.99 '[{"scope":"global","lr":1e-3,"epochs":15}]'`;
// per-epoch curves on the 5,000-example validation split (or the test split with `test`); the final drop is on the test split.
import * as tf from '@tensorflow/tfjs-core';
import { Trainer, mlp, Rng, useBackend } from '@trellis-ml/core';
import { loadFashionMnist } from '@trellis-ml/datasets';
import { classGroups, computeMasks, disparity, evaluateGroups, fineTunePruned, flatParameters, pruning, setFlatParameters } from '../dist/index.js';
await useBackend('trellis-native', { threads: 1 });
const seed = Number(process.argv[2] ?? 1);
const sparsities = (process.argv[3] ?? '0.98,0.99').split(',').map(Number);
const configs = JSON.parse(process.argv[4] ?? '[{"scope":"global","lr":3e-4,"epochs":3}]');
const hidden = [300, 100];
const all = loadFashionMnist({ split: 'train', flatten: true });
const test = classGroups(loadFashionMnist({ split: 'test', flatten: true }));
const perm = Rng.derive(seed, 'subset').permutation(all.size);
const taken = new Array(10).fill(0); const keep = [];
for (const i of perm) { const l = all.labels[i]; if (taken[l] < 5500) { taken[l]++; keep.push(i); } }
const train = classGroups(all.subset(keep.sort((a, b) => a - b)));
// the 5,000 training examples --full leaves out (its validation split); curves are printed on it, never on the test split
const inTrain = new Set(keep);
const val = classGroups(all.subset(Array.from({ length: all.size }, (_, i) => i).filter((i) => !inTrain.has(i))));
const evalSet = process.argv[5] === 'test' ? test : val;
const t0 = Date.now();
const dense = mlp({ inputShape: [784], hidden, numClasses: 10, seed });
const tr = new Trainer({ model: dense, seed, batchSize: 128, optimizer: tf.train.adam(1e-3) });
await tr.fit(train, { epochs: 15 }); tr.dispose();
const dTest = evaluateGroups(dense, test, 10);
console.log(`seed ${seed} (validation ${val.size}) dense test ${(100 * dTest.overall.accuracy).toFixed(2)} validation ${(100 * evaluateGroups(dense, val, 10).overall.accuracy).toFixed(2)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
const pct = (x) => (100 * x).toFixed(2);
for (const s of sparsities) {
  for (const c of configs) {
    const masks = computeMasks(dense, { sparsity: s, scope: c.scope });
    const k1 = masks.masks['fc1/kernel'] ?? Object.values(masks.masks)[0];
    const names = Object.keys(masks.masks);
    const deadIn = (name, cols) => { const m = masks.masks[name]; const rows = m.length / cols; let dead = 0; for (let j = 0; j < cols; j++) { let any = 0; for (let i = 0; i < rows; i++) any |= m[i * cols + j]; if (!any) dead++; } return dead; };
    const layerInfo = names.map((n) => `${n} keep ${masks.masks[n].reduce((a, b) => a + b, 0)}/${masks.masks[n].length}`).join(', ');
    const dead = `dead-in fc units: ${deadIn(names[0], 300)}/300, ${deadIn(names[1], 100)}/100`;
    const m = mlp({ inputShape: [784], hidden, numClasses: 10, seed }); setFlatParameters(m, flatParameters(dense));
    const curve = [];
    if (c.gradualEnd !== undefined) {
      // cubic schedule from 0 to s over epochs 0..gradualEnd of the same fine-tune budget (masks recomputed from the current weights)
      const t = new Trainer({ model: m, seed, batchSize: 128, optimizer: tf.train.adam(c.lr), plugins: [pruning({ sparsity: s, scope: c.scope, schedule: { kind: 'gradual', startEpoch: 0, endEpoch: c.gradualEnd } })],
        onLog: () => { curve.push(pct(evaluateGroups(m, evalSet, 10).overall.accuracy)); } });
      await t.fit(train, { epochs: c.epochs }); t.dispose();
    } else await fineTunePruned(m, masks, train, { epochs: c.epochs, numGroups: 10, seed, lr: c.lr, mitigation: { kind: 'none' },
      onLog: () => { curve.push(pct(evaluateGroups(m, evalSet, 10).overall.accuracy)); } });
    const d = disparity(dTest, evaluateGroups(m, test, 10));
    console.log(`s=${s} ${JSON.stringify(c)}: ${layerInfo}; ${dead}; ${evalSet === val ? 'validation' : 'test'} acc per epoch ${curve.join(' ')}; drop ${pct(d.overallDrop ?? (dTest.overall.accuracy - d.prunedAccuracy))} pp; rich ${d.richGetRicherRho.toFixed(2)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    m.dispose();
  }
}
