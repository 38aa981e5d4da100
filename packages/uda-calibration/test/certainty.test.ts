import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Dataset, Rng } from '@trellis-ml/core';
import {
  certaintyDistillationLoss,
  certaintyTemperatures,
  certaintyTemperaturesTensor,
  computeSourceStats,
  entropyAndNorm,
  etaSelect,
  informationMaximization,
  entropyLoss,
  mlpBn,
  type SourceStats,
  type TemperatureConfig,
} from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';

beforeAll(async () => {
  await tf.setBackend('cpu');
});


const k = 10;
const row = [3, 1, 0, -1, 0.5, 0, 0, 0, 0.2, -0.3];
const diag = entropyAndNorm(row, k);
const atSource: SourceStats = { h0Bits: diag.entropyBits[0]!, logitNorm: diag.norm[0]!, numClasses: k, count: 1 };

describe('certaintyTemperatures (spec §2.3)', () => {
  it('a sample that looks like source data gets τ = (tMin + tMax)/2', () => {
    const t = certaintyTemperatures(row, k, atSource, { tMin: 1, tMax: 3, mode: 'entropy-and-norm' });
    expect(t.T[0]).toBeCloseTo(2, 6);
    expect(t.gamma[0]).toBeCloseTo(1, 6);
    expect(t.tau[0]).toBeCloseTo(2, 6);
  });

  it('entropy and norm by hand: s = sigmoid((H − h0)/sqrt(log2 K)), γ = κ/‖z‖', () => {
    const stats: SourceStats = { h0Bits: 1, logitNorm: 8, numClasses: k, count: 1 };
    const t = certaintyTemperatures(row, k, stats, { tMin: 1, tMax: 3, mode: 'entropy-and-norm' });
    const p = row.map((z) => Math.exp(z));
    const sum = p.reduce((a, b) => a + b, 0);
    const h = -p.reduce((a, v) => a + (v / sum) * Math.log2(v / sum), 0);
    const s = 1 / (1 + Math.exp(-(h - 1) / Math.sqrt(Math.log2(10))));
    const norm = Math.sqrt(row.reduce((a, v) => a + v * v, 0));
    expect(t.entropyBits[0]).toBeCloseTo(h, 5);
    expect(t.T[0]).toBeCloseTo(1 + 2 * s, 5);
    expect(t.gamma[0]).toBeCloseTo(8 / norm, 5);
    expect(t.tau[0]).toBeCloseTo((1 + 2 * s) * (8 / norm), 5);
  });

  it('τ rises with entropy and with a falling logit norm; entropy-only ignores the norm', () => {
    const sharp = row.map((v) => v * 2);
    const flat = row.map((v) => v * 0.5);
    const t = certaintyTemperatures([...sharp, ...row, ...flat], k, atSource);
    expect(t.tau[0]!).toBeLessThan(t.tau[1]!);
    expect(t.tau[1]!).toBeLessThan(t.tau[2]!);
    // Adding a constant to every logit keeps the softmax (and entropy) but changes the norm.
    const shifted = row.map((v) => v + 2);
    const full = certaintyTemperatures([...row, ...shifted], k, atSource, { tMin: 1, tMax: 3, mode: 'entropy-and-norm' });
    const only = certaintyTemperatures([...row, ...shifted], k, atSource, { tMin: 1, tMax: 3, mode: 'entropy-only' });
    expect(only.tau[0]).toBeCloseTo(only.tau[1]!, 6);
    expect(full.tau[0]).not.toBeCloseTo(full.tau[1]!, 3);
    const fixed = certaintyTemperatures(row, k, atSource, { tMin: 1, tMax: 3, mode: 'fixed', fixedTemperature: 1 });
    expect(fixed.tau[0]).toBe(1);
    const normOnly = certaintyTemperatures(shifted, k, atSource, { tMin: 1, tMax: 3, mode: 'norm-only' });
    expect(normOnly.tau[0]).toBeCloseTo(2 * normOnly.gamma[0]!, 5);
  });

  it('clamps τ for vanishing logits (γ unbounded) and stays finite for extreme logits', () => {
    const zero = new Array(k).fill(0);
    const t = certaintyTemperatures(zero, k, atSource);
    expect(t.tau[0]).toBe(20);
    const huge = row.map((v) => v * 1e4);
    const th = certaintyTemperatures(huge, k, atSource);
    expect(Number.isFinite(th.tau[0]!)).toBe(true);
    expect(th.tau[0]).toBeCloseTo(0.25, 6);
  });

  it('the tensor version matches the host version', () => {
    const logits = new Rng(5).normalArray(6 * k).map((v) => v * 3);
    const host = certaintyTemperatures(logits, k, atSource);
    const z = tf.tensor2d(logits, [6, k]);
    const { T, gamma, tau } = certaintyTemperaturesTensor(z, atSource);
    const close = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 4));
    close(T.dataSync(), host.T);
    close(gamma.dataSync(), host.gamma);
    close(tau.dataSync(), host.tau);
    tf.dispose([z, T, gamma, tau]);
  });

  it('rejects NaN teacher logits and inconsistent statistics', () => {
    expect(trellisErrorOf(() => certaintyTemperatures([NaN, ...row.slice(1)], k, atSource)).code).toBe('NON_FINITE_LOGITS');
    expect(trellisErrorOf(() => certaintyTemperatures(row, k, { ...atSource, numClasses: 3 })).code).toBe('CLASS_COUNT_MISMATCH');
    expect(trellisErrorOf(() => certaintyTemperatures(row, k, { ...atSource, logitNorm: 0 })).code).toBe('BAD_SOURCE_STATS');
    expect(trellisErrorOf(() => certaintyTemperatures(row, k, atSource, { tMin: 2, tMax: 1, mode: 'entropy-only' })).code).toBe('BAD_TEMPERATURE');
  });

  it('rejects an unknown mode, a bad τ clamp and infinite temperatures (instead of NaN τ), on host and tensor paths', () => {
    const bad: Array<[TemperatureConfig, string]> = [
      [{ tMin: 1, tMax: 3, mode: 'entropy-norm' as TemperatureConfig['mode'] }, 'unknown temperature mode "entropy-norm"'],
      [{ tMin: 1, tMax: 3, mode: 'entropy-and-norm', tauClamp: [NaN, 1] }, 'tauClamp [NaN, 1] is not an interval'],
      [{ tMin: 1, tMax: 3, mode: 'entropy-and-norm', tauClamp: [5, 1] }, 'tauClamp [5, 1] is not an interval'],
      [{ tMin: 1, tMax: Infinity, mode: 'entropy-only' }, 'tMin 1 / tMax Infinity are not 0 < tMin ≤ tMax < ∞'],
      [{ tMin: 1, tMax: 3, mode: 'fixed', fixedTemperature: Infinity }, "mode 'fixed' needs a positive, finite fixedTemperature"],
    ];
    const z = tf.tensor2d(row, [1, k]);
    for (const [cfg, message] of bad) {
      expect(trellisErrorOf(() => certaintyTemperatures(row, k, atSource, cfg)).code).toBe('BAD_TEMPERATURE');
      expect(() => certaintyTemperatures(row, k, atSource, cfg)).toThrow(message);
      expect(trellisErrorOf(() => certaintyTemperaturesTensor(z, atSource, cfg)).code).toBe('BAD_TEMPERATURE');
    }
    z.dispose();
  });

  it('refuses one class (the entropy scale √(log2 1) = 0 made every τ NaN) and logits that are not rows', () => {
    const one: SourceStats = { h0Bits: 0, logitNorm: 1, numClasses: 1, count: 1 };
    const before = tf.memory().numTensors;
    expect(trellisErrorOf(() => certaintyTemperatures([0.5, 2], 1, one)).code).toBe('BAD_CLASSES');
    const col = tf.tensor2d([0.5, 2], [2, 1]);
    expect(trellisErrorOf(() => certaintyTemperaturesTensor(col, one)).code).toBe('BAD_CLASSES');
    const flat = tf.tensor1d(row);
    expect(trellisErrorOf(() => certaintyTemperaturesTensor(flat, atSource)).code).toBe('LOGITS_SHAPE_MISMATCH');
    tf.dispose([col, flat]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('certaintyDistillationLoss (spec §2.4)', () => {
  it('refuses student, teacher and τ of mismatched shapes (broadcasting used to pair one teacher row with every student row) and an unknown divergence', () => {
    const before = tf.memory().numTensors;
    const zs = tf.tensor2d([[0, 1, 0], [1, 0, 0]]);
    const zt1 = tf.tensor2d([[2, 0, -1]]);
    const zt4 = tf.tensor2d([[2, 0, -1, 0], [0, 0, 0, 0]]);
    const zt = tf.tensor2d([[2, 0, -1], [0.5, 0.5, 0]]);
    const tau2 = tf.tensor1d([2, 1]);
    const tau1 = tf.tensor1d([2]);
    expect(trellisErrorOf(() => certaintyDistillationLoss(zs, zt1, tau2)).code).toBe('LOGITS_SHAPE_MISMATCH');
    expect(() => certaintyDistillationLoss(zs, zt1, tau2)).toThrow('the student logits are [2,3] but the teacher logits [1,3]');
    expect(trellisErrorOf(() => certaintyDistillationLoss(zs, zt4, tau2)).code).toBe('LOGITS_SHAPE_MISMATCH');
    expect(trellisErrorOf(() => certaintyDistillationLoss(zs, zt, tau1)).code).toBe('LOGITS_SHAPE_MISMATCH');
    const flat = tf.reshape(zs, [6]);
    expect(trellisErrorOf(() => certaintyDistillationLoss(flat, zt, tau2)).code).toBe('LOGITS_SHAPE_MISMATCH');
    expect(() => certaintyDistillationLoss(zs, zt, tau2, 'bce' as 'soft-ce')).toThrow('unknown divergence "bce"');
    tf.dispose([zs, zt1, zt4, zt, tau2, tau1, flat]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('soft-ce equals −Σ q ln p · mean(τ)² by hand, and is minimal at p = q', () => {
    const zt = tf.tensor2d([[2, 0, -1], [0.5, 0.5, 0]]);
    const tau = tf.tensor1d([2, 1]);
    const zs = tf.tensor2d([[0, 1, 0], [1, 0, 0]]);
    const loss = certaintyDistillationLoss(zs, zt, tau, 'soft-ce').dataSync()[0]!;
    const sm = (r: number[]) => { const e = r.map(Math.exp); const s = e.reduce((a, b) => a + b, 0); return e.map((v) => v / s); };
    const q = [sm([1, 0, -0.5]), sm([0.5, 0.5, 0])];
    const p = [sm([0, 1, 0]), sm([1, 0, 0])];
    const ce = -(q[0]!.reduce((a, v, j) => a + v * Math.log(p[0]![j]!), 0) + q[1]!.reduce((a, v, j) => a + v * Math.log(p[1]![j]!), 0)) / 2;
    expect(loss).toBeCloseTo(ce * 1.5 ** 2, 5);
    // At p = q (student logits = teacher logits / τ) the soft-ce equals the entropy of q: its minimum.
    const zq = tf.tensor2d([[1, 0, -0.5], [0.5, 0.5, 0]]);
    const atQ = certaintyDistillationLoss(zq, zt, tau, 'soft-ce').dataSync()[0]!;
    const hq = -q.reduce((a, r) => a + r.reduce((b, v) => b + v * Math.log(v), 0), 0) / 2;
    expect(atQ).toBeCloseTo(hq * 2.25, 5);
    expect(atQ).toBeLessThan(loss);
    tf.dispose([zt, tau, zs, zq]);
  });

  it('bce-reference is the Keras BCE with the student in the y_true slot', () => {
    const zt = tf.tensor2d([[2, 0]]);
    const tau = tf.tensor1d([1]);
    const zs = tf.tensor2d([[0, 0]]);
    const v = certaintyDistillationLoss(zs, zt, tau, 'bce-reference').dataSync()[0]!;
    const q0 = Math.exp(2) / (Math.exp(2) + 1);
    const bce = (p: number, q: number) => -(p * Math.log(q) + (1 - p) * Math.log(1 - q));
    expect(v).toBeCloseTo((bce(0.5, q0) + bce(0.5, 1 - q0)) / 2, 5);
    tf.dispose([zt, tau, zs]);
  });

  it('stays finite for extreme logits (clamps work)', () => {
    const zt = tf.tensor2d([[1e4, -1e4, 0]]);
    const zs = tf.tensor2d([[-1e4, 1e4, 0]]);
    for (const d of ['soft-ce', 'bce-reference'] as const) {
      const { tau } = certaintyTemperaturesTensor(zt, { h0Bits: 0.3, logitNorm: 8, numClasses: 3, count: 1 });
      const l = certaintyDistillationLoss(zs, zt, tau, d);
      expect(Number.isFinite(l.dataSync()[0]!)).toBe(true);
      tf.dispose([tau, l]);
    }
    tf.dispose([zt, zs]);
  });
});

describe('baseline objectives', () => {
  it('entropy and information maximisation by hand', () => {
    const z = tf.tensor2d([[0, 0], [Math.log(3), 0]]);
    const h = (p: number) => -(p * Math.log(p) + (1 - p) * Math.log(1 - p));
    expect(entropyLoss(z).dataSync()[0]).toBeCloseTo((h(0.5) + h(0.75)) / 2, 5);
    const im = informationMaximization(z);
    expect(im.entropy.dataSync()[0]).toBeCloseTo((h(0.5) + h(0.75)) / 2, 5);
    // mean prediction (0.625, 0.375); diversity term = −H(mean) (eps 1e-5 inside the log).
    expect(im.diversity.dataSync()[0]).toBeCloseTo(-h(0.625), 4);
    tf.dispose([z, im.entropy, im.diversity]);
  });

  it('ETA keeps reliable, non-redundant samples and weighs them by exp(−(H − E0))', () => {
    const probs = [0.9, 0.1, 0.5, 0.5, 0.1, 0.9];
    const ent = [0.3, 0.69, 0.3];
    const none = etaSelect(probs, ent, 2, 0.4, null, 0.4);
    expect(Array.from(none.mask)).toEqual([1, 0, 1]);
    expect(none.weights[0]).toBeCloseTo(Math.exp(0.1), 6);
    // With a mean prediction close to (0.9, 0.1), the first sample is redundant (cos ≈ 1).
    const ema = Float32Array.from([0.9, 0.1]);
    const red = etaSelect(probs, ent, 2, 0.4, ema, 0.5);
    expect(Array.from(red.mask)).toEqual([0, 0, 1]);
    expect(red.reliable).toBe(2);
    expect(red.kept).toBe(1);
  });
});

describe('computeSourceStats', () => {
  it('h0 is the mean teacher entropy in bits and κ the median logit norm, without reading labels', () => {
    const model = mlpBn({ inputShape: [4], hidden: [6], numClasses: 3, seed: 1 });
    const x = new Rng(2).normalArray(40 * 4);
    const ds = Dataset.fromArrays({ x, shape: [4], labels: null, numClasses: 3 });
    const stats = computeSourceStats(model, ds);
    const z = tf.tidy(() => model.apply(tf.tensor2d(x, [40, 4])).logits);
    const d = entropyAndNorm(z.dataSync(), 3);
    z.dispose();
    expect(stats.h0Bits).toBeCloseTo(d.entropyBits.reduce((a, b) => a + b, 0) / 40, 5);
    const sorted = Array.from(d.norm).sort((a, b) => a - b);
    expect(stats.logitNorm).toBeCloseTo((sorted[19]! + sorted[20]!) / 2, 5);
    expect(stats.count).toBe(40);
    expect(computeSourceStats(model, ds, { h0Reducer: 'median' }).h0Bits).not.toBeCloseTo(stats.h0Bits, 6);
    model.dispose();
  });
});
