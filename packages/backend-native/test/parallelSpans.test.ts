import { afterAll, describe, expect, it } from 'vitest';
import { loadAddon } from '../src/index.js';
import { values } from './seededValues.js';

/**
 * The addon's loops run on the calling thread below their size thresholds and split into one
 * contiguous span per thread above them (native/parallel.h). These pin that every element is written
 * on both sides of each threshold, with one and with two threads, and that the split never changes a
 * value: outputs start as NaN and must come out bit-identical across thread counts and equal to a
 * reference computed here.
 */
const { addon } = loadAddon();

const nanArray = (n: number): Float32Array => new Float32Array(n).fill(Number.NaN);

/** Index of the first element where a and b differ bitwise (NaN equal to NaN), or -1. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

// Sizes around the thresholds: binary 600,000, unary / Adam / per-row sums 200,000 (odd, so the
// halves are unequal).
const SIZES = [1, 7, 199_999, 200_001, 600_001];

describe.skipIf(addon == null)('parallel spans (native/parallel.h)', () => {
  const a = addon!;
  afterAll(() => a.setThreads(1));

  it('Add and Mul write every element, exactly, with one thread and with two', () => {
    for (const n of SIZES) {
      const x = values(n, 1);
      const y = values(n, 2);
      const rowY = values(7, 3);
      const byThreads = [1, 2].map((threads) => {
        a.setThreads(threads);
        const add = nanArray(n);
        const mul = nanArray(n);
        a.binary(0, x, y, add, n, 0, 0, 1, 1);
        a.binary(2, x, y, mul, n, 0, 0, 1, 1);
        const rows = Math.floor(n / 7) * 7;
        const bcast = nanArray(rows);
        if (rows > 0) a.binary(0, x.subarray(0, rows), rowY, bcast, rows, 0, 2, 1, 7);
        return { add, mul, bcast, rows };
      });
      const [one, two] = byThreads;
      for (let i = 0; i < n; i++) {
        if (one!.add[i] !== Math.fround(x[i]! + y[i]!) || one!.mul[i] !== Math.fround(x[i]! * y[i]!)) {
          throw new Error(`n=${n}: element ${i} is ${one!.add[i]} / ${one!.mul[i]}`);
        }
      }
      for (let i = 0; i < one!.rows; i++) {
        if (one!.bcast[i] !== Math.fround(x[i]! + rowY[i % 7]!)) throw new Error(`n=${n}: broadcast element ${i} is ${one!.bcast[i]}`);
      }
      expect(firstDifference(one!.add, two!.add), `Add, n=${n}`).toBe(-1);
      expect(firstDifference(one!.mul, two!.mul), `Mul, n=${n}`).toBe(-1);
      expect(firstDifference(one!.bcast, two!.bcast), `row broadcast, n=${n}`).toBe(-1);
    }
  });

  it('unary ops and per-row sums write every element, the same with one thread and with two', () => {
    for (const n of SIZES) {
      const x = values(n, 4);
      const [relu1, relu2] = [1, 2].map((threads) => {
        a.setThreads(threads);
        const out = nanArray(n);
        a.unary(6, x, out, 0);
        return out;
      });
      for (let i = 0; i < n; i++) if (relu1![i] !== Math.max(0, x[i]!)) throw new Error(`n=${n}: relu element ${i} is ${relu1![i]}`);
      expect(firstDifference(relu1!, relu2!), `relu, n=${n}`).toBe(-1);
      // per-row sums of [rows, 3]: one value per row
      const rows = Math.floor(n / 3);
      if (rows === 0) continue;
      const [sum1, sum2] = [1, 2].map((threads) => {
        a.setThreads(threads);
        const out = nanArray(rows);
        a.reduceSum(x.subarray(0, rows * 3), out, rows, 3, false, 1);
        return out;
      });
      for (let r = 0; r < rows; r++) {
        const want = Math.fround(Math.fround(Math.fround(x[3 * r]!) + x[3 * r + 1]!) + x[3 * r + 2]!);
        if (sum1![r] !== want) throw new Error(`n=${n}: row ${r} sums to ${sum1![r]}, want ${want}`);
      }
      expect(firstDifference(sum1!, sum2!), `row sums, n=${n}`).toBe(-1);
    }
  });

  it('a column sum (a full Sum or Mean) keeps the per-channel grouping: per-thread spans of 256-row float partials folded into doubles', () => {
    // The reference reproduces native/channel_sums.h for one channel: spans above 32,768 rows, each
    // summing float partials over blocks of 256 rows into a double, the spans added in order.
    const columnSum = (x: Float32Array, threads: number, scale: number): number => {
      const rows = x.length;
      const spans = rows > 32768 ? threads : 1;
      let total = 0;
      for (let t = 0; t < spans; t++) {
        const r0 = Math.floor((rows * t) / spans);
        const r1 = Math.floor((rows * (t + 1)) / spans);
        let s = 0;
        let acc = 0;
        let inBlock = 0;
        for (let r = r0; r < r1; r++) {
          acc = Math.fround(acc + x[r]!);
          if (++inBlock === 256 || r + 1 === r1) {
            s += acc;
            acc = 0;
            inBlock = 0;
          }
        }
        total += s;
      }
      return Math.fround(total * Math.fround(scale));
    };
    for (const n of [1, 255, 257, 32_768, 32_769, 100_352, 200_001]) {
      const x = values(n, 9);
      for (const threads of [1, 2]) {
        a.setThreads(threads);
        for (const scale of [1, 1 / n]) {
          const out = nanArray(1);
          a.reduceSum(x, out, n, 1, true, scale);
          expect(out[0], `n=${n}, ${threads} thread(s), scale ${scale}`).toBe(columnSum(x, threads, scale));
        }
      }
    }
  });

  it('the fused Adam update is the same in place and into new arrays, with one thread and with two, and follows the formula', () => {
    // b1 0.9, b2 0.999, step 3, eps 1e-7, lr 0.01 (tfjs's constants, float32)
    const c = Float32Array.from([0.9, 1 - 0.9, 0.999, 1 - 0.999, 1 - 0.9 ** 3, 1 - 0.999 ** 3, 1e-7, -0.01]);
    for (const n of SIZES) {
      const value = values(n, 5);
      const m = values(n, 6).map((v) => v * 0.01);
      const v = values(n, 7).map((u) => Math.abs(u) * 1e-4);
      const g = values(n, 8);
      const results = [1, 2].flatMap((threads) => {
        a.setThreads(threads);
        const outs = [nanArray(n), nanArray(n), nanArray(n)];
        a.adam(value, m, v, g, outs[0]!, outs[1]!, outs[2]!, c);
        const own = [value.slice(), m.slice(), v.slice()];
        a.adam(own[0]!, own[1]!, own[2]!, g, own[0]!, own[1]!, own[2]!, c);
        return [outs, own];
      });
      const first = results[0]!;
      for (const other of results.slice(1)) {
        for (let k = 0; k < 3; k++) expect(firstDifference(first[k]!, other[k]!), `Adam output ${k}, n=${n}`).toBe(-1);
      }
      // the formula in double precision: agrees to float32 rounding (the kernel fuses multiply-adds)
      for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 1000))) {
        const nm = m[i]! * c[0]! + g[i]! * c[1]!;
        const nv = v[i]! * c[2]! + g[i]! * g[i]! * c[3]!;
        const nval = value[i]! + (nm / c[4]!) / (Math.sqrt(nv / c[5]!) + c[6]!) * c[7]!;
        // (each bound: a few float32 ulps of the terms' magnitudes, since the sums may cancel)
        expect(Math.abs(first[1]![i]! - nm)).toBeLessThanOrEqual(1e-6 * (Math.abs(m[i]! * c[0]!) + Math.abs(g[i]! * c[1]!)));
        expect(Math.abs(first[2]![i]! - nv)).toBeLessThanOrEqual(1e-6 * nv);
        expect(Math.abs(first[0]![i]! - nval)).toBeLessThanOrEqual(1e-6 * (Math.abs(value[i]!) + Math.abs(nval - value[i]!)));
      }
    }
  });

  it('the fused SGD update (plain, momentum, Nesterov) rounds like tfjs: each product and sum on its own, in place or not, one thread or two', () => {
    const f = Math.fround;
    const momentum = f(0.9);
    const negLr = f(-0.01);
    for (const n of SIZES) {
      const value = values(n, 9);
      const acc = values(n, 10).map((u) => u * 0.1);
      const g = values(n, 11);
      for (const mode of [0, 1, 2] as const) {
        const c = Float32Array.from([momentum, negLr, mode]);
        const results = [1, 2].flatMap((threads) => {
          a.setThreads(threads);
          const outs = [nanArray(n), mode === 0 ? null : nanArray(n)] as const;
          a.sgd(value, mode === 0 ? null : acc, g, outs[0], outs[1], c);
          const own = [value.slice(), mode === 0 ? null : acc.slice()] as const;
          a.sgd(own[0], own[1], g, own[0], own[1], c);
          return [outs, own];
        });
        // tfjs: acc' = add(mul(m, acc), g); value' = add(mul(c, acc'), value), or
        // add(mul(c, add(g, mul(acc', m))), value) with Nesterov; plain: add(mul(c, g), value)
        for (let i = 0; i < n; i++) {
          const na = f(f(momentum * acc[i]!) + g[i]!);
          const step = mode === 0 ? g[i]! : mode === 1 ? na : f(g[i]! + f(na * momentum));
          const want = f(f(negLr * step) + value[i]!);
          for (const [outValue, outAcc] of results) {
            if (outValue[i] !== want || (outAcc != null && outAcc[i] !== na)) {
              throw new Error(`mode ${mode}, n=${n}: element ${i} is ${outValue[i]} / ${outAcc?.[i]}, want ${want} / ${na}`);
            }
          }
        }
      }
    }
  });

  it('the SGD entry point refuses a bad mode, a missing accumulator and outputs that overlap an input', () => {
    const x = values(8, 12);
    const g = values(8, 13);
    const acc = new Float32Array(8);
    expect(() => a.sgd(x, null, g, new Float32Array(8), null, Float32Array.from([0, -0.1, 3]))).toThrow(/mode/);
    expect(() => a.sgd(x, null, g, new Float32Array(8), null, Float32Array.from([0.9, -0.1, 1]))).toThrow(/acc/);
    expect(() => a.sgd(x, acc, g, new Float32Array(8), null, Float32Array.from([0, -0.1, 0]))).toThrow(/no acc/);
    expect(() => a.sgd(x, null, g, g, null, Float32Array.from([0, -0.1, 0]))).toThrow(/outValue/);
    const shared = new Float32Array(16);
    expect(() => a.sgd(shared.subarray(0, 8), null, g, shared.subarray(4, 12), null, Float32Array.from([0, -0.1, 0]))).toThrow(/outValue/);
    expect(() => a.sgd(x, acc, g, x, g, Float32Array.from([0.9, -0.1, 1]))).toThrow(/outAcc/);
    expect(() => a.sgd(x, acc, g, new Float32Array(7), acc, Float32Array.from([0.9, -0.1, 1]))).toThrow(/outValue has 7/);
  });
});
