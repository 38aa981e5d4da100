/**
 * Training kernels for TensorFlow.js's wasm backend.
 *
 * Stock `@tensorflow/tfjs-backend-wasm` 4.22 runs inference well (XNNPACK) but training poorly or
 * not at all:
 *
 * - missing: `Conv2DBackpropFilter` (so no convolution trains), the depthwise backprop kernels,
 *   `UnsortedSegmentSum` (the gradient of `gather`, i.e. of embeddings), `Einsum`;
 * - wrong: `MaxPoolGrad` / `MaxPoolWithArgmax` start their running maximum at FLT_MIN (the smallest
 *   positive float), so windows whose values are all ≤ 0 get no gradient;
 * - slow: `BatchMatMul` / `_FusedMatMul` use XNNPACK only for unbatched, untransposed operands (every
 *   matmul gradient transposes one; the rest is a scalar loop ~20x slower); `Conv2DBackpropInput`
 *   is a scalar loop; `Sum` / `Mean` over leading axes (batch statistics) transpose first;
 *   `Identity` (the engine's clone of every tensor saved for backprop) copies; the FusedBatchNorm
 *   gradient tiles `rsqrt(var + eps)` to the full input shape.
 *
 * {@link registerWasmTrainingKernels} fixes all of these, building on the backend's own XNNPACK
 * kernels (Conv2D, AvgPool, Transpose) and on core's SIMD kernels (wasmSimd.ts: matmuls of any
 * transposes, the convolution filter gradient, Adam and SGD; without them — `TRELLIS_WASM_SIMD=0` —
 * transposes + XNNPACK's BatchMatMul), using a JS loop over the wasm heap only where no kernel fits
 * (depthwise backprop, segment sums, max-pool argmax).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type {
  DataType,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  Tensor,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { TrellisError } from '../errors.js';
import { batchNormGradients, registerBackendGradient, type GradientMap } from './backendGradients.js';
import { registerFusedAdam } from './fusedAdam.js';
import { registerFusedSgd, type SgdConstants } from './fusedSgd.js';
import { wasmSimdEnabled, wasmSimdKernels, type WasmSimdKernels } from './wasmSimd.js';

/** The parts of tfjs-backend-wasm's `BackendWasm` these kernels use. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

type KernelArgs = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };
type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;
type Shape4 = [number, number, number, number];

const BACKEND = 'wasm';
/** Marks configs created here, so registration stays idempotent even across module copies. */
const MARK = '__trellisWasmTraining';
/** Where a wrapped kernel keeps the stock kernel it wraps. */
const ORIGINAL = '__trellisOriginal';

type Marked<T> = T & { [MARK]?: true; [ORIGINAL]?: T };

function asWasm(backend: unknown): WasmBackendLike {
  return backend as WasmBackendLike;
}

function stockKernel(name: string): KernelConfig {
  const k = tf.getKernel(name, BACKEND) as Marked<KernelConfig> | undefined;
  if (k == null) {
    throw new TrellisError(
      'WASM_BACKEND_NOT_LOADED',
      `The wasm backend has no '${name}' kernel registered.`,
      "Import '@tensorflow/tfjs-backend-wasm' (or call useBackend('wasm')) before registerWasmTrainingKernels().",
      { kernel: name },
    );
  }
  return k[ORIGINAL] ?? k;
}

/** Runs a kernel registered for wasm directly on the backend (no engine bookkeeping, no tape). */
function run(name: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap, backend: unknown): TensorInfo {
  const k = stockKernel(name);
  const out = (k.kernelFunc as (a: KernelArgs) => TensorInfo | TensorInfo[])({ inputs, backend, attrs });
  const first = Array.isArray(out) ? out[0] : out;
  if (first == null) throw new Error(`wasm kernel ${name} returned no output`);
  return first;
}

function dispose(backend: unknown, ...ts: TensorInfo[]): void {
  const b = asWasm(backend);
  for (const t of ts) b.disposeData(t.dataId);
}

function transposeInfo(x: TensorInfo, perm: number[], backend: unknown): TensorInfo {
  return run('Transpose', { x }, { perm }, backend);
}

/** Perm swapping the two innermost axes of a rank-`rank` tensor. */
function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

function zeroFill(view: Float32Array | Int32Array | Uint8Array): void {
  view.fill(0);
}

// --------------------------------------------------------------------------------------------
// Conv2DBackpropFilter: the filter gradient as a convolution over the batch axis.
//
//   dW[kh, kw, ci, co] = Σ_{n, oh, ow} x[n, oh·sh + kh − pt, ow·sw + kw − pl, ci] · dy[n, oh, ow, co]
//
// With x' = x transposed to [Cin, H, W, N] (input channels as the batch, batch as the channels) and
// dy' = dy transposed to [OH, OW, N, Cout] (used as a filter), this is a stride-1 convolution of x'
// with dy' at dilation (sh, sw): its output is [Cin, KH, KW, Cout], transposed back to
// [KH, KW, Cin, Cout]. The convolution runs on XNNPACK through wasm's own Conv2D kernel.
// --------------------------------------------------------------------------------------------
/**
 * Patch sizes (KH·KW·Cin) up to which the filter gradient is an explicit im2col product instead:
 * in the convolution above dy becomes the filter, and XNNPACK's setup (weight packing) of such a
 * huge filter costs ~20x the first layer's forward pass when the layer has one or three input
 * channels. Here patchesᵀ [KH·KW·Cin, N·OH·OW] (built in JS, small) × dy [N·OH·OW, Cout] is one
 * fully-connected product on XNNPACK.
 */
const SMALL_PATCH = 27;

function filterGradSmallPatch(x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo, backend: unknown): TensorInfo {
  const [n, h, w, cin] = x.shape as Shape4;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
  const cout = info.outChannels;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const np = n * oh * ow;
  const b = asWasm(backend);
  const patches = b.makeOutput([kh * kw * cin, np], 'float32');
  const pv = b.typedArrayFromHeap(patches) as Float32Array;
  const xv = b.typedArrayFromHeap(x) as Float32Array;
  let p = 0;
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      for (let ci = 0; ci < cin; ci++) {
        for (let b0 = 0; b0 < n; b0++) {
          for (let y = 0; y < oh; y++) {
            const iy = y * sh + ky - pt;
            if (iy < 0 || iy >= h) {
              pv.fill(0, p, p + ow);
              p += ow;
              continue;
            }
            const row = (b0 * h + iy) * w;
            for (let xo = 0; xo < ow; xo++) {
              const ix = xo * sw + kx - pl;
              pv[p++] = ix >= 0 && ix < w ? (xv[(row + ix) * cin + ci] as number) : 0;
            }
          }
        }
      }
    }
  }
  // A fresh copy of dy as the matmul's weights: wasm caches the packed weights per tensor id and
  // assumes one shape per id, which a reshaped view of dy would not guarantee.
  const dyCopy = run('Identity', { x: dy }, {}, backend);
  const dy2 = run('Reshape', { x: dyCopy }, { shape: [np, cout] }, backend);
  const prod = run('BatchMatMul', { a: patches, b: dy2 }, { transposeA: false, transposeB: false }, backend);
  const out = run('Reshape', { x: prod }, { shape: [kh, kw, cin, cout] }, backend);
  dispose(backend, patches, dyCopy, dy2, prod);
  return out;
}

function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  let x = inputs['x'] as TensorInfo;
  let dy = inputs['dy'] as TensorInfo;
  const temps: TensorInfo[] = [];
  if (attrs.dataFormat === 'NCHW') {
    x = transposeInfo(x, [0, 2, 3, 1], backend);
    dy = transposeInfo(dy, [0, 2, 3, 1], backend);
    temps.push(x, dy);
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast',
  );
  const [n, h, w, cin] = x.shape as Shape4;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
  const cout = info.outChannels;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error('Conv2DBackpropFilter on wasm supports float32 only');
  }
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const simd = wasmSimdKernels(backend);
  if (simd != null) {
    // im2col by chunks of output positions times dy, on core's SIMD GEMM.
    const out = asWasm(backend).makeOutput([kh, kw, cin, cout], 'float32');
    simd.conv2dFilterGrad(simd.offset(x), simd.offset(dy), simd.offset(out), { n, h, w, cin, oh, ow, cout, kh, kw, sh, sw, padTop, padLeft });
    dispose(backend, ...temps);
    return out;
  }
  if (kh * kw * cin <= SMALL_PATCH) {
    const out = filterGradSmallPatch(x, dy, info, backend);
    dispose(backend, ...temps);
    return out;
  }
  // Rows/cols of x (padded) the forward pass actually read: (o − 1)·s + k.
  let padBottom = (oh - 1) * sh + kh - padTop - h;
  let padRight = (ow - 1) * sw + kw - padLeft - w;

  let xt = transposeInfo(x, [3, 1, 2, 0], backend); // [Cin, H, W, N]
  temps.push(xt);
  if (padBottom < 0 || padRight < 0) {
    // The forward pass never read the last rows/cols (e.g. 'valid' with stride 2): crop them.
    const keepH = padBottom < 0 ? h + padBottom : h;
    const keepW = padRight < 0 ? w + padRight : w;
    xt = run('Slice', { x: xt }, { begin: [0, 0, 0, 0], size: [cin, keepH, keepW, n] }, backend);
    temps.push(xt);
    padBottom = Math.max(0, padBottom);
    padRight = Math.max(0, padRight);
  }
  const dyt = transposeInfo(dy, [1, 2, 0, 3], backend); // [OH, OW, N, Cout]
  temps.push(dyt);
  const pad: tf.backend_util.ExplicitPadding = [[0, 0], [padTop, padBottom], [padLeft, padRight], [0, 0]];
  const conv = run(
    'Conv2D',
    { x: xt, filter: dyt },
    { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [sh, sw], dimRoundingMode: undefined } as unknown as NamedAttrMap,
    backend,
  ); // [Cin, KH, KW, Cout]
  temps.push(conv);
  const out = transposeInfo(conv, [1, 2, 0, 3], backend);
  dispose(backend, ...temps);
  if (out.shape.join() !== [kh, kw, cin, cout].join()) {
    throw new Error(`Conv2DBackpropFilter: internal shape mismatch ${out.shape} vs ${[kh, kw, cin, cout]}`);
  }
  return out;
}

// --------------------------------------------------------------------------------------------
// Conv2DBackpropInput. The stock wasm kernel is a scalar C++ loop (it dominated ResNet training
// time). Here it becomes stride-1 convolutions on XNNPACK (wasm's Conv2D), one per stride phase:
//
//   dx[h] = Σ_{oh·s + kh − pt = h} dy[oh] · W[kh]ᵀ
//
// Rows h with (h + pt) mod s = r only see the filter taps kh = r, r + s, r + 2s, …, so for each
// phase (r_h, r_w) dx restricted to that phase is a stride-1 "full" convolution of dy with that
// sub-filter, flipped and with in/out channels swapped. The phases are interleaved back into dx.
// With stride 1 there is one phase: the classic flipped-filter convolution. No multiply-adds are
// spent on inserted zeros.
// --------------------------------------------------------------------------------------------
interface Phase {
  /** First tap (= phase), number of taps, first q, number of q (output rows of this phase). */
  r: number; taps: number; q0: number; count: number;
  /** Conv padding before/after along this axis (negative: crop dy instead). */
  padBefore: number; padAfter: number;
}

function phases(k: number, s: number, padStart: number, inSize: number, outSize: number): Phase[] {
  const out: Phase[] = [];
  for (let r = 0; r < s; r++) {
    const taps = r < k ? Math.ceil((k - r) / s) : 0;
    const q0 = Math.ceil((padStart - r) / s);
    const q1 = Math.floor((inSize - 1 + padStart - r) / s);
    const count = Math.max(0, q1 - q0 + 1);
    const padBefore = taps - 1 - q0;
    const padAfter = count - outSize - padBefore + taps - 1;
    out.push({ r, taps, q0, count, padBefore, padAfter });
  }
  return out;
}

/** The phase's sub-filter, flipped, in/out channels swapped: [tapsH, tapsW, Cout, Cin]. */
function phaseFilter(filter: TensorInfo, ph: Phase, pw: Phase, sh: number, sw: number, backend: unknown): TensorInfo {
  const [, kw, cin, cout] = filter.shape as Shape4;
  const b = asWasm(backend);
  const out = b.makeOutput([ph.taps, pw.taps, cout, cin], 'float32');
  const o = b.typedArrayFromHeap(out) as Float32Array;
  const f = b.typedArrayFromHeap(filter) as Float32Array;
  for (let i = 0; i < ph.taps; i++) {
    const fy = ph.r + (ph.taps - 1 - i) * sh;
    for (let j = 0; j < pw.taps; j++) {
      const fx = pw.r + (pw.taps - 1 - j) * sw;
      const src = (fy * kw + fx) * cin * cout;
      const dst = (i * pw.taps + j) * cout * cin;
      for (let ci = 0; ci < cin; ci++) {
        for (let co = 0; co < cout; co++) o[dst + co * cin + ci] = f[src + ci * cout + co] as number;
      }
    }
  }
  return out;
}

/** Conv of dy (stride 1) for one phase; explicit pads, cropping dy where a pad is negative. */
function phaseConv(dy: TensorInfo, sub: TensorInfo, ph: Phase, pw: Phase, backend: unknown): TensorInfo {
  const [n, oh, ow, cout] = dy.shape as Shape4;
  let src = dy;
  const cropTop = Math.max(0, -ph.padBefore);
  const cropBottom = Math.max(0, -ph.padAfter);
  const cropLeft = Math.max(0, -pw.padBefore);
  const cropRight = Math.max(0, -pw.padAfter);
  if (cropTop + cropBottom + cropLeft + cropRight > 0) {
    src = run('Slice', { x: dy }, {
      begin: [0, cropTop, cropLeft, 0],
      size: [n, oh - cropTop - cropBottom, ow - cropLeft - cropRight, cout],
    }, backend);
  }
  const pad: tf.backend_util.ExplicitPadding = [
    [0, 0], [Math.max(0, ph.padBefore), Math.max(0, ph.padAfter)], [Math.max(0, pw.padBefore), Math.max(0, pw.padAfter)], [0, 0],
  ];
  const out = run('Conv2D', { x: src, filter: sub }, {
    strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined,
  } as unknown as NamedAttrMap, backend);
  if (src !== dy) dispose(backend, src);
  return out;
}

function conv2DBackpropInput(args: KernelArgs): TensorInfo {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  let dy = inputs['dy'] as TensorInfo;
  const filter = inputs['filter'] as TensorInfo;
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') {
    return (stockKernel('Conv2DBackpropInput').kernelFunc as (a: KernelArgs) => TensorInfo)(args);
  }
  const nchw = attrs.dataFormat === 'NCHW';
  const s = attrs.inputShape;
  const xShape: Shape4 = nchw ? [s[0], s[2], s[3], s[1]] : [s[0], s[1], s[2], s[3]];
  const info = tf.backend_util.computeConv2DInfo(
    xShape, filter.shape as Shape4, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast',
  );
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
  const [n, h, w, cin] = xShape;
  const temps: TensorInfo[] = [];
  if (nchw) {
    dy = transposeInfo(dy, [0, 2, 3, 1], backend);
    temps.push(dy);
  }
  const rows = phases(kh, sh, info.padInfo.top, h, oh);
  const cols = phases(kw, sw, info.padInfo.left, w, ow);
  const b = asWasm(backend);
  let out: TensorInfo;
  const single = rows.length === 1 && cols.length === 1;
  if (single && rows[0]!.count === h && rows[0]!.q0 === info.padInfo.top && cols[0]!.count === w && cols[0]!.q0 === info.padInfo.left) {
    // Stride 1: the phase's output is dx itself.
    const sub = phaseFilter(filter, rows[0]!, cols[0]!, sh, sw, backend);
    out = phaseConv(dy, sub, rows[0]!, cols[0]!, backend);
    dispose(backend, sub);
  } else {
    out = b.makeOutput([n, h, w, cin], 'float32');
    zeroFill(b.typedArrayFromHeap(out));
    for (const ph of rows) {
      for (const pw of cols) {
        if (ph.taps === 0 || pw.taps === 0 || ph.count === 0 || pw.count === 0) continue; // stays zero
        const sub = phaseFilter(filter, ph, pw, sh, sw, backend);
        const part = phaseConv(dy, sub, ph, pw, backend); // [n, ph.count, pw.count, cin]
        const dst = b.typedArrayFromHeap(out) as Float32Array;
        const src = b.typedArrayFromHeap(part) as Float32Array;
        const pt = info.padInfo.top;
        const pl = info.padInfo.left;
        let from = 0;
        for (let b0 = 0; b0 < n; b0++) {
          for (let i = 0; i < ph.count; i++) {
            const y = (ph.q0 + i) * sh + ph.r - pt;
            const x0 = pw.q0 * sw + pw.r - pl;
            let to = ((b0 * h + y) * w + x0) * cin;
            const step = (sw - 1) * cin;
            for (let j = 0; j < pw.count; j++, to += step) {
              for (let ch = 0; ch < cin; ch++) dst[to++] = src[from++] as number;
            }
          }
        }
        dispose(backend, sub, part);
      }
    }
  }
  if (nchw) {
    temps.push(out);
    out = transposeInfo(out, [0, 3, 1, 2], backend);
  }
  dispose(backend, ...temps);
  return out;
}

// --------------------------------------------------------------------------------------------
// Sum / Mean over a block of axes that is not innermost (batch statistics, bias gradients,
// global average pooling). The stock kernels first move the reduced axes innermost with a slow
// Transpose. Viewing x as [outer, R, 1, inner], the mean over R is an R×1 average pooling, which
// XNNPACK does in one SIMD pass (~30x faster on [128,28,28,32]); the sum is that mean times R.
// --------------------------------------------------------------------------------------------
function reduceWithAvgPool(kind: 'Sum' | 'Mean'): KernelFunc {
  return ((args: KernelArgs) => {
    const { inputs, backend } = args;
    const x = inputs['x'] as TensorInfo;
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const stock = () => (stockKernel(kind).kernelFunc as (a: KernelArgs) => TensorInfo)(args);
    if (x.dtype !== 'float32') return stock();
    const rank = x.shape.length;
    const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((a, b) => a - b);
    if (axes.length === 0 || axes.some((a, i) => a !== (axes[0] as number) + i)) return stock();
    const first = axes[0] as number;
    const last = axes[axes.length - 1] as number;
    const outer = tf.util.sizeFromShape(x.shape.slice(0, first));
    const r = tf.util.sizeFromShape(x.shape.slice(first, last + 1));
    const inner = tf.util.sizeFromShape(x.shape.slice(last + 1));
    // Innermost reductions need no transpose in the stock kernel.
    if (last === rank - 1 || r < 2 || outer * inner === 0) return stock();
    const view: TensorInfo = { dataId: x.dataId, shape: [outer, r, 1, inner], dtype: 'float32' };
    const pooled = run('AvgPool', { x: view }, { filterSize: [r, 1], strides: [1, 1], pad: 'valid' }, backend); // [outer, 1, 1, inner]
    let res = pooled;
    if (kind === 'Sum') {
      const factor = asWasm(backend).makeOutput([], 'float32');
      (asWasm(backend).typedArrayFromHeap(factor) as Float32Array)[0] = r;
      res = run('Multiply', { a: pooled, b: factor }, {}, backend);
      dispose(backend, pooled, factor);
    }
    const kept = x.shape.filter((_, i) => i < first || i > last);
    const outShape = keepDims ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d)) : kept;
    const out = run('Reshape', { x: res }, { shape: outShape }, backend);
    dispose(backend, res);
    return out;
  }) as unknown as KernelFunc;
}

// --------------------------------------------------------------------------------------------
// Identity (and Cast to the same dtype) share the buffer (tensors are immutable), as on the cpu
// backend. The engine runs Identity to clone every tensor it saves for the backward pass, and the
// ReLU gradient casts float32 to float32; stock wasm copies each one.
// --------------------------------------------------------------------------------------------
function castShared(args: KernelArgs): TensorInfo {
  const x = args.inputs['x'] as TensorInfo;
  const { dtype } = args.attrs as unknown as { dtype: DataType };
  if (x.dtype !== dtype || dtype === 'string') return (stockKernel('Cast').kernelFunc as (a: KernelArgs) => TensorInfo)(args);
  (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype };
}

function identityShared(args: KernelArgs): TensorInfo {
  const x = args.inputs['x'] as TensorInfo;
  if (x.dtype === 'string') return (stockKernel('Identity').kernelFunc as (a: KernelArgs) => TensorInfo)(args);
  (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

// --------------------------------------------------------------------------------------------
// Depthwise backprop kernels: direct loops over the wasm heap (depthwise convolutions are cheap:
// no channel mixing, so there is no matmul for XNNPACK to do).
// Filter [KH, KW, C, M]; output channel of (c, m) is c·M + m.
// --------------------------------------------------------------------------------------------
function depthwiseInfo(
  xShape: Shape4, filterShape: Shape4, strides: number | [number, number], dilations: number | [number, number],
  pad: Pad, rounding: Rounding,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, dilations, pad, rounding, true);
}

/**
 * Calls `tap(inBase, dyBase, fBase)` for every (image, output pixel, filter tap) whose input pixel lies
 * inside the image: the offsets of that input pixel's first channel, of the output pixel's first
 * channel in `dy`, and of the tap's first channel in the filter.
 */
function forEachDepthwiseTap(inputShape: Shape4, info: tf.backend_util.Conv2DInfo, tap: (inBase: number, dyBase: number, fBase: number) => void): void {
  const [n, h, w, c] = inputShape;
  const co = info.outChannels;
  const { outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  for (let b0 = 0; b0 < n; b0++) {
    for (let y = 0; y < oh; y++) {
      for (let ky = 0; ky < kh; ky++) {
        const iy = y * sh + ky * dh - pt;
        if (iy < 0 || iy >= h) continue;
        for (let xo = 0; xo < ow; xo++) {
          const dyBase = ((b0 * oh + y) * ow + xo) * co;
          for (let kx = 0; kx < kw; kx++) {
            const ix = xo * sw + kx * dw - pl;
            if (ix < 0 || ix >= w) continue;
            tap(((b0 * h + iy) * w + ix) * c, dyBase, (ky * kw + kx) * co);
          }
        }
      }
    }
  }
}

function depthwiseBackpropInput(args: KernelArgs): TensorInfo {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const dy = inputs['dy'] as TensorInfo;
  const filter = inputs['filter'] as TensorInfo;
  const info = depthwiseInfo(attrs.inputShape, filter.shape as Shape4, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode);
  const b = asWasm(backend);
  const out = b.makeOutput([...attrs.inputShape], 'float32');
  // Views are taken after every allocation: a heap growth detaches older views.
  const dx = b.typedArrayFromHeap(out) as Float32Array;
  const dyv = b.typedArrayFromHeap(dy) as Float32Array;
  const f = b.typedArrayFromHeap(filter) as Float32Array;
  zeroFill(dx);
  const c = attrs.inputShape[3];
  const m = info.outChannels / info.inChannels;
  forEachDepthwiseTap(attrs.inputShape, info, (dxBase, dyBase, fBase) => {
    if (m === 1) {
      for (let ch = 0; ch < c; ch++) dx[dxBase + ch]! += (dyv[dyBase + ch] as number) * (f[fBase + ch] as number);
      return;
    }
    for (let ch = 0; ch < c; ch++) {
      let acc = 0;
      for (let q = 0; q < m; q++) acc += (dyv[dyBase + ch * m + q] as number) * (f[fBase + ch * m + q] as number);
      dx[dxBase + ch]! += acc;
    }
  });
  return out;
}

function depthwiseBackpropFilter(args: KernelArgs): TensorInfo {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const x = inputs['x'] as TensorInfo;
  const dy = inputs['dy'] as TensorInfo;
  const info = depthwiseInfo(x.shape as Shape4, attrs.filterShape, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode);
  const b = asWasm(backend);
  const out = b.makeOutput([...attrs.filterShape], 'float32');
  const df = b.typedArrayFromHeap(out) as Float32Array;
  const xv = b.typedArrayFromHeap(x) as Float32Array;
  const dyv = b.typedArrayFromHeap(dy) as Float32Array;
  zeroFill(df);
  const c = (x.shape as Shape4)[3];
  const m = info.outChannels / info.inChannels;
  forEachDepthwiseTap(x.shape as Shape4, info, (xBase, dyBase, fBase) => {
    if (m === 1) {
      for (let ch = 0; ch < c; ch++) df[fBase + ch]! += (xv[xBase + ch] as number) * (dyv[dyBase + ch] as number);
      return;
    }
    for (let ch = 0; ch < c; ch++) {
      const xval = xv[xBase + ch] as number;
      for (let q = 0; q < m; q++) df[fBase + ch * m + q]! += xval * (dyv[dyBase + ch * m + q] as number);
    }
  });
  return out;
}

// --------------------------------------------------------------------------------------------
// MaxPoolGrad / MaxPoolWithArgmax. The stock wasm (C++) versions start the running maximum at
// FLT_MIN, the smallest *positive* float, so a window whose values are all ≤ 0 gets no gradient
// (and MaxPoolWithArgmax returns 1.2e-38 and index 0 for it); ties go to the last position.
// These pick the first maximum like the cpu backend (and TensorFlow).
// --------------------------------------------------------------------------------------------
interface PoolGeometry {
  n: number; h: number; w: number; c: number; oh: number; ow: number;
  kh: number; kw: number; sh: number; sw: number; dh: number; dw: number; pt: number; pl: number;
}

function poolGeometry(info: tf.backend_util.Conv2DInfo): PoolGeometry {
  return {
    n: info.batchSize, h: info.inHeight, w: info.inWidth, c: info.inChannels,
    oh: info.outHeight, ow: info.outWidth, kh: info.filterHeight, kw: info.filterWidth,
    sh: info.strideHeight, sw: info.strideWidth, dh: info.dilationHeight, dw: info.dilationWidth,
    pt: info.padInfo.top, pl: info.padInfo.left,
  };
}

/**
 * For every output element (NHWC order), the flat input index of the first maximum of its window
 * (−1 when the window holds only padding or NaN), and optionally the maximum itself.
 */
function argmaxPool(x: Float32Array | Int32Array | Uint8Array, g: PoolGeometry, pos: Int32Array, max?: Float32Array | Int32Array | Uint8Array): void {
  const c = g.c;
  const offs = new Int32Array(g.kh * g.kw);
  let o = 0;
  for (let b = 0; b < g.n; b++) {
    for (let y = 0; y < g.oh; y++) {
      for (let xo = 0; xo < g.ow; xo++, o += c) {
        // In-bounds window pixels, in scan order (the first maximum wins, as on cpu).
        let m = 0;
        for (let ky = 0; ky < g.kh; ky++) {
          const iy = y * g.sh + ky * g.dh - g.pt;
          if (iy < 0 || iy >= g.h) continue;
          for (let kx = 0; kx < g.kw; kx++) {
            const ix = xo * g.sw + kx * g.dw - g.pl;
            if (ix >= 0 && ix < g.w) offs[m++] = ((b * g.h + iy) * g.w + ix) * c;
          }
        }
        for (let ch = 0; ch < c; ch++) {
          let bestAt = -1;
          let best = -Infinity;
          for (let k = 0; k < m; k++) {
            const idx = (offs[k] as number) + ch;
            const v = x[idx] as number;
            if (v > best) {
              best = v;
              bestAt = idx;
            }
          }
          pos[o + ch] = bestAt;
          if (max != null) max[o + ch] = bestAt >= 0 ? best : NaN;
        }
      }
    }
  }
}

/** 2x2 windows that do not overlap and never touch padding (the usual `maxPooling2d({ poolSize: 2 })`). */
function isDisjoint2x2(g: PoolGeometry): boolean {
  return g.kh === 2 && g.kw === 2 && g.sh >= 2 && g.sw >= 2 && g.dh === 1 && g.dw === 1 && g.pt === 0 && g.pl === 0 &&
    (g.oh - 1) * g.sh + 2 <= g.h && (g.ow - 1) * g.sw + 2 <= g.w;
}

/**
 * MaxPoolGrad for {@link isDisjoint2x2} windows, into a zeroed `dx`: the same first-maximum rule
 * as {@link argmaxPool} (scan order, strict `>`, no gradient for an all-NaN window), unrolled;
 * every input belongs to at most one window, so the gradient is stored, not accumulated. ~3x faster.
 */
function maxPoolGrad2x2(x: Float32Array, dy: Float32Array, dx: Float32Array, g: PoolGeometry): void {
  const { n, h, w, c, oh, ow, sh, sw } = g;
  const row = w * c;
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      const base = (b * h + y * sh) * row;
      for (let xo = 0; xo < ow; xo++) {
        const p00 = base + xo * sw * c;
        const p10 = p00 + row;
        for (let ch = 0; ch < c; ch++, o++) {
          const i00 = p00 + ch;
          const i10 = p10 + ch;
          let at = -1;
          let best = -Infinity;
          let v = x[i00] as number;
          if (v > best) { best = v; at = i00; }
          v = x[i00 + c] as number;
          if (v > best) { best = v; at = i00 + c; }
          v = x[i10] as number;
          if (v > best) { best = v; at = i10; }
          v = x[i10 + c] as number;
          if (v > best) at = i10 + c;
          if (at >= 0) dx[at] = dy[o] as number;
        }
      }
    }
  }
}

function maxPoolGrad(args: KernelArgs): TensorInfo {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as tf.MaxPoolGradAttrs;
  const dy = inputs['dy'] as TensorInfo;
  const input = inputs['input'] as TensorInfo;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as Shape4, attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode,
  );
  const b = asWasm(backend);
  const out = b.makeOutput(input.shape.slice(), 'float32');
  const dx = b.typedArrayFromHeap(out) as Float32Array;
  const xv = b.typedArrayFromHeap(input);
  const dyv = b.typedArrayFromHeap(dy) as Float32Array;
  zeroFill(dx);
  const g = poolGeometry(info);
  if (isDisjoint2x2(g)) {
    maxPoolGrad2x2(xv as Float32Array, dyv, dx, g);
    return out;
  }
  const pos = new Int32Array(dyv.length);
  argmaxPool(xv, g, pos);
  for (let o = 0; o < pos.length; o++) {
    const p = pos[o] as number;
    if (p >= 0) dx[p]! += dyv[o] as number;
  }
  return out;
}

function maxPoolWithArgmax(args: KernelArgs): TensorInfo[] {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as tf.MaxPoolWithArgmaxAttrs;
  const x = inputs['x'] as TensorInfo;
  const info = tf.backend_util.computePool2DInfo(x.shape as Shape4, attrs.filterSize, attrs.strides, 1, attrs.pad);
  const b = asWasm(backend);
  const pooled = b.makeOutput(info.outShape.slice(), x.dtype);
  const indexes = b.makeOutput(info.outShape.slice(), 'int32');
  const pv = b.typedArrayFromHeap(pooled);
  const iv = b.typedArrayFromHeap(indexes) as Int32Array;
  const xv = b.typedArrayFromHeap(x);
  argmaxPool(xv, poolGeometry(info), iv, pv);
  const perImage = info.inHeight * info.inWidth * info.inChannels;
  for (let o = 0; o < iv.length; o++) {
    const p = iv[o] as number;
    iv[o] = p < 0 ? 0 : attrs.includeBatchInIndex ? p : p % perImage;
  }
  return [pooled, indexes];
}

// --------------------------------------------------------------------------------------------
// UnsortedSegmentSum (the gradient of gather / embeddings): one pass over the rows.
// --------------------------------------------------------------------------------------------
function unsortedSegmentSum(args: KernelArgs): TensorInfo {
  const { inputs, backend } = args;
  const { numSegments } = args.attrs as unknown as tf.UnsortedSegmentSumAttrs;
  const x = inputs['x'] as TensorInfo;
  const ids = inputs['segmentIds'] as TensorInfo;
  const idRank = ids.shape.length;
  const rows = tf.util.sizeFromShape(ids.shape);
  const rowSize = tf.util.sizeFromShape(x.shape.slice(idRank));
  const b = asWasm(backend);
  const out = b.makeOutput([numSegments, ...x.shape.slice(idRank)], x.dtype);
  const o = b.typedArrayFromHeap(out);
  const xv = b.typedArrayFromHeap(x);
  const idv = b.typedArrayFromHeap(ids);
  zeroFill(o);
  for (let r = 0; r < rows; r++) {
    const s = idv[r] as number;
    if (s < 0 || s >= numSegments) continue; // TF semantics: out-of-range ids are dropped.
    const src = r * rowSize;
    const dst = s * rowSize;
    for (let j = 0; j < rowSize; j++) o[dst + j]! += xv[src + j] as number;
  }
  return out;
}

// --------------------------------------------------------------------------------------------
// Einsum (forward only, like every other backend): each operand is transposed into the
// equation's dimension order and padded with size-1 axes, multiplied in (broadcasting), and every
// summed dimension is reduced as soon as no later operand uses it.
// --------------------------------------------------------------------------------------------
function einsum(args: KernelArgs): TensorInfo {
  const { inputs, backend } = args;
  const { equation } = args.attrs as unknown as tf.EinsumAttrs;
  const operands = Object.keys(inputs)
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => inputs[k] as TensorInfo);
  const { allDims, summedDims, idDims } = tf.backend_util.decodeEinsumEquation(equation, operands.length);
  const nDims = allDims.length;
  const sizes = new Array<number>(nDims).fill(1);
  operands.forEach((t, i) => (idDims[i] ?? []).forEach((d, j) => (sizes[d] = t.shape[j] ?? 1)));
  const lastUse = new Array<number>(nDims).fill(-1);
  idDims.forEach((dims, i) => dims.forEach((d) => (lastUse[d] = Math.max(lastUse[d] ?? -1, i))));
  const summed = new Set(summedDims);
  let acc: TensorInfo | null = null;
  const reduced = new Set<number>();
  operands.forEach((t, i) => {
    const dims = idDims[i] ?? [];
    // Transpose so the operand's axes follow the global order, then reshape to full rank.
    const order = dims.map((d, j) => [d, j] as const).sort((p, q) => p[0] - q[0]);
    const perm = order.map(([, j]) => j);
    let cur = t;
    const temps: TensorInfo[] = [];
    if (perm.some((p, j) => p !== j)) {
      cur = transposeInfo(cur, perm, backend);
      temps.push(cur);
    }
    const full = sizes.map((s, d) => (dims.includes(d) ? s : 1));
    cur = run('Reshape', { x: cur }, { shape: full }, backend);
    temps.push(cur);
    if (acc == null) {
      acc = run('Identity', { x: cur }, {}, backend);
    } else {
      const next = run('Multiply', { a: acc, b: cur }, {}, backend);
      dispose(backend, acc);
      acc = next;
    }
    dispose(backend, ...temps);
    const done = [...summed].filter((d) => !reduced.has(d) && (lastUse[d] ?? -1) <= i && (acc as TensorInfo).shape[d] !== 1);
    if (done.length > 0) {
      const next = run('Sum', { x: acc }, { axis: done, keepDims: true }, backend);
      dispose(backend, acc);
      acc = next;
    }
    for (const d of summed) if ((lastUse[d] ?? -1) <= i) reduced.add(d);
  });
  if (acc == null) throw new Error('Einsum needs at least one operand');
  const outShape = sizes.slice(0, nDims - summedDims.length);
  const out = run('Reshape', { x: acc }, { shape: outShape }, backend);
  // Reshape shares the data: copy so the result owns its buffer, then release the accumulator.
  const owned = run('Identity', { x: out }, {}, backend);
  dispose(backend, out, acc);
  return owned;
}

// --------------------------------------------------------------------------------------------
// BatchMatMul / _FusedMatMul. The stock kernels use XNNPACK only when neither operand is
// transposed *and* both have batch size 1; everything else runs a blocked scalar loop (~20x
// slower). So: transposed operands are transposed first (wasm's Transpose kernel); a batched `a`
// against an unbatched `b` is one matrix [batch·M, K] × [K, N]; two batched operands are
// multiplied batch by batch (each slice on XNNPACK) when the slices are big enough to pay for it.
// --------------------------------------------------------------------------------------------
/** Per-slice multiply-adds from which a batch-by-batch XNNPACK loop beats the scalar loop. */
const PER_BATCH_MIN_MACS = 4096;

function sliceCopy(t: TensorInfo, index: number, shape: number[], backend: unknown): TensorInfo {
  const b = asWasm(backend);
  const size = tf.util.sizeFromShape(shape);
  const out = b.makeOutput(shape, t.dtype);
  const dst = b.typedArrayFromHeap(out) as Float32Array;
  const src = b.typedArrayFromHeap(t) as Float32Array;
  dst.set(src.subarray(index * size, (index + 1) * size));
  return out;
}

type MatMulAttrs = { transposeA?: boolean; transposeB?: boolean; activation?: string };

/**
 * A float32 (fused) matmul on core's SIMD GEMM ({@link wasmSimdKernels}): any transposes, an
 * operand broadcast over the batch or equal batches, bias of N values, linear or ReLU activation.
 * Returns null for anything else (the caller falls back to the backend's kernels).
 */
function simdMatMul(simd: WasmSimdKernels, args: KernelArgs): TensorInfo | null {
  const attrs = (args.attrs ?? {}) as MatMulAttrs;
  const a = args.inputs['a'] as TensorInfo;
  const b = args.inputs['b'] as TensorInfo;
  const bias = args.inputs['bias'] as TensorInfo | undefined;
  const activation = attrs.activation ?? 'linear';
  if (args.inputs['preluActivationWeights'] != null || (activation !== 'linear' && activation !== 'relu')) return null;
  const aOuter = a.shape.slice(0, -2);
  const bOuter = b.shape.slice(0, -2);
  const aBatch = tf.util.sizeFromShape(aOuter);
  const bBatch = tf.util.sizeFromShape(bOuter);
  const sameOuter = aOuter.length === bOuter.length && aOuter.every((d, i) => d === bOuter[i]);
  if (!(aBatch === 1 || bBatch === 1 || sameOuter)) return null;
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const m = attrs.transposeA ? ac : ar;
  const k = attrs.transposeA ? ar : ac;
  const n = attrs.transposeB ? br : bc;
  if ((attrs.transposeB ? bc : br) !== k) return null;
  if (bias != null && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== n)) return null;
  const outShape = [...tf.broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter), m, n];
  const out = asWasm(args.backend).makeOutput(outShape, 'float32');
  if (tf.util.sizeFromShape(outShape) === 0) return out;
  // A batched, untransposed `a` against one `b` is a single [batch·M, K] × [K, N] product.
  const flat = bBatch === 1 && !attrs.transposeA;
  const batch = flat ? 1 : Math.max(aBatch, bBatch);
  const rows = flat ? aBatch * m : m;
  simd.gemm(
    batch, rows, n, k,
    {
      ptr: simd.offset(a), batchStride: aBatch === 1 ? 0 : m * k,
      rowStride: attrs.transposeA ? 1 : k, colStride: attrs.transposeA ? m : 1,
    },
    {
      ptr: simd.offset(b), batchStride: bBatch === 1 ? 0 : k * n,
      rowStride: attrs.transposeB ? 1 : n, colStride: attrs.transposeB ? k : 1,
    },
    simd.offset(out), bias != null ? simd.offset(bias) : 0, activation === 'relu',
  );
  return out;
}

function fastMatMul(original: KernelConfig): KernelFunc {
  const kernelFunc = original.kernelFunc as (a: KernelArgs) => TensorInfo;
  return ((args: KernelArgs) => {
    const attrs = (args.attrs ?? {}) as MatMulAttrs;
    const { backend } = args;
    let a = args.inputs['a'] as TensorInfo;
    let b = args.inputs['b'] as TensorInfo;
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) {
      return kernelFunc(args);
    }
    const simd = wasmSimdKernels(backend);
    if (simd != null) {
      const out = simdMatMul(simd, args);
      if (out != null) return out;
    }
    const aOuter = a.shape.slice(0, -2);
    const bOuter = b.shape.slice(0, -2);
    const aBatch = tf.util.sizeFromShape(aOuter);
    const bBatch = tf.util.sizeFromShape(bOuter);
    if (!attrs.transposeA && !attrs.transposeB && aBatch === 1 && bBatch === 1) return kernelFunc(args);
    const temps: TensorInfo[] = [];
    try {
      if (attrs.transposeA) {
        a = transposeInfo(a, swapLastTwo(a.shape.length), backend);
        temps.push(a);
      }
      if (attrs.transposeB) {
        b = transposeInfo(b, swapLastTwo(b.shape.length), backend);
        temps.push(b);
      }
      const m = a.shape[a.shape.length - 2] as number;
      const k = a.shape[a.shape.length - 1] as number;
      const n = b.shape[b.shape.length - 1] as number;
      const plainAttrs = { ...(args.attrs ?? {}), transposeA: false, transposeB: false };
      const prelu = args.inputs['preluActivationWeights'] as TensorInfo | undefined;
      const sameOuter = aOuter.length === bOuter.length && aOuter.every((d, i) => d === bOuter[i]);
      const simpleBatch = aBatch === 1 || bBatch === 1 || sameOuter;
      if (prelu != null || !simpleBatch || (aBatch === 1 && bBatch === 1)) {
        return kernelFunc({ inputs: { ...args.inputs, a, b }, backend, attrs: plainAttrs });
      }
      const outShape = [...tf.broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter), m, n];
      if (bBatch === 1) {
        // [batch, M, K] × [K, N] is one [batch·M, K] × [K, N] product.
        const a3 = run('Reshape', { x: a }, { shape: [1, aBatch * m, k] }, backend);
        const b3 = run('Reshape', { x: b }, { shape: [1, k, n] }, backend);
        temps.push(a3, b3);
        const res = kernelFunc({ inputs: { ...args.inputs, a: a3, b: b3 }, backend, attrs: plainAttrs });
        temps.push(res);
        return run('Reshape', { x: res }, { shape: outShape }, backend);
      }
      if (m * n * k < PER_BATCH_MIN_MACS) {
        return kernelFunc({ inputs: { ...args.inputs, a, b }, backend, attrs: plainAttrs });
      }
      const batch = Math.max(aBatch, bBatch);
      const wasm = asWasm(backend);
      const out = wasm.makeOutput(outShape, 'float32');
      const a3 = aBatch === 1 ? run('Reshape', { x: a }, { shape: [1, m, k] }, backend) : null;
      if (a3 != null) temps.push(a3);
      for (let i = 0; i < batch; i++) {
        const ai = a3 ?? sliceCopy(a, i, [1, m, k], backend);
        const bi = sliceCopy(b, i, [1, k, n], backend);
        const res = kernelFunc({ inputs: { ...args.inputs, a: ai, b: bi }, backend, attrs: plainAttrs });
        (wasm.typedArrayFromHeap(out) as Float32Array).set(wasm.typedArrayFromHeap(res) as Float32Array, i * m * n);
        dispose(backend, res, bi);
        if (a3 == null) dispose(backend, ai);
      }
      return out;
    } finally {
      dispose(backend, ...temps);
    }
  }) as unknown as KernelFunc;
}

// --------------------------------------------------------------------------------------------
// FusedBatchNorm forward on core's SIMD kernel (stock: a scalar loop), for per-channel statistics
// over the innermost axis; anything else goes to the stock kernel.
// --------------------------------------------------------------------------------------------
function fusedBatchNorm(args: KernelArgs): TensorInfo {
  const { x, mean, variance, offset, scale } = args.inputs as Record<string, TensorInfo | undefined>;
  const simd = wasmSimdKernels(args.backend);
  const channels = x!.shape[x!.shape.length - 1] ?? 0;
  const perChannel = (t: TensorInfo | undefined): boolean => t == null || (t.dtype === 'float32' && tf.util.sizeFromShape(t.shape) === channels);
  if (simd == null || x!.dtype !== 'float32' || x!.shape.length < 1 || channels === 0 || ![mean, variance, offset, scale].every(perChannel) || mean == null || variance == null) {
    return (stockKernel('FusedBatchNorm').kernelFunc as (a: KernelArgs) => TensorInfo)(args);
  }
  const out = asWasm(args.backend).makeOutput(x!.shape, 'float32');
  const size = tf.util.sizeFromShape(x!.shape);
  if (size === 0) return out;
  const p = (t: TensorInfo | undefined): number => (t == null ? 0 : simd.offset(t));
  const eps = (args.attrs as unknown as { varianceEpsilon: number }).varianceEpsilon;
  simd.batchNorm(p(x), p(mean), p(variance), p(offset), p(scale), p(out), size / channels, channels, eps);
  return out;
}

// --------------------------------------------------------------------------------------------
// FusedBatchNorm gradient without Tile (broadcasting gives the same values).
// --------------------------------------------------------------------------------------------
function broadcastingBatchNormGrad(dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap): GradientMap | null {
  const [x, mean, variance, scale] = saved as [Tensor, Tensor, Tensor, Tensor | undefined];
  if (Array.isArray(dy) || mean.rank !== 1 || (scale != null && scale.size !== mean.size)) return null;
  const eps = (attrs as unknown as tf.FusedBatchNormAttrs).varianceEpsilon;
  const axes = tf.broadcast_util.getReductionAxes(mean.shape, x.shape);
  const c = mean.shape[0] as number;
  // Computed here, not inside the per-input closures: the engine runs each closure in its own
  // tidy, so tensors shared between them must belong to the enclosing (backprop) scope. When
  // training, every input needs its gradient anyway (mean and variance come from x).
  const sumDy = tf.sum(dy, axes);
  const sumDyXm = tf.sum(tf.mul(dy, tf.sub(x, tf.reshape(mean, [c]))), axes);
  return batchNormGradients((rstd, scaleVec) => tf.mul(dy, tf.mul(rstd, scaleVec)), mean, variance, scale, eps, sumDy, sumDyXm);
}

// --------------------------------------------------------------------------------------------
// Registration
// --------------------------------------------------------------------------------------------
// --------------------------------------------------------------------------------------------
// Adam in one SIMD pass per variable (core's fused-Adam hook), bit-identical to tfjs's eleven ops.
// --------------------------------------------------------------------------------------------
/** The kernel core's fused Adam runs on wasm (inputs value, m, v, g; outputs value', m', v'). */
export const WASM_ADAM_KERNEL = 'TrellisWasmAdam';

function wasmAdam(args: KernelArgs): TensorInfo[] {
  const { value, m, v, g } = args.inputs as Record<string, TensorInfo>;
  const constants = (args.attrs as unknown as { constants: number[] }).constants;
  const simd = wasmSimdKernels(args.backend);
  // registerFusedAdam's `available` keeps this kernel from running without the SIMD kernels.
  if (simd == null) throw new Error(`${WASM_ADAM_KERNEL} needs core's wasm SIMD kernels`);
  const backend = asWasm(args.backend);
  const outs = [value, m, v].map((t) => backend.makeOutput(t!.shape, 'float32')) as [TensorInfo, TensorInfo, TensorInfo];
  const p = (t: TensorInfo): number => simd.offset(t);
  simd.adam(p(value!), p(m!), p(v!), p(g!), p(outs[0]), p(outs[1]), p(outs[2]), tf.util.sizeFromShape(value!.shape), constants);
  return outs;
}

/** The kernel core's fused SGD runs on wasm (inputs value, g and, with momentum, acc; outputs value' and acc'). */
export const WASM_SGD_KERNEL = 'TrellisWasmSgd';

function wasmSgd(args: KernelArgs): TensorInfo[] {
  const { value, acc, g } = args.inputs as Record<string, TensorInfo | undefined>;
  const [momentum, negLr, mode] = (args.attrs as unknown as { constants: SgdConstants }).constants;
  const simd = wasmSimdKernels(args.backend);
  // registerFusedSgd's `available` keeps this kernel from running without the SIMD kernels.
  if (simd == null) throw new Error(`${WASM_SGD_KERNEL} needs core's wasm SIMD kernels`);
  const backend = asWasm(args.backend);
  const outs = (mode === 0 ? [value] : [value, acc]).map((t) => backend.makeOutput(t!.shape, 'float32'));
  const p = (t: TensorInfo | undefined): number => (t == null ? 0 : simd.offset(t));
  simd.sgd(p(value), p(acc), p(g), p(outs[0]), p(outs[1]), tf.util.sizeFromShape(value!.shape), momentum, negLr, mode);
  return outs;
}

const NEW_KERNELS: Array<[string, KernelFunc]> = [
  [WASM_ADAM_KERNEL, wasmAdam as unknown as KernelFunc],
  [WASM_SGD_KERNEL, wasmSgd as unknown as KernelFunc],
  ['Conv2DBackpropFilter', conv2DBackpropFilter as unknown as KernelFunc],
  ['DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput as unknown as KernelFunc],
  ['DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter as unknown as KernelFunc],
  ['UnsortedSegmentSum', unsortedSegmentSum as unknown as KernelFunc],
  ['Einsum', einsum as unknown as KernelFunc],
];
/** Stock wasm kernels replaced outright (they give wrong results). */
const FIXED_KERNELS: Array<[string, KernelFunc]> = [
  ['MaxPoolGrad', maxPoolGrad as unknown as KernelFunc],
  ['MaxPoolWithArgmax', maxPoolWithArgmax as unknown as KernelFunc],
];
/** Stock wasm kernels replaced by faster ones (the stock one stays reachable for fallbacks). */
const FASTER_KERNELS: Array<[string, KernelFunc]> = [
  ['Conv2DBackpropInput', conv2DBackpropInput as unknown as KernelFunc],
  ['Sum', reduceWithAvgPool('Sum')],
  ['Mean', reduceWithAvgPool('Mean')],
  ['Identity', identityShared as unknown as KernelFunc],
  ['Cast', castShared as unknown as KernelFunc],
  ['FusedBatchNorm', fusedBatchNorm as unknown as KernelFunc],
];
const WRAPPED_KERNELS = ['BatchMatMul', '_FusedMatMul'];

/**
 * What {@link registerWasmTrainingKernels} registered (kernel names for backend 'wasm', then
 * `grad:<Kernel>` for gradients it replaced). Filled on the first call.
 */
export const WASM_TRAINING_KERNELS: string[] = [];

/**
 * Registers the training kernels for backend 'wasm' (idempotent; safe to call again, e.g. after
 * importing `@tensorflow/tfjs-layers` late, which re-registers tfjs's stock gradients):
 *
 * - new: `Conv2DBackpropFilter` (a convolution over the batch axis, on XNNPACK),
 *   `DepthwiseConv2dNativeBackpropInput` / `...Filter`, `UnsortedSegmentSum` (heap loops),
 *   `Einsum` (transpose / multiply / sum kernels);
 * - fixed: `MaxPoolGrad`, `MaxPoolWithArgmax` (first maximum wins, like cpu and TensorFlow);
 * - faster: `BatchMatMul`, `_FusedMatMul` (transposes materialised, batches folded or split so
 *   XNNPACK runs), `Conv2DBackpropInput` (per-stride-phase convolutions on XNNPACK), `Sum` / `Mean`
 *   (XNNPACK average pooling), `Identity` / same-dtype `Cast` (share the buffer);
 * - gradient: `FusedBatchNorm` (broadcasts instead of tiling; on any other backend the stock
 *   gradient still runs, unchanged).
 *
 * Needs `@tensorflow/tfjs-backend-wasm` imported first (its kernels are wrapped); the backend need
 * not be initialised. Replaced stock kernels stay reachable (fallbacks for unusual arguments).
 */
export function registerWasmTrainingKernels(): void {
  const registered: string[] = [];
  for (const [name, kernelFunc] of NEW_KERNELS) {
    const existing = tf.getKernel(name, BACKEND) as Marked<KernelConfig> | undefined;
    if (existing?.[MARK]) {
      registered.push(name);
      continue;
    }
    // A stock kernel (a later tfjs-backend-wasm may ship one) is kept.
    if (existing != null) continue;
    const config: Marked<KernelConfig> = { kernelName: name, backendName: BACKEND, kernelFunc, [MARK]: true };
    tf.registerKernel(config);
    registered.push(name);
  }
  for (const [name, kernelFunc] of [...FIXED_KERNELS, ...FASTER_KERNELS]) {
    const existing = tf.getKernel(name, BACKEND) as Marked<KernelConfig> | undefined;
    if (existing?.[MARK]) {
      registered.push(name);
      continue;
    }
    const config: Marked<KernelConfig> = { kernelName: name, backendName: BACKEND, kernelFunc, [MARK]: true };
    if (existing != null) {
      // Keep the stock kernel's setup (its C++ bindings) running: fallbacks call the stock kernel.
      config[ORIGINAL] = existing;
      if (existing.setupFunc != null) config.setupFunc = existing.setupFunc;
      if (existing.disposeFunc != null) config.disposeFunc = existing.disposeFunc;
      tf.unregisterKernel(name, BACKEND);
    }
    tf.registerKernel(config);
    registered.push(name);
  }
  for (const name of WRAPPED_KERNELS) {
    const existing = tf.getKernel(name, BACKEND) as Marked<KernelConfig> | undefined;
    if (existing?.[MARK]) {
      registered.push(name);
      continue;
    }
    const original = stockKernel(name);
    const config: Marked<KernelConfig> = {
      kernelName: name,
      backendName: BACKEND,
      kernelFunc: fastMatMul(original),
      [MARK]: true,
      [ORIGINAL]: original,
    };
    if (original.setupFunc != null) config.setupFunc = original.setupFunc;
    if (original.disposeFunc != null) config.disposeFunc = original.disposeFunc;
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel(config);
    registered.push(name);
  }
  registerBackendGradient('FusedBatchNorm', BACKEND, broadcastingBatchNormGrad);
  registered.push('grad:FusedBatchNorm');
  // One SIMD pass per variable for Adam and SGD; without SIMD kernels tfjs's own ops run (faster than a JS loop).
  const available = (): boolean => wasmSimdKernels(tf.backend()) != null;
  if (wasmSimdEnabled() && registerFusedAdam(BACKEND, { kernelName: WASM_ADAM_KERNEL, available })) registered.push('fusedAdam');
  if (wasmSimdEnabled() && registerFusedSgd(BACKEND, { kernelName: WASM_SGD_KERNEL, available })) registered.push('fusedSgd');
  WASM_TRAINING_KERNELS.splice(0, WASM_TRAINING_KERNELS.length, ...registered);
}

/** Whether {@link registerWasmTrainingKernels} has run in this process (checks the registry). */
export function wasmTrainingKernelsRegistered(): boolean {
  const k = tf.getKernel('Conv2DBackpropFilter', BACKEND) as Marked<KernelConfig> | undefined;
  return k?.[MARK] === true;
}
