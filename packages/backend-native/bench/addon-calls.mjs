// Time of direct addon calls, without tfjs: the fixed cost of one call on tiny tensors (what a
// training step pays per bias-sized op), the fused Adam and momentum-SGD updates per element (the latter
// next to the four binary calls tfjs's MomentumOptimizer makes, into fresh arrays), Transpose per element, 2×2 max pooling, the batch-norm gradient, a full Mean, and Sigmoid / Exp / a scalar fill over an autoencoder batch.
//   node packages/backend-native/bench/addon-calls.mjs                    (build the addon first)
//   TRELLIS_NATIVE_ADDON=/path/other.node node packages/backend-native/bench/addon-calls.mjs   (another build)
import { importDist } from '../../core/bench/reference-models.mjs';

const native = await importDist('backend-native');
const { addon, reason, path } = native.loadAddon();
if (addon == null) throw new Error(reason);
console.log(`addon ${path}`);
const C = new Float32Array([0.9, 0.1, 0.999, 0.001, 0.1, 0.001, 1e-7, -1e-3]);
/** Mean ns per call of f over enough calls to take ≈ 0.3 s. */
const nsPerCall = (f) => {
  for (let i = 0; i < 1000; i++) f();
  let reps = 1000;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) f();
    const ns = Number(process.hrtime.bigint() - t0);
    if (ns > 3e8) return ns / reps;
    reps *= 4;
  }
};
const arrays = (n) => [0, 1, 2, 3, 4].map((k) => Float32Array.from({ length: n }, (_, i) => (k === 2 ? 1e-4 : Math.sin(i + k) * 0.5)));
addon.setThreads(1);
console.log('one thread, ns per call:');
for (const n of [1, 128, 4096]) {
  const [x, y, v, m, out] = arrays(n);
  const row = {
    'unary relu': nsPerCall(() => addon.unary(6, x, out, 0)),
    'binary add': nsPerCall(() => addon.binary(0, x, y, out, n, 0, 0, 1, 1)),
    'reduceSum (row)': nsPerCall(() => addon.reduceSum(x, out, 1, n, false, 1)),
    'adam (in place)': nsPerCall(() => addon.adam(x, m, v, y, x, m, v, C)),
  };
  console.log(`  n=${String(n).padEnd(5)} ${Object.entries(row).map(([k, t]) => `${k} ${t.toFixed(0)}`).join('  ')}`);
}
for (const threads of [1, 2]) {
  addon.setThreads(threads);
  for (const n of [100352, 1000000]) {
    const [x, y, v, m] = arrays(n);
    const ns = nsPerCall(() => addon.adam(x, m, v, y, x, m, v, C));
    console.log(`adam in place, ${threads} thread${threads > 1 ? 's' : ''}, n=${n}: ${(ns / n).toFixed(3)} ns per element (${(ns / 1000).toFixed(1)} us per call)`);
    const M = new Float32Array([0.9, -1e-3, 1]);
    const fused = nsPerCall(() => addon.sgd(x, m, y, x, m, M));
    const momentum = new Float32Array([0.9]);
    const negLr = new Float32Array([-1e-3]);
    const four = nsPerCall(() => {
      const ma = new Float32Array(n);
      addon.binary(2, momentum, m, ma, n, 1, 0, 1, 1);
      const acc = new Float32Array(n);
      addon.binary(0, ma, y, acc, n, 0, 0, 1, 1);
      const step = new Float32Array(n);
      addon.binary(2, negLr, acc, step, n, 1, 0, 1, 1);
      const value = new Float32Array(n);
      addon.binary(0, step, x, value, n, 0, 0, 1, 1);
    });
    console.log(`momentum sgd, ${threads} thread${threads > 1 ? 's' : ''}, n=${n}: in place ${(fused / n).toFixed(3)} ns per element, as four binary ops into new arrays ${(four / n).toFixed(3)}`);
  }
}
addon.setThreads(1);
for (const [shape, perm] of [[[16, 64, 4, 32], [0, 2, 1, 3]], [[16, 4, 64, 32], [0, 1, 3, 2]], [[1024, 128], [1, 0]]]) {
  const n = shape.reduce((a, b) => a * b, 1);
  const [x, out] = arrays(n);
  const ns = nsPerCall(() => addon.transpose(x, out, shape, perm));
  console.log(`transpose [${shape}] by [${perm}]: ${(ns / n).toFixed(3)} ns per element`);
}
// 2×2 max pooling, stride 2, of the CNN studies' first conv output (batch 50, 28×28, 16 channels), forward
// and gradient; params: n, h, w, c, kh, kw, sh, sw, dh, dw, pad top, pad left, oh, ow.
{
  const params = [50, 28, 28, 16, 2, 2, 2, 2, 1, 1, 0, 0, 14, 14];
  const [x] = arrays(50 * 28 * 28 * 16);
  const [dy, y] = arrays(50 * 14 * 14 * 16);
  const dx = new Float32Array(x.length);
  const fwd = nsPerCall(() => addon.pool(0, params, x, null, y));
  const grad = nsPerCall(() => addon.pool(2, params, dy, x, dx));
  console.log(`max pool 2×2 on [50, 28, 28, 16]: forward ${(fwd / x.length).toFixed(3)} ns per input element, gradient ${(grad / x.length).toFixed(3)}`);
}
// Batch-norm gradient (dx and the two per-channel sums) on the same activations as [rows, channels].
for (const [rows, c] of [[50 * 28 * 28, 16], [50 * 14 * 14, 32]]) {
  const [dy, x] = arrays(rows * c);
  const [mean, variance, scale, sumDy, sumDyXm] = arrays(c);
  const dx = new Float32Array(rows * c);
  const ns = nsPerCall(() => addon.batchNormGrad(dy, x, mean, variance, scale, dx, sumDy, sumDyXm, c, 1e-3));
  console.log(`batch-norm gradient [${rows}, ${c}]: ${(ns / (rows * c)).toFixed(3)} ns per element`);
}
// A full Mean (an MSE loss over a [128, 784] batch): one column of 100,352 rows.
{
  const n = 128 * 784;
  const [x] = arrays(n);
  const out = new Float32Array(1);
  const ns = nsPerCall(() => addon.reduceSum(x, out, n, 1, true, 1 / n));
  console.log(`full mean of [128, 784]: ${(ns / n).toFixed(3)} ns per element (${(ns / 1000).toFixed(1)} us per call)`);
}
// Sigmoid and Exp over a [128, 784] batch (the dense autoencoder's output layer), inputs in ±6, and a
// Mean's gradient: one scalar spread over the batch (binary multiply of two scalars, filled).
{
  const n = 128 * 784;
  const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 6);
  const out = new Float32Array(n);
  const sig = nsPerCall(() => addon.unary(10, x, out, 0));
  const exp = nsPerCall(() => addon.unary(4, x, out, 0));
  const fill = nsPerCall(() => addon.binary(2, x, x, out, n, 1, 1, 1, 1));
  console.log(`sigmoid of [128, 784]: ${(sig / n).toFixed(3)} ns per element (${(sig / 1000).toFixed(1)} us per call); exp ${(exp / n).toFixed(3)}; scalar × scalar filled ${(fill / 1000).toFixed(1)} us`);
}
