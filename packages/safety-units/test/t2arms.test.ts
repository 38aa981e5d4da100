import * as tf from '@tensorflow/tfjs-core';
import { Trainer, TrellisError, type ModelAdapter } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  emptyMask, encodeSequences, lowRankAdapter, lowRankAdapterPlugin, lowRankParamCount, magnitudeMaskLike, resolveAdapterRank, outgoingNorms, RequestLanguage,
  sequenceLossPlugin, tinyTransformer, trainLanguageModel, type LowRankAdapter, type TinyTransformer, type UnitLayout,
} from '../src/index.js';
import { expectTrellisError, TinyMlp, useWasm, values } from './helpers.js';

beforeAll(useWasm);

describe('magnitude-freeze control (spec §4.4: largest ‖B_j‖, same size)', () => {
  // Two modules with hand-made B kernels (TF.js [hidden, out] layout: unit j = row j).
  // m1 row norms 1, 5, 2, 0.5 (column norms differ, so ranking by columns would pick other units);
  // m2 row norms 4, 3, 0.1.
  const B1 = [[1, 0, 0], [3, 4, 0], [0, 2, 0], [0.5, 0, 0]];
  const B2 = [[4, 0], [0, 3], [0.1, 0]];
  const layout: UnitLayout = [
    { id: 'm1', layer: 0, kind: 'mlp', numUnits: 4, tap: 't1', aSide: [], bSide: { variable: 'b1', axis: 0 } },
    { id: 'm2', layer: 1, kind: 'mlp', numUnits: 3, tap: 't2', aSide: [], bSide: { variable: 'b2', axis: 0 } },
  ];
  const withModel = (f: (model: ModelAdapter) => void) => {
    const vars = { b1: tf.variable(tf.tensor2d(B1)), b2: tf.variable(tf.tensor2d(B2)) };
    try {
      f({ trainableVariables: () => vars } as unknown as ModelAdapter);
    } finally {
      tf.dispose(Object.values(vars));
    }
  };
  // Reference set (e.g. Setting (i)): two units of m1, one of m2 (3 units).
  const like = { m1: Uint8Array.from([1, 0, 0, 1]), m2: Uint8Array.from([0, 0, 1]) };

  it('reads the outgoing-row norms', () => withModel((model) => {
    const n = outgoingNorms(model, layout);
    expect(Array.from(n.m1!)).toEqual([1, 5, 2, 0.5]);
    expect(n.m2![0]).toBe(4);
    expect(n.m2![1]).toBe(3);
    expect(n.m2![2]).toBeCloseTo(0.1, 6);
  }));

  it('global ranking (default) picks the 3 largest-norm units over all modules: m1#1 (5), m2#0 (4), m2#1 (3)', () => withModel((model) => {
    const mask = magnitudeMaskLike(model, layout, like);
    expect(Array.from(mask.m1!)).toEqual([0, 1, 0, 0]);
    expect(Array.from(mask.m2!)).toEqual([1, 1, 0]);
  }));

  it('per-module ranking keeps the reference set\'s count in every module', () => withModel((model) => {
    const mask = magnitudeMaskLike(model, layout, like, { match: 'per-module' });
    expect(Array.from(mask.m1!)).toEqual([0, 1, 1, 0]);
    expect(Array.from(mask.m2!)).toEqual([1, 0, 0]);
  }));

  it('rejects an unknown ranking and a mask of another layout', () => withModel((model) => {
    expect(() => magnitudeMaskLike(model, layout, like, { match: 'columns' as never })).toThrow(/not a ranking/);
    expect(() => magnitudeMaskLike(model, layout, { m1: new Uint8Array(5) })).toThrow(TrellisError);
  }));
});

// ---- low-rank adapter on the tiny transformer (1 block, d_model 8, d_ff 16)
const lang = new RequestLanguage({ verbs: 2, benignObjects: 8, hazardObjects: 4, modifiers: 2, contentTokens: 8 });
const D = 8;
const F = 16;
const build = (seed = 4, layers = 1): TinyTransformer => tinyTransformer({ vocabSize: lang.vocabSize, maxLen: lang.maxLen, layers, dModel: D, heads: 2, dFf: F, seed });
const data = () => {
  const requests = [...lang.requests('benign'), ...lang.requests('hazard')];
  return encodeSequences(lang, requests, requests.map((r) => (r.hazard ? 'refuse' : 'comply'))).data;
};
const snapshot = (vars: Record<string, tf.Variable>) => Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, values(v)]));

describe('low-rank adapter (spec §10.3 step 5: rank 4 on all projections)', () => {
  it('targets q, k, v, o, gate, up and down of every block', () => {
    const model = build(4, 2);
    const a = lowRankAdapter(model, { rank: 2, seed: 1 });
    expect(a.targets).toEqual([0, 1].flatMap((l) => ['q', 'k', 'v', 'o', 'gate', 'up', 'down'].map((p) => `L${l}/${p}/kernel`)));
    expect(Object.keys(a.trainableVariables())).toHaveLength(2 * 7 * 2);
    a.dispose();
  });

  it('counts r·(in + out) parameters per kernel (hand-computed)', () => {
    // Per block, r = 2: q, k, v, o are 8×8 → 4 · 2 · (8 + 8) = 128; gate, up are 8×16 → 2 · 2 · (8 + 16) = 96;
    // down is 16×8 → 2 · (16 + 8) = 48. Total 272 per block.
    const one = lowRankAdapter(build(4, 1), { rank: 2, seed: 1 });
    expect(one.parameterCount()).toBe(272);
    expect(Object.values(one.trainableVariables()).reduce((s, v) => s + v.size, 0)).toBe(272);
    one.dispose();
    const two = lowRankAdapter(build(4, 2), { rank: 4, seed: 1 });
    expect(two.parameterCount()).toBe(2 * 2 * 272);
    two.dispose();
    expect(lowRankParamCount([[8, 8], [16, 8]], 3)).toBe(3 * 16 + 3 * 24);
  });

  it('with B = 0 (its initial value) the adapted model computes exactly the base model', () => {
    const model = build();
    const a = lowRankAdapter(model, { rank: 4, alpha: 8, seed: 3 });
    for (const [k, v] of Object.entries(a.trainableVariables())) {
      if (k.endsWith('lora_B')) expect(values(v).every((x) => x === 0)).toBe(true);
      else expect(values(v).some((x) => x !== 0)).toBe(true);
    }
    const x = tf.tensor2d(data().x.slice(0, 4 * lang.maxLen), [4, lang.maxLen]);
    const base = tf.tidy(() => model.apply(x).logits);
    const adapted = tf.tidy(() => a.apply(x).logits);
    expect(values(adapted)).toEqual(values(base));
    tf.dispose([x, base, adapted]);
    a.dispose();
  });

  it('after Adam steps only A and B moved; every base weight is bit-identical; merge folds the update in', async () => {
    const model = build();
    const w0 = snapshot(model.trainableVariables());
    const trainer = new Trainer({
      model, optimizer: tf.train.adam(0.01), seed: 1, batchSize: 8, baseLoss: 'none',
      plugins: [sequenceLossPlugin(lang.lossOptions()), lowRankAdapterPlugin({ rank: 2, mergeOnFitEnd: false })],
    });
    await trainer.fit(data(), { epochs: 1, maxSteps: 3 });
    const a = trainer.model as LowRankAdapter;
    expect(Object.keys(a.trainableVariables()).every((k) => /lora_[AB]$/.test(k))).toBe(true);
    expect(snapshot(model.trainableVariables())).toEqual(w0);
    const ad = a.trainableVariables();
    // B gets a gradient from the first step, A from the second (its gradient is ∝ B).
    expect(values(ad['L0/q/kernel/lora_B']!).some((v) => v !== 0)).toBe(true);
    const aInit = lowRankAdapter(build(), { rank: 2, seed: 1 });
    expect(values(ad['L0/down/kernel/lora_A']!)).not.toEqual(values(aInit.trainableVariables()['L0/down/kernel/lora_A']!));
    aInit.dispose();
    // merge: the base model alone now computes the adapted model's output, and B is back to zero.
    const x = tf.tensor2d(data().x.slice(0, 4 * lang.maxLen), [4, lang.maxLen]);
    const adapted = tf.tidy(() => a.apply(x).logits);
    a.merge();
    const merged = tf.tidy(() => model.apply(x).logits);
    const diff = values(adapted).map((v, i) => Math.abs(v - values(merged)[i]!));
    expect(Math.max(...diff)).toBeLessThan(1e-4);
    expect(snapshot(model.trainableVariables())['L0/q/kernel']).not.toEqual(w0['L0/q/kernel']);
    expect(snapshot(model.trainableVariables())['head/kernel']).toEqual(w0['head/kernel']);
    expect(values(ad['L0/q/kernel/lora_B']!).every((v) => v === 0)).toBe(true);
    tf.dispose([x, adapted, merged]);
    trainer.dispose();
    model.dispose();
  });

  it('leaks no tensors across steps, and the plugin frees its adapters', async () => {
    const model = build();
    const set = data();
    const before = tf.memory().numTensors;
    const trainer = new Trainer({
      model, optimizer: tf.train.adam(0.01), seed: 2, batchSize: 8, baseLoss: 'none',
      plugins: [sequenceLossPlugin(lang.lossOptions()), lowRankAdapterPlugin({ rank: 4 })],
    });
    await trainer.fit(set, { epochs: 1, maxSteps: 2 });
    const counts: number[] = [];
    for (let i = 0; i < 5; i++) {
      await trainer.trainStep(set.batchAt(Int32Array.from({ length: 8 }, (_, k) => k)));
      counts.push(tf.memory().numTensors);
    }
    expect(new Set(counts).size).toBe(1);
    trainer.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('names bad input: rank < 1, fractional rank, rank above the matrix, alpha ≤ 0, unknown targets, models without weight overrides', () => {
    const model = build();
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return [(e as TrellisError).code, (e as Error).message];
      }
      return ['none', ''];
    };
    expect(code(() => lowRankAdapter(model, { rank: 0, seed: 1 }))[0]).toBe('BAD_RANK');
    expect(code(() => lowRankAdapter(model, { rank: 1.5, seed: 1 }))[0]).toBe('BAD_RANK');
    const [c, msg] = code(() => lowRankAdapter(model, { rank: 9, seed: 1 }));
    expect(c).toBe('BAD_RANK');
    expect(msg).toMatch(/rank 9 is larger than the 8×8 kernel "L0\/q\/kernel" allows \(at most 8\)/);
    expect(code(() => lowRankAdapter(model, { rank: 2, alpha: 0, seed: 1 }))[0]).toBe('BAD_OPTION');
    expect(code(() => lowRankAdapter(model, { rank: 2, targets: ['L0/nope/kernel'], seed: 1 }))[0]).toBe('BAD_TARGET');
    expect(code(() => lowRankAdapter(model, { rank: 2, targets: ['L0/attn_norm/gain'], seed: 1 }))[0]).toBe('BAD_TARGET');
    const mlp = new TinyMlp([[1, 0], [0, 1]], [0, 0], [[1], [1]], [0]);
    expect(code(() => lowRankAdapter(mlp, { rank: 1, seed: 1 }))[0]).toBe('NO_WEIGHT_OVERRIDE');
    mlp.dispose();
    // a missing seed used to draw A from seed 0 silently; a negative rank gave a negative parameter count
    expectTrellisError(() => lowRankAdapter(model, { rank: 2 } as never), 'NO_SEED', /low-rank adapter needs a numeric seed/);
    expectTrellisError(() => lowRankParamCount([[4, 4]], -1), 'BAD_RANK', /rank -1 is not an integer ≥ 1/);
    // the plugin checks rank, alpha and seed when it is built, not only when the Trainer wraps the model
    expectTrellisError(() => lowRankAdapterPlugin({ rank: -1 }), 'BAD_RANK', /adapter rank -1 is not an integer ≥ 1/);
    expectTrellisError(() => lowRankAdapterPlugin({ rank: 2, alpha: NaN }), 'BAD_OPTION', /adapter alpha NaN is not a positive number/);
    expectTrellisError(() => lowRankAdapterPlugin({ seed: NaN }), 'NO_SEED', /seed NaN is not a number/);
    expect(resolveAdapterRank({})).toEqual({ rank: 4, alpha: 4 });
    expect(resolveAdapterRank({ rank: 2, alpha: 8 })).toEqual({ rank: 2, alpha: 8 });
    model.dispose();
  });
});

describe('ASR curve every k steps (figure F2)', () => {
  it('calls onSteps at step 0, every k steps and after the last step, with the trained (wrapped) model', async () => {
    const model = build();
    const set = encodeSequences(lang, [...lang.requests('benign')].slice(0, 20), 'comply');
    expect(set.data.numBatches(8)).toBe(3);
    const seen: Array<[number, boolean]> = [];
    await trainLanguageModel(model, set, lang, {
      epochs: 1, learningRate: 0.01, batchSize: 8, seed: 1, evalEvery: 2, plugins: [lowRankAdapterPlugin({ rank: 1 })],
      onSteps: (step, m) => void seen.push([step, m !== model]),
    });
    // 20 examples, batch 8 → 3 steps: evaluated at 0, 2 and 3.
    expect(seen).toEqual([[0, true], [2, true], [3, true]]);
    await expect(trainLanguageModel(model, set, lang, { epochs: 1, learningRate: 0.01, batchSize: 8, seed: 1, evalEvery: 0, onSteps: () => {} })).rejects.toThrow(/evalEvery 0/);
    // a NaN, negative or missing learning rate used to train (NaN weights, gradient ascent, Adam's default); no options was a raw TypeError
    for (const learningRate of [NaN, -1, undefined]) {
      await expect(trainLanguageModel(model, set, lang, { epochs: 1, learningRate, batchSize: 8, seed: 1 } as never))
        .rejects.toMatchObject({ code: 'BAD_OPTION', message: expect.stringMatching(/learning rate .* is not a positive number/) });
    }
    await expect(trainLanguageModel(model, set, lang, undefined as never)).rejects.toMatchObject({ code: 'BAD_OPTION', message: expect.stringMatching(/needs its options/) });
    for (const maxSteps of [0, -1, 2.5]) {
      await expect(trainLanguageModel(model, set, lang, { epochs: 1, learningRate: 0.01, batchSize: 8, seed: 1, maxSteps }))
        .rejects.toMatchObject({ code: 'BAD_OPTION', message: expect.stringMatching(new RegExp(`maxSteps ${maxSteps} is not an integer`)) });
    }
    model.dispose();
  });
});

describe('empty-mask sanity', () => {
  it('magnitudeMaskLike of an empty mask is empty', () => {
    const model = build();
    const layout = model.unitModules();
    const mask = magnitudeMaskLike(model, layout, emptyMask(layout));
    expect(Object.values(mask).every((a) => a.every((v) => v === 0))).toBe(true);
    model.dispose();
  });
});
