import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { asWasm, zeroFill, type KernelArgs, type Pad, type Rounding, type Shape4 } from './heap.js';

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

/** The wasm `DepthwiseConv2dNativeBackpropInput` kernel (stock wasm has none). */
export function depthwiseBackpropInput(args: KernelArgs): TensorInfo {
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

/** The wasm `DepthwiseConv2dNativeBackpropFilter` kernel (stock wasm has none). */
export function depthwiseBackpropFilter(args: KernelArgs): TensorInfo {
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
