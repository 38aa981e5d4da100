/**
 * The 'trellis-native' backend: tfjs's pure-JS cpu backend (tensor data in JS typed arrays, so the
 * addon reads and writes them without copies) with the heavy kernels replaced by native ones
 * (OpenBLAS GEMM, oneDNN convolutions, native pooling and batch norm).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendValues, DataId, DataType, KernelConfig, KernelFunc, NamedAttrMap, Tensor, TensorInfo } from '@tensorflow/tfjs-core';
import { BufferPool } from './bufferPool.js';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { GEMM_CHOICES, MAX_BACKEND_THREADS, TrellisError, batchNormGradients, checkBackendOptions, registerBackendGradient, registerLargeArrayAdvisor, type GemmChoice, type GradientMap } from '@trellis-ml/core';
import { loadAddon, type NativeAddon } from './addon.js';
import { installNativeAdam } from './adam.js';
import { installNativeSgd } from './sgd.js';
import { installNativeMoments, momentsKernelFuncs } from './moments.js';
import { layoutKernelFuncs } from './layoutKernels.js';
import {
  BATCH_NORM_GRAD_KERNEL,
  BROADCAST_SCALE_KERNEL,
  GRAD_BINARY_KERNEL,
  broadcastMode,
  middleBroadcast,
  callCounts,
  nativeKernelFuncs,
  type Fallback,
} from './kernels.js';

/** The name the backend is registered under (`tf.setBackend(NATIVE_BACKEND_NAME)`). */
export const NATIVE_BACKEND_NAME = 'trellis-native';

/**
 * tfjs's cpu backend, under its own name, whose heavy kernels are native and whose kernel outputs
 * are reused through a {@link BufferPool} (`TRELLIS_NATIVE_POOL=0` turns reuse off;
 * `TRELLIS_NATIVE_POOL_POISON=1` fills reused buffers with NaN, for tests).
 */
export class NativeBackend extends MathBackendCPU {
  /** Library versions the addon was built against. */
  readonly versions: ReturnType<NativeAddon['versions']>;
  /** Where native kernels take their output buffers from. */
  readonly pool: BufferPool;
  constructor(addon: NativeAddon) {
    super();
    // The cpu backend's first write prints "install our node backend … tfjs-node" in Node; this
    // backend is native already, so the advice would mislead.
    (this as unknown as { firstUse: boolean }).firstUse = false;
    this.versions = addon.versions();
    this.pool = new BufferPool({
      maxBytes: process.env['TRELLIS_NATIVE_POOL'] === '0' ? 0 : undefined,
      poison: process.env['TRELLIS_NATIVE_POOL_POISON'] === '1',
    });
  }

  /** A float32 output buffer of `length` elements, contents undefined (the kernel writes all of it). */
  allocOutput(length: number): Float32Array {
    return this.pool.take(length);
  }

  /**
   * The float32 values behind `dataId` when one tensor holds them alone (refCount 1, a pool buffer
   * never read or shared), so a kernel may overwrite them in place; otherwise null.
   */
  exclusiveValues(dataId: DataId): Float32Array | null {
    if (!this.data.has(dataId)) return null;
    const d = this.data.get(dataId);
    return d.refCount === 1 && d.dtype === 'float32' && this.pool.isExclusive(d.values) ? (d.values as Float32Array) : null;
  }

  override write(values: BackendValues, shape: number[], dtype: DataType): DataId {
    this.pool.adopt(values);
    return super.write(values, shape, dtype);
  }

  override move(dataId: DataId, values: BackendValues, shape: number[], dtype: DataType, refCount: number): void {
    this.pool.pin(values);
    super.move(dataId, values, shape, dtype, refCount);
  }

  override readSync(dataId: DataId): BackendValues {
    const values = super.readSync(dataId);
    this.pool.pin(values);
    return values;
  }

  override async read(dataId: DataId): Promise<BackendValues> {
    return this.readSync(dataId);
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
    const released = super.disposeData(dataId, force);
    if (values !== undefined && !this.data.has(dataId)) this.pool.recycle(values);
    return released;
  }

  override dispose(): void {
    this.pool.clear();
    super.dispose();
  }
}

/** What {@link loadNativeKernels} reports. */
export interface NativeKernelsStatus {
  /** Whether the addon loaded and the 'trellis-native' backend with its kernels is registered. */
  loaded: boolean;
  /** Why not, with the command that fixes it. */
  reason?: string;
  /** The kernels that run natively (tfjs kernel names). Empty when not loaded. */
  kernels: string[];
}

let status: NativeKernelsStatus | null = null;

function cpuKernels(): KernelConfig[] {
  return tf.getKernelsForBackend('cpu');
}

/**
 * The FusedBatchNorm gradient on 'trellis-native': one native pass computes dx and the two
 * per-channel sums the other four gradients need (instead of tfjs's Tile and six full-size ops).
 */
function nativeBatchNormGrad(dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap): GradientMap | null {
  const [x, mean, variance, scale] = saved as [Tensor, Tensor, Tensor, Tensor | undefined];
  const c = x.shape[x.rank - 1] ?? 0;
  const covered =
    !Array.isArray(dy) && x.dtype === 'float32' && x.size > 0 && c > 0 && mean.rank === 1 && mean.size === c && variance.size === c &&
    (scale == null || scale.size === c);
  if (!covered) return null;
  const eps = (attrs as unknown as tf.FusedBatchNormAttrs).varianceEpsilon;
  const inputs: Record<string, Tensor> = { dy, x, mean, variance: tf.reshape(variance, [c]) };
  if (scale != null) inputs['scale'] = tf.reshape(scale, [c]);
  const [dx, sumDy, sumDyXm] = tf.engine().runKernel(BATCH_NORM_GRAD_KERNEL, inputs as unknown as tf.NamedTensorMap, {
    varianceEpsilon: eps,
  } as unknown as NamedAttrMap) as Tensor[] as [Tensor, Tensor, Tensor];
  return batchNormGradients(() => dx, mean, variance, scale, eps, sumDy, sumDyXm);
}

/**
 * Gradients of Mean, Square, Relu and Sigmoid in one native pass each on 'trellis-native' (tfjs's take
 * three, two, two and three full-size ops: the first three dominate batch-norm training through tf.moments).
 */
function nativeMeanGrad(dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap): GradientMap | null {
  const [x] = saved as [Tensor];
  // x.size 0: nothing to spread (and a reduced axis of size 0 has no 1/size)
  if (Array.isArray(dy) || x.dtype !== 'float32' || x.size === 0) return null;
  const axes = tf.util.parseAxisParam((attrs as unknown as tf.MeanAttrs).axis, x.shape);
  const expanded = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const reduceSize = axes.reduce((p, a) => p * (x.shape[a] as number), 1);
  if (broadcastMode(expanded, x.shape, x.size) == null && middleBroadcast(expanded, x.shape) == null) return null;
  return {
    x: () =>
      tf.engine().runKernel(BROADCAST_SCALE_KERNEL, { x: tf.reshape(dy, expanded) }, { shape: x.shape, scale: 1 / reduceSize } as unknown as NamedAttrMap) as Tensor,
  };
}

/**
 * Square (op 7: 2·dy·x), Relu (op 8: dy where x > 0) and Sigmoid (op 9: dy·(y·(1 − y)) from its saved
 * output y; tfjs's three ops, same arithmetic) gradients in one pass.
 */
function nativeElementwiseGrad(op: 7 | 8 | 9) {
  return (dy: Tensor | Tensor[], saved: Tensor[]): GradientMap | null => {
    const [x] = saved as [Tensor];
    if (Array.isArray(dy) || x.dtype !== 'float32' || dy.dtype !== 'float32') return null;
    return { x: () => tf.engine().runKernel(GRAD_BINARY_KERNEL, { a: dy, b: x }, { op } as unknown as NamedAttrMap) as Tensor };
  };
}

function registerNativeGradients(): void {
  registerBackendGradient('FusedBatchNorm', NATIVE_BACKEND_NAME, nativeBatchNormGrad);
  registerBackendGradient('Mean', NATIVE_BACKEND_NAME, nativeMeanGrad);
  registerBackendGradient('Square', NATIVE_BACKEND_NAME, nativeElementwiseGrad(7));
  registerBackendGradient('Relu', NATIVE_BACKEND_NAME, nativeElementwiseGrad(8));
  registerBackendGradient('Sigmoid', NATIVE_BACKEND_NAME, nativeElementwiseGrad(9));
}

/**
 * Loads the addon and registers the 'trellis-native' backend (the cpu backend's kernels, with
 * the heavy ones native) and the native FusedBatchNorm gradient. Idempotent; never throws: when
 * the addon is not built or its libraries are missing, returns `{ loaded: false, reason }`.
 * Does not change the current backend (see {@link useNativeBackend}).
 */
export function loadNativeKernels(): NativeKernelsStatus {
  if (status != null) return status;
  const { addon, reason } = loadAddon();
  if (addon == null) {
    status = { loaded: false, reason: reason ?? 'unknown', kernels: [] };
    return status;
  }
  try {
    const cpu = new Map(cpuKernels().map((k) => [k.kernelName, k] as const));
    if (cpu.size === 0) throw new Error('the cpu backend registered no kernels');
    const fallback: Fallback = (name, args) => {
      const k = cpu.get(name);
      if (k == null) throw new Error(`no cpu kernel '${name}' to fall back to`);
      return (k.kernelFunc as (a: typeof args) => TensorInfo | TensorInfo[])(args);
    };
    if (tf.findBackendFactory(NATIVE_BACKEND_NAME) == null) {
      // Priority 0: never picked automatically over cpu (1) or wasm (2); only by name.
      tf.registerBackend(NATIVE_BACKEND_NAME, () => new NativeBackend(addon), 0);
    }
    const native = [...nativeKernelFuncs(addon, fallback), ...momentsKernelFuncs(addon), ...layoutKernelFuncs(addon, fallback)];
    const nativeNames = new Set(native.map(([n]) => n));
    for (const k of cpu.values()) {
      if (nativeNames.has(k.kernelName)) continue;
      if (tf.getKernel(k.kernelName, NATIVE_BACKEND_NAME) != null) continue;
      tf.registerKernel({ ...k, backendName: NATIVE_BACKEND_NAME });
    }
    for (const [kernelName, kernelFunc] of native) {
      if (tf.getKernel(kernelName, NATIVE_BACKEND_NAME) != null) tf.unregisterKernel(kernelName, NATIVE_BACKEND_NAME);
      tf.registerKernel({ kernelName, backendName: NATIVE_BACKEND_NAME, kernelFunc: kernelFunc as KernelFunc });
    }
    registerNativeGradients();
    registerLargeArrayAdvisor((array) => addon.adviseHugePages(array));
    const moments = installNativeMoments(NATIVE_BACKEND_NAME) ? ['op:moments'] : [];
    const adam = installNativeAdam(NATIVE_BACKEND_NAME, addon) ? ['optimizer:Adam'] : [];
    const sgd = installNativeSgd(NATIVE_BACKEND_NAME, addon) ? ['optimizer:SGD', 'optimizer:Momentum'] : [];
    status = {
      loaded: true,
      kernels: native.map(([n]) => n).concat('grad:FusedBatchNorm', 'grad:Mean', 'grad:Square', 'grad:Relu', 'grad:Sigmoid', ...moments, ...adam, ...sgd),
    };
  } catch (err) {
    status = { loaded: false, reason: `registering the native kernels failed: ${(err as Error)?.message ?? String(err)}`, kernels: [] };
  }
  return status;
}

/** Options for {@link useNativeBackend}. */
export interface UseNativeBackendOptions {
  /**
   * Threads of the one OpenMP pool oneDNN and the GEMM split share (OpenBLAS's own pool stays at
   * one thread): a whole number from 1 to 1024. Default: `TRELLIS_NATIVE_THREADS` (a `TrellisError`
   * when set to anything but a whole number from 1 to 1024), else all logical cores.
   */
  threads?: number;
  /**
   * GEMM implementation: 'auto' (default: oneDNN's sgemm for one or a few large matrices on more than
   * one thread, where it measured 5–30% faster on the MLP's shapes, and for a tall product with at most
   * 16 output columns over K ≥ 2,048, e.g. k-means' point–centre products, where it measured 2× faster;
   * else 'openblas'), 'openblas' (single-threaded
   * OpenBLAS calls split over the one OpenMP pool), 'openblas-threads' (OpenBLAS threads each call
   * with its own pool while the OpenMP workers sleep; never both at once) or 'onednn' (oneDNN's
   * sgemm for every call, OpenMP pool).
   */
  gemm?: GemmChoice;
}

/** What {@link useNativeBackend} and {@link describeNativeBackend} report. */
export interface NativeBackendInfo {
  /** Whether 'trellis-native' is now the current tfjs backend. */
  loaded: boolean;
  /** When not loaded: why, with the command that fixes it. */
  reason?: string;
  /** 'trellis-native' when loaded. */
  name?: string;
  /** Threads of the OpenMP pool. */
  threads?: number;
  /** GEMM implementation in use. */
  gemm?: GemmChoice;
  /** Kernels that run natively. */
  kernels: string[];
  /** Library versions (oneDNN, OpenBLAS config and core). */
  versions?: Record<string, string>;
}

/** `TRELLIS_NATIVE_THREADS` as a number (undefined when unset or empty); a `TrellisError` when it is not a whole number from 1 to {@link MAX_BACKEND_THREADS}. */
function envThreads(): number | undefined {
  const raw = process.env['TRELLIS_NATIVE_THREADS'];
  if (raw == null || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_BACKEND_THREADS) {
    throw new TrellisError('BAD_THREADS', `TRELLIS_NATIVE_THREADS=${raw} is not a whole number from 1 to ${MAX_BACKEND_THREADS}`,
      'set it to the threads of the native OpenMP pool (e.g. TRELLIS_NATIVE_THREADS=2), or unset it (default: all logical cores)');
  }
  return n;
}

/**
 * Makes 'trellis-native' the current backend when the addon is available. Never throws for a
 * missing addon: returns `{ loaded: false, reason }` and leaves the current backend alone (the
 * caller falls back, e.g. core's `useBackend('auto')` to wasm). Throws a `TrellisError` for bad
 * options (`BAD_THREADS`: threads not a whole number from 1 to 1024, or a bad `TRELLIS_NATIVE_THREADS`;
 * `BAD_GEMM`).
 */
export async function useNativeBackend(options: UseNativeBackendOptions = {}): Promise<NativeBackendInfo> {
  const threads = options.threads ?? envThreads();
  checkBackendOptions({ ...(threads != null ? { threads } : {}), ...(options.gemm != null ? { gemm: options.gemm } : {}) });
  const st = loadNativeKernels();
  if (!st.loaded) return { loaded: false, reason: st.reason ?? 'unknown', kernels: [] };
  const { addon } = loadAddon();
  if (addon == null) return { loaded: false, reason: 'addon vanished', kernels: [] };
  if (threads != null) addon.setThreads(threads);
  if (options.gemm != null) addon.setGemm({ openblas: 0, onednn: 1, 'openblas-threads': 2, auto: 3 }[options.gemm]);
  const ok = await tf.setBackend(NATIVE_BACKEND_NAME);
  if (!ok) return { loaded: false, reason: `tf.setBackend('${NATIVE_BACKEND_NAME}') failed`, kernels: [] };
  await tf.ready();
  return describeNativeBackend();
}

/** Describes the native backend (whether it is current, threads, kernels, library versions). */
export function describeNativeBackend(): NativeBackendInfo {
  const st = loadNativeKernels();
  const { addon } = loadAddon();
  if (!st.loaded || addon == null) return { loaded: false, reason: st.reason ?? 'unknown', kernels: [] };
  const versions = addon.versions();
  return {
    loaded: tf.getBackend() === NATIVE_BACKEND_NAME,
    name: NATIVE_BACKEND_NAME,
    threads: addon.getThreads(),
    gemm: GEMM_CHOICES.find((g) => g === versions.gemm) ?? 'openblas',
    kernels: st.kernels,
    versions: { ...versions },
  };
}

/** Per-kernel counts of calls that ran natively and calls that fell back to the cpu kernel. */
export function nativeCallCounts(): Record<string, { native: number; fallback: number }> {
  return JSON.parse(JSON.stringify(callCounts)) as Record<string, { native: number; fallback: number }>;
}

/** Bytes the addon holds (scratchpad, reordered weights) and its cached conv primitives. */
export function nativeMemoryStats(): { bytes: number; convCacheEntries: number } {
  const { addon } = loadAddon();
  return addon == null ? { bytes: 0, convCacheEntries: 0 } : addon.stats();
}
