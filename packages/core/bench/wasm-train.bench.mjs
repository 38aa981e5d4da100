#!/usr/bin/env node
// Training throughput (samples/s) of the three reference models on the cpu backend, stock wasm,
// and wasm with Trellis's training kernels (registerWasmTrainingKernels), batch 128, Adam 1e-3,
// softmax cross-entropy on logits: the same models as /work/shared/bench/torch_bench.py
//   M1 'mlp'    784-512-512-10
//   M2 'cnn'    conv3x3x16-pool-conv3x3x32-pool-dense128-dense10
//   M3 'resnet' stem conv3x3(32)+BN+ReLU, one basic block per stage (32, 64/2, 128/2), GAP, dense10
//
//   npm run build   # the script imports packages/core/dist
//   node packages/core/bench/wasm-train.bench.mjs [--models mlp,cnn,resnet] [--cpu-models mlp,cnn]
//        [--configs cpu,wasm-stock,wasm-stock+missing,wasm-trellis,wasm-trellis-t2]
//        [--seconds 20] [--json out.jsonl] [--profile]
// (defaults: configs cpu,wasm-stock,wasm-trellis; the cpu ResNet, ~13 min per batch, is skipped
// unless --cpu-models includes it.) TRELLIS_CORE_DIST=<dir> points at another build of core.
//
// Configs: 'cpu' (pure JS), 'wasm-stock' (tfjs-backend-wasm as shipped: cannot train convolutions),
// 'wasm-stock+missing' (stock plus only the kernels it lacks), 'wasm-trellis' (useBackend('wasm')),
// 'wasm-trellis-tN' (the same with N threads, Node workaround; see useBackend).
// Every configuration runs in its own child process (kernel registrations are process-wide and the
// wasm backend's thread count is fixed once it starts). Data are synthetic MNIST-shaped batches
// (28x28x1 in [0,1), 10 classes): throughput does not depend on the pixel values.
// Each measurement: 2 warm-up steps, then steps until --seconds have passed (at least 3, at most
// 64); samples/s = steps * 128 / time. When one step takes over --seconds/4 (the cpu backend on the
// CNNs: minutes per step for the ResNet) it is 1 warm-up step and 1 measured step. The loss is read
// back every step (as a Trainer does).
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import os from 'node:os';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DIST = process.env.TRELLIS_CORE_DIST ?? path.join(HERE, '..', 'dist');
const BATCH = 128;
const MACS = {
  mlp: 784 * 512 + 512 * 512 + 512 * 10,
  cnn: 28 * 28 * 9 * 1 * 16 + 14 * 14 * 9 * 16 * 32 + 7 * 7 * 32 * 128 + 128 * 10,
  resnet:
    28 * 28 * 9 * 1 * 32 + 2 * 28 * 28 * 9 * 32 * 32 + 14 * 14 * 9 * 32 * 64 + 14 * 14 * 9 * 64 * 64 +
    14 * 14 * 32 * 64 + 7 * 7 * 9 * 64 * 128 + 7 * 7 * 9 * 128 * 128 + 7 * 7 * 64 * 128 + 128 * 10,
};

function args() {
  const a = { models: 'mlp,cnn,resnet', cpuModels: 'mlp,cnn', configs: 'cpu,wasm-stock,wasm-trellis', seconds: 20, json: null, profile: false, child: null };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i++) {
    const k = v[i];
    if (k === '--models') a.models = v[++i];
    else if (k === '--configs') a.configs = v[++i];
    else if (k === '--cpu-models') a.cpuModels = v[++i];
    else if (k === '--seconds') a.seconds = Number(v[++i]);
    else if (k === '--json') a.json = v[++i];
    else if (k === '--profile') a.profile = true;
    else if (k === '--child') a.child = v[++i];
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

// ------------------------------------------------------------------ child: one config, all models
async function child(config, models, seconds, profile) {
  const tf = await import('@tensorflow/tfjs-core');
  const tfl = await import('@tensorflow/tfjs-layers'); // registers the gradients (before ours)
  const { useBackend } = await import(pathToFileURL(path.join(DIST, 'backend', 'useBackend.js')).href);
  let info;
  if (config === 'cpu') info = await useBackend('cpu');
  else if (config === 'wasm-stock') {
    await import('@tensorflow/tfjs-backend-wasm');
    await tf.setBackend('wasm');
    await tf.ready();
    info = { name: tf.getBackend(), kernels: 'stock', threads: 1 };
  } else if (config === 'wasm-stock+missing') {
    // Stock kernels plus only the kernels stock wasm lacks (what "just add Conv2DBackpropFilter"
    // would give): register everything, then put every replaced stock kernel/gradient back.
    info = await useBackend('wasm');
    for (const k of tf.getKernelsForBackend('wasm')) {
      if (k.__trellisOriginal) {
        tf.unregisterKernel(k.kernelName, 'wasm');
        tf.registerKernel(k.__trellisOriginal);
      }
    }
    const g = tf.getGradient('FusedBatchNorm');
    if (g?.__trellisOriginal) tf.registerGradient(g.__trellisOriginal);
    await tf.setBackend('cpu').catch(() => {});
    await tf.setBackend('wasm');
    info = { name: tf.getBackend(), kernels: 'stock+missing', threads: 1 };
  } else if (config.startsWith('wasm-trellis')) {
    const m = /-t(\d+)$/.exec(config);
    info = await useBackend('wasm', { threads: m ? Number(m[1]) : 1 });
  } else throw new Error(`unknown config ${config}`);

  const ce = (logits, y) => tf.losses.softmaxCrossEntropy(y, logits);
  const L = tfl.layers;
  const build = {
    mlp: () =>
      tfl.sequential({
        layers: [
          L.flatten({ inputShape: [28, 28, 1] }),
          L.dense({ units: 512, activation: 'relu' }),
          L.dense({ units: 512, activation: 'relu' }),
          L.dense({ units: 10 }),
        ],
      }),
    cnn: () =>
      tfl.sequential({
        layers: [
          L.conv2d({ inputShape: [28, 28, 1], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
          L.maxPooling2d({ poolSize: 2 }),
          L.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
          L.maxPooling2d({ poolSize: 2 }),
          L.flatten(),
          L.dense({ units: 128, activation: 'relu' }),
          L.dense({ units: 10 }),
        ],
      }),
    resnet: () => {
      const bn = () => L.batchNormalization({ momentum: 0.9, epsilon: 1e-5 });
      const conv = (filters, k, strides) =>
        L.conv2d({ filters, kernelSize: k, strides, padding: k === 1 ? 'valid' : 'same', useBias: false });
      const block = (x, cin, cout, stride) => {
        let y = L.activation({ activation: 'relu' }).apply(bn().apply(conv(cout, 3, stride).apply(x)));
        y = bn().apply(conv(cout, 3, 1).apply(y));
        const sc = stride !== 1 || cin !== cout ? bn().apply(conv(cout, 1, stride).apply(x)) : x;
        return L.activation({ activation: 'relu' }).apply(L.add().apply([y, sc]));
      };
      const input = tfl.input({ shape: [28, 28, 1] });
      let x = L.activation({ activation: 'relu' }).apply(bn().apply(conv(32, 3, 1).apply(input)));
      x = block(x, 32, 32, 1);
      x = block(x, 32, 64, 2);
      x = block(x, 64, 128, 2);
      x = L.globalAveragePooling2d({}).apply(x);
      return tfl.model({ inputs: input, outputs: L.dense({ units: 10 }).apply(x) });
    },
  };

  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const nBatches = 4;
  const xs = [];
  const ys = [];
  for (let b = 0; b < nBatches; b++) {
    xs.push(tf.tensor4d(Float32Array.from({ length: BATCH * 784 }, rnd), [BATCH, 28, 28, 1]));
    ys.push(tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, () => Math.floor(rnd() * 10)), 'int32'), 10));
  }

  for (const name of models) {
    const base = { kind: 'throughput', framework: 'tfjs', config, backend: info.name, kernels: info.kernels, threads: info.threads, model: name, mode: 'train', batch: BATCH };
    const model = build[name]();
    const opt = tf.train.adam(1e-3);
    const vars = model.trainableWeights.map((w) => w.read());
    const step = (s) => {
      const x = xs[s % nBatches];
      const y = ys[s % nBatches];
      const { value, grads } = tf.variableGrads(() => ce(model.apply(x, { training: true }), y), vars);
      opt.applyGradients(grads);
      const loss = value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
      return loss;
    };
    try {
      // Warm-up: 2 steps, or 1 when a step is slow (cpu ResNet).
      const w0 = performance.now();
      step(0);
      const slow = performance.now() - w0 > (seconds * 1000) / 4;
      if (!slow) step(1);
      if (profile) {
        const p = await tf.profile(() => { step(0); });
        const byKernel = new Map();
        for (const k of p.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + k.kernelTimeMs);
        const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
        const top = [...byKernel.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
        console.error(`profile ${config} ${name}: ${total.toFixed(0)} ms in kernels\n` + top.map(([k, ms]) => `  ${k.padEnd(36)} ${ms.toFixed(1)} ms`).join('\n'));
        if (process.env.PROFILE_DETAIL) {
          const want = new Set(process.env.PROFILE_DETAIL.split(','));
          for (const k of p.kernels) if (want.has(k.name)) console.error(`    ${k.name} ${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes)} ${k.kernelTimeMs.toFixed(1)} ms`);
        }
      }
      const t0 = performance.now();
      let steps = 0;
      let loss = NaN;
      const before = tf.memory().numTensors;
      const minSteps = slow ? 1 : 3;
      while (steps < 64 && (steps < minSteps || performance.now() - t0 < seconds * 1000)) loss = step(2 + steps++);
      const sec = (performance.now() - t0) / 1000;
      const sps = (steps * BATCH) / sec;
      console.log(JSON.stringify({ ...base, steps, seconds: +sec.toFixed(3), samples_per_s: +sps.toFixed(1), gflops: +((sps * 6 * MACS[name]) / 1e9).toFixed(2), last: +loss.toFixed(4), tensor_growth: tf.memory().numTensors - before }));
    } catch (e) {
      console.log(JSON.stringify({ ...base, error: String(e?.message ?? e).split('\n')[0] }));
    }
    opt.dispose();
    model.dispose();
  }
}

// ------------------------------------------------------------------ parent: one child per config
async function main() {
  const a = args();
  if (a.child) {
    await child(a.child, a.models.split(','), a.seconds, a.profile);
    process.exit(0);
  }
  const rows = [];
  console.error(`node ${process.version}, ${os.cpus().length} logical cores (${os.cpus()[0]?.model ?? '?'}), batch ${BATCH}`);
  for (const config of a.configs.split(',')) {
    // Streamed, so a slow configuration (cpu ResNet) shows its results as they come.
    // The cpu backend needs ~13 min per ResNet batch: only with --cpu-models mlp,cnn,resnet.
    const models = config === 'cpu' ? a.models.split(',').filter((m) => a.cpuModels.split(',').includes(m)).join(',') : a.models;
    if (models === '') continue;
    const childArgs = [fileURLToPath(import.meta.url), '--child', config, '--models', models, '--seconds', String(a.seconds), ...(a.profile ? ['--profile'] : [])];
    const status = await new Promise((resolve) => {
      const c = spawn(process.execPath, childArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
      let buf = '';
      c.stdout.setEncoding('utf8');
      c.stdout.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (!line.startsWith('{')) continue;
          rows.push(JSON.parse(line));
          console.log(line);
          if (a.json) appendFileSync(a.json, line + '\n');
        }
      });
      c.on('close', resolve);
    });
    if (status !== 0) console.error(`${config}: child exited with ${status}`);
  }
  const models = a.models.split(',');
  const configs = a.configs.split(',');
  const cell = (c, m) => {
    const r = rows.find((x) => x.config === c && x.model === m);
    return r == null ? '-' : r.error ? 'fails' : String(r.samples_per_s);
  };
  console.error('\nsamples/s (training, batch 128)\n' + ['config'.padEnd(18), ...models.map((m) => m.padStart(10))].join('') + '\n' +
    configs.map((c) => [c.padEnd(18), ...models.map((m) => cell(c, m).padStart(10))].join('')).join('\n'));
  for (const r of rows) if (r.error) console.error(`${r.config} ${r.model}: ${r.error}`);
}

await main();
