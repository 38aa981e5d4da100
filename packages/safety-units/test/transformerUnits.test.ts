import * as tf from '@tensorflow/tfjs-core';
import { Trainer } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  attributeTransfer, emptyMask, encodeSequences, RequestLanguage, sequenceLossPlugin, tinyTransformer, unitBudgetPlugin, unitFreezePlugin,
  type TinyTransformer, type UnitClassification, type UnitMask,
} from '../src/index.js';
import { useWasm, values } from './helpers.js';

beforeAll(useWasm);

// Units of the tiny transformer live in four kernels per block (TF.js [in, out] layout):
// MLP unit j = column j of gate/kernel and up/kernel [d, dFf] and row j of down/kernel [dFf, d];
// attention channel c = column c of v/kernel [d, d] and row c of o/kernel [d, d].
const lang = new RequestLanguage({ verbs: 2, benignObjects: 8, hazardObjects: 4, modifiers: 2, contentTokens: 8 });
const D = 8;
const F = 16;
const col = (v: number[], cols: number, j: number) => v.filter((_, i) => i % cols === j);
const row = (v: number[], cols: number, j: number) => v.slice(j * cols, (j + 1) * cols);

function setup(): { model: TinyTransformer; data: ReturnType<typeof encodeSequences>['data'] } {
  const model = tinyTransformer({ vocabSize: lang.vocabSize, maxLen: lang.maxLen, layers: 1, dModel: D, heads: 2, dFf: F, seed: 4 });
  const requests = [...lang.requests('benign'), ...lang.requests('hazard')];
  return { model, data: encodeSequences(lang, requests, requests.map((r) => (r.hazard ? 'refuse' : 'comply'))).data };
}

function snapshot(m: TinyTransformer): Record<string, number[]> {
  return Object.fromEntries(Object.entries(m.trainableVariables()).map(([k, v]) => [k, values(v)]));
}

async function train(model: TinyTransformer, data: ReturnType<typeof setup>['data'], plugin: ReturnType<typeof unitFreezePlugin>, steps: number): Promise<void> {
  const t = new Trainer({ model, optimizer: tf.train.adam(0.01), plugins: [sequenceLossPlugin(lang.lossOptions()), plugin], seed: 1, batchSize: 8, baseLoss: 'none' });
  await t.fit(data, { epochs: 10, maxSteps: steps });
  t.dispose();
}

describe('freezing and budgets on the tiny transformer (spec §2.2 layout, §4.3, §5)', () => {
  it('freezing MLP unit 3 and attention channel 5 keeps exactly gate/up column 3, down row 3, v column 5 and o row 5 bit-identical', async () => {
    const { model, data } = setup();
    const layout = model.unitModules();
    const frozen: UnitMask = emptyMask(layout);
    frozen['L0.mlp']![3] = 1;
    frozen['L0.attn']![5] = 1;
    const w0 = snapshot(model);
    await train(model, data, unitFreezePlugin({ layout, frozen }), 5);
    const w1 = snapshot(model);
    for (const k of ['L0/gate/kernel', 'L0/up/kernel']) {
      expect(col(w1[k]!, F, 3)).toEqual(col(w0[k]!, F, 3));
      expect(col(w1[k]!, F, 4)).not.toEqual(col(w0[k]!, F, 4));
    }
    expect(row(w1['L0/down/kernel']!, D, 3)).toEqual(row(w0['L0/down/kernel']!, D, 3));
    expect(row(w1['L0/down/kernel']!, D, 4)).not.toEqual(row(w0['L0/down/kernel']!, D, 4));
    expect(col(w1['L0/v/kernel']!, D, 5)).toEqual(col(w0['L0/v/kernel']!, D, 5));
    expect(col(w1['L0/v/kernel']!, D, 4)).not.toEqual(col(w0['L0/v/kernel']!, D, 4));
    expect(row(w1['L0/o/kernel']!, D, 5)).toEqual(row(w0['L0/o/kernel']!, D, 5));
    expect(row(w1['L0/o/kernel']!, D, 4)).not.toEqual(row(w0['L0/o/kernel']!, D, 4));
    // W_q / W_k and the head are not units: they train (spec §4.2 default).
    expect(w1['L0/q/kernel']).not.toEqual(w0['L0/q/kernel']);
    expect(w1['head/kernel']).not.toEqual(w0['head/kernel']);
    model.dispose();
  });

  it('a budget plugin moves the budget slices after one step and nothing else (non-unit params frozen)', async () => {
    const { model, data } = setup();
    const layout = model.unitModules();
    const trainable: UnitMask = emptyMask(layout);
    trainable['L0.mlp']![7] = 1;
    trainable['L0.attn']![2] = 1;
    const w0 = snapshot(model);
    await train(model, data, unitBudgetPlugin({ layout, trainable }), 1);
    const w1 = snapshot(model);
    const changed = (a: number[], b: number[]) => a.some((v, i) => v !== b[i]);
    for (const k of ['L0/gate/kernel', 'L0/up/kernel']) {
      for (let j = 0; j < F; j++) expect(changed(col(w1[k]!, F, j), col(w0[k]!, F, j))).toBe(j === 7);
    }
    for (let j = 0; j < F; j++) expect(changed(row(w1['L0/down/kernel']!, D, j), row(w0['L0/down/kernel']!, D, j))).toBe(j === 7);
    for (let c = 0; c < D; c++) {
      expect(changed(col(w1['L0/v/kernel']!, D, c), col(w0['L0/v/kernel']!, D, c))).toBe(c === 2);
      expect(changed(row(w1['L0/o/kernel']!, D, c), row(w0['L0/o/kernel']!, D, c))).toBe(c === 2);
    }
    for (const k of ['embed/tokens', 'embed/positions', 'L0/q/kernel', 'L0/k/kernel', 'L0/attn_norm/gain', 'L0/mlp_norm/gain', 'final_norm/gain', 'head/kernel']) {
      expect(w1[k]).toEqual(w0[k]);
    }
    // Adam's first step moves every weight with a non-zero gradient by ≈ lr: the budget slices moved by that much.
    const dDown = row(w1['L0/down/kernel']!, D, 7).map((v, i) => Math.abs(v - row(w0['L0/down/kernel']!, D, 7)[i]!));
    expect(Math.max(...dDown)).toBeCloseTo(0.01, 4);
    model.dispose();
  });
});

describe('attribute transfer (spec §6)', () => {
  it('counts group moves as fractions of all units (hand-computed)', () => {
    const cls = (groups: number[]): UnitClassification => ({
      modules: [{ id: 'm', layer: 0, kind: 'mlp', numUnits: groups.length }], groups: { m: Uint8Array.from(groups) },
      S: {}, U: {}, D: {}, T: {}, fractions: { esu: 0.1, euu: 0.1, ru: 0.1 }, normalize: 'none', counts: { ESU: 0, EUU: 0, CU: 0, RU: 0 },
    });
    // before: ESU ESU EUU CU CU CU CU RU; after: ESU CU EUU CU ESU EUU CU RU (codes ESU 0, EUU 1, CU 2, RU 3).
    const t = attributeTransfer(cls([0, 0, 1, 2, 2, 2, 2, 3]), cls([0, 2, 1, 2, 0, 1, 2, 3]));
    expect(t).toEqual([
      [1 / 8, 0, 1 / 8, 0],
      [0, 1 / 8, 0, 0],
      [1 / 8, 1 / 8, 2 / 8, 0],
      [0, 0, 0, 1 / 8],
    ]);
  });
});
