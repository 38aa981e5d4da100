/**
 * Data-movement kernels (Slice, Transpose, PadV2) and a row Softmax for 'trellis-native'. The cpu
 * backend runs these with per-element index arithmetic (Slice of a [16, 13, 124] tensor took ~12 ms
 * in a small transformer's step, its Softmax composes five full-size ops); here each copies
 * contiguous runs of the innermost axis (Transpose in the addon). Float32 only; anything else (other
 * dtypes, Softmax over a non-last axis, Transpose of more than 8 axes) runs the cpu kernel.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon.js';
import { alloc, count, f32, output, type Fallback } from './kernels.js';

type KernelArgs = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };

/**
 * A kernel over one float32 input `inputName`: `run` returns the output shape and values, or null
 * when it does not cover the case (then the cpu kernel runs).
 */
function floatKernel<A>(
  name: string, inputName: string, fallback: Fallback,
  run: (x: TensorInfo, xv: Float32Array, attrs: A, backend: unknown) => [number[], Float32Array] | null,
): KernelFunc {
  return ((args: KernelArgs) => {
    const x = args.inputs[inputName] as TensorInfo;
    const xv = f32(args.backend, x);
    const result = xv == null || x.shape.length === 0 ? null : run(x, xv, (args.attrs ?? {}) as unknown as A, args.backend);
    if (result == null) {
      count(name, false);
      return fallback(name, args);
    }
    count(name, true);
    return output(args.backend, result[0], result[1]);
  }) as unknown as KernelFunc;
}

function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = (s[i + 1] as number) * (shape[i + 1] as number);
  return s;
}

/**
 * Copies a box of `x` (shape `xShape`) starting at `begin` with extent `size` into `dst`, whose
 * rows have the box's innermost extent, starting at `dstOffset(outerIndex)`: the shared walk of
 * Slice (dense destination) and PadV2 (destination with margins).
 */
function copyBox(
  x: Float32Array, xShape: readonly number[], begin: readonly number[], size: readonly number[],
  dst: Float32Array, dstStrides: readonly number[], dstBegin: readonly number[],
): void {
  const rank = xShape.length;
  const xs = stridesOf(xShape);
  const run = size[rank - 1] as number;
  const outerRank = rank - 1;
  const idx = new Array<number>(outerRank).fill(0);
  const rows = size.slice(0, outerRank).reduce((a, b) => a * b, 1);
  for (let r = 0; r < rows; r++) {
    let src = (begin[rank - 1] as number) * (xs[rank - 1] as number);
    let dstOff = (dstBegin[rank - 1] as number) * (dstStrides[rank - 1] as number);
    for (let d = 0; d < outerRank; d++) {
      src += ((begin[d] as number) + (idx[d] as number)) * (xs[d] as number);
      dstOff += ((dstBegin[d] as number) + (idx[d] as number)) * (dstStrides[d] as number);
    }
    dst.set(x.subarray(src, src + run), dstOff);
    for (let d = outerRank - 1; d >= 0; d--) {
      idx[d] = (idx[d] as number) + 1;
      if ((idx[d] as number) < (size[d] as number)) break;
      idx[d] = 0;
    }
  }
}

const sliceKernel = (fallback: Fallback): KernelFunc =>
  floatKernel<tf.SliceAttrs>('Slice', 'x', fallback, (x, xv, attrs, backend) => {
    const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, attrs.begin, attrs.size) as [number[], number[]];
    tf.slice_util.assertParamsValid(x as unknown as tf.Tensor, begin, size);
    const dst = alloc(backend, size.reduce((a, b) => a * b, 1));
    if (dst.length > 0) copyBox(xv, x.shape, begin, size, dst, stridesOf(size), new Array<number>(size.length).fill(0));
    return [size, dst];
  });

const padKernel = (fallback: Fallback): KernelFunc =>
  floatKernel<tf.PadV2Attrs>('PadV2', 'x', fallback, (x, xv, attrs, backend) => {
    if (attrs.paddings.some(([a, b]) => a < 0 || b < 0)) return null;
    const shape = x.shape.map((d, i) => d + (attrs.paddings[i]![0] + attrs.paddings[i]![1]));
    const dst = alloc(backend, shape.reduce((a, b) => a * b, 1));
    dst.fill(attrs.constantValue ?? 0);
    if (xv.length > 0) {
      copyBox(xv, x.shape, new Array<number>(x.shape.length).fill(0), x.shape, dst, stridesOf(shape), attrs.paddings.map(([a]) => a));
    }
    return [shape, dst];
  });

/** The most axes the native transpose takes (native/kernels.h kMaxTransposeRank); more run the cpu kernel. */
const MAX_TRANSPOSE_RANK = 8;

const transposeKernel = (addon: NativeAddon, fallback: Fallback): KernelFunc =>
  floatKernel<tf.TransposeAttrs>('Transpose', 'x', fallback, (x, xv, { perm }, backend) => {
    const rank = x.shape.length;
    if (perm.length !== rank || rank > MAX_TRANSPOSE_RANK) return null;
    const dst = alloc(backend, xv.length);
    addon.transpose(xv, dst, [...x.shape], [...perm]);
    return [perm.map((p) => x.shape[p] as number), dst];
  });

const softmaxKernel = (fallback: Fallback): KernelFunc =>
  floatKernel<tf.SoftmaxAttrs>('Softmax', 'logits', fallback, (x, xv, { dim }, backend) => {
    const rank = x.shape.length;
    if (dim !== -1 && dim !== rank - 1) return null;
    const cols = x.shape[rank - 1] as number;
    const dst = alloc(backend, xv.length);
    for (let r = 0; r < xv.length; r += cols) {
      let max = -Infinity;
      for (let j = 0; j < cols; j++) max = Math.max(max, xv[r + j] as number);
      let sum = 0;
      for (let j = 0; j < cols; j++) {
        const e = Math.fround(Math.exp((xv[r + j] as number) - max));
        dst[r + j] = e;
        sum += e;
      }
      const total = Math.fround(sum);
      for (let j = 0; j < cols; j++) dst[r + j] = (dst[r + j] as number) / total;
    }
    return [[...x.shape], dst];
  });

/** The layout kernels and Softmax, by tfjs kernel name. */
export function layoutKernelFuncs(addon: NativeAddon, fallback: Fallback): Array<[string, KernelFunc]> {
  return [
    ['Slice', sliceKernel(fallback)],
    ['PadV2', padKernel(fallback)],
    ['Transpose', transposeKernel(addon, fallback)],
    ['Softmax', softmaxKernel(fallback)],
  ];
}
