// Data-parallel training on both cores, the alternative to wasm threads that issue 3 names: two
// worker_threads, each with its own single-threaded wasm backend, its own copy of the model (same
// seed, so the same initial weights) and core's Trainer. Each trains on its half of every batch
// (64 of 128 samples); a Trainer plugin averages the two halves' gradients through a
// SharedArrayBuffer in `transformGradients` (synchronous: Atomics.wait), and both apply the same
// averaged gradient with the same Adam state, so the copies stay identical (checked at the end).
// The mean of the two half-batch gradients is the full-batch gradient, except with BatchNorm:
// each half normalises with its own 64-sample statistics ("unsynchronised" BN), so the ResNet's
// numbers differ from single-process training. A benchmark config ('wasm-dp2'), not a core feature.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { BATCH, importDist, mnistBatches, referenceAdapter } from './reference-models.mjs';

const WORKERS = 2;
const HALF = BATCH / WORKERS;

/** A barrier for WORKERS threads over an Int32Array [arrived, generation]. */
function barrier(sync) {
  const gen = Atomics.load(sync, 1);
  if (Atomics.add(sync, 0, 1) === WORKERS - 1) {
    Atomics.store(sync, 0, 0);
    Atomics.add(sync, 1, 1);
    Atomics.notify(sync, 1);
  } else {
    while (Atomics.load(sync, 1) === gen) Atomics.wait(sync, 1, gen, 60_000);
  }
}

/**
 * The gradient-averaging plugin: writes this worker's gradients into its slot of `shared`
 * (two parities x WORKERS slots of `size` floats, parity = step mod 2, so a worker that runs
 * ahead never overwrites a slot the other is still reading), waits for the other, returns the mean.
 */
function averageGradients(tf, rank, shared, sync, size) {
  let step = 0;
  return {
    name: 'data-parallel-average',
    apiVersion: 1,
    order: 'pre',
    transformGradients(grads) {
      const c0 = performance.now();
      const names = Object.keys(grads).sort();
      const base = (step++ % 2) * WORKERS * size;
      const mine = new Float32Array(shared, 4 * (base + rank * size), size);
      let off = 0;
      for (const n of names) {
        const v = grads[n].dataSync();
        mine.set(v, off);
        off += v.length;
      }
      if (off !== size) throw new Error(`gradient size ${off} != ${size}`);
      const c1 = performance.now();
      barrier(sync);
      const c2 = performance.now();
      // (Two workers: `theirs` is the other slot.) mean = (mine + theirs) · 0.5 on the backend's own kernels: float addition commutes and ·0.5 is
      // exact, so both workers get bit-identical gradients (the same values as (slot0 + slot1) / 2).
      const theirs = new Float32Array(shared, 4 * (base + (1 - rank) * size), size);
      const out = {};
      off = 0;
      for (const n of names) {
        const len = grads[n].size;
        out[n] = tf.tidy(() => tf.mul(tf.add(grads[n], tf.tensor(theirs.subarray(off, off + len), grads[n].shape, 'float32')), 0.5));
        off += len;
      }
      if (process.env.DP_DEBUG) console.error(`rank ${rank} write ${(c1 - c0).toFixed(1)} wait ${(c2 - c1).toFixed(1)} avg ${(performance.now() - c2).toFixed(1)} ms`);
      return out;
    },
  };
}

async function worker() {
  const { rank, model, seconds, shared, syncBuf, size } = workerData;
  const sync = new Int32Array(syncBuf);
  const tf = await import('@tensorflow/tfjs-core');
  const tfl = await import('@tensorflow/tfjs-layers');
  const core = await importDist('core');
  await core.useBackend('wasm', { threads: 1 });
  const copy = referenceAdapter(tfl, core, model);
  if (size === 0) {
    // First call: only the parameter count, to size the shared buffer.
    parentPort.postMessage({ size: Object.values(copy.trainableVariables()).reduce((a, v) => a + v.size, 0) });
    return;
  }
  const { ds, nb } = await mnistBatches();
  const batchAt = (s) => ds.batchAt(Int32Array.from({ length: HALF }, (_, i) => (s % nb) * BATCH + rank * HALF + i));
  const plugin = averageGradients(tf, rank, shared, sync, size);
  const t = new core.Trainer({ model: copy, optimizer: tf.train.adam(1e-3), seed: 1, batchSize: BATCH, plugins: [plugin] });
  let step = 0;
  let loss = NaN;
  const run = async () => {
    loss = (await t.trainStep(batchAt(step++))).loss;
  };
  await run();
  const w0 = performance.now();
  for (let i = 0; i < 3; i++) await run();
  const perStep = (performance.now() - w0) / 3000;
  // Rank 0 decides how many steps both run (they must agree, or the barrier deadlocks).
  const counts = new Int32Array(syncBuf, 8, 1);
  if (rank === 0) Atomics.store(counts, 0, Math.max(4, Math.round(seconds / perStep)));
  barrier(sync);
  const steps = Atomics.load(counts, 0);
  const before = tf.memory().numTensors;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await run();
  const sec = (performance.now() - t0) / 1000;
  let checksum = 0;
  for (const v of Object.values(copy.trainableVariables())) {
    const d = v.dataSync();
    for (let i = 0; i < d.length; i += 7) checksum += d[i] * ((i % 13) + 1);
  }
  parentPort.postMessage({ rank, steps, seconds: sec, loss, checksum, tensor_growth: tf.memory().numTensors - before });
  copy.dispose();
  t.dispose();
}

const runWorker = (data) =>
  new Promise((resolve, reject) => {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: data });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`data-parallel worker exited with ${code}`)));
  });

/**
 * Trains reference model `model` with two data-parallel workers for about `seconds`; returns
 * { steps, seconds, samples_per_s, last, replicas_identical, tensor_growth }.
 */
export async function dataParallelTrain(model, seconds) {
  const { size } = await runWorker({ rank: 0, model, seconds, size: 0, shared: null, syncBuf: new SharedArrayBuffer(12) });
  const shared = new SharedArrayBuffer(4 * 2 * WORKERS * size);
  const syncBuf = new SharedArrayBuffer(12);
  const res = await Promise.all(Array.from({ length: WORKERS }, (_, rank) => runWorker({ rank, model, seconds, shared, syncBuf, size })));
  const sec = Math.max(...res.map((r) => r.seconds));
  const steps = res[0].steps;
  return {
    steps, seconds: +sec.toFixed(3), samples_per_s: +((steps * BATCH) / sec).toFixed(1),
    last: +((res[0].loss + res[1].loss) / 2).toFixed(4), replicas_identical: res.every((r) => r.checksum === res[0].checksum),
    tensor_growth: Math.max(...res.map((r) => r.tensor_growth)),
  };
}

if (!isMainThread && workerData?.model) await worker();
