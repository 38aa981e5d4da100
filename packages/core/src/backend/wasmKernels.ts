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
 *   gradient tiles `rsqrt(var + eps)` to the full input shape; batch statistics and the gradients
 *   of BatchNormalization and ReLU broadcast per channel in scalar loops, a dozen full-size ops.
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
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { registerBackendGradient } from './backendGradients.js';
import { registerFusedAdam } from './fusedAdam.js';
import { registerFusedMoments } from './fusedMoments.js';
import { registerFusedSgd } from './fusedSgd.js';
import { wasmSimdEnabled, wasmSimdKernels } from './wasmSimd.js';
import {
  fusedBatchNorm,
  WASM_BATCH_NORM_GRAD_KERNEL,
  WASM_MOMENTS_GRAD_KERNEL,
  WASM_MOMENTS_KERNEL,
  wasmBatchNormGrad,
  wasmBatchNormGradPass,
  wasmMoments,
  wasmMomentsGrad,
} from './wasmTraining/batchNorm.js';
import { conv2DBackpropFilter } from './wasmTraining/convFilterGradient.js';
import { conv2DBackpropInput } from './wasmTraining/convInputGradient.js';
import { depthwiseBackpropFilter, depthwiseBackpropInput } from './wasmTraining/depthwiseGradients.js';
import { einsum } from './wasmTraining/einsum.js';
import { BACKEND, MARK, ORIGINAL, stockKernel, type Marked } from './wasmTraining/heap.js';
import { reduceWithAvgPool } from './wasmTraining/leadingAxisReductions.js';
import { fastMatMul } from './wasmTraining/matMul.js';
import { maxPoolGrad, maxPoolWithArgmax } from './wasmTraining/maxPool.js';
import { WASM_ADAM_KERNEL, WASM_SGD_KERNEL, wasmAdam, wasmSgd } from './wasmTraining/optimizers.js';
import { WASM_RELU_GRAD_KERNEL, wasmReluGrad, wasmReluGradKernel } from './wasmTraining/reluGradient.js';
import { unsortedSegmentSum } from './wasmTraining/segmentSum.js';
import { castShared, identityShared } from './wasmTraining/sharedIdentity.js';

export { WASM_ADAM_KERNEL, WASM_BATCH_NORM_GRAD_KERNEL, WASM_MOMENTS_GRAD_KERNEL, WASM_MOMENTS_KERNEL, WASM_RELU_GRAD_KERNEL, WASM_SGD_KERNEL };

// --------------------------------------------------------------------------------------------
// Registration
// --------------------------------------------------------------------------------------------
const NEW_KERNELS: Array<[string, KernelFunc]> = [
  [WASM_ADAM_KERNEL, wasmAdam as unknown as KernelFunc],
  [WASM_SGD_KERNEL, wasmSgd as unknown as KernelFunc],
  [WASM_MOMENTS_KERNEL, wasmMoments as unknown as KernelFunc],
  [WASM_MOMENTS_GRAD_KERNEL, wasmMomentsGrad as unknown as KernelFunc],
  [WASM_BATCH_NORM_GRAD_KERNEL, wasmBatchNormGradPass as unknown as KernelFunc],
  [WASM_RELU_GRAD_KERNEL, wasmReluGradKernel as unknown as KernelFunc],
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
 * - gradient: `FusedBatchNorm` (one SIMD pass for dx and the two per-channel sums; without SIMD
 *   kernels, broadcasts instead of tiling) and `Relu` (one SIMD pass); on any other backend the
 *   stock gradients still run, unchanged;
 * - fused: Adam, SGD and `tf.moments` as tfjs-layers' BatchNormalization calls it (one SIMD kernel
 *   for both batch statistics, one for their gradient), with core's SIMD kernels.
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
  registerBackendGradient('FusedBatchNorm', BACKEND, wasmBatchNormGrad);
  registerBackendGradient('Relu', BACKEND, wasmReluGrad);
  registered.push('grad:FusedBatchNorm', 'grad:Relu');
  // One SIMD pass per variable for Adam and SGD, and for the batch statistics and their gradient;
  // without SIMD kernels tfjs's own ops run (faster than a JS loop).
  const available = (): boolean => wasmSimdKernels(tf.backend()) != null;
  if (wasmSimdEnabled() && registerFusedMoments(BACKEND, { kernelName: WASM_MOMENTS_KERNEL, gradKernelName: WASM_MOMENTS_GRAD_KERNEL, available })) {
    registered.push('fusedMoments');
  }
  if (wasmSimdEnabled() && registerFusedAdam(BACKEND, { kernelName: WASM_ADAM_KERNEL, available })) registered.push('fusedAdam');
  if (wasmSimdEnabled() && registerFusedSgd(BACKEND, { kernelName: WASM_SGD_KERNEL, available })) registered.push('fusedSgd');
  WASM_TRAINING_KERNELS.splice(0, WASM_TRAINING_KERNELS.length, ...registered);
}

/** Whether {@link registerWasmTrainingKernels} has run in this process (checks the registry). */
export function wasmTrainingKernelsRegistered(): boolean {
  const k = tf.getKernel('Conv2DBackpropFilter', BACKEND) as Marked<KernelConfig> | undefined;
  return k?.[MARK] === true;
}
