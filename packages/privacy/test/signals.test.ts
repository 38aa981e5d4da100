import { describe, expect, it } from 'vitest';
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

  it('fits global and per-class thresholds that maximise balanced accuracy on the shadow data', () => {
    expect(bestThreshold([0.9, 0.8, 0.3, 0.2], [1, 1, 0, 0])).toEqual({ threshold: 0.8, balancedAccuracy: 1 });
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
