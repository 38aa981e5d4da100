import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Dataset, Rng, Trainer, describeBackend, mlp, smallCnn, useBackend } from '@trellis-ml/core';
import { loadNativeKernels, nativeCallCounts, NATIVE_BACKEND_NAME } from '../src/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const nativeCalls = (name: string): number => nativeCallCounts()[name]?.native ?? 0;

const loaded = loadNativeKernels().loaded;

/** A seeded 10-class image set: class-dependent blobs plus noise (no download needed). */
function images(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 12 * 12);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = rng.int(10);
    labels[i] = c;
    for (let p = 0; p < 144; p++) {
      const r = Math.floor(p / 12);
      const col = p % 12;
      const on = Math.abs(r - (c % 5) * 2 - 1) < 2 && Math.abs(col - Math.floor(c / 5) * 6 - 3) < 3;
      x[i * 144 + p] = (on ? 0.8 : 0.1) + 0.1 * rng.uniform();
    }
  }
  return Dataset.fromArrays({ x, labels, shape: [12, 12, 1], numClasses: 10 });
}

async function trainLosses(backend: string, build: () => ReturnType<typeof mlp>, ds: Dataset, steps: number): Promise<number[]> {
  await tf.setBackend(backend);
  const model = build();
  const trainer = new Trainer({ model, optimizer: tf.train.adam(1e-3), seed: 3, batchSize: 32 });
  const losses: number[] = [];
  const before = tf.memory().numTensors;
  let after = before;
  for (let s = 0; s < steps; s++) {
    const idx = Int32Array.from({ length: 32 }, (_, i) => (s * 32 + i) % ds.size);
    const logs = await trainer.trainStep(ds.batchAt(idx));
    losses.push(logs['loss'] as number);
    if (s === 1) after = tf.memory().numTensors;
  }
  const end = tf.memory().numTensors;
  model.dispose();
  expect(end, `${backend}: tensor count flat across steps`).toBe(after);
  return losses;
}

describe.skipIf(!loaded)('Trainer on trellis-native', () => {
  it('core\'s useBackend records which native libraries and kernels run (the run record\'s backendLibraries)', async () => {
    await useBackend('trellis-native', { threads: 1 });
    const info = describeBackend();
    expect(info.kernels).toBe('trellis-native');
    expect(info.threads).toBe(1);
    expect(info.libraries).toMatch(/^oneDNN \d+\.\d+.*; OpenBLAS .* \(\w+ kernels\); gemm auto/);
    await tf.setBackend('cpu');
  });
  it('a CNN with batch norm and an MLP train to the same losses as on the cpu and the wasm backends', async () => {
    await useBackend('wasm'); // registers the wasm backend with core's training kernels
    const ds = images(256, 1);
    const cnn = (): ReturnType<typeof smallCnn> => smallCnn({ inputShape: [12, 12, 1], numClasses: 10, channels: [8, 16], dense: 32, batchNorm: true, seed: 5 });
    const net = (): ReturnType<typeof mlp> => mlp({ inputShape: [12, 12, 1], hidden: [64, 32], numClasses: 10, seed: 6 });
    for (const build of [cnn, net]) {
      const native = await trainLosses(NATIVE_BACKEND_NAME, build, ds, 8);
      expect(native.length).toBe(8);
      expect(native[7] as number).toBeLessThan(native[0] as number);
      for (const reference of ['cpu', 'wasm']) {
        const ref = await trainLosses(reference, build, ds, 8);
        for (let i = 0; i < ref.length; i++) {
          expect(Math.abs((native[i] as number) - (ref[i] as number)), `${reference} step ${i}`).toBeLessThan(1e-3 * Math.max(1, Math.abs(ref[i] as number)));
        }
      }
    }
    const counts = nativeCallCounts();
    for (const k of ['FusedConv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad', 'FusedBatchNorm', 'TrellisNativeBatchNormGrad', '_FusedMatMul']) {
      expect(counts[k]?.native ?? 0, k).toBeGreaterThan(0);
    }
    await tf.setBackend('cpu');
  });

  it('a run with the fused in-place updates (momentum SGD, Adam) resumed from its checkpoint ends with the uninterrupted run\'s weights, bit for bit', async () => {
    await tf.setBackend(NATIVE_BACKEND_NAME);
    const ds = images(256, 2);
    const build = (seed: number): ReturnType<typeof mlp> => mlp({ inputShape: [12, 12, 1], hidden: [32], numClasses: 10, seed });
    const optimizers: Array<[string, () => tf.Optimizer]> = [
      ['momentum', () => tf.train.momentum(0.02, 0.9)],
      ['adam', () => tf.train.adam(1e-3)],
    ];
    for (const [label, optimizer] of optimizers) {
      const fit = async (seed: number, options: { checkpointDir?: string; resume?: boolean; maxSteps?: number }): Promise<number[]> => {
        const model = build(seed);
        const trainer = new Trainer({ model, optimizer: optimizer(), seed: 4, batchSize: 32, checkpointDir: options.checkpointDir });
        await trainer.fit(ds, { epochs: 3, resume: options.resume, maxSteps: options.maxSteps });
        const weights = Object.values(model.trainableVariables()).flatMap((v) => Array.from(v.dataSync()));
        trainer.dispose();
        model.dispose();
        return weights;
      };
      const inPlace = nativeCalls(label === 'adam' ? 'TrellisNativeAdam(in place)' : 'TrellisNativeSgd(in place)');
      const uninterrupted = await fit(7, {});
      expect(nativeCalls(label === 'adam' ? 'TrellisNativeAdam(in place)' : 'TrellisNativeSgd(in place)'), label).toBeGreaterThan(inPlace);
      const dir = mkdtempSync(path.join(tmpdir(), 'trellis-native-resume-'));
      try {
        await fit(7, { checkpointDir: dir, maxSteps: 8 * 2 }); // "killed" after epoch 2 (8 batches an epoch)
        const resumed = await fit(99, { checkpointDir: dir, resume: true }); // another init: all from the checkpoint
        expect(resumed, label).toEqual(uninterrupted);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    await tf.setBackend('cpu');
  });
});
