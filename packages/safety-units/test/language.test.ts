import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { bagOfTokens, encodeSequences, forwardSet, greedyAnswers, harmfulnessOf, makeSplits, RequestLanguage, safetyMetrics, sequenceNll, tinyTransformer, validateLayout, type Response } from '../src/index.js';
import { expectTrellisError, useWasm } from './helpers.js';

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

  it('split sizes that would overlap the splits, and a missing seed, are clear errors', () => {
    // scoreSize -5 used to give a scoring split of all but 5 requests overlapping the training split; 2.5 a truncated one
    expectTrellisError(() => makeSplits(lang, 3, { scoreSize: -5 }), 'BAD_OPTION', /scoreSize -5 is not an integer ≥ 1/);
    expectTrellisError(() => makeSplits(lang, 3, { evalSize: 2.5 }), 'BAD_OPTION', /evalSize 2.5 is not an integer ≥ 1/);
    expectTrellisError(() => makeSplits(lang, undefined as never), 'NO_SEED', /splits need a numeric seed/);
  });

  it('misspelt responses, a response list of the wrong length and requests outside the language are clear errors', () => {
    const reqs = lang.requests('hazard').slice(0, 3);
    // 'refused' used to be encoded as a compliant answer; a short list complied for the missing ones
    expectTrellisError(() => encodeSequences(lang, reqs, 'refused' as Response), 'BAD_OPTION', /unknown response "refused"/);
    expectTrellisError(() => encodeSequences(lang, reqs, ['refuse']), 'BAD_OPTION', /1 responses for 3 requests/);
    expectTrellisError(() => bagOfTokens(lang, reqs, 'no' as Response), 'BAD_OPTION', /unknown response "no"/);
    expectTrellisError(() => lang.sequence(reqs[0]!, 'refused' as Response), 'BAD_OPTION', /unknown response "refused"/);
    // used to be raw TypeErrors
    expectTrellisError(() => lang.content({ ...reqs[0]!, modifier: 9 }), 'BAD_OPTION', /modifier 9\) is outside the language/);
    expectTrellisError(() => lang.content({ ...reqs[0]!, object: 99 }), 'BAD_OPTION', /hazard object 99/);
    // 'answer' used to select the prompt positions
    expectTrellisError(() => lang.positionMask('answer' as never), 'BAD_OPTION', /unknown token scope "answer"/);
  });

  it('language sizes must be whole numbers (negative, NaN or string sizes used to give empty families or raw errors)', () => {
    expectTrellisError(() => new RequestLanguage({ verbs: -1 }), 'BAD_OPTION', /language size verbs -1 is not an integer ≥ 1/);
    expectTrellisError(() => new RequestLanguage({ verbs: '3' as never }), 'BAD_OPTION', /language size verbs "3"/);
    expectTrellisError(() => new RequestLanguage({ contentTokens: 0 }), 'BAD_OPTION', /contentTokens 0/);
    expect(new RequestLanguage({ skillVerbs: 0 }).requests('skill')).toEqual([]);
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

  it('bad transformer sizes are clear errors (fractional or string sizes used to fail inside tfjs, 0 / negative ones built empty models)', () => {
    const lang = new RequestLanguage();
    const base = { vocabSize: lang.vocabSize, maxLen: lang.maxLen, layers: 1, dModel: 8, heads: 2, dFf: 16, seed: 1 };
    expectTrellisError(() => tinyTransformer({ ...base, vocabSize: 2.5 }), 'BAD_OPTION', /transformer size vocabSize 2.5 is not an integer ≥ 1/);
    expectTrellisError(() => tinyTransformer({ ...base, vocabSize: '20' as never }), 'BAD_OPTION', /vocabSize "20"/);
    expectTrellisError(() => tinyTransformer({ ...base, layers: -1 }), 'BAD_OPTION', /layers -1/);
    expectTrellisError(() => tinyTransformer({ ...base, dFf: 0 }), 'BAD_OPTION', /dFf 0/);
    expectTrellisError(() => tinyTransformer({ ...base, seed: undefined as never }), 'NO_SEED', /needs a numeric seed/);
    expectTrellisError(() => tinyTransformer(undefined as never), 'BAD_OPTION', /needs its options/);
  });

  it('evaluating a model or set of another vocabulary is VOCABULARY_MISMATCH, and batch size 0 is an error, not a hang', () => {
    const lang = new RequestLanguage();
    const other = new RequestLanguage({ verbs: 12 });
    const m = tinyTransformer({ vocabSize: lang.vocabSize, maxLen: lang.maxLen, layers: 1, dModel: 8, heads: 2, dFf: 16, seed: 1 });
    const set = encodeSequences(lang, lang.requests('benign').slice(0, 2), 'comply');
    const otherSet = encodeSequences(other, other.requests('benign').slice(0, 2), 'comply');
    // these used to return metrics computed with the wrong row stride (exact match 0, made-up first tokens)
    expectTrellisError(() => forwardSet(m, set, other), 'VOCABULARY_MISMATCH', new RegExp(`model outputs ${lang.vocabSize} tokens but the language has ${other.vocabSize}`));
    expectTrellisError(() => forwardSet(m, otherSet, lang), 'VOCABULARY_MISMATCH', new RegExp(`sequence set has ${other.vocabSize} tokens`));
    expectTrellisError(() => greedyAnswers(m, set, other), 'VOCABULARY_MISMATCH', /model outputs/);
    const sets = { hazardSys: set, hazardNoSys: set, benign: set, skill: set, finetune: set };
    expectTrellisError(() => safetyMetrics(m, sets, other), 'VOCABULARY_MISMATCH', /model outputs/);
    // batch size 0 used to loop forever in greedy decoding
    expectTrellisError(() => greedyAnswers(m, set, lang, 0), 'BAD_BATCH_SIZE', /batch size 0 is not a positive integer/);
    m.dispose();
  });
});
