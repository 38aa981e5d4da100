import { TrellisError } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  accuracyDrop, accuracyOf, angleFraction, arm, bbsdKS, DISTANCE_NAMES, gaussianOtdd, hScore, ksPValue, ksStatistic, leep, logme, mmd2, preIndex, preIndexAgainst,
  preIndexReference, resolveTaps, resqueShift, symmetricEigen,
} from '../src/index.js';
import { errorCode, noisy, randomData, tinyModel, useCpu } from './helpers.js';

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
});

describe('the baselines on host arrays refuse mismatched or empty input', () => {
  it('each used to return a figure (0, 1 or NaN) from misread rows', () => {
    const p = Float32Array.of(0.2, 0.8, 0.6, 0.4);
    const y = Int32Array.of(1, 0);
    expect(accuracyOf(p, y, 2)).toBe(1);
    expect(errorCode(() => accuracyOf(p, Int32Array.of(5, 0), 2))).toBe('LABEL_OUT_OF_RANGE'); // was 0.5
    expect(errorCode(() => accuracyOf(p, Int32Array.of(1), 2))).toBe('BAD_SHAPE'); // the second row was ignored
    expect(errorCode(() => accuracyOf(new Float32Array(0), new Int32Array(0), 2))).toBe('EMPTY_INPUT'); // was NaN
    expect(errorCode(() => bbsdKS(Float32Array.of(1, 0, 1), Float32Array.of(1, 0), 2))).toBe('BAD_SHAPE');
    expect(errorCode(() => ksStatistic([], [1, 2]))).toBe('EMPTY_INPUT');
    expect(errorCode(() => ksPValue(0.5, 0, 10))).toBe('EMPTY_INPUT');
    expect(errorCode(() => leep(p, 2, Int32Array.of(-1, 0)))).toBe('LABEL_OUT_OF_RANGE');
    expect(errorCode(() => leep(Float32Array.of(0.5, 0.5, 0.2), 2, Int32Array.of(0)))).toBe('BAD_SHAPE');
    expect(errorCode(() => logme(Float32Array.of(1, 2, 3), Int32Array.of(0, 1), 2))).toBe('BAD_SHAPE');
    expect(errorCode(() => hScore(Float32Array.of(1, 2, 3), Int32Array.of(0, 1), 2))).toBe('BAD_SHAPE');
    expect(errorCode(() => gaussianOtdd(Float32Array.of(1, 2), Int32Array.of(0), Float32Array.of(1), Int32Array.of(0), 2))).toBe('BAD_SHAPE');
    expect(errorCode(() => angleFraction([1, 2], [1]))).toBe('LENGTH_MISMATCH');
    expect(errorCode(() => symmetricEigen([1, 2, 3], 2))).toBe('BAD_SHAPE');
    expect(Array.from(symmetricEigen([2, 0, 0, 3], 2).values).sort()).toEqual([2, 3]);
  });
});

describe('bad input gets a clear error', () => {
  const model = tinyModel();
  const old = randomData();
  const code = async (f: () => Promise<unknown>): Promise<string> => {
    try {
      await f();
    } catch (e) {
      expect(e).toBeInstanceOf(TrellisError);
      return (e as TrellisError).code;
    }
    return 'no error';
  };
  it('old and new of different shapes', async () => {
    const wide = randomData(120, 2, 13);
    expect(await code(() => preIndex(model, old, wide))).toBe('SHAPE_MISMATCH');
    expect(await code(() => arm(model, old, wide))).toBe('SHAPE_MISMATCH');
  });
  it('unpaired data for PreIndex names ARM and RESQUE', async () => {
    expect(await code(() => preIndex(model, old, randomData(60)))).toBe('UNPAIRED_DATA');
    const shuffled = old.subset(Int32Array.from({ length: 120 }, (_, i) => (i + 1) % 120));
    await expect(preIndex(model, old, shuffled)).rejects.toThrow(/arm\(.*resqueShift/);
    expect(await code(() => preIndex(model, old, old.withoutLabels()))).toBe('UNLABELED');
  });
  it('an unknown components option', async () => {
    expect(await code(() => preIndex(model, old, old, { components: 'some' as 'all' }))).toBe('BAD_OPTION');
  });
  it('a bin count that is not a whole number ≥ 1 or an unknown Wasserstein mode, before the forward pass', async () => {
    expect(await code(() => preIndex(model, old, old, { bins: [0, 32] }))).toBe('BAD_BINS');
    await expect(preIndex(model, old, old, { bins: [16, 2.5, 32] })).rejects.toThrow('PreIndex bin count 2.5 is not a whole number ≥ 1');
    expect(await code(() => preIndexReference(model, old, { wasserstein: 'bincdf' as 'bin-cdf' }))).toBe('BAD_OPTION');
    await expect(preIndex(model, old, old, { wasserstein: 'bincdf' as 'bin-cdf' })).rejects.toThrow('unknown wasserstein mode "bincdf"');
  });
  it('a layer name that does not exist', async () => {
    expect(await code(() => preIndex(model, old, old, { layers: ['nope'] }))).toBe('UNKNOWN_LAYER');
    expect(await code(() => resqueShift(model, old, old, { layer: 'nope' }))).toBe('UNKNOWN_LAYER');
    await expect(arm(model, old, old, { layers: ['d32', 'nope'] })).rejects.toThrow(/no layer named "nope".*d32/);
  });
});
