import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { smoothTargets } from '@trellis-ml/core';
import { codeOf, useCpu } from './helpers.js';

beforeAll(useCpu);

/** The rows of `smoothTargets(rows, ε, variant)`, checked to float32 precision. */
function smoothed(rows: number[][], epsilon: number, variant?: 'uniform-all' | 'uniform-others'): number[][] {
  const t = tf.tensor2d(rows);
  const out = smoothTargets(t, epsilon, variant);
  const values = out.arraySync();
  t.dispose();
  out.dispose();
  return values;
}

function expectRows(actual: number[][], expected: number[][]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, b) => row.forEach((v, k) => expect(v, `row ${b}, class ${k}`).toBeCloseTo(expected[b]![k]!, 6)));
}

describe('smoothTargets', () => {
  // hand-computed, C = 4, ε = 0.2: (1 − ε)·t + ε·Σt/C = 0.8·t + 0.05·Σt
  it("'uniform-all' (default): a one-hot row, a weighted row and a soft row, each within its own mass", () => {
    expectRows(smoothed([[0, 1, 0, 0], [0, 0.5, 0, 0], [0.5, 0.5, 0, 0]], 0.2), [
      [0.05, 0.85, 0.05, 0.05], // 0.8·1 + 0.05 on the class, 0.05 elsewhere
      [0.025, 0.425, 0.025, 0.025], // mass 0.5: 0.8·0.5 + 0.05·0.5 = 0.425, 0.05·0.5 = 0.025
      [0.45, 0.45, 0.05, 0.05], // 0.8·0.5 + 0.05 = 0.45
    ]);
  });

  // hand-computed, C = 4, ε = 0.3: off = ε/(C−1) = 0.1, (1 − ε − off)·t + off·Σt = 0.6·t + 0.1·Σt
  it("'uniform-others': 1 − ε on the class and ε/(C−1) on the others, scaled with a weighted row", () => {
    expectRows(smoothed([[1, 0, 0, 0], [2, 0, 0, 0], [0.5, 0.5, 0, 0]], 0.3, 'uniform-others'), [
      [0.7, 0.1, 0.1, 0.1],
      [1.4, 0.2, 0.2, 0.2], // mass 2: 0.6·2 + 0.1·2 = 1.4, 0.1·2 = 0.2
      [0.4, 0.4, 0.1, 0.1], // 0.6·0.5 + 0.1 = 0.4
    ]);
  });

  it('ε = 0 leaves the targets as they are; ε = 1 spreads each row evenly (uniform-all) or over the other classes (uniform-others)', () => {
    expectRows(smoothed([[0, 0, 1], [0, 3, 0]], 0), [[0, 0, 1], [0, 3, 0]]);
    expectRows(smoothed([[0, 0, 1], [0, 3, 0]], 1), [[1 / 3, 1 / 3, 1 / 3], [1, 1, 1]]);
    expectRows(smoothed([[0, 0, 1], [0, 3, 0]], 1, 'uniform-others'), [[0.5, 0.5, 0], [1.5, 0, 1.5]]);
  });

  it('is pure: the input is unchanged and no tensor is left behind', () => {
    const t = tf.tensor2d([[0, 1, 0, 0]]);
    const before = tf.memory().numTensors;
    const out = smoothTargets(t, 0.2, 'uniform-others');
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(t.arraySync()).toEqual([[0, 1, 0, 0]]);
    out.dispose();
    t.dispose();
  });

  it('refuses ε outside [0, 1], an unknown variant and targets that are not [batch, classes]', () => {
    const t = tf.tensor2d([[0, 1]]);
    for (const e of [-0.1, 1.5, Number.NaN]) expect(codeOf(() => smoothTargets(t, e)), `ε ${e}`).toBe('BAD_OPTION');
    expect(codeOf(() => smoothTargets(t, 0.1, 'others' as 'uniform-others'))).toBe('BAD_OPTION');
    const flat = tf.tensor1d([0, 1]);
    expect(codeOf(() => smoothTargets(flat as unknown as tf.Tensor2D, 0.1))).toBe('BAD_TARGETS');
    // 'uniform-others' divides by C − 1
    const single = tf.tensor2d([[1]]);
    expect(codeOf(() => smoothTargets(single, 0.1, 'uniform-others'))).toBe('BAD_TARGETS');
    expectRows(smoothed([[1]], 0.1), [[1]]);
    tf.dispose([t, flat, single]);
  });
});
