import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  accuracyDrop, accuracyOf, angleFraction, arm, armFromRepresentations, bbsdKS, DISTANCE_NAMES, gaussianOtdd, hScore, ksPValue, ksStatistic, leep, logme, mmd2, preIndex, preIndexAgainst,
  preIndexReference, resolveTaps, resqueShift, symmetricEigen,
} from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { noisy, randomData, tinyModel, useCpu } from './helpers.js';

beforeAll(useCpu);

describe('taps', () => {
  it('auto taps conv/dense layers wider than K and flags fused activations', () => {
    expect(resolveTaps(tinyModel(), 'auto', 10)).toEqual({ layers: ['d32', 'd16'], postActivation: [] });
    expect(resolveTaps(tinyModel(1, 12, true), 'auto', 10).postActivation).toEqual(['d32']);
    expect(resolveTaps(tinyModel(), 'auto', 20).layers).toEqual(['d32']);
  });
});

describe('PreIndex invariants (spec §4.4) on a tiny random model', () => {
  const model = tinyModel();
  const old = randomData();
  const shifted = noisy(old, 0.8);
  it('X\' = X gives every D̄ = 0 and inv_ari = 1 − ARI_clean (corrected index 0)', async () => {
    const r = await preIndex(model, old, old);
    for (const b of [16, 32, 64]) for (const m of DISTANCE_NAMES) expect(r.distances[b]![m]).toBe(0);
    expect(r.invAri).toBe(1 - r.ari.clean);
    expect(r.corrected).toBe(0);
    expect(r.value).toBe(r.invAri);
    expect(r.layers).toEqual(['d32', 'd16']);
    expect(r.embeddingLayer).toBe('d16');
  });
  it('D̄ does not depend on batch size or on a joint permutation', async () => {
    const a = await preIndex(model, old, shifted, { batchSize: 32 });
    const b = await preIndex(model, old, shifted, { batchSize: 7 });
    const perm = Int32Array.from({ length: old.size }, (_, i) => (i * 7) % old.size);
    const c = await preIndex(model, old.subset(perm), shifted.subset(perm));
    for (const bins of [16, 32, 64]) for (const m of DISTANCE_NAMES) {
      expect(b.distances[bins]![m]).toBeCloseTo(a.distances[bins]![m], 6);
      expect(c.distances[bins]![m]).toBeCloseTo(a.distances[bins]![m], 6);
    }
    expect(a.p).toBeGreaterThan(0);
    expect(a.p).toBe(a.distances[32]!.W);
  });
  it('W, JS and BH are symmetric in (X, X\'); KL is not', async () => {
    const a = await preIndex(model, old, shifted);
    const b = await preIndex(model, shifted, shifted.withInputs(old.x));
    for (const m of ['W', 'JS', 'BH'] as const) expect(b.distances[32]![m]).toBeCloseTo(a.distances[32]![m], 9);
    expect(b.distances[32]!.KL).not.toBeCloseTo(a.distances[32]!.KL, 6);
  });
  it('combination options: s, s̄, baseline correction, custom function', async () => {
    const r = await preIndex(model, old, shifted, { combine: { s: 0.5, sBar: 0.1 } });
    const u = r.p + r.invAri;
    expect(r.value).toBeCloseTo(u / (1 + 0.5 * u) - 0.1, 12);
    const custom = await preIndex(model, old, shifted, { combine: (c) => c.p * 10 });
    expect(custom.value).toBeCloseTo(r.p * 10, 12);
    const binCdf = await preIndex(model, old, shifted, { wasserstein: 'bin-cdf' });
    expect(binCdf.distances[32]!.W).not.toBe(r.distances[32]!.W);
    expect(binCdf.distances[32]!.JS).toBe(r.distances[32]!.JS);
  });
  it('leaves no tensors behind', async () => {
    await preIndex(model, old, shifted);
    const before = (await import('@tensorflow/tfjs-core')).memory().numTensors;
    await preIndex(model, old, shifted);
    await arm(model, old, shifted);
    await accuracyDrop(model, old, shifted);
    expect((await import('@tensorflow/tfjs-core')).memory().numTensors).toBe(before);
  });
  it("components 'index' gives the same value and corrected index, computing only the primary distance and two ARIs", async () => {
    for (const combine of [{}, { baselineCorrect: true }, { s: 0.5, sBar: 0.1 }]) {
      const all = await preIndex(model, old, shifted, { combine });
      const only = await preIndex(model, old, shifted, { combine, components: 'index' });
      expect(only.value).toBe(all.value);
      expect(only.corrected).toBe(all.corrected);
      expect(only.p).toBe(all.p);
      expect(only.ari.clean).toBe(all.ari.clean);
      expect(only.ari.newFromClean).toBe(all.ari.newFromClean);
      expect([only.ari.newOwn, only.ari.cleanKpp, only.ari.newKpp].every(Number.isNaN)).toBe(true);
      for (const b of [16, 32, 64]) for (const m of DISTANCE_NAMES) {
        if (b === 32 && m === 'W') expect(only.distances[b]![m]).toBe(all.distances[b]![m]);
        else expect(only.distances[b]![m]).toBeNaN();
      }
    }
    const before = (await import('@tensorflow/tfjs-core')).memory().numTensors;
    await preIndex(model, old, shifted, { components: 'index' });
    expect((await import('@tensorflow/tfjs-core')).memory().numTensors).toBe(before);
  });
  it('a clean-side reference built once gives every shifted set the same result as a standalone call', async () => {
    const strip = (r: Awaited<ReturnType<typeof preIndex>>) => ({ ...r, wallMs: 0 });
    for (const components of ['all', 'index'] as const) {
      const options = { components, combine: { baselineCorrect: true }, clustering: { seed: 3 } };
      const ref = await preIndexReference(model, old, options);
      expect(ref.layers).toEqual(['d32', 'd16']);
      expect(ref.clustering.classes).toEqual([...new Set(old.labels!)].sort((a, b) => a - b));
      expect(Number.isNaN(ref.clustering.cleanKpp)).toBe(components === 'index');
      // three shifted sets in turn (the reference reuses one buffer for their embeddings), then the first again
      const sets = [shifted, noisy(old, 0.3), noisy(old, 2), shifted];
      const against = [];
      for (const s of sets) against.push(strip(await preIndexAgainst(ref, s)));
      for (let i = 0; i < sets.length; i++) expect(against[i]).toEqual(strip(await preIndex(model, old, sets[i]!, options)));
      expect(against[3]).toEqual(against[0]);
      expect(against[2]!.p).toBeGreaterThan(against[1]!.p);
    }
    const ref = await preIndexReference(model, old);
    const before = (await import('@tensorflow/tfjs-core')).memory().numTensors;
    await preIndexAgainst(ref, shifted);
    expect((await import('@tensorflow/tfjs-core')).memory().numTensors).toBe(before);
    // the shifted set must still be paired with the reference's clean data
    const unpaired = old.subset(Int32Array.from({ length: old.size }, (_, i) => (i + 1) % old.size));
    await expect(preIndexAgainst(ref, unpaired)).rejects.toMatchObject({ code: 'UNPAIRED_DATA' });
    await expect(preIndexReference(model, old, { components: 'some' as 'all' })).rejects.toMatchObject({ code: 'BAD_OPTION' });
  });
  it('a stronger shift gives a larger index', async () => {
    const weak = await preIndex(model, old, noisy(old, 0.3));
    const strong = await preIndex(model, old, noisy(old, 2));
    expect(strong.p).toBeGreaterThan(weak.p);
  });
});

describe('ARM, RESQUE and accuracy drop', () => {
  const model = tinyModel();
  const old = randomData();
  it('are 0 on unchanged data, positive under a shift, and ARM takes unpaired data', async () => {
    expect((await arm(model, old, old)).value).toBe(0);
    expect((await resqueShift(model, old, old, { layer: 'd16' })).value).toBe(0);
    expect(await accuracyDrop(model, old, old)).toBe(0);
    const other = noisy(randomData(50, 9), 1);
    expect((await arm(model, old, other)).value).toBeGreaterThan(0);
    expect((await arm(model, old, other, { construction: 'pooled', wasserstein: 'bin-cdf' })).value).toBeGreaterThan(0);
    expect((await resqueShift(model, old, other, { layer: 'd16' })).value).toBeGreaterThan(0);
  });
  it('refuse NaN/Inf activations where they are extracted (ARM and RESQUE used to return finite numbers, RESQUE 0)', async () => {
    const x = old.x.slice();
    for (let i = 0; i < 12 * 6; i++) x[i] = i % 2 ? 3.4e38 : -3.4e38; // the first 6 examples overflow to ±Inf/NaN
    const bad = old.withInputs(x);
    expect((await trellisErrorOf(() => arm(model, old, bad))).code).toBe('NON_FINITE_VALUES'); // was 0.0297
    expect((await trellisErrorOf(() => arm(model, old, bad, { construction: 'pooled' }))).code).toBe('NON_FINITE_VALUES'); // was 0.03125
    expect((await trellisErrorOf(() => resqueShift(model, old, bad, { layer: 'd16' }))).code).toBe('NON_FINITE_VALUES'); // was 0
    expect((await trellisErrorOf(() => accuracyDrop(model, old, bad))).code).toBe('NON_FINITE_VALUES');
    await expect(preIndex(model, old, bad)).rejects.toThrow(/layer "d32" gives -?Infinity at example 0 \(entry \d+\)/);
  });
  it('free every batch when the forward pass or preprocess throws: numTensors flat across failing calls', async () => {
    const badPreprocess = { preprocess: (t: tf.Tensor) => tf.reshape(t, [-1, 6]) }; // the model wants 12 values per row
    const failing = [
      () => preIndex(model, old, old, badPreprocess), () => arm(model, old, old, badPreprocess),
      () => resqueShift(model, old, old, { ...badPreprocess, layer: 'd16' }), () => accuracyDrop(model, old, old, badPreprocess),
      () => arm(model, old, old.withInputs(old.x.map(() => 3.4e38))), // the finiteness check throws after the forward pass
    ];
    for (const f of failing) await f().catch(() => undefined);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) for (const f of failing) await expect(f()).rejects.toBeInstanceOf(Error);
    expect(tf.memory().numTensors).toBe(before); // each failing call used to leave its batch's 2 tensors
  });
});

describe('MMD² (unbiased, Gaussian RBF)', () => {
  it('matches the hand-computed statistic, takes the median bandwidth by default and rejects a bad bandwidth', () => {
    // a = {0, 1}, b = {0, 2}, σ = 1, k(u, v) = exp(−(u − v)²/2):
    // XX e^−0.5; YY e^−2; XY (1 + e^−2 + 2e^−0.5)/4 · 2 → MMD² = e^−0.5 + e^−2 − (1 + e^−2 + 2e^−0.5)/2
    const want = Math.exp(-0.5) + Math.exp(-2) - (1 + Math.exp(-2) + 2 * Math.exp(-0.5)) / 2;
    const a = Float32Array.from([0, 1]);
    const b = Float32Array.from([0, 2]);
    expect(mmd2(a, b, 1, { sigma: 1, permutations: 0 }).mmd2).toBeCloseTo(want, 12);
    const byMedian = mmd2(a, b, 1, { permutations: 0 }); // the median distance within a is 1
    expect(byMedian.sigma).toBe(1);
    expect(byMedian.mmd2).toBeCloseTo(want, 12);
    for (const sigma of [0, -1, Number.NaN, 'mean']) {
      expect(() => mmd2(a, b, 1, { sigma: sigma as number })).toThrow(/MMD bandwidth sigma .* is neither 'median' nor a positive number/);
    }
  });
  it("'median' is np.median: the mean of the two middle distances for an even count", () => {
    // a = {0, 1, 3, 7}: 6 distances 1, 2, 3, 4, 6, 7 → median (3 + 4)/2 = 3.5 (the upper middle, 4, before)
    const a = Float32Array.from([0, 1, 3, 7]);
    const b = Float32Array.from([2, 5, 9]);
    const r = mmd2(a, b, 1, { permutations: 0 });
    expect(r.sigma).toBe(3.5);
    // by hand with σ = 3.5: k(u, v) = exp(−(u − v)²/24.5)
    const k = (u: number, v: number): number => Math.exp(-((u - v) ** 2) / (2 * 3.5 * 3.5));
    let xx = 0, yy = 0, xy = 0;
    for (const u of a) for (const v of a) if (u !== v) xx += k(u, v);
    for (const u of b) for (const v of b) if (u !== v) yy += k(u, v);
    for (const u of a) for (const v of b) xy += k(u, v);
    expect(r.mmd2).toBeCloseTo(xx / 12 + yy / 6 - (2 * xy) / 12, 12);
  });
  it('refuses rows of another width, d = 0 and NaN (instead of NaN with the smallest p-value)', () => {
    const six = Float32Array.from([0, 1, 2, 3, 4, 5]);
    expect(trellisErrorOf(() => mmd2(new Float32Array(10), new Float32Array(9), 3)).code).toBe('BAD_SHAPE'); // was NaN, p = 0.0099
    expect(() => mmd2(six, Float32Array.from([0, 1, 2, 3, 4]), 2)).toThrow('MMD² (b): 5 values are not whole rows of width 2');
    expect(trellisErrorOf(() => mmd2(six, six, 0)).code).toBe('BAD_SHAPE'); // was an Rng error
    expect(() => mmd2(Float32Array.from([0, 1, Number.NaN, 2, 3, 4]), Float32Array.from([0, 1, 2, 3]), 1, { permutations: 10 }))
      .toThrow('MMD² (a): the values contain NaN at row 2, column 0');
  });
});

describe('LogME', () => {
  // features and labels from /tmp/review-rc/logme_ref.py's generator (seed 11); values from its port of thuml/LogME
  const f1 = Float32Array.from([1, 1.25, 1.25, -0.5, 0.75, -0.5, 0.5, 0, 1.75, -0.75, 1.5, 0, 0.75, 0.75, -0.5, 0.5, 0.75, 0.75,
    0.75, 0.75, -0.75, -1.5, 1.5, -0.75, -2, -0.75, 0.5, -0.25, -1.5, 0, 1, 0.75, -0.75, 0.5, 0.75, 0.75]);
  const y1 = Int32Array.from({ length: 12 }, (_, i) => i % 3);
  const f2 = Float32Array.from([1.5, 1, -0.25, -0.75, 0.25, 0.25, 1, -0.25, -0.75, -0.75, -1.75, 0.25, 1.5, -0.75, 1.5, 0.75, 0.75, 0.5,
    1, -0.25, 0.5, 0.5, -1.75, 0.25]);
  const y2 = Int32Array.from([0, 1, 0, 1]);
  it("'fixed-point' matches thuml/LogME's _fit_fixed_point (N > D and N ≤ D); the default 'icml' its _fit_icml", () => {
    expect(logme(f1, y1, 3, { algorithm: 'fixed-point' })).toBeCloseTo(-0.8409993679863098, 10); // N = 12 > D = 3
    expect(logme(f1, y1, 3)).toBeCloseTo(-0.8413237514049364, 10);
    expect(logme(f2, y2, 6, { algorithm: 'fixed-point' })).toBeCloseTo(-0.08830912141307101, 10); // N = 4 ≤ D = 6
    expect(logme(f2, y2, 6, { algorithm: 'icml' })).toBeCloseTo(-0.7335238849966488, 10);
    expect(() => logme(f1, y1, 3, { algorithm: 'fixedpoint' as 'icml' })).toThrow('unknown LogME algorithm "fixedpoint"');
  });
});

describe('the baselines on host arrays refuse mismatched or empty input', () => {
  it('each used to return a figure (0, 1 or NaN) from misread rows', () => {
    const p = Float32Array.of(0.2, 0.8, 0.6, 0.4);
    const y = Int32Array.of(1, 0);
    expect(accuracyOf(p, y, 2)).toBe(1);
    expect(trellisErrorOf(() => accuracyOf(p, Int32Array.of(5, 0), 2)).code).toBe('LABEL_OUT_OF_RANGE'); // was 0.5
    expect(trellisErrorOf(() => accuracyOf(p, Int32Array.of(1), 2)).code).toBe('BAD_SHAPE'); // the second row was ignored
    expect(trellisErrorOf(() => accuracyOf(new Float32Array(0), new Int32Array(0), 2)).code).toBe('EMPTY_INPUT'); // was NaN
    expect(trellisErrorOf(() => bbsdKS(Float32Array.of(1, 0, 1), Float32Array.of(1, 0), 2)).code).toBe('BAD_SHAPE');
    expect(trellisErrorOf(() => ksStatistic([], [1, 2])).code).toBe('EMPTY_INPUT');
    expect(trellisErrorOf(() => ksPValue(0.5, 0, 10)).code).toBe('EMPTY_INPUT');
    expect(trellisErrorOf(() => leep(p, 2, Int32Array.of(-1, 0))).code).toBe('LABEL_OUT_OF_RANGE');
    expect(trellisErrorOf(() => leep(Float32Array.of(0.5, 0.5, 0.2), 2, Int32Array.of(0))).code).toBe('BAD_SHAPE');
    expect(trellisErrorOf(() => logme(Float32Array.of(1, 2, 3), Int32Array.of(0, 1), 2)).code).toBe('BAD_SHAPE');
    expect(trellisErrorOf(() => hScore(Float32Array.of(1, 2, 3), Int32Array.of(0, 1), 2)).code).toBe('BAD_SHAPE');
    expect(trellisErrorOf(() => gaussianOtdd(Float32Array.of(1, 2), Int32Array.of(0), Float32Array.of(1), Int32Array.of(0), 2)).code).toBe('BAD_SHAPE');
    expect(trellisErrorOf(() => angleFraction([1, 2], [1])).code).toBe('LENGTH_MISMATCH');
    expect(trellisErrorOf(() => symmetricEigen([1, 2, 3], 2)).code).toBe('BAD_SHAPE');
    expect(Array.from(symmetricEigen([2, 0, 0, 3], 2).values).sort()).toEqual([2, 3]);
  });
  it('refuse NaN features and probabilities, logits for LEEP and OTDD without a shared class (each used to return a number)', () => {
    const nan = Number.NaN;
    expect(trellisErrorOf(() => hScore(Float32Array.of(1, nan, 2, 3, 4, 5), Int32Array.of(0, 1, 1), 2)).code).toBe('NON_FINITE_VALUES'); // was 0
    expect(() => logme(Float32Array.of(1, nan, 2, 3), Int32Array.of(0, 1), 2)).toThrow("LogME's features contain NaN at row 0, column 1"); // was NaN
    expect(trellisErrorOf(() => leep(Float32Array.of(nan, 1, 0.5, 0.5), 2, Int32Array.of(0, 1))).code).toBe('NON_FINITE_VALUES'); // was −1.0986
    expect(trellisErrorOf(() => leep(Float32Array.of(2, -1, 0.5, 0.5), 2, Int32Array.of(0, 1))).code).toBe('BAD_PROBABILITIES');
    expect(trellisErrorOf(() => leep(Float32Array.of(0.3, 0.3, 0.5, 0.5), 2, Int32Array.of(0, 1))).code).toBe('BAD_PROBABILITIES');
    expect(trellisErrorOf(() => bbsdKS(Float32Array.of(nan, 1, 0.5, 0.5), Float32Array.of(0.2, 0.8, 0.5, 0.5), 2)).code).toBe('NON_FINITE_VALUES'); // was p = 1
    expect(trellisErrorOf(() => ksStatistic([nan, 1, 2], [0, 1, 2])).code).toBe('NON_FINITE_VALUES'); // was 1/3
    expect(trellisErrorOf(() => gaussianOtdd(Float32Array.of(1, nan), Int32Array.of(0), Float32Array.of(1, 2), Int32Array.of(0), 2)).code).toBe('NON_FINITE_VALUES');
    const f = Float32Array.of(1, 2, 3, 4);
    expect(trellisErrorOf(() => gaussianOtdd(f, Int32Array.of(0, 0), f, Int32Array.of(1, 1), 2)).code).toBe('EMPTY_INPUT'); // was NaN
  });
});

describe('bad input gets a clear error', () => {
  const model = tinyModel();
  const old = randomData();
  it('old and new of different shapes', async () => {
    const wide = randomData(120, 2, 13);
    expect((await trellisErrorOf(() => preIndex(model, old, wide))).code).toBe('SHAPE_MISMATCH');
    expect((await trellisErrorOf(() => arm(model, old, wide))).code).toBe('SHAPE_MISMATCH');
  });
  it('unpaired data for PreIndex names ARM and RESQUE', async () => {
    expect((await trellisErrorOf(() => preIndex(model, old, randomData(60)))).code).toBe('UNPAIRED_DATA');
    const shuffled = old.subset(Int32Array.from({ length: 120 }, (_, i) => (i + 1) % 120));
    await expect(preIndex(model, old, shuffled)).rejects.toThrow(/arm\(.*resqueShift/);
    expect((await trellisErrorOf(() => preIndex(model, old, old.withoutLabels()))).code).toBe('UNLABELED');
  });
  it('an unknown components option', async () => {
    expect((await trellisErrorOf(() => preIndex(model, old, old, { components: 'some' as 'all' }))).code).toBe('BAD_OPTION');
  });
  it('a bin count that is not a whole number ≥ 1 or an unknown Wasserstein mode, before the forward pass', async () => {
    expect((await trellisErrorOf(() => preIndex(model, old, old, { bins: [0, 32] }))).code).toBe('BAD_BINS');
    await expect(preIndex(model, old, old, { bins: [16, 2.5, 32] })).rejects.toThrow('PreIndex bin count 2.5 is not a whole number ≥ 1');
    expect((await trellisErrorOf(() => preIndexReference(model, old, { wasserstein: 'bincdf' as 'bin-cdf' }))).code).toBe('BAD_OPTION');
    await expect(preIndex(model, old, old, { wasserstein: 'bincdf' as 'bin-cdf' })).rejects.toThrow('unknown wasserstein mode "bincdf"');
  });
  it('an unknown primary metric, an empty layer list, a negative klEpsilon, a NaN combine.s or a subsample of 0, before the forward pass', async () => {
    expect((await trellisErrorOf(() => preIndex(model, old, old, { primary: { metric: 'w' as 'W', bins: 32 } }))).code).toBe('BAD_OPTION'); // value was NaN
    await expect(preIndex(model, old, old, { primary: { metric: 'w' as 'W', bins: 32 } })).rejects.toThrow(/unknown primary metric "w" — use primary.metric 'W', 'JS', 'BH', 'KL'/);
    expect((await trellisErrorOf(() => preIndex(model, old, old, { layers: [] }))).code).toBe('BAD_OPTION'); // was UNKNOWN_LAYER "undefined"
    await expect(arm(model, old, old, { layers: [] })).rejects.toThrow(/layers is an empty list: there is no layer to tap — pass layers: 'auto' .* d32/); // was NaN
    expect((await trellisErrorOf(() => preIndex(model, old, old, { klEpsilon: -1 }))).code).toBe('BAD_OPTION'); // was accepted
    expect((await trellisErrorOf(() => preIndex(model, old, old, { combine: { s: Number.NaN } }))).code).toBe('BAD_OPTION'); // value was NaN
    expect((await trellisErrorOf(() => preIndex(model, old, old, { clustering: { subsample: 0 } }))).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => armFromRepresentations({}, 1, {}, 1, [], [])).code).toBe('BAD_OPTION');
  });
  it('a layer name that does not exist', async () => {
    expect((await trellisErrorOf(() => preIndex(model, old, old, { layers: ['nope'] }))).code).toBe('UNKNOWN_LAYER');
    expect((await trellisErrorOf(() => resqueShift(model, old, old, { layer: 'nope' }))).code).toBe('UNKNOWN_LAYER');
    await expect(arm(model, old, old, { layers: ['d32', 'nope'] })).rejects.toThrow(/no layer named "nope".*d32/);
  });
});
