import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { kdLoss, memberLoss, residualMLP, stopGradient } from '../src/index.js';
import { expectTrellisError, useCpu } from './helpers.js';

beforeAll(useCpu);

describe('knowledge distillation', () => {
  it('refuses an infinite temperature (NaN loss), a KD weight outside [0, 1] (negative CE), labels of another batch, missing options', async () => {
    const z = tf.tensor2d([[1, 2, 3], [0, -1, 4]]);
    const y = tf.tensor1d([0, 2], 'int32');
    const t = tf.add(z, 1);
    expect((await expectTrellisError(() => kdLoss(t, z, Infinity), 'BAD_OPTION')).problem).toContain('temperature Infinity must be a finite number > 0');
    expect((await expectTrellisError(() => memberLoss(z, y, [{ logits: t, weight: 1 }], { kdWeight: 2, temperature: 3 }), 'BAD_OPTION')).problem).toContain('kdWeight 2 is outside [0, 1]');
    await expectTrellisError(() => memberLoss(z, y, [], { kdWeight: NaN, temperature: 3 }), 'BAD_OPTION');
    const e = await expectTrellisError(() => memberLoss(z, tf.tensor1d([0, 1, 2], 'int32'), [], { kdWeight: 0.5, temperature: 3 }), 'SHAPE_MISMATCH');
    expect(e.problem).toContain('labels of shape [3] for 2 rows of logits [2, 3]');
    await expectTrellisError(() => (memberLoss as unknown as (a: tf.Tensor, b: tf.Tensor1D, c: []) => unknown)(z, y, []), 'BAD_OPTION');
    tf.dispose([z, y, t]);
  });

  it('is 0 when teacher equals student and matches a hand-computed KL otherwise', () => {
    const z = tf.tensor2d([[1, 2, 3], [0, -1, 4]]);
    expect(kdLoss(z, z, 3).dataSync()[0]).toBeCloseTo(0, 6);
    // teacher p = [0.25, 0.75], student p = [0.5, 0.5]: KL = 0.25 ln 0.5 + 0.75 ln 1.5
    const t = tf.tensor2d([[0, Math.log(3)]]);
    const s = tf.tensor2d([[0, 0]]);
    const kl = 0.25 * Math.log(0.5) + 0.75 * Math.log(1.5);
    expect(kdLoss(t, s, 1).dataSync()[0]).toBeCloseTo(kl, 5);
    // temperature 2 softens both sides and scales by T² = 4
    const pt = [1 / (1 + Math.sqrt(3)), Math.sqrt(3) / (1 + Math.sqrt(3))];
    expect(kdLoss(t, s, 2).dataSync()[0]).toBeCloseTo(4 * (pt[0]! * Math.log(2 * pt[0]!) + pt[1]! * Math.log(2 * pt[1]!)), 5);
    expect(kdLoss(s, t, 1).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([z, t, s]);
  });

  it('memberLoss is (1−w)·CE + w·(weighted mean of KD terms); no teacher means plain CE', () => {
    const z = tf.tensor2d([[0, 0]]);
    const y = tf.tensor1d([1], 'int32');
    const t1 = tf.tensor2d([[0, Math.log(3)]]);
    const ce = Math.log(2);
    const kl = 0.25 * Math.log(0.5) + 0.75 * Math.log(1.5);
    const opts = { kdWeight: 0.5, temperature: 1 };
    expect(memberLoss(z, y, [], opts).dataSync()[0]).toBeCloseTo(ce, 5);
    // teachers t1 (weight 1) and z itself (weight 3, KD 0): KD mean = kl / 4
    expect(memberLoss(z, y, [{ logits: t1, weight: 1 }, { logits: z, weight: 3 }], opts).dataSync()[0]).toBeCloseTo(0.5 * ce + 0.5 * kl / 4, 5);
    expect(memberLoss(z, y, [{ logits: t1, weight: 0 }], opts).dataSync()[0]).toBeCloseTo(ce, 5);
    expect(memberLoss(z, y, [{ logits: t1, weight: 1 }], { ...opts, ceScale: 0 }).dataSync()[0]).toBeCloseTo(0.5 * kl, 5);
    tf.dispose([z, y, t1]);
  });

  it('no gradient flows into a teacher: the Leader gets zero gradient from a Teammate\'s loss', () => {
    const leader = residualMLP({ inputShape: [4], width: 6, blocks: 2, numClasses: 3, seed: 1 });
    const teammate = residualMLP({ inputShape: [4], width: 6, blocks: 2, numClasses: 3, seed: 2 });
    const x = tf.randomNormal([5, 4], 0, 1, 'float32', 7);
    const y = tf.tensor1d([0, 1, 2, 0, 1], 'int32');
    const lv = Object.values(leader.trainableVariables());
    const tv = Object.values(teammate.trainableVariables());
    const { grads } = tf.variableGrads(() => memberLoss(teammate.forward(x, { training: true }), y,
      [{ logits: leader.forward(x, { training: true }), weight: 1 }], { kdWeight: 0.5, temperature: 3 }), [...lv, ...tv]);
    for (const v of lv) expect(Math.max(...Array.from(tf.abs(grads[v.name]!).dataSync()))).toBe(0);
    expect(Math.max(...tv.map((v) => Math.max(...Array.from(tf.abs(grads[v.name]!).dataSync()))))).toBeGreaterThan(0);
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(stopGradient(a), a)))(tf.tensor1d([2, 3]));
    expect(Array.from(g.dataSync())).toEqual([2, 3]);
    tf.dispose([...Object.values(grads), x, y, g]);
    leader.dispose();
    teammate.dispose();
  });
});
