import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, Tensor, TensorInfo } from '@tensorflow/tfjs-core';
import { batchNormGradients, type GradientMap } from '../backendGradients.js';
import { wasmSimdKernels } from '../wasmSimd.js';
import { asWasm, stockKernel, type KernelArgs } from './heap.js';

// --------------------------------------------------------------------------------------------
// FusedBatchNorm forward on core's SIMD kernel (stock: a scalar loop), for per-channel statistics
// over the innermost axis; anything else goes to the stock kernel.
// --------------------------------------------------------------------------------------------
/** The wasm `FusedBatchNorm` kernel: per-channel statistics on core's SIMD kernel. */
export function fusedBatchNorm(args: KernelArgs): TensorInfo {
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
// FusedBatchNorm gradient without Tile (broadcasting gives the same values), without core's SIMD kernels.
// --------------------------------------------------------------------------------------------
/** The `FusedBatchNorm` gradient on wasm: broadcasts instead of tiling. */
export function broadcastingBatchNormGrad(dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap): GradientMap | null {
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
// Batch statistics (core's fused moments) and the batch-norm gradient in one SIMD pass each.
// tfjs runs Mean, Sub, Square, Mean for the statistics, and their gradients and the batch-norm
// gradient as a dozen full-size ops whose channel broadcasts are scalar loops on wasm.
// --------------------------------------------------------------------------------------------
/** The kernel core's fused moments run on wasm: input x; outputs mean, variance ([C]). */
export const WASM_MOMENTS_KERNEL = 'TrellisWasmMoments';
/** The gradient kernel of {@link WASM_MOMENTS_KERNEL}: inputs x, mean, dmean, dvar; output dx. */
export const WASM_MOMENTS_GRAD_KERNEL = 'TrellisWasmMomentsGrad';
/** The batch-norm gradient's pass: inputs dy, x, mean, variance (and scale); outputs dx, Σdy, Σdy·(x − mean). */
export const WASM_BATCH_NORM_GRAD_KERNEL = 'TrellisWasmBatchNormGrad';

function simdOrThrow(backend: unknown, kernel: string): NonNullable<ReturnType<typeof wasmSimdKernels>> {
  const simd = wasmSimdKernels(backend);
  // The registrations' availability checks keep these kernels from running without the SIMD kernels.
  if (simd == null) throw new Error(`${kernel} needs core's wasm SIMD kernels`);
  return simd;
}

/** The wasm kernel {@link WASM_MOMENTS_KERNEL}. */
export function wasmMoments(args: KernelArgs): TensorInfo[] {
  const x = args.inputs['x'] as TensorInfo;
  const simd = simdOrThrow(args.backend, WASM_MOMENTS_KERNEL);
  const c = x.shape[x.shape.length - 1] as number;
  const backend = asWasm(args.backend);
  const mean = backend.makeOutput([c], 'float32');
  const variance = backend.makeOutput([c], 'float32');
  simd.moments(simd.offset(x), simd.offset(mean), simd.offset(variance), tf.util.sizeFromShape(x.shape) / c, c);
  return [mean, variance];
}

/** The wasm kernel {@link WASM_MOMENTS_GRAD_KERNEL}. */
export function wasmMomentsGrad(args: KernelArgs): TensorInfo {
  const { x, mean, dmean, dvar } = args.inputs as Record<string, TensorInfo>;
  const simd = simdOrThrow(args.backend, WASM_MOMENTS_GRAD_KERNEL);
  const c = x!.shape[x!.shape.length - 1] as number;
  const dx = asWasm(args.backend).makeOutput(x!.shape, 'float32');
  const p = (t: TensorInfo): number => simd.offset(t);
  simd.momentsGrad(p(x!), p(mean!), p(dmean!), p(dvar!), p(dx), tf.util.sizeFromShape(x!.shape) / c, c);
  return dx;
}

/** The wasm kernel {@link WASM_BATCH_NORM_GRAD_KERNEL}. */
export function wasmBatchNormGradPass(args: KernelArgs): TensorInfo[] {
  const { dy, x, mean, variance, scale } = args.inputs as Record<string, TensorInfo | undefined>;
  const simd = simdOrThrow(args.backend, WASM_BATCH_NORM_GRAD_KERNEL);
  const eps = (args.attrs as unknown as { varianceEpsilon: number }).varianceEpsilon;
  const c = x!.shape[x!.shape.length - 1] as number;
  const backend = asWasm(args.backend);
  const dx = backend.makeOutput(x!.shape, 'float32');
  const sumDy = backend.makeOutput([c], 'float32');
  const sumDyXm = backend.makeOutput([c], 'float32');
  const p = (t: TensorInfo | undefined): number => (t == null ? 0 : simd.offset(t));
  simd.batchNormGrad(p(dy), p(x), p(mean), p(variance), p(scale), p(dx), p(sumDy), p(sumDyXm), tf.util.sizeFromShape(x!.shape) / c, c, eps);
  return [dx, sumDy, sumDyXm];
}

/**
 * The `FusedBatchNorm` gradient on wasm: with core's SIMD kernels, one pass ({@link WASM_BATCH_NORM_GRAD_KERNEL})
 * gives dx and the two per-channel sums the other gradients need; otherwise (or for statistics that are
 * not per channel of the innermost axis) {@link broadcastingBatchNormGrad}.
 */
export function wasmBatchNormGrad(dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap): GradientMap | null {
  const [x, mean, variance, scale] = saved as [Tensor, Tensor, Tensor, Tensor | undefined];
  const c = x.shape[x.rank - 1] ?? 0;
  const perChannel = (t: Tensor | undefined): boolean => t == null || (t.dtype === 'float32' && t.size === c);
  const covered = !Array.isArray(dy) && dy.dtype === 'float32' && x.dtype === 'float32' && x.rank >= 1 && c > 0 && mean.rank === 1 &&
    [mean, variance, scale].every(perChannel);
  if (!covered || wasmSimdKernels(tf.backend()) == null) return broadcastingBatchNormGrad(dy, saved, attrs);
  const eps = (attrs as unknown as tf.FusedBatchNormAttrs).varianceEpsilon;
  const inputs: Record<string, Tensor> = { dy, x, mean, variance };
  if (scale != null) inputs['scale'] = scale;
  const [dx, sumDy, sumDyXm] = tf.engine().runKernel(WASM_BATCH_NORM_GRAD_KERNEL, inputs as unknown as tf.NamedTensorMap, {
    varianceEpsilon: eps,
  } as unknown as NamedAttrMap) as Tensor[] as [Tensor, Tensor, Tensor];
  return batchNormGradients(() => dx, mean, variance, scale, eps, sumDy, sumDyXm);
}
