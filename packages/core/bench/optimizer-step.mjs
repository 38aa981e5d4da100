// One optimizer update (applyGradients) on the weights of the 784-512-512-10 MLP (669,706 floats in six
// variables; the MLP tier's teacher of distill, the privacy study's target model), with core's fused
// update on and off (TRELLIS_FUSED_SGD=0 / TRELLIS_FUSED_ADAM=0, each in its own child process,
// interleaved), per backend and optimizer:
//   node packages/core/bench/optimizer-step.mjs [backends] [repeats]     (default trellis-native,wasm 3; build first)
// Prints the median ms per update of `repeats` child runs, each the mean of 200 updates after 20 warm-up ones.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { importDist } from './reference-models.mjs';

const SHAPES = [[784, 512], [512], [512, 512], [512], [512, 10], [10]];
const OPTIMIZERS = ['sgd', 'momentum', 'nesterov', 'adam'];

if (process.argv[2] === '--child') {
  const [, , , backend, name] = process.argv;
  const tf = await import('@tensorflow/tfjs-core');
  const core = await importDist('core');
  if (backend === 'trellis-native') await importDist('backend-native');
  await core.useBackend(backend, { threads: 1 });
  const vars = SHAPES.map((s, i) => tf.variable(tf.randomNormal(s, 0, 0.05, 'float32', i + 1), true, `w${i}`));
  const grads = Object.fromEntries(vars.map((v, i) => [v.name, tf.randomNormal(v.shape, 0, 0.01, 'float32', 100 + i)]));
  const opt = { sgd: () => tf.train.sgd(0.01), momentum: () => tf.train.momentum(0.01, 0.9), nesterov: () => tf.train.momentum(0.01, 0.9, true), adam: () => tf.train.adam(1e-3) }[name]();
  const step = () => opt.applyGradients(grads);
  for (let i = 0; i < 20; i++) step();
  vars[0].dataSync();
  const tensors = tf.memory().numTensors;
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) step();
  vars[0].dataSync();
  const ms = (performance.now() - t0) / 200;
  if (tf.memory().numTensors !== tensors) throw new Error(`tensor count grew: ${tensors} → ${tf.memory().numTensors}`);
  process.stdout.write(JSON.stringify({ ms }));
  process.exit(0);
}

const backends = (process.argv[2] ?? 'trellis-native,wasm').split(',');
const repeats = Number(process.argv[3] ?? 3);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const self = fileURLToPath(import.meta.url);
for (const backend of backends) {
  for (const name of OPTIMIZERS) {
    const times = { fused: [], tfjs: [] };
    for (let r = 0; r < repeats; r++) {
      for (const mode of ['tfjs', 'fused']) {
        const off = mode === 'tfjs' ? '0' : '1';
        const child = spawnSync(process.execPath, [self, '--child', backend, name], {
          encoding: 'utf8',
          env: { ...process.env, TRELLIS_FUSED_SGD: off, TRELLIS_FUSED_ADAM: off },
        });
        if (child.status !== 0) throw new Error(`${backend} ${name} ${mode}: ${child.stderr}`);
        times[mode].push(JSON.parse(child.stdout.trim().split('\n').pop()).ms);
      }
    }
    console.log(`${backend.padEnd(15)} ${name.padEnd(9)} tfjs's ops ${median(times.tfjs).toFixed(2)} ms, fused ${median(times.fused).toFixed(2)} ms per update (median of ${repeats})`);
  }
}
