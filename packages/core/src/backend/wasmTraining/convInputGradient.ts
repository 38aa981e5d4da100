import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { asWasm, dispose, run, stockKernel, transposeInfo, zeroFill, type KernelArgs, type Shape4 } from './heap.js';

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

/** The wasm `Conv2DBackpropInput` kernel: one stride-1 XNNPACK convolution per stride phase. */
export function conv2DBackpropInput(args: KernelArgs): TensorInfo {
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
