import { trellisErrorOf } from '@trellis-ml/testkit';
import { describe, expect, it } from 'vitest';
import {
  confusionFromLogits, confusionMatrix, cumulativeStages, impliedTrueClassProb, meanTrueClassProb, pairOverlap, pipelineSeries, sumMatrices, topConfusedPairs,
} from '../src/index.js';
import { S } from './helpers.js';

describe('figure 5 (a): the true-class probability spec §3.1 predicts, softmax(T·S\'[y])[y]', () => {
  it('hand-computed: a flat row gives 1/2 at every T, a [0, 1] row gives 1/(1 + e^−T)', () => {
    const Sp = [[0.5, 0.5], [0, 1]];
    const sig = (t: number): number => 1 / (1 + Math.exp(-t));
    // without labels: the mean over the classes
    expect(impliedTrueClassProb(Sp, 1)).toBeCloseTo((0.5 + sig(1)) / 2, 12); // 0.6155293
    expect(impliedTrueClassProb(Sp, 4)).toBeCloseTo((0.5 + sig(4)) / 2, 12);
    // over labels: each example counts once (two of class 0, three of class 1)
    expect(impliedTrueClassProb(Sp, 1, [0, 0, 1, 1, 1])).toBeCloseTo((2 * 0.5 + 3 * 0.7310585786300049) / 5, 12); // 0.6386352
    expect(impliedTrueClassProb(Sp, 1, [0, 0, 1, 1, 1])).toBeCloseTo(0.6386351472, 9);
  });

  it('at T = 1 it is the diagonal of the soft labels P (spec §5.8 rows: 0.361214, 0.336299, 0.333601, 0.382292)', () => {
    const Sp = S.map((row, a) => row.map((v, b) => v + (a === b ? 0.01 : 0)));
    expect(impliedTrueClassProb(Sp, 1)).toBeCloseTo((0.361214 + 0.336299 + 0.333601 + 0.382292) / 4, 6);
    expect(impliedTrueClassProb(Sp, 1, [3])).toBeCloseTo(0.382292, 6);
    // higher T sharpens: the implied true-class probability grows with T (spec §3.1)
    expect(impliedTrueClassProb(Sp, 20)).toBeGreaterThan(impliedTrueClassProb(Sp, 4));
  });

  it('bad input: T ≤ 0, a non-square matrix, labels out of range', () => {
    expect(trellisErrorOf(() => impliedTrueClassProb([[1, 0], [0, 1]], 0)).code).toBe('BAD_TEMPERATURE');
    expect(trellisErrorOf(() => impliedTrueClassProb([[1, 0]], 1)).code).toBe('MATRIX_SIZE_MISMATCH');
    expect(trellisErrorOf(() => impliedTrueClassProb([[1, 0], [0, 1]], 1, [2])).code).toBe('LABEL_OUT_OF_RANGE');
  });

  it('the student side: mean softmax(z)[y] of row-major logits', () => {
    // row 1: [0, ln 3], y = 1 → 3/4; row 2: [ln 4, 0], y = 0 → 4/5
    expect(meanTrueClassProb([0, Math.log(3), Math.log(4), 0], [1, 0], 2)).toBeCloseTo((0.75 + 0.8) / 2, 12);
    expect(trellisErrorOf(() => meanTrueClassProb([0, 1, 2], [0, 1], 2)).code).toBe('SHAPE_MISMATCH');
  });
});

describe('figure 5 (b): the student\'s most confused pairs against the matrix\'s top pairs', () => {
  it('confusion counts M[true][predicted], also from logits by argmax', () => {
    expect(confusionMatrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 0, 2, 1], 3)).toEqual([[1, 1, 0], [0, 1, 0], [1, 1, 1]]);
    // argmax of [2, 1, 0] = 0, [0, 3, 1] = 1, [0, 5, 9] = 2, [7, 1, 1] = 0
    expect(confusionFromLogits([2, 1, 0, 0, 3, 1, 0, 5, 9, 7, 1, 1], [0, 2, 2, 1], 3)).toEqual([[1, 0, 0], [1, 0, 0], [0, 1, 1]]);
    expect(trellisErrorOf(() => confusionMatrix([0, 3], [0, 1], 3)).code).toBe('LABEL_OUT_OF_RANGE');
    expect(trellisErrorOf(() => confusionMatrix([0], [0, 1], 3)).code).toBe('SHAPE_MISMATCH');
    expect(sumMatrices([[[1, 2], [3, 4]], [[10, 20], [30, 40]]])).toEqual([[11, 22], [33, 44]]);
  });

  it('pairs add both directions, leave out unconfused pairs, break ties by class index', () => {
    // 0↔1: 3 + 2 = 5; 0↔2: 4 + 0 = 4; 2↔3: 1 + 3 = 4; 1↔2: 1 + 0 = 1; 0↔3 and 1↔3: 0
    const M = [
      [50, 3, 4, 0],
      [2, 50, 1, 0],
      [0, 0, 50, 1],
      [0, 0, 3, 50],
    ];
    const top = topConfusedPairs(M, 5, ['a', 'b', 'c', 'd']);
    expect(top.map((p) => [p.label, p.count, p.value])).toEqual([['a↔b', 5, 2.5], ['a↔c', 4, 2], ['c↔d', 4, 2], ['b↔c', 1, 0.5]]);
    expect(topConfusedPairs(M, 2).map((p) => [p.a, p.b])).toEqual([[0, 1], [0, 2]]);
  });

  it('adding matrices of different sizes is a SHAPE_MISMATCH (it used to be a TypeError, or silently truncated)', () => {
    expect(trellisErrorOf(() => sumMatrices([[[1, 2], [3, 4]], [[1]]])).code).toBe('SHAPE_MISMATCH');
    expect(trellisErrorOf(() => sumMatrices([[[1]], [[1, 2], [3, 4]]])).code).toBe('SHAPE_MISMATCH');
    expect(() => sumMatrices([[[1, 2], [3, 4]], [[1, 2], [3]]])).toThrow(/add matrices of the same size/);
  });
  it('overlap counts unordered pairs found in both lists', () => {
    const sTop = [{ a: 0, b: 1 }, { a: 2, b: 3 }, { a: 4, b: 5 }];
    expect(pairOverlap(sTop, [{ a: 1, b: 0 }, { a: 3, b: 4 }, { a: 5, b: 4 }])).toBe(2);
    expect(pairOverlap(sTop, [])).toBe(0);
    // a pair listed twice counts once
    expect(pairOverlap([{ a: 0, b: 1 }, { a: 1, b: 0 }], sTop)).toBe(1);
  });
});

describe('figure 4: cumulative MACs over a pipeline\'s stages', () => {
  it('running totals in the order given', () => {
    const rows = cumulativeStages([
      { stage: 'a', macs: 100, ms: 10, accuracy: null },
      { stage: 'b', macs: 20, ms: 2, accuracy: null },
      { stage: 'c', macs: 60, ms: 1, accuracy: 0.5 },
    ]);
    expect(rows.map((r) => [r.cumulativeMacs, r.cumulativeMs])).toEqual([[100, 10], [120, 12], [180, 13]]);
  });

  it('source fit, soft-label production, then one stage per student epoch (3 × forward × examples)', () => {
    // student: 5 MACs forward, 4 examples per epoch → 3·5·4 = 60 MACs per epoch
    const student = { forwardMacsPerExample: 5, examplesPerEpoch: 4, epochMs: [1, 2], epochAccuracy: [0.5, 0.7] };
    const kd = pipelineSeries({ fitMacs: 100, fitMs: 10, labelMacs: 20, labelMs: 2 }, student, { fit: 'teacher training', label: 'teacher logits' });
    expect(kd.map((r) => [r.stage, r.macs, r.cumulativeMacs, r.cumulativeMs, r.accuracy])).toEqual([
      ['teacher training', 100, 100, 10, null],
      ['teacher logits', 20, 120, 12, null],
      ['student epoch 1', 60, 180, 13, 0.5],
      ['student epoch 2', 60, 240, 15, 0.7],
    ]);
    // no soft-label source (CE): the student's epochs only
    const ce = pipelineSeries({ fitMacs: 0, fitMs: 0, labelMacs: 0, labelMs: 0 }, student, { fit: '', label: '' });
    expect(ce.map((r) => [r.stage, r.cumulativeMacs])).toEqual([['student epoch 1', 60], ['student epoch 2', 120]]);
  });
});
