/**
 * Shared helpers and types of the wasm training kernels (registered in `../wasmKernels.ts`):
 * running the backend's own kernels directly, and working on the wasm heap.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DataType, KernelConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { TrellisError } from '../../errors.js';

/** The parts of tfjs-backend-wasm's `BackendWasm` these kernels use. */
export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** A kernel function's argument as tfjs passes it. */
export type KernelArgs = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };
/** A convolution's `pad` attribute. */
export type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
/** A convolution's `dimRoundingMode` attribute. */
export type Rounding = 'floor' | 'round' | 'ceil' | undefined;
/** A rank-4 shape (NHWC). */
export type Shape4 = [number, number, number, number];

/** The backend these kernels register for. */
export const BACKEND = 'wasm';
/** Marks configs created here, so registration stays idempotent even across module copies. */
export const MARK = '__trellisWasmTraining';
/** Where a wrapped kernel keeps the stock kernel it wraps. */
export const ORIGINAL = '__trellisOriginal';

/** A kernel config with the {@link MARK} and {@link ORIGINAL} properties. */
export type Marked<T> = T & { [MARK]?: true; [ORIGINAL]?: T };

/** A kernel's `backend` argument as the wasm backend. */
export function asWasm(backend: unknown): WasmBackendLike {
  return backend as WasmBackendLike;
}

/** The stock wasm kernel `name` (the one a kernel here replaced, if any); throws when wasm is not loaded. */
export function stockKernel(name: string): KernelConfig {
  const k = tf.getKernel(name, BACKEND) as Marked<KernelConfig> | undefined;
  if (k == null) {
    throw new TrellisError(
      'WASM_BACKEND_NOT_LOADED',
      `The wasm backend has no '${name}' kernel registered.`,
      "Import '@tensorflow/tfjs-backend-wasm' (or call useBackend('wasm')) before registerWasmTrainingKernels().",
      { kernel: name },
    );
  }
  return k[ORIGINAL] ?? k;
}

/** Runs a kernel registered for wasm directly on the backend (no engine bookkeeping, no tape). */
export function run(name: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap, backend: unknown): TensorInfo {
  const k = stockKernel(name);
  const out = (k.kernelFunc as (a: KernelArgs) => TensorInfo | TensorInfo[])({ inputs, backend, attrs });
  const first = Array.isArray(out) ? out[0] : out;
  if (first == null) throw new Error(`wasm kernel ${name} returned no output`);
  return first;
}

/** Releases the backend data of `ts`. */
export function dispose(backend: unknown, ...ts: TensorInfo[]): void {
  const b = asWasm(backend);
  for (const t of ts) b.disposeData(t.dataId);
}

/** Transposes `x` by `perm` on the backend's Transpose kernel. */
export function transposeInfo(x: TensorInfo, perm: number[], backend: unknown): TensorInfo {
  return run('Transpose', { x }, { perm }, backend);
}

/** Perm swapping the two innermost axes of a rank-`rank` tensor. */
export function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

/** Sets every element of a heap view to 0. */
export function zeroFill(view: Float32Array | Int32Array | Uint8Array): void {
  view.fill(0);
}
