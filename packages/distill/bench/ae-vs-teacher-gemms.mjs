// The matrix products alone of one training step of ReffAKD's dense autoencoder (AE-D 784→128→32→128→784)
// and of the MLP tier's teacher (784-512-512-10), batch 128: each layer's forward product, its weight
// gradient, and its input gradient (all but the first layer's), as tfjs computes them. What the generator
// time fraction (3 AE epochs ÷ 10 teacher epochs; bound ≤ 0.1) would be if a step were its GEMMs and nothing
// else, next to the MAC fraction:
//   node packages/distill/bench/ae-vs-teacher-gemms.mjs [backend]      (default trellis-native; build first)
import * as tf from '@tensorflow/tfjs-core';
import { importDist } from '../../core/bench/reference-models.mjs';

const core = await importDist('core');
const backend = process.argv[2] ?? 'trellis-native';
await core.useBackend(backend, { threads: 1 });
const B = 128;
const STEPS = Math.ceil(54000 / B);

/** The products of one step of a dense net with these layer widths, as thunks; their operands, to free. */
function stepProducts(widths) {
  const products = [];
  const operands = [];
  for (let l = 0; l + 1 < widths.length; l++) {
    const [inW, outW] = [widths[l], widths[l + 1]];
    const x = tf.randomNormal([B, inW]);
    const w = tf.randomNormal([inW, outW]);
    const dy = tf.randomNormal([B, outW]);
    operands.push(x, w, dy);
    products.push(() => tf.matMul(x, w)); // forward
    products.push(() => tf.matMul(x, dy, true, false)); // weight gradient
    if (l > 0) products.push(() => tf.matMul(dy, w, false, true)); // input gradient
  }
  const forward = widths.slice(1).reduce((s, o, l) => s + widths[l] * o, 0);
  // MACs per example of the products above: forward and weight gradient for every layer, input gradient for all but the first
  return { products, operands, forward, stepMacs: 3 * forward - widths[0] * widths[1] };
}

/** Median over 7 rounds of the ms one step's products take (50 steps a round, after 20 to warm up). */
function msPerStep(products) {
  const run = () => { for (const p of products) p().dispose(); };
  for (let r = 0; r < 20; r++) run();
  const rounds = [];
  for (let k = 0; k < 7; k++) {
    const t0 = performance.now();
    for (let r = 0; r < 50; r++) run();
    rounds.push((performance.now() - t0) / 50);
  }
  return rounds.sort((a, b) => a - b)[3];
}

const ae = stepProducts([784, 128, 32, 128, 784]);
const teacher = stepProducts([784, 512, 512, 10]);
const aeMs = msPerStep(ae.products);
const teacherMs = msPerStep(teacher.products);
const rate = (net, ms) => ((net.stepMacs * B) / ms / 1e6).toFixed(1);
console.log(`${backend}, one thread, products of one batch-${B} step (median of 7 rounds):`);
console.log(`  AE ${aeMs.toFixed(2)} ms (${rate(ae, aeMs)} G MAC/s), teacher ${teacherMs.toFixed(2)} ms (${rate(teacher, teacherMs)} G MAC/s)`);
console.log(`  a ${STEPS}-step epoch of products only: AE ${((aeMs * STEPS) / 1000).toFixed(2)} s, teacher ${((teacherMs * STEPS) / 1000).toFixed(2)} s`);
console.log(`  3 AE epochs ÷ 10 teacher epochs, products only: ${((3 * aeMs) / (10 * teacherMs)).toFixed(3)} (MAC fraction of these products ${((3 * ae.stepMacs) / (10 * teacher.stepMacs)).toFixed(3)}; the claim's, 3 × forward, ${((3 * ae.forward) / (10 * teacher.forward)).toFixed(3)})`);
tf.dispose([...ae.operands, ...teacher.operands]);
