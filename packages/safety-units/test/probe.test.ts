import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { cosineDistance, meanRowCosineDistance, reasoningDirectionProbe, RequestLanguage, tinyTransformer } from '../src/index.js';
import { expectTrellisError, useWasm } from './helpers.js';

beforeAll(useWasm);

describe('reasoning-direction probe (spec §7, §10.3 step 8)', () => {
  it('cosine distances match hand values', () => {
    expect(cosineDistance([1, 0], [0, 1])).toBe(1);
    expect(cosineDistance([1, 2], [2, 4])).toBeCloseTo(0, 12);
    expect(cosineDistance([1, 0], [-1, 0])).toBe(2);
    expect(cosineDistance([3, 4], [4, 3])).toBeCloseTo(1 - 24 / 25, 12);
    expect(cosineDistance([0, 0], [0, 0])).toBe(0);
    expect(cosineDistance([0, 0], [1, 0])).toBe(1);
    expect(meanRowCosineDistance([1, 0, 1, 2], [0, 1, 2, 4], 2)).toBeCloseTo(0.5, 12);
    expect(() => cosineDistance([1], [1, 2])).toThrowError(/lengths 1 and 2/);
    expect(() => meanRowCosineDistance([1, 2, 3], [1, 2, 3], 2)).toThrowError(/row size 2/);
  });

  it('reads the last-position block states of the three variants, without leaking tensors', () => {
    const lang = new RequestLanguage();
    const model = tinyTransformer({ vocabSize: lang.vocabSize, maxLen: lang.maxLen, layers: 2, dModel: 8, heads: 2, dFf: 16, seed: 3 });
    const reqs = lang.requests('hazard').slice(0, 3);
    const before = tf.memory().numTensors;
    const pts = reasoningDirectionProbe(model, lang, reqs, { blockTaps: ['L0.out', 'L1.out'], steps: [0, 1] });
    expect(tf.memory().numTensors).toBe(before);
    expect(pts.map((p) => [p.generated, p.layer])).toEqual([[0, 0], [0, 1], [1, 0], [1, 1]]);
    // Reference for step 0, block 1: one forward pass per variant, state at the last real position.
    const state = (tokens: number[]) => tf.tidy(() => {
      const x = new Float32Array(lang.maxLen).fill(lang.tok.PAD);
      x.set(tokens);
      const f = model.apply(tf.tensor2d(x, [1, lang.maxLen]), { taps: ['L1.out'] }).features['L1.out']!;
      return Array.from(f.dataSync().slice((tokens.length - 1) * 8, tokens.length * 8));
    });
    let refusal = 0;
    let comply = 0;
    for (const r of reqs) {
      const clean = state(lang.prompt(r));
      refusal += cosineDistance(clean, state([...lang.prompt(r), lang.refusal(r)[0]!])) / reqs.length;
      comply += cosineDistance(clean, state([...lang.prompt(r), lang.compliantAnswer(r)[0]!])) / reqs.length;
    }
    expect(pts[1]!.refusal).toBeCloseTo(refusal, 5);
    expect(pts[1]!.comply).toBeCloseTo(comply, 5);
    expect(() => reasoningDirectionProbe(model, lang, reqs, { blockTaps: ['L9.out'] })).toThrowError(/no feature "L9.out"/);
    // batch size 0 used to loop forever; a language of another vocabulary gave distances of misread states
    expectTrellisError(() => reasoningDirectionProbe(model, lang, reqs, { blockTaps: ['L0.out'], batchSize: 0 }), 'BAD_BATCH_SIZE', /batch size 0 is not a positive integer/);
    const other = new RequestLanguage({ verbs: 12 });
    expectTrellisError(() => reasoningDirectionProbe(model, other, other.requests('hazard').slice(0, 2), { blockTaps: ['L0.out'] }), 'VOCABULARY_MISMATCH',
      new RegExp(`model outputs ${lang.vocabSize} tokens but the language has ${other.vocabSize}`));
    expectTrellisError(() => reasoningDirectionProbe(model, lang, reqs, undefined as never), 'BAD_OPTION', /no block taps/);
    model.dispose();
  });
});
