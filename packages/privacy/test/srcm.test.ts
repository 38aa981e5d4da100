import * as tf from '@tensorflow/tfjs-core';
import { mlp } from '@trellis-ml/core';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { normalizedLogits, resolveSRCMConfig, ringMagnitude, ringOccupancy, saturnRing, withSRCM } from '../src/srcm.js';
import { cpu, expectCode } from './helpers.js';

beforeAll(cpu);

describe('SRCM (reconstruction)', () => {
  it('ring magnitudes: clamp, tanh, soft', () => {
    const rho = tf.tensor2d([[1], [15], [30]]);
    expect(Array.from(ringMagnitude(rho, resolveSRCMConfig({ radius: 15, width: 5 })).dataSync())).toEqual([10, 15, 20]);
    const t = ringMagnitude(rho, resolveSRCMConfig({ radius: 15, width: 5, ringMode: 'tanh' })).dataSync();
    expect(t[1]).toBeCloseTo(15, 5);
    expect(t[2]).toBeCloseTo(15 + 5 * Math.tanh(3), 4);
    const s = ringMagnitude(rho, resolveSRCMConfig({ radius: 15, width: 5, ringMode: 'soft' })).dataSync();
    expect(s[0]).toBeCloseTo(15 / 6, 4);
    expectCode(() => resolveSRCMConfig({ radius: 5, width: 5 }), 'BAD_OPTION');
  });

  it('wrapped model: ‖fea‖ ∈ [r − d, r + d], |logits| ≤ r + d, classifier layer replaced', () => {
    // tanh backbone: a ReLU backbone can output an exactly-zero feature, which no rescaling moves onto the ring
    const model = withSRCM(mlp({ inputShape: [6], hidden: [5, 4], numClasses: 3, activation: 'tanh', seed: 1 }), { radius: 15, width: 5, seed: 2 });
    const x = tf.mul(tf.randomNormal([64, 6], 0, 1, 'float32', 3), tf.reshape(tf.linspace(0.001, 1000, 64), [64, 1]));
    const out = model.apply(x, { taps: ['srcm/fea'] });
    const norms = tf.norm(out.features['srcm/fea']!, 'euclidean', 1).dataSync();
    for (const n of norms) {
      expect(n).toBeGreaterThanOrEqual(10 - 1e-3);
      expect(n).toBeLessThanOrEqual(20 + 1e-3);
    }
    expect(tf.max(tf.abs(out.logits)).dataSync()[0]).toBeLessThanOrEqual(20 + 1e-3);
    const names = Object.keys(model.trainableVariables());
    expect(names).toContain('srcm/pre/kernel');
    expect(names.some((n) => n.startsWith('logits/'))).toBe(false);
    expect(model.tapNames()).toContain('srcm/fea');
    const occ = ringOccupancy(norms, 15, 5);
    expect(occ.inner + occ.inside + occ.outer).toBeCloseTo(1, 12);
    model.dispose();
  });

  it('with d = 0 every sample sits on the sphere of radius r', () => {
    const model = withSRCM(mlp({ inputShape: [6], hidden: [5, 4], numClasses: 3, seed: 1 }), { radius: 7, width: 0 });
    const out = model.apply(tf.randomNormal([16, 6], 0, 3, 'float32', 4), { taps: ['srcm/fea'] });
    for (const n of tf.norm(out.features['srcm/fea']!, 'euclidean', 1).dataSync()) expect(n).toBeCloseTo(7, 3);
    model.dispose();
  });

  it('gradient of ring + LinearNorm matches finite differences', () => {
    const cfg = resolveSRCMConfig({ radius: 3, width: 1, ringMode: 'tanh' });
    const w = tf.tensor2d([[0.3, -0.5], [0.8, 0.1], [-0.2, 0.7]]);
    const f = (h: tf.Tensor) => tf.sum(tf.mul(normalizedLogits(saturnRing(h as tf.Tensor2D, cfg), w), tf.tensor2d([[1, -2]])));
    const h0 = [0.4, -1.1, 2.0];
    const g = tf.grad(f)(tf.tensor2d([h0])).dataSync();
    const eps = 1e-2;
    for (let i = 0; i < 3; i++) {
      const up = [...h0]; up[i]! += eps;
      const dn = [...h0]; dn[i]! -= eps;
      const fd = (f(tf.tensor2d([up])).dataSync()[0]! - f(tf.tensor2d([dn])).dataSync()[0]!) / (2 * eps);
      expect(g[i]).toBeCloseTo(fd, 2);
    }
  });

  it('save/load round trip restores the same logits', async () => {
    const a = withSRCM(mlp({ inputShape: [6], hidden: [5, 4], numClasses: 3, seed: 1 }), { seed: 5 });
    const b = withSRCM(mlp({ inputShape: [6], hidden: [5, 4], numClasses: 3, seed: 9 }), { seed: 6 });
    const dir = await mkdtemp(join(tmpdir(), 'srcm-'));
    await a.save(dir);
    await b.load(dir);
    const x = tf.randomNormal([4, 6], 0, 1, 'float32', 1);
    expect(Array.from(b.apply(x).logits.dataSync())).toEqual(Array.from(a.apply(x).logits.dataSync()));
    a.dispose();
    b.dispose();
  });
});
