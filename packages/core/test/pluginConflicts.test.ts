import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Trainer, TrellisError, checkTargetsUsed, mlp, weightDecay, type TrainerContext, type TrainerPlugin } from '@trellis-ml/core';
import { toyDataset, useCpu } from './helpers.js';

beforeAll(useCpu);

type LrOptimizer = { learningRate: number; setLearningRate(lr: number): void };

/** A step schedule set at every epoch start (as privacy's stepLearningRate). */
function epochSchedule(lr: number, name = 'epoch-lr'): TrainerPlugin {
  return { name, apiVersion: 1, onEpochStart: (ctx: TrainerContext) => (ctx.optimizer as unknown as LrOptimizer).setLearningRate(lr * 0.5 ** ctx.epoch) };
}

/** A per-step schedule written before every step (as dynamic-depth's cosineDecay, `order: 'pre'`). */
function stepSchedule(initial: number, name = 'step-lr'): TrainerPlugin {
  return { name, apiVersion: 1, order: 'pre', onBatchStart: (ctx: TrainerContext) => void ((ctx.optimizer as unknown as LrOptimizer).learningRate = initial / (1 + ctx.step)) };
}

function lrSpy(lrs: number[]): TrainerPlugin {
  return { name: 'lr-spy', apiVersion: 1, order: 'post', onBatchEnd: (ctx) => void lrs.push((ctx.optimizer as unknown as LrOptimizer).learningRate) };
}

async function fitWith(plugins: TrainerPlugin[], options: { baseLoss?: 'none' } = {}): Promise<unknown> {
  const m = mlp({ inputShape: [8], hidden: [6], numClasses: 3, seed: 1 });
  const t = new Trainer({ model: m, seed: 2, batchSize: 60, optimizer: tf.train.momentum(0.1, 0.9), plugins, ...options });
  try {
    return await t.fit(toyDataset(120), { epochs: 2 });
  } catch (e) {
    return e;
  } finally {
    t.dispose();
    m.dispose();
  }
}

describe('plugins that would silently undo each other', () => {
  it('refuses two plugins that both set the learning rate (the later one overwrote the other\'s schedule), naming both', async () => {
    const lrs: number[] = [];
    const err = await fitWith([epochSchedule(0.05), stepSchedule(0.01), lrSpy(lrs)]);
    expect(err).toBeInstanceOf(TrellisError);
    expect((err as TrellisError).code).toBe('LR_SCHEDULE_CONFLICT');
    expect((err as TrellisError).message).toMatch(/"epoch-lr" and "step-lr" both set the optimizer's learning rate/);
    expect((err as TrellisError).fix).toMatch(/one plugin that sets the learning rate/);
    expect(lrs).toEqual([]); // refused before the first step trained with the wrong rate
  });

  it('still runs one schedule (and a plugin that writes the rate the optimizer already has is no conflict)', async () => {
    const lrs: number[] = [];
    const history = await fitWith([stepSchedule(0.01), lrSpy(lrs)]);
    expect(Array.isArray(history)).toBe(true);
    expect(lrs.slice(0, 2)).toEqual([0.01, 0.005]);
    // the optimizer starts at 0.1: a plugin that sets 0.1 changes nothing, so the step schedule is the only one
    const unchanged: TrainerPlugin = { name: 'unchanged', apiVersion: 1, onFitStart: (ctx) => (ctx.optimizer as unknown as LrOptimizer).setLearningRate(0.1) };
    expect(Array.isArray(await fitWith([unchanged, stepSchedule(0.01), weightDecay({ rate: 1e-4 })]))).toBe(true);
  });

  it('says which plugins ran when the base loss is off and no plugin returned a loss term (was tfjs\'s "Cannot find a connection between any variable")', async () => {
    const recorder: TrainerPlugin = { name: 'recorder', apiVersion: 1, lossTerms: () => ({}) };
    const err = await fitWith([recorder], { baseLoss: 'none' });
    expect(err).toBeInstanceOf(TrellisError);
    expect((err as TrellisError).code).toBe('NO_LOSS');
    expect((err as TrellisError).message).toMatch(/no loss at epoch 0, step 0: the base loss is off \(baseLoss 'none'\) and no plugin returned a loss term \(plugins: recorder\)/);
  });

  it('baseLossActive is known before any hook runs (it used to read true in setup, onFitStart and step 0\'s onBatchStart beside a loss-replacing plugin)', async () => {
    const seen: string[] = [];
    const probe: TrainerPlugin = {
      name: 'probe', apiVersion: 1,
      setup: (ctx) => void seen.push(`setup:${ctx.baseLossActive}`),
      onFitStart: (ctx) => void seen.push(`fit:${ctx.baseLossActive}`),
      onBatchStart: (ctx) => void seen.push(`batch${ctx.step}:${ctx.baseLossActive}`),
    };
    const replacing: TrainerPlugin = {
      name: 'replacing', apiVersion: 1, replacesBaseLoss: true,
      lossTerms: (outputs) => ({ l2: tf.mean(tf.square(outputs.logits)) as tf.Scalar }),
    };
    expect(Array.isArray(await fitWith([probe, replacing]))).toBe(true);
    expect(seen.slice(0, 3)).toEqual(['setup:false', 'fit:false', 'batch0:false']);
    seen.length = 0;
    expect(Array.isArray(await fitWith([probe]))).toBe(true);
    expect(seen.slice(0, 3)).toEqual(['setup:true', 'fit:true', 'batch0:true']);
  });

  it('checkTargetsUsed: a target-changing plugin refuses a Trainer without the base loss in setup, before any step', async () => {
    expect(() => checkTargetsUsed({ baseLossActive: true }, 'smooth')).not.toThrow();
    let steps = 0;
    const smoothing: TrainerPlugin = {
      name: 'smooth', apiVersion: 1,
      setup: (ctx) => checkTargetsUsed(ctx, 'smooth', 'smooths the targets'),
      transformTargets: (t) => tf.add(tf.mul(t, 0.9), 0.1 / 3),
      onBatchEnd: () => void steps++,
    };
    const err = await fitWith([smoothing, { name: 'terms', apiVersion: 1, lossTerms: (o) => ({ l2: tf.mean(tf.square(o.logits)) as tf.Scalar }) }], { baseLoss: 'none' });
    expect(err).toBeInstanceOf(TrellisError);
    expect((err as TrellisError).code).toBe('TARGETS_IGNORED');
    expect((err as TrellisError).message).toMatch(/plugin "smooth" smooths the targets, but the Trainer adds no base loss \(baseLoss 'none'/);
    // the always-possible fix first: beside test-time adaptation the base loss cannot be turned on
    expect((err as TrellisError).fix).toMatch(/^leave "smooth" out, or train with the base cross-entropy .*only the first is possible\)$/);
    expect(steps).toBe(0);
  });
});
