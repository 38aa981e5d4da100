// One training epoch of ReffAKD's dense autoencoder (AE-D 784→128→32, Adam 1e-3, batch 128) against one
// epoch of the MLP tier's teacher (784-512-512-10, SGD momentum 0.9, batch 128, core's Trainer) on the
// 54,000 Fashion-MNIST training images of the full run, and what they give for the generator time
// fraction (3 AE epochs ÷ 10 teacher epochs; spec bound ≤ 0.1, MAC fraction 0.091):
//   node packages/distill/bench/ae-vs-teacher-epoch.mjs [backend] [repeats]     (default trellis-native 3; build first)
// Each repeat times one AE epoch, then one teacher epoch, so a drift of the machine's speed hits both.
import * as tf from '@tensorflow/tfjs-core';
import { importDist } from '../../core/bench/reference-models.mjs';

const core = await importDist('core');
const distill = await importDist('distill');
const datasets = await importDist('datasets');
const backend = process.argv[2] ?? 'trellis-native';
const repeats = Number(process.argv[3] ?? 3);
await core.useBackend(backend, { threads: 1 });
const train = datasets.loadFashionMnist({ split: 'train', limit: 54000 });
const ae = distill.denseAutoencoder({ inputDim: 784, seed: 1 });
const teacher = core.mlp({ inputShape: [28, 28, 1], hidden: [512, 512], numClasses: 10, seed: 1 });
const trainer = new core.Trainer({ model: teacher, seed: 1, batchSize: 128, optimizer: tf.train.momentum(0.05, 0.9) });
const aeMacs = distill.countMacs(ae.model);
const teacherMacs = 784 * 512 + 512 * 512 + 512 * 10;
const rows = [];
for (let r = 0; r < repeats; r++) {
  const t0 = performance.now();
  await distill.trainAutoencoder(ae, train, { epochs: 1, seed: r });
  const t1 = performance.now();
  await trainer.fit(train, { epochs: 1 });
  const t2 = performance.now();
  rows.push({ ae: (t1 - t0) / 1000, teacher: (t2 - t1) / 1000 });
  console.log(`repeat ${r + 1}: AE epoch ${rows[r].ae.toFixed(2)} s, teacher epoch ${rows[r].teacher.toFixed(2)} s`);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const aeS = median(rows.map((x) => x.ae));
const teacherS = median(rows.map((x) => x.teacher));
const gmacs = (macs, s) => ((3 * macs * train.size) / s / 1e9).toFixed(1);
console.log(`${backend}, median of ${repeats}: AE ${aeS.toFixed(2)} s/epoch (${gmacs(aeMacs, aeS)} G training MAC/s), teacher ${teacherS.toFixed(2)} s/epoch (${gmacs(teacherMacs, teacherS)} G MAC/s)`);
console.log(`AE ÷ teacher per epoch ${(aeS / teacherS).toFixed(3)}; 3 AE epochs ÷ 10 teacher epochs ${((3 * aeS) / (10 * teacherS)).toFixed(3)} (MAC fraction ${((3 * aeMacs) / (10 * teacherMacs)).toFixed(3)})`);
ae.dispose();
trainer.dispose();
teacher.dispose?.();
console.log(`tensors left ${tf.memory().numTensors}`);
