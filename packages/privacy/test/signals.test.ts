import { describe, expect, it } from 'vitest';
import { metricAttackSuite } from '../src/audit.js';
import { ShadowModelAttack } from '../src/shadowAttack.js';
import { concatSignals, signalsFromLogits } from '../src/signals.js';
import { bestThreshold, fitThresholds, metricScores } from '../src/thresholdAttack.js';
import { expectCode } from './helpers.js';

describe('signals', () => {
  it('computes loss, confidence, entropy, modified entropy and LiRA φ from logits', () => {
    const s = signalsFromLogits([Math.log(6), Math.log(3), Math.log(1)], [0], 3); // p = (0.6, 0.3, 0.1)
    expect(s.confidence[0]).toBeCloseTo(0.6, 12);
    expect(s.loss[0]).toBeCloseTo(-Math.log(0.6), 12);
    expect(s.entropy[0]).toBeCloseTo(-(0.6 * Math.log(0.6) + 0.3 * Math.log(0.3) + 0.1 * Math.log(0.1)), 12);
    expect(s.modifiedEntropy[0]).toBeCloseTo(-(0.4 * Math.log(0.6)) - 0.3 * Math.log(0.7) - 0.1 * Math.log(0.9), 12);
    expect(s.scaledLogit[0]).toBeCloseTo(Math.log(0.6) - Math.log(0.4), 10);
    expect(s.correct[0]).toBe(1);
  });

  it('keeps loss and modified entropy exact for very confident rows (a logit gap ≳ 37 rounded both to 0, a tie)', () => {
    // two classes, logits (g, 0), label 0: q = e^−g / (1 + e^−g), loss = log1p(e^−g), and since 1 − p = q and
    // log(1 − q) = log p, Mentr = q·loss + q·loss = 2·q·loss
    const gaps = [38, 40, 45];
    const s = signalsFromLogits(gaps.flatMap((g) => [g, 0]), [0, 0, 0], 2);
    gaps.forEach((g, i) => {
      const loss = Math.log1p(Math.exp(-g));
      const q = Math.exp(-g) / (1 + Math.exp(-g));
      expect(s.loss[i]! / loss, `loss, gap ${g}`).toBeCloseTo(1, 12);
      expect(s.modifiedEntropy[i]! / (2 * q * loss), `Mentr, gap ${g}`).toBeCloseTo(1, 12);
    });
    // so the more confident row is the more member-like one, for both scores
    for (const name of ['loss', 'modifiedEntropy'] as const) {
      const sc = metricScores(s, name);
      expect(sc[1]!, name).toBeGreaterThan(sc[0]!);
      expect(sc[2]!, name).toBeGreaterThan(sc[1]!);
    }
  });

  it('orients every metric so that a member-like (confident, correct) example scores higher', () => {
    const s = signalsFromLogits([5, 0, 0, 0.2, 0, 0], [0, 1], 3);
    for (const name of ['loss', 'confidence', 'entropy', 'modifiedEntropy', 'correctness'] as const) {
      const sc = metricScores(s, name);
      expect(sc[0]!, name).toBeGreaterThan(sc[1]!);
    }
    expectCode(() => metricScores(s, 'featureNorm'), 'NO_FEATURE_NORM');
  });

  it('rejects NaN logits', () => {
    expectCode(() => signalsFromLogits([NaN, 0], [0], 2), 'NAN_SCORE');
  });

  it('rejects a label that is not a class id (instead of reading a row past its end)', () => {
    for (const bad of [2, -1, 0.5]) expectCode(() => signalsFromLogits([0, 1, 1, 0], [0, bad], 2), 'LABEL_OUT_OF_RANGE');
  });

  it('rejects an infinite largest logit (the softmax would be NaN) and feature norms of the wrong length', () => {
    expect(expectCode(() => signalsFromLogits([0, 1, Infinity, 0], [0, 1], 2), 'NAN_SCORE').problem).toBe('the largest logit of example 1 is Infinity');
    expectCode(() => signalsFromLogits([-Infinity, -Infinity], [0], 2), 'NAN_SCORE');
    expect(signalsFromLogits([-Infinity, 0], [1], 2).loss[0]).toBeCloseTo(0, 12); // a −∞ logit next to a finite one is fine
    expect(expectCode(() => signalsFromLogits([0, 1, 1, 0], [0, 1], 2, [1]), 'LENGTH_MISMATCH').problem).toBe('1 feature norms for 2 labels');
  });

  it('refuses to mix signals of models with different class counts, and unknown threshold granularities', async () => {
    const two = signalsFromLogits([2, 0, 0, 2, 1, 1, 3, 0], [0, 1, 0, 0], 2);
    const three = signalsFromLogits([2, 0, 0, 0, 2, 0], [0, 1], 3);
    expect(expectCode(() => concatSignals([two, three]), 'CLASS_COUNT_MISMATCH').problem).toBe('signals 1 have 3 classes, signals 0 have 2');
    expectCode(() => fitThresholds(two, three, 'loss'), 'CLASS_COUNT_MISMATCH');
    expect(expectCode(() => fitThresholds(two, two, 'loss').predict(three), 'CLASS_COUNT_MISMATCH').problem).toContain('fitted on 2');
    expect(fitThresholds(two, two, 'loss', { perClass: false }).predict(three).length).toBe(2); // one global threshold fits any target
    expectCode(() => metricAttackSuite({ targetIn: three, targetOut: three, shadowIn: [two], shadowOut: [two] }), 'CLASS_COUNT_MISMATCH');
    const g = expectCode(() => metricAttackSuite({ targetIn: two, targetOut: two, shadowIn: [two], shadowOut: [two], granularity: ['classes' as never] }), 'BAD_OPTION');
    expect(g.problem).toContain('"classes" is neither');
    await expect(new ShadowModelAttack({ seed: 1 }).fit([two], [three])).rejects.toMatchObject({ code: 'CLASS_COUNT_MISMATCH' });
  });

  it('fits global and per-class thresholds that maximise balanced accuracy on the shadow data', () => {
    expect(bestThreshold([0.9, 0.8, 0.3, 0.2], [1, 1, 0, 0])).toEqual({ threshold: 0.8, balancedAccuracy: 1 });
    // a plateau: τ = 3 and τ = 1 both reach ½(½ + 1) = ½(1 + ½) = 0.75; the largest is kept, as documented
    expect(bestThreshold([3, 2, 1, 0], [1, 0, 1, 0])).toEqual({ threshold: 3, balancedAccuracy: 0.75 });
    // class 0: members have loss 0.1, non-members 1.0 ; class 1: members 2.0, non-members 3.0
    const logitsFor = (p: number) => [Math.log(p), Math.log(1 - p)];
    const sIn = signalsFromLogits([...logitsFor(Math.exp(-0.1)), ...logitsFor(1 - Math.exp(-2))].flat(), [0, 1], 2);
    const sOut = signalsFromLogits([...logitsFor(Math.exp(-1)), ...logitsFor(1 - Math.exp(-3))].flat(), [0, 1], 2);
    const perClass = fitThresholds(sIn, sOut, 'loss', { perClass: true });
    expect(Array.from(perClass.predict(concatSignals([sIn, sOut])))).toEqual([1, 1, 0, 0]);
    const global = fitThresholds(sIn, sOut, 'loss', { perClass: false });
    expect(global.thresholds.length).toBe(1);
    expect(Array.from(global.predict(concatSignals([sIn, sOut])))).not.toEqual([1, 1, 0, 0]);
  });
});
