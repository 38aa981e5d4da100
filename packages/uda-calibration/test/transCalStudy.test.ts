import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dataset, Trainer, useBackend } from '@trellis-ml/core';
import { corrupt, loadMnist } from '@trellis-ml/datasets';
import { experiment, headFeatures, mlpBn, transCalForModel } from '../src/index.js';

beforeAll(async () => {
  // real-data training runs on core's wasm backend (several times faster than cpu)
  await useBackend('wasm');
});

describe('TransCal on a trained model (MNIST, wasm backend)', () => {
  it('reads the head\'s 128-wide input features, fits T ≥ 1 and never reads a target label', async () => {
    const all = loadMnist({ split: 'train', limit: 1200 });
    const [train, validation] = all.split(0.75, 1);
    const model = mlpBn({ inputShape: [...train.shape], numClasses: 10, seed: 1 });
    await new Trainer({ model, seed: 1, batchSize: 50, optimizer: tf.train.adam(1e-3) }).fit(train, { epochs: 1 });
    const test = loadMnist({ split: 'test', limit: 300 });
    const target = corrupt(test, 'gaussian_noise', 5, 1);
    expect(headFeatures(model, validation).dim).toBe(128);
    const before = tf.memory().numTensors;
    const r = transCalForModel(model, { sourceTrain: train, sourceVal: validation, target: target.withoutLabels(), seed: 2 });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.temperature).toBeGreaterThanOrEqual(1);
    expect(Number.isFinite(r.estimatedAccuracy) && r.gap >= 0 && r.weightMean > 0).toBe(true);
    // The same inputs with scrambled labels give the same temperature: the target's labels are not read.
    const scrambled = Dataset.fromArrays({ x: target.x, shape: [...target.shape], labels: Int32Array.from(target.labels!, (l) => (l + 3) % 10), numClasses: 10 });
    expect(transCalForModel(model, { sourceTrain: train, sourceVal: validation, target: scrambled, seed: 2 }).temperature).toBe(r.temperature);
    expect(() => transCalForModel(model, { sourceTrain: train, sourceVal: validation.withoutLabels(), target, seed: 2 })).toThrow(/labelled source validation/);
    model.dispose();
  });

  it('the study adds a source+TransCal row beside source+TS with --set transcal=true', async () => {
    const out = await mkdtemp(join(tmpdir(), 'uda-tc-'));
    const result = await experiment.run({
      mode: 'quick', seed: 1, out, log: () => undefined,
      params: { datasets: 'mnist', trainSize: 300, valSize: 100, epochs: 1, targetSize: 100, shifts: 'gaussian_noise', severities: '5', methods: 'source', trajectoryPasses: 0, transcal: 'true' },
    });
    const report = await readFile(join(result.runDir, 'report.md'), 'utf8');
    expect(report).toContain('source+TransCal');
    expect(report).toContain('source+TS');
  });
});
