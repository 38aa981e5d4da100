import * as tf from '@tensorflow/tfjs-core';
import { Trainer } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { coopDepth, residualMLP, type CoopDepthOptions } from '../src/index.js';
import { type Rows, ce, kd, rows, toyDataset, useCpu } from './helpers.js';

beforeAll(useCpu);


describe('coopDepth loss composition (spec §2.3), recomputed by hand for one step', () => {
  const cases: Array<[string, CoopDepthOptions, { w: number; T: number; a: number; b: number; g: number; d: number; e: number }]> = [
    ['defaults (w 0.5, T 3, α β γ δ = 1, ε = 0)', {}, { w: 0.5, T: 3, a: 1, b: 1, g: 1, d: 1, e: 0 }],
    ['w 0.3, T 2, α 2, β 1, γ 1, δ 0, ε 3', { kdWeight: 0.3, temperature: 2, weights: { alpha: 2, beta: 1, gamma: 1, delta: 0, epsilon: 3 } },
      { w: 0.3, T: 2, a: 2, b: 1, g: 1, d: 0, e: 3 }],
  ];
  for (const [label, opts, k] of cases) {
    it(label, async () => {
      const A = residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed: 1, zeroInitResidual: false });
      const plugin = coopDepth(opts);
      const trainer = new Trainer({ model: A, seed: 5, batchSize: 32, plugins: [plugin], optimizer: tf.train.adam(0.01) });
      await trainer.setup();
      const [, B] = plugin.teammates();
      const L = plugin.leader()!;
      // three separately initialised networks of the same architecture (spec §2.1, §2.5); the
      // Leader is full-depth only, the sub-networks are A's and B's own weights
      const stem = (n: typeof A) => Array.from(n.trainableVariables()['stem/kernel']!.dataSync());
      expect(Object.keys(B!.trainableVariables())).toEqual(Object.keys(A.trainableVariables()));
      expect(stem(B!)).not.toEqual(stem(A));
      expect(stem(L)).not.toEqual(stem(A));
      expect(L.configs.map((c) => c.id)).toEqual(['d4']);
      const data = toyDataset(96);
      const idx = Int32Array.from([0, 4, 8, 13, 17, 22, 30, 31]);
      const probe = data.batchAt(idx);
      const y = Array.from(probe.y!.dataSync());
      const zA = rows(A.forward(probe.x, { config: 'd4', training: true }));
      const zB = rows(B!.forward(probe.x, { config: 'd4', training: true }));
      const zL = rows(L.forward(probe.x, { config: L.fullConfig, training: true }));
      const subs = ['d1', 'd2'];
      const zAc = subs.map((c) => rows(A.forward(probe.x, { config: c, training: true })));
      const zBc = subs.map((c) => rows(B!.forward(probe.x, { config: c, training: true })));
      probe.x.dispose();
      probe.y!.dispose();

      const full = (z: Rows, other: Rows) => (k.a * kd(zL, z, k.T) + k.b * kd(other, z, k.T)) / (k.a + k.b);
      const sub = (z: Rows, own: Rows, other: Rows) =>
        (1 - k.w) * ce(z, y) + (k.w * (k.g * kd(own, z, k.T) + k.d * kd(other, z, k.T) + k.e * kd(zL, z, k.T))) / (k.g + k.d + k.e);
      const expected = {
        base: (1 - k.w) * ce(zA, y), // A's CE share, carried by the Trainer's base loss through scaled targets
        'coop-depth/leader': ce(zL, y),
        'coop-depth/teammateA': k.w * full(zA, zB),
        'coop-depth/teammateB': (1 - k.w) * ce(zB, y) + k.w * full(zB, zA),
        'coop-depth/subnetsA': (sub(zAc[0]!, zA, zB) + sub(zAc[1]!, zA, zB)) / 2,
        'coop-depth/subnetsB': (sub(zBc[0]!, zB, zA) + sub(zBc[1]!, zB, zA)) / 2,
      };
      const logs = await trainer.trainStep(data.batchAt(idx));
      for (const [name, v] of Object.entries(expected)) expect(logs[name], name).toBeCloseTo(v, 5);
      expect(logs.loss).toBeCloseTo(Object.values(expected).reduce((s, v) => s + v, 0), 4);
      trainer.dispose();
      A.dispose();
    });
  }
});
