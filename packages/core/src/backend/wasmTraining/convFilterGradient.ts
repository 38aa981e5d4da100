import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { wasmSimdKernels } from '../wasmSimd.js';
import { asWasm, dispose, run, transposeInfo, type KernelArgs, type Shape4 } from './heap.js';

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

/** The wasm `Conv2DBackpropFilter` kernel (stock wasm has none). */
export function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
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
