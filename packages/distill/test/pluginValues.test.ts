import * as tf from '@tensorflow/tfjs-core';
import { Dataset, Trainer, type ModelAdapter, type TrainerPlugin } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  distillPlugin, labelSmoothingPlugin, matrixGenerator, reffakdGenerator, shuffledMatrixGenerator, teacherGenerator, tfkdRegGenerator, weightsFromAlpha,
} from '../src/index.js';
import { S, Y, ZS, ZT, useCpu } from './helpers.js';

beforeAll(useCpu);

/**
 * A model whose logits for the one-hot input e_i are row i of `rows` (logits = x·W, W a variable
 * initialised to `rows`): the spec's §5.8 logits come out of a real Trainer step.
 */
let made = 0;
function fixedLogits(rows: number[][]): ModelAdapter {
  const W = tf.variable(tf.tensor2d(rows), true, `fixed_logits_${made++}`);
  return {
    inputShape: [rows.length], numClasses: rows[0]!.length,
    apply: (x) => ({ logits: tf.matMul(x as tf.Tensor2D, W), features: {} }),
    tapNames: () => [],
    trainableVariables: () => ({ 'fixed/kernel': W }),
    allVariables: () => ({ 'fixed/kernel': W }),
    save: async () => undefined,
    load: async () => undefined,
    dispose: () => W.dispose(),
  };
}

/** The three examples of §5.8 as a dataset: input e_i (one-hot of the example index), label y_i. */
function vectorsData(): Dataset {
  const x = new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  return Dataset.fromArrays({ x, shape: [3], labels: Int32Array.from(Y), numClasses: 4 });
}

/** The total loss of one Trainer step on the three §5.8 examples (before the update). */
async function stepLoss(plugins: TrainerPlugin[]): Promise<Record<string, number>> {
  const model = fixedLogits(ZS);
  const data = vectorsData();
  const t = new Trainer({ model, seed: 1, batchSize: 3, optimizer: tf.train.sgd(0), plugins });
  const logs = await t.trainStep(data.batchAt(Int32Array.from([0, 1, 2])));
  t.dispose();
  model.dispose();
  return logs;
}

const boosted = () => S.map((r, i) => r.map((v, j) => v + (i === j ? 0.01 : 0)));

describe('the plugin inside a Trainer reproduces the §5.8 loss values (per-example soft targets, weights, T², KL direction)', () => {
  it('ReffAKD T=4 α=0.5: (1−α)·CE + α·T²·KL(P[y] ‖ softmax(z/T)) = 0.250462 (batchmean) and 0.215761 (element-wise mean)', async () => {
    const source = matrixGenerator(boosted(), { isLogits: true });
    const bm = await stepLoss([distillPlugin({ source, method: { kind: 'soft-kl', T: 4 }, ...weightsFromAlpha(0.5, 'alpha-weights-kd') })]);
    expect(Math.abs(bm.loss! - 0.250462)).toBeLessThan(1e-5);
    expect(Math.abs(bm.base! - 0.5 * 0.408388)).toBeLessThan(1e-5);
    const em = await stepLoss([distillPlugin({ source, method: { kind: 'soft-kl', T: 4, reduction: 'elementwise-mean' }, ...weightsFromAlpha(0.5, 'alpha-weights-kd') })]);
    expect(Math.abs(em.loss! - 0.215761)).toBeLessThan(1e-5);
    const t20 = await stepLoss([distillPlugin({ source, method: { kind: 'soft-kl', T: 20 }, ...weightsFromAlpha(0.9, 'alpha-weights-kd') })]);
    expect(Math.abs(t20.loss! - 7.506184)).toBeLessThan(5e-5 * 7.5);
    source.dispose();
  });

  it('teacher KD T=4: 0.1·CE + 0.9·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) = 0.185781, teacher run online and from the cache', async () => {
    for (const cache of ['none', 'epoch-invariant'] as const) {
      const teacher = fixedLogits(ZT);
      const source = teacherGenerator(teacher, { cache });
      if (cache === 'epoch-invariant') await source.prepare!(vectorsData());
      const logs = await stepLoss([distillPlugin({ source, method: { kind: 'soft-kl', T: 4 }, ...weightsFromAlpha(0.9, 'alpha-weights-kd') })]);
      expect(Math.abs(logs.loss! - 0.185781)).toBeLessThan(1e-5);
      teacher.dispose();
    }
  });

  it('label smoothing ε=0.1 and Tf-KD_reg (code form, multiplier C) through their plugins: 0.552555 and 0.378699', async () => {
    const ls = await stepLoss([labelSmoothingPlugin({ epsilon: 0.1 })]);
    expect(Math.abs(ls.loss! - 0.552555)).toBeLessThan(1e-5);
    // the experiment's Tf-KD_reg wiring: T=1, element-wise mean, no T², kdWeight = α·multiplier with multiplier 1 here
    const tf1 = await stepLoss([distillPlugin({ source: tfkdRegGenerator({ numClasses: 4, tau: 20 }), method: { kind: 'soft-kl', T: 1, reduction: 'elementwise-mean', scaleT2: false }, ceWeight: 0.9, kdWeight: 0.1 })]);
    expect(Math.abs(tf1.loss! - 0.378699)).toBeLessThan(1e-5);
  });
});

describe('the soft targets are per class and row-normalised', () => {
  it('P[y] is looked up by the label: row y of softmax(S + 0.01·I), hand-checked for y = 1, 2, 3', () => {
    const g = matrixGenerator(boosted(), { isLogits: true });
    const p = g.targets({ labels: tf.tensor1d([3, 1, 1], 'int32') }, 4).arraySync();
    // row 3 of the spec's P, then row 1 twice (the same soft label for every example of a class, whatever T)
    [0.178785, 0.197588, 0.241335, 0.382292].forEach((v, k) => expect(p[0]![k]).toBeCloseTo(v, 6));
    [0.259304, 0.336299, 0.2123, 0.192097].forEach((v, k) => expect(p[1]![k]).toBeCloseTo(v, 6));
    expect(p[2]).toEqual(p[1]);
    // hand value of one entry: exp(0.86)/(exp(0.6)+exp(0.86)+exp(0.4)+exp(0.3))
    const e = [0.6, 0.86, 0.4, 0.3].map(Math.exp);
    expect(p[1]![1]).toBeCloseTo(e[1]! / e.reduce((a, b) => a + b, 0), 6);
    g.dispose();
  });
});

describe('shuffled-matrix control', () => {
  it('a different seed gives a different permutation; each keeps the diagonal, the row multiset and the row sums', async () => {
    const base = matrixGenerator(rowSoftmaxOf([[1, 0.9, 0.1, 0.3, 0.5], [0.9, 1, 0.5, 0.2, 0.1], [0.1, 0.5, 1, 0.4, 0.7], [0.3, 0.2, 0.4, 1, 0.6], [0.5, 0.1, 0.7, 0.6, 1]]));
    const P = base.matrix()!;
    const a = shuffledMatrixGenerator(base, 1).matrix()!;
    const b = shuffledMatrixGenerator(base, 2).matrix()!;
    expect(a).not.toEqual(b);
    for (const Q of [a, b]) {
      Q.forEach((r, i) => {
        expect(r[i]).toBe(P[i]![i]);
        expect([...r].sort()).toEqual([...P[i]!].sort());
      });
    }
    expect(shuffledMatrixGenerator(base, 1).matrix()).toEqual(a);
    base.dispose();
  });

  it('fitting a shuffled control of an unfitted ReffAKD source fits the base once and shuffles its matrix', async () => {
    const x = new Float32Array(40 * 3);
    const labels = new Int32Array(40);
    for (let i = 0; i < 40; i++) {
      labels[i] = i % 4;
      for (let d = 0; d < 3; d++) x[i * 3 + d] = (d === i % 3 ? 1 : 0.1) + (i % 4) * 0.05 * d;
    }
    const data = Dataset.fromArrays({ x, shape: [3], labels, numClasses: 4 });
    const base = reffakdGenerator({ numClasses: 4, featureSource: 'pixels', samplesPerClass: 5 });
    const shuffled = shuffledMatrixGenerator(base, 3);
    await shuffled.fit!(data);
    expect(base.fitted).toBe(true);
    const P = base.matrix()!;
    shuffled.matrix()!.forEach((r, i) => expect([...r].sort()).toEqual([...P[i]!].sort()));
    base.dispose();
    shuffled.dispose();
  });
});

function rowSoftmaxOf(M: number[][]): number[][] {
  return M.map((r) => {
    const e = r.map(Math.exp);
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  });
}

describe('experiment wiring', () => {
  it('every soft-label row (ReffAKD, controls, KD) gets the configured KL reduction; per-seed shuffled controls differ', async () => {
    const { methodPlugins, readParams } = await import('../src/experiment.js');
    const full = readParams({ mode: 'full', seed: 1, out: 'unused' });
    expect(full.klReduction).toBe('batchmean');
    expect(full.gridAlpha).toEqual([0.1, 0.5, 0.9]);
    expect(full.shuffleSeed).toBe('per-seed');
    expect(readParams({ mode: 'full', seed: 1, out: 'unused', params: { klReduction: 'elementwise-mean', gridAlpha: '0.5,0.9' } }).klReduction).toBe('elementwise-mean');
    expect(() => readParams({ mode: 'quick', seed: 1, out: 'unused', params: { klReduction: 'mean' } })).toThrow(/"mean" is not allowed — pass one of batchmean, elementwise-mean/);
    const reffakd = matrixGenerator(boosted(), { isLogits: true });
    const teacher = fixedLogits(ZT);
    const shuffledMade: number[] = [];
    const sources = {
      teacher: teacherGenerator(teacher), reffakd, pixels: reffakd, random: reffakd,
      shuffled: (seed: number) => {
        shuffledMade.push(seed);
        return shuffledMatrixGenerator(reffakd, seed);
      },
    };
    const tuned = { reffakd: { T: 4, alpha: 0.5 }, kd: { T: 4, alpha: 0.9 }, ls: 0.1, tfkd: 0.1 };
    const em = await stepLoss(methodPlugins('ReffAKD-AE', sources, tuned, 4, 1, 'elementwise-mean'));
    expect(Math.abs(em.loss! - 0.215761)).toBeLessThan(1e-5);
    const bm = await stepLoss(methodPlugins('ReffAKD-AE', sources, tuned, 4, 1, 'batchmean'));
    expect(Math.abs(bm.loss! - 0.250462)).toBeLessThan(1e-5);
    const kd = await stepLoss(methodPlugins('KD (teacher)', sources, tuned, 4, 1, 'batchmean'));
    expect(Math.abs(kd.loss! - 0.185781)).toBeLessThan(1e-5);
    const ce = await stepLoss(methodPlugins('CE', sources, tuned, 4, 1, 'batchmean'));
    expect(Math.abs(ce.loss! - 0.408388)).toBeLessThan(1e-5);
    await stepLoss(methodPlugins('ReffAKD-shuffled', sources, tuned, 4, 7, 'batchmean'));
    expect(shuffledMade).toEqual([7]);
    teacher.dispose();
    reffakd.dispose();
  });
});

describe('input standardisation (spec §10.1)', () => {
  it('is on by default in both modes, switchable, and maps x to (x − mean)/std with the given statistics', async () => {
    const { readParams, standardize } = await import('../src/experiment.js');
    const { pixelStats } = await import('../src/autoencoder.js');
    expect(readParams({ mode: 'full', seed: 1, out: 'unused' }).normalizeInputs).toBe(true);
    expect(readParams({ mode: 'quick', seed: 1, out: 'unused' }).normalizeInputs).toBe(true);
    expect(readParams({ mode: 'full', seed: 1, out: 'unused', params: { normalizeInputs: 'false' } }).normalizeInputs).toBe(false);
    // two examples of 2 values: 0, 0.5, 1, 0.5 → mean 0.5, population std √(0.125) ≈ 0.353553
    const d = Dataset.fromArrays({ x: Float32Array.from([0, 0.5, 1, 0.5]), shape: [2], labels: Int32Array.from([0, 1]), numClasses: 2 });
    const stats = pixelStats(d.x);
    expect(stats.mean).toBeCloseTo(0.5, 12);
    expect(stats.std).toBeCloseTo(Math.sqrt(0.125), 12);
    const s = standardize(d, stats);
    expect(Array.from(s.x).map((v) => Number(v.toFixed(5)))).toEqual([-1.41421, 0, 1.41421, 0]);
    expect(Array.from(s.labels!)).toEqual([0, 1]);
    expect(Array.from(d.x)).toEqual([0, 0.5, 1, 0.5]); // the source is untouched
    expect(() => standardize(d, { mean: 0, std: 0 })).toThrow(/not positive/);
    const full = readParams({ mode: 'full', seed: 1, out: 'unused' });
    expect([full.aeInput, full.aeTarget]).toEqual(['unit', 'unit']);
    expect(readParams({ mode: 'full', seed: 1, out: 'unused', params: { aeInput: 'standardized', aeTarget: 'normalized' } }).aeTarget).toBe('normalized');
    expect(() => readParams({ mode: 'full', seed: 1, out: 'unused', params: { aeInput: 'zscore' } })).toThrow(/"zscore" is not allowed — pass one of unit, standardized/);
    expect(() => readParams({ mode: 'full', seed: 1, out: 'unused', params: { aeTarget: 'raw' } })).toThrow(/"raw" is not allowed — pass one of unit, normalized/);
  });
});
