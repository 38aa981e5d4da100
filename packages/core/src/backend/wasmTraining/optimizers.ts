import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { SgdConstants } from '../fusedSgd.js';
import { wasmSimdKernels } from '../wasmSimd.js';
import { asWasm, type KernelArgs } from './heap.js';

// --------------------------------------------------------------------------------------------
// Adam in one SIMD pass per variable (core's fused-Adam hook), bit-identical to tfjs's eleven ops.
// --------------------------------------------------------------------------------------------
/** The kernel core's fused Adam runs on wasm (inputs value, m, v, g; outputs value', m', v'). */
export const WASM_ADAM_KERNEL = 'TrellisWasmAdam';

/** The wasm kernel {@link WASM_ADAM_KERNEL}: one Adam step on core's SIMD kernel. */
export function wasmAdam(args: KernelArgs): TensorInfo[] {
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

/** The wasm kernel {@link WASM_SGD_KERNEL}: one (momentum) SGD step on core's SIMD kernel. */
export function wasmSgd(args: KernelArgs): TensorInfo[] {
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
