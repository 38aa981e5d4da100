import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, TrellisError } from '@trellis-ml/core';
import { GroupBuffer, distillationLoss, dualAscentStep, groupMeans, groupViolations, hostViolations, perSampleCrossEntropy } from '../src/index.js';
import { useCpu } from './setup.js';

beforeAll(useCpu);

describe('group losses through the one-hot group matrix', () => {
  it('equal a naive per-group loop within 1e-6', () => {
    const rng = new Rng(5);
    const b = 37;
    const k = 5;
    const A = 4;
    const logits = rng.normalArray(b * k, 0, 2);
    const labels = Int32Array.from({ length: b }, () => rng.int(k));
    const groups = Int32Array.from({ length: b }, () => rng.int(A - 1)); // group 3 absent
    const { gm, counts, overall, perSample } = tf.tidy(() => {
      const l = perSampleCrossEntropy(tf.tensor2d(logits, [b, k]), tf.tensor1d(labels, 'int32'), k);
      const r = groupMeans(l, tf.tensor1d(groups, 'int32'), A);
      return { gm: Array.from(r.groupMean.dataSync()), counts: Array.from(r.counts.dataSync()), overall: r.overall.dataSync()[0]!, perSample: Array.from(l.dataSync()) };
    });
    const naive = new Array(A).fill(0);
    const cnt = new Array(A).fill(0);
    let all = 0;
    for (let i = 0; i < b; i++) {
      let max = -Infinity;
      for (let j = 0; j < k; j++) max = Math.max(max, logits[i * k + j]!);
      let s = 0;
      for (let j = 0; j < k; j++) s += Math.exp(logits[i * k + j]! - max);
      const li = max + Math.log(s) - logits[i * k + labels[i]!]!;
      expect(perSample[i]).toBeCloseTo(li, 5);
      naive[groups[i]!] += li;
      cnt[groups[i]!] += 1;
      all += li;
    }
    for (let a = 0; a < A; a++) {
      expect(counts[a]).toBe(cnt[a]);
      expect(Math.abs(gm[a]! - (cnt[a] ? naive[a] / cnt[a] : 0))).toBeLessThan(1e-6 * Math.max(1, Math.abs(gm[a]!)));
    }
    expect(Math.abs(overall - all / b)).toBeLessThan(1e-6);
  });

  it('violations: abs, signed, one-sided, excess-loss, absent groups zero; host twin agrees', () => {
    const v = (kind: 'abs' | 'signed' | 'one-sided', dense?: number[]) => tf.tidy(() =>
      Array.from(groupViolations(tf.tensor1d([0.5, 0.1, 0]), tf.scalar(0.3), tf.tensor1d([3, 2, 0]), { violation: kind, ...(dense ? { denseGroupLoss: dense, denseLoss: 0.2 } : {}) }).dataSync()));
    expect(v('abs').map((x) => +x.toFixed(6))).toEqual([0.2, 0.2, 0]);
    expect(v('signed').map((x) => +x.toFixed(6))).toEqual([0.2, -0.2, 0]);
    expect(v('one-sided').map((x) => +x.toFixed(6))).toEqual([0.2, 0, 0]);
    // excess: (J_a − J*_a) − (J − J*) = gap − (J*_a − J*) ; J*_a − J* = [0.1, -0.1, 0]
    expect(v('signed', [0.3, 0.1, 0.2]).map((x) => +x.toFixed(6))).toEqual([0.1, -0.1, 0]);
    // a dense-loss vector of the wrong length was broadcast silently (one value shifted every group)
    const before = tf.memory().numTensors;
    expect(() => v('signed', [0.3])).toThrow(/denseGroupLoss has 1 values for 3 groups/);
    expect(tf.memory().numTensors).toBe(before);
    const host = hostViolations([0.5, 0.1, NaN], 0.3, { violation: 'signed', denseGroupLoss: [0.3, 0.1, 0.2], denseLoss: 0.2 });
    expect(host.violations.map((x) => +x.toFixed(6))).toEqual([0.1, -0.1, 0]);
    expect(host.present).toEqual([true, true, false]);
  });

  it('distillation loss is zero for identical logits and positive otherwise', () => {
    const [same, diff] = tf.tidy(() => {
      const z = tf.tensor2d([[1, 2, 3], [0, -1, 4]]);
      return [distillationLoss(z, z, 4).dataSync()[0]!, distillationLoss(z, tf.tensor2d([[3, 2, 1], [0, 0, 0]]), 4).dataSync()[0]!];
    });
    expect(Math.abs(same)).toBeLessThan(1e-6);
    expect(diff).toBeGreaterThan(0);
  });
});

describe('dual ascent', () => {
  it('grows multipliers of violated groups, respects lambdaMax and absent groups', () => {
    const l = dualAscentStep([0, 0.5, 9.99, 2], [1, 0.2, 1, 5], [true, true, true, false], { lr: 0.1, lambdaMax: 10 });
    expect(l.map((x) => +x.toFixed(6))).toEqual([0.1, 0.52, 10, 2]);
  });
  it('one-sided violations never grow λ of groups better than average; non-signed λ stays ≥ 0; signed may go negative', () => {
    const { violations, present } = hostViolations([0.1, 0.9], 0.5, { violation: 'one-sided' });
    expect(dualAscentStep([0, 0], violations, present, { lr: 1, lambdaMax: 10 })).toEqual([0, expect.closeTo(0.4, 12)]);
    expect(dualAscentStep([0.05, 0], [-1, 0], [true, true], { lr: 1, lambdaMax: 10 })).toEqual([0, 0]);
    expect(dualAscentStep([0, 0], [-1, 0], [true, true], { lr: 1, lambdaMax: 10, signed: true })).toEqual([-1, 0]);
  });
  it('refuses a negative or NaN step size and a missing lambdaMax (the multipliers were NaN)', () => {
    for (const options of [{ lr: -1, lambdaMax: 10 }, { lr: NaN, lambdaMax: 10 }, { lr: 0.1 }, { lr: 0.1, lambdaMax: 0 }]) {
      expect(() => dualAscentStep([0, 0], [1, 1], [true, true], options as never), JSON.stringify(options)).toThrow(TrellisError);
    }
    expect(dualAscentStep([0, 0], [1, 1], [true, true], { lr: 0, lambdaMax: Infinity })).toEqual([0, 0]);
  });
  it('GroupBuffer keeps the last M values per group', () => {
    const b = new GroupBuffer(2, 3);
    [1, 2, 3, 4].forEach((v) => b.push(0, v));
    expect(b.mean(0)).toBe(3);
    expect(Number.isNaN(b.mean(1))).toBe(true);
    const c = new GroupBuffer(2, 3);
    c.setState(JSON.parse(JSON.stringify(b.getState())));
    expect(c.mean(0)).toBe(3);
  });
});
