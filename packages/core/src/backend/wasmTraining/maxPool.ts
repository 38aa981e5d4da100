import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { wasmSimdKernels } from '../wasmSimd.js';
import { asWasm, zeroFill, type KernelArgs, type Shape4 } from './heap.js';

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

/** The wasm `MaxPoolGrad` kernel (first maximum wins; no FLT_MIN start). */
export function maxPoolGrad(args: KernelArgs): TensorInfo {
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
    // Core's SIMD kernel (same rule, four channels at a time; ~4x faster), else the JS loop.
    const simd = input.dtype === 'float32' ? wasmSimdKernels(backend) : null;
    if (simd != null) simd.maxPoolGrad2x2(simd.offset(input), simd.offset(dy), simd.offset(out), g.n, g.h, g.w, g.c, g.oh, g.ow, g.sh, g.sw);
    else maxPoolGrad2x2(xv as Float32Array, dyv, dx, g);
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

/** The wasm `MaxPoolWithArgmax` kernel (first maximum wins; no FLT_MIN start). */
export function maxPoolWithArgmax(args: KernelArgs): TensorInfo[] {
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
