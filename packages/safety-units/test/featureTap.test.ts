/**
 * The tiny transformer's taps end with `L<last>.out`, the stream its final norm and head read, so "the tap before
 * the last" (`L<last>.mlp`) is not its penultimate representation: it declares `featureTap`, and the low-rank
 * adapter, which delegates its taps to the base model, delegates it too.
 */
import { penultimateTap } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { lowRankAdapter, RequestLanguage, tinyTransformer } from '../src/index.js';
import { useWasm } from './helpers.js';

beforeAll(useWasm);

describe('feature tap', () => {
  it('tiny transformer declares L<last>.out; the low-rank adapter delegates it', () => {
    const lang = new RequestLanguage({ verbs: 2, benignObjects: 8, hazardObjects: 4, modifiers: 2, contentTokens: 8 });
    const model = tinyTransformer({ vocabSize: lang.vocabSize, maxLen: lang.maxLen, layers: 2, dModel: 8, heads: 2, dFf: 16, seed: 4 });
    expect(model.tapNames().slice(-2)).toEqual(['L1.mlp', 'L1.out']);
    expect(penultimateTap(model)).toBe('L1.out');
    const adapted = lowRankAdapter(model, { rank: 2, seed: 1 });
    expect(adapted.featureTap).toBe('L1.out');
    expect(penultimateTap(adapted)).toBe('L1.out');
    adapted.dispose();
  });
});
