/**
 * Core's own SIMD kernels for the wasm backend (packages/core/wasm/kernels.c, embedded as
 * {@link WASM_SIMD_PLAIN} / {@link WASM_SIMD_SHARED}): a strided batched GEMM with a bias/ReLU
 * epilogue, a batched 2-D transpose, a one-pass Adam update, a one-pass SGD / momentum update, batch normalisation with its
 * batch statistics and gradients, and the ReLU and 2×2 max-pool gradients, instantiated on the memory of tfjs-backend-wasm's own
 * module so they read and write its tensors in place.
 *
 * Off with `TRELLIS_WASM_SIMD=0` (the matmuls then run as before: transposes + XNNPACK).
 *
 * @module
 */
import type { DataType, TensorInfo } from '@tensorflow/tfjs-core';
import { WASM_SIMD_PLAIN, WASM_SIMD_SHARED } from './wasmSimdBinary.js';

/** The parts of tfjs-backend-wasm's `BackendWasm` the SIMD kernels need. */
export interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  wasm: {
    _malloc(bytes: number): number;
    _free(ptr: number): void;
    wasmMemory?: WebAssembly.Memory;
    asm?: { memory?: WebAssembly.Memory };
  };
}

/** Strides (in elements) of one GEMM operand: batch, row, column. */
export interface GemmOperand {
  /** Byte offset of element (0, 0, 0) in the wasm heap. */
  ptr: number;
  batchStride: number;
  rowStride: number;
  colStride: number;
}

/** The kernels bound to one backend instance. */
export interface WasmSimdKernels {
  /**
   * `C[b] = A[b] · B[b]` (+ `bias[j]`, then `max(0, ·)` when `relu`) for `b < batch`; A is M×K,
   * B is K×N, C is M×N row-major at `c` with batch stride M·N. `bias` is a heap offset (0: none).
   */
  gemm(batch: number, m: number, n: number, k: number, a: GemmOperand, b: GemmOperand, c: number, bias: number, relu: boolean): void;
  /** `dst[b] = src[b]ᵀ` for `b < batch`, `src[b]` rows×cols (heap offsets). */
  transpose(src: number, dst: number, batch: number, rows: number, cols: number): void;
  /**
   * Adam over `n` floats (heap offsets; outputs must not alias inputs), bit-identical to tfjs's
   * op-by-op update. `constants`: [β1, 1−β1, β2, 1−β2, 1−β1^t, 1−β2^t, ε, −lr].
   */
  adam(value: number, m: number, v: number, g: number, outValue: number, outM: number, outV: number, n: number, constants: readonly number[]): void;
  /**
   * SGD over `n` floats (heap offsets; outputs must not alias inputs), bit-identical to tfjs's
   * op-by-op update: mode 0 plain (`acc`, `outAcc` unused), 1 momentum, 2 Nesterov.
   */
  sgd(value: number, acc: number, g: number, outValue: number, outAcc: number, n: number, momentum: number, negLr: number, mode: number): void;
  /**
   * The filter gradient of an NHWC convolution (dilation 1), written to `dw` [KH, KW, Cin, Cout]:
   * per chunk of output positions, im2col of x times dy, on the GEMM.
   */
  conv2dFilterGrad(x: number, dy: number, dw: number, g: Conv2DGeometry): void;
  /**
   * Batch normalisation of `x` (rows × C) with per-channel `mean`, `variance`, `offset`, `scale`
   * (heap offsets; 0 for no offset / scale) into `out`.
   */
  batchNorm(x: number, mean: number, variance: number, offset: number, scale: number, out: number, rows: number, channels: number, epsilon: number): void;
  /**
   * Per-channel mean and biased variance of `x` (rows × C, heap offsets) into `mean` and `variance`
   * (C floats each): float sums over blocks of 256 rows folded into double.
   */
  moments(x: number, mean: number, variance: number, rows: number, channels: number): void;
  /** The moments' gradient: `dx = dmean/rows + 2·dvar·(x − mean)/rows` (rows × C). */
  momentsGrad(x: number, mean: number, dmean: number, dvar: number, dx: number, rows: number, channels: number): void;
  /**
   * The batch-norm gradient's one pass over rows × C: `dx = dy·scale/√(variance + ε)` (`scale` 0:
   * ones), and the per-channel sums of `dy` and of `dy·(x − mean)` (blocks of 256 rows, in double).
   */
  batchNormGrad(dy: number, x: number, mean: number, variance: number, scale: number, dx: number, sumDy: number, sumDyXm: number,
    rows: number, channels: number, epsilon: number): void;
  /** `dx = dy · step(x)` over `n` floats, as tfjs's ReLU gradient (step: 1 where x > 0, NaN for NaN, else 0). */
  reluGrad(dy: number, x: number, dx: number, n: number): void;
  /**
   * MaxPoolGrad (NHWC) for 2×2 windows with strides ≥ 2 that never touch padding, into a zeroed `dx`:
   * `dy` at each window's first maximum (scan order, strict `>`), as the cpu backend picks it.
   */
  maxPoolGrad2x2(x: number, dy: number, dx: number, n: number, h: number, w: number, c: number, oh: number, ow: number, sh: number, sw: number): void;
  /** Heap offset of tensor `t`'s data. */
  offset(t: TensorInfo): number;
}

/** The geometry of a convolution, NHWC. */
export interface Conv2DGeometry {
  n: number; h: number; w: number; cin: number;
  oh: number; ow: number; cout: number;
  kh: number; kw: number; sh: number; sw: number;
  padTop: number; padLeft: number;
}

/** Panel width and K block of kernels.c's GEMM (NR, KC there). */
const NR = 8;
const KC = 256;
const cache = new WeakMap<object, WasmSimdKernels | null>();

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const bytes = Buffer.from(base64, 'base64');
  const copy = new Uint8Array(new ArrayBuffer(bytes.length));
  copy.set(bytes);
  return copy;
}

function heapMemory(backend: WasmHeapBackend): WebAssembly.Memory | undefined {
  return backend.wasm.wasmMemory ?? backend.wasm.asm?.memory;
}

/**
 * A view of a float32 tensor's values in place in the wasm backend's heap (no copy; valid until
 * the next allocation on the backend), or undefined when `backend` is not the wasm backend.
 */
export function wasmHeapView(backend: unknown, t: { dataId: object; size: number; dtype: DataType }): Float32Array | undefined {
  const b = backend as Partial<WasmHeapBackend> | null;
  if (t.dtype !== 'float32' || !b?.dataIdMap || !b.wasm) return undefined;
  const memory = heapMemory(b as WasmHeapBackend);
  const entry = b.dataIdMap.get(t.dataId);
  if (!memory || entry == null) return undefined;
  return new Float32Array(memory.buffer, entry.memoryOffset, t.size);
}

type KernelExports = {
  trellis_gemm: (...args: number[]) => void;
  trellis_transpose: (src: number, dst: number, batch: number, rows: number, cols: number) => void;
  trellis_adam: (...args: number[]) => void;
  trellis_sgd: (...args: number[]) => void;
  trellis_conv2d_filter_grad: (...args: number[]) => void;
  trellis_batch_norm: (...args: number[]) => void;
  trellis_moments: (...args: number[]) => void;
  trellis_moments_grad: (...args: number[]) => void;
  trellis_batch_norm_grad: (...args: number[]) => void;
  trellis_relu_grad: (dy: number, x: number, dx: number, n: number) => void;
  trellis_max_pool_grad_2x2: (...args: number[]) => void;
};

/** A growing scratch buffer on the wasm heap. */
function scratchBuffer(backend: WasmHeapBackend): (bytes: number) => number {
  let ptr = 0;
  let size = 0;
  return (bytes) => {
    if (bytes > size) {
      if (ptr !== 0) backend.wasm._free(ptr);
      size = Math.max(bytes, 2 * size);
      ptr = backend.wasm._malloc(size);
      if (ptr === 0) throw new Error(`wasm heap: cannot allocate ${size} bytes of kernel scratch`);
    }
    return ptr;
  };
}

function instantiate(backend: WasmHeapBackend): WasmSimdKernels | null {
  const memory = heapMemory(backend);
  if (memory == null || typeof backend.wasm._malloc !== 'function') return null;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const module = new WebAssembly.Module(decode(shared ? WASM_SIMD_SHARED : WASM_SIMD_PLAIN));
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
  const constantsPtr = backend.wasm._malloc(4 * 8);
  const scratch = scratchBuffer(backend);

  const gemmScratch = (m: number, k: number, a: GemmOperand): number =>
    4 * (KC * NR + (a.colStride !== 1 && a.rowStride === 1 && m > 1 ? m * k : 0));

  return {
    gemm(batch, m, n, k, a, b, c, bias, relu) {
      exports.trellis_gemm(
        batch, m, n, k, a.ptr, a.batchStride, a.rowStride, a.colStride, b.ptr, b.batchStride, b.rowStride, b.colStride,
        c, m * n, n, bias, relu ? 1 : 0, scratch(gemmScratch(m, k, a)),
      );
    },
    transpose: exports.trellis_transpose,
    adam(value, m, v, g, outValue, outM, outV, n, constants) {
      new Float32Array(memory.buffer, constantsPtr, 8).set(constants);
      exports.trellis_adam(value, m, v, g, outValue, outM, outV, n, constantsPtr);
    },
    sgd: exports.trellis_sgd,
    conv2dFilterGrad(x, dy, dw, g) {
      const patch = g.kh * g.kw * g.cin;
      const work = scratch(4 * (g.cout * patch + KC * patch + g.cout * KC + KC * NR));
      exports.trellis_conv2d_filter_grad(
        x, dy, dw, g.n, g.h, g.w, g.cin, g.oh, g.ow, g.cout, g.kh, g.kw, g.sh, g.sw, 1, 1, g.padTop, g.padLeft, work,
      );
    },
    batchNorm(x, mean, variance, offset, scale, out, rows, channels, epsilon) {
      exports.trellis_batch_norm(x, mean, variance, offset, scale, out, rows, channels, epsilon, scratch(4 * channels));
    },
    moments(x, mean, variance, rows, channels) {
      // C doubles, then C floats (malloc'd scratch is 8-byte aligned)
      const work = scratch(12 * channels);
      exports.trellis_moments(x, mean, variance, rows, channels, work, work + 8 * channels);
    },
    momentsGrad(x, mean, dmean, dvar, dx, rows, channels) {
      exports.trellis_moments_grad(x, mean, dmean, dvar, dx, rows, channels, scratch(8 * channels));
    },
    batchNormGrad(dy, x, mean, variance, scale, dx, sumDy, sumDyXm, rows, channels, epsilon) {
      // 2C doubles, then 3C floats
      const work = scratch(28 * channels);
      exports.trellis_batch_norm_grad(dy, x, mean, variance, scale, dx, sumDy, sumDyXm, rows, channels, epsilon, work, work + 16 * channels);
    },
    reluGrad: exports.trellis_relu_grad,
    maxPoolGrad2x2: exports.trellis_max_pool_grad_2x2,
    offset(t) {
      const entry = backend.dataIdMap.get(t.dataId);
      if (entry == null) throw new Error('wasm SIMD kernels: tensor has no data on the wasm backend');
      return entry.memoryOffset;
    },
  };
}

let enabled: boolean | undefined;

/**
 * Whether core's SIMD kernels can run here: not switched off, and this engine has wasm SIMD. Decided
 * on the first call and kept (every kernel call asks, and reading `process.env` is not free), so
 * `TRELLIS_WASM_SIMD=0` belongs in the environment the process starts with.
 */
export function wasmSimdEnabled(): boolean {
  enabled ??= process.env['TRELLIS_WASM_SIMD'] !== '0' && typeof WebAssembly === 'object' && WebAssembly.validate(decode(WASM_SIMD_PLAIN));
  return enabled;
}

/**
 * Core's SIMD kernels on `backend`'s heap (instantiated once per backend), or `null` when they
 * are switched off (`TRELLIS_WASM_SIMD=0`), WebAssembly SIMD is unavailable or the backend's
 * memory cannot be reached — callers then use the backend's own kernels.
 */
export function wasmSimdKernels(backend: unknown): WasmSimdKernels | null {
  if (!wasmSimdEnabled()) return null;
  const key = backend as object;
  if (!cache.has(key)) {
    let kernels: WasmSimdKernels | null = null;
    try {
      kernels = instantiate(backend as WasmHeapBackend);
    } catch {
      kernels = null;
    }
    cache.set(key, kernels);
  }
  return cache.get(key) ?? null;
}
