import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { logNormSquash, relaxBranch, relaxedCenterLoss, relaxedCrossEntropy } from '../src/relaxedLosses.js';
import { cpu, expectCode } from './helpers.js';

beforeAll(cpu);
const v = (t: tf.Tensor) => t.dataSync()[0]!;

describe('relaxed losses', () => {
  const logits = () => tf.tensor2d([[Math.log(6), Math.log(3), 0]]); // p = (0.6, 0.3, 0.1)
  const y = () => tf.tensor1d([0], 'int32');
  const ce = -Math.log(0.6);

  it('refuses an unknown variant instead of silently using the original per-sample formula', () => {
    const e = expectCode(() => relaxedCrossEntropy(logits(), y(), { alpha: 0.3, upper: 1, scheduleEpoch: 1, variant: 'kim' as never }), 'BAD_OPTION');
    expect(e.problem).toBe('unknown RelaxLoss variant "kim"');
  });

  it('log-norm squashing scales by 1/(1 + t‖v‖) and bounds the norm by 1/t', () => {
    const out = logNormSquash(tf.tensor2d([[3, 4], [300, 400]]), 0.5).arraySync();
    expect(out[0]![0]).toBeCloseTo(3 / 3.5, 5);
    expect(out[0]![1]).toBeCloseTo(4 / 3.5, 5);
    expect(Math.hypot(out[1]![0]!, out[1]![1]!)).toBeLessThan(2);
  });

  it('schedule: |L − α| on even epochs, descent above α and flattening below on odd ones', () => {
    expect(relaxBranch(2, 0.1, 0.3)).toBe('abs');
    expect(relaxBranch(1, 0.5, 0.3)).toBe('descent');
    expect(relaxBranch(1, 0.2, 0.3)).toBe('flatten');
    expect(relaxBranch(0, 0.5, 0.3)).toBe('abs');
  });

  it('matches hand-computed values in every branch and both variants', () => {
    const abs = relaxedCrossEntropy(logits(), y(), { alpha: 0.3, upper: 1, scheduleEpoch: 2, variant: 'kimlab' });
    expect(abs.branch).toBe('abs');
    expect(v(abs.loss)).toBeCloseTo(ce - 0.3, 5);
    const desc = relaxedCrossEntropy(logits(), y(), { alpha: 0.3, upper: 1, scheduleEpoch: 1, variant: 'kimlab' });
    expect(desc.branch).toBe('descent');
    expect(v(desc.loss)).toBeCloseTo(ce, 5);
    const flat = relaxedCrossEntropy(logits(), y(), { alpha: 1, upper: 1, scheduleEpoch: 1, variant: 'kimlab' });
    expect(flat.branch).toBe('flatten');
    expect(v(flat.loss)).toBeCloseTo(-(0.6 * Math.log(0.6) + 0.2 * Math.log(0.3) + 0.2 * Math.log(0.1)), 5);
    const capped = relaxedCrossEntropy(logits(), y(), { alpha: 1, upper: 0.5, scheduleEpoch: 1, variant: 'kimlab' });
    expect(v(capped.loss)).toBeCloseTo(-(0.5 * Math.log(0.6) + 0.25 * Math.log(0.3) + 0.25 * Math.log(0.1)), 5);
    // original: correctly classified → (1 − 1)·softCE − CE = −CE (gradient ascent)
    const orig = relaxedCrossEntropy(logits(), y(), { alpha: 1, upper: 1, scheduleEpoch: 1, variant: 'original' });
    expect(v(orig.loss)).toBeCloseTo(-ce, 5);
  });

  it('CRL squashes the logits before the CE', () => {
    const z = [Math.log(6), Math.log(3), 0];
    const n = Math.hypot(...z) + 1e-7;
    const s = z.map((x) => x / (1 + 0.1 * n));
    const lse = Math.log(s.reduce((a, b) => a + Math.exp(b), 0));
    const r = relaxedCrossEntropy(logits(), y(), { alpha: 0.01, upper: 1, scheduleEpoch: 1, variant: 'kimlab', squashT: 0.1 });
    expect(v(r.loss)).toBeCloseTo(lse - s[0]!, 5);
  });

  it('soft targets carry gradient unless detached', () => {
    const x = tf.tensor2d([[0.3, -0.2, 0.1]]);
    const g = (detach: boolean) => tf.grad((l: tf.Tensor) => relaxedCrossEntropy(l as tf.Tensor2D, y(), { alpha: 5, upper: 1, scheduleEpoch: 1, variant: 'kimlab', detachTargets: detach }).loss)(x).arraySync() as number[][];
    const a = g(false)[0]!;
    const b = g(true)[0]!;
    expect(Math.abs(a[0]! - b[0]!)).toBeGreaterThan(1e-4);
  });

  it('relaxed centre loss: hand-computed distance, |D − α_c|, descent, confidence-weighted flattening', () => {
    const f = () => tf.tensor2d([[1, 0]]);
    const c = () => tf.tensor2d([[0, 1], [5, 5]]);
    const z = () => tf.tensor2d([[Math.log(3), 0]]); // q = 0.75
    // f̂ = (0.5, 0), ĉ0 = (0, 0.5): ‖f̂ − ĉ‖² = 0.5, D = 0.25; ‖f̂‖² = 0.25
    const opts = { t: 1, upper: 1 };
    expect(v(relaxedCenterLoss(f(), c(), y(), z(), { ...opts, alpha: 0.1, scheduleEpoch: 2 }).loss)).toBeCloseTo(0.15, 5);
    expect(v(relaxedCenterLoss(f(), c(), y(), z(), { ...opts, alpha: 0.1, scheduleEpoch: 1 }).loss)).toBeCloseTo(0.25, 5);
    const flat = relaxedCenterLoss(f(), c(), y(), z(), { ...opts, alpha: 0.3, scheduleEpoch: 1 });
    expect(flat.branch).toBe('flatten');
    expect(v(flat.loss)).toBeCloseTo((0.75 * 0.5 + 0.25 * 0.25) / 2, 5);
  });
});
