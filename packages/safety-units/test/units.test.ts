import * as tf from '@tensorflow/tfjs-core';
import { mlp, TrellisError } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { denseUnitModules, emptyMask, invertMask, jaccard, maskFromJson, maskStats, maskToJson, pairwiseJaccard, pruneUnits, rewindUnits, snapshotVariables, validateLayout, type UnitMask } from '../src/index.js';
import { expectTrellisError, TinyMlp, useWasm, values } from './helpers.js';

beforeAll(useWasm);

// x·A: 2 inputs → 3 hidden units; B: 3 hidden → 2 outputs.
const A = [[1, 2, 3], [4, 5, 6]];
const a = [0.1, 0.2, 0.3];
const B = [[1, 0], [0, 1], [1, 1]];
const b = [0.5, -0.5];

describe('unit layout (spec §2.2: TF.js [in, out] layout)', () => {
  it('pruneUnits zeroes exactly A column j, bias j and B row j, and the output matches a hand computation', () => {
    const m = new TinyMlp(A, a, B, b);
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    validateLayout(m, layout);
    expect(layout[0]!.numUnits).toBe(3);
    const mask = emptyMask(layout);
    mask.fc1![1] = 1;
    const h = pruneUnits(m, layout, mask);
    expect(values(m.vars['fc1/kernel']!)).toEqual([1, 0, 3, 4, 0, 6]);
    expect(values(m.vars['fc1/bias']!)).toEqual([0.1, 0, 0.3].map(Math.fround));
    expect(values(m.vars['out/kernel']!)).toEqual([1, 0, 0, 0, 1, 1]);
    expect(values(m.vars['out/bias']!)).toEqual([0.5, -0.5]);
    // x = [1, 1]: hidden = relu([5.1, 7.2, 9.3]) with unit 1 removed → [5.1, 0, 9.3]; y = [5.1 + 9.3 + 0.5, 9.3 − 0.5].
    const y = tf.tidy(() => m.apply(tf.tensor2d([[1, 1]])).logits.dataSync());
    expect(y[0]).toBeCloseTo(14.9, 5);
    expect(y[1]).toBeCloseTo(8.8, 5);
    h.restore();
    expect(values(m.vars['fc1/kernel']!)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(values(m.vars['out/kernel']!)).toEqual([1, 0, 0, 1, 1, 1]);
    m.dispose();
  });

  it('bias compensation adds B_j · mean_j to the output bias', () => {
    const m = new TinyMlp(A, a, B, b);
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    const mask = emptyMask(layout);
    mask.fc1![2] = 1;
    const means = { method: 'wifv' as const, scores: {}, variances: {}, count: 1, means: { fc1: Float64Array.from([0, 0, 2]) } };
    const h = pruneUnits(m, layout, mask, { compensate: true, means });
    expect(values(m.vars['out/bias']!)).toEqual([2.5, 1.5]);
    h.restore();
    expect(values(m.vars['out/bias']!)).toEqual([0.5, -0.5]);
    m.dispose();
  });

  it('rewindUnits puts only the selected units back', () => {
    const m = new TinyMlp(A, a, B, b);
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    const snap = snapshotVariables(m, ['fc1/kernel', 'fc1/bias', 'out/kernel']);
    m.vars['fc1/kernel']!.assign(tf.zeros([2, 3]));
    const mask = emptyMask(layout);
    mask.fc1![0] = 1;
    rewindUnits(m, layout, mask, snap);
    expect(values(m.vars['fc1/kernel']!)).toEqual([1, 0, 0, 4, 0, 0]);
    tf.dispose(Object.values(snap));
    m.dispose();
  });

  it('masks: stats, complement, Jaccard and JSON round trip', () => {
    const m = new TinyMlp(A, a, B, b);
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    const mask = emptyMask(layout);
    mask.fc1![0] = 1;
    const st = maskStats(m, layout, mask);
    expect(st.unitFraction).toBeCloseTo(1 / 3);
    // Every unit carries 2 (A column) + 1 (bias) + 2 (B row) = 5 weights.
    expect(st.paramFraction).toBeCloseTo(1 / 3);
    expect(Array.from(invertMask(mask).fc1!)).toEqual([0, 1, 1]);
    expect(jaccard(mask, invertMask(mask))).toBe(0);
    expect(jaccard(mask, maskFromJson(layout, maskToJson(mask)))).toBe(1);
    m.dispose();
  });

  it('a layer without a neuron axis is a clear error', () => {
    const model = mlp({ inputShape: [4], hidden: [3], numClasses: 2, seed: 1 });
    expect(() => denseUnitModules(model, ['logits'], ['fc1', 'logits'])).toThrowError(/no neuron axis/);
    try {
      denseUnitModules(model, ['nope'], ['fc1', 'logits']);
    } catch (e) {
      expect(e).toBeInstanceOf(TrellisError);
      expect((e as TrellisError).code).toBe('NO_NEURON_AXIS');
    }
    const ok = denseUnitModules(model, ['fc1'], ['fc1', 'logits']);
    expect(() => validateLayout(model, [{ ...ok[0]!, bSide: { variable: 'fc1/bias', axis: 0 }, aSide: [{ variable: 'fc1/kernel', axis: 0 }] }])).toThrowError(/axis/);
    expect(() => validateLayout(model, [{ ...ok[0]!, headDim: 2 }])).toThrowError(/headDim 2, which does not split its 3 units into whole heads/);
    expect(() => validateLayout(model, [{ ...ok[0]!, headDim: 3 }])).not.toThrow();
    model.dispose();
  });

  it('Jaccard and pairwise Jaccard match hand values (spec §10.5 item 7)', () => {
    const m = (a: number[], b: number[]): UnitMask => ({ x: Uint8Array.from(a), y: Uint8Array.from(b) });
    const A = m([1, 1, 1, 0], [0, 0]); // {x0, x1, x2}
    const B = m([0, 1, 1, 1], [0, 0]); // {x1, x2, x3}
    const C = m([0, 0, 1, 0], [1, 0]); // {x2, y0}
    expect(jaccard(A, B)).toBe(2 / 4);
    expect(jaccard(A, C)).toBe(1 / 4);
    expect(jaccard(B, C)).toBe(1 / 4);
    expect(jaccard(m([0, 0, 0, 0], [0, 0]), m([0, 0, 0, 0], [0, 0]))).toBe(1);
    const p = pairwiseJaccard([A, B, C]);
    expect(p.matrix).toEqual([[1, 0.5, 0.25], [0.5, 1, 0.25], [0.25, 0.25, 1]]);
    expect(p.mean).toBeCloseTo((0.5 + 0.25 + 0.25) / 3, 12);
    expect(p.min).toBe(0.25);
    expect(() => pairwiseJaccard([A])).toThrowError(/at least two/);
    // masks of different lengths for one module used to give a silent overlap
    expectTrellisError(() => jaccard(m([1, 1], [0, 0]), m([1, 1, 1, 1], [0, 0])), 'BAD_MASK', /2 and 4 entries for module "x"/);
  });

  it('masks and layouts that do not fit the model are clear errors, not silent drops or raw TypeErrors', () => {
    const m = new TinyMlp(A, a, B, b);
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    // saved indices outside the module used to be dropped silently
    expectTrellisError(() => maskFromJson(layout, { fc1: [0, 7] }), 'BAD_MASK', /selects unit 7 of module "fc1", which has units 0…2/);
    expectTrellisError(() => maskFromJson(layout, { fc1: [-1] }), 'BAD_MASK', /selects unit -1/);
    // a mask of the wrong length used to be counted as if it fitted
    expectTrellisError(() => maskStats(m, layout, { fc1: Uint8Array.from([1, 1, 1, 1, 1]) }), 'BAD_MASK', /5 entries for module "fc1", which has 3 units/);
    // a layout of another model used to throw a raw TypeError (missing variable) or a broadcast error (wrong axis)
    const sel: UnitMask = { fc1: Uint8Array.from([1, 0, 0]) };
    expectTrellisError(() => pruneUnits(m, [{ ...layout[0]!, aSide: [{ variable: 'fc9/kernel', axis: 1 }] }], sel), 'BAD_LAYOUT', /names variable "fc9\/kernel", which the model does not have/);
    expectTrellisError(() => pruneUnits(m, [{ ...layout[0]!, bSide: { variable: 'out/kernel', axis: 1 } }], sel), 'NO_NEURON_AXIS', /"out\/kernel" has 2 entries on axis 1/);
    expectTrellisError(() => pruneUnits(m, layout, sel, { compensate: true, means: { method: 'wifv', scores: {}, variances: {}, count: 0, means: {} } }), 'BAD_OPTION',
      /activation means have no entries for module "fc1"/);
    expectTrellisError(() => snapshotVariables(m, ['nope']), 'BAD_SNAPSHOT', /no variable "nope" to snapshot/);
    expect(values(m.vars['fc1/kernel']!)).toEqual(A.flat()); // nothing was pruned on the way
    m.dispose();
  });
});
