/**
 * Core's learning-rate schedule and early stopping: the pure rules against hand-computed values, and the plugins in a
 * Trainer (every tfjs optimizer's rate set the way its update reads it, resume, best weights put back, leak-free).
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  EARLY_STOPPING_START, Trainer, TrellisError, earlyStopping, gradientClipping, weightDecay, earlyStoppingStep, learningRateSchedule, mlp, scheduledLearningRate, setLearningRate,
  type LearningRateScheduleSpec, type TrainerPlugin,
} from '@trellis-ml/core';
import { toyDataset, useCpu } from './helpers.js';

beforeAll(useCpu);

const at = (epoch: number, step: number, epochs = 10, totalSteps = 100) => ({ epoch, epochs, step, totalSteps });

function errorOf(fn: () => unknown): TrellisError {
  try {
    fn();
  } catch (e) {
    return e as TrellisError;
  }
  throw new Error('did not throw');
}

describe('scheduledLearningRate (pure)', () => {
  it('step decay: lr · gamma^(milestones passed), by epoch or by fraction of the planned epochs', () => {
    const byEpoch: LearningRateScheduleSpec = { kind: 'step', lr: 0.1, milestones: [3, 6] };
    expect([0, 2, 3, 5, 6, 9].map((e) => scheduledLearningRate(byEpoch, at(e, 0)))).toEqual([0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1, 0.1 * 0.1 * 0.1, 0.1 * 0.1 * 0.1]);
    // fractions of 10 epochs: 0.5 → epoch 5, 0.75 → round(7.5) = 8; gamma 0.2
    const byFraction: LearningRateScheduleSpec = { kind: 'step', lr: 1, milestoneFractions: [0.5, 0.75], gamma: 0.2 };
    expect([4, 5, 7, 8].map((e) => scheduledLearningRate(byFraction, at(e, 0)))).toEqual([1, 0.2, 0.2, 0.2 ** 2]);
  });

  it('cosine decay: lr at the start, the mean of lr and finalLr half-way, finalLr at and past the end', () => {
    const s: LearningRateScheduleSpec = { kind: 'cosine', lr: 0.1, finalLr: 0.02 };
    expect(scheduledLearningRate(s, at(0, 0))).toBeCloseTo(0.1, 15);
    expect(scheduledLearningRate(s, at(0, 50))).toBeCloseTo(0.06, 15);
    expect(scheduledLearningRate(s, at(0, 25))).toBeCloseTo(0.02 + 0.08 * 0.5 * (1 + Math.SQRT1_2), 15);
    expect(scheduledLearningRate(s, at(0, 100))).toBeCloseTo(0.02, 15);
    expect(scheduledLearningRate(s, at(0, 140))).toBeCloseTo(0.02, 15);
  });

  it('cosine with warm-up: rises linearly over warmupSteps, then decays over the remaining steps', () => {
    const s: LearningRateScheduleSpec = { kind: 'cosine', lr: 0.4, warmupSteps: 4 };
    expect([0, 1, 2, 3].map((k) => scheduledLearningRate(s, at(0, k)))).toEqual([0.1, 0.2, 0.30000000000000004, 0.4]);
    expect(scheduledLearningRate(s, at(0, 4))).toBeCloseTo(0.4, 15);
    expect(scheduledLearningRate(s, at(0, 52))).toBeCloseTo(0.2, 15); // half of the 96 decay steps
  });

  it('cosine reads its own totalSteps before the position\'s, and refuses to guess without either', () => {
    const s: LearningRateScheduleSpec = { kind: 'cosine', lr: 0.1, totalSteps: 10 };
    expect(scheduledLearningRate(s, at(0, 5, 10, Number.NaN))).toBeCloseTo(0.05, 15);
    expect(errorOf(() => scheduledLearningRate({ kind: 'cosine', lr: 0.1 }, at(0, 5, 10, Number.NaN))).message).toMatch(/needs the run's planned steps, got NaN/);
  });

  it('refuses bad schedules naming the field', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ kind: 'linear', lr: 0.1 }, /unknown learning-rate schedule kind "linear"/],
      [{ kind: 'cosine', lr: 0 }, /lr 0 must be > 0/],
      [{ kind: 'cosine', lr: Number.NaN }, /lr NaN is not a finite number/],
      [{ kind: 'cosine', lr: 0.1, finalLr: -1 }, /finalLr -1/],
      [{ kind: 'cosine', lr: 0.1, warmupSteps: 2.5 }, /warmupSteps 2.5 is not a whole number/],
      [{ kind: 'step', lr: 0.1 }, /exactly one of milestones/],
      [{ kind: 'step', lr: 0.1, milestones: [3], milestoneFractions: [0.5] }, /exactly one of milestones/],
      [{ kind: 'step', lr: 0.1, milestones: [0.5] }, /not whole epochs ≥ 1/],
      [{ kind: 'step', lr: 0.1, milestoneFractions: [1.5] }, /not fractions in \[0, 1\]/],
      [{ kind: 'step', lr: 0.1, milestones: [3], gamma: 0 }, /gamma 0 must be > 0/],
      [{ kind: 'cosine', lr: 0.1, warmupSteps: 20, totalSteps: 10 }, /warm-up \(20 steps\) is longer than its 10 steps/],
      [{ kind: 'cosine', lr: 0.1, totalSteps: 0 }, /totalSteps 0 is not a finite number of steps ≥ 1/],
      [{ kind: 'cosine', lr: 0.1, totalSteps: Infinity }, /totalSteps Infinity/],
      [{ kind: 'step', lr: 0.1, milestones: [3], finalLr: 0 }, /a step schedule does not read "finalLr"/],
      [{ kind: 'cosine', lr: 0.1, gama: 0.1 }, /a cosine schedule does not read "gama"/],
    ];
    for (const [s, message] of cases) {
      const e = errorOf(() => learningRateSchedule(s as LearningRateScheduleSpec));
      expect(e).toBeInstanceOf(TrellisError);
      expect(e.code).toBe('BAD_OPTION');
      expect(e.message).toMatch(message);
    }
  });
});

describe('setLearningRate', () => {
  it("sets the rate every tfjs optimizer's update reads: SGD and momentum through setLearningRate (their update reads a scalar only it remakes)", () => {
    // one step of each optimizer from the same start, once built with 0.5 and once built with 1 and set to 0.5
    const optimizers: Array<[string, (lr: number) => tf.Optimizer]> = [
      ['sgd', (lr) => tf.train.sgd(lr)], ['momentum', (lr) => tf.train.momentum(lr, 0.9)], ['adam', (lr) => tf.train.adam(lr)],
      ['rmsprop', (lr) => tf.train.rmsprop(lr)], ['adagrad', (lr) => tf.train.adagrad(lr)], ['adamax', (lr) => tf.train.adamax(lr)], ['adadelta', (lr) => tf.train.adadelta(lr)],
    ];
    for (const [name, make] of optimizers) {
      const stepWith = (opt: tf.Optimizer) => {
        const v = tf.variable(tf.tensor1d([1, -2, 3]));
        opt.minimize(() => tf.sum(tf.square(v)) as tf.Scalar, false, [v]);
        const out = Array.from(v.dataSync());
        v.dispose();
        opt.dispose();
        return out;
      };
      const built = stepWith(make(0.5));
      const set = make(1);
      setLearningRate(set, 0.5);
      expect(stepWith(set), name).toEqual(built);
    }
  });

  it('refuses a rate that is not finite and ≥ 0, and an optimizer with no numeric rate', () => {
    expect(errorOf(() => setLearningRate(tf.train.adam(0.1), -1, 'plugin "x"')).message).toMatch(/plugin "x" computed the learning rate -1/);
    expect(errorOf(() => setLearningRate(null as never, 0.1)).code).toBe('BAD_OPTION');
    expect(errorOf(() => learningRateSchedule({ kind: 'cosine', lr: 0.1 }, null as never)).code).toBe('BAD_OPTION');
    expect(errorOf(() => earlyStopping(null as never)).code).toBe('BAD_OPTION');
    // core's older plugins too (they threw a plain TypeError)
    expect(errorOf(() => weightDecay(null as never)).code).toBe('BAD_OPTION');
    expect(errorOf(() => gradientClipping(undefined as never)).code).toBe('BAD_OPTION');
    const odd = { getClassName: () => 'Odd', learningRate: tf.scalar(1) } as unknown as tf.Optimizer;
    const e = errorOf(() => setLearningRate(odd, 0.1));
    expect(e.code).toBe('LR_SCHEDULE_UNSUPPORTED');
    expect(e.message).toMatch(/Odd: it keeps no numeric learningRate/);
    (odd as unknown as { learningRate: tf.Tensor }).learningRate.dispose();
  });
});

/** Runs `work` with a fresh temporary directory, removed afterwards. */
async function inTempDir(prefix: string, work: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Disposes the Trainers and models of finished {@link fitWith} runs. */
function disposeRuns(...runs: Array<{ trainer: Trainer; model: { dispose(): void } }>): void {
  for (const r of runs) {
    r.trainer.dispose();
    r.model.dispose();
  }
}

/** Fits core's mlp on the toy set with `plugins`; the per-epoch history and the learning rates the optimizer saw per step. */
async function fitWith(plugins: TrainerPlugin[], optimizer: tf.Optimizer, epochs: number, extra: { checkpointDir?: string; resume?: boolean; validation?: boolean; maxSteps?: number } = {}) {
  const model = mlp({ inputShape: [8], hidden: [16], numClasses: 3, seed: 1 });
  const rates: number[] = [];
  const spy: TrainerPlugin = { name: 'lr-spy', apiVersion: 1, order: 'post', onBatchStart: (ctx) => void rates.push((ctx.optimizer as unknown as { learningRate: number }).learningRate) };
  const t = new Trainer({ model, seed: 2, batchSize: 60, optimizer, plugins: [...plugins, spy], ...(extra.checkpointDir ? { checkpointDir: extra.checkpointDir } : {}) });
  const data = toyDataset(240);
  const history = await t.fit(data, { epochs, ...(extra.validation ? { validation: toyDataset(60, 7) } : {}), ...(extra.resume ? { resume: true } : {}), ...(extra.maxSteps ? { maxSteps: extra.maxSteps } : {}) });
  return { history, rates, model, trainer: t };
}

describe('learningRateSchedule plugin', () => {
  it('sets the step schedule at each epoch start and the cosine one before every step, logs lr, and leaves no tensor behind', async () => {
    const before = tf.memory().numTensors;
    const step = await fitWith([learningRateSchedule({ kind: 'step', lr: 0.1, milestones: [2] })], tf.train.sgd(1), 3);
    expect(step.rates).toEqual([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1, 0.1 * 0.1, 0.1 * 0.1]); // 4 batches of 60 per epoch
    expect(step.history.map((h) => h.lr)).toEqual([0.1, 0.1, 0.1 * 0.1]);
    step.trainer.dispose();
    step.model.dispose();
    const cosine = await fitWith([learningRateSchedule({ kind: 'cosine', lr: 0.01 })], tf.train.adam(1), 2);
    expect(cosine.rates).toEqual(Array.from({ length: 8 }, (_, k) => scheduledLearningRate({ kind: 'cosine', lr: 0.01 }, at(0, k, 2, 8))));
    cosine.trainer.dispose();
    cosine.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('plans the cosine over the Trainer\'s batches even when an earlier plugin shrinks the batch (a data-parallel shard)', async () => {
    const halve: TrainerPlugin = {
      name: 'halve', apiVersion: 1, order: 'pre',
      onBatchStart: (ctx) => {
        const b = ctx.batch!;
        const n = Math.ceil(b.size / 2);
        return { x: tf.slice(b.x, 0, n), y: tf.slice(b.y!, 0, n) as tf.Tensor1D, indices: b.indices.slice(0, n), size: n };
      },
    };
    const r = await fitWith([halve, learningRateSchedule({ kind: 'cosine', lr: 0.01 })], tf.train.adam(1), 2);
    // 240 examples at batch 60: 8 planned steps, not the 16 that batches of 30 would give
    expect(r.rates).toEqual(Array.from({ length: 8 }, (_, k) => scheduledLearningRate({ kind: 'cosine', lr: 0.01 }, at(0, k, 2, 8))));
    r.trainer.dispose();
    r.model.dispose();
  });

  it('a resumed run continues the schedule where it stopped', async () => {
    await inTempDir('trellis-lr-', async (dir) => {
      const schedule = (): TrainerPlugin => learningRateSchedule({ kind: 'cosine', lr: 0.01, warmupSteps: 2 });
      const whole = await fitWith([schedule()], tf.train.adam(1), 3);
      // the first run plans 3 epochs and stops after one (its checkpoint), as an interrupted run does
      const first = await fitWith([schedule()], tf.train.adam(1), 3, { checkpointDir: dir, maxSteps: 4 });
      const rest = await fitWith([schedule()], tf.train.adam(1), 3, { checkpointDir: dir, resume: true });
      expect([...first.rates, ...rest.rates]).toEqual(whole.rates);
      expect(Array.from(rest.model.trainableVariables()['fc1/kernel']!.dataSync())).toEqual(Array.from(whole.model.trainableVariables()['fc1/kernel']!.dataSync()));
      disposeRuns(whole, first, rest);
    });
  });

  it('a second fit on the same Trainer plans and runs its own schedule (it used to run at finalLr throughout); with totalSteps the schedule spans the fits', async () => {
    const model = mlp({ inputShape: [8], hidden: [16], numClasses: 3, seed: 1 });
    const rates: number[] = [];
    const spy: TrainerPlugin = { name: 'lr-spy', apiVersion: 1, order: 'post', onBatchStart: (ctx) => void rates.push((ctx.optimizer as unknown as { learningRate: number }).learningRate) };
    const t = new Trainer({ model, seed: 2, batchSize: 60, optimizer: tf.train.adam(1), plugins: [learningRateSchedule({ kind: 'cosine', lr: 0.01 }), spy] });
    await t.fit(toyDataset(240), { epochs: 1 });
    await t.fit(toyDataset(240), { epochs: 1 });
    const one = Array.from({ length: 4 }, (_, k) => scheduledLearningRate({ kind: 'cosine', lr: 0.01 }, at(0, k, 1, 4)));
    expect(rates).toEqual([...one, ...one]);
    t.dispose();
    const spanning: number[] = [];
    const spy2: TrainerPlugin = { ...spy, onBatchStart: (ctx) => void spanning.push((ctx.optimizer as unknown as { learningRate: number }).learningRate) };
    const t2 = new Trainer({ model, seed: 2, batchSize: 60, optimizer: tf.train.adam(1), plugins: [learningRateSchedule({ kind: 'cosine', lr: 0.01, totalSteps: 8 }), spy2] });
    await t2.fit(toyDataset(240), { epochs: 1 });
    await t2.fit(toyDataset(240), { epochs: 1 });
    expect(spanning).toEqual(Array.from({ length: 8 }, (_, k) => scheduledLearningRate({ kind: 'cosine', lr: 0.01, totalSteps: 8 }, at(0, k, 1, 8))));
    t2.dispose();
    model.dispose();
  });

  it('is LR_SCHEDULE_CONFLICT beside another plugin that sets the rate', async () => {
    const other: TrainerPlugin = { name: 'other-lr', apiVersion: 1, onBatchStart: (ctx) => setLearningRate(ctx.optimizer, 0.5 + ctx.step) };
    const e = await fitWith([learningRateSchedule({ kind: 'cosine', lr: 0.01 }), other], tf.train.adam(1), 1).then(() => null, (err: unknown) => err as TrellisError);
    expect(e?.code).toBe('LR_SCHEDULE_CONFLICT');
  });
});

describe('earlyStoppingStep (pure)', () => {
  it('improves on a strictly better value beyond minDelta, waits otherwise, stops at patience; NaN never improves', () => {
    const rule = { mode: 'min' as const, minDelta: 0.1, patience: 2 };
    let s = earlyStoppingStep(EARLY_STOPPING_START, 1.0, 0, rule);
    expect(s).toEqual({ best: 1.0, bestEpoch: 0, wait: 0, stopped: false });
    s = earlyStoppingStep(s, 0.95, 1, rule); // better, but not by more than 0.1
    expect(s).toEqual({ best: 1.0, bestEpoch: 0, wait: 1, stopped: false });
    s = earlyStoppingStep(s, 0.8, 2, rule);
    expect(s).toEqual({ best: 0.8, bestEpoch: 2, wait: 0, stopped: false });
    s = earlyStoppingStep(s, Number.NaN, 3, rule);
    s = earlyStoppingStep(s, 0.75, 4, rule);
    expect(s).toEqual({ best: 0.8, bestEpoch: 2, wait: 2, stopped: true });
    const max = earlyStoppingStep(earlyStoppingStep(EARLY_STOPPING_START, 0.5, 0, { mode: 'max', minDelta: 0, patience: 1 }), 0.6, 1, { mode: 'max', minDelta: 0, patience: 1 });
    expect(max.best).toBe(0.6);
  });
});

describe('earlyStopping plugin', () => {
  /** A plugin logging a scripted value per epoch (the watched metric); listed after the watch, whose onEpochEnd runs after it (end hooks run in reverse). */
  const scripted = (values: number[]): TrainerPlugin => ({ name: 'script', apiVersion: 1, onEpochEnd: (ctx) => void (ctx.logs.score = values[ctx.epoch]!) });

  it('stops after patience epochs without improvement and puts back the best epoch\'s weights', async () => {
    const kernels: number[][] = [];
    const snap: TrainerPlugin = { name: 'snap', apiVersion: 1, onEpochEnd: (ctx) => void kernels.push(Array.from(ctx.model.trainableVariables()['fc1/kernel']!.dataSync())) };
    const before = tf.memory().numTensors;
    const r = await fitWith([earlyStopping({ monitor: 'score', patience: 2 }), scripted([0.9, 0.5, 0.6, 0.7, 0.4, 0.3]), snap], tf.train.adam(0.01), 6);
    expect(r.history.map((h) => h.epoch)).toEqual([0, 1, 2, 3]); // best at 1, no improvement at 2 and 3
    expect(r.history.map((h) => h['early-stopping/wait'])).toEqual([0, 0, 1, 2]);
    expect(Array.from(r.model.trainableVariables()['fc1/kernel']!.dataSync())).toEqual(kernels[1]);
    r.trainer.dispose();
    r.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('watches val_loss by default and says to pass a validation set when there is none', async () => {
    const ok = await fitWith([earlyStopping({ patience: 1 })], tf.train.adam(0.01), 2, { validation: true });
    expect(ok.history[0]!['early-stopping/wait']).toBe(0);
    ok.trainer.dispose();
    ok.model.dispose();
    const e = await fitWith([earlyStopping()], tf.train.adam(0.01), 1).then(() => null, (err: unknown) => err as TrellisError);
    expect(e?.code).toBe('NO_METRIC');
    expect(e?.message).toMatch(/watches "val_loss", which epoch 0 did not log/);
    expect(e?.fix).toMatch(/pass a validation set to fit/);
  });

  it('a run resumed after it stopped trains no further epoch and restores the same best weights', async () => {
    await inTempDir('trellis-es-', async (dir) => {
      const plugins = () => [earlyStopping({ monitor: 'score', patience: 2 }), scripted([0.9, 0.5, 0.6, 0.7, 0.4])];
      const first = await fitWith(plugins(), tf.train.adam(0.01), 5, { checkpointDir: dir });
      const best = Array.from(first.model.trainableVariables()['fc1/kernel']!.dataSync());
      const again = await fitWith(plugins(), tf.train.adam(0.01), 5, { checkpointDir: dir, resume: true });
      expect(again.rates).toEqual([]); // no step
      expect(Array.from(again.model.trainableVariables()['fc1/kernel']!.dataSync())).toEqual(best);
      disposeRuns(first, again);
    });
  });

  it('keeps the variables of the model the Trainer trains: a wrapper a later plugin puts around it included', async () => {
    const model = mlp({ inputShape: [8], hidden: [16], numClasses: 3, seed: 1 });
    const extra = tf.variable(tf.zeros([2]), true, 'trellis_test_es_extra');
    const wrapper: TrainerPlugin = {
      name: 'wrapper', apiVersion: 1,
      wrapModel: (m) => ({ ...m, apply: m.apply.bind(m), tapNames: m.tapNames.bind(m), trainableVariables: () => m.trainableVariables(), allVariables: () => ({ ...m.allVariables(), extra }), save: m.save.bind(m), load: m.load.bind(m), dispose: () => undefined, inputShape: m.inputShape, numClasses: m.numClasses }),
    };
    const es = earlyStopping({ monitor: 'loss', patience: 1 });
    const t = new Trainer({ model, seed: 1, plugins: [es, wrapper] });
    await t.fit(toyDataset(60), { epochs: 1 });
    expect(Object.keys(es.stateVariables!())).toContain('extra');
    t.dispose();
    model.dispose();
    extra.dispose();
  });

  it('a second fit on the same Trainer watches afresh (it used to stop at once, training nothing)', async () => {
    const model = mlp({ inputShape: [8], hidden: [16], numClasses: 3, seed: 1 });
    const t = new Trainer({ model, seed: 2, batchSize: 60, optimizer: tf.train.adam(0.01), plugins: [earlyStopping({ monitor: 'score', patience: 1 }), scripted([0.5, 0.6, 0.7, 0.8])] });
    await t.fit(toyDataset(240), { epochs: 4 });
    expect(t.history.length).toBe(2); // stopped after epoch 1
    await t.fit(toyDataset(240), { epochs: 4 });
    expect(t.history.length).toBe(4); // the second fit trained its epochs 0 and 1 before stopping again
    t.dispose();
    model.dispose();
  });

  it('refuses bad options', () => {
    expect(errorOf(() => earlyStopping({ patience: 0 })).message).toMatch(/patience 0 is not a whole number of epochs ≥ 1/);
    expect(errorOf(() => earlyStopping({ minDelta: -1 })).message).toMatch(/minDelta -1/);
    expect(errorOf(() => earlyStopping({ mode: 'up' as never })).message).toMatch(/unknown early-stopping mode "up"/);
  });
});
