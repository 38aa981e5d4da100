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
// 'native-tN-onednn' / '-openblas' / '-openblas-threads' (that GEMM implementation),
// 'native-tN-active' (the same with OMP_WAIT_POLICY=active), 'wasm-tN' (core's useBackend('wasm')),
// 'cpu'. For each model the PyTorch reference runs right before the native configs (interleaved,
// so a change in the machine's load hits both sides alike), then the script prints
//   model=<m> native_ratio=<trellis native 2-core samples/s / best PyTorch 2-thread config>
// PyTorch runs when /usr/bin/python3 imports torch and torch_bench.py is found
// (TORCH_BENCH=<path>, default <repo>/../shared/bench/torch_bench.py, where the workspace keeps it).
import { appendFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BATCH, gflops, importDist, mnistBatches, printProfile, referenceTrainer, runJsonChild, runTorch, torchAvailable, torchBenchPath } from '../../core/bench/reference-models.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PKG = path.join(HERE, '..');

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
  const core = await importDist('core');
  const native = await import(pathToFileURL(path.join(PKG, 'dist', 'index.js')).href);
  let info;
  const m = /^native-t(\d+)/.exec(config);
  if (m) {
    const gemm = /-(onednn|openblas-threads|openblas)\b/.exec(config)?.[1];
    info = await native.useNativeBackend({ threads: Number(m[1]), ...(gemm ? { gemm } : {}) });
    if (!info.loaded) throw new Error(`native backend not available: ${info.reason}`);
  } else if (config.startsWith('wasm')) {
    const t = /-t(\d+)$/.exec(config);
    info = await core.useBackend('wasm', { threads: t ? Number(t[1]) : 1 });
  } else if (config === 'cpu') info = await core.useBackend('cpu');
  else throw new Error(`unknown config ${config}`);

  const { batchAt } = await mnistBatches();
  const { adapter, trainer } = referenceTrainer(tf, tfl, core, name);
  let step = 0;
  let loss = NaN;
  const run = async () => {
    const logs = await trainer.trainStep(batchAt(step++));
    loss = logs.loss;
    if (process.env.BENCH_DEBUG) console.error(step, logs);
  };
  // Warm-up: at least 3 steps and 2 s (V8 optimises the JS around the kernels over the first
  // seconds, the buffer pool fills), or 1 more step when a step is slow.
  const w0 = performance.now();
  await run();
  const slow = performance.now() - w0 > 2000;
  for (let i = 0; i < (slow ? 1 : 3) || (!slow && performance.now() - w0 < 2000); i++) await run();
  if (process.env.BENCH_PROFILE) {
    await printProfile(tf, `${config} ${name}`, run);
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
function runChild(config, model, seconds, rows, emit) {
  const env = { ...process.env };
  if (config.endsWith('-active')) env.OMP_WAIT_POLICY = 'active';
  const args = ['--child', config, '--model', model, '--seconds', String(seconds)];
  rows.push(...runJsonChild(fileURLToPath(import.meta.url), args, { kind: 'throughput', framework: 'tfjs', config, model }, emit, env));
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
  const withTorch = a.torch !== 'off' && torchAvailable(torchBenchPath());
  const load = os.loadavg().map((v) => +v.toFixed(2));
  emit({ kind: 'env', node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '?', loadavg_start: load, torch: withTorch, batch: BATCH });
  if (!existsSync(path.join(PKG, 'build', 'Release', 'trellis_native.node'))) {
    console.error('native addon not built: run `npm run build:native -w @trellis-ml/backend-native` (after apt-get install -y libopenblas-dev libdnnl-dev)');
  }
  const rows = [];
  const models = a.models.split(',');
  const configs = a.configs.split(',');
  for (const model of models) {
    if (withTorch) rows.push(...runTorch(model, a.torchThreads, emit));
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
