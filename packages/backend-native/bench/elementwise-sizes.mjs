// Time per tfjs call of an elementwise Add (memory-bound) and Exp (compute-bound) on 'trellis-native'
// by size, to place the sizes from which a second thread pays:
//   T=2 node packages/backend-native/bench/elementwise-sizes.mjs [150000,200704,...]    (build first)
import * as tf from '@tensorflow/tfjs-core';
import { importDist } from '../../core/bench/reference-models.mjs';

const native = await importDist('backend-native');
const threads = Number(process.env.T ?? 2);
const info = await native.useNativeBackend({ threads });
if (!info.loaded) throw new Error(info.reason);
const sizes = (process.argv[2] ?? '150000,200704,400000,800000,1600000').split(',').map(Number);
const perCall = (f, n) => {
  for (let i = 0; i < 100; i++) tf.tidy(() => void f());
  const t0 = performance.now();
  for (let i = 0; i < n; i++) tf.tidy(() => void f()); // (void: the result is disposed with the scope)
  return ((performance.now() - t0) / n) * 1000;
};
for (const size of sizes) {
  const a = tf.randomNormal([size]);
  const b = tf.randomNormal([size]);
  console.log(`threads ${threads}  n=${size}  add ${perCall(() => tf.add(a, b), 2000).toFixed(1)} us  exp ${perCall(() => tf.exp(a), 1000).toFixed(1)} us`);
  tf.dispose([a, b]);
}
