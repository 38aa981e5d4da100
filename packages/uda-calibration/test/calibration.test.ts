import { describe, expect, it } from 'vitest';
import { Rng } from '@trellis-ml/core';
import {
  adaptiveEce,
  applyTemperature,
  calibrationReport,
  fitTemperature,
  meanLogitNorm,
  relativeToSource,
  rowArgmax,
  rowEntropies,
  StreamingCalibration,
  topConfidences,
} from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';

/** Logits whose softmax is exactly `probs` (log of probabilities). */
const logitsOf = (probs: number[]): Float64Array => Float64Array.from(probs, (p) => Math.log(p));


describe('calibrationReport (hand-computed)', () => {
  // Four examples, two classes. Confidences 0.9 (correct), 0.78 (wrong), 0.58 (correct), 0.55 (correct),
  // chosen away from the bin edges m/15 so float32 rounding cannot move them.
  const probs = [0.9, 0.1, 0.78, 0.22, 0.42, 0.58, 0.45, 0.55];
  const labels = [0, 1, 1, 1];
  const r = calibrationReport(logitsOf(probs), labels, 2);

  it('accuracy, ECE, MCE over 15 equal-width bins', () => {
    expect(r.accuracy).toBeCloseTo(0.75, 12);
    // bins: 0.9 → (13/15, 14/15] alone: |1 − 0.9| = 0.1; 0.78 → (11/15, 12/15] alone: |0 − 0.78|;
    // 0.58 and 0.55 share (8/15, 9/15]: acc 1, conf 0.565 → 0.435. ECE = 0.25·0.1 + 0.25·0.78 + 0.5·0.435.
    expect(r.ece).toBeCloseTo(0.4375, 6);
    expect(r.mce).toBeCloseTo(0.78, 6);
    expect(r.rmsce).toBeCloseTo(Math.sqrt(0.25 * 0.01 + 0.25 * 0.78 ** 2 + 0.5 * 0.435 ** 2), 6);
  });

  it('Brier (not divided by k), NLL from logits, confidence gap, entropy', () => {
    const brier = (0.1 ** 2 * 2 + 0.78 ** 2 * 2 + 0.42 ** 2 * 2 + 0.45 ** 2 * 2) / 4;
    expect(r.brier).toBeCloseTo(brier, 6);
    expect(r.nll).toBeCloseTo(-(Math.log(0.9) + Math.log(0.22) + Math.log(0.58) + Math.log(0.55)) / 4, 6);
    expect(r.meanConfidence).toBeCloseTo((0.9 + 0.78 + 0.58 + 0.55) / 4, 6);
    expect(r.overconfidenceGap).toBeCloseTo(0.7025 - 0.75, 6);
    const h = (p: number) => -(p * Math.log(p) + (1 - p) * Math.log(1 - p));
    const hn = (h(0.9) + h(0.78) + h(0.58) + h(0.55)) / 4;
    expect(r.meanEntropyNats).toBeCloseTo(hn, 6);
    expect(r.meanEntropyBits).toBeCloseTo(hn / Math.LN2, 6);
    expect(r.certainty).toBeCloseTo(Math.LN2 / hn, 6);
    expect(r.confidenceHistogram.reduce((s, v) => s + v, 0)).toBe(4);
    expect(r.reliability).toHaveLength(15);
    expect(r.reliability[13]!.count).toBe(1);
    expect(r.reliability[8]!.count).toBe(2);
    expect(r.reliability[11]!.count).toBe(1);
    expect(r.reliability[8]!.gap).toBeCloseTo(0.565 - 1, 6);
  });

  it('adaptive ECE uses equal-count bins', () => {
    // 2 bins of 2 examples sorted by confidence: {0.55 ✓, 0.58 ✓} → |1 − 0.565|; {0.78 ✗, 0.9 ✓} → |0.5 − 0.84|.
    expect(adaptiveEce(probs, labels, 2, 2)).toBeCloseTo(0.5 * 0.435 + 0.5 * 0.34, 10);
  });

  it('adaptive ECE rejects bad bins, labels and probabilities instead of returning a number', () => {
    const p = [0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.3, 0.3, 0.4];
    for (const bins of [0, -1, 2.5, NaN]) {
      expect(trellisErrorOf(() => adaptiveEce(p, [0, 1, 2], 3, bins)).code).toBe('BAD_BINS');
      expect(() => adaptiveEce(p, [0, 1, 2], 3, bins)).toThrow(`nBins ${bins} is not a positive integer`);
    }
    expect(trellisErrorOf(() => adaptiveEce(p, [0, 1, 7], 3)).code).toBe('LABEL_OUT_OF_RANGE');
    expect(() => adaptiveEce(p, [0, 1, 7], 3)).toThrow('label 7 of example 2 is outside [0, 3)');
    expect(trellisErrorOf(() => adaptiveEce(p, [0, 1], 3)).code).toBe('LOGITS_SHAPE_MISMATCH');
    expect(trellisErrorOf(() => adaptiveEce([], [], 3)).code).toBe('EMPTY_DATASET');
    expect(trellisErrorOf(() => adaptiveEce([0.7, 0.2, 0.1], [0], 0)).code).toBe('BAD_CLASSES');
    const unnormalised = [0.2, 0.3, 0.1, ...p.slice(3)];
    expect(trellisErrorOf(() => adaptiveEce(unnormalised, [0, 1, 2], 3)).code).toBe('BAD_PROBABILITIES');
    expect(() => adaptiveEce(unnormalised, [0, 1, 2], 3)).toThrow(/row 0 of the probabilities sums to 0\.6/);
    expect(() => adaptiveEce([NaN, 0.5, 0.5, ...p.slice(3)], [0, 1, 2], 3)).toThrow(/probability NaN in row 0, class 0 is not in \[0, 1\]/);
    expect(() => adaptiveEce([5, 0, 0, ...p.slice(3)], [0, 1, 2], 3)).toThrow(/probability 5 in row 0/);
  });

  it('a confidence of 1.0 lands in the last bin, ECE 0 when all correct at confidence 1', () => {
    const logits = [100, 0, 0, 100, 100, 0];
    const all = calibrationReport(logits, [0, 1, 0], 2);
    expect(all.ece).toBeLessThan(1e-12);
    expect(all.reliability[14]!.count).toBe(3);
  });

  it('a confidence of exactly 1/15 lands in the first bin (spec §9 bin-edge case)', () => {
    // K = 15. Example A: 15 equal logits → confidence exactly 1/15, argmax 0 = label (correct).
    // Example B: top probability 0.1 (bin 2, (1/15, 2/15]), the other 14 share 0.9; label 1 (wrong).
    const k = 15;
    const a = new Array<number>(k).fill(0);
    const b = [Math.log(0.1), ...new Array<number>(k - 1).fill(Math.log(0.9 / 14))];
    const r = calibrationReport([...a, ...b], [0, 1], k);
    expect(r.reliability[0]!.count).toBe(1);
    expect(r.reliability[1]!.count).toBe(1);
    expect(r.reliability[0]!.meanConfidence).toBe(1 / 15);
    // ECE = ½·|1 − 1/15| + ½·|0 − 0.1| = 0.516667 (a float32 softmax put A in bin 2: ECE 0.416667).
    expect(r.ece).toBeCloseTo(0.5 * (14 / 15) + 0.5 * 0.1, 12);
    expect(r.mce).toBeCloseTo(14 / 15, 12);
  });

  it('synthetic calibrated predictions have ECE < 0.02 (N = 20k)', () => {
    const rng = new Rng(7);
    const n = 20000;
    const k = 4;
    const logits = new Float32Array(n * k);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const row = Array.from({ length: k }, () => rng.normal() * 2);
      row.forEach((v, j) => (logits[i * k + j] = v));
      const m = Math.max(...row);
      const e = row.map((v) => Math.exp(v - m));
      const s = e.reduce((a, b) => a + b, 0);
      let u = rng.next() * s;
      let y = 0;
      while (y < k - 1 && (u -= e[y]!) > 0) y++;
      labels[i] = y;
    }
    expect(calibrationReport(logits, labels, k).ece).toBeLessThan(0.02);
  });

  it('meanLogitNorm refuses a class count that does not fit the logits (k = 0 used to loop forever)', () => {
    expect(trellisErrorOf(() => meanLogitNorm([1, 2, 3], 0)).code).toBe('LOGITS_SHAPE_MISMATCH');
    expect(trellisErrorOf(() => meanLogitNorm([1, 2, 3], 2)).code).toBe('LOGITS_SHAPE_MISMATCH');
    expect(meanLogitNorm([3, 4, 0, 0], 2)).toBe(2.5);
  });

  it('NaN logits, wrong shapes and bad labels raise TrellisErrors', () => {
    expect(trellisErrorOf(() => calibrationReport([0.1, NaN, 0.2, 0.3], [0, 1], 2)).code).toBe('NON_FINITE_LOGITS');
    expect(trellisErrorOf(() => calibrationReport([0.1, 0.2, 0.3], [0, 1], 2)).code).toBe('LOGITS_SHAPE_MISMATCH');
    expect(trellisErrorOf(() => calibrationReport([0.1, 0.2], [2], 2)).code).toBe('LABEL_OUT_OF_RANGE');
    expect(trellisErrorOf(() => calibrationReport([], [], 2)).code).toBe('EMPTY_DATASET');
  });

  it('the host row helpers refuse values that do not hold their rows (they read undefined as NaN or misread rows)', () => {
    expect(Array.from(topConfidences([0.7, 0.3, 0.2, 0.8], 2))).toEqual([0.7, 0.8]);
    expect(trellisErrorOf(() => topConfidences([0.7, 0.3, 0.2, 0.8], 3)).code).toBe('LOGITS_SHAPE_MISMATCH');
    expect(trellisErrorOf(() => topConfidences([0.7, 0.3], 0)).code).toBe('LOGITS_SHAPE_MISMATCH');
    expect(trellisErrorOf(() => rowEntropies([0, 0, 0], 2, 2)).code).toBe('LOGITS_SHAPE_MISMATCH');
    expect(trellisErrorOf(() => rowArgmax([0, 1, 2], 2, 2)).code).toBe('LOGITS_SHAPE_MISMATCH');
    expect(Array.from(rowArgmax([0, 1, 2, 0, 9, 9], 2, 2))).toEqual([1, 0]); // a longer buffer is read in part
  });
});

describe('StreamingCalibration', () => {
  it('scores the whole stream (not a mean of per-batch scores) and a sliding window', () => {
    const rng = new Rng(3);
    const logits = rng.normalArray(60 * 3);
    const labels = Int32Array.from({ length: 60 }, () => rng.int(3));
    const s = new StreamingCalibration(3);
    for (let b = 0; b < 6; b++) s.add(logits.subarray(b * 30, (b + 1) * 30), labels.subarray(b * 10, (b + 1) * 10));
    expect(s.size).toBe(60);
    const whole = calibrationReport(logits, labels, 3);
    expect(s.report().ece).toBeCloseTo(whole.ece, 6);
    expect(s.report().nll).toBeCloseTo(whole.nll, 6);
    expect(s.windowed(20).ece).toBeCloseTo(calibrationReport(logits.subarray(120), labels.subarray(40), 3).ece, 6);
  });
});

describe('relativeToSource', () => {
  it('computes relative changes and flags over-certainty', () => {
    const base = calibrationReport(logitsOf([0.6, 0.4, 0.4, 0.6, 0.7, 0.3, 0.45, 0.55]), [0, 0, 0, 1], 2);
    const sharp = calibrationReport(logitsOf([0.99, 0.01, 0.01, 0.99, 0.99, 0.01, 0.02, 0.98]), [0, 0, 0, 1], 2);
    const rel = relativeToSource(sharp, base);
    expect(rel.dEntropy).toBeCloseTo((sharp.meanEntropyNats - base.meanEntropyNats) / base.meanEntropyNats, 10);
    expect(rel.dEce).toBeCloseTo((sharp.ece - base.ece) / base.ece, 10);
    expect(rel.dAccPoints).toBeCloseTo(0, 10);
    expect(rel.errorReduction).toBeCloseTo(0, 10);
    expect(rel.overCertain).toBe(true);
    expect(relativeToSource(base, base).overCertain).toBe(false);
  });
});

describe('temperature scaling', () => {
  it('recovers the temperature of over-confident logits and changes confidences, not predictions', () => {
    const rng = new Rng(11);
    const n = 4000;
    const k = 3;
    const base = rng.normalArray(n * k);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const row = Array.from(base.subarray(i * k, (i + 1) * k));
      const m = Math.max(...row);
      const e = row.map((v) => Math.exp(v - m));
      let u = rng.next() * e.reduce((a, b) => a + b, 0);
      let y = 0;
      while (y < k - 1 && (u -= e[y]!) > 0) y++;
      labels[i] = y;
    }
    const sharp = applyTemperature(base, 1 / 3); // logits × 3: over-confident
    const T = fitTemperature(sharp, labels, k);
    expect(T).toBeGreaterThan(2.6);
    expect(T).toBeLessThan(3.4);
    const scaled = applyTemperature(sharp, T);
    const before = calibrationReport(sharp, labels, k);
    const after = calibrationReport(scaled, labels, k);
    expect(after.accuracy).toBe(before.accuracy);
    expect(after.nll).toBeLessThan(before.nll);
    expect(after.ece).toBeLessThan(before.ece);
    expect(Math.abs(topConfidences(scaled.map(Math.exp), k)[0]! - topConfidences(sharp.map(Math.exp), k)[0]!)).toBeGreaterThan(0);
  });

  it('rejects NaN logits and a non-positive temperature', () => {
    expect(trellisErrorOf(() => fitTemperature([0, NaN], [0], 2)).code).toBe('NON_FINITE_LOGITS');
    expect(trellisErrorOf(() => applyTemperature([1, 2], 0)).code).toBe('BAD_TEMPERATURE');
  });

  it('rejects labels outside [0, k), a single class, an unbounded range and a bad iteration count (instead of an edge temperature)', () => {
    const z = [2, 1, 0, 0, 1, 2, 1, 1, 1];
    for (const bad of [[0, 1, 5], [0, 1, -1], [0, 1.5, 2]]) {
      expect(trellisErrorOf(() => fitTemperature(z, bad, 3)).code).toBe('LABEL_OUT_OF_RANGE');
      expect(() => fitTemperature(z, bad, 3)).toThrow(/of example \d is outside \[0, 3\)/);
    }
    expect(trellisErrorOf(() => fitTemperature([1, 2, 3], [0, 0, 0], 1)).code).toBe('BAD_CLASSES');
    expect(() => fitTemperature([1, 2, 3], [0, 0, 0], 1)).toThrow('numClasses 1 is not an integer ≥ 2');
    expect(trellisErrorOf(() => fitTemperature(z, [0, 1, 2], 3, { range: [1, Infinity] })).code).toBe('BAD_RANGE');
    expect(() => fitTemperature(z, [0, 1, 2], 3, { range: [1, Infinity] })).toThrow('temperature range [1, Infinity]');
    for (const iterations of [-1, NaN, Infinity, 2.5]) {
      expect(trellisErrorOf(() => fitTemperature(z, [0, 1, 2], 3, { iterations })).code).toBe('BAD_OPTION');
      expect(() => fitTemperature(z, [0, 1, 2], 3, { iterations })).toThrow(`iterations ${iterations} is not a positive whole number`);
    }
  });
});
