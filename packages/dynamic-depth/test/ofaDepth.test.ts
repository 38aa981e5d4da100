import * as tf from '@tensorflow/tfjs-core';
import { Rng, Trainer, type TrainerPlugin } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  OFA_DEPTH_PHASES,
  ofaDepth,
  ofaDepthSchedule,
  ofaLearningRate,
  ofaPhaseAt,
  ofaPhaseMenu,
  residualMLP,
  sampleDepths,
  trainOfaDepth,
  type OfaDepthOptions,
} from '../src/index.js';
import { ce, expectTrellisError, kd, rows, toyDataset, useCpu } from './helpers.js';

beforeAll(useCpu);


/** Menu d1, d2, d4 (shallowest first). */
const net = (seed = 1) => residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed });

describe('progressive shrinking schedule (pure functions)', () => {
  it("splits the fine-tuning steps 25 : 120 (OFA's epochs), each phase at least one step", () => {
    // 87 steps (the quick run: 3 epochs of 29 batches): 87 · 25/145 = 15 exactly
    expect(ofaDepthSchedule(87).map(({ start, steps }) => [start, steps])).toEqual([[0, 15], [15, 72]]);
    // 10 · 25/145 = 1.72 → 2
    expect(ofaDepthSchedule(10).map(({ start, steps }) => [start, steps])).toEqual([[0, 2], [2, 8]]);
    // 2 · 25/145 = 0.34 rounds to 0, but phase 1 keeps one step
    expect(ofaDepthSchedule(2).map(({ start, steps }) => [start, steps])).toEqual([[0, 1], [1, 1]]);
    // three equal phases over 4 steps: ends at round(4/3) = 1, round(8/3) = 3, 4
    const three = [{ length: 1, lrRatio: 1, drop: 2 }, { length: 1, lrRatio: 1, drop: 1 }, { length: 1, lrRatio: 1, drop: 0 }];
    expect(ofaDepthSchedule(4, three).map(({ start, steps }) => [start, steps])).toEqual([[0, 1], [1, 2], [3, 1]]);
    // OFA's rates relative to the full-network stage's 3e-2: 2.5e-3/3e-2 = 1/12, 7.5e-3/3e-2 = 1/4
    expect(OFA_DEPTH_PHASES.map((p) => p.lrRatio)).toEqual([2.5e-3 / 3e-2, 7.5e-3 / 3e-2]);
    expect(OFA_DEPTH_PHASES[0]!.lrRatio).toBeCloseTo(1 / 12, 12);
    expect(OFA_DEPTH_PHASES[1]!.lrRatio).toBeCloseTo(1 / 4, 12);
    const s = ofaDepthSchedule(87);
    expect([0, 14, 15, 86, 200].map((step) => ofaPhaseAt(s, step).phase)).toEqual([0, 0, 1, 1, 1]);
  });

  it('learning rate: each phase restarts at lrRatio · lr and decays by a cosine to 0', () => {
    const [p1, p2] = ofaDepthSchedule(87);
    expect(ofaLearningRate(1e-3, p1!, 0)).toBeCloseTo(1e-3 / 12, 15);
    expect(ofaLearningRate(1e-3, p2!, 15)).toBeCloseTo(2.5e-4, 15);
    expect(ofaLearningRate(1e-3, p2!, 51)).toBeCloseTo(1.25e-4, 15); // half way: cos(π/2) = 0
    expect(ofaLearningRate(1e-3, p2!, 86)).toBeCloseTo((2.5e-4 * (1 - Math.cos(Math.PI / 72))) / 2, 15);
    expect(ofaLearningRate(1e-3, p1!, 14)).toBeCloseTo(((1e-3 / 12) * (1 + Math.cos((14 * Math.PI) / 15))) / 2, 15);
  });

  it('phase menus leave out the shallowest depths; sampling draws uniformly with replacement', () => {
    expect(ofaPhaseMenu(['d2', 'd4', 'd6'], 1)).toEqual(['d4', 'd6']);
    expect(ofaPhaseMenu(['d2', 'd4', 'd6', 'd8'], 1)).toEqual(['d4', 'd6', 'd8']);
    expect(ofaPhaseMenu(['d2', 'd4', 'd6'], 0)).toEqual(['d2', 'd4', 'd6']);
    expect(ofaPhaseMenu(['d2', 'd4', 'd6'], 9)).toEqual(['d6']); // never fewer than the deepest
    const rng = new Rng(7);
    const phase1 = Array.from({ length: 500 }, () => sampleDepths(['d4', 'd6'], 2, rng)).flat();
    expect(phase1).not.toContain('d2');
    const counts = { d2: 0, d4: 0, d6: 0 };
    for (const d of Array.from({ length: 1500 }, () => sampleDepths(['d2', 'd4', 'd6'] as const, 2, rng)).flat()) counts[d]++;
    for (const c of Object.values(counts)) expect(Math.abs(c / 3000 - 1 / 3)).toBeLessThan(0.03);
    // with replacement: a step's two draws coincide about a third of the time
    const same = Array.from({ length: 3000 }, () => sampleDepths(['d2', 'd4', 'd6'], 2, rng)).filter(([a, b]) => a === b).length;
    expect(Math.abs(same / 3000 - 1 / 3)).toBeLessThan(0.03);
  });

  it('refuses bad schedules and counts', async () => {
    expect((await expectTrellisError(() => ofaDepthSchedule(1), 'BAD_OPTION')).problem).toContain('cannot give each of its 2 phases a step');
    await expectTrellisError(() => ofaDepthSchedule(2.5), 'BAD_OPTION');
    await expectTrellisError(() => ofaDepthSchedule(10, []), 'BAD_OPTION');
    expect((await expectTrellisError(() => ofaDepthSchedule(10, [{ length: 0, lrRatio: 1, drop: 0 }]), 'BAD_OPTION')).problem).toContain('length 0');
    expect((await expectTrellisError(() => ofaDepthSchedule(10, [{ length: 1, lrRatio: -1, drop: 0 }]), 'BAD_OPTION')).problem).toContain('lrRatio -1');
    expect((await expectTrellisError(() => ofaDepthSchedule(10, [{ length: 1, lrRatio: 1, drop: 0.5 }]), 'BAD_OPTION')).problem).toContain('drop 0.5');
    await expectTrellisError(() => ofaLearningRate(0, ofaDepthSchedule(10)[0]!, 0), 'BAD_OPTION');
    await expectTrellisError(() => sampleDepths(['d2'], 0, new Rng(1)), 'BAD_OPTION');
    await expectTrellisError(() => sampleDepths([], 2, new Rng(1)), 'EMPTY_DEPTH_MENU');
  });
});

describe('ofaDepth plugin', () => {
  async function run(opts: Partial<OfaDepthOptions> = {}, epochs = 1, baseLoss: 'crossEntropy' | 'none' = 'crossEntropy') {
    const model = net();
    const plugin = ofaDepth({ totalSteps: 24, lr: 0.01, ...opts });
    const seen: Array<{ step: number; depths: string[]; lr: number }> = [];
    const opt = tf.train.adam(0.01);
    const spy: TrainerPlugin = {
      name: 'spy', apiVersion: 1, after: ['ofa-depth'],
      onBatchEnd: (ctx) => void seen.push({ step: ctx.step, depths: plugin.sampled().map((c) => c.id), lr: (opt as unknown as { learningRate: number }).learningRate }),
    };
    const trainer = new Trainer({ model, seed: 5, batchSize: 8, plugins: [plugin, spy], optimizer: opt, baseLoss });
    const history = await trainer.fit(toyDataset(96), { epochs });
    return { model, plugin, trainer, history, seen };
  }

  it('one step: the base term is the first depth\'s CE, plus Σ KD from the frozen teacher and the other depth\'s CE (checked by hand)', async () => {
    for (const baseLoss of ['crossEntropy', 'none'] as const) {
      const model = net();
      const plugin = ofaDepth({ totalSteps: 6, lr: 0.01 });
      const opt = tf.train.adam(0.01);
      const trainer = new Trainer({ model, seed: 5, batchSize: 32, plugins: [plugin], optimizer: opt, baseLoss });
      await trainer.setup();
      const teacher = plugin.teacher()!;
      expect(teacher).not.toBe(model);
      const stem = (n: typeof model) => Array.from(n.trainableVariables()['stem/kernel']!.dataSync());
      expect(stem(teacher)).toEqual(stem(model)); // a copy of the model before fine-tuning
      const data = toyDataset(96);
      const idx = Int32Array.from([0, 4, 8, 13, 17, 22, 30, 31]);
      const probe = data.batchAt(idx);
      const y = Array.from(probe.y!.dataSync());
      const z = Object.fromEntries(['d1', 'd2', 'd4'].map((c) => [c, rows(model.forward(probe.x, { config: c, training: true }))]));
      const zt = rows(teacher.forward(probe.x, { config: 'd4' }));
      probe.x.dispose();
      probe.y!.dispose();
      const logs = await trainer.trainStep(data.batchAt(idx));
      const [a, b] = plugin.sampled().map((c) => c.id) as [string, string];
      // step 0 is in phase 1 (6 · 25/145 = 1.03 → steps 0..0), which leaves out the shallowest depth d1
      expect([a, b].every((d) => d === 'd2' || d === 'd4')).toBe(true);
      expect((opt as unknown as { learningRate: number }).learningRate).toBeCloseTo(0.01 / 12, 12);
      const expected: Record<string, number> = {
        'ofa-depth/kd': kd(zt, z[a]!, 1) + kd(zt, z[b]!, 1),
        ...(baseLoss === 'crossEntropy' ? { base: ce(z[a]!, y), 'ofa-depth/ce': ce(z[b]!, y) } : { 'ofa-depth/ce': ce(z[a]!, y) + ce(z[b]!, y) }),
      };
      for (const [k, v] of Object.entries(expected)) expect(logs[k], k).toBeCloseTo(v, 5);
      expect(logs.loss).toBeCloseTo(ce(z[a]!, y) + ce(z[b]!, y) + kd(zt, z[a]!, 1) + kd(zt, z[b]!, 1), 4);
      // the teacher is frozen: the step moved the model, not the teacher
      expect(stem(teacher)).not.toEqual(stem(model));
      expect(model.depth.id).toBe('d4');
      trainer.dispose();
      model.dispose();
    }
  });

  it('samples only the deep depths in phase 1 and the whole menu in phase 2, with the phase rates', async () => {
    const { model, trainer, seen } = await run({}, 2);
    // 24 steps: phase 1 is steps 0..3 (24 · 25/145 = 4.14 → 4)
    expect(seen).toHaveLength(24);
    for (const s of seen.slice(0, 4)) expect(s.depths).not.toContain('d1');
    expect(seen.slice(4).some((s) => s.depths.includes('d1'))).toBe(true);
    for (const s of seen) expect(s.depths).toHaveLength(2);
    const spans = ofaDepthSchedule(24);
    for (const s of seen) expect(s.lr).toBeCloseTo(ofaLearningRate(0.01, ofaPhaseAt(spans, s.step), s.step), 12);
    expect(model.depth.id).toBe('d4');
    trainer.dispose();
    model.dispose();
  });

  it('keeps the tensor count flat across epochs, frees its teacher copy, and the same seed gives the same numbers', async () => {
    const start = tf.memory().numTensors;
    const r1 = await run({}, 1);
    const before = tf.memory().numTensors;
    await r1.trainer.fit(toyDataset(96), { epochs: 1 });
    expect(tf.memory().numTensors).toBe(before);
    const r2 = await run({}, 1);
    expect(r2.history.map((e) => e.loss)).toEqual(r1.history.slice(0, 1).map((e) => e.loss));
    expect(r2.seen.map((s) => s.depths)).toEqual(r1.seen.slice(0, 12).map((s) => s.depths));
    for (const r of [r1, r2]) {
      r.trainer.dispose();
      r.model.dispose();
    }
    expect(tf.memory().numTensors).toBe(start);
  });

  it('refuses bad options, a teacher of other classes and a model that is not depth-switchable', async () => {
    expect((await expectTrellisError(() => ofaDepth({ totalSteps: 1 }), 'BAD_OPTION')).problem).toContain('2 phases');
    await expectTrellisError(() => ofaDepth({ totalSteps: 10, subnetsPerStep: 0 }), 'BAD_OPTION');
    await expectTrellisError(() => ofaDepth({ totalSteps: 10, kdRatio: -1 }), 'BAD_OPTION');
    await expectTrellisError(() => ofaDepth({ totalSteps: 10, temperature: 0 }), 'BAD_OPTION');
    expect((await expectTrellisError(() => ofaDepth({ totalSteps: 10, lr: -1 }), 'BAD_OPTION')).problem).toContain('lr -1');
    await expectTrellisError(() => ofaDepth({ totalSteps: 10, phases: [{ length: 25, lrRatio: 0, drop: 1 }] }), 'BAD_OPTION');
    await expectTrellisError(() => (ofaDepth as (o?: unknown) => unknown)(), 'BAD_OPTION');
    const model = net();
    const other = residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 5, seed: 2 });
    const t = new Trainer({ model, seed: 1, plugins: [ofaDepth({ totalSteps: 10, teacher: other })] });
    await expectTrellisError(() => t.setup(), 'TEAM_MISMATCH');
    t.dispose();
    const { mlp } = await import('@trellis-ml/core');
    const plain = mlp({ inputShape: [8], hidden: [4], numClasses: 3, seed: 1 });
    const t2 = new Trainer({ model: plain, seed: 1, plugins: [ofaDepth({ totalSteps: 10 })] });
    await expectTrellisError(() => t2.setup(), 'NOT_DEPTH_SWITCHABLE');
    t2.dispose();
    for (const m of [model, other, plain]) m.dispose();
  });

  it('trainOfaDepth: full-depth training, then the shrinking phases; every depth improves on the untrained net and nothing leaks', async () => {
    const start = tf.memory().numTensors;
    const model = net();
    const data = toyDataset(96);
    const { depthAccuracy } = await import('../src/index.js');
    const untrained = model.configs.map((c) => depthAccuracy(model, data, c));
    const r = await trainOfaDepth(model, data, { epochs: 2, fullDepthEpochs: 2, batchSize: 16, lr: 0.01, seed: 3 });
    expect(r.fullDepthSeconds).toBeGreaterThan(0);
    expect(r.seconds).toBeGreaterThanOrEqual(r.fullDepthSeconds);
    expect(r.history).toHaveLength(2);
    expect(r.history[0]!['ofa-depth/kd']).toBeGreaterThanOrEqual(0);
    expect(model.depth.id).toBe('d4');
    const trained = model.configs.map((c) => depthAccuracy(model, data, c));
    trained.forEach((a, i) => expect(a).toBeGreaterThan(Math.max(0.5, untrained[i]!)));
    model.dispose();
    expect(tf.memory().numTensors).toBe(start);
    const bad = net();
    await expectTrellisError(() => trainOfaDepth(bad, data, { epochs: 1, fullDepthEpochs: -1, seed: 1 }), 'BAD_EPOCHS');
    bad.dispose();
  });
});
