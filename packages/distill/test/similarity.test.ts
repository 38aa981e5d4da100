import * as tf from '@tensorflow/tfjs-core';
import { Dataset, Rng, TrellisError } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  autoDiagBoost, boostDiagonal, classSimilarityMatrix, classSimilarityMatrixLoop, diagArgmaxCount, labelSmoothingGenerator, matrixGenerator, reffakdGenerator,
  rowSoftmax, samplePerClass, shuffleOffDiagonal, shuffledMatrixGenerator, tfkdRegGenerator, topPairs, validateSoftLabelMatrix, type ReffakdOptions,
} from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

/** Random non-negative codes (post-ReLU-like) with a class-dependent bump. */
function randomCodes(n: number, dim: number, C: number, seed: number): { codes: Float32Array; classes: Int32Array } {
  const rng = new Rng(seed);
  const codes = new Float32Array(n * dim);
  const classes = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    classes[i] = i % C;
    for (let d = 0; d < dim; d++) codes[i * dim + d] = Math.max(0, rng.normal(d % C === i % C ? 1 : 0, 1));
  }
  return { codes, classes };
}

describe('class-similarity matrix', () => {
  it('two tight clusters: hand-computed block means, equal to the loop', () => {
    // class 0: two codes along x; class 1: one along x, one along y
    const codes = [1, 0, 2, 0, /* class 1 */ 3, 0, 0, 1];
    const classes = [0, 0, 1, 1];
    const S = classSimilarityMatrix(codes, 2, classes, 2);
    // S[0][0] = cos(e0,e1) = 1; S[1][1] = cos((3,0),(0,1)) = 0; S[0][1] = mean of 4 cosines {1, 0, 1, 0} = 0.5
    expect(S[0]![0]).toBeCloseTo(1, 12);
    expect(S[1]![1]).toBeCloseTo(0, 12);
    expect(S[0]![1]).toBeCloseTo(0.5, 12);
    expect(S[1]![0]).toBeCloseTo(0.5, 12);
    const loop = classSimilarityMatrixLoop(codes, 2, classes, 2);
    loop.forEach((r, a) => r.forEach((v, b) => expect(S[a]![b]).toBeCloseTo(v, 12)));
  });
  it('codes far shorter than 1 (a nearly dead encoder) give the same cosines, vectorised and looped (each norm clamped on its own)', () => {
    // the same directions as above at scales 1e-5 and 1e-9: the cosines do not depend on the scale
    // until a norm falls under the 1e-8 clamp; the looped version used to clamp the product (1e-10 < 1e-8 → 0.01)
    const codes = [1, 0, 2, 0, 3, 0, 0, 1];
    const tiny = codes.map((v) => v * 1e-5);
    for (const f of [classSimilarityMatrix, classSimilarityMatrixLoop]) {
      const S = f(tiny, 2, [0, 0, 1, 1], 2);
      expect(S[0]![0]).toBeCloseTo(1, 9);
      expect(S[0]![1]).toBeCloseTo(0.5, 9);
      expect(S[1]![1]).toBeCloseTo(0, 9);
    }
    // below the clamp: (1e-9, 0)·(2e-9, 0) / (1e-8 · 1e-8) = 0.02 (and class 0's self-similarity (1e-9/1e-8)² = 0.01 is excluded)
    const sub = codes.map((v) => v * 1e-9);
    for (const f of [classSimilarityMatrix, classSimilarityMatrixLoop]) expect(f(sub, 2, [0, 0, 1, 1], 2)[0]![0]).toBeCloseTo(0.02, 12);
  });
  it('vectorised and looped versions agree to 1e-6 on random codes; symmetric; self-pairs excluded', () => {
    const { codes, classes } = randomCodes(60, 16, 4, 3);
    codes.fill(0, 5 * 16, 6 * 16); // an all-zero code: cosine 0 with everything
    const S = classSimilarityMatrix(codes, 16, classes, 4);
    const L = classSimilarityMatrixLoop(codes, 16, classes, 4);
    S.forEach((r, a) => r.forEach((v, b) => {
      expect(Math.abs(v - L[a]![b]!)).toBeLessThan(1e-6);
      expect(v).toBe(S[b]![a]);
    }));
    // a class whose codes are identical has a diagonal of exactly 1 (self-pairs excluded, not double counted)
    const same = new Float32Array([1, 2, 1, 2, 1, 2, 0, 1, 1, 0]);
    const S2 = classSimilarityMatrix(same, 2, [0, 0, 0, 1, 1], 2);
    expect(S2[0]![0]).toBe(1);
  });
  it("'auto' boost puts every row's argmax on the diagonal; a fixed small δ may not", () => {
    const S = [[0.5, 0.7, 0.2], [0.7, 0.9, 0.3], [0.2, 0.3, 0.8]];
    expect(diagArgmaxCount(S)).toBe(2);
    const d = autoDiagBoost(S);
    expect(d).toBeCloseTo(0.2 + 0.002, 12);
    const P = rowSoftmax(boostDiagonal(S, d));
    expect(diagArgmaxCount(P)).toBe(3);
    expect(diagArgmaxCount(rowSoftmax(boostDiagonal(S, 0.008)))).toBe(2);
    P.forEach((r) => expect(r.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12));
  });
  it('top pairs, shuffled control keeps diagonal and row sums', () => {
    const S = [[1, 0.9, 0.1], [0.9, 1, 0.5], [0.1, 0.5, 1]];
    expect(topPairs(S, 2, ['a', 'b', 'c']).map((p) => p.label)).toEqual(['a↔b', 'b↔c']);
    const P = rowSoftmax([[1, 0.9, 0.1, 0.3], [0.9, 1, 0.5, 0.2], [0.1, 0.5, 1, 0.4], [0.3, 0.2, 0.4, 1]]);
    const Q = shuffleOffDiagonal(P, new Rng(5));
    Q.forEach((r, a) => {
      expect(r[a]).toBe(P[a]![a]);
      expect(r.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
      expect([...r].sort()).toEqual([...P[a]!].sort());
    });
    expect(Q).not.toEqual(P);
  });
});

describe('bad input', () => {
  it('the matrix helpers refuse ragged matrices and bad numbers instead of returning a misread result', () => {
    const S = [[1, 0.5], [0.5, 1]];
    expect(trellisErrorOf(() => rowSoftmax([[1, 0.5], [0.5]])).code).toBe('MATRIX_SIZE_MISMATCH'); // the short row became [1]
    expect(trellisErrorOf(() => boostDiagonal([[1, 0.5]], 0.1)).code).toBe('MATRIX_SIZE_MISMATCH');
    expect(trellisErrorOf(() => diagArgmaxCount([])).code).toBe('MATRIX_SIZE_MISMATCH');
    expect(trellisErrorOf(() => shuffleOffDiagonal([[1, 0], [0]], new Rng(1))).code).toBe('MATRIX_SIZE_MISMATCH');
    expect(trellisErrorOf(() => autoDiagBoost(S, -1)).code).toBe('BAD_OPTION'); // was a boost of −1
    expect(trellisErrorOf(() => boostDiagonal(S, NaN)).code).toBe('BAD_OPTION'); // was a NaN diagonal
    expect(trellisErrorOf(() => topPairs(S, 0)).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => topPairs(S, -1)).code).toBe('BAD_OPTION');
    expect(autoDiagBoost(S, 0.002)).toBeCloseTo(0.002, 12);
    expect(rowSoftmax([[0, 0, Math.log(2)]])[0]).toEqual([0.25, 0.25, 0.5]);
  });
  it('soft labels that do not sum to 1', () => {
    const e = (() => { try { matrixGenerator([[0.5, 0.6], [0, 1]]); } catch (err) { return err; } })();
    expect(e).toBeInstanceOf(TrellisError);
    expect((e as TrellisError).code).toBe('SOFT_LABELS_NOT_NORMALIZED');
    expect((e as TrellisError).message).toMatch(/row 0 sums to 1\.1/);
  });
  it('a similarity matrix of the wrong size', () => {
    expect(() => validateSoftLabelMatrix([[1, 0], [0, 1]], 3)).toThrow(/2 × 2.*3 classes/);
    expect(() => matrixGenerator([[1, 0, 0], [0, 1, 0]], { isLogits: true, numClasses: 3 })).toThrow(TrellisError);
    expect(() => matrixGenerator([[1, 0, 0], [0, 1]], { numClasses: 2 })).toThrow(/MATRIX|matrix/);
    expect(() => validateSoftLabelMatrix([[1, -0.1, 0.1], [0, 1, 0], [0, 0, 1]])).toThrow(/must be finite probabilities/);
  });
  it('too few codes of a class', () => {
    expect(() => classSimilarityMatrix([1, 0, 0, 1, 1, 1], 2, [0, 0, 1], 2)).toThrow(/class 1 has 1 code/);
  });
  it('a class id outside [0, numClasses)', () => {
    const codes = [1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9];
    for (const f of [classSimilarityMatrix, classSimilarityMatrixLoop]) {
      const e = trellisErrorOf(() => f(codes, 2, [0, 0, 1, 2], 2));
      expect(e.code).toBe('LABEL_OUT_OF_RANGE');
      expect(e.message).toMatch(/class id 2 of code 3 is outside \[0, 2\)/);
    }
  });
  it('non-finite codes (the matrix used to come out NaN) and a class count that is not a positive integer (a RangeError)', () => {
    const codes = [1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9];
    for (const f of [classSimilarityMatrix, classSimilarityMatrixLoop]) {
      const e = trellisErrorOf(() => f([NaN, ...codes.slice(1)], 2, [0, 0, 1, 1], 2));
      expect(e.code).toBe('NON_FINITE_INPUT');
      expect(e.message).toMatch(/code value NaN of code 0 \(class 0\) is not finite/);
      expect(trellisErrorOf(() => f(codes, 2, [0, 0, 1, 1], 2.5)).code).toBe('BAD_CLASSES');
      expect(trellisErrorOf(() => f(codes, 2, [0, 0, 1, 1], -1)).message).toMatch(/numClasses -1 is not a positive integer/);
    }
  });
  it('a row softmax of NaN / +Infinity entries is refused; −Infinity (log 0) next to a finite logit still works', () => {
    const e = trellisErrorOf(() => rowSoftmax([[0, 1], [NaN, 0]]));
    expect(e.code).toBe('NON_FINITE_INPUT');
    expect(e.message).toMatch(/entry \[1\]\[0\] of the matrix is NaN/);
    expect(trellisErrorOf(() => rowSoftmax([[Infinity, 0]])).code).toBe('NON_FINITE_INPUT');
    expect(trellisErrorOf(() => rowSoftmax([[-Infinity, -Infinity]])).code).toBe('NON_FINITE_INPUT');
    expect(rowSoftmax([[-Infinity, 0]])).toEqual([[0, 1]]);
    expect(trellisErrorOf(() => matrixGenerator([[NaN, 0], [0, 1]], { isLogits: true })).code).toBe('NON_FINITE_INPUT');
    expect(trellisErrorOf(() => matrixGenerator(undefined as unknown as number[][])).message).toMatch(/matrixGenerator needs a C × C matrix/);
  });
  it('Tf-KD_reg and label-smoothing generators: τ ≤ 0 (NaN rows) or < 0 (a silently inverted matrix), a out of [0, 1], a missing class count, an unknown variant', () => {
    const e = trellisErrorOf(() => tfkdRegGenerator({ numClasses: 3, tau: -1 }));
    expect(e.code).toBe('BAD_TEMPERATURE');
    expect(e.message).toMatch(/Tf-KD τ -1 must be a positive finite number/);
    expect(trellisErrorOf(() => tfkdRegGenerator({ numClasses: 3, tau: 0 })).code).toBe('BAD_TEMPERATURE');
    expect(trellisErrorOf(() => tfkdRegGenerator({ numClasses: 3, tau: 1, a: 2 })).message).toMatch(/Tf-KD a 2 is outside \[0, 1\]/);
    const noC = trellisErrorOf(() => labelSmoothingGenerator({ epsilon: 0.1 } as { numClasses: number; epsilon: number }));
    expect(noC.code).toBe('BAD_CLASSES');
    expect(noC.message).toMatch(/labelSmoothingGenerator: numClasses undefined is not an integer ≥ 2/);
    expect(trellisErrorOf(() => tfkdRegGenerator({ numClasses: 0, tau: 1 })).code).toBe('BAD_CLASSES');
    expect(trellisErrorOf(() => labelSmoothingGenerator({ numClasses: 3, epsilon: 0.1, variant: 'others' as 'uniform-others' })).message).toMatch(/variant "others"/);
  });
  it('ReffAKD options are checked when the generator is built, not after the autoencoder has trained (or never: typos used to pick another source)', () => {
    const bad = (o: Partial<ReffakdOptions>): TrellisError => trellisErrorOf(() => reffakdGenerator({ numClasses: 3, ...o }));
    expect(bad({ featureSource: 'pixel' as 'pixels' }).message).toMatch(/unknown featureSource "pixel"/);
    expect(bad({ autoencoder: 'Conv' as 'conv' }).message).toMatch(/unknown autoencoder "Conv"/);
    expect(bad({ diagBoost: NaN }).message).toMatch(/diagBoost NaN is neither 'auto' nor a finite number/);
    expect(bad({ diagBoost: 'Auto' as 'auto' }).code).toBe('BAD_OPTION');
    expect(bad({ rowTemperature: 0 }).code).toBe('BAD_TEMPERATURE');
    expect(bad({ numClasses: undefined as unknown as number }).code).toBe('BAD_CLASSES');
    expect(trellisErrorOf(() => reffakdGenerator(undefined as unknown as ReffakdOptions)).message).toMatch(/reffakdGenerator needs an options object/);
  });
});

describe('generators', () => {
  function toyImages(n: number, C: number, seed: number): Dataset {
    const rng = new Rng(seed);
    const x = new Float32Array(n * 16);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % C;
      for (let d = 0; d < 16; d++) x[i * 16 + d] = Math.min(1, Math.max(0, rng.normal(d % C === i % C ? 0.8 : 0.2, 0.2)));
    }
    return Dataset.fromArrays({ x, shape: [16], labels, numClasses: C });
  }
  it('per-class sampling is seeded and warns on small classes', () => {
    const labels = Int32Array.from([0, 0, 0, 1, 1, 0, 1, 0]);
    const a = samplePerClass(labels, 2, 3, new Rng(1));
    const b = samplePerClass(labels, 2, 3, new Rng(1));
    expect([...a.indices]).toEqual([...b.indices]);
    expect(a.indices.length).toBe(6);
    expect(a.warnings.length).toBe(0);
    const c = samplePerClass(labels, 2, 4, new Rng(1));
    expect(c.warnings[0]).toMatch(/class 1 has only 3/);
  });
  it('ReffAKD (pixels / dense AE): same seed → same matrix; auto boost → diagonal argmax; pseudoLogits reproduce P', async () => {
    const data = toyImages(200, 4, 2);
    const before = tf.memory().numTensors;
    const g1 = reffakdGenerator({ numClasses: 4, samplesPerClass: 10, dense: { hidden: 8, code: 4 }, aeTraining: { epochs: 1, batchSize: 50 } });
    const g2 = reffakdGenerator({ numClasses: 4, samplesPerClass: 10, dense: { hidden: 8, code: 4 }, aeTraining: { epochs: 1, batchSize: 50 } });
    const r1 = await g1.fit!(data);
    await g2.fit!(data);
    expect(g1.matrix()).toEqual(g2.matrix());
    expect(g1.report()!.diagArgmaxCount).toBe(4);
    expect(g1.cost().fitMacs).toBeGreaterThan(0);
    expect(r1).toBe(g1.report());
    const labels = tf.tensor1d([0, 1, 2, 3], 'int32');
    const T = 4;
    const p = g1.pseudoLogits({ labels }, T);
    const back = tf.tidy(() => tf.softmax(tf.div(p, T)).arraySync() as number[][]);
    back.forEach((r, a) => r.forEach((v, b) => expect(v).toBeCloseTo(g1.matrix()![a]![b]!, 5)));
    const pixels = reffakdGenerator({ numClasses: 4, samplesPerClass: 10, featureSource: 'pixels' });
    await pixels.fit!(data);
    expect(pixels.cost().fitMacs).toBe(0);
    const shuffled = shuffledMatrixGenerator(pixels, 3);
    expect(shuffled.matrix()!.map((r, a) => r[a])).toEqual(pixels.matrix()!.map((r, a) => r[a]));
    for (const g of [g1, g2, pixels, shuffled]) g.dispose();
    tf.dispose([labels, p]);
    expect(tf.memory().numTensors).toBe(before);
  });
  it("aeInput 'standardized' (the notebooks' Normalize) feeds the AE standardised pixels for training and encoding; a bad mode is rejected", async () => {
    const data = toyImages(200, 4, 2);
    const before = tf.memory().numTensors;
    const opts = { numClasses: 4, samplesPerClass: 10, dense: { hidden: 8, code: 4 } } as const;
    const unit = reffakdGenerator({ ...opts, featureSource: 'random-encoder' });
    const std = reffakdGenerator({ ...opts, featureSource: 'random-encoder', aeInput: 'standardized' });
    await unit.fit!(data);
    await std.fit!(data);
    // same seeded encoder, different inputs → different similarities
    expect(std.report()!.S).not.toEqual(unit.report()!.S);
    const faithful = reffakdGenerator({ ...opts, aeInput: 'standardized', aeTraining: { epochs: 1, batchSize: 50, reconstructionTarget: 'normalized' } });
    const rep = await faithful.fit!(data);
    expect(rep.aeMse.length).toBe(1);
    expect(Number.isFinite(rep.aeMse[0]!)).toBe(true);
    // refused when the generator is built (it used to be only when fit built the autoencoder)
    expect(() => reffakdGenerator({ ...opts, aeInput: 'zscore' as never })).toThrow(/not an autoencoder input mode/);
    for (const g of [unit, std, faithful]) g.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
