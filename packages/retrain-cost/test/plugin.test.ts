import * as tf from '@tensorflow/tfjs-core';
import { Trainer } from '@trellis-ml/core';
import { describePluginConformance } from '@trellis-ml/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { energyTrackerPlugin, EnergyTracker, retrainToTarget, type EnergyProbes } from '../src/index.js';
import { noisy, randomData, tinyModel, useCpu } from './helpers.js';

beforeAll(useCpu);

/** A clock that advances 50 ms per reading, so every tick samples. */
function steppingProbes(): EnergyProbes {
  let t = 0;
  let proc = 0;
  return {
    now: () => (t += 50), machineCpu: () => ({ busy: t / 2, total: t }), processCpuSeconds: () => (proc += 0.04),
    logicalCores: () => 2, totalRamGiB: () => 8, processRamGiB: () => 1, rapl: () => null, gpuPowerW: () => null, cpuModel: () => 'fake', isArm: () => false,
  };
}

// The tracker is a Trainer plugin like any other: it passes the suite every plugin must pass.
describePluginConformance('energy-tracker', () => energyTrackerPlugin({ tracker: { probes: steppingProbes() } }));

describe('energyTrackerPlugin', () => {
  it('logs per-epoch energy, keeps tensors flat, does not change training, round-trips state', async () => {
    const data = randomData(96);
    const run = async (withPlugin: boolean) => {
      const model = tinyModel(4);
      const seen: number[] = [];
      const counts: number[] = [];
      const plugin = energyTrackerPlugin({ tracker: { probes: steppingProbes(), cpu: { method: 'load', tdpWatts: 40 }, sampleMs: 10 }, onEpoch: (e, r) => seen.push(r.kWh) });
      const trainer = new Trainer({ model, seed: 5, batchSize: 16, plugins: withPlugin ? [plugin] : [], onLog: () => void counts.push(tf.memory().numTensors) });
      const history = await trainer.fit(data, { epochs: 3 });
      trainer.dispose();
      model.dispose();
      return { history, seen, counts, plugin };
    };
    const a = await run(true);
    const b = await run(false);
    expect(a.history.map((h) => h.loss)).toEqual(b.history.map((h) => h.loss));
    expect(a.seen).toHaveLength(3);
    for (const h of a.history) {
      expect(h.energy_kWh).toBeGreaterThan(0);
      expect(h.energy_metered).toBe(0);
    }
    expect(a.seen[0]).toBe(a.history[0]!.energy_kWh);
    expect(new Set(a.counts).size).toBe(1);
    const state = JSON.parse(JSON.stringify(a.plugin.getState!()));
    const fresh = energyTrackerPlugin({ tracker: { probes: steppingProbes() } });
    fresh.setState!(state);
    expect(fresh.getState!()).toEqual(state);
    expect(fresh.epochs).toHaveLength(3);
    for (const hook of ['transformTargets', 'lossTerms', 'transformGradients'] as const) expect(a.plugin[hook]).toBeUndefined();
  });
});

describe('retrainToTarget', () => {
  it('counts steps to the target, flags censored runs, keeps tensors flat, and is seed-deterministic', async () => {
    const train = randomData(160, 5, 12, 5);
    const test = randomData(80, 6, 12, 5);
    const go = async (target: number, maxEpochs: number) => {
      const model = tinyModel(7);
      const tracker = new EnergyTracker({ probes: steppingProbes(), timer: false, cpu: { method: 'constant', tdpWatts: 10 } });
      const before = tf.memory().numTensors;
      const r = await retrainToTarget(model, noisy(train, 0.5), noisy(test, 0.5, 9), { target, maxEpochs, seed: 3, tracker, batchSize: 16 });
      const after = tf.memory().numTensors;
      model.dispose();
      return { r, leaked: after - before };
    };
    const reach = await go(0.6, 20);
    expect(reach.r.reached).toBe(true);
    expect(reach.r.steps).toBeGreaterThan(0);
    expect(reach.r.steps % 2 === 0 || reach.r.steps % 10 === 0).toBe(true); // evaluations every 2–3 steps (¼ of 10)
    expect(reach.r.evals[reach.r.evals.length - 1]!.accuracy).toBeGreaterThanOrEqual(0.6);
    expect(reach.r.evals.slice(0, -1).every((e) => e.accuracy < 0.6)).toBe(true);
    expect(reach.r.epochs).toBe(Math.max(1, Math.ceil(reach.r.steps / 10)));
    expect(reach.r.energy.kWh).toBeGreaterThan(0);
    expect(reach.r.energyIncludingEval.kWh).toBeGreaterThan(reach.r.energy.kWh);
    expect(reach.r.gradNormPerEpoch.every((g) => g > 0)).toBe(true);
    expect(reach.r.gradNormPerEpoch).toHaveLength(reach.r.epochs);
    // a run that stops mid-epoch records its last trained step's norm for that epoch (not the previous epoch's again)
    const mid = await go(0.4, 20);
    expect(mid.r.steps % 10).not.toBe(0);
    const norms = mid.r.gradNormPerEpoch;
    expect(norms).toHaveLength(mid.r.epochs);
    expect(norms[norms.length - 1]).toBeGreaterThan(0);
    expect(norms[norms.length - 1]).not.toBe(norms[norms.length - 2]);
    expect(reach.leaked).toBe(0);
    const again = await go(0.6, 20);
    expect(again.r.steps).toBe(reach.r.steps);
    const cap = await go(1, 2);
    expect(cap.r.censored).toBe(true);
    expect(cap.r.stopReason).toBe('cap');
    expect(cap.r.steps).toBe(20);
    await expect(retrainToTarget(tinyModel(), train, test, { target: 95, maxEpochs: 1, seed: 1 })).rejects.toThrow(/fraction/);
  });
  it('a stopped tracker passed in again measures this call only, not its earlier run', async () => {
    const clock = { t: 0 };
    const probes: EnergyProbes = { ...steppingProbes(), now: () => (clock.t += 50) };
    const tracker = new EnergyTracker({ probes, timer: false, cpu: { method: 'constant', tdpWatts: 10 }, ram: { method: 'fixed', watts: 0 } });
    tracker.start();
    clock.t += 3600e3; // an hour-long earlier run at 5 W
    expect(tracker.stop().durationS).toBeGreaterThan(3600);
    const model = tinyModel(7);
    const r = await retrainToTarget(model, randomData(32, 5), randomData(16, 6), { target: 1, maxEpochs: 1, seed: 3, tracker, batchSize: 16 });
    model.dispose();
    const all = r.energyIncludingEval;
    expect(all.durationS).toBeLessThan(60); // was 3600 s more: the earlier run's totals were carried over
    expect(all.durationS).toBeCloseTo(tracker.log.reduce((s, x) => s + x.dtS, 0), 9);
    expect(all.cpuKWh * 3.6e6).toBeCloseTo(5 * all.durationS, 9);
    expect(all.durationS).toBeGreaterThanOrEqual(r.energy.durationS);
  });
});
