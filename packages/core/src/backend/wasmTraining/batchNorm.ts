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
// FusedBatchNorm gradient without Tile (broadcasting gives the same values).
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
