// Data-parallel training on both cores with core's `runDataParallel` + `dataParallelPlugin` (the
// 'wasm-dp2' bench config): two worker_threads, each with its own single-threaded wasm backend, its
// own copy of the model and core's Trainer on its half of every 128-sample batch; the plugin
// averages the halves' gradients through shared memory, so the copies apply the same update (the
// bench checks they end identical). With BatchNorm each half normalises with its own 64-sample
// statistics (unsynchronised BN), so the ResNet's numbers differ from single-process training.
import { fileURLToPath } from 'node:url';
import { BATCH, importDist, mnistBatches, referenceAdapter } from './reference-models.mjs';

const core = await importDist('core');
const { active, data } = core.dataParallelRank();

/** One worker: trains reference model `data.model` for about `data.seconds` (after a warm-up). */
async function worker() {
  const tf = await import('@tensorflow/tfjs-core');
  const tfl = await import('@tensorflow/tfjs-layers');
  await core.useBackend('wasm', { threads: 1 });
  const model = referenceAdapter(tfl, core, data.model);
  const { ds, nb } = await mnistBatches();
  let t0 = performance.now();
  // Logs this rank's elapsed time; the data-parallel plugin averages the logs over the ranks, so
  // every rank sees the same value and stops after the same step.
  const clock = { name: 'bench-clock', apiVersion: 1, onBatchEnd(ctx) { ctx.logs.elapsed = (performance.now() - t0) / 1000; } };
  const t = new core.Trainer({ model, optimizer: tf.train.adam(1e-3), seed: 1, batchSize: BATCH, plugins: [core.dataParallelPlugin(), clock] });
  let step = 0;
  const run = () => t.trainStep(ds.batchAt(Int32Array.from({ length: BATCH }, (_, i) => (step++ % nb) * BATCH + i)));
  for (let i = 0; i < 4; i++) await run();
  const before = tf.memory().numTensors;
  t0 = performance.now();
  let steps = 0;
  let logs;
  do {
    logs = await run();
    steps++;
  } while (logs.elapsed < data.seconds);
  const seconds = (performance.now() - t0) / 1000;
  core.dataParallelResult({ steps, seconds, loss: logs.loss, checksum: core.replicaChecksum(model), tensor_growth: tf.memory().numTensors - before });
  model.dispose();
  t.dispose();
}

/**
 * Trains reference model `model` with two data-parallel workers for about `seconds`; returns
 * { steps, seconds, samples_per_s, last, replicas_identical, tensor_growth }.
 */
export async function dataParallelTrain(model, seconds) {
  const res = await core.runDataParallel({ script: fileURLToPath(import.meta.url), workers: 2, data: { model, seconds } });
  const sec = Math.max(...res.map((r) => r.seconds));
  const steps = res[0].steps;
  return {
    steps, seconds: +sec.toFixed(3), samples_per_s: +((steps * BATCH) / sec).toFixed(1),
    last: +res[0].loss.toFixed(4), replicas_identical: res.every((r) => r.checksum === res[0].checksum && r.steps === steps),
    tensor_growth: Math.max(...res.map((r) => r.tensor_growth)),
  };
}

if (active) await worker();
