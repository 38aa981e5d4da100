import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  RunRecord, TrellisError, bootstrapInterval, nativeLibrariesLine, kendall, median, packageOf, pairedBootstrapInterval, pearson, quantile, ranks, spearman,
} from '@trellis-ml/core';

/** An rng that returns scripted indices (to check the bootstrap by hand). */
const scripted = (draws: number[]) => {
  let i = 0;
  return { int: (n: number) => draws[i++]! % n };
};

const codeOf = (f: () => unknown): string | undefined => {
  try { f(); } catch (e) { return e instanceof TrellisError ? e.code : 'not a TrellisError'; }
  return undefined;
};

describe('stats (hand-computed)', () => {
  it('pearson: x = [1, 2, 3], y = [1, 3, 2] → sxy 1, sxx 2, syy 2 → 0.5; NaN when a side is constant or n < 2', () => {
    expect(pearson([1, 2, 3], [1, 3, 2])).toBeCloseTo(0.5, 15);
    expect(pearson([1, 2, 3], [5, 5, 5])).toBeNaN();
    expect(pearson([1], [2])).toBeNaN();
    expect(pearson(Float32Array.from([1, 2, 3]), [2, 4, 6])).toBeCloseTo(1, 15);
  });
  it('pearson: a constant side whose float mean is not exact is NaN (it read ≈ 0), and |r| never exceeds 1', () => {
    // mean([0.1, 0.1, 0.1]) is 0.10000000000000002, so sxx was ≈ 1e-33 > 0 and r came out ≈ 0
    expect(pearson([0.1, 0.1, 0.1], [1, 2, 3])).toBeNaN();
    expect(pearson([1, 2, 3, 4, 5, 6], Array(6).fill(0.7))).toBeNaN();
    // y = 3x + 0.1 rounds to r = 1.0000000000000004 unclipped (SciPy clips to [−1, 1])
    const x = [0.1, 0.7, 1.3, 2.9, 3.3];
    expect(pearson(x, x.map((v) => 3 * v + 0.1))).toBeLessThanOrEqual(1);
    expect(pearson(x, x.map((v) => -3 * v + 0.1))).toBeGreaterThanOrEqual(-1);
  });
  it('ranks: ties share their average rank', () => {
    expect(ranks([10, 20, 20, 5])).toEqual([2, 3.5, 3.5, 1]);
    expect(ranks([3, 3, 3])).toEqual([2, 2, 2]);
    expect(ranks([])).toEqual([]);
  });
  it('spearman: Pearson of the average ranks', () => {
    // ranks [1, 2.5, 2.5, 4] vs [1, 2, 3, 4]: sxy = 4.5, sxx = 4.5, syy = 5 → 4.5 / √22.5
    expect(spearman([1, 2, 2, 3], [10, 20, 30, 40])).toBeCloseTo(4.5 / Math.sqrt(22.5), 15);
    expect(spearman([1, 2, 3, 4], [40, 30, 20, 10])).toBe(-1);
  });
  it('kendall τ-b: (C − D) / √((C + D + Tx)(C + D + Ty))', () => {
    // pairs of x = [1, 2, 2, 3], y = [1, 3, 2, 4]: (1,2) C, (1,3) C, (1,4) C, (2,3) tie in x, (2,4) C, (3,4) C
    // → C = 5, D = 0, Tx = 1, Ty = 0 → 5 / √(6 · 5)
    expect(kendall([1, 2, 2, 3], [1, 3, 2, 4])).toBeCloseTo(5 / Math.sqrt(30), 15);
    expect(kendall([1, 2, 3], [3, 2, 1])).toBe(-1);
    expect(kendall([1, 1], [1, 2])).toBeNaN();
  });
  it('a NaN on either side makes spearman and kendall NaN, as pearson (it used to be ranked: ρ = 1 for [1, NaN, 3] vs [1, 2, 3])', () => {
    for (const [x, y] of [[[1, NaN, 3], [1, 2, 3]], [[1, 2, 3], [3, NaN, 1]], [[NaN, NaN], [1, 2]]]) {
      expect(spearman(x!, y!)).toBeNaN();
      expect(kendall(x!, y!)).toBeNaN();
      expect(pearson(x!, y!)).toBeNaN();
    }
    // ±Infinity still ranks (a censored cost may be Infinity): above every finite value
    expect(spearman([1, 2, Infinity], [1, 2, 3])).toBe(1);
    expect(kendall([-Infinity, 2, 3], [1, 2, 3])).toBe(1);
  });
  it('a correlation of two lists of different lengths is a clear error', () => {
    expect(codeOf(() => pearson([1, 2], [1]))).toBe('LENGTH_MISMATCH');
    expect(codeOf(() => spearman([1, 2], [1]))).toBe('LENGTH_MISMATCH');
    expect(codeOf(() => kendall([1, 2], [1]))).toBe('LENGTH_MISMATCH');
    expect(codeOf(() => pairedBootstrapInterval([1, 2], [1], spearman, scripted([])))).toBe('LENGTH_MISMATCH');
  });
  it('median and quantile (NumPy default interpolation)', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median(Float32Array.from([4, 1, 3, 2]))).toBe(2.5);
    expect(median([])).toBeNaN();
    // position (n − 1)·q: 3 · 0.025 = 0.075 → 1.075; 3 · 0.975 = 2.925 → 3.925
    expect(quantile([4, 1, 3, 2], 0.025)).toBeCloseTo(1.075, 12);
    expect(quantile([4, 1, 3, 2], 0.975)).toBeCloseTo(3.925, 12);
    expect(quantile([5], 0.9)).toBe(5);
    expect(quantile([], 0.5)).toBeNaN();
  });
  it('median and quantile are NaN when a value is NaN (numpy.median; the sort used to place it anywhere: median([NaN, 5, 1]) read 1)', () => {
    expect(median([NaN, 5, 1])).toBeNaN();
    expect(median([3, NaN, 1, 2])).toBeNaN();
    expect(quantile([1, NaN, 3], 0.5)).toBeNaN();
    expect(median([1, Infinity, 3])).toBe(3);
  });
  it('quantile returns an order statistic as it is next to an infinite value (∞ − x times 0 was NaN), and refuses a NaN q', () => {
    expect(quantile([1, 2, Infinity], 0.5)).toBe(2);
    expect(quantile([1, Infinity], 1)).toBe(Infinity);
    expect(quantile([-Infinity, 1, 2], 0)).toBe(-Infinity);
    expect(quantile([-Infinity, 1, 2], 0.5)).toBe(1);
    expect(quantile([-1.7e308, 1.7e308], 0)).toBe(-1.7e308); // the difference overflows to Infinity
    expect(quantile([1, 2, Infinity], 0.75)).toBe(Infinity); // between 2 and ∞
    expect(quantile([1, 2, 4], 0.25)).toBe(1.5); // interpolation unchanged: position 0.5
    expect(() => quantile([1, 2], NaN)).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
  });
  it('bootstrapInterval: scripted draws, quantiles of the finite statistics', () => {
    // outcomes [1, 0, 1]; resamples [0,1,2] → 2/3, [1,1,1] → 0, [0,0,2] → 1; level 0.5 → quantiles 0.25 / 0.75 of [0, 2/3, 1]
    const outcomes = [1, 0, 1];
    const mean = (idx: readonly number[]) => idx.reduce((s, i) => s + outcomes[i]!, 0) / idx.length;
    const ci = bootstrapInterval(3, mean, scripted([0, 1, 2, 1, 1, 1, 0, 0, 2]), { resamples: 3, level: 0.5 });
    expect(ci.valid).toBe(3);
    expect(ci.lo).toBeCloseTo(1 / 3, 12);
    expect(ci.hi).toBeCloseTo(5 / 6, 12);
    expect(bootstrapInterval(0, mean, scripted([]))).toEqual({ lo: NaN, hi: NaN, valid: 0 });
    // an item count that is not a whole number ≥ 0: a RangeError (2.5) or a silent NaN interval (−1) before
    for (const n of [2.5, -1, NaN, Infinity]) {
      expect(() => bootstrapInterval(n, mean, scripted([0, 1, 2])), String(n)).toThrow(expect.objectContaining({ code: 'BAD_COUNT', message: expect.stringMatching(/the count is not a whole number ≥ 0/) }));
    }
    // a resample count or level that cannot give an interval was a NaN interval (or level 1.5 a quantile past the end)
    for (const options of [{ resamples: 0 }, { resamples: 2.5 }, { resamples: NaN }, { level: 0 }, { level: 1.5 }, { level: NaN }]) {
      expect(() => bootstrapInterval(3, mean, scripted([0, 1, 2])), JSON.stringify(options)).not.toThrow();
      expect(() => bootstrapInterval(3, mean, scripted([0, 1, 2]), options), JSON.stringify(options)).toThrow(TrellisError);
    }
  });
  it('pairedBootstrapInterval resamples pairs together and skips undefined statistics', () => {
    // x = [1,2,3], y = [1,3,2]; rows [0,1,2] → ρ 0.5, [0,0,1] → ρ 1, [2,2,2] → undefined (skipped)
    const ci = pairedBootstrapInterval([1, 2, 3], [1, 3, 2], spearman, scripted([0, 1, 2, 0, 0, 1, 2, 2, 2]), { resamples: 3, level: 0.5 });
    expect(ci).toEqual({ lo: expect.closeTo(0.625, 12), hi: expect.closeTo(0.875, 12), valid: 2 });
    expect(pairedBootstrapInterval([1], [1], spearman, scripted([0]))).toEqual({ lo: NaN, hi: NaN, valid: 0 });
  });
});

describe('package versions in the run record', () => {
  it('packageOf reads the nearest package.json above a module; RunRecord records it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-pkg-'));
    try {
      await writeFile(join(dir, 'package.json'), JSON.stringify({ name: '@acme/plugin', version: '2.3.4' }));
      await mkdir(join(dir, 'dist'));
      const moduleUrl = pathToFileURL(join(dir, 'dist', 'experiment.js')).href;
      expect(await packageOf(moduleUrl)).toEqual({ name: '@acme/plugin', version: '2.3.4' });
      const record = await RunRecord.create({ out: dir, name: 'x', seed: 7, packageOf: moduleUrl, versions: { other: '1.0.0' } });
      const config = JSON.parse(await readFile(join(record.dir, 'config.json'), 'utf8')) as { versions: Record<string, string>; trellisCore: string };
      expect(config.versions).toEqual({ '@acme/plugin': '2.3.4', other: '1.0.0' });
      const core = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
      expect(config.trellisCore).toBe(core.version);
      const env = config as unknown as Record<string, unknown>;
      expect(env['backend']).toBe(tf.getBackend());
      expect(env['backendThreads']).toBeGreaterThanOrEqual(1);
      expect(['stock', 'trellis-wasm', 'native', 'trellis-native']).toContain(env['backendKernels']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('names the native libraries behind trellis-native in one line (GEMM rounding depends on them)', () => {
    const versions = { dnnl: '2.6.3', openblas: 'OpenBLAS 0.3.21 DYNAMIC_ARCH Haswell', openblasCore: 'Haswell', gemm: 'auto', mallocTuned: 'yes' };
    expect(nativeLibrariesLine(versions, { OPENBLAS_CORETYPE: 'Haswell' }))
      .toBe('oneDNN 2.6.3; OpenBLAS 0.3.21 DYNAMIC_ARCH Haswell (Haswell kernels); gemm auto; OPENBLAS_CORETYPE=Haswell');
    expect(nativeLibrariesLine({ dnnl: '3.0', openblas: 'OpenBLAS 0.3.26' }, {})).toBe('oneDNN 3.0; OpenBLAS 0.3.26');
  });
  it('a module outside any package is a clear error', async () => {
    await expect(packageOf('file:///no-such-dir/x/y.js')).rejects.toMatchObject({ code: 'PACKAGE_JSON_NOT_FOUND' });
  });
});
