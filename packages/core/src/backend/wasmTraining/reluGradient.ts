import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, TensorInfo } from '@tensorflow/tfjs-core';
import type { GradientMap } from '../backendGradients.js';
import { wasmSimdKernels } from '../wasmSimd.js';
import { asWasm, type KernelArgs } from './heap.js';

// --------------------------------------------------------------------------------------------
// The ReLU gradient in one pass (tfjs: Step, Cast, Multiply).
// --------------------------------------------------------------------------------------------
/** The ReLU gradient kernel on wasm: inputs dy, x; output dy · step(x). */
export const WASM_RELU_GRAD_KERNEL = 'TrellisWasmReluGrad';

/** The wasm kernel {@link WASM_RELU_GRAD_KERNEL}. */
export function wasmReluGradKernel(args: KernelArgs): TensorInfo {
  const { dy, x } = args.inputs as Record<string, TensorInfo>;
  const simd = wasmSimdKernels(args.backend);
  // wasmReluGrad keeps this kernel from running without the SIMD kernels.
  if (simd == null) throw new Error(`${WASM_RELU_GRAD_KERNEL} needs core's wasm SIMD kernels`);
  const dx = asWasm(args.backend).makeOutput(x!.shape, 'float32');
  simd.reluGrad(simd.offset(dy!), simd.offset(x!), simd.offset(dx), tf.util.sizeFromShape(x!.shape));
  return dx;
}

/** The `Relu` gradient on wasm: {@link WASM_RELU_GRAD_KERNEL} with core's SIMD kernels (else tfjs's). */
export function wasmReluGrad(dy: Tensor | Tensor[], saved: Tensor[]): GradientMap | null {
  const [x] = saved as [Tensor];
  if (Array.isArray(dy) || x.dtype !== 'float32' || dy.dtype !== 'float32' || wasmSimdKernels(tf.backend()) == null) return null;
  return { x: () => tf.engine().runKernel(WASM_RELU_GRAD_KERNEL, { dy, x } as unknown as tf.NamedTensorMap) as Tensor };
}
