import * as tf from '@tensorflow/tfjs-core';
import { Trainer, TrellisError, type TrainerPlugin } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { unitFreezePlugin } from '../src/index.js';
import { mlpWithUnit0, toyData, useWasm } from './helpers.js';

beforeAll(useWasm);

/**
 * A stand-in for fair-prune's `pruning` (order 'post'): zeroes a weight of `fc1/kernel` column 0 (unit 0) at fit
 * start and re-zeroes it after every step.
 */
function zeroUnit0(order: 'pre' | 'post'): TrainerPlugin {
  const zero = (vars: Record<string, tf.Variable>) => {
    const k = vars['fc1/kernel']!;
    tf.tidy(() => k.assign(tf.mul(k, tf.tensor2d([[0, 1, 1, 1, 1], ...Array.from({ length: 5 }, () => [1, 1, 1, 1, 1])]))));
  };
  return { name: 'zero-unit-0', apiVersion: 1, order, onFitStart: (ctx) => zero(ctx.model.trainableVariables()), afterApply: (ctx) => zero(ctx.model.trainableVariables()) };
}

async function fitFrozenUnit0(plugins: TrainerPlugin[], pin?: boolean): Promise<{ error: unknown; column0: number[]; start: number[] }> {
  const data = toyData();
  const { model, layout, unit0: frozen } = mlpWithUnit0();
  const column0 = () => Array.from(model.trainableVariables()['fc1/kernel']!.dataSync()).filter((_, i) => i % 5 === 0);
  const start = column0();
  const t = new Trainer({ model, seed: 1, batchSize: 16, optimizer: tf.train.adam(1e-2), plugins: [unitFreezePlugin({ layout, frozen, ...(pin === undefined ? {} : { pin }) }), ...plugins] });
  const error = await t.fit(data, { epochs: 2 }).then(() => null, (e: unknown) => e);
  const out = { error, column0: column0(), start };
  t.dispose();
  model.dispose();
  return out;
}

describe('frozen units that another plugin overwrites', () => {
  it('stops with FROZEN_UNITS_OVERWRITTEN when a plugin after the freeze (pruning, order post) changes the frozen weights: they used to end pruned, silently', async () => {
    const { error } = await fitFrozenUnit0([zeroUnit0('post')]);
    expect(error).toBeInstanceOf(TrellisError);
    expect((error as TrellisError).code).toBe('FROZEN_UNITS_OVERWRITTEN');
    expect((error as TrellisError).message).toMatch(/frozen units of "fc1\/kernel" no longer hold the values "unit-freeze" pinned/);
    expect((error as TrellisError).fix).toMatch(/pin: false/);
  });

  it('stops after the first step, not at the end of the epoch: a long epoch used to train on to its end with the frozen units overwritten', async () => {
    let steps = 0;
    const counter: TrainerPlugin = { name: 'count-steps', apiVersion: 1, afterApply: () => void steps++ };
    const { error } = await fitFrozenUnit0([zeroUnit0('post'), counter]);
    expect((error as TrellisError).code).toBe('FROZEN_UNITS_OVERWRITTEN');
    expect((error as TrellisError).message).toMatch(/checked after the first step of freeze phase 0, epoch 0, step 0/);
    expect(steps).toBe(1); // toyData: 32 rows in batches of 16, two steps per epoch
  });

  it('checks after the first step of every fit, a second one on the same Trainer included', async () => {
    const data = toyData();
    const { model, layout, unit0: frozen } = mlpWithUnit0();
    let active = false;
    let steps = 0;
    const zero = zeroUnit0('post');
    const sometimes: TrainerPlugin = { ...zero, onFitStart: (ctx) => (active ? zero.onFitStart!(ctx) : undefined), afterApply: (ctx) => { steps++; if (active) zero.afterApply!(ctx); } };
    const t = new Trainer({ model, seed: 1, batchSize: 16, optimizer: tf.train.adam(1e-2), plugins: [unitFreezePlugin({ layout, frozen }), sometimes] });
    await t.fit(data, { epochs: 1 });
    active = true;
    steps = 0;
    const error = await t.fit(data, { epochs: 1 }).then(() => null, (e: unknown) => e);
    expect((error as TrellisError).code).toBe('FROZEN_UNITS_OVERWRITTEN');
    expect(steps).toBe(1);
    t.dispose();
    model.dispose();
  });

  it('keeps the frozen values when the other plugin runs before the freeze, and lets it through with pin: false', async () => {
    const before = await fitFrozenUnit0([zeroUnit0('pre')]);
    expect(before.error).toBeNull();
    // the freeze pins the values it finds when fit starts (the 'pre' plugin's zero among them) and re-pins them after the other's afterApply
    expect(Math.abs(before.column0[0]!)).toBe(0);
    expect(before.column0.slice(1)).toEqual(before.start.slice(1));
    const unpinned = await fitFrozenUnit0([zeroUnit0('post')], false);
    expect(unpinned.error).toBeNull();
    expect(Math.abs(unpinned.column0[0]!)).toBe(0);
  });
});
