// TransCal on the source model and on the BN-adapted model (target batch statistics, which align the two
// domains' features), severity 5 of the 8 core shifts, mlp-bn at the study's full sizes (55,000 / 5,000 / 10,000),
// seed 1: accuracy, ECE raw / with the source temperature / with TransCal's, TransCal's T, its accuracy estimate
// and the mean importance weight. Build first; about 2 min per dataset on one core:
//   node packages/uda-calibration/bench/transcal-adapted.mjs [fashion|mnist]
import * as tf from '@tensorflow/tfjs-core';
import { importDist } from '../../core/bench/reference-models.mjs';
const core = await importDist('core');
const ds = await importDist('datasets');
const u = await importDist('uda-calibration');
await core.useBackend('trellis-native', { threads: 1 });
const name = process.argv[2] ?? 'fashion';
const load = name === 'mnist' ? ds.loadMnist : ds.loadFashionMnist;
const all = load({ split: 'train', limit: 60000 });
const [train, validation] = all.split(55000 / 60000, 1);
const test = load({ split: 'test', limit: 10000 });
const model = u.mlpBn({ inputShape: [...train.shape], numClasses: 10, seed: 1 });
const trainer = new core.Trainer({ model, optimizer: tf.train.adam(1e-3), seed: 1, batchSize: 128, baseLoss: 'crossEntropy' });
await trainer.fit(train, { epochs: 3 });
const k = 10;
const run = (m, data, tap) => {
  const logits = new Float32Array(data.size * k); let feats = null; let off = 0, foff = 0;
  for (const b of data.batches(50)) {
    const [z, f] = tf.tidy(() => { const o = m.apply(b.x, { taps: [tap] }); return [o.logits, tf.reshape(o.features[tap], [b.size, -1])]; });
    logits.set(z.dataSync(), off); off += z.size;
    if (!feats) feats = new Float32Array(data.size * f.shape[1]);
    feats.set(f.dataSync(), foff); foff += f.size; tf.dispose([z, f]); core.disposeBatch(b);
  }
  return { logits, feats, dim: feats.length / data.size };
};
const srcSample = train.subset(core.Rng.derive(1, 's').sample(train.size, 5000));
const T = u.fitTemperature(core.predictLogits(model, validation), validation.labels, k);
const rows = [];
for (const [shift, sev] of [['gaussian_noise', 5], ['impulse_noise', 5], ['contrast', 5], ['rotate', 5], ['gaussian_blur', 5], ['invert', 5], ['pixelate', 5], ['shot_noise', 5]]) {
  const target = ds.corrupt(test, shift, sev, 1);
  const out = [];
  for (const [label, m] of [['source', model], ['BN-adapt', new u.AdaptedModel(model, { normalization: 'batch' })]]) {
    const tgt = run(m, target, 'relu2'), src = run(m, srcSample, 'relu2'), val = run(m, validation, 'relu2');
    const w = u.domainImportanceWeights(src.feats, tgt.feats.subarray(0, 5000 * tgt.dim), val.feats, src.dim, { seed: 1 });
    const tc = u.transCal({ targetLogits: tgt.logits, sourceValLogits: val.logits, sourceValLabels: validation.labels, weights: w, k });
    const ece = (z) => u.calibrationReport(z, target.labels, k).ece;
    const acc = u.calibrationReport(tgt.logits, target.labels, k).accuracy;
    out.push(`${label}: acc ${(100 * acc).toFixed(1)} ECE raw ${ece(tgt.logits).toFixed(3)} TS ${ece(u.applyTemperature(tgt.logits, T)).toFixed(3)} TransCal ${ece(u.applyTemperature(tgt.logits, tc.temperature)).toFixed(3)} (T=${tc.temperature.toFixed(2)}, est ${tc.estimatedAccuracy.toFixed(3)}, w mean ${(w.reduce((a, b) => a + b, 0) / w.length).toFixed(3)})`);
  }
  console.log(`${name} ${shift} s${sev} | ${out.join(' | ')}`);
}

