// Time per tfjs matMul call on 'trellis-native' for a list of shapes (M×K×N), to place the size below
// which a GEMM should stay on one thread:
//   T=2 node packages/backend-native/bench/gemm-sizes.mjs [832x32x32,128x256x128,...]    (build first)
// GEMM=openblas|onednn|openblas-threads picks the implementation (default: 'auto').
import * as tf from '@tensorflow/tfjs-core';
import { importDist } from '../../core/bench/reference-models.mjs';

const native = await importDist('backend-native');
const threads = Number(process.env.T ?? 2);
const gemm = process.env.GEMM ?? 'auto';
const info = await native.useNativeBackend({ threads, gemm });
if (!info.loaded) throw new Error(info.reason);
const list = process.argv[2] ?? '832x32x32,832x32x128,128x256x128,64x784x128,128x512x128,64x512x512,128x784x256';
for (const [M, K, N] of list.split(',').map((s) => s.split('x').map(Number))) {
  const a = tf.randomNormal([M, K]);
  const b = tf.randomNormal([K, N]);
  for (let i = 0; i < 200; i++) tf.tidy(() => tf.matMul(a, b).dataSync());
  const n = 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) tf.tidy(() => tf.matMul(a, b));
  const us = ((performance.now() - t0) / n) * 1000;
  console.log(`threads ${threads}  gemm ${gemm}  ${M}x${K}x${N} (${((M * K * N) / 1e6).toFixed(2)} M MAC)  ${us.toFixed(1)} us  ${((2 * M * K * N) / us / 1e3).toFixed(1)} GFLOP/s`);
  tf.dispose([a, b]);
}
