import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  registerWasmTrainingKernels,
  WASM_TRAINING_KERNELS,
  wasmTrainingKernelsRegistered,
} from '../src/backend/wasmKernels.js';
import { describeBackend, useBackend } from '../src/backend/useBackend.js';
import { wasmSimdKernels } from '../src/backend/wasmSimd.js';
import { TrellisError } from '../src/errors.js';
import { runFreshCoreProcess } from './helpers.js';

// ------------------------------------------------------------------ helpers

/** Deterministic values in [-1, 1). */
function rand(n: number, seed: number): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

function t(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(rand(shape.reduce((a, b) => a * b, 1), seed), shape);
}

type Outs = tf.Tensor | tf.Tensor[] | Record<string, tf.Tensor>;

function flatten(o: Outs): tf.Tensor[] {
  if (o instanceof tf.Tensor) return [o];
  if (Array.isArray(o)) return o;
  return Object.keys(o)
    .sort()
    .map((k) => o[k] as tf.Tensor);
}

/** Runs `f` on `backend`; returns shapes and values of its outputs (all tensors disposed). */
async function runOn(backend: string, f: () => Outs): Promise<Array<{ shape: number[]; values: Float32Array }>> {
  await tf.setBackend(backend);
  const outs = tf.tidy(() => flatten(f()));
  const res = outs.map((o) => ({ shape: o.shape.slice(), values: Float32Array.from(o.dataSync()) }));
  tf.dispose(outs);
  return res;
}

/** Runs `f` on cpu and on wasm and expects the same shapes and (close) values. */
async function expectSame(f: () => Outs, tol = 1e-4): Promise<void> {
  const cpu = await runOn('cpu', f);
  const wasm = await runOn('wasm', f);
  expect(wasm.length).toBe(cpu.length);
  cpu.forEach((c, i) => {
    const w = wasm[i]!;
    expect(w.shape).toEqual(c.shape);
    let scale = 1;
    for (const v of c.values) scale = Math.max(scale, Math.abs(v));
    let maxErr = 0;
    for (let j = 0; j < c.values.length; j++) maxErr = Math.max(maxErr, Math.abs((c.values[j] as number) - (w.values[j] as number)));
    expect(Number.isFinite(maxErr)).toBe(true);
    expect(maxErr / scale).toBeLessThan(tol);
  });
}

/** Σ(f(...) · fixed random weights): a scalar loss whose gradient dy is not all ones. */
function weightedSum(y: tf.Tensor, seed = 99): tf.Scalar {
  return tf.sum(tf.mul(y, t(y.shape, seed)));
}

/**
 * `tf.moments` as tfjs-layers calls it: read from tfjs-core's CommonJS exports at call time (what core
 * replaces when the wasm kernels are registered, after this module loads).
 */
const layersMoments: typeof tf.moments = (...args) => (createRequire(import.meta.url)('@tensorflow/tfjs-core') as typeof tf).moments(...args);

function wasmDataIds(): number {
  return (tf.engine().registry['wasm'] as unknown as { numDataIds(): number }).numDataIds();
}

// ------------------------------------------------------------------ setup

let initialBackend: string;

beforeAll(async () => {
  initialBackend = tf.getBackend();
  const info = await useBackend('wasm');
  expect(info.name).toBe('wasm');
  expect(info.kernels).toBe('trellis-wasm');
});

afterAll(async () => {
  await tf.setBackend(initialBackend ?? 'cpu');
});

describe('registration', () => {
  it('registers missing, fixed and faster kernels and the batch-norm gradient; idempotent', () => {
    for (const k of [
      'Conv2DBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput',
      'DepthwiseConv2dNativeBackpropFilter',
      'UnsortedSegmentSum',
      'Einsum',
      'MaxPoolGrad',
      'MaxPoolWithArgmax',
      'Conv2DBackpropInput',
      'Sum',
      'Mean',
      'Identity',
      'Cast',
      'BatchMatMul',
      '_FusedMatMul',
      'grad:FusedBatchNorm',
      'grad:Relu',
      ...(process.env['TRELLIS_WASM_SIMD'] === '0' ? [] : ['fusedMoments']),
    ]) {
      expect(WASM_TRAINING_KERNELS).toContain(k);
    }
    const before = tf.getKernel('BatchMatMul', 'wasm');
    const grad = tf.getGradient('FusedBatchNorm');
    registerWasmTrainingKernels();
    registerWasmTrainingKernels();
    expect(tf.getKernel('BatchMatMul', 'wasm')).toBe(before);
    expect(tf.getGradient('FusedBatchNorm')).toBe(grad);
    expect(wasmTrainingKernelsRegistered()).toBe(true);
    const names = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
    for (const k of ['Conv2DBackpropFilter', 'UnsortedSegmentSum', 'Einsum']) expect(names.has(k)).toBe(true);
  });

  it('describeBackend reports trellis-wasm', async () => {
    await tf.setBackend('wasm');
    const d = describeBackend();
    expect(d).toMatchObject({ name: 'wasm', kernels: 'trellis-wasm', tfjsVersion: tf.version_core });
    expect(d.threads).toBeGreaterThanOrEqual(1);
  });
});

// ------------------------------------------------------------------ conv2d

describe('conv2d gradients (Conv2DBackpropFilter)', () => {
  // Cin 3 with 3x3 (27) takes the small-patch (im2col) path, 5x3 with Cin 3 (45) and Cin 4 the
  // batch-as-channels convolution.
  const cases: Array<{ k: [number, number]; s: number; pad: 'same' | 'valid'; cin: number }> = [];
  for (const cin of [3, 4]) {
    for (const k of [
      [3, 3],
      [5, 3],
    ] as Array<[number, number]>) {
      for (const s of [1, 2]) for (const pad of ['same', 'valid'] as const) cases.push({ k, s, pad, cin });
    }
  }
  it.each(cases)('x [3,7,9,$cin], filter $k x$cin x5, stride $s, $pad', async ({ k, s, pad, cin }) => {
    await expectSame(() => {
      const x = t([3, 7, 9, cin], 1);
      const f = t([k[0], k[1], cin, 5], 2);
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => weightedSum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, pad)));
      return [tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, s, pad), ...g([x, f])];
    });
  });

  const more: Array<{ k: [number, number]; s: number | [number, number]; pad: 'same' | 'valid' | tf.backend_util.ExplicitPadding }> = [
    { k: [2, 2], s: 2, pad: 'same' },
    { k: [4, 3], s: 3, pad: 'same' },
    { k: [2, 1], s: 3, pad: 'same' }, // stride > kernel: phases without taps
    { k: [3, 3], s: 3, pad: 'valid' },
    { k: [1, 1], s: 2, pad: 'valid' },
    { k: [3, 3], s: [2, 3], pad: [[0, 0], [2, 0], [1, 2], [0, 0]] },
    { k: [2, 2], s: 2, pad: [[0, 0], [1, 1], [1, 0], [0, 0]] },
  ];
  it.each(more.flatMap((c) => [1, 5].map((cin) => ({ ...c, cin }))))('more strides/pads: filter $k, Cin $cin, stride $s, pad $pad', async ({ k, s, pad, cin }) => {
    await expectSame(() => {
      const x = t([2, 8, 7, cin], 17);
      const f = t([k[0], k[1], cin, 4], 18);
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => weightedSum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, pad)));
      return [tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, s, pad), ...g([x, f])];
    });
  });

  it('1x1 stride 2 (ResNet shortcut), 8x8 input, and stride [2,1] explicit padding', async () => {
    await expectSame(() => {
      const x = t([2, 8, 8, 4], 3);
      const f = t([1, 1, 4, 6], 4);
      return tf.grads((a: tf.Tensor, b: tf.Tensor) => weightedSum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')))([x, f]);
    });
    await expectSame(() => {
      const x = t([2, 6, 7, 2], 5);
      const f = t([3, 2, 2, 3], 6);
      const pad: tf.backend_util.ExplicitPadding = [[0, 0], [1, 2], [0, 1], [0, 0]];
      return tf.grads((a: tf.Tensor, b: tf.Tensor) => weightedSum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, [2, 1], pad)))([x, f]);
    });
  });

  it('fused conv2d with bias (as tfjs-layers uses it), and NCHW via the kernel directly', async () => {
    await expectSame(() => {
      const x = t([3, 7, 9, 3], 7);
      const f = t([3, 3, 3, 5], 8);
      const bias = t([5], 9);
      return tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        weightedSum(tf.fused.conv2d({ x: a as tf.Tensor4D, filter: b as tf.Tensor4D, strides: 2, pad: 'same', bias: c })),
      )([x, f, bias]);
    });
    await expectSame(() => {
      const x = t([2, 3, 7, 9], 10); // NCHW
      const dy = t([2, 5, 4, 5], 11);
      return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
        strides: [2, 2],
        pad: 'same',
        dataFormat: 'NCHW',
        filterShape: [3, 3, 3, 5],
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
    });
  });
});

// ------------------------------------------------------------------ depthwise

describe('depthwise conv2d gradients', () => {
  const cases: Array<{ mult: number; s: number; pad: 'same' | 'valid' }> = [];
  for (const mult of [1, 2]) for (const s of [1, 2]) for (const pad of ['same', 'valid'] as const) cases.push({ mult, s, pad });
  it.each(cases)('x [3,7,9,3], filter 3x3x3x$mult, stride $s, $pad', async ({ mult, s, pad }) => {
    await expectSame(() => {
      const x = t([3, 7, 9, 3], 12);
      const f = t([3, 3, 3, mult], 13);
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        weightedSum(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, pad)),
      );
      return g([x, f]);
    });
  });

  it('backprop kernels with dilation 2 (direct), against dilation 1 with a zero-dilated filter on cpu', async () => {
    // cpu's depthwise backprop kernels ignore dilations, so the reference is the equivalent
    // undilated problem: a 3x2 filter at dilation 2 is a 5x3 filter with zeros in between.
    await expectSame(() => {
      const x = t([2, 9, 8, 3], 14);
      const f = t([3, 2, 3, 2], 15);
      const fExp = tf.reshape(
        tf.stack(
          [0, 1, 2, 3, 4].map((r) =>
            tf.stack([0, 1, 2].map((c) => (r % 2 === 0 && c % 2 === 0 ? tf.slice(f, [r / 2, c / 2, 0, 0], [1, 1, 3, 2]) : tf.zeros([1, 1, 3, 2])))),
          ),
        ),
        [5, 3, 3, 2],
      );
      const dy = t([2, 9, 8, 6], 16);
      const onCpu = tf.getBackend() === 'cpu';
      const attrs = { strides: 1, dilations: onCpu ? 1 : 2, pad: 'same' };
      const dx = tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: onCpu ? fExp : f }, {
        ...attrs,
        inputShape: x.shape,
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
      const df = tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, {
        ...attrs,
        filterShape: onCpu ? [5, 3, 3, 2] : f.shape,
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
      const dfSel = onCpu ? tf.stridedSlice(df, [0, 0, 0, 0], [5, 3, 3, 2], [2, 2, 1, 1]) : df;
      return [dx, dfSel];
    });
  });
});

// ------------------------------------------------------------------ matmul

describe('matmul (transposes materialised first)', () => {
  const combos: Array<[boolean, boolean]> = [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ];
  it.each(combos)('2-D and batched, transposeA=%s transposeB=%s, values and gradients', async (ta, tb) => {
    await expectSame(() => {
      const a = t(ta ? [7, 5] : [5, 7], 20);
      const b = t(tb ? [3, 7] : [7, 3], 21);
      const a3 = t(ta ? [4, 7, 5] : [4, 5, 7], 22);
      const b3 = t(tb ? [4, 3, 7] : [4, 7, 3], 23);
      const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => weightedSum(tf.matMul(x, y, ta, tb)));
      return [tf.matMul(a, b, ta, tb), ...g([a, b]), tf.matMul(a3, b3, ta, tb), ...g([a3, b3])];
    });
  });

  it.each(combos)('batched slices big enough for the per-batch XNNPACK path, transposeA=%s transposeB=%s', async (ta, tb) => {
    await expectSame(() => {
      const a = t(ta ? [3, 20, 16] : [3, 16, 20], 90);
      const b = t(tb ? [3, 24, 20] : [3, 20, 24], 91);
      const a2 = t(ta ? [20, 16] : [16, 20], 92);
      const b2 = t(tb ? [24, 20] : [20, 24], 93);
      const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => weightedSum(tf.matMul(x, y, ta, tb)));
      // (tfjs-core's BatchMatMul gradient does not reduce broadcast batch dims: values only there.)
      return [tf.matMul(a, b, ta, tb), ...g([a, b]), tf.matMul(a2, b, ta, tb), tf.matMul(a, b2, ta, tb)];
    });
  });

  it('fused matMul of a batched a and an unbatched b, with bias and relu', async () => {
    await expectSame(() => {
      const a = t([4, 6, 7], 94);
      const b = t([7, 5], 95);
      const bias = t([5], 96);
      return [
        tf.fused.matMul({ a, b, bias, activation: 'relu' }),
        tf.fused.matMul({ a, b: tf.transpose(b), transposeB: true, bias, activation: 'relu' }),
      ];
    });
  });

  it('broadcast batch: [2,3,5,7] x [7,4] transposed', async () => {
    await expectSame(() => {
      const a = t([2, 3, 7, 5], 24);
      const b = t([4, 7], 25);
      // (tfjs-core's BatchMatMul gradient does not reduce broadcast batch dims, so values only.)
      const b2 = t([7, 4], 29);
      return [tf.matMul(a, b, true, true), tf.matMul(a, b2, true, false), tf.matMul(tf.transpose(a, [0, 1, 3, 2]), b, false, true)];
    });
  });

  it.each(combos)('fused matMul + bias + relu, transposeA=%s transposeB=%s', async (ta, tb) => {
    await expectSame(() => {
      const a = t(ta ? [7, 6] : [6, 7], 26);
      const b = t(tb ? [5, 7] : [7, 5], 27);
      const bias = t([5], 28);
      const y = tf.fused.matMul({ a, b, transposeA: ta, transposeB: tb, bias, activation: 'relu' });
      const g = tf.grads((x: tf.Tensor, w: tf.Tensor, c: tf.Tensor) =>
        weightedSum(tf.fused.matMul({ a: x, b: w, transposeA: ta, transposeB: tb, bias: c, activation: 'relu' })),
      );
      const gLinear = tf.grads((x: tf.Tensor, w: tf.Tensor, c: tf.Tensor) =>
        weightedSum(tf.fused.matMul({ a: x, b: w, transposeA: ta, transposeB: tb, bias: c })),
      );
      return [y, ...g([a, b, bias]), ...gLinear([a, b, bias])];
    });
  });
});

// ------------------------------------------------------------------ faster stock replacements

describe('conv2dTranspose, reductions and clone (replaced for speed)', () => {
  it.each([
    { s: 1, pad: 'same' as const },
    { s: 2, pad: 'same' as const },
    { s: 2, pad: 'valid' as const },
  ])('conv2dTranspose (Conv2DBackpropInput), stride $s, $pad', async ({ s, pad }) => {
    await expectSame(() => {
      const filter = t([5, 3, 4, 3], 100); // [kh, kw, outChannels, inChannels]
      const inH = 4;
      const inW = 5;
      const x = t([2, inH, inW, 3], 101);
      const outH = pad === 'same' ? inH * s : (inH - 1) * s + 5;
      const outW = pad === 'same' ? inW * s : (inW - 1) * s + 3;
      return tf.conv2dTranspose(x as tf.Tensor4D, filter as tf.Tensor4D, [2, outH, outW, 4], s, pad);
    });
  });

  it('Conv2DBackpropInput with NCHW, odd sizes, stride 2 (direct)', async () => {
    await expectSame(() => {
      const dy = t([2, 5, 4, 5], 102); // NCHW dy of a [2,3,7,9] input, 3x3 filter, stride 2, same
      const filter = t([3, 3, 3, 5], 103);
      return tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, {
        strides: [2, 2],
        pad: 'same',
        dataFormat: 'NCHW',
        inputShape: [2, 3, 7, 9],
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
    });
  });

  it('sum / mean over leading, middle, trailing and all axes, with keepDims', async () => {
    await expectSame(() => {
      const x = t([4, 5, 6, 3], 104);
      const axesList: Array<number | number[] | undefined> = [0, [0, 1], [0, 1, 2], [1, 2], 3, [2, 3], undefined, -4, [1]];
      return axesList.flatMap((axes) => [tf.sum(x, axes), tf.mean(x, axes, true), tf.sum(x, axes, true)]);
    });
    await expectSame(() => [tf.cast(tf.sum(tf.tensor2d([[1, 2], [3, 4], [5, 6]], [3, 2], 'int32'), 0), 'float32')]);
  });

  it('clone shares the buffer safely', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    const v = tf.variable(y);
    v.assign(tf.tensor1d([4, 5, 6]));
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    tf.dispose([y, v]);
  });
});

// ------------------------------------------------------------------ batch norm

describe('batch norm gradient (broadcasting, no Tile)', () => {
  it('grads wrt x, mean, variance, offset, scale', async () => {
    await expectSame(() => {
      const x = t([3, 5, 4, 6], 30);
      const mean = t([6], 31);
      const variance = tf.add(tf.abs(t([6], 32)), 0.5);
      const offset = t([6], 33);
      const scale = t([6], 34);
      const f = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) =>
        weightedSum(tf.batchNorm(a, m, v, o, s, 1e-3));
      return [tf.batchNorm(x, mean, variance, offset, scale, 1e-3), ...tf.grads(f)([x, mean, variance, offset, scale])];
    });
  });

  it('training-mode batch norm (moments of x), as tfjs-layers does it', async () => {
    // (Without a scale tensor tfjs-core cannot differentiate batchNorm on any backend: the engine
    // tries to save the missing 'scale' input.)
    await expectSame(() => {
      const x = t([4, 3, 5, 7], 35);
      const f = (a: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
        const { mean, variance } = tf.moments(a, [0, 1, 2]);
        return weightedSum(tf.batchNorm(a, mean, variance, beta, gamma, 1e-3));
      };
      return tf.grads(f)([x, t([7], 36), t([7], 37)]);
    });
  });

  it('leaves the cpu backend on the stock gradient (bit-identical)', async () => {
    const ours = tf.getGradient('FusedBatchNorm') as tf.GradConfig & { __trellisOriginal?: tf.GradConfig };
    const stock = ours.__trellisOriginal;
    expect(stock).toBeDefined();
    const f = () => {
      const x = t([3, 5, 4, 6], 36);
      const mean = t([6], 37);
      const variance = tf.add(tf.abs(t([6], 38)), 0.5);
      const scale = t([6], 39);
      const offset = t([6], 40);
      return tf.grads((a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) =>
        weightedSum(tf.batchNorm(a, m, v, o, s, 1e-3)),
      )([x, mean, variance, offset, scale]);
    };
    const withOurs = await runOn('cpu', f);
    tf.registerGradient(stock!);
    let withStock: Awaited<ReturnType<typeof runOn>>;
    try {
      withStock = await runOn('cpu', f);
    } finally {
      tf.registerGradient(ours);
    }
    expect(withOurs.map((r) => Array.from(r.values))).toEqual(withStock.map((r) => Array.from(r.values)));
  });
});

describe('batch statistics and the batch-norm and ReLU gradients in one SIMD pass each', () => {
  const simdOff = process.env['TRELLIS_WASM_SIMD'] === '0';
  const moments = layersMoments;

  /** The kernels `f` runs on wasm (profiled), by name. */
  const kernelsRun = async (f: () => Outs): Promise<string[]> => {
    await tf.setBackend('wasm');
    const prof = await tf.profile(() => {
      tf.dispose(tf.tidy(() => flatten(f())));
    });
    return prof.kernels.map((k) => k.name);
  };

  it('moments over every axis but the last: values against float64 sums, also once V8 has optimised the kernel', async () => {
    await tf.setBackend('wasm');
    // Three blocks of 256 rows (the last partial) and 60 rows; C = 7 and 3: SIMD bodies and tails.
    // Node 20's V8 miscomputed clang's vectorised double loops here only after TurboFan compiled
    // them, so the check is repeated after many calls and a pause (background compilation).
    const check = (rows: number, c: number, offset: number, seed: number): void => {
      const xs = rand(rows * c, seed).map((v, i) => offset + v * (1 + (i % c)));
      const x = tf.tensor(xs, [rows, 1, 1, c]);
      const { mean, variance } = layersMoments(x, [0, 1, 2]);
      const [m, v] = [mean.dataSync(), variance.dataSync()];
      for (let j = 0; j < c; j++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s += xs[r * c + j] as number;
        const mu = Math.fround(s / rows);
        let q = 0;
        for (let r = 0; r < rows; r++) q += Math.fround((xs[r * c + j] as number) - mu) ** 2;
        expect(Math.abs((m[j] as number) - mu)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(mu)));
        expect(Math.abs((v[j] as number) - q / rows)).toBeLessThan(1e-5 * (q / rows));
      }
      tf.dispose([x, mean, variance]);
    };
    const all = (): void => {
      for (const [rows, c] of [[600, 7], [60, 7], [600, 3], [60, 3], [5, 8]] as const) check(rows, c, 1000, 90 + rows + c);
    };
    all();
    for (let i = 0; i < 40; i++) tf.dispose(Object.values(layersMoments(t([600, 7], 91), [0])));
    await new Promise((r) => setTimeout(r, 200));
    all();
  });

  it('moments and their gradients match cpu over all-but-last axes (keepDims too), and other axes run the original', async () => {
    const cases: Array<[number[], number[], boolean]> = [
      [[4, 3, 5, 7], [0, 1, 2], false],
      [[4, 3, 5, 8], [0, 1, 2], true],
      [[9, 6], [0], false],
      [[4, 3, 5, 7], [0, 1], false],
      [[4, 3, 5, 7], [1, 2, 3], false],
    ];
    for (const [shape, axes, keepDims] of cases) {
      const f = () => {
        const x = t(shape, 91);
        const g = tf.grads((a: tf.Tensor) => {
          const { mean, variance } = moments(a, axes, keepDims);
          return tf.add(weightedSum(mean, 92), weightedSum(variance, 93));
        });
        const { mean, variance } = moments(x, axes, keepDims);
        return [mean, variance, ...g([x])];
      };
      await expectSame(f);
      const fused = (await kernelsRun(f)).includes('TrellisWasmMoments');
      expect(fused).toBe(!simdOff && axes.length === shape.length - 1 && axes.every((a, i) => a === i));
    }
  });

  it('training-mode batch norm through the replaced moments: values and every gradient match cpu, in one pass each', async () => {
    const f = () => {
      const x = t([4, 3, 5, 7], 94);
      const g = tf.grads((a: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
        const { mean, variance } = moments(a, [0, 1, 2]);
        return weightedSum(tf.relu(tf.batchNorm(a, mean, variance, beta, gamma, 1e-3)));
      });
      return g([x, t([7], 95), t([7], 96)]);
    };
    await expectSame(f);
    const names = await kernelsRun(f);
    for (const k of ['TrellisWasmMoments', 'TrellisWasmMomentsGrad', 'TrellisWasmBatchNormGrad', 'TrellisWasmReluGrad']) {
      expect(names.includes(k)).toBe(!simdOff);
    }
  });

  it('ReLU gradient is bit-identical to cpu, zeros, negatives, NaN and tails included', async () => {
    const xs = Float32Array.from([...rand(21, 105), 0, -0, NaN, 3, -2, NaN, 1e-30]);
    const f = () => tf.grads((a: tf.Tensor) => weightedSum(tf.relu(a), 106))([tf.tensor(xs)]);
    const cpu = await runOn('cpu', f);
    const wasm = await runOn('wasm', f);
    expect(Array.from(wasm[0]!.values)).toEqual(Array.from(cpu[0]!.values));
  });
});

// ------------------------------------------------------------------ pooling, activations

describe('pool gradients and other training ops', () => {
  const pools: Array<{ size: number; s: number; pad: 'same' | 'valid' }> = [
    { size: 2, s: 2, pad: 'valid' },
    { size: 2, s: 2, pad: 'same' },
    { size: 3, s: 2, pad: 'same' },
    { size: 3, s: 1, pad: 'same' },
    { size: 3, s: 2, pad: 'valid' },
  ];
  it.each(pools)('maxPool / avgPool $size, stride $s, $pad on [3,7,9,4]', async ({ size, s, pad }) => {
    await expectSame(() => {
      const x = t([3, 7, 9, 4], 41);
      const gm = tf.grads((a: tf.Tensor) => weightedSum(tf.maxPool(a as tf.Tensor4D, size, s, pad)));
      const ga = tf.grads((a: tf.Tensor) => weightedSum(tf.avgPool(a as tf.Tensor4D, size, s, pad)));
      return [tf.maxPool(x as tf.Tensor4D, size, s, pad), ...gm([x]), tf.avgPool(x as tf.Tensor4D, size, s, pad), ...ga([x])];
    });
  });

  it('maxPool gradient and maxPoolWithArgmax on all-negative windows (stock wasm gets these wrong)', async () => {
    await expectSame(() => {
      const x = tf.neg(tf.abs(t([2, 6, 6, 3], 43)));
      const r = tf.maxPoolWithArgmax(x as tf.Tensor4D, 2, 2, 'valid', true);
      const r2 = tf.maxPoolWithArgmax(x as tf.Tensor4D, 3, 2, 'same', false);
      return [
        ...tf.grads((a: tf.Tensor) => weightedSum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid')))([x]),
        r.result!,
        tf.cast(r.indexes!, 'float32'),
        r2.result!,
        tf.cast(r2.indexes!, 'float32'),
      ];
    });
  });

  it('maxPool 2x2 gradient is bit-identical to cpu: channel bodies and tails, NaN, -Infinity and all-NaN windows', async () => {
    const xs = Float32Array.from(rand(2 * 6 * 6 * 9, 48), (v, i) => (i % 11 === 0 ? NaN : i % 13 === 0 ? -Infinity : Math.round(v * 2)));
    xs.fill(NaN, 0, 9 * 2); // the first window's top row all NaN,
    xs.fill(NaN, 6 * 9, 6 * 9 + 9 * 2); // and its bottom row: an all-NaN window for every channel
    const f = () => {
      const x = tf.tensor(xs, [2, 6, 6, 9]);
      return [2, 3].map((s) => tf.grads((a: tf.Tensor) => weightedSum(tf.maxPool(a as tf.Tensor4D, 2, s, 'valid'), 49))([x])[0]!);
    };
    const cpu = await runOn('cpu', f);
    const wasm = await runOn('wasm', f);
    expect(wasm.map((r) => Array.from(r.values))).toEqual(cpu.map((r) => Array.from(r.values)));
  });

  it('maxPool 2x2 gradient with ties, stride 2 and 3, even and odd sizes (first maximum wins, as on cpu)', async () => {
    await expectSame(() => {
      // Values rounded to a few levels, and relu'd: most windows hold ties (zeros after relu).
      const x1 = tf.relu(tf.round(t([2, 8, 10, 3], 47)));
      const x2 = tf.round(t([3, 7, 9, 4], 53));
      const g = (x: tf.Tensor, s: number) => tf.grads((a: tf.Tensor) => weightedSum(tf.maxPool(a as tf.Tensor4D, 2, s, 'valid')))([x]);
      return [...g(x1, 2), ...g(x2, 2), ...g(x1, 3), ...g(x2, 3), ...tf.grads((a: tf.Tensor) => weightedSum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'same')))([x2])];
    });
  });

  it('relu, relu6, elu, sigmoid, tanh, softmax, logSoftmax, dropout (fixed seed) gradients', async () => {
    await expectSame(() => {
      const x = t([6, 10], 42);
      const fs: Array<(a: tf.Tensor) => tf.Tensor> = [
        (a) => tf.relu(a),
        (a) => tf.relu6(tf.mul(a, 8)),
        (a) => tf.elu(a),
        (a) => tf.sigmoid(a),
        (a) => tf.tanh(a),
        (a) => tf.softmax(a),
        (a) => tf.logSoftmax(a),
        (a) => tf.dropout(a, 0.5, undefined, 7),
      ];
      return fs.flatMap((f) => [f(x), ...tf.grads((a: tf.Tensor) => weightedSum(f(a)))([x])]);
    });
  });
});

// ------------------------------------------------------------------ gather / segment sum / einsum

describe('gather gradient (UnsortedSegmentSum) and Einsum', () => {
  it('gather grads on axis 0 and 1 with repeated indices', async () => {
    await expectSame(() => {
      const table = t([10, 6], 50);
      const idx = tf.tensor2d([[1, 3, 3, 9], [0, 1, 1, 1], [9, 9, 2, 5]], [3, 4], 'int32');
      const idx1 = tf.tensor1d([5, 0, 5, 2], 'int32');
      return [
        ...tf.grads((a: tf.Tensor) => weightedSum(tf.gather(a, idx)))([table]),
        ...tf.grads((a: tf.Tensor) => weightedSum(tf.gather(a, idx1, 1)))([table]),
      ];
    });
  });

  it('unsortedSegmentSum on float32 and int32 (out-of-range ids dropped)', async () => {
    await expectSame(() => {
      const x = t([7, 3, 2], 51);
      const ids = tf.tensor1d([0, 4, 2, 4, 4, 1, 0], 'int32');
      const xi = tf.tensor2d([[1, 2], [3, 4], [5, 6]], [3, 2], 'int32');
      return [
        tf.unsortedSegmentSum(x, ids, 5),
        tf.cast(tf.unsortedSegmentSum(xi, tf.tensor1d([2, 0, 2], 'int32'), 3), 'float32'),
      ];
    });
  });

  it.each(['ij,jk->ik', 'bij,bjk->bik', 'ij->ji', 'ij->i', 'i,i->', 'bhqd,bhkd->bhqk', 'ij,k->ikj', 'ijk->'])('einsum %s', async (eq) => {
    const shapes: Record<string, number[][]> = {
      'ij,jk->ik': [[3, 4], [4, 5]],
      'bij,bjk->bik': [[2, 3, 4], [2, 4, 5]],
      'ij->ji': [[3, 4]],
      'ij->i': [[3, 4]],
      'i,i->': [[6], [6]],
      'bhqd,bhkd->bhqk': [[2, 3, 4, 5], [2, 3, 6, 5]],
      'ij,k->ikj': [[3, 4], [2]],
      'ijk->': [[2, 3, 4]],
    };
    await expectSame(() => tf.einsum(eq, ...(shapes[eq] ?? []).map((s, i) => t(s, 60 + i))));
  });
});

// ------------------------------------------------------------------ tiny transformer

describe('tiny transformer block: values and gradients match cpu', () => {
  it('embedding → layer norm → attention (matmul with transposes, softmax) → dense → logSoftmax loss', async () => {
    await expectSame(() => {
      const vocab = 11;
      const d = 8;
      const seq = 5;
      const batch = 3;
      const tokens = tf.tensor2d(
        Array.from({ length: batch * seq }, (_, i) => (i * 7 + 3) % vocab),
        [batch, seq],
        'int32',
      );
      const labels = tf.oneHot(tf.tensor1d([1, 4, 9], 'int32'), vocab);
      const params = [t([vocab, d], 70), t([d, d], 71), t([d, d], 72), t([d, d], 73), t([d, vocab], 74), t([d], 75), t([d], 76)];
      const loss = (emb: tf.Tensor, wq: tf.Tensor, wk: tf.Tensor, wv: tf.Tensor, wo: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
        const h = tf.gather(emb, tokens); // [b, s, d]
        const mean = tf.mean(h, -1, true);
        const v = tf.mean(tf.square(tf.sub(h, mean)), -1, true);
        const ln = tf.add(tf.mul(tf.mul(tf.sub(h, mean), tf.rsqrt(tf.add(v, 1e-5))), gamma), beta);
        const flat = tf.reshape(ln, [batch * seq, d]);
        const q = tf.reshape(tf.matMul(flat, wq), [batch, seq, d]);
        const k = tf.reshape(tf.matMul(flat, wk), [batch, seq, d]);
        const vv = tf.reshape(tf.matMul(flat, wv), [batch, seq, d]);
        const att = tf.softmax(tf.div(tf.matMul(q, k, false, true), Math.sqrt(d)));
        const ctx = tf.matMul(att, vv); // [b, s, d]
        const pooled = tf.mean(ctx, 1); // [b, d]
        const logits = tf.matMul(pooled, wo);
        return tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), -1)));
      };
      const g = tf.grads(loss as (...args: tf.Tensor[]) => tf.Tensor);
      return [loss(...(params as Parameters<typeof loss>)), ...g(params)];
    });
  });
});

// ------------------------------------------------------------------ leaks

describe("core's SIMD kernels (GEMM, filter gradient, Adam, SGD)", () => {
  const simdOff = process.env['TRELLIS_WASM_SIMD'] === '0';

  it(simdOff ? 'are off with TRELLIS_WASM_SIMD=0' : 'are instantiated on the wasm heap', () => {
    const kernels = wasmSimdKernels(tf.findBackend('wasm'));
    if (simdOff) expect(kernels).toBeNull();
    else expect(kernels).not.toBeNull();
  });

  // Row/column tails of the 4x8 tiles, K = 0, one K block and several (KC = 256: 600 is three).
  // (K = 0 only with the SIMD kernels: the stock wasm matmul leaves such an output uninitialised.)
  const shapes: Array<[number, number, number]> = [[1, 1, 1], ...(simdOff ? [] : [[3, 0, 9] as [number, number, number]]), [5, 7, 17], [130, 600, 13], [9, 300, 8]];
  const transposes: Array<[boolean, boolean]> = [[false, false], [true, false], [false, true], [true, true]];
  const gemmCases = shapes.flatMap(([m, k, n]) => transposes.map(([ta, tb]) => ({ m, k, n, ta, tb })));
  it.each(gemmCases)('fused matMul [$m x $k] x [$k x $n], transposeA=$ta transposeB=$tb, bias and relu after the last K block', async ({ m, k, n, ta, tb }) => {
    await expectSame(() => {
      const a = t(ta ? [k, m] : [m, k], 31);
      const b = t(tb ? [n, k] : [k, n], 32);
      const bias = t([n], 33);
      return [tf.matMul(a, b, ta, tb), tf.fused.matMul({ a, b, transposeA: ta, transposeB: tb, bias, activation: 'relu' })];
    });
  });

  it('filter gradient over several chunks of output positions, Cout not a multiple of 8', async () => {
    await expectSame(() => {
      const x = t([4, 15, 17, 3], 41); // 1,020 output positions: four chunks of 256
      const f = t([3, 3, 3, 10], 42);
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => weightedSum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')));
      return g([x, f]);
    });
  });

  it('batch norm forward: channel tails, with and without offset and scale, 2-D and 4-D', async () => {
    await expectSame(() => {
      const x4 = t([3, 5, 4, 7], 71);
      const x2 = t([9, 10], 72);
      const pos = (shape: number[], seed: number) => tf.add(tf.abs(t(shape, seed)), 0.25);
      return [
        tf.batchNorm(x4, t([7], 73), pos([7], 74), t([7], 75), t([7], 76), 1e-3),
        tf.batchNorm(x4, t([7], 77), pos([7], 78), undefined, undefined, 1e-5),
        tf.batchNorm(x2, t([10], 79), pos([10], 80), t([10], 81), undefined, 1e-3),
      ];
    });
  });

  /**
   * Applies the same seeded gradients for `steps` steps to two variables on `backend` ([37, 5]: vector
   * body and a tail of one; [3]: tail only), with the learning rate set to 0.004 before step
   * `lrChangeAt`; checks the tensor count is flat after step 2 and returns the weights.
   */
  const applySeededGradients = async (backend: string, label: string, make: () => tf.Optimizer, steps: number, seed: number, lrChangeAt = -1): Promise<Float32Array[]> => {
    await tf.setBackend(backend);
    const vars = [tf.variable(t([37, 5], seed), true, `simd${label}${backend}a`), tf.variable(t([3], seed + 1), true, `simd${label}${backend}b`)];
    const opt = make();
    let before = 0;
    for (let step = 0; step < steps; step++) {
      if (step === 2) before = tf.memory().numTensors;
      if (step === lrChangeAt) (opt as tf.SGDOptimizer).setLearningRate(0.004);
      tf.tidy(() => {
        opt.applyGradients(Object.fromEntries(vars.map((v, i) => [v.name, t(v.shape, seed + 10 * (step + 1) + i)])) as unknown as Parameters<typeof opt.applyGradients>[0]);
      });
    }
    expect(tf.memory().numTensors).toBe(before);
    const out = vars.map((v) => Float32Array.from(v.dataSync()));
    opt.dispose();
    tf.dispose(vars);
    return out;
  };

  it('fused Adam gives bit-identical values to tfjs op-by-op Adam (cpu), no tensor growth', async () => {
    const make = () => tf.train.adam(0.01, 0.9, 0.999, 1e-7);
    const cpu = await applySeededGradients('cpu', 'Adam', make, 4, 51);
    const wasm = await applySeededGradients('wasm', 'Adam', make, 4, 51);
    wasm.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(cpu[i]!)));
  });

  it.each([
    ['sgd', () => tf.train.sgd(0.01)],
    ['momentum', () => tf.train.momentum(0.01, 0.9)],
    ['nesterov', () => tf.train.momentum(0.01, 0.9, true)],
  ] as Array<[string, () => tf.SGDOptimizer]>)('fused %s gives bit-identical values to tfjs op-by-op (cpu), also after setLearningRate, no tensor growth', async (label, make) => {
    const cpu = await applySeededGradients('cpu', label, make, 5, 53, 3);
    const wasm = await applySeededGradients('wasm', label, make, 5, 53, 3);
    wasm.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(cpu[i]!)));
  });
});

describe('no leaked wasm buffers', () => {
  it('the new kernels free their intermediates', async () => {
    await tf.setBackend('wasm');
    const work = () =>
      tf.tidy(() => {
        const x = t([2, 7, 9, 3], 80);
        const f = t([3, 3, 3, 4], 81);
        const conv = tf.grads((a: tf.Tensor, b: tf.Tensor) => weightedSum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'valid')))([x, f]);
        const dw = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          weightedSum(tf.depthwiseConv2d(a as tf.Tensor4D, tf.slice(b, [0, 0, 0, 0], [3, 3, 3, 1]) as tf.Tensor4D, 1, 'same')),
        )([x, f]);
        const mm = tf.matMul(t([3, 4], 82), t([5, 4], 83), false, true);
        const e = tf.einsum('ij,kj->ik', t([3, 4], 84), t([5, 4], 85));
        const gs = tf.grads((a: tf.Tensor) => weightedSum(tf.gather(a, tf.tensor1d([1, 1, 0], 'int32'))))([t([4, 3], 86)]);
        const moments = layersMoments;
        const bn = tf.grads((a: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
          const { mean, variance } = moments(a, [0, 1, 2]);
          return weightedSum(tf.relu(tf.batchNorm(a, mean, variance, beta, gamma, 1e-3)));
        })([x, t([3], 87), t([3], 88)]);
        return [...conv, ...dw, mm, e, ...gs, ...bn].map((r) => tf.sum(r));
      });
    tf.dispose(work());
    const ids = wasmDataIds();
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(work());
    expect(wasmDataIds()).toBe(ids);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});

// ------------------------------------------------------------------ a small CNN trains on wasm

describe('tfjs-layers CNN trains on wasm', () => {
  it('conv-pool-conv-pool-dense: loss decreases, tensor count flat', async () => {
    await tf.setBackend('wasm');
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [12, 12, 1], filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'valid', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.flatten(),
        tfl.layers.dropout({ rate: 0.1, seed: 3 }),
        tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }) }),
      ],
    });
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
    const n = 24;
    const xs = tf.tensor4d(rand(n * 144, 90).map((v) => Math.abs(v)), [n, 12, 12, 1]);
    const labels = tf.tensor1d(Array.from({ length: n }, (_, i) => i % 3), 'int32');
    // Make the classes learnable: brighten a class-specific quadrant.
    const mask = tf.tidy(() => {
      const q = tf.reshape(tf.oneHot(labels, 3), [n, 1, 1, 3]);
      const pads: Array<Array<[number, number]>> = [
        [[0, 6], [0, 6]],
        [[6, 0], [6, 0]],
        [[0, 6], [6, 0]],
      ];
      const quad = tf.stack(pads.map((p) => tf.pad(tf.ones([6, 6]), p)), 2);
      return tf.sum(tf.mul(q, tf.reshape(quad, [1, 12, 12, 3])), 3, true);
    });
    const x = tf.add(xs, mask);
    const y = tf.oneHot(labels, 3);
    const losses: number[] = [];
    const counts: number[] = [];
    for (let step = 0; step < 8; step++) {
      const l = (await model.trainOnBatch(x, y)) as number;
      losses.push(l);
      counts.push(tf.memory().numTensors);
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.8);
    // Optimizer slots appear on the first step; afterwards the count must not grow.
    expect(new Set(counts.slice(1)).size).toBe(1);
    tf.dispose([xs, labels, mask, x, y]);
    model.dispose();
  });
});

// ------------------------------------------------------------------ useBackend

describe('useBackend', () => {
  it("throws BACKEND_NOT_INSTALLED for 'tensorflow' / 'tensorflow-gpu' when tfjs-node is missing", async () => {
    for (const name of ['tensorflow', 'tensorflow-gpu'] as const) {
      const err = await useBackend(name).then(
        () => null,
        (e: unknown) => e,
      );
      if (err == null) continue; // installed on this machine: nothing to check
      expect(err).toBeInstanceOf(TrellisError);
      expect((err as TrellisError).code).toBe('BACKEND_NOT_INSTALLED');
      expect((err as TrellisError).fix).toContain('npm install @tensorflow/tfjs-node');
      expect((err as TrellisError).fix).toContain("useBackend('wasm')");
    }
  });

  it('threads: 2 starts the threaded wasm build in Node (fresh process) and matches cpu', async () => {
    // The wasm thread count is fixed when the backend first starts, so this needs its own process.
    const r = await runFreshCoreProcess(`const tf = await import(req.resolve('@tensorflow/tfjs-core'));
const { useBackend } = await import('CORE_SRC/backend/useBackend.ts');
const info = await useBackend('wasm', { threads: 2 });
const f = () => tf.tidy(() => {
  const x = tf.tensor4d(Array.from({ length: 4 * 9 * 9 * 8 }, (_, i) => Math.sin(i)), [4, 9, 9, 8]);
  const w = tf.tensor4d(Array.from({ length: 3 * 3 * 8 * 16 }, (_, i) => Math.cos(i)), [3, 3, 8, 16]);
  const g = tf.grads((a, b) => tf.sum(tf.square(tf.conv2d(a, b, 2, 'same'))))([x, w]);
  const m = tf.matMul(tf.reshape(x, [4 * 81, 8]), tf.reshape(x, [4 * 81, 8]), true, false);
  return [...g, m].map((t) => Array.from(t.dataSync()));
});
const onWasm = f();
await tf.setBackend('cpu');
const onCpu = f();
let err = 0;
onCpu.forEach((c, i) => { const sc = Math.max(1, ...c.map(Math.abs)); c.forEach((v, j) => { err = Math.max(err, Math.abs(v - onWasm[i][j]) / sc); }); });
console.log('RESULT ' + JSON.stringify({ threads: info.threads, name: info.name, err }));`);
    if (r == null) return; // no vite-node to run TypeScript in a child: nothing to check here
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    expect(line, r.stderr).toBeDefined();
    const res = JSON.parse(line!.slice(7)) as { threads: number; name: string; err: number };
    expect(res.name).toBe('wasm');
    expect(res.threads).toBe(2);
    expect(res.err).toBeLessThan(1e-4);
    expect(r.status).toBe(0); // the idle pthread workers do not keep the process alive
  });

  it("'auto' takes the native kernels when built, else wasm with trellis kernels; 'cpu' works", async () => {
    const info = await useBackend('auto');
    if (info.name === 'tensorflow') return;
    if (info.name === 'trellis-native') {
      expect(info).toMatchObject({ requested: 'auto', kernels: 'trellis-native' });
      expect(info.fellBackFrom).toEqual(['tensorflow-gpu', 'tensorflow']);
    } else {
      expect(info).toMatchObject({ name: 'wasm', requested: 'auto', kernels: 'trellis-wasm' });
      expect(info.fellBackFrom).toEqual(['tensorflow-gpu', 'tensorflow', 'trellis-native']);
      expect(info.notes?.join('\n')).toMatch(/trellis-native.*(not installed|not available)/);
    }
    const cpu = await useBackend('cpu');
    expect(cpu).toMatchObject({ name: 'cpu', kernels: 'stock', threads: 1 });
  });
});
