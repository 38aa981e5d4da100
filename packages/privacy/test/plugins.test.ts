import * as tf from '@tensorflow/tfjs-core';
import { Dataset, mlp, Rng, Trainer, type TrainerPlugin } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { watchBatchReads } from '@trellis-ml/testkit';
import { coupledWeightDecay, crl, labelSmoothing, relaxLoss, srcm, stepLearningRate, type CRLState } from '../src/plugin.js';
import { relaxedCenterLoss, relaxedCrossEntropy } from '../src/relaxedLosses.js';
import { cpu, expectCode } from './helpers.js';

beforeAll(cpu);

function toyData(n = 64, seed = 1): Dataset {
  const rng = new Rng(seed);
  const x = rng.normalArray(n * 8);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = (x[i * 8]! > 0 ? 1 : 0) + (x[i * 8 + 1]! > 0 ? 2 : 0);
  return Dataset.fromArrays({ x, shape: [8], labels, numClasses: 4 });
}

function trainer(plugins: TrainerPlugin[], seed = 3, baseLoss?: 'crossEntropy' | 'none'): Trainer {
  return new Trainer({ model: mlp({ inputShape: [8], hidden: [16, 12], numClasses: 4, seed }), optimizer: tf.train.momentum(0.05, 0.9), plugins, seed, batchSize: 16, ...(baseLoss ? { baseLoss } : {}) });
}

async function steps(t: Trainer, data: Dataset, n: number): Promise<number[]> {
  const losses: number[] = [];
  let k = 0;
  while (k < n) for (const b of data.batches(16, { rng: new Rng(k) })) if (k++ < n) losses.push((await t.trainStep(b)).loss!); else b.x.dispose(), b.y?.dispose();
  return losses;
}

describe('defense plugins under core\'s Trainer', () => {
  const cases: Array<[string, () => TrainerPlugin[]]> = [
    ['crl', () => [crl({ alpha: 0.3 })]],
    ['relaxLoss kimlab', () => [relaxLoss({ alpha: 0.3 })]],
    ['relaxLoss original', () => [relaxLoss({ alpha: 0.3, variant: 'original' })]],
    ['srcm + relaxLoss', () => [srcm({ radius: 5, width: 1 }), relaxLoss({ alpha: 0.3 })]],
    ['label smoothing', () => [labelSmoothing({ epsilon: 0.1 })]],
  ];
  for (const [name, make] of cases) {
    it(`${name}: no tensor leak across steps, same seed → same losses`, async () => {
      const data = toyData();
      const a = trainer(make());
      await steps(a, data, 3);
      const before = tf.memory().numTensors;
      const la = await steps(a, data, 8);
      expect(tf.memory().numTensors).toBe(before);
      const b = trainer(make());
      await steps(b, data, 3);
      const lb = await steps(b, data, 8);
      expect(lb).toEqual(la);
      expect(la.every(Number.isFinite)).toBe(true);
      a.model.dispose(); a.dispose(); b.model.dispose(); b.dispose();
    });
  }

  it('CRL steps its centres with their own optimizer and round-trips its state', async () => {
    const data = toyData();
    const plugin = crl({ alpha: 0.3, featureTap: 'fc2' });
    const t = trainer([plugin]);
    await t.setup();
    const c0 = Array.from(t.trainableVariables().find(([n]) => n === 'crl:centers')![1].dataSync());
    await steps(t, data, 2);
    const state = plugin.getState!() as CRLState;
    expect(state.centers!.length).toBe(4 * 12);
    expect(state.centers).not.toEqual(c0);
    const restored = crl({ alpha: 0.3, featureTap: 'fc2' });
    restored.setState!(JSON.parse(JSON.stringify(state)) as CRLState);
    const t2 = trainer([restored], 9);
    await t2.setup();
    expect((restored.getState!() as CRLState).centers).toEqual(state.centers);
    expect((restored.getState!() as CRLState).velocity).toEqual(state.velocity);
    t.model.dispose(); t.dispose(); t2.model.dispose(); t2.dispose();
  });

  it('the relaxed schedule follows epoch parity (CRL/kimlab 1-based, original 0-based)', async () => {
    const data = toyData();
    const kim = relaxLoss({ alpha: 1e-3 });
    const orig = relaxLoss({ alpha: 1e-3, variant: 'original', name: 'orig' });
    const t1 = trainer([kim]);
    await t1.fit(data, { epochs: 1 });
    expect(kim.getState!().branches).toEqual({ abs: 0, descent: 4, flatten: 0 });
    const t2 = trainer([orig]);
    await t2.fit(data, { epochs: 1 });
    expect(orig.getState!().branches).toEqual({ abs: 4, descent: 0, flatten: 0 });
    t1.model.dispose(); t1.dispose(); t2.model.dispose(); t2.dispose();
  });

  it('a loss-replacing plugin switches off the base cross-entropy; two of them are refused', async () => {
    const t = trainer([relaxLoss({ alpha: 0.3 })], 3, 'crossEntropy');
    const logs = await t.trainStep(toyData().batchAt(Int32Array.from([0, 1, 2, 3])));
    expect(logs).not.toHaveProperty('base');
    expect(logs).toHaveProperty('relax-loss/relax');
    t.model.dispose(); t.dispose();
    const t2 = trainer([relaxLoss({ alpha: 0.3 }), crl({ alpha: 0.3 })], 3);
    await expect(t2.trainStep(toyData().batchAt(Int32Array.from([0, 1, 2, 3])))).rejects.toMatchObject({ code: 'BASE_LOSS_CONFLICT' });
    t2.model.dispose(); t2.dispose();
  });

  it('refuses a missing options object, an unknown RelaxLoss variant and a bad step-LR schedule', () => {
    expect(expectCode(() => relaxLoss(undefined as never), 'BAD_OPTION').problem).toBe('relaxLoss needs an options object, got undefined');
    expectCode(() => coupledWeightDecay(undefined as never), 'BAD_OPTION');
    expectCode(() => stepLearningRate(undefined as never), 'BAD_OPTION');
    expect(expectCode(() => relaxLoss({ alpha: 0.3, variant: 'orignal' as never }), 'BAD_OPTION').problem).toContain('unknown RelaxLoss variant "orignal"');
    expect(expectCode(() => stepLearningRate({} as never), 'BAD_OPTION').problem).toBe('lr = undefined must be a positive number');
    expectCode(() => stepLearningRate({ lr: -1 }), 'BAD_OPTION');
    expectCode(() => stepLearningRate({ lr: 0.1, gamma: NaN }), 'BAD_OPTION');
    const m = expectCode(() => stepLearningRate({ lr: 0.1, milestones: [50, 75] }), 'BAD_OPTION');
    expect(m.problem).toBe('LR milestone 50 is not a fraction of the planned epochs in [0, 1]');
    expect(m.fix).toContain('[0.5, 0.75]');
    expect(stepLearningRate({ lr: 0.1, milestones: [0, 1] }).name).toBe('step-lr');
  });

  it('srcm checks its options when it is built, before any model is wrapped', () => {
    expect(expectCode(() => srcm({ radius: -1 }), 'BAD_OPTION').problem).toBe('SRCM radius -1 must be > 0');
    expectCode(() => srcm({ radius: 5, width: 5 }), 'BAD_OPTION');
    expectCode(() => srcm({ ringMode: 'clip' as never }), 'BAD_OPTION');
    expect(expectCode(() => srcm({ epsilon: -1e-7 }), 'BAD_OPTION').problem).toBe('SRCM epsilon -1e-7 must be a finite number ≥ 0');
    expectCode(() => srcm({ epsilon: NaN }), 'BAD_OPTION');
    expect(srcm({ radius: 5, width: 1, epsilon: 0 }).name).toBe('srcm');
  });

  it('relaxLoss and crl read no batch labels back to the host in a step (the Dataset checked them); the pure losses still refuse a bad label', async () => {
    const w = watchBatchReads('y');
    try {
      for (const plugin of [relaxLoss({ alpha: 0.3 }), crl({ alpha: 0.3, featureTap: 'fc2' })]) {
        const t = trainer([plugin, w.plugin]);
        await steps(t, toyData(), 2);
        const before = tf.memory().numTensors;
        await steps(t, toyData(), 4);
        expect(tf.memory().numTensors).toBe(before);
        expect(w.watched()).toBeGreaterThan(0);
        expect(w.reads()).toBe(0);
        t.model.dispose(); t.dispose();
      }
      // called directly, the losses still read the labels and refuse label 4 of 4 classes (an all-zero one-hot row)
      const z = tf.zeros([2, 4]) as tf.Tensor2D;
      const y = tf.tensor1d([0, 4], 'int32');
      w.watch(y);
      const opts = { alpha: 0.3, upper: 1, scheduleEpoch: 1, variant: 'kimlab' } as const;
      expect(expectCode(() => relaxedCrossEntropy(z, y, opts), 'LABEL_OUT_OF_RANGE').problem).toBe('relaxedCrossEntropy: label 4 of example 1 is outside [0, 4)');
      expect(w.reads()).toBe(1);
      const f = tf.zeros([2, 3]) as tf.Tensor2D;
      const c = tf.ones([4, 3]) as tf.Tensor2D;
      expectCode(() => relaxedCenterLoss(f, c, y, z, { alpha: 0.1, t: 1, upper: 1, scheduleEpoch: 1 }), 'LABEL_OUT_OF_RANGE');
      expect(w.reads()).toBe(2);
      tf.dispose([z, y, f, c]);
    } finally {
      w.restore();
    }
  });

  it('label smoothing rewrites one-hot targets to (1 − ε)·y + ε/C', () => {
    const p = labelSmoothing({ epsilon: 0.2 });
    const out = p.transformTargets!(tf.tensor2d([[0, 1, 0, 0]]), { logits: tf.zeros([1, 4]), features: {} }, {} as never).arraySync() as number[][];
    expect(out[0]![1]).toBeCloseTo(0.85, 6);
    expect(out[0]![0]).toBeCloseTo(0.05, 6);
  });
});
