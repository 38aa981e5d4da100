import { Rng, Trainer, useBackend } from '@trellis-ml/core';
import { corrupt, loadMnist, type Severity } from '@trellis-ml/datasets';
import { beforeAll, describe, expect, it } from 'vitest';
import { arm, buildReproModel, CostPredictor, EnergyTracker, preIndex, resqueShift, retrainToTarget, stratifiedRows } from '../src/index.js';
// core's wasm backend with its training kernels (each test file runs in its own process)
beforeAll(async () => {
  await useBackend('wasm');
});

const norm = <T extends { x: Float32Array; withInputs(x: Float32Array): T }>(d: T): T => d.withInputs(d.x.map((v) => (v - 0.5) / 0.5));

describe('end to end on real MNIST (smoke tier, spec §10.6–10.7)', () => {
  it('control is 0, indices rise strictly with σ, a retraining run is measured and a prediction is made', async () => {
    const train = loadMnist({ split: 'train', limit: 3000 });
    const test = loadMnist({ split: 'test', limit: 1000 });
    const oldRaw = train.subset(stratifiedRows(train.labels, train.size, 320, 1));
    const testRaw = test.subset(stratifiedRows(test.labels, test.size, 200, 2));
    const model = buildReproModel('mlp', [28, 28, 1], 10, 1);
    const trainer = new Trainer({ model, seed: 1, batchSize: 32 });
    await trainer.fit(norm(oldRaw), { epochs: 3 });
    await new Promise((r) => setImmediate(r));
    trainer.dispose();
    const old = norm(oldRaw);
    const pre: number[] = [];
    const rep: number[] = [];
    const armV: number[] = [];
    const res: number[] = [];
    for (const s of [0, 2, 4, 5] as Severity[]) {
      const shifted = norm(corrupt(oldRaw, s === 0 ? 'clean' : 'gauss', s, 7, { quantize: 'round' }));
      const p = await preIndex(model, old, shifted, { combine: { baselineCorrect: true }, clustering: { seed: 1 } });
      pre.push(p.value);
      rep.push(p.p);
      armV.push((await arm(model, old, shifted)).value);
      res.push((await resqueShift(model, old, shifted, { layer: 'fc2' })).value);
      await new Promise((r) => setImmediate(r));
      if (s === 0) for (const b of [16, 32, 64]) expect(Object.values(p.distances[b]!).every((v) => v === 0)).toBe(true);
    }
    expect(pre[0]).toBe(0);
    expect(armV[0]).toBe(0);
    expect(res[0]).toBe(0);
    // the representation term rises strictly; the clustering term is noisy on 320 images, so the
    // combined index is only required to exceed the control at the two strongest levels
    expect(pre[2]).toBeGreaterThan(0);
    expect(pre[3]).toBeGreaterThan(pre[2]!);
    for (let i = 1; i < 4; i++) {
      expect(rep[i]).toBeGreaterThan(rep[i - 1]!);
      expect(armV[i]).toBeGreaterThan(armV[i - 1]!);
      expect(res[i]).toBeGreaterThan(res[i - 1]!);
    }
    const tracker = new EnergyTracker({ timer: false, cpu: { method: 'process', tdpWatts: 85 }, sampleMs: 200 });
    const cost = await retrainToTarget(model, norm(corrupt(oldRaw, 'gauss', 4, 7, { quantize: 'round' })), norm(corrupt(testRaw, 'gauss', 4, 8, { quantize: 'round' })),
      { target: 0.99, maxEpochs: 1, seed: 1, tracker });
    expect(cost.censored).toBe(true);
    expect(cost.steps).toBe(10);
    expect(cost.energy.energyKind).toBe('modelled');
    expect(cost.energy.kWh).toBeGreaterThan(0);
    // by hand from the log: E = PUE × Σ (TDP · Δcpu/Δt / cores + RAM W) · Δt
    const inp = tracker.inputs();
    const joules = tracker.log.reduce((s, x) => s + ((inp.tdpWatts * x.processCpuS) / x.dtS / inp.logicalCores + x.ramW) * x.dtS, 0);
    expect(Math.abs((inp.pue * joules) / 3.6e6 - cost.energyIncludingEval.kWh) / cost.energyIncludingEval.kWh).toBeLessThan(1e-9);
    const predictor = CostPredictor.fit([{ index: pre[0]!, epochs: 1, kWh: 1e-4 }, { index: pre[2]!, epochs: 4, kWh: 4e-4 }, { index: pre[3]!, epochs: 9, kWh: 9e-4 }]);
    const p = predictor.predict(pre[1]!);
    expect(p.epochs.mean).toBeGreaterThan(1);
    expect(p.epochs.mean).toBeLessThan(4);
    expect(p.kWh!.mean).toBeCloseTo(p.epochs.mean * 1e-4, 12);
    model.dispose();
    void Rng;
  });
});
