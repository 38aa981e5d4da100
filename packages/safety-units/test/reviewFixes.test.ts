import * as tf from '@tensorflow/tfjs-core';
import { Dataset } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  attributeTransfer, type UnitClassification, reasoningDirectionProbe, UnitMoments, calibrateFractions, cosineDistance, lowRankParamCount, maskFromJson, refusalRate, RequestLanguage, unionMasks, checkFraction, classifyUnits, denseUnitModules, emptyMask, headScores, outgoingNormsSq, pruneUnits, rankedMask, rewindUnits, scoreUnits,
  selectUnits, sequenceNll, snapshotVariables, tinyTransformer, unitBudgetPlugin, unitFreezePlugin, unitScoreFromStats,
  type AttributeScores, type SweepPoint, type UnitLayout, type UnitScores,
} from '../src/index.js';
import { expectTrellisError, TinyMlp, useWasm, values } from './helpers.js';

beforeAll(useWasm);

const scores = (perModule: Record<string, number[]>): UnitScores =>
  ({ method: 'wifv', count: 2, means: {}, variances: {}, scores: Object.fromEntries(Object.entries(perModule).map(([k, v]) => [k, Float64Array.from(v)])) });

// Two modules of two units (layers 0 and 1); the variables are never read by classification.
const layout2: UnitLayout = [
  { id: 'a', layer: 0, kind: 'mlp', numUnits: 2, tap: 't0', aSide: [], bSide: { variable: 'o0', axis: 0 } },
  { id: 'b', layer: 1, kind: 'mlp', numUnits: 2, tap: 't1', aSide: [], bSide: { variable: 'o1', axis: 0 } },
];
// normalize 'none': D = S − U = a: [−3, −1], b: [1, 3]; T = S + U = 5 everywhere.
const attr2: AttributeScores = { safety: scores({ a: [1, 2], b: [3, 4] }), utility: scores({ a: [4, 3], b: [2, 1] }) };

describe('unitBudgetPlugin: a module the trainable mask leaves out is frozen', () => {
  it('zeroes the gradients of every unit of the omitted attention module; only MLP unit 0 trains', () => {
    const tt = tinyTransformer({ vocabSize: 6, maxLen: 3, layers: 1, dModel: 4, heads: 2, dFf: 4, seed: 1 });
    const layout = tt.unitModules();
    // the trainable mask names only the MLP module (unit 0); the attention module is absent
    const plugin = unitBudgetPlugin({ layout, trainable: { 'L0.mlp': Uint8Array.from([1, 0, 0, 0]) } });
    const ctx = { model: tt, epoch: 0 } as never;
    plugin.onEpochStart!(ctx);
    plugin.onBatchStart!(ctx);
    const vars = tt.trainableVariables();
    const grads = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, tf.onesLike(v)]));
    const out = plugin.transformGradients!(grads, ctx);
    // the attention units (W_v columns, W_o rows) used to keep gradient 1 everywhere
    expect(values(out['L0/v/kernel']!)).toEqual(new Array(16).fill(0));
    expect(values(out['L0/o/kernel']!)).toEqual(new Array(16).fill(0));
    // gate/up [4, 4]: column 0 trains; down [4, 4]: row 0 trains
    expect(values(out['L0/gate/kernel']!)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
    expect(values(out['L0/up/kernel']!)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
    expect(values(out['L0/down/kernel']!)).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // non-unit parameters stay frozen by default (their gradients are dropped)
    expect(Object.keys(out).sort()).toEqual(['L0/down/kernel', 'L0/gate/kernel', 'L0/o/kernel', 'L0/up/kernel', 'L0/v/kernel']);
    tf.dispose(Object.values(grads));
    tf.dispose(Object.values(out));
    plugin.dispose!();
    tt.dispose();
  });
});

describe('selectUnits, rankedMask and classifyUnits: bad input is a TrellisError, not an empty or short set', () => {
  it('restrictToLayers must name layers of the classification; groups must be a list', () => {
    const cls = classifyUnits(layout2, attr2, { normalize: 'none', fractions: { esu: 0.25, euu: 0.25, ru: 0.25 } });
    // ESU = b#1 (D 3), EUU = a#0 (D −3), RU = a#1 (first of the T ties among the rest), CU = b#0
    expect(Array.from(selectUnits(cls, { groups: ['ESU', 'CU'], restrictToLayers: [1] }).b!)).toEqual([1, 1]);
    // these used to give an empty mask silently (a freeze plugin would freeze nothing)
    expectTrellisError(() => selectUnits(cls, { groups: ['ESU', 'CU'], restrictToLayers: [7] }), 'BAD_OPTION', /restrictToLayers \[7\] names a layer .* layers 0, 1/);
    expectTrellisError(() => selectUnits(cls, { groups: ['ESU'], restrictToLayers: [0.5] }), 'BAD_OPTION', /restrictToLayers \[0.5\]/);
    expectTrellisError(() => selectUnits(cls, { groups: ['ESU'], restrictToLayers: '1' as never }), 'BAD_OPTION', /restrictToLayers "1"/);
    // raw TypeError / "unknown unit group "E"" before
    expectTrellisError(() => selectUnits(cls, { groups: undefined as never }), 'BAD_OPTION', /needs `groups` as a list/);
    expectTrellisError(() => selectUnits(cls, { groups: 'ESU' as never }), 'BAD_OPTION', /needs `groups` as a list of unit groups, got ESU/);
    expectTrellisError(() => selectUnits(cls, undefined as never), 'BAD_OPTION', /needs `groups`/);
  });

  it('rankedMask refuses a key that lacks a module, has the wrong length or holds NaN', () => {
    const key = { a: Float64Array.from([2, 7]), b: Float64Array.from([5, 1]) };
    expect(Array.from(rankedMask(layout2, key, 2, 'top').a!)).toEqual([0, 1]);
    expect(Array.from(rankedMask(layout2, key, 2, 'top').b!)).toEqual([1, 0]);
    expectTrellisError(() => rankedMask(layout2, { a: key.a }, 1, 'top'), 'BAD_SCORES', /no values for module "b"/); // TypeError before
    // a short key used to rank the missing unit as undefined, silently
    expectTrellisError(() => rankedMask(layout2, { a: Float64Array.from([5]), b: key.b }, 2, 'top'), 'BAD_SCORES', /has 1 values for module "a", which has 2 units/);
    expectTrellisError(() => rankedMask(layout2, { a: Float64Array.from([NaN, 2]), b: key.b }, 2, 'top'), 'NON_FINITE_SCORES', /unit 0 of module "a" is NaN/);
  });

  it('classifyUnits refuses fractions whose rounded counts overflow a small layout (counts stay round(ρ·N))', () => {
    const one: UnitLayout = [{ ...layout2[0]! }];
    const attr1: AttributeScores = { safety: scores({ a: [1, 2] }), utility: scores({ a: [2, 1] }) };
    // N = 2 at 0.3 each: 1 + 1 + 1 > 2 units; used to give ESU 1, EUU 1, RU 0, CU 0
    expectTrellisError(() => classifyUnits(one, attr1, { fractions: { esu: 0.3, euu: 0.3, ru: 0.3 } }), 'BAD_FRACTION', /ask for 1 \+ 1 \+ 1 of the layout's 2 units/);
    // N = 10 at 0.3 each: 3 + 3 + 3 = 9, one complex unit left
    const ten: UnitLayout = [{ ...layout2[0]!, numUnits: 10 }];
    const ramp = Array.from({ length: 10 }, (_, i) => i);
    const cls = classifyUnits(ten, { safety: scores({ a: ramp }), utility: scores({ a: ramp.map((v) => 9 - v) }) }, { fractions: { esu: 0.3, euu: 0.3, ru: 0.3 } });
    expect(cls.counts).toEqual({ ESU: 3, EUU: 3, CU: 1, RU: 3 });
  });

  it('checkFraction with allowZero says 0 is allowed', () => {
    expectTrellisError(() => checkFraction(-1, 'top-CU fraction', true), 'BAD_FRACTION', /-1 is outside \[0, 1\) — pass a fraction of all units from 0 \(none\)/);
    expectTrellisError(() => checkFraction(0, 'ESU fraction'), 'BAD_FRACTION', /0 is outside \(0, 1\) — pass a fraction of all units strictly between 0 and 1/);
  });
});

describe('unitFreezePlugin schedule phases are whole epochs', () => {
  it('refuses a fractional phase and an endless phase before the last', () => {
    const m = new TinyMlp([[1, 0], [0, 1]], [0, 0], [[1, 0], [0, 1]], [0, 0]);
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    const frozen = emptyMask(layout);
    // 1.5 used to last two epochs; Infinity first made phase 1 unreachable
    expectTrellisError(() => unitFreezePlugin({ layout, schedule: [{ epochs: 1.5, frozen }, { epochs: 1, frozen }] }), 'BAD_OPTION', /lasts 1.5 epochs \(phase 0 of 2\)/);
    expectTrellisError(() => unitFreezePlugin({ layout, schedule: [{ epochs: Infinity, frozen }, { epochs: 1, frozen }] }), 'BAD_OPTION', /lasts Infinity epochs \(phase 0 of 2\)/);
    expect(unitFreezePlugin({ layout, schedule: [{ epochs: 1, frozen }, { epochs: Infinity, frozen }] }).name).toBe('unit-freeze');
    m.dispose();
  });

  it("setState does not write into the caller's schedule (a second plugin built from it keeps its mask); bad saved steps are BAD_STATE", () => {
    const m = new TinyMlp([[1, 0], [0, 1]], [0, 0], [[1, 0], [0, 1]], [0, 0]);
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    const schedule = [{ epochs: 1, frozen: { fc1: Uint8Array.from([1, 0]) } }];
    const first = unitFreezePlugin({ layout, schedule });
    first.setState!({ phase: 0, steps: 3, frozen: { fc1: [1] } });
    expect(first.getState!()).toEqual({ phase: 0, steps: 3, frozen: { fc1: [1] } });
    // the restored mask used to replace schedule[0] of the caller's array
    expect(Array.from(schedule[0]!.frozen.fc1)).toEqual([1, 0]);
    expect(unitFreezePlugin({ layout, schedule }).getState!()).toEqual({ phase: 0, steps: 0, frozen: { fc1: [0] } });
    // steps: undefined used to be taken as is (the step count became NaN after the next step)
    expectTrellisError(() => first.setState!({ phase: 0, frozen: { fc1: [] } } as never), 'BAD_STATE', /saved freeze state has undefined steps/);
    expectTrellisError(() => unitFreezePlugin({ layout, schedule: { epochs: 1, frozen: emptyMask(layout) } as never }), 'BAD_OPTION', /schedule is not a list of phases/);
    m.dispose();
  });
});

describe('sequenceNll: shapes and token ids are checked', () => {
  it('uniform logits give ln V per response position (hand value); mismatched shapes and out-of-range ids are TrellisErrors', () => {
    const opts = { responseStart: [1], pad: 0 };
    const before = tf.memory().numTensors;
    const logits = tf.zeros([1, 3, 4]);
    const ok = tf.tensor2d([[1, 2, 3]]);
    // positions 0 and 1 predict tokens 2 and 3 under uniform logits over 4 tokens: NLL ln 4 each
    const nll = sequenceNll(logits, ok, opts);
    expect(nll.dataSync()[0]).toBeCloseTo(Math.log(4), 6);
    nll.dispose();
    // token 9 ≥ V = 4 used to contribute NLL 0 (an all-zero one-hot row): the loss read 0
    const bad = tf.tensor2d([[1, 9, 3]]);
    expectTrellisError(() => sequenceNll(logits, bad, opts), 'LABEL_OUT_OF_RANGE', /token id 9 at position 1 of sequence 0 is outside the model's vocabulary \[0, 4\)/);
    const short = tf.zeros([1, 2]);
    expectTrellisError(() => sequenceNll(logits, short, opts), 'BAD_SHAPE', /logits of shape \[1, 3, 4\] do not fit token ids of shape \[1, 2\]/); // raw broadcast error before
    const flat = tf.zeros([1, 3]);
    expectTrellisError(() => sequenceNll(flat, ok, opts), 'BAD_SHAPE', /logits of shape \[1, 3\]/); // raw slice error before
    tf.dispose([logits, ok, bad, short, flat]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('rewindUnits and pruneUnits: bad snapshots and means', () => {
  const A = [[1, 2], [3, 4]];
  it('a snapshot that lacks a variable or has another shape is BAD_SNAPSHOT, and nothing leaks', () => {
    const m = new TinyMlp(A, [0, 0], [[1, 0], [0, 1]], [0, 0]);
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    const mask = { fc1: Uint8Array.from([1, 0]) };
    const partial = snapshotVariables(m, ['fc1/kernel']);
    const wrong = { 'fc1/kernel': tf.zeros([3, 3]), 'fc1/bias': tf.zeros([2]), 'out/kernel': tf.zeros([2, 2]) };
    const before = tf.memory().numTensors;
    // each failed call used to leak its three keep-masks
    expectTrellisError(() => rewindUnits(m, layout, mask, partial), 'BAD_SNAPSHOT', /no variable "fc1\/bias"/);
    expectTrellisError(() => rewindUnits(m, layout, mask, wrong), 'BAD_SNAPSHOT', /"fc1\/kernel" has shape \[3, 3\] but the variable is \[2, 2\]/);
    expect(tf.memory().numTensors).toBe(before);
    expect(values(m.vars['fc1/kernel']!)).toEqual([1, 2, 3, 4]);
    tf.dispose([...Object.values(partial), ...Object.values(wrong)]);
    m.dispose();
  });

  it('bias compensation with a NaN mean is refused before any weight changes', () => {
    const m = new TinyMlp(A, [0, 0], [[1, 0], [0, 1]], [0.5, -0.5]);
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    const means = { method: 'wifv' as const, scores: {}, variances: {}, count: 2, means: { fc1: Float64Array.from([NaN, 1]) } };
    // the output bias used to become [NaN, NaN]
    expectTrellisError(() => pruneUnits(m, layout, { fc1: Uint8Array.from([1, 0]) }, { compensate: true, means }), 'BAD_OPTION', /mean of pruned unit 0 of module "fc1" is NaN/);
    expect(values(m.vars['out/bias']!)).toEqual([0.5, -0.5]);
    expect(values(m.vars['fc1/kernel']!)).toEqual([1, 2, 3, 4]);
    // a NaN mean of a unit that is not pruned is never used: unit 1 pruned, bias += 1 · B row 1 = [0, 1]
    const h = pruneUnits(m, layout, { fc1: Uint8Array.from([0, 1]) }, { compensate: true, means });
    expect(values(m.vars['out/bias']!)).toEqual([0.5, 0.5]);
    h.restore();
    m.dispose();
  });
});

describe('scoreUnits: too few positions and bad position masks', () => {
  it('one example (or no selected position) is TOO_FEW_POSITIONS instead of all-zero scores; two give var · ‖B_j‖² (hand value)', () => {
    const m = new TinyMlp([[1, 0], [0, 1]], [0, 0], [[1, 2], [3, 0]], [0, 0], 'linear');
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    const one = Dataset.fromArrays({ x: Float32Array.from([1, 2]), shape: [2], labels: null, numClasses: 2 });
    expectTrellisError(() => scoreUnits(m, layout, one), 'TOO_FEW_POSITIONS', /module "fc1" was scored on 1 position\(s\); the wifv score needs at least 2/);
    // activation-norm needs one position: sqrt(mean x²)·‖B_j‖ = 1·√5 and 2·3
    const an = scoreUnits(m, layout, one, { method: 'activation-norm' });
    expect(an.scores.fc1![0]).toBeCloseTo(Math.sqrt(5), 6);
    expect(an.scores.fc1![1]).toBeCloseTo(6, 6);
    // two examples [1, 2] and [3, 2]: var = [2, 0]; ‖B_0‖² = 5 → scores [10, 0]
    const two = Dataset.fromArrays({ x: Float32Array.from([1, 2, 3, 2]), shape: [2], labels: null, numClasses: 2 });
    expect(Array.from(scoreUnits(m, layout, two).scores.fc1!)).toEqual([10, 0]);
    m.dispose();
  });

  it('a position mask selecting nothing, of the wrong length, or not a function is an error, and nothing leaks', () => {
    const tt = tinyTransformer({ vocabSize: 6, maxLen: 3, layers: 1, dModel: 4, heads: 2, dFf: 4, seed: 1 });
    const data = Dataset.fromArrays({ x: Float32Array.from([1, 2, 3, 2, 4, 5]), shape: [3], labels: null, numClasses: 6 });
    const layout = tt.unitModules();
    const before = tf.memory().numTensors;
    expectTrellisError(() => scoreUnits(tt, layout, data, { positions: (_t, b, L) => new Uint8Array(b * L) }), 'TOO_FEW_POSITIONS', /module "L0.attn" was scored on 0 position/);
    // a 3-entry mask for 2 × 3 positions used to drop the last three silently
    expectTrellisError(() => scoreUnits(tt, layout, data, { positions: () => new Uint8Array(3).fill(1) }), 'BAD_OPTION', /positions mask has 3 entries for a batch of 2 × 3 positions/);
    // a raw TypeError that leaked the batch's taps before
    expectTrellisError(() => scoreUnits(tt, layout, data, { positions: 'response' as never }), 'BAD_OPTION', /positions response is not a function/);
    expect(tf.memory().numTensors).toBe(before);
    // all positions selected = no mask
    const all = scoreUnits(tt, layout, data, { positions: (_t, b, L) => new Uint8Array(b * L).fill(1) });
    const plain = scoreUnits(tt, layout, data);
    expect(all.count).toBe(6);
    expect(Array.from(all.scores['L0.mlp']!)).toEqual(Array.from(plain.scores['L0.mlp']!));
    tt.dispose();
  });
});

describe('calibrateFractions checks the sweep it is given', () => {
  const pt = (order: SweepPoint['order'], fraction: number, utility: number, refusal: number): SweepPoint => ({ order, fraction, units: 0, utility, refusal });
  const points = [pt('top-D', 0.01, 0.9, 0.5), pt('bottom-D', 0.6, 0.2, 1), pt('bottom-T', 0.6, 0.9, 1)];
  it('shrinks EUU and RU by one factor when the three reach 0.95 (hand value, as documented)', () => {
    // 0.01 + 0.6 + 0.6 ≥ 0.95: factor (0.95 − 0.01) / 1.2 → EUU = RU = 0.47
    const c = calibrateFractions({ dense: { utility: 0.9, refusal: 1 }, points });
    expect(c.fractions.esu).toBe(0.01);
    expect(c.fractions.euu).toBeCloseTo(0.47, 12);
    expect(c.fractions.ru).toBeCloseTo(0.47, 12);
  });

  it('a NaN or out-of-range measure, a fraction outside (0, 1) and an esuMax below every top-D point are clear errors', () => {
    // NaN dense utility used to pass every utility test (NaN comparisons) and return the floors
    expectTrellisError(() => calibrateFractions({ dense: { utility: NaN, refusal: 1 }, points }), 'BAD_OPTION', /of the dense model returned utility NaN/);
    expectTrellisError(() => calibrateFractions({ dense: { utility: 0.9, refusal: 1 }, points: [...points, pt('bottom-T', 0.7, 1.5, 1)] }), 'BAD_OPTION', /returned utility 1.5/);
    expectTrellisError(() => calibrateFractions({ dense: { utility: 0.9, refusal: 1 }, points: [...points, pt('bottom-D', 1, 0.1, 1)] }), 'BAD_FRACTION', /sweep fraction 1 is outside \(0, 1\)/);
    expectTrellisError(() => calibrateFractions({ dense: { utility: 0.9, refusal: 1 }, points }, { esuMax: 0.005 }), 'BAD_SWEEP', /no top-D point of the sweep is at or below esuMax 0.005 \(the smallest is 0.01\) — raise esuMax/);
  });
});

describe('pure score helpers refuse what they cannot score', () => {
  it('unitScoreFromStats: hand values per method; an unknown method or mismatched lengths are errors', () => {
    const v = Float64Array.from([2, 3]);
    const ms = Float64Array.from([4, 9]);
    const ns = Float64Array.from([9, 16]);
    expect(Array.from(unitScoreFromStats('wifv', v, ms, ns))).toEqual([18, 48]);
    expect(Array.from(unitScoreFromStats('activation-norm', v, ms, ns))).toEqual([6, 12]);
    expect(Array.from(unitScoreFromStats('magnitude', v, ms, ns))).toEqual([3, 4]);
    // 'WIFV' used to fall through to the magnitude score [3, 4]
    expectTrellisError(() => unitScoreFromStats('WIFV' as never, v, ms, ns), 'BAD_OPTION', /unknown scoring method "WIFV"/);
    // a short variance used to give a NaN score
    expectTrellisError(() => unitScoreFromStats('wifv', Float64Array.from([2]), ms, ns), 'BAD_SHAPE', /lengths 1 \(variance\), 2 \(mean square\) and 2 \(norms\)/);
  });

  it('outgoingNormsSq: rows (axis 0) or columns (axis 1) of a rank-2 kernel; anything else is NO_NEURON_AXIS', () => {
    const k = tf.tensor2d([[1, 2], [3, 4]]);
    expect(Array.from(outgoingNormsSq(k))).toEqual([5, 25]);
    expect(Array.from(outgoingNormsSq(k, 1))).toEqual([10, 20]);
    // axis 2 used to sum over axis −1 (the rows again) silently
    expectTrellisError(() => outgoingNormsSq(k, 2 as never), 'NO_NEURON_AXIS', /along axis 2/);
    const b = tf.tensor1d([1, 2]);
    expectTrellisError(() => outgoingNormsSq(b), 'NO_NEURON_AXIS', /shape \[2\]/);
    tf.dispose([k, b]);
  });

  it('head granularity needs a headDim on every attention module (it used to keep channel scores silently)', () => {
    const attn: UnitLayout = [{ id: 'h', layer: 0, kind: 'attn', numUnits: 4, tap: 't', aSide: [], bSide: { variable: 'o', axis: 0 }, headDim: 2 }, layout2[1]!];
    const s = { h: Float64Array.from([1, 2, 3, 4]), b: Float64Array.from([5, 6]) };
    const hs = headScores(attn, s);
    expect(Array.from(hs.h!)).toEqual([3, 3, 7, 7]);
    expect(Array.from(hs.b!)).toEqual([5, 6]);
    const noHead: UnitLayout = [{ ...attn[0]!, headDim: undefined }, layout2[1]!];
    expectTrellisError(() => headScores(noHead, s), 'BAD_LAYOUT', /attention module "h" has no headDim/);
    const attr = { safety: scores({ h: [1, 2, 3, 4], b: [5, 6] }), utility: scores({ h: [4, 3, 2, 1], b: [6, 5] }) };
    expectTrellisError(() => classifyUnits(noHead, attr, { attentionGranularity: 'head', fractions: { esu: 0.2, euu: 0.2, ru: 0.2 } }), 'BAD_LAYOUT', /no headDim/);
  });
});

describe('mask helpers', () => {
  it('unionMasks of masks of different lengths is BAD_MASK (the longer one lost its tail); maskFromJson refuses a non-list', () => {
    expect(Array.from(unionMasks({ a: Uint8Array.from([1, 0, 0]) }, { a: Uint8Array.from([0, 0, 1]) }).a!)).toEqual([1, 0, 1]);
    expectTrellisError(() => unionMasks({ a: Uint8Array.from([1]) }, { a: Uint8Array.from([0, 1]) }), 'BAD_MASK', /1 and 2 entries for module "a"/);
    expect(Array.from(maskFromJson(layout2, { b: [1] }).b!)).toEqual([0, 1]);
    // a number used to be a raw TypeError ("idx is not iterable")
    expectTrellisError(() => maskFromJson(layout2, { b: 1 as never }), 'BAD_MASK', /gives module "b" 1, not a list of unit indices/);
  });
});

describe('TinyTransformer.copyFrom', () => {
  it('copies a same-size model exactly; a model of other sizes is ARCHITECTURE_MISMATCH and nothing is copied', () => {
    const a = tinyTransformer({ vocabSize: 6, maxLen: 3, layers: 1, dModel: 4, heads: 2, dFf: 4, seed: 1 });
    const b = tinyTransformer({ vocabSize: 6, maxLen: 3, layers: 1, dModel: 4, heads: 2, dFf: 4, seed: 2 });
    const wide = tinyTransformer({ vocabSize: 6, maxLen: 3, layers: 1, dModel: 4, heads: 2, dFf: 8, seed: 3 });
    const deep = tinyTransformer({ vocabSize: 6, maxLen: 3, layers: 2, dModel: 4, heads: 2, dFf: 4, seed: 4 });
    const before = values(a.trainableVariables()['embed/tokens']!);
    // dFf 8 used to copy the embeddings and q/k/v/o, then fail inside tfjs on the gate kernel
    expectTrellisError(() => a.copyFrom(wide), 'ARCHITECTURE_MISMATCH', /dFf 8 \} into one of sizes .* dFf 4 \}/);
    expectTrellisError(() => a.copyFrom(deep), 'ARCHITECTURE_MISMATCH', /layers 2/); // a raw TypeError (no "L1/…" weight) before
    expect(values(a.trainableVariables()['embed/tokens']!)).toEqual(before);
    a.copyFrom(b);
    expect(values(a.trainableVariables()['L0/down/kernel']!)).toEqual(values(b.trainableVariables()['L0/down/kernel']!));
    for (const m of [a, b, wide, deep]) m.dispose();
  });
});

describe('empty or malformed input to the evaluation helpers', () => {
  it('refusalRate of no answers, cosineDistance of empty vectors and lowRankParamCount of a non-[in, out] shape are errors, not NaN / 0', () => {
    const lang = new RequestLanguage({ verbs: 2, benignObjects: 8, hazardObjects: 4, modifiers: 2, contentTokens: 8 });
    const refusal = lang.token('R_SORRY');
    expect(refusalRate(Int32Array.from([refusal, lang.tok.OK_SURE, refusal, lang.tok.OK_HERE]), lang)).toBe(0.5);
    expectTrellisError(() => refusalRate(new Int32Array(0), lang), 'EMPTY_DATASET', /no answers/); // NaN before
    expect(cosineDistance([3, 4], [4, 3])).toBeCloseTo(1 - 24 / 25, 12);
    expectTrellisError(() => cosineDistance([], []), 'BAD_SHAPE', /lengths 0 and 0/); // 0 ("identical") before
    expect(lowRankParamCount([[8, 8], [16, 8]], 2)).toBe(2 * 16 + 2 * 24);
    expectTrellisError(() => lowRankParamCount([[8]], 2), 'BAD_TARGET', /rank-2 kernel shapes \[in, out\], got \[8\]/); // NaN before
  });
});

describe('UnitMoments and the probe read only what fits', () => {
  it('UnitMoments.add refuses values or keep masks of the wrong length (NaN moments / dropped rows before)', () => {
    const mo = new UnitMoments(2);
    mo.add([1, 10, 3, 30], 2);
    // means [2, 20]; variances (unbiased) [2, 200]
    expect(Array.from(mo.mean)).toEqual([2, 20]);
    expect(Array.from(mo.variance())).toEqual([2, 200]);
    expectTrellisError(() => mo.add([1, 2, 3], 2), 'BAD_SHAPE', /3 values for 2 rows of 2 units/);
    expectTrellisError(() => mo.add([1, 2, 3, 4], 2, Uint8Array.from([1])), 'BAD_SHAPE', /keep mask of 1 entries for 2 rows/);
    expect(mo.count).toBe(2);
  });

  it('reasoningDirectionProbe refuses a tap that is not a [batch, length, d] block state', () => {
    const lang = new RequestLanguage({ verbs: 2, benignObjects: 8, hazardObjects: 4, modifiers: 2, contentTokens: 8 });
    const tt = tinyTransformer({ vocabSize: lang.vocabSize, maxLen: lang.maxLen, layers: 1, dModel: 8, heads: 2, dFf: 16, seed: 1 });
    const reqs = lang.requests('hazard').slice(0, 2);
    const before = tf.memory().numTensors;
    // L0.mlp is [b, T, dFf = 16] while L0.out is [b, T, 8]: the states were allocated with the first tap's width
    expectTrellisError(() => reasoningDirectionProbe(tt, lang, reqs, { blockTaps: ['L0.out', 'L0.mlp'], steps: [0] }), 'BAD_TAP', /tap "L0.mlp" has shape \[2, \d+, 16\]/);
    expect(tf.memory().numTensors).toBe(before);
    const ok = reasoningDirectionProbe(tt, lang, reqs, { blockTaps: ['L0.out'], steps: [0] });
    expect(ok.length).toBe(1);
    tt.dispose();
  });
});

describe('attributeTransfer compares like with like', () => {
  it('refuses classifications of different modules (the extra module was left out of "all units") or of no unit (NaN)', () => {
    const cls = (modules: Record<string, number[]>): UnitClassification => ({
      modules: Object.entries(modules).map(([id, g], layer) => ({ id, layer, kind: 'mlp' as const, numUnits: g.length })),
      groups: Object.fromEntries(Object.entries(modules).map(([id, g]) => [id, Uint8Array.from(g)])),
      S: {}, U: {}, D: {}, T: {}, fractions: { esu: 0.1, euu: 0.1, ru: 0.1 }, normalize: 'none', counts: { ESU: 0, EUU: 0, CU: 0, RU: 0 },
    });
    // ESU → CU for one of four units: 1/4 in row ESU, column CU
    expect(attributeTransfer(cls({ a: [0, 2, 2, 3] }), cls({ a: [2, 2, 2, 3] }))[0]).toEqual([0, 0, 0.25, 0]);
    // used to return the matrix of module a alone, as fractions of 4 units of a 6-unit model
    expectTrellisError(() => attributeTransfer(cls({ a: [0, 2, 2, 3] }), cls({ a: [2, 2, 2, 3], b: [0, 0] })), 'BAD_CLASSIFICATION', /different modules: \[a:4\] before, \[a:4, b:2\] after/);
    expectTrellisError(() => attributeTransfer(cls({}), cls({})), 'BAD_CLASSIFICATION', /covers no unit/); // a NaN matrix before
  });
});
