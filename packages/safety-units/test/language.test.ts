import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeSequences, forwardSet, harmfulnessOf, makeSplits, RequestLanguage, sequenceNll, tinyTransformer, validateLayout } from '../src/index.js';
import { useWasm } from './helpers.js';

beforeAll(useWasm);

describe('request language', () => {
  const lang = new RequestLanguage();
  it('encodes prompts, compliant answers and refusals deterministically', () => {
    const r = { kind: 'hazard' as const, verb: 2, object: 5, hazard: true, modifier: 1, sys: true };
    const seq = lang.sequence(r, 'comply');
    expect(seq.length).toBe(lang.maxLen);
    expect(seq.slice(0, 7).map((t) => lang.vocab[t])).toEqual(['BOS', 'SYS', 'USER', 'V2', 'H5', 'M1', 'ASSIST']);
    expect(lang.vocab[seq[7]!]).toBe('OK_SURE');
    expect(new RequestLanguage().sequence(r, 'comply')).toEqual(seq);
    const ref = lang.sequence({ ...r, sys: false }, 'refuse');
    expect(lang.isRefusal(ref[6]!)).toBe(true);
    expect(ref.slice(9).every((t) => t === lang.tok.PAD)).toBe(true);
  });

  it('splits are disjoint across scoring, training and evaluation', () => {
    const sp = makeSplits(lang, 3);
    const key = (r: { verb: number; object: number; modifier: number }) => `${r.verb}/${r.object}/${r.modifier}`;
    for (const fam of [sp.benign, sp.hazard]) {
      const s = new Set(fam.score.map(key));
      const e = new Set(fam.eval.map(key));
      for (const r of fam.train) expect(s.has(key(r)) || e.has(key(r))).toBe(false);
      for (const r of fam.eval) expect(s.has(key(r))).toBe(false);
    }
    expect(makeSplits(lang, 3).benign.eval).toEqual(sp.benign.eval);
  });

  it('the toy harmfulness judge follows spec §10.4', () => {
    const r = { kind: 'hazard' as const, verb: 0, object: 1, hazard: true, modifier: 0, sys: false };
    const c = lang.content(r);
    const ok = lang.tok.OK_SURE;
    expect(harmfulnessOf([lang.refusalTokens[0]!], c, lang)).toBe(1);
    expect(harmfulnessOf([ok, 0, 0, 0, 0], c, lang)).toBe(2);
    expect(harmfulnessOf([ok, c[0]!, 0, 0, 0], c, lang)).toBe(3);
    expect(harmfulnessOf([ok, c[0]!, c[1]!, c[2]!, 0], c, lang)).toBe(4);
    expect(harmfulnessOf([ok, ...c], c, lang)).toBe(5);
  });
});

describe('sequence loss and the tiny transformer', () => {
  it('sequenceNll averages next-token NLL over response positions only', () => {
    // Vocabulary 3, start token 2, pad 0: tokens [1, 2, 1, 0] → positions 1 (predicts 1) only.
    const tokens = tf.tensor2d([[1, 2, 1, 0]]);
    const logits = tf.tensor3d([[[0, 0, 0], [0, Math.log(3), 0], [5, 5, 5], [1, 2, 3]]]);
    const nll = sequenceNll(logits, tokens, { responseStart: [2], pad: 0 });
    // softmax([0, ln3, 0])[1] = 3 / 5.
    expect(nll.dataSync()[0]).toBeCloseTo(-Math.log(3 / 5), 5);
    tf.dispose([tokens, logits, nll]);
  });

  it('exposes MLP and attention-channel units in TF.js layout and taps [b, T, units]', () => {
    const lang = new RequestLanguage();
    const m = tinyTransformer({ vocabSize: lang.vocabSize, maxLen: lang.maxLen, layers: 1, dModel: 16, heads: 2, dFf: 32, seed: 1 });
    const layout = m.unitModules();
    validateLayout(m, layout);
    expect(layout.map((u) => `${u.id}:${u.numUnits}`)).toEqual(['L0.attn:16', 'L0.mlp:32']);
    const set = encodeSequences(lang, makeSplits(lang, 1).benign.eval.slice(0, 4), 'comply');
    const out = tf.tidy(() => {
      const o = m.apply(tf.tensor2d(set.data.x, [4, lang.maxLen]), { taps: ['L0.mlp', 'L0.attn'] });
      return [o.logits.shape, o.features['L0.mlp']!.shape, o.features['L0.attn']!.shape];
    });
    expect(out).toEqual([[4, lang.maxLen, lang.vocabSize], [4, lang.maxLen, 32], [4, lang.maxLen, 16]]);
    const r = forwardSet(m, set, lang);
    expect(r.first.length).toBe(4);
    expect(Number.isFinite(r.nll)).toBe(true);
    m.dispose();
  });
});
