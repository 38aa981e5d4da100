/**
 * The native kernel functions: each reads the inputs' Float32Arrays in place (the cpu backend keeps
 * tensor data in JS typed arrays), lets the addon write into a fresh Float32Array that becomes the
 * output tensor's storage, and falls back to the cpu backend's own kernel for anything it does not
 * cover (other dtypes, NCHW, prelu, unusual broadcasting, a oneDNN error).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DataType, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { ACTIVATIONS, type NativeAddon } from './addon.js';

/** The parts of tfjs-backend-cpu's MathBackendCPU the kernels use. */
export interface CpuBackendLike {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: DataType, values?: Float32Array): TensorInfo;
}

type KernelArgs = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };
type Shape4 = [number, number, number, number];

/** The largest C int: sizes above it fall back to the cpu kernel where the addon's index math is 32-bit. */
const INT32_MAX = 2147483647;

/** Runs the cpu backend's kernel of that name (the fallback). */
export type Fallback = (name: string, args: KernelArgs) => TensorInfo | TensorInfo[];

/** Per-kernel counts of native and fallback calls (for tests and run records). */
export const callCounts: Record<string, { native: number; fallback: number }> = {};

/** Counts one call of kernel `name` (native or fallback) in {@link callCounts}. */
export function count(name: string, native: boolean): void {
  const c = (callCounts[name] ??= { native: 0, fallback: 0 });
  if (native) c.native++;
  else c.fallback++;
}

/** The float32 values of `t` on the cpu-style backend, or null (other dtypes, missing input). */
export function f32(backend: unknown, t: TensorInfo | undefined): Float32Array | null {
  if (t == null || t.dtype !== 'float32') return null;
  const v = (backend as CpuBackendLike).data.get(t.dataId).values;
  return v instanceof Float32Array ? v : null;
}

function sizeOf(shape: readonly number[]): number {
  let s = 1;
  for (const d of shape) s *= d;
  return s;
}

/** An output buffer of `n` float32s from the backend's pool (contents undefined: write all of it). */
export function alloc(backend: unknown, n: number): Float32Array {
  const b = backend as { allocOutput?: (n: number) => Float32Array };
  return b.allocOutput != null ? b.allocOutput(n) : new Float32Array(n);
}

/** A float32 tensor of `shape` on `backend` holding `values` (a buffer from {@link alloc}). */
export function output(backend: unknown, shape: number[], values: Float32Array): TensorInfo {
  return (backend as CpuBackendLike).makeTensorInfo(shape, 'float32', values);
}

function activationCode(name: unknown): number | null {
  const a = (name ?? 'linear') as string;
  return a in ACTIVATIONS ? ACTIVATIONS[a as keyof typeof ACTIVATIONS] : null;
}

/** A bias usable natively for a last axis of size n: n elements or 1, laid out along the last axis. */
function biasOk(bias: TensorInfo, n: number): boolean {
  const size = sizeOf(bias.shape);
  if (size === 1) return true;
  return size === n && bias.shape[bias.shape.length - 1] === n;
}

// ------------------------------------------------------------------------------------- matmul
function matmulKernel(addon: NativeAddon, fallback: Fallback, name: 'BatchMatMul' | '_FusedMatMul'): KernelFunc {
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const attrs = (args.attrs ?? {}) as unknown as tf.BatchMatMulAttrs & tf._FusedMatMulAttrs;
    const a = inputs['a'] as TensorInfo;
    const b = inputs['b'] as TensorInfo;
    const bias = inputs['bias'] as TensorInfo | undefined;
    const prelu = inputs['preluActivationWeights'] as TensorInfo | undefined;
    const av = f32(backend, a);
    const bv = f32(backend, b);
    const biasV = bias == null ? null : f32(backend, bias);
    const act = name === '_FusedMatMul' ? activationCode(attrs.activation) : ACTIVATIONS.linear;
    const ra = a.shape.length;
    const rb = b.shape.length;
    const tA = attrs.transposeA === true;
    const tB = attrs.transposeB === true;
    if (av == null || bv == null || act == null || prelu != null || ra < 2 || rb < 2 || (bias != null && biasV == null)) {
      count(name, false);
      return fallback(name, args);
    }
    const m = (tA ? a.shape[ra - 1] : a.shape[ra - 2]) as number;
    const k = (tA ? a.shape[ra - 2] : a.shape[ra - 1]) as number;
    const kb = (tB ? b.shape[rb - 1] : b.shape[rb - 2]) as number;
    const n = (tB ? b.shape[rb - 2] : b.shape[rb - 1]) as number;
    const batchShapeA = a.shape.slice(0, -2);
    const batchShapeB = b.shape.slice(0, -2);
    const batchA = sizeOf(batchShapeA);
    const batchB = sizeOf(batchShapeB);
    let outBatchShape: number[];
    try {
      outBatchShape = tf.broadcast_util.assertAndGetBroadcastShape(batchShapeA, batchShapeB);
    } catch {
      count(name, false);
      return fallback(name, args);
    }
    const batch = sizeOf(outBatchShape);
    const simpleBroadcast = batchA === batchB || batchA === 1 || batchB === 1;
    // batch 0 (an empty stack): the addon takes batch ≥ 1, and there is nothing to compute
    if (k !== kb || !simpleBroadcast || batch === 0 || batch !== Math.max(batchA, batchB) || (bias != null && !biasOk(bias, n))) {
      count(name, false);
      return fallback(name, args);
    }
    const stacked = batchB === 1 && batchA > 1 && !tA;
    if (Math.max(stacked ? batchA * m : m, n, k) > INT32_MAX) {
      // cblas_sgemm takes C ints for M, N, K and the leading dimensions
      count(name, false);
      return fallback(name, args);
    }
    const outShape = [...outBatchShape, m, n];
    const out = alloc(backend, batch * m * n);
    const alpha = attrs.leakyreluAlpha ?? 0.2;
    if (stacked) {
      // A stack of matrices times one matrix: one GEMM with batch·M rows.
      addon.matmul(av, bv, out, 1, batchA * m, n, k, false, tB, 0, 0, biasV, act, alpha);
    } else {
      const sA = batchA === 1 ? 0 : m * k;
      const sB = batchB === 1 ? 0 : k * n;
      addon.matmul(av, bv, out, batch, m, n, k, tA, tB, sA, sB, biasV, act, alpha);
    }
    count(name, true);
    return output(backend, outShape, out);
  }) as unknown as KernelFunc;
}

// ------------------------------------------------------------------------------------- conv
function convParams(info: tf.backend_util.Conv2DInfo): number[] | null {
  const { batchSize, inHeight, inWidth, inChannels, filterHeight, filterWidth, outChannels } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, outHeight, outWidth, padInfo } = info;
  const pt = padInfo.top;
  const pl = padInfo.left;
  const pb = padInfo.bottom;
  const pr = padInfo.right;
  if ([pt, pl, pb, pr].some((p) => !Number.isFinite(p) || p < 0)) return null;
  // oneDNN cannot describe a convolution without input channels (its error used up the one warning)
  if (inChannels === 0) return null;
  // oneDNN's output size rule (floor); tfjs's paddings satisfy it except with unusual rounding modes.
  const ek = (filterHeight - 1) * dilationHeight + 1;
  const ekw = (filterWidth - 1) * dilationWidth + 1;
  if (Math.floor((inHeight + pt + pb - ek) / strideHeight) + 1 !== outHeight) return null;
  if (Math.floor((inWidth + pl + pr - ekw) / strideWidth) + 1 !== outWidth) return null;
  if (outHeight <= 0 || outWidth <= 0) return null;
  return [
    batchSize, inHeight, inWidth, inChannels, filterHeight, filterWidth, outChannels,
    strideHeight, strideWidth, dilationHeight, dilationWidth, pt, pl, pb, pr, outHeight, outWidth,
  ];
}

let convWarned = false;
function convFailed(message: string): void {
  if (!convWarned) {
    convWarned = true;
    console.warn(`@trellis-ml/backend-native: falling back to the cpu kernel (${message})`);
  }
}

function conv2DKernel(addon: NativeAddon, fallback: Fallback, name: 'Conv2D' | 'FusedConv2D'): KernelFunc {
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const attrs = (args.attrs ?? {}) as unknown as tf.FusedConv2DAttrs;
    const x = inputs['x'] as TensorInfo;
    const filter = inputs['filter'] as TensorInfo;
    const bias = inputs['bias'] as TensorInfo | undefined;
    const prelu = inputs['preluActivationWeights'] as TensorInfo | undefined;
    const xv = f32(backend, x);
    const wv = f32(backend, filter);
    const biasV = bias == null ? null : f32(backend, bias);
    const act = name === 'FusedConv2D' ? activationCode(attrs.activation) : ACTIVATIONS.linear;
    const nhwc = attrs.dataFormat == null || attrs.dataFormat === 'NHWC';
    if (xv == null || wv == null || act == null || prelu != null || !nhwc || x.shape.length !== 4 || (bias != null && biasV == null)) {
      count(name, false);
      return fallback(name, args);
    }
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as Shape4, filter.shape as Shape4, attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast',
    );
    const params = convParams(info);
    if (params == null || (bias != null && sizeOf(bias.shape) !== info.outChannels)) {
      count(name, false);
      return fallback(name, args);
    }
    const out = alloc(backend, sizeOf(info.outShape));
    const err = addon.conv(0, params, xv, wv, out, biasV, act, attrs.leakyreluAlpha ?? 0.2);
    if (err != null) {
      convFailed(err);
      count(name, false);
      return fallback(name, args);
    }
    count(name, true);
    return output(backend, info.outShape, out);
  }) as unknown as KernelFunc;
}

function conv2DBackpropInputKernel(addon: NativeAddon, fallback: Fallback): KernelFunc {
  const name = 'Conv2DBackpropInput';
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const attrs = (args.attrs ?? {}) as unknown as tf.Conv2DBackpropInputAttrs;
    const dy = inputs['dy'] as TensorInfo;
    const filter = inputs['filter'] as TensorInfo;
    const dyv = f32(backend, dy);
    const wv = f32(backend, filter);
    const nhwc = attrs.dataFormat == null || attrs.dataFormat === 'NHWC';
    if (dyv == null || wv == null || !nhwc || attrs.inputShape.length !== 4) {
      count(name, false);
      return fallback(name, args);
    }
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape as Shape4, filter.shape as Shape4, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast',
    );
    const params = convParams(info);
    if (params == null || info.outShape.join() !== dy.shape.join()) {
      count(name, false);
      return fallback(name, args);
    }
    const out = alloc(backend, sizeOf(attrs.inputShape));
    const err = addon.conv(1, params, dyv, wv, out, null, 0, 0);
    if (err != null) {
      convFailed(err);
      count(name, false);
      return fallback(name, args);
    }
    count(name, true);
    return output(backend, [...attrs.inputShape], out);
  }) as unknown as KernelFunc;
}

function conv2DBackpropFilterKernel(addon: NativeAddon, fallback: Fallback): KernelFunc {
  const name = 'Conv2DBackpropFilter';
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const attrs = (args.attrs ?? {}) as unknown as tf.Conv2DBackpropFilterAttrs;
    const x = inputs['x'] as TensorInfo;
    const dy = inputs['dy'] as TensorInfo;
    const xv = f32(backend, x);
    const dyv = f32(backend, dy);
    const nhwc = attrs.dataFormat == null || attrs.dataFormat === 'NHWC';
    if (xv == null || dyv == null || !nhwc || x.shape.length !== 4) {
      count(name, false);
      return fallback(name, args);
    }
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as Shape4, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast',
    );
    const params = convParams(info);
    if (params == null || info.outShape.join() !== dy.shape.join()) {
      count(name, false);
      return fallback(name, args);
    }
    const out = alloc(backend, sizeOf(attrs.filterShape));
    const err = addon.conv(2, params, xv, dyv, out, null, 0, 0);
    if (err != null) {
      convFailed(err);
      count(name, false);
      return fallback(name, args);
    }
    count(name, true);
    return output(backend, [...attrs.filterShape], out);
  }) as unknown as KernelFunc;
}

// ------------------------------------------------------------------------------------- pooling
function poolParams(info: tf.backend_util.Conv2DInfo): number[] | null {
  const { batchSize, inHeight, inWidth, inChannels, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const { dilationHeight, dilationWidth, padInfo, outHeight, outWidth } = info;
  if (dilationHeight !== 1 || dilationWidth !== 1 || padInfo.top < 0 || padInfo.left < 0) return null;
  // the addon refuses (throws) an image of more values than its int32 argmax offsets reach
  if (inHeight * inWidth * inChannels > INT32_MAX) return null;
  return [
    batchSize, inHeight, inWidth, inChannels, filterHeight, filterWidth, strideHeight, strideWidth, 1, 1,
    padInfo.top, padInfo.left, outHeight, outWidth,
  ];
}

/**
 * Whether some pooling window lies wholly in the padding (explicit pads ≥ the window, or 'ceil'
 * rounding with a stride above the window). The cpu kernel's average there is 0/0 = NaN; the addon's
 * is not, so AvgPool falls back. Windows move monotonically, so checking the first and last suffices.
 */
function hasEmptyWindow(info: tf.backend_util.Conv2DInfo): boolean {
  const { padInfo, filterHeight, filterWidth, strideHeight, strideWidth, inHeight, inWidth, outHeight, outWidth } = info;
  if (outHeight <= 0 || outWidth <= 0) return false;
  return (
    padInfo.top >= filterHeight || padInfo.left >= filterWidth ||
    (outHeight - 1) * strideHeight - padInfo.top >= inHeight || (outWidth - 1) * strideWidth - padInfo.left >= inWidth
  );
}

function poolKernel(addon: NativeAddon, fallback: Fallback, name: 'MaxPool' | 'AvgPool'): KernelFunc {
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const attrs = (args.attrs ?? {}) as unknown as tf.MaxPoolAttrs;
    const x = inputs['x'] as TensorInfo;
    const xv = f32(backend, x);
    if (xv == null || x.shape.length !== 4) {
      count(name, false);
      return fallback(name, args);
    }
    const info = tf.backend_util.computePool2DInfo(x.shape as Shape4, attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    const params = poolParams(info);
    if (params == null || (name === 'AvgPool' && hasEmptyWindow(info))) {
      count(name, false);
      return fallback(name, args);
    }
    const out = alloc(backend, sizeOf(info.outShape));
    addon.pool(name === 'MaxPool' ? 0 : 1, params, xv, null, out);
    count(name, true);
    return output(backend, info.outShape, out);
  }) as unknown as KernelFunc;
}

function poolGradKernel(addon: NativeAddon, fallback: Fallback, name: 'MaxPoolGrad' | 'AvgPoolGrad'): KernelFunc {
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const attrs = (args.attrs ?? {}) as unknown as tf.MaxPoolGradAttrs;
    const dy = inputs['dy'] as TensorInfo;
    const x = inputs['input'] as TensorInfo;
    const dyv = f32(backend, dy);
    const xv = f32(backend, x);
    if (dyv == null || (name === 'MaxPoolGrad' && xv == null) || x.shape.length !== 4) {
      count(name, false);
      return fallback(name, args);
    }
    const info = tf.backend_util.computePool2DInfo(
      x.shape as Shape4, attrs.filterSize, attrs.strides, 1, attrs.pad, name === 'MaxPoolGrad' ? attrs.dimRoundingMode : undefined,
    );
    const params = poolParams(info);
    if (params == null || info.outShape.join() !== dy.shape.join()) {
      count(name, false);
      return fallback(name, args);
    }
    const out = alloc(backend, sizeOf(x.shape));
    addon.pool(name === 'MaxPoolGrad' ? 2 : 3, params, dyv, name === 'MaxPoolGrad' ? xv : null, out);
    count(name, true);
    return output(backend, [...x.shape], out);
  }) as unknown as KernelFunc;
}

// ------------------------------------------------------------------------------------- batch norm
/** Per-channel parameter usable natively: size C laid out along the last axis, or a scalar. */
function channelParam(t: TensorInfo | undefined, c: number): boolean {
  if (t == null) return true;
  const size = sizeOf(t.shape);
  return size === 1 || (size === c && t.shape[t.shape.length - 1] === c);
}

function batchNormKernel(addon: NativeAddon, fallback: Fallback): KernelFunc {
  const name = 'FusedBatchNorm';
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const attrs = (args.attrs ?? {}) as unknown as tf.FusedBatchNormAttrs;
    const x = inputs['x'] as TensorInfo;
    const mean = inputs['mean'] as TensorInfo;
    const variance = inputs['variance'] as TensorInfo;
    const offset = inputs['offset'] as TensorInfo | undefined;
    const scale = inputs['scale'] as TensorInfo | undefined;
    const c = x.shape[x.shape.length - 1] ?? 1;
    const xv = f32(backend, x);
    const mv = f32(backend, mean);
    const vv = f32(backend, variance);
    const ov = offset == null ? null : f32(backend, offset);
    const sv = scale == null ? null : f32(backend, scale);
    const ok =
      xv != null && mv != null && vv != null && (offset == null || ov != null) && (scale == null || sv != null) &&
      x.shape.length >= 1 && c > 0 && [mean, variance, offset, scale].every((t) => channelParam(t, c));
    if (!ok) {
      count(name, false);
      return fallback(name, args);
    }
    const out = alloc(backend, xv.length);
    addon.batchNorm(xv, mv, vv, ov, sv, out, c, attrs.varianceEpsilon ?? 0.001);
    count(name, true);
    return output(backend, [...x.shape], out);
  }) as unknown as KernelFunc;
}

/** Name of the kernel computing the FusedBatchNorm gradient's pieces (registered by this package). */
export const BATCH_NORM_GRAD_KERNEL = 'TrellisNativeBatchNormGrad';

/** Inputs dy, x, mean, variance, scale?; outputs [dx, Σdy, Σdy·(x − mean)] (sums per channel). */
function batchNormGradKernel(addon: NativeAddon): KernelFunc {
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const attrs = (args.attrs ?? {}) as unknown as { varianceEpsilon: number };
    const x = inputs['x'] as TensorInfo;
    const c = x.shape[x.shape.length - 1] ?? 1;
    const get = (k: string): Float32Array | null => {
      const t = inputs[k] as TensorInfo | undefined;
      return t == null ? null : f32(backend, t);
    };
    const dyv = get('dy');
    const xv = get('x');
    const mv = get('mean');
    const vv = get('variance');
    const sv = get('scale');
    if (dyv == null || xv == null || mv == null || vv == null) throw new Error(`${BATCH_NORM_GRAD_KERNEL}: float32 inputs expected`);
    const dx = alloc(backend, xv.length);
    const sumDy = alloc(backend, c);
    const sumDyXm = alloc(backend, c);
    addon.batchNormGrad(dyv, xv, mv, vv, sv, dx, sumDy, sumDyXm, c, attrs.varianceEpsilon);
    count(BATCH_NORM_GRAD_KERNEL, true);
    return [output(backend, [...x.shape], dx), output(backend, [c], sumDy), output(backend, [c], sumDyXm)];
  }) as unknown as KernelFunc;
}

// ------------------------------------------------------------------------------------- elementwise
const BINARY_OPS: Record<string, number> = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, SquaredDifference: 6 };
const UNARY_OPS: Record<string, number> = { Sqrt: 0, Square: 1, Rsqrt: 2, Neg: 3, Exp: 4, Log: 5, Relu: 6, Abs: 7, Step: 8, Reciprocal: 9, Sigmoid: 10, Tanh: 11 };

/** How an operand of shape `s` maps onto the broadcast output `out`: [mode, inner] or null. */
export function broadcastMode(s: readonly number[], out: readonly number[], total: number): [number, number] | null {
  const size = sizeOf(s);
  if (size === total) return [0, 1];
  if (size === 1) return [1, 1];
  if (s.length > out.length) return null;
  const padded = [...Array<number>(out.length - s.length).fill(1), ...s];
  let first = 0;
  while (first < padded.length && padded[first] === 1) first++;
  let trailing = true;
  for (let i = first; i < out.length; i++) if (padded[i] !== out[i]) trailing = false;
  if (trailing) return [2, size];
  let last = padded.length - 1;
  while (last >= 0 && padded[last] === 1) last--;
  let leading = true;
  for (let i = 0; i <= last; i++) if (padded[i] !== out[i]) leading = false;
  if (leading) return [3, total / size];
  return null;
}

/** `s` (same rank as `out`) equals `out` except a contiguous block of 1s: [outer, mid, inner]. */
export function middleBroadcast(s: readonly number[], out: readonly number[]): [number, number, number] | null {
  if (s.length !== out.length) return null;
  const diff = out.map((d, i) => s[i] !== d);
  const first = diff.indexOf(true);
  const last = diff.lastIndexOf(true);
  if (first < 0) return null;
  for (let i = first; i <= last; i++) if (s[i] !== 1) return null;
  return [sizeOf(out.slice(0, first)), sizeOf(out.slice(first, last + 1)), sizeOf(out.slice(last + 1))];
}

function binaryKernel(addon: NativeAddon, fallback: Fallback, name: string): KernelFunc {
  const op = BINARY_OPS[name] as number;
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const a = inputs['a'] as TensorInfo;
    const b = inputs['b'] as TensorInfo;
    const av = f32(backend, a);
    const bv = f32(backend, b);
    let outShape: number[] | null = null;
    try {
      outShape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
    } catch {
      // the cpu kernel says what is wrong
    }
    if (av == null || bv == null || outShape == null) {
      count(name, false);
      return fallback(name, args);
    }
    const total = sizeOf(outShape);
    const ma = broadcastMode(a.shape, outShape, total);
    const mb = broadcastMode(b.shape, outShape, total);
    if (ma == null || mb == null || total === 0) {
      count(name, false);
      return fallback(name, args);
    }
    const out = alloc(backend, total);
    addon.binary(op, av, bv, out, total, ma[0], mb[0], ma[1], mb[1]);
    count(name, true);
    return output(backend, outShape, out);
  }) as unknown as KernelFunc;
}

function unaryKernel(addon: NativeAddon, fallback: Fallback, name: string): KernelFunc {
  const op = UNARY_OPS[name] as number;
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const x = inputs['x'] as TensorInfo;
    const xv = f32(backend, x);
    if (xv == null || xv.length !== sizeOf(x.shape)) {
      count(name, false);
      return fallback(name, args);
    }
    const out = alloc(backend, xv.length);
    addon.unary(op, xv, out, name === 'Step' ? ((args.attrs?.['alpha'] as number | undefined) ?? 0) : 0);
    count(name, true);
    return output(backend, [...x.shape], out);
  }) as unknown as KernelFunc;
}

function reduceKernel(addon: NativeAddon, fallback: Fallback, name: 'Sum' | 'Mean'): KernelFunc {
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const attrs = (args.attrs ?? {}) as unknown as tf.SumAttrs;
    const x = inputs['x'] as TensorInfo;
    const xv = f32(backend, x);
    const rank = x.shape.length;
    if (xv == null || rank === 0 || xv.length === 0) {
      count(name, false);
      return fallback(name, args);
    }
    const axes = [...new Set(tf.util.parseAxisParam(attrs.axis, x.shape))].sort((p, q) => p - q);
    const k = axes.length;
    const contiguous = k > 0 && axes.every((v, i) => v === (axes[0] as number) + i);
    if (!contiguous) {
      count(name, false);
      return fallback(name, args);
    }
    // x as [outer, reduced, inner]; leading (outer = 1), trailing (inner = 1) or a middle block.
    const reduced = sizeOf(axes.map((i) => x.shape[i] as number));
    const outer = sizeOf(x.shape.slice(0, axes[0] as number));
    const inner = sizeOf(x.shape.slice((axes[k - 1] as number) + 1));
    const kept = xv.length / reduced;
    const outShape = attrs.keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    const out = alloc(backend, kept);
    const scale = name === 'Mean' ? 1 / reduced : 1;
    if (outer === 1) addon.reduceSum(xv, out, reduced, inner, true, scale);
    else if (inner === 1) addon.reduceSum(xv, out, outer, reduced, false, scale);
    else {
      for (let o = 0; o < outer; o++) {
        addon.reduceSum(xv.subarray(o * reduced * inner, (o + 1) * reduced * inner), out.subarray(o * inner, (o + 1) * inner), reduced, inner, true, scale);
      }
    }
    count(name, true);
    return output(backend, outShape, out);
  }) as unknown as KernelFunc;
}

/** Name of the kernel `out = op(a, b)` for the gradient helpers (attrs: op = 7 for 2·a·b, 8 for a·[b > 0], 9 for a·(b·(1 − b))). */
export const GRAD_BINARY_KERNEL = 'TrellisNativeGradBinary';
/** Name of the kernel broadcasting x to attrs.shape times attrs.scale (the Mean gradient). */
export const BROADCAST_SCALE_KERNEL = 'TrellisNativeBroadcastScale';

function gradBinaryKernel(addon: NativeAddon): KernelFunc {
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const a = inputs['a'] as TensorInfo;
    const b = inputs['b'] as TensorInfo;
    const op = args.attrs?.['op'] as number;
    const av = f32(backend, a);
    const bv = f32(backend, b);
    if (av == null || bv == null || av.length !== bv.length || (op !== 7 && op !== 8 && op !== 9)) throw new Error(`${GRAD_BINARY_KERNEL}: bad inputs`);
    const out = alloc(backend, av.length);
    addon.binary(op, av, bv, out, av.length, 0, 0, 1, 1);
    count(GRAD_BINARY_KERNEL, true);
    return output(backend, [...a.shape], out);
  }) as unknown as KernelFunc;
}

function broadcastScaleKernel(addon: NativeAddon): KernelFunc {
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const x = inputs['x'] as TensorInfo;
    const shape = args.attrs?.['shape'] as number[];
    const scale = args.attrs?.['scale'] as number;
    const xv = f32(backend, x);
    const total = sizeOf(shape);
    const mode = broadcastMode(x.shape, shape, total);
    const mid = mode == null ? middleBroadcast(x.shape, shape) : null;
    if (xv == null || (mode == null && mid == null)) throw new Error(`${BROADCAST_SCALE_KERNEL}: cannot broadcast ${x.shape} to ${shape}`);
    const out = alloc(backend, total);
    if (mode != null) addon.binary(2, xv, new Float32Array([scale]), out, total, mode[0], 1, mode[1], 1);
    else if (mid != null) {
      // [outer, 1, inner] -> [outer, mid, inner] (e.g. the gradient of global average pooling).
      const [outer, m, inner] = mid;
      for (let o = 0; o < outer; o++) {
        const src = xv.subarray(o * inner, (o + 1) * inner);
        for (let j = 0; j < m; j++) {
          const base = (o * m + j) * inner;
          for (let i = 0; i < inner; i++) out[base + i] = (src[i] as number) * scale;
        }
      }
    }
    count(BROADCAST_SCALE_KERNEL, true);
    return output(backend, [...shape], out);
  }) as unknown as KernelFunc;
}

/** Name of the fused Adam kernel: inputs value, m, v, g; attrs constants (8 numbers); outputs [value', m', v']. */
export const ADAM_KERNEL = 'TrellisNativeAdam';

function adamKernel(addon: NativeAddon): KernelFunc {
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const get = (k: string): Float32Array | null => f32(backend, inputs[k] as TensorInfo);
    const value = inputs['value'] as TensorInfo;
    const vv = get('value');
    const mv = get('m');
    const sv = get('v');
    const gv = get('g');
    if (vv == null || mv == null || sv == null || gv == null) throw new Error(`${ADAM_KERNEL}: float32 inputs expected`);
    const c = Float32Array.from(args.attrs?.['constants'] as number[]);
    const n = vv.length;
    const ov = alloc(backend, n);
    const om = alloc(backend, n);
    const os = alloc(backend, n);
    addon.adam(vv, mv, sv, gv, ov, om, os, c);
    count(ADAM_KERNEL, true);
    const shape = [...value.shape];
    return [output(backend, shape, ov), output(backend, shape, om), output(backend, shape, os)];
  }) as unknown as KernelFunc;
}

/**
 * Name of the fused SGD kernel: inputs value, g and (momentum, Nesterov) acc; attr constants
 * [momentum, −lr, mode]; outputs [value'] (plain) or [value', acc'].
 */
export const SGD_KERNEL = 'TrellisNativeSgd';

function sgdKernel(addon: NativeAddon): KernelFunc {
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const value = inputs['value'] as TensorInfo;
    const vv = f32(backend, value);
    const gv = f32(backend, inputs['g'] as TensorInfo);
    const c = Float32Array.from(args.attrs?.['constants'] as number[]);
    const plain = c[2] === 0;
    const av = plain ? null : f32(backend, inputs['acc'] as TensorInfo);
    if (vv == null || gv == null || (!plain && av == null)) throw new Error(`${SGD_KERNEL}: float32 inputs expected`);
    const ov = alloc(backend, vv.length);
    const oa = plain ? null : alloc(backend, vv.length);
    addon.sgd(vv, av, gv, ov, oa, c);
    count(SGD_KERNEL, true);
    const shape = [...value.shape];
    return oa == null ? [output(backend, shape, ov)] : [output(backend, shape, ov), output(backend, shape, oa)];
  }) as unknown as KernelFunc;
}

/** The kernels this package runs natively, by tfjs kernel name. */
export function nativeKernelFuncs(addon: NativeAddon, fallback: Fallback): Array<[string, KernelFunc]> {
  return [
    ['BatchMatMul', matmulKernel(addon, fallback, 'BatchMatMul')],
    ['_FusedMatMul', matmulKernel(addon, fallback, '_FusedMatMul')],
    ['Conv2D', conv2DKernel(addon, fallback, 'Conv2D')],
    ['FusedConv2D', conv2DKernel(addon, fallback, 'FusedConv2D')],
    ['Conv2DBackpropInput', conv2DBackpropInputKernel(addon, fallback)],
    ['Conv2DBackpropFilter', conv2DBackpropFilterKernel(addon, fallback)],
    ['MaxPool', poolKernel(addon, fallback, 'MaxPool')],
    ['AvgPool', poolKernel(addon, fallback, 'AvgPool')],
    ['MaxPoolGrad', poolGradKernel(addon, fallback, 'MaxPoolGrad')],
    ['AvgPoolGrad', poolGradKernel(addon, fallback, 'AvgPoolGrad')],
    ['FusedBatchNorm', batchNormKernel(addon, fallback)],
    [BATCH_NORM_GRAD_KERNEL, batchNormGradKernel(addon)],
    ...Object.keys(BINARY_OPS).map((n): [string, KernelFunc] => [n, binaryKernel(addon, fallback, n)]),
    ...Object.keys(UNARY_OPS).map((n): [string, KernelFunc] => [n, unaryKernel(addon, fallback, n)]),
    [GRAD_BINARY_KERNEL, gradBinaryKernel(addon)],
    [ADAM_KERNEL, adamKernel(addon)],
    [SGD_KERNEL, sgdKernel(addon)],
    [BROADCAST_SCALE_KERNEL, broadcastScaleKernel(addon)],
    ['Sum', reduceKernel(addon, fallback, 'Sum')],
    ['Mean', reduceKernel(addon, fallback, 'Mean')],
  ];
}
