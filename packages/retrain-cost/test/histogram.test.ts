import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { Rng } from '@trellis-ml/core';
import {
  adjustedRandIndex, angleFraction, armLayerDistance, bhattacharyya, histogramPmf, histogramPmfInto, histogramRange, jensenShannon, klDivergence, kmeans,
  classSums, DISTANCE_NAMES, distances, representationDistances, resqueFromSums, wassersteinBinCdf, wassersteinValueSort,
} from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';

describe('histogramPmf (NumPy rule, spec §3.3)', () => {
  it('rejects a bin count that is not a whole number ≥ 1 (instead of a RangeError, an empty or a truncated histogram)', () => {
    for (const bins of [0, -2, 2.5, Number.NaN, '4']) {
      expect(trellisErrorOf(() => histogramPmf([0, 1, 2], bins as number)).code).toBe('BAD_BINS');
      expect(() => histogramPmf([0, 1, 2], bins as number)).toThrow(`histogram bin count ${String(bins)} is not a whole number ≥ 1`);
    }
  });
  it('matches the spec golden pmfs', () => {
    const p = histogramPmf([0, 1, 2, 3, 4, 10], 4);
    expect([...p]).toEqual([0.5, 1 / 3, 0, 1 / 6].map((v) => expect.closeTo(v, 12)));
    expect([...histogramPmf([1, 1, 1, 1, 1, 1], 4)]).toEqual([0, 0, 1, 0]);
    expect([...histogramPmf([0, 0.25, 0.5, 0.75, 1], 4)].map((v) => v * 5)).toEqual([1, 1, 1, 2].map((v) => expect.closeTo(v, 12)));
  });
  it('float32 activations are binned on float32 edges, as np.histogram on float32 data (NumPy 1.24)', () => {
    // fround(0.7) = 0.699999988 is below the float64 edge 0.7 but equal to the float32 edge:
    // np.histogram(np.float32([0, .7, 1]), 10) puts it in bin 7; on float64 data it is in bin 6.
    const third = expect.closeTo(1 / 3, 12);
    expect([...histogramPmf(Float32Array.from([0, 0.7, 1]), 10)]).toEqual([third, 0, 0, 0, 0, 0, 0, third, 0, third]);
    expect([...histogramPmf([0, Math.fround(0.7), 1], 10)]).toEqual([third, 0, 0, 0, 0, 0, third, 0, 0, third]);
  });
  it('reads a given range as np.histogram does: an inverted or non-finite one is an error, equal ends widen by ±0.5', () => {
    for (const range of [[3, 1], [Number.NaN, 3], [0, Number.POSITIVE_INFINITY]] as Array<[number, number]>) {
      expect(trellisErrorOf(() => histogramPmf([1, 2, 3], 4, range)).code).toBe('BAD_RANGE'); // used to give [0, 0, 0, 0]
    }
    // np.histogram([2, 2, 2], 4, range=(2, 2)) → counts [0, 0, 3, 0] (edges 1.5, 1.75, 2, 2.25, 2.5)
    expect([...histogramPmf([2, 2, 2], 4, [2, 2])]).toEqual([0, 0, 1, 0]);
    expect([...histogramPmf([2, 2, 2], 4)]).toEqual([0, 0, 1, 0]);
  });
});

describe('distances (spec §3.4 golden values)', () => {
  const p = histogramPmf([0, 1, 2, 3, 4, 10], 4);
  const q = Float64Array.from([0.25, 0.25, 0.25, 0.25]);
  it('W value-sort, JS, BH, KL and the ∞→0 rule', () => {
    expect(wassersteinValueSort(p, q)).toBeCloseTo(0.1666667, 6);
    expect(jensenShannon(p, q)).toBeCloseTo(0.1150621, 6);
    expect(bhattacharyya(p, q)).toBeCloseTo(0.1536473, 6);
    expect(klDivergence(p, q)).toBeCloseTo(0.3748901, 6);
    expect(klDivergence(q, p)).toBeCloseTo(-0.143841, 6);
  });
  it('refuse pmfs of different lengths and a negative KL smoothing (instead of reading past the shorter one)', () => {
    const two = Float64Array.from([0.5, 0.5]);
    const three = Float64Array.from([1, 0, 0]);
    for (const name of DISTANCE_NAMES) expect(trellisErrorOf(() => distances[name](two, three)).code).toBe('LENGTH_MISMATCH'); // W was 0.5
    expect(() => distances.W(two, three)).toThrow('Wasserstein (value-sort) of two pmfs: 2 values against 3');
    expect(trellisErrorOf(() => wassersteinBinCdf(two, three)).code).toBe('LENGTH_MISMATCH');
    for (const eps of [-1, Number.NaN, Infinity]) expect(trellisErrorOf(() => klDivergence(p, q, eps)).code).toBe('BAD_OPTION');
    expect(klDivergence(p, q, 0)).toBe(klDivergence(p, q));
  });
  it('bin-cdf W is W1 as a fraction of the range', () => {
    expect(wassersteinBinCdf([1, 0, 0, 0], [0, 0, 0, 1])).toBeCloseTo(3 / 4, 12);
    expect(wassersteinBinCdf([0.5, 0.5], [0.5, 0.5])).toBe(0);
  });
  it('per-sample distances are 0 for identical representations and symmetric for W/JS/BH', () => {
    const a = Float32Array.from({ length: 40 }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: 40 }, (_, i) => Math.cos(i * 1.3));
    const same = representationDistances(a, a, 4, 10, [4, 8]);
    for (const bins of [4, 8]) for (const m of ['W', 'JS', 'BH', 'KL'] as const) expect(same[bins]![m]).toBe(0);
    const ab = representationDistances(a, b, 4, 10, [8]);
    const ba = representationDistances(b, a, 4, 10, [8]);
    for (const m of ['W', 'JS', 'BH'] as const) expect(ab[8]![m]).toBeCloseTo(ba[8]![m], 12);
  });
  it('the buffered per-row loop gives bit for bit the mean of the per-row definition (histograms of each row, then the distances)', () => {
    // ReLU-like rows (many exact zeros, one constant row) of a width that is not a multiple of any bin count
    const n = 7;
    const width = 37;
    const rng = new Rng(5);
    const row = (i: number, j: number, shift: number) => (i === 3 ? 0.25 : Math.max(0, rng.normal() + shift));
    const a = Float32Array.from({ length: n * width }, (_, k) => row(Math.floor(k / width), k % width, 0));
    const b = Float32Array.from({ length: n * width }, (_, k) => row(Math.floor(k / width), k % width, 0.3));
    const fns = { W: wassersteinValueSort, JS: jensenShannon, BH: bhattacharyya, KL: (p: ArrayLike<number>, q: ArrayLike<number>) => klDivergence(p, q) };
    const got = representationDistances(a, b, n, width, [64, 16, 32]);
    const gotCdf = representationDistances(a, b, n, width, [32], { wasserstein: 'bin-cdf' });
    for (const bins of [64, 16, 32]) {
      for (const m of ['W', 'JS', 'BH', 'KL'] as const) {
        let sum = 0;
        for (let i = 0; i < n; i++) sum += fns[m](histogramPmf(a.subarray(i * width, (i + 1) * width), bins), histogramPmf(b.subarray(i * width, (i + 1) * width), bins));
        expect(got[bins]![m]).toBe(sum / n);
      }
    }
    let cdf = 0;
    for (let i = 0; i < n; i++) {
      const ra = a.subarray(i * width, (i + 1) * width);
      const rb = b.subarray(i * width, (i + 1) * width);
      const [la, ha] = histogramRange(ra);
      const [lb, hb] = histogramRange(rb);
      const range: [number, number] = [Math.min(la, lb), Math.max(ha, hb)];
      cdf += wassersteinBinCdf(histogramPmf(ra, 32, range), histogramPmf(rb, 32, range));
    }
    expect(gotCdf[32]!.W).toBe(cdf / n);
  });
  it('histogramPmfInto fills the first `bins` entries of a longer buffer and keeps nothing from the previous call', () => {
    const out = new Float64Array(8).fill(9);
    expect([...histogramPmfInto([5, 5, 5, 5], 0, 4, out, undefined, 4)]).toEqual([0, 0, 1, 0]);
    expect([...histogramPmfInto([0, 1, 2, 3, 4, 10], 0, 6, out, undefined, 4)]).toEqual([...histogramPmf([0, 1, 2, 3, 4, 10], 4)]);
    expect(out[4]).toBe(9); // entries past `bins` are left alone
    expect([...histogramPmfInto([7, 0, 1, 2, 3, 7], 1, 4, new Float64Array(2))]).toEqual([0.5, 0.5]); // a slice, not the whole array
    for (const bins of [0, 9, 2.5]) expect(trellisErrorOf(() => histogramPmfInto([0, 1], 0, 2, out, undefined, bins)).code).toBe('BAD_BINS');
    // value-sort W on pmfs longer than its earlier calls' (its sort buffers grow) and shorter again
    const long = Float64Array.from({ length: 100 }, (_, i) => (i % 10) / 450);
    expect(wassersteinValueSort(long, long)).toBe(0);
    expect(wassersteinValueSort(p, q)).toBeCloseTo(0.1666667, 6);
  });
});

describe('ARM construction (spec §6.2 golden)', () => {
  it('per-unit average with value-sort W', () => {
    // units × samples → stored as samples × units
    const oldU = [[0, 1, 2, 3, 4, 5], [1, 1, 1, 2, 2, 2]];
    const newU = [[0, 0, 0, 0, 5, 5], [1, 2, 3, 4, 5, 6]];
    const toRows = (u: number[][]): Float32Array => Float32Array.from({ length: 12 }, (_, k) => u[k % 2]![Math.floor(k / 2)]!);
    expect(armLayerDistance(toRows(oldU), 6, toRows(newU), 6, 2, { bins: 4 })).toBeCloseTo(0.0416667, 6);
    expect(armLayerDistance(toRows(oldU), 6, toRows(oldU), 6, 2, { bins: 4 })).toBe(0);
  });
  it('reads every unit of a wide layer (columns are copied 16 at a time; 37 units leave a partial last block), bit for bit the per-unit definition', () => {
    const rng = new Rng(5);
    const width = 37;
    const nOld = 23;
    const nNew = 19;
    const a = Float32Array.from(rng.normalArray(nOld * width), (x) => Math.max(0, x));
    const b = Float32Array.from(rng.normalArray(nNew * width), (x) => Math.max(0, x + 0.3));
    const unitAverage = (m: Float32Array, n: number): Float64Array => {
      const p = new Float64Array(8);
      for (let u = 0; u < width; u++) {
        const h = histogramPmf(Float32Array.from({ length: n }, (_, i) => m[i * width + u]!), 8);
        for (let i = 0; i < 8; i++) p[i] = p[i]! + h[i]! / width;
      }
      return p;
    };
    const expected = wassersteinValueSort(unitAverage(a, nOld), unitAverage(b, nNew));
    expect(expected).toBeGreaterThan(0);
    expect(armLayerDistance(a, nOld, b, nNew, width, { bins: 8 })).toBe(expected);
    // the last unit alone decides this one: only its column differs between the two layers
    const c = Float32Array.from(a);
    for (let i = 0; i < nOld; i++) c[i * width + width - 1] = i;
    expect(armLayerDistance(a, nOld, c, nOld, width, { bins: 8 })).toBeGreaterThan(0);
  });
  it('rejects bad bins, unknown construction / W names and activations of the wrong size (instead of NaN or a silent default)', () => {
    const a = Float32Array.from([0, 0, 0, 1, 5, 5, 5, 6]);
    const b = Float32Array.from([1, 1, 1, 2, 6, 6, 6, 7]);
    expect(trellisErrorOf(() => armLayerDistance(a, 4, b, 4, 2, { bins: 0 })).code).toBe('BAD_BINS');
    expect(() => armLayerDistance(a, 4, b, 4, 2, { bins: 0 })).toThrow('ARM bin count 0 is not a whole number ≥ 1');
    expect(trellisErrorOf(() => armLayerDistance(a, 4, b, 4, 2, { construction: 'pool' as 'pooled' })).code).toBe('BAD_OPTION');
    expect(() => armLayerDistance(a, 4, b, 4, 2, { construction: 'pool' as 'pooled' })).toThrow('unknown ARM construction "pool"');
    expect(() => armLayerDistance(a, 4, b, 4, 2, { wasserstein: 'bincdf' as 'bin-cdf' })).toThrow('unknown wasserstein mode "bincdf"');
    expect(trellisErrorOf(() => armLayerDistance(a, 10, b, 4, 2)).code).toBe('BAD_SHAPE');
    expect(() => armLayerDistance(a, 10, b, 4, 2)).toThrow('ARM got 8 old and 8 new values for 10 and 4 rows of width 2');
    expect(trellisErrorOf(() => representationDistances(a, b, 2, 4, [0])).code).toBe('BAD_BINS');
    expect(() => representationDistances(a, b, 2, 4, [-1])).toThrow('PreIndex bin count -1 is not a whole number ≥ 1');
    expect(trellisErrorOf(() => representationDistances(a, b.subarray(0, 2), 2, 4, [4])).code).toBe('BAD_SHAPE');
    expect(() => representationDistances(a, b, 0, 4, [4])).toThrow('do not hold 0 rows of width 4');
  });
});

describe('ARI and k-means (spec §4.2)', () => {
  it('ARI golden values', () => {
    expect(adjustedRandIndex([0, 0, 1, 1], [0, 0, 1, 2])).toBeCloseTo(0.5714286, 6);
    expect(adjustedRandIndex([0, 0, 0, 0], [0, 1, 2, 3])).toBe(0);
    expect(adjustedRandIndex([0, 0, 1, 1], [0, 1, 0, 1])).toBeCloseTo(-0.5, 12);
    expect(adjustedRandIndex([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])).toBeCloseTo(0.2424242, 6);
    expect(adjustedRandIndex([0, 0, 1, 1], [1, 1, 0, 0])).toBe(1);
  });
  it('k-means separates two blobs from given centres and from k-means++', () => {
    const x = Float32Array.from([0, 0, 0.1, 0, 0, 0.1, 5, 5, 5.1, 5, 5, 5.1]);
    const r = kmeans(x, 6, 2, Float32Array.from([0, 0.2, 4, 4]));
    expect([...r.labels]).toEqual([0, 0, 0, 1, 1, 1]);
    expect(r.centers[2]).toBeCloseTo(5.0333333, 5);
    const kpp = kmeans(x, 6, 2, { kmeansPlusPlus: 2 }, { seed: 3 });
    expect(adjustedRandIndex(kpp.labels, [0, 0, 0, 1, 1, 1])).toBe(1);
  });
  it('re-seats an empty cluster at the farthest point', () => {
    const x = Float32Array.from([0, 1, 2, 10]);
    const r = kmeans(x, 4, 1, Float32Array.from([1, 100]));
    expect([...r.labels]).toEqual([0, 0, 0, 1]);
    expect([...kmeans(x, 4, 1, Float32Array.from([1, 100]), { matmulFrom: 0 }).labels]).toEqual([0, 0, 0, 1]);
  });
  it('rejects NaN/Inf points or starting centres and a missing init (instead of arbitrary labels)', () => {
    const x = Float32Array.from([0, 0, 0, 1, 5, 5, 5, 6]);
    expect(trellisErrorOf(() => kmeans(Float32Array.from([0, 0, Number.NaN, 1, 5, 5, 5, 6]), 4, 2, { kmeansPlusPlus: 2 })).code).toBe('NON_FINITE_VALUES');
    expect(() => kmeans(Float32Array.from([0, 0, 0, 1, 5, Infinity, 5, 6]), 4, 2, { kmeansPlusPlus: 2 })).toThrow('the points of k-means contain Infinity at position 5');
    expect(trellisErrorOf(() => kmeans(x, 4, 2, Float32Array.from([Number.NaN, 0, 5, 5]))).code).toBe('NON_FINITE_VALUES');
    expect(() => kmeans(x, 4, 2, Float32Array.from([0, 0, Number.NaN, Number.NaN]))).toThrow('the starting centres of k-means contain NaN at position 2');
    expect(trellisErrorOf(() => kmeans(x, 4, 2, undefined as unknown as { kmeansPlusPlus: number })).code).toBe('BAD_CLUSTERS');
    expect(() => kmeans(x, 4, 2, [0, 0, 5, 5] as unknown as Float32Array)).toThrow('k-means got starting centres 0,0,5,5');
  });
  it('rejects a maxIter that is not an integer ≥ 0', () => {
    const x = Float32Array.from([0, 1, 2, 10]);
    for (const maxIter of [-1, 1.5, Number.NaN]) expect(() => kmeans(x, 4, 1, Float32Array.from([1, 100]), { maxIter })).toThrow(/maxIter .* is not an integer ≥ 0/);
  });
  it('moves the re-seated point out of its donor cluster, as scikit-learn does', () => {
    // one Lloyd step from centres [1, 100]: every point goes to centre 0, centre 1 is empty and is
    // re-seated at the farthest point, 10; scikit-learn removes 10 from cluster 0's sum and count, so
    // centre 0 = (0 + 1 + 2) / 3 = 1, not (0 + 1 + 2 + 10) / 4 = 3.25
    const x = Float32Array.from([0, 1, 2, 10]);
    for (const matmulFrom of [Infinity, 0]) {
      const r = kmeans(x, 4, 1, Float32Array.from([1, 100]), { maxIter: 1, matmulFrom });
      expect([...r.centers]).toEqual([1, 10]);
      expect(r.reseated).toBe(1);
      expect(r.iters).toBe(1);
    }
    // two empty clusters take the two farthest points, the second from the same donor: centre 0 = (0 + 1) / 2
    const two = kmeans(Float32Array.from([0, 1, 8, 10]), 4, 1, Float32Array.from([1, 100, 200]), { maxIter: 1 });
    expect([...two.centers]).toEqual([0.5, 10, 8]);
    expect(two.reseated).toBe(2);
    // a donor left empty by the re-seat gets scikit-learn's zero sum in its centred frame: the data mean
    // (x = 9 is alone in cluster 1 and the farthest from its centre 5, so cluster 1 ends with no point)
    const lone = kmeans(Float32Array.from([0, 1, 9]), 3, 1, Float32Array.from([0.5, 5, 100]), { maxIter: 1 });
    expect(lone.centers[0]).toBe(0.5);
    expect(lone.centers[1]).toBeCloseTo(10 / 3, 6);
    expect(lone.centers[2]).toBe(9);
  });
  it('gives the same clustering with the backend matmul as with exact distances (overlapping blobs, many near-ties)', async () => {
    await tf.setBackend('cpu');
    const rng = new Rng(5);
    const n = 600, d = 40, k = 6;
    const x = new Float32Array(n * d);
    for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) x[i * d + t] = rng.normal(t % k === i % k ? 0.6 : 0, 1) + 50; // offset: large ‖x‖, small gaps
    const init = x.slice(0, k * d);
    for (const start of [init, { kmeansPlusPlus: k }] as const) {
      const exact = kmeans(x, n, d, start, { seed: 2, matmulFrom: Infinity });
      const viaMatmul = kmeans(x, n, d, start, { seed: 2, matmulFrom: 0 });
      expect(viaMatmul.iters).toBe(exact.iters);
      expect([...viaMatmul.labels]).toEqual([...exact.labels]);
      expect([...viaMatmul.centers]).toEqual([...exact.centers]);
    }
    expect(tf.memory().numTensors).toBe(0);
  });
  it('skips rows by distance bounds and updates centres by the rows that moved: same clustering as textbook Lloyd', async () => {
    await tf.setBackend('cpu');
    // two data sets: separated blobs (the bounds skip most rows once the centres settle) and overlapping
    // blobs far from the origin (large ‖x‖, small gaps: many near-ties for the bounds and the matmul)
    const rng = new Rng(11);
    const sets: Array<[number, number, number, Float32Array]> = [];
    for (const [n, d, k, mean, offset] of [[400, 6, 5, 1.2, 0], [600, 40, 6, 0.6, 50]] as const) {
      const x = new Float32Array(n * d);
      for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) x[i * d + t] = rng.normal(t % k === i % k ? mean : 0, 1) + offset;
      sets.push([n, d, k, x]);
    }
    for (const [n, d, k, x] of sets) {
      const init = x.slice(0, k * d);
      const lloyd = textbookLloyd(x, n, d, k, init);
      // the incremental path ran: after the first pass fewer than half the rows moved, more than none
      expect(lloyd.moved[0]!).toBeGreaterThan(0);
      expect(lloyd.moved[0]!).toBeLessThan(n / 2);
      for (const matmulFrom of [Infinity, 0]) {
        const r = kmeans(x, n, d, init, { tol: 0, matmulFrom });
        expect([...r.labels]).toEqual([...lloyd.labels]);
        expect(r.iters).toBe(lloyd.moved.length);
        for (let t = 0; t < k * d; t++) expect(r.centers[t]).toBeCloseTo(lloyd.centers[t]!, 4);
        if (d === 6) expect(r.boundSkips).toBeGreaterThan(n); // more than one pass' worth of rows decided without a distance
      }
    }
    expect(tf.memory().numTensors).toBe(0);
  });
});

/** Lloyd's algorithm as written in textbooks: every distance exact in float64, centres rebuilt from every row. */
function textbookLloyd(x: Float32Array, n: number, d: number, k: number, init: Float32Array): { labels: Int32Array; centers: Float64Array; moved: number[] } {
  let centers = Float64Array.from(init);
  const labels = new Int32Array(n);
  const moved: number[] = [];
  for (let it = 0; it < 300; it++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      let best = 0, bd = Infinity;
      for (let j = 0; j < k; j++) {
        let s = 0;
        for (let t = 0; t < d; t++) s += (x[i * d + t]! - centers[j * d + t]!) ** 2;
        if (s < bd) { bd = s; best = j; }
      }
      if (it > 0 && labels[i] !== best) changed++;
      labels[i] = best;
    }
    if (it > 0) moved.push(changed);
    if (it > 0 && changed === 0) break;
    const next = new Float64Array(k * d);
    const counts = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      counts[labels[i]!]!++;
      for (let t = 0; t < d; t++) next[labels[i]! * d + t]! += x[i * d + t]!;
    }
    for (let j = 0; j < k; j++) for (let t = 0; t < d; t++) next[j * d + t]! /= counts[j]!;
    centers = next;
  }
  return { labels, centers, moved };
}

describe('RESQUE (spec §5 golden)', () => {
  it('θ = 1/3 for c = (1,0,1), c\' = (1,1,0); 0 for identical sums', () => {
    expect(angleFraction([1, 0, 1], [1, 1, 0])).toBeCloseTo(1 / 3, 12);
    const r = resqueFromSums(Float64Array.from([1, 0, 1, 2, 2, 2]), Float64Array.from([1, 1, 0, 2, 2, 2]), 2, 3);
    expect(r.perClass[1]).toBe(0);
    expect(r.value).toBeCloseTo(1 / 6, 12);
  });
  it('with class counts skips only classes without rows; NaN sums, a zero sum of a class with rows and no shared class are errors', () => {
    const old = Float64Array.from([1, 0, 1, 2, 2, 2, 0, 0, 0]);
    const cur = Float64Array.from([1, 1, 0, 2, 2, 2, 0, 0, 0]);
    const r = resqueFromSums(old, cur, 3, 3, { old: [2, 1, 0], new: [3, 1, 4] });
    expect(r.value).toBeCloseTo(1 / 6, 12); // class 2 has no old row: skipped
    expect(r.perClass[2]).toBeNaN();
    // class 2 has rows on both sides but sums to the zero vector: its angle is undefined, not "absent"
    expect(trellisErrorOf(() => resqueFromSums(old, cur, 3, 3, { old: [2, 1, 5], new: [3, 1, 4] })).code).toBe('ZERO_CLASS_SUM');
    // NaN activations used to give a NaN angle that was skipped, so RESQUE read 0 ("no shift")
    const nan = Float64Array.from([Number.NaN, 0, 1, 2, 2, 2, 0, 0, 0]);
    expect(() => resqueFromSums(nan, cur, 3, 3)).toThrow("RESQUE's old class sums (row = class) contain NaN at row 0, column 0");
    expect(trellisErrorOf(() => angleFraction([Number.NaN, 1], [1, 1])).code).toBe('NON_FINITE_VALUES');
    expect(trellisErrorOf(() => resqueFromSums(old, cur, 3, 3, { old: [1, 0, 0], new: [0, 1, 1] })).code).toBe('EMPTY_INPUT');
  });
  it('classSums rejects labels outside [0, k) and a label count that does not match the rows (instead of dropping them)', () => {
    const v = Float32Array.from([0, 0, 0, 1, 5, 5, 5, 6]);
    for (const bad of [5, -1, 2]) {
      expect(trellisErrorOf(() => classSums(v, Int32Array.from([0, 0, 1, bad]), 2, 2)).code).toBe('LABEL_OUT_OF_RANGE');
    }
    expect(() => classSums(v, Int32Array.from([0, 0, 1, 5]), 2, 2)).toThrow('label 5 of row 3 is outside [0, 2)');
    expect(trellisErrorOf(() => classSums(v, Int32Array.from([0, 0, 1, 1, 1, 1]), 2, 2)).code).toBe('BAD_SHAPE');
    expect(() => classSums(v, Int32Array.from([0, 0, 1]), 2, 2)).toThrow('8 representation values do not form 3 rows of width 2');
  });
});
