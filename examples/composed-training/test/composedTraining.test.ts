import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mlp, Trainer, TrellisError, useBackend, type LayersModelAdapter, type TrainerPlugin } from '@trellis-ml/core';
import { loadMnist } from '@trellis-ml/datasets';
import { relaxLoss } from '@trellis-ml/privacy';
import { composedPlugins, randomUnits } from '../src/index.js';

const dirs: string[] = [];
beforeAll(async () => {
  await useBackend('wasm');
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// real MNIST, flattened; 1,000 images at batch 50 = 20 steps an epoch
const train = loadMnist({ split: 'train', limit: 1000, flatten: true });
const EPOCHS = 3;
const STEPS = EPOCHS * 20;

function model(): LayersModelAdapter {
  return mlp({ inputShape: [784], hidden: [64, 32], numClasses: 10, seed: 5 });
}

function weights(m: LayersModelAdapter): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(m.trainableVariables()).map(([k, v]) => [k, v.dataSync().slice() as Float32Array]));
}

/** Records the live tensor count at the end of every epoch (added last, after the five plugins). */
function tensorCounter(counts: number[]): TrainerPlugin {
  return { name: 'tensor-counter', apiVersion: 1, onEpochEnd: () => void counts.push(tf.memory().numTensors) };
}

async function run(options: { epochs?: number; resumeAfter?: number; checkpointDir?: string } = {}) {
  const m = model();
  const start = weights(m);
  const counts: number[] = [];
  const make = () => {
    const c = composedPlugins({ model: m, totalSteps: STEPS, seed: 5 });
    return { c, trainer: new Trainer({ model: m, seed: 11, batchSize: 50, optimizer: tf.train.adam(1e-3), plugins: [...c.plugins, tensorCounter(counts)], checkpointDir: options.checkpointDir }) };
  };
  let { c, trainer } = make();
  let history = [];
  if (options.resumeAfter) {
    await trainer.fit(train, { epochs: options.resumeAfter });
    trainer.dispose();
    ({ c, trainer } = make()); // a new process would build everything again, then resume
    history = await trainer.fit(train, { epochs: options.epochs ?? EPOCHS, resume: true });
  } else {
    history = await trainer.fit(train, { epochs: options.epochs ?? EPOCHS });
  }
  trainer.dispose();
  const end = weights(m);
  m.dispose();
  return { start, end, history, counts, composed: c };
}

describe('five techniques in one Trainer (privacy, distill, safety-units, retrain-cost, dynamic-depth)', () => {
  it('trains on MNIST with every plugin active: each logs its terms, the frozen units stay bit-identical under Adam, the rest learn', async () => {
    const r = await run();
    const last = r.history[r.history.length - 1]!;
    expect(Object.keys(last)).toEqual(expect.arrayContaining(['crl/relax', 'crl/center', 'distill/kd', 'energy_kWh', 'energy_kgCO2e']));
    expect(last).not.toHaveProperty('base'); // CRL replaces the base cross-entropy
    expect(last.loss!).toBeLessThan(r.history[0]!.loss!);
    const { layout, frozen } = r.composed;
    let frozenChecked = 0;
    let freeMoved = 0;
    for (const mod of layout) {
      const kernel = mod.aSide.find((s) => s.variable.endsWith('/kernel'))!.variable;
      const [rows, cols] = [r.start[kernel]!.length / mod.numUnits, mod.numUnits];
      for (let j = 0; j < cols; j++) {
        let moved = false;
        for (let i = 0; i < rows; i++) if (r.end[kernel]![i * cols + j] !== r.start[kernel]![i * cols + j]) moved = true;
        if (frozen[mod.id]![j]) {
          expect(moved, `${kernel} column ${j} of a frozen unit`).toBe(false);
          expect(r.end[`${mod.id}/bias`]![j]).toBe(r.start[`${mod.id}/bias`]![j]);
          frozenChecked++;
        } else if (moved) freeMoved++;
      }
    }
    expect(frozenChecked).toBe(6 + 3); // 10 % of 64 and of 32 units
    expect(freeMoved).toBe(64 + 32 - 9);
    expect(r.composed.energy.epochs.length).toBe(EPOCHS);
  });

  it('is reproducible: the same seed gives the same weights, and resuming from the checkpoint after epoch 1 gives the same weights as an uninterrupted run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-composed-'));
    dirs.push(dir);
    const [a, b, resumed] = [await run(), await run(), await run({ resumeAfter: 1, checkpointDir: dir })];
    for (const k of Object.keys(a.end)) {
      expect(b.end[k], k).toEqual(a.end[k]);
      expect(resumed.end[k], `${k} after resume`).toEqual(a.end[k]);
    }
    expect(resumed.history.map((h) => h.loss)).toEqual(a.history.map((h) => h.loss)); // the checkpoint carries the first epoch's logs
  });

  it('leaks no tensors across epochs', async () => {
    const r = await run({ epochs: 4 });
    expect(r.counts.length).toBe(4);
    expect(new Set(r.counts.slice(1)).size).toBe(1);
  });

  it('refuses a second loss-replacing plugin with a clear error (CRL and RelaxLoss both replace the cross-entropy)', async () => {
    const m = model();
    const c = composedPlugins({ model: m, totalSteps: STEPS, seed: 5 });
    const trainer = new Trainer({ model: m, seed: 11, batchSize: 50, plugins: [...c.plugins, relaxLoss({ alpha: 0.5 })] });
    const err = await trainer.fit(train, { epochs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrellisError);
    expect((err as TrellisError).code).toBe('BASE_LOSS_CONFLICT');
    expect((err as TrellisError).message).toMatch(/plugins "crl" and "relax-loss" each replace the base loss/);
    trainer.dispose();
    m.dispose();
  });

  it('draws the default frozen set from its seed: the same seed, the same units', () => {
    const m = model();
    const { layout, frozen } = composedPlugins({ model: m, totalSteps: 1, seed: 5 });
    expect(randomUnits(layout, 0.1, 5)).toEqual(frozen);
    expect(randomUnits(layout, 0.1, 6)).not.toEqual(frozen);
    m.dispose();
  });
});
