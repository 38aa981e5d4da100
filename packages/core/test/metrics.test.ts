import { describe, expect, it } from 'vitest';
import { accuracy, argmaxRows, brier, ece, mce, meanConfidence, meanEntropy, nll, perGroupAccuracy, reliabilityBins, Rng, softmaxRows, softmaxRows64, crossEntropyFromLogits, classificationMetrics } from '@trellis-ml/core';
import { codeOf } from './helpers.js';

describe('metrics (hand-computed)', () => {
  const probs = new Float32Array([0.9, 0.1, 0.6, 0.4, 0.3, 0.7, 0.2, 0.8]);
  const labels = new Int32Array([0, 1, 1, 1]);
  it('accuracy and per-group accuracy', () => {
    expect(accuracy([0, 0, 1, 1], labels)).toBe(0.75);
    expect(perGroupAccuracy([0, 0, 1, 1], labels, [0, 0, 1, 1])).toEqual({ 0: { accuracy: 0.5, count: 2 }, 1: { accuracy: 1, count: 2 } });
  });
  it('NLL and Brier', () => {
    const expectedNll = -(Math.log(0.9) + Math.log(0.4) + Math.log(0.7) + Math.log(0.8)) / 4;
    expect(nll(probs, labels, 2)).toBeCloseTo(expectedNll, 6);
    // Brier: (0.01+0.01) + (0.36+0.36) + (0.09+0.09) + (0.04+0.04) = 1.0 → mean 0.25
    expect(brier(probs, labels, 2)).toBeCloseTo(0.25, 6);
  });
  it('ECE with 15 bins: right-closed bins, weighted |acc - conf|', () => {
    // confidences 0.9 (correct), 0.6 (wrong), 0.7 (correct), 0.8 (correct), each alone in a bin
    // ECE = (0.1 + 0.6 + 0.3 + 0.2) / 4 = 0.3; MCE = 0.6
    expect(ece(probs, labels, 2)).toBeCloseTo(0.3, 6);
    expect(mce(probs, labels, 2)).toBeCloseTo(0.6, 6);
    const bins = reliabilityBins(new Float32Array([0.1, 0.9]), new Int32Array([1]), 2, 15);
    expect(bins[0]!.count).toBe(0); // top-label confidence 0.9 lands in bin (13/15, 14/15]
    expect(bins[13]!.count).toBe(1);
  });
  it('softmax and cross-entropy from logits agree', () => {
    const logits = new Float32Array([2, 0, -1, 1000, 0, 0]);
    const p = softmaxRows(logits, 3);
    expect(p[0]! + p[1]! + p[2]!).toBeCloseTo(1, 6);
    const ce = crossEntropyFromLogits(logits, new Int32Array([0, 1]), 3);
    expect(ce).toBeCloseTo((-Math.log(p[0]!) + 1000) / 2, 3);
    const m = classificationMetrics(logits, new Int32Array([0, 1]), 3, new Int32Array([0, 1]));
    expect(m.accuracy).toBe(0.5);
    expect(m.overconfidence).toBeCloseTo(m.meanConfidence - 0.5, 9);
  });
});

import { markdownTable } from '@trellis-ml/core';

describe('metrics refuse misaligned input', () => {
  const probs = [0.9, 0.1, 0.6, 0.4];
  it('a class count that is not a positive integer, or rows that are not whole, is BAD_SHAPE', () => {
    // k = 0 used to loop forever (n = length / 0 = Infinity); k = 3 on 4 values read past the end.
    for (const f of [softmaxRows, softmaxRows64, argmaxRows, meanConfidence, meanEntropy]) {
      expect(codeOf(() => f(probs, 0)), f.name).toBe('BAD_SHAPE');
      expect(codeOf(() => f(probs, 3)), f.name).toBe('BAD_SHAPE');
      expect(codeOf(() => f(probs, 1.5)), f.name).toBe('BAD_SHAPE');
    }
    expect(codeOf(() => nll(probs, [0], 3))).toBe('BAD_SHAPE');
  });
  it('labels of another length than the rows are LENGTH_MISMATCH, labels outside [0, k) LABEL_OUT_OF_RANGE', () => {
    for (const f of [nll, brier, crossEntropyFromLogits, ece, mce, reliabilityBins]) {
      expect(codeOf(() => f(probs, [0], 2)), f.name).toBe('LENGTH_MISMATCH');
      expect(codeOf(() => f(probs, [0, 2], 2)), f.name).toBe('LABEL_OUT_OF_RANGE');
      expect(codeOf(() => f(probs, [0, -1], 2)), f.name).toBe('LABEL_OUT_OF_RANGE');
      expect(codeOf(() => f(probs, [0, 0.5], 2)), f.name).toBe('LABEL_OUT_OF_RANGE');
    }
    expect(codeOf(() => accuracy([0, 1, 1], [0, 1]))).toBe('LENGTH_MISMATCH');
    expect(codeOf(() => perGroupAccuracy([0, 1], [0, 1], [0]))).toBe('LENGTH_MISMATCH');
    expect(codeOf(() => classificationMetrics(probs, [1], 2))).toBe('LENGTH_MISMATCH');
  });
  it('a bin count that is not a positive integer is BAD_OPTION', () => {
    expect(codeOf(() => ece(probs, [0, 1], 2, 0))).toBe('BAD_OPTION');
    expect(codeOf(() => ece(probs, [0, 1], 2, 1.5))).toBe('BAD_OPTION');
    expect(ece(probs, [0, 1], 2, 1)).toBeCloseTo(Math.abs(0.5 - 0.75), 12);
  });
  it('values are not checked: NaN logits give NaN metrics, not an error', () => {
    expect(Number.isNaN(crossEntropyFromLogits([NaN, 0], [0], 2))).toBe(true);
    // ECE and MCE too: the reliability bins leave a NaN row out, which gave a calibration error of 0
    const nanProbs = [0.9, 0.1, NaN, 0.5];
    expect(ece(nanProbs, [0, 1], 2)).toBeNaN();
    expect(mce(nanProbs, [0, 1], 2)).toBeNaN();
    const m = classificationMetrics([2, 0, NaN, 1], [0, 1], 2);
    expect(m.ece).toBeNaN();
    expect(m.mce).toBeNaN();
    expect(m.loss).toBeNaN();
    // and no rows at all: NaN, as accuracy, not 0
    expect(ece([], [], 2)).toBeNaN();
    expect(mce([], [], 2)).toBeNaN();
    expect(accuracy([], [])).toBeNaN();
    // mean entropy too, as mean confidence (it skipped the NaN entry: 0.5199 for this row pair)
    expect(meanEntropy([NaN, 0.5, 0.5, 0.5], 2)).toBeNaN();
    expect(meanConfidence([NaN, 0.5, 0.5, 0.5], 2)).toBeNaN();
    expect(meanEntropy([1, 0, 0.5, 0.5], 2)).toBeCloseTo(Math.LN2 / 2, 15);
  });
});

describe('Rng seeds', () => {
  it('a seed that is not a finite number is BAD_SEED (it used to act as seed 0, silently)', () => {
    for (const seed of [NaN, Infinity, 'abc', undefined, null]) {
      expect(codeOf(() => new Rng(seed as unknown as number)), String(seed)).toBe('BAD_SEED');
      expect(codeOf(() => Rng.derive(seed as unknown as number, 'x')), String(seed)).toBe('BAD_SEED');
    }
    expect(new Rng(1.7).nextUint32()).toBe(new Rng(1).nextUint32());
  });
  it('sample refuses a count it cannot draw (a negative k returned n − 1 indices)', () => {
    for (const [n, k] of [[5, -1], [5, 6], [5, 1.5], [2.5, 1]]) expect(codeOf(() => new Rng(1).sample(n!, k!)), `${n}, ${k}`).toBe('BAD_COUNT');
    expect(new Rng(1).sample(5, 0).length).toBe(0);
    expect([...new Rng(1).sample(5, 5)].sort()).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('report tables', () => {
  it('formats numbers compactly', () => {
    expect(markdownTable({ columns: ['a', 'b', 'c', 'd'], rows: [[35.2820, 1234.56, 0.000123456, 7]] })).toContain('| 35.28 | 1234.6 | 0.0001235 | 7 |');
    // a cell with a pipe or a line break keeps the row at its column count
    const row = markdownTable({ columns: ['x|y', 'b'], rows: [['|error|', 'two\nlines']] }).split('\n');
    expect(row[0]).toBe('| x\\|y | b |');
    expect(row[2]).toBe('| \\|error\\| | two lines |');
  });
});

describe('calibration binning on exact edges', () => {
  const nextUp = (x: number): number => {
    const b = new Float64Array([x]);
    new BigUint64Array(b.buffer)[0]! += 1n;
    return b[0]!;
  };
  const binOf = (c: number, bins: number): number => reliabilityBins([c, 1 - c], [0], 2, bins).findIndex((b) => b.count === 1);

  it('a confidence exactly on an upper edge m/M falls in bin m−1 even where c·M rounds above m', () => {
    expect(Math.ceil((14 / 25) * 25)).toBe(15); // the product rounds up past the integer
    expect(binOf(14 / 25, 25)).toBe(13); // (0.52, 0.56]
    expect(binOf(7 / 10, 10)).toBe(6);
    for (const bins of [10, 25, 50, 100]) {
      for (let m = Math.ceil(bins / 2); m <= bins; m++) expect(binOf(m / bins, bins)).toBe(m - 1);
    }
  });

  it('a confidence just above an edge m/M falls in bin m even where c·M rounds down to m', () => {
    const c = nextUp(11 / 15);
    expect(Math.ceil(c * 15) - 1).toBe(10); // the product rounds down onto the integer
    expect(binOf(c, 15)).toBe(11); // (11/15, 12/15]
    for (const bins of [7, 15, 20, 30, 50, 100]) {
      for (let m = Math.ceil(bins / 2); m < bins; m++) expect(binOf(nextUp(m / bins), bins)).toBe(m);
    }
  });

  it('a confidence of exactly 1/15 (15 equal logits) falls in the first of 15 bins, as the spec rules', () => {
    const logits = new Array(15).fill(0.3);
    expect(softmaxRows(logits, 15)[0]).not.toBe(1 / 15); // float32 rounds it up, over the edge
    const bins = reliabilityBins(softmaxRows64(logits, 15), [0], 15, 15);
    expect(bins[0]!.count).toBe(1);
    // classificationMetrics bins float64 probabilities: one sample, correct, confidence 1/15
    expect(classificationMetrics(logits, [0], 15).ece).toBeCloseTo(1 - 1 / 15, 12);
  });
});
