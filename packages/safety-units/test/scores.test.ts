import { Dataset } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSameVocabulary, denseUnitModules, scoreAttributes, scoreUnits, UnitMoments, unitScoreFromStats } from '../src/index.js';
import { expectTrellisError, TinyMlp, useWasm } from './helpers.js';

beforeAll(useWasm);

describe('Eq. 1 (FLAP WIFV): var_j · ‖B_j‖²', () => {
  it('reproduces var · ‖row‖² on synthetic activations within 1e-6', () => {
    // Identity A and linear activation: the activation entering B is the input itself.
    const m = new TinyMlp([[1, 0, 0], [0, 1, 0], [0, 0, 1]], [0, 0, 0], [[1, 2], [0, 0.5], [3, -1]], [0, 0], 'linear');
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    const rows = [[1, 2, 0], [3, 2, 1], [5, 2, -1], [7, 2, 4], [0, 2, 2]];
    const data = Dataset.fromArrays({ x: Float32Array.from(rows.flat()), shape: [3], labels: null, numClasses: 2 });
    const s = scoreUnits(m, layout, data, { batchSize: 2 });
    const col = (j: number) => rows.map((r) => r[j]!);
    const variance = (v: number[]) => {
      const mu = v.reduce((x, y) => x + y, 0) / v.length;
      return v.reduce((x, y) => x + (y - mu) ** 2, 0) / (v.length - 1);
    };
    const norms = [1 + 4, 0.25, 9 + 1];
    for (let j = 0; j < 3; j++) expect(Math.abs(s.scores.fc1![j]! - variance(col(j)) * norms[j]!)).toBeLessThan(1e-6);
    expect(s.scores.fc1![1]).toBe(0); // constant channel: replaceable by its mean
    expect(s.means.fc1![0]).toBeCloseTo(3.2, 6);
    expect(s.count).toBe(5);
    const mag = scoreUnits(m, layout, data, { method: 'magnitude' });
    expect(mag.scores.fc1![0]).toBeCloseTo(Math.sqrt(5), 6);
    const an = scoreUnits(m, layout, data, { method: 'activation-norm' });
    expect(an.scores.fc1![2]).toBeCloseTo(Math.sqrt((0 + 1 + 1 + 16 + 4) / 5) * Math.sqrt(10), 5);
    m.dispose();
  });

  it('merging batches (parallel Welford) equals the two-pass variance; masked rows are skipped', () => {
    const a = new UnitMoments(1);
    a.add([1, 2], 2);
    a.add([3, 4, 100], 3, Uint8Array.from([1, 1, 0]));
    expect(a.count).toBe(4);
    expect(a.variance()[0]).toBeCloseTo(5 / 3, 12);
    expect(Array.from(unitScoreFromStats('variance', Float64Array.from([2]), Float64Array.from([1]), Float64Array.from([9])))).toEqual([2]);
  });
});

describe('bad input', () => {
  it('safety and utility sets of different vocabularies are a clear error', () => {
    const m = new TinyMlp([[1], [1]], [0], [[1, 1]], [0, 0]);
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    const s = Dataset.fromArrays({ x: Float32Array.from([1, 0, 0, 1]), shape: [2], labels: null, numClasses: 2 });
    const u3 = Dataset.fromArrays({ x: Float32Array.from([1, 0, 0, 1]), shape: [2], labels: null, numClasses: 3 });
    const uWide = Dataset.fromArrays({ x: Float32Array.from([1, 0, 0]), shape: [3], labels: null, numClasses: 2 });
    expect(() => scoreAttributes(m, layout, { safety: s, utility: u3 })).toThrowError(/different models' vocabularies/);
    expect(() => scoreAttributes(m, layout, { safety: s, utility: uWide })).toThrowError(/VOCABULARY|shape/);
    const badTokens = Dataset.fromArrays({ x: Float32Array.from([5, 0]), shape: [2], labels: null, numClasses: 2 });
    expect(() => checkSameVocabulary(m, badTokens, s, true)).toThrowError(/outside the model's vocabulary/);
    m.dispose();
  });

  it('a misspelt method, an empty example cap and a layout of another model are clear errors', () => {
    const m = new TinyMlp([[1], [1]], [0], [[1, 1]], [0, 0]);
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    const s = Dataset.fromArrays({ x: Float32Array.from([1, 0, 0, 1]), shape: [2], labels: null, numClasses: 2 });
    // 'wifvv' used to score by magnitude silently
    expectTrellisError(() => scoreUnits(m, layout, s, { method: 'wifvv' as never }), 'BAD_OPTION', /unknown scoring method "wifvv"/);
    // 0 used to give all-zero scores from no examples; -3 a raw RangeError
    expectTrellisError(() => scoreUnits(m, layout, s, { maxExamples: 0 }), 'BAD_OPTION', /maxExamples 0 is not an integer ≥ 1/);
    expectTrellisError(() => scoreUnits(m, layout, s, { maxExamples: -3 }), 'BAD_OPTION', /maxExamples -3/);
    // a B side the model does not have used to be a raw tfjs error from tf.square(undefined)
    expectTrellisError(() => scoreUnits(m, [{ ...layout[0]!, bSide: { variable: 'nope', axis: 0 } }], s), 'BAD_LAYOUT', /names variable "nope", which the model does not have/);
    expectTrellisError(() => scoreAttributes(m, layout, { safety: s } as never), 'EMPTY_DATASET', /needs a `safety` and a `utility` set/);
    m.dispose();
  });
});
