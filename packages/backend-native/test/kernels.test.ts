import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  loadNativeKernels,
  nativeCallCounts,
  nativeMemoryStats,
  loadAddon,
  NATIVE_BACKEND_NAME,
  NativeBackend,
  tryLoadAddon,
  useNativeBackend,
  ADDON_FUNCTIONS,
} from '../src/index.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { LARGE_ARRAY_BYTES, largeFloat32Array, registerLargeArrayAdvisor } from '@trellis-ml/core';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { values } from './seededValues.js';

const status = loadNativeKernels();
const loaded = status.loaded;

type Spec = { shape: number[]; seed: number };

/**
 * Runs `f` on the cpu backend and on 'trellis-native' with the same inputs; returns the output
 * values and the gradients of sum(output · w) (w fixed random) with respect to every input.
 */
async function onBoth(
  specs: Spec[],
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  withGrads = true,
): Promise<{ cpu: Float32Array[]; native: Float32Array[] }> {
  const run = async (backend: string): Promise<Float32Array[]> => {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const xs = specs.map((s) => tf.tensor(values(s.shape.reduce((a, b) => a * b, 1), s.seed), s.shape));
      const y = f(...xs);
      const w = tf.tensor(values(y.size, 999), y.shape);
      const g = withGrads ? tf.grads((...ins: tf.Tensor[]) => tf.sum(tf.mul(f(...ins), w)))(xs) : [];
      return [y, ...g].map((t) => t.dataSync() as Float32Array);
    });
  };
  const cpu = await run('cpu');
  const native = await run(NATIVE_BACKEND_NAME);
  return { cpu, native };
}

function expectClose(a: Float32Array[], b: Float32Array[], tol = 1e-4): void {
  expect(b.length).toBe(a.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Float32Array;
    const y = b[i] as Float32Array;
    expect(y.length).toBe(x.length);
    let scale = 1e-6;
    for (const v of x) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    for (let j = 0; j < x.length; j++) worst = Math.max(worst, Math.abs((x[j] as number) - (y[j] as number)));
    expect(worst / scale, `tensor ${i}: max abs diff ${worst} (scale ${scale})`).toBeLessThan(tol);
  }
}

function nativeCalls(name: string): number {
  return nativeCallCounts()[name]?.native ?? 0;
}

describe('loading', () => {
  it('reports a clean reason when the addon is missing', () => {
    const r = tryLoadAddon('/nonexistent/trellis_native.node');
    expect(r.addon).toBeNull();
    expect(r.reason).toMatch(/not built/);
    expect(r.reason).toContain('npm run build:native -w @trellis-ml/backend-native');
    expect(r.reason).toContain('libopenblas-dev libdnnl-dev');
  });

  it('refuses an addon built from an older version and says to rebuild it', () => {
    // a stand-in module with every function but transpose, as an addon built before it was added
    const dir = mkdtempSync(path.join(tmpdir(), 'trellis-old-addon-'));
    const file = path.join(dir, 'old_addon.cjs');
    const names = ADDON_FUNCTIONS.filter((n) => n !== 'transpose');
    writeFileSync(file, names.map((n) => `exports.${n} = () => undefined;`).join('\n'));
    try {
      const r = tryLoadAddon(file);
      expect(r.addon).toBeNull();
      expect(r.reason).toMatch(/older version/);
      expect(r.reason).toContain('lacks transpose');
      expect(r.reason).toContain('npm run build:native -w @trellis-ml/backend-native');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('either loads with its kernels or says why', () => {
    if (status.loaded) {
      expect(status.kernels).toEqual(expect.arrayContaining(['BatchMatMul', '_FusedMatMul', 'Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']));
    } else {
      expect(status.reason).toBeTruthy();
      expect(status.kernels).toEqual([]);
    }
  });

  it.skipIf(!loaded)('useNativeBackend makes trellis-native current and rejects bad threads', async () => {
    const info = await useNativeBackend({ threads: 2 });
    expect(info.loaded).toBe(true);
    expect(info.threads).toBe(2);
    expect(tf.getBackend()).toBe(NATIVE_BACKEND_NAME);
    await expect(useNativeBackend({ threads: 0 })).rejects.toThrow(/threads/);
    await tf.setBackend('cpu');
  });

  it.skipIf(!loaded)("does not print the cpu backend's \"install our node backend\" advice: it is native already", async () => {
    const fresh = new NativeBackend(loadAddon().addon!);
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => { warnings.push(args.join(' ')); };
    try {
      fresh.write(new Float32Array([1, 2]), [2], 'float32');
    } finally {
      console.warn = warn;
      fresh.dispose();
    }
    expect(warnings.filter((w) => w.includes('tfjs-node'))).toEqual([]);
  });
});

describe.skipIf(!loaded)('large host arrays', () => {
  it('the addon advises huge pages for the whole 2 MB pages inside an array, leaves values alone, and is core\'s large-array advisor once loaded', () => {
    const addon = loadAddon().addon!;
    const thp = (() => {
      try { return readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'); } catch { return ''; }
    })();
    const x = new Float32Array(3 << 20); // 12 MB: at least five whole 2 MB pages inside, wherever it starts
    x[0] = 1.5;
    x[x.length - 1] = -2.5;
    const advised = addon.adviseHugePages(x);
    if (/\[(always|madvise)\]/.test(thp)) {
      expect(advised % (2 << 20)).toBe(0);
      expect(advised).toBeGreaterThanOrEqual(5 * (2 << 20));
      expect(advised).toBeLessThanOrEqual(x.byteLength);
    } else expect(advised).toBeGreaterThanOrEqual(0);
    expect([x[0], x[1], x[x.length - 1]]).toEqual([1.5, 0, -2.5]);
    expect(addon.adviseHugePages(new Float32Array(1000))).toBe(0); // no whole 2 MB page inside
    expect(() => addon.adviseHugePages(new Int32Array(4) as unknown as Float32Array)).toThrow(/Float32Array/);
    // loadNativeKernels registered it with core's largeFloat32Array, which the backend's buffer pool uses
    const native = registerLargeArrayAdvisor(null);
    expect(native).not.toBeNull();
    let advisedByCore = -1;
    registerLargeArrayAdvisor((a) => (advisedByCore = native!(a)));
    try {
      const big = largeFloat32Array(LARGE_ARRAY_BYTES / 4);
      expect(big[0] === 0 && big[big.length - 1] === 0).toBe(true);
      if (/\[(always|madvise)\]/.test(thp)) expect(advisedByCore).toBeGreaterThan(0);
      else expect(advisedByCore).toBeGreaterThanOrEqual(0);
    } finally {
      registerLargeArrayAdvisor(native);
    }
  });
});

describe.skipIf(!loaded)('native kernels match the cpu backend', () => {
  beforeAll(async () => {
    await useNativeBackend({ threads: 2 });
    await tf.setBackend('cpu');
  });

  it('MatMul: all transpose cases, odd shapes, values and gradients', async () => {
    const before = nativeCalls('BatchMatMul');
    for (const [m, k, n] of [[7, 13, 5], [1, 1, 1], [33, 65, 129], [130, 257, 67]] as const) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const r = await onBoth(
            [{ shape: ta ? [k, m] : [m, k], seed: 1 }, { shape: tb ? [n, k] : [k, n], seed: 2 }],
            (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, ta, tb),
          );
          expectClose(r.cpu, r.native);
        }
      }
    }
    expect(nativeCalls('BatchMatMul')).toBeGreaterThan(before + 16 * 2);
  });

  it('MatMul large enough for the auto GEMM choice (oneDNN), under every GEMM setting, all transpose cases', async () => {
    for (const gemm of ['auto', 'openblas', 'onednn', 'openblas-threads'] as const) {
      await useNativeBackend({ gemm, threads: 2 });
      for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const a = tA ? [300, 128] : [128, 300];
        const b = tB ? [200, 300] : [300, 200];
        const r = await onBoth([{ shape: a, seed: 70 }, { shape: b, seed: 71 }], (x, y) => tf.matMul(x as tf.Tensor, y as tf.Tensor, tA, tB), false);
        expectClose(r.cpu, r.native, 1e-3);
      }
    }
    await useNativeBackend({ gemm: 'auto' });
  });

  it('a tall product with at most 16 outputs over K ≥ 2,048 (k-means\' point–centre products) runs on oneDNN also on one thread; its neighbours stay on OpenBLAS', async () => {
    // The same call under each fixed GEMM setting, bit for bit: which library 'auto' picked.
    const product = async (gemm: 'auto' | 'openblas' | 'onednn', m: number, n: number, k: number, tB: boolean): Promise<Float32Array> => {
      await useNativeBackend({ gemm, threads: 1 });
      return tf.tidy(() => {
        const a = tf.tensor(values(m * k, 80), [m, k]);
        const b = tf.tensor(values(n * k, 81), tB ? [n, k] : [k, n]);
        return tf.matMul(a, b, false, tB).dataSync() as Float32Array;
      });
    };
    const same = (x: Float32Array, y: Float32Array): boolean => x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
    try {
      for (const [m, n, k, skinny] of [[96, 10, 2048, true], [64, 16, 3000, true], [96, 17, 2048, false], [96, 10, 2047, false], [63, 10, 2048, false]] as const) {
        for (const tB of [false, true]) {
          const auto = await product('auto', m, n, k, tB);
          const onednn = await product('onednn', m, n, k, tB);
          const openblas = await product('openblas', m, n, k, tB);
          expect(same(onednn, openblas), `${m}×${n}×${k}: the two libraries round differently here, or the case tells nothing`).toBe(false);
          expect(same(auto, skinny ? onednn : openblas), `${m}×${n}×${k} tB ${tB}`).toBe(true);
          await tf.setBackend('cpu');
          const cpu = tf.tidy(() => tf.matMul(tf.tensor(values(m * k, 80), [m, k]), tf.tensor(values(n * k, 81), tB ? [n, k] : [k, n]), false, tB).dataSync() as Float32Array);
          expectClose([cpu], [auto], 1e-4);
        }
      }
    } finally {
      await useNativeBackend({ gemm: 'auto', threads: 2 });
      await tf.setBackend('cpu');
    }
  });

  it('BatchMatMul: batched, broadcast batch (forward only: tfjs does not reduce broadcast gradients), transposes', async () => {
    for (const [sa, sb, ta, tb, grads] of [
      [[3, 5, 7], [3, 7, 4], false, false, true],
      [[3, 7, 5], [3, 4, 7], true, true, true],
      [[2, 5, 7], [2, 6, 7], false, true, true],
      [[2, 3, 5, 7], [7, 6], false, false, false],
      [[5, 7], [4, 7, 6], false, false, false],
      [[4, 7, 5], [1, 7, 6], true, false, false],
    ] as Array<[number[], number[], boolean, boolean, boolean]>) {
      const r = await onBoth([{ shape: sa, seed: 3 }, { shape: sb, seed: 4 }], (a, b) => tf.matMul(a as tf.Tensor, b as tf.Tensor, ta, tb), grads);
      expectClose(r.cpu, r.native);
    }
  });

  it('_FusedMatMul: bias and every activation, values and gradients', async () => {
    const before = nativeCalls('_FusedMatMul');
    for (const activation of ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu'] as const) {
      for (const [ta, tb] of [[false, false], [true, true], [false, true]] as const) {
        const r = await onBoth(
          [{ shape: ta ? [19, 9] : [9, 19], seed: 5 }, { shape: tb ? [11, 19] : [19, 11], seed: 6 }, { shape: [11], seed: 7 }],
          (a, b, bias) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, transposeA: ta, transposeB: tb, bias, activation, leakyreluAlpha: 0.1 }),
        );
        expectClose(r.cpu, r.native);
      }
    }
    expect(nativeCalls('_FusedMatMul')).toBeGreaterThanOrEqual(before + 18);
  });

  it('Conv2D forward and both backward kernels: strides 1/2, same/valid, odd shapes', async () => {
    const before = ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'].map(nativeCalls);
    const cases: Array<[number[], number[], [number, number], 'same' | 'valid']> = [
      [[2, 9, 7, 3], [3, 3, 3, 5], [1, 1], 'same'],
      [[2, 9, 7, 3], [3, 3, 3, 5], [2, 2], 'same'],
      [[2, 9, 7, 3], [3, 3, 3, 5], [1, 1], 'valid'],
      [[2, 9, 7, 3], [3, 3, 3, 5], [2, 2], 'valid'],
      [[3, 8, 8, 1], [2, 3, 1, 4], [2, 1], 'same'],
      [[1, 11, 6, 4], [1, 1, 4, 6], [2, 2], 'valid'],
      [[2, 10, 10, 16], [3, 3, 16, 32], [2, 2], 'same'],
    ];
    for (const [xs, ws, strides, pad] of cases) {
      const r = await onBoth([{ shape: xs, seed: 8 }, { shape: ws, seed: 9 }], (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, strides, pad));
      expectClose(r.cpu, r.native);
    }
    const after = ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'].map(nativeCalls);
    after.forEach((a, i) => expect(a).toBeGreaterThanOrEqual((before[i] as number) + cases.length));
  });

  it('Conv2D with dilation, and FusedConv2D with bias and activations', async () => {
    // Dilation: forward only (tfjs has no conv2d gradient for dilation > 1).
    const dil = async (backend: string): Promise<Float32Array[]> => {
      await tf.setBackend(backend);
      return tf.tidy(() => [
        tf.conv2d(tf.tensor4d(values(2 * 9 * 9 * 2, 10), [2, 9, 9, 2]), tf.tensor4d(values(3 * 3 * 2 * 3, 11), [3, 3, 2, 3]), 1, 'same', 'NHWC', 2).dataSync() as Float32Array,
      ]);
    };
    expectClose(await dil('cpu'), await dil(NATIVE_BACKEND_NAME));
    for (const activation of ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu'] as const) {
      const f = await onBoth([{ shape: [2, 7, 6, 3], seed: 12 }, { shape: [3, 3, 3, 4], seed: 13 }, { shape: [4], seed: 14 }], (x, w, b) =>
        tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 2, pad: 'same', bias: b, activation, leakyreluAlpha: 0.1 }),
      );
      expectClose(f.cpu, f.native);
    }
    expect(nativeCalls('FusedConv2D')).toBeGreaterThanOrEqual(6);
  });

  it('MaxPool / AvgPool and their gradients: sizes 2/3, strides 1/2, same/valid', async () => {
    for (const [k, s, pad] of [[2, 2, 'valid'], [3, 2, 'same'], [3, 1, 'same'], [2, 1, 'valid'], [3, 2, 'valid']] as Array<[number, number, 'same' | 'valid']>) {
      const mp = await onBoth([{ shape: [2, 9, 7, 5], seed: 15 }], (x) => tf.maxPool(x as tf.Tensor4D, k, s, pad));
      expectClose(mp.cpu, mp.native);
      const ap = await onBoth([{ shape: [2, 9, 7, 5], seed: 16 }], (x) => tf.avgPool(x as tf.Tensor4D, k, s, pad));
      expectClose(ap.cpu, ap.native);
    }
    for (const n of ['MaxPool', 'MaxPoolGrad', 'AvgPool', 'AvgPoolGrad']) expect(nativeCalls(n)).toBeGreaterThanOrEqual(5);
  });

  it('MaxPool gradient with ties and all-negative windows picks the first maximum, like cpu', async () => {
    const x = [-3, -3, -1, -1, -2, -2, -5, -5, 0, 0, 0, 0, 4, 4, 4, 4];
    const run = async (backend: string): Promise<Float32Array> => {
      await tf.setBackend(backend);
      return tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid')))(tf.tensor4d(x, [1, 4, 4, 1])).dataSync() as Float32Array);
    };
    expectClose([await run('cpu')], [await run(NATIVE_BACKEND_NAME)], 1e-7);
  });

  it('MaxPool and its gradient equal cpu bit for bit with NaN, ±∞, ±0 and ties, at channel counts on both sides of a vector', async () => {
    const special = [Number.NaN, Infinity, -Infinity, 0, -0, 1.5, 1.5, -2];
    for (const c of [1, 5, 16, 19, 33]) {
      const shape: [number, number, number, number] = [2, 5, 6, c];
      const size = 2 * 5 * 6 * c;
      // a third of the values special, the rest small integers (many ties); u in [0, 1) seeded
      const u = Array.from(values(2 * size, 40 + c), (v) => (v + 1) / 2);
      const x = Float32Array.from({ length: size }, (_, i) => (u[2 * i]! < 0.33 ? special[Math.floor(u[2 * i + 1]! * special.length)]! : Math.floor(u[2 * i + 1]! * 5) - 2));
      // one window of NaN only and one of −∞ and NaN: cpu gives −∞ for both
      for (const [r, col, v] of [[0, 0, Number.NaN], [0, 1, Number.NaN], [1, 0, Number.NaN], [1, 1, Number.NaN], [2, 2, -Infinity], [2, 3, Number.NaN], [3, 2, -Infinity], [3, 3, -Infinity]] as const) {
        x[(r * 6 + col) * c] = v;
      }
      for (const [k, s, pad] of [[2, 2, 'valid'], [2, 2, 'same'], [3, 3, 'same'], [3, 2, 'same'], [3, 1, 'same']] as Array<[number, number, 'same' | 'valid']>) {
        // the forward, and the gradient of Σ w·maxPool(x) with weights that include −0, ±∞ and NaN
        const run = async (backend: string): Promise<Float32Array[]> => {
          await tf.setBackend(backend);
          return tf.tidy(() => {
            const y = tf.maxPool(tf.tensor4d(x, shape), k, s, pad);
            const w = tf.tensor(Float32Array.from({ length: y.size }, (_, i) => (i % 7 === 0 ? special[i % special.length]! : u[i % u.length]! - 0.5)), y.shape);
            const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, k, s, pad), w)))(tf.tensor4d(x, shape));
            return [y.dataSync() as Float32Array, g.dataSync() as Float32Array];
          });
        };
        const cpu = await run('cpu');
        const native = await run(NATIVE_BACKEND_NAME);
        // Object.is tells NaN from NaN-free and −0 from +0. Where windows overlap (stride < window), a pixel's
        // gradient sums several windows' terms, which cpu adds in another order: equal up to that rounding.
        const same = (a: number, b: number, exact: boolean): boolean =>
          Object.is(a, b) || (!exact && Number.isFinite(a) && Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a)));
        for (const [i, what] of ['forward', 'gradient'].entries()) {
          const exact = what === 'forward' || s >= k;
          const differing = Array.from(cpu[i]!).filter((v, j) => !same(v, native[i]![j]!, exact)).length;
          expect(differing, `${what}: C ${c}, window ${k}, stride ${s}, ${pad}`).toBe(0);
        }
      }
    }
  });

  it('FusedBatchNorm: values and the gradients of x, mean, variance, offset, scale', async () => {
    const before = nativeCalls('TrellisNativeBatchNormGrad');
    // 6 channels, and 37 (a vectorised channel loop with a tail)
    for (const c of [6, 37]) {
      const r = await onBoth(
        [{ shape: [3, 5, 4, c], seed: 17 }, { shape: [c], seed: 18 }, { shape: [c], seed: 19 }, { shape: [c], seed: 20 }, { shape: [c], seed: 21 }],
        (x, mean, v, offset, scale) => tf.batchNorm(x as tf.Tensor4D, mean as tf.Tensor1D, tf.add(tf.abs(v as tf.Tensor1D), 0.5), offset as tf.Tensor1D, scale as tf.Tensor1D, 1e-3),
      );
      expectClose(r.cpu, r.native);
    }
    // Training form (statistics from the batch, as tfjs-layers does), no scale/offset.
    const t = await onBoth([{ shape: [4, 3, 3, 5], seed: 22 }], (x) => {
      // (tfjs-core cannot differentiate batchNorm without offset and scale tensors; layers passes both.)
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.batchNorm(x as tf.Tensor4D, mean as tf.Tensor1D, variance as tf.Tensor1D, tf.zeros([5]) as tf.Tensor1D, tf.ones([5]) as tf.Tensor1D, 1e-5);
    });
    expectClose(t.cpu, t.native, 5e-4);
    expect(nativeCalls('FusedBatchNorm')).toBeGreaterThanOrEqual(4);
    expect(nativeCalls('TrellisNativeBatchNormGrad')).toBeGreaterThanOrEqual(before + 2);
  });

  it('elementwise binary ops in every broadcast form, unary ops, Sum/Mean over leading, trailing and middle axes', async () => {
    const shapes: Array<[number[], number[]]> = [
      [[4, 3, 5], [4, 3, 5]],
      [[4, 3, 5], []],
      [[1], [4, 3, 5]],
      [[4, 3, 5], [5]],
      [[3, 5], [4, 3, 5]],
      [[4, 3, 5], [4, 1, 1]],
      [[4, 3, 1], [4, 3, 5]],
      // both operands broadcast: rows of a common length (one repeats, the other is constant per row)
      [[1, 5], [3, 1]],
      [[3, 5], [4, 1, 1]],
      [[4, 1, 1], [3, 5]],
      [[5], [4, 3, 1]],
      // different periods: the generic index path
      [[5], [4, 1, 1]],
    ];
    for (const op of [tf.add, tf.sub, tf.mul, tf.div, tf.maximum, tf.minimum, tf.squaredDifference]) {
      for (const [sa, sb] of shapes) {
        // (tfjs's Maximum/Minimum/SquaredDifference gradients do not reduce broadcast inputs: forward only there.)
        const grads = (op !== tf.maximum && op !== tf.minimum && op !== tf.squaredDifference) || sa.join() === sb.join();
        const r = await onBoth([{ shape: sa, seed: 40 }, { shape: sb, seed: 41 }], (a, b) => op(a as tf.Tensor, tf.add(b as tf.Tensor, op === tf.div ? 3 : 0)), grads);
        expectClose(r.cpu, r.native);
      }
    }
    for (const op of [tf.sqrt, tf.square, tf.rsqrt, tf.neg, tf.exp, tf.log, tf.relu, tf.abs, tf.step, tf.reciprocal, tf.sigmoid, tf.tanh]) {
      const positive = op === tf.sqrt || op === tf.rsqrt || op === tf.log || op === tf.reciprocal;
      const r = await onBoth([{ shape: [5, 7], seed: 42 }], (x) => op(positive ? tf.add(tf.abs(x), 0.5) : x));
      expectClose(r.cpu, r.native);
    }
    for (const [axes, keepDims] of [[[0], false], [[0, 1, 2], true], [[3], false], [[2, 3], true], [[1], false], [[1, 2], false], [[1, 2], true]] as Array<[number[], boolean]>) {
      for (const op of [tf.sum, tf.mean]) {
        const r = await onBoth([{ shape: [3, 4, 5, 6], seed: 43 }], (x) => op(x, axes, keepDims));
        expectClose(r.cpu, r.native);
      }
    }
    for (const n of ['Add', 'Multiply', 'RealDiv', 'Sqrt', 'Square', 'Relu', 'Sigmoid', 'Tanh', 'Sum', 'Mean', 'TrellisNativeBroadcastScale', 'TrellisNativeGradBinary']) {
      expect(nativeCalls(n), n).toBeGreaterThan(0);
    }
  });

  it('Slice, Transpose, PadV2 and Softmax: every rank up to 5, odd shapes, values and gradients', async () => {
    const cases: Array<[number[], (x: tf.Tensor) => tf.Tensor]> = [
      [[7], (x) => tf.slice(x, [2], [4])],
      [[5, 6], (x) => tf.slice(x, [1, 2], [3, -1])],
      [[4, 5, 6], (x) => tf.slice(x, [0, 1, 0], [-1, 3, 6])],
      [[3, 4, 5, 6], (x) => tf.slice(x, [1, 0, 2, 1], [2, 4, 2, 4])],
      [[2, 3, 4, 5, 3], (x) => tf.slice(x, [0, 1, 1, 0, 1], [2, 2, 2, 5, 1])],
      [[5, 6], (x) => tf.transpose(x)],
      [[3, 4, 5], (x) => tf.transpose(x, [2, 0, 1])],
      [[2, 3, 4, 5], (x) => tf.transpose(x, [0, 2, 1, 3])],
      [[2, 3, 4, 5], (x) => tf.transpose(x, [3, 1, 0, 2])],
      [[2, 3, 1, 4, 5], (x) => tf.transpose(x, [4, 2, 0, 3, 1])],
      [[5, 6], (x) => tf.pad(x, [[1, 2], [0, 3]], 0.5)],
      [[3, 4, 5], (x) => tf.pad(x, [[0, 0], [2, 1], [1, 1]])],
      [[2, 3, 4, 5], (x) => tf.pad(x, [[1, 0], [0, 1], [2, 2], [0, 0]], -1)],
      [[7, 9], (x) => tf.softmax(tf.mul(x, 4))],
      [[2, 3, 4, 13], (x) => tf.softmax(tf.mul(x, 4))],
    ];
    for (const [shape, f] of cases) {
      const r = await onBoth([{ shape, seed: 60 }], (x) => f(x as tf.Tensor));
      expectClose(r.cpu, r.native, 1e-5);
    }
    for (const n of ['Slice', 'Transpose', 'PadV2', 'Softmax']) expect(nativeCalls(n), n).toBeGreaterThan(0);
  });

  it('Transpose runs in the addon for ranks 1 to 8 and equals the cpu kernel exactly, zero-size axes included; rank 9 falls back', async () => {
    // seeded shapes and permutations (an LCG; no Math.random)
    let state = 12345;
    const next = (k: number): number => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state % k;
    };
    const cases: Array<[number[], number[]]> = [[[0, 3], [1, 0]], [[2, 0, 4], [2, 0, 1]], [[1], [0]]];
    for (let rank = 1; rank <= 8; rank++) {
      for (let c = 0; c < 4; c++) {
        const shape = Array.from({ length: rank }, () => 1 + next(rank > 5 ? 3 : 6));
        const perm = Array.from({ length: rank }, (_, i) => i);
        for (let i = rank - 1; i > 0; i--) {
          const j = next(i + 1);
          [perm[i], perm[j]] = [perm[j]!, perm[i]!];
        }
        cases.push([shape, perm]);
      }
    }
    const run = async (backend: string, shape: number[], perm: number[]): Promise<Float32Array> => {
      await tf.setBackend(backend);
      return tf.tidy(() => tf.transpose(tf.tensor(values(shape.reduce((a, b) => a * b, 1), 70), shape), perm).dataSync() as Float32Array);
    };
    const before = nativeCalls('Transpose');
    for (const [shape, perm] of cases) {
      const want = await run('cpu', shape, perm);
      const got = await run(NATIVE_BACKEND_NAME, shape, perm);
      expect(Array.from(got), `shape [${shape}] perm [${perm}]`).toEqual(Array.from(want));
    }
    // tfjs itself returns a copy for an identity permutation, without a Transpose kernel call
    const moved = cases.filter(([, perm]) => perm.some((p, i) => p !== i)).length;
    expect(nativeCalls('Transpose') - before).toBe(moved);
    const fallbacks = nativeCallCounts()['Transpose']?.fallback ?? 0;
    const nine = [2, 1, 2, 1, 2, 1, 2, 1, 2];
    expect(Array.from(await run(NATIVE_BACKEND_NAME, nine, [8, 7, 6, 5, 4, 3, 2, 1, 0]))).toEqual(Array.from(await run('cpu', nine, [8, 7, 6, 5, 4, 3, 2, 1, 0])));
    expect(nativeCallCounts()['Transpose']?.fallback ?? 0).toBe(fallbacks + 1);
    const { addon } = loadAddon();
    const x = new Float32Array(6);
    expect(() => addon!.transpose(x, new Float32Array(6), [2, 3], [0, 0])).toThrow(/not a permutation/);
    expect(() => addon!.transpose(x, new Float32Array(5), [2, 3], [1, 0])).toThrow(/out/);
    expect(() => addon!.transpose(x, x, [2, 3], [1, 0])).toThrow(/must not be x/);
    await tf.setBackend('cpu');
  });

  it('Adam on trellis-native (one fused pass) gives the same weights as tfjs Adam on cpu', async () => {
    const run = async (backend: string): Promise<Float32Array[]> => {
      await tf.setBackend(backend);
      const w = tf.variable(tf.tensor2d(values(37 * 11, 50), [37, 11]));
      const b = tf.variable(tf.tensor1d(values(11, 51)));
      const x = tf.tensor2d(values(9 * 37, 52), [9, 37]);
      const opt = tf.train.adam(0.01);
      for (let s = 0; s < 6; s++) opt.minimize(() => tf.sum(tf.square(tf.add(tf.matMul(x, w), b))) as tf.Scalar);
      const out = [w.dataSync() as Float32Array, b.dataSync() as Float32Array].map((a) => Float32Array.from(a));
      tf.dispose([w, b, x]);
      opt.dispose();
      return out;
    };
    const before = nativeCalls('TrellisNativeAdam');
    const beforeInPlace = nativeCalls('TrellisNativeAdam(in place)');
    expectClose(await run('cpu'), await run(NATIVE_BACKEND_NAME), 1e-5);
    // 2 variables × 6 steps: the first step through the kernel (the variables' initial buffers are
    // not the pool's), the other five written in place into the kernel's own earlier outputs.
    expect(nativeCalls('TrellisNativeAdam') - before).toBe(2);
    expect(nativeCalls('TrellisNativeAdam(in place)') - beforeInPlace).toBe(10);
    await tf.setBackend('cpu');
  });

  it('SGD, momentum and Nesterov on trellis-native (one fused pass) give tfjs\'s weights bit for bit, also after setLearningRate', async () => {
    // The same gradient sequence applied on cpu (tfjs's own Mul / Add update) and on trellis-native.
    const grads = Array.from({ length: 6 }, (_, s) => [values(37 * 11, 60 + s), values(11, 70 + s)]);
    const run = async (backend: string, make: () => tf.SGDOptimizer): Promise<Float32Array[]> => {
      await tf.setBackend(backend);
      const w = tf.variable(tf.tensor2d(values(37 * 11, 53), [37, 11]), true, 'sgdTestW');
      const b = tf.variable(tf.tensor1d(values(11, 54)), true, 'sgdTestB');
      const opt = make();
      let afterFirst = 0;
      for (const [s, [gw, gb]] of grads.entries()) {
        if (s === 3) opt.setLearningRate(0.003);
        tf.tidy(() => opt.applyGradients({ sgdTestW: tf.tensor2d(gw!, [37, 11]), sgdTestB: tf.tensor1d(gb!) }));
        if (s === 0) afterFirst = tf.memory().numTensors;
      }
      expect(tf.memory().numTensors, `${backend}: flat tensor count`).toBe(afterFirst);
      const out = [w.dataSync() as Float32Array, b.dataSync() as Float32Array].map((a) => Float32Array.from(a));
      tf.dispose([w, b]);
      opt.dispose();
      return out;
    };
    const makers: Array<[string, () => tf.SGDOptimizer]> = [
      ['sgd', () => tf.train.sgd(0.01)],
      ['momentum', () => tf.train.momentum(0.01, 0.9)],
      ['nesterov', () => tf.train.momentum(0.01, 0.9, true)],
    ];
    for (const [label, make] of makers) {
      const kernel = nativeCalls('TrellisNativeSgd');
      const inPlace = nativeCalls('TrellisNativeSgd(in place)');
      const cpu = await run('cpu', make);
      const native = await run(NATIVE_BACKEND_NAME, make);
      for (let k = 0; k < 2; k++) expect(Array.from(native[k]!), `${label}, variable ${k}`).toEqual(Array.from(cpu[k]!));
      // 2 variables × 6 steps: the first step through the kernel (the variables' initial buffers are
      // not the pool's), the other five written in place into the kernel's own earlier outputs.
      expect(nativeCalls('TrellisNativeSgd') - kernel, label).toBe(2);
      expect(nativeCalls('TrellisNativeSgd(in place)') - inPlace, label).toBe(10);
    }
    await tf.setBackend('cpu');
  });

  it('falls back to the cpu kernel for what it does not cover (int32 matmul)', async () => {
    await tf.setBackend(NATIVE_BACKEND_NAME);
    const before = nativeCallCounts()['BatchMatMul']?.fallback ?? 0;
    const y = tf.tidy(() => tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), tf.tensor2d([5, 6, 7, 8], [2, 2], 'int32')).arraySync());
    expect(y).toEqual([[19, 22], [43, 50]]);
    expect(nativeCallCounts()['BatchMatMul']?.fallback ?? 0).toBe(before + 1);
    await tf.setBackend('cpu');
  });
});

describe.skipIf(!loaded)('memory', () => {
  it('no growth over 10,000 calls (addon bytes flat, tensors flat, RSS bounded)', async () => {
    await useNativeBackend();
    const x = tf.tensor4d(values(2 * 8 * 8 * 4, 30), [2, 8, 8, 4]);
    const w = tf.tensor4d(values(3 * 3 * 4 * 8, 31), [3, 3, 4, 8]);
    const a = tf.tensor2d(values(32 * 48, 32), [32, 48]);
    const b = tf.tensor2d(values(48 * 16, 33), [48, 16]);
    const step = (): void => {
      tf.tidy(() => {
        const y = tf.conv2d(x, w, 2, 'same');
        const dx = tf.conv2dTranspose(y, w, x.shape, 2, 'same');
        tf.maxPool(dx, 2, 2, 'valid');
        tf.matMul(a, b, false, false);
        tf.matMul(b, a, true, true).dataSync();
      });
    };
    for (let i = 0; i < 200; i++) step();
    global.gc?.();
    const stats0 = nativeMemoryStats();
    const tensors0 = tf.memory().numTensors;
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < 10_000; i++) step();
    global.gc?.();
    const stats1 = nativeMemoryStats();
    expect(stats1.bytes).toBe(stats0.bytes);
    expect(stats1.convCacheEntries).toBe(stats0.convCacheEntries);
    expect(tf.memory().numTensors).toBe(tensors0);
    const growthMb = (process.memoryUsage().rss - rss0) / 2 ** 20;
    expect(growthMb).toBeLessThan(64);
    tf.dispose([x, w, a, b]);
    await tf.setBackend('cpu');
  });
});
