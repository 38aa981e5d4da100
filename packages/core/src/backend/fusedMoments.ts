/**
 * Batch statistics in one kernel. tfjs-layers' BatchNormalization computes the batch mean and
 * variance with `tf.moments` (Mean, Sub, Square, Mean) and differentiates it through another
 * half-dozen full-size ops (Mean's gradient twice, Square's, Sub's); in a convolutional network's
 * step those passes over the activations cost as much as a convolution. A backend registers one
 * kernel for both statistics and one for their gradient ({@link registerFusedMoments};
 * `@trellis-ml/backend-native` and core's wasm kernels do); while that backend is current, the
 * replaced `tf.moments` runs them for float32 inputs reduced over every axis but the last (what
 * BatchNormalization does for channels-last data), and calls the original for anything else.
 *
 * tfjs-layers reads `moments` from tfjs-core's CommonJS exports at call time, so replacing that
 * property (once) routes its calls here; an ES-module import of `moments` keeps the original.
 * `TRELLIS_FUSED_MOMENTS=0` turns the replacement off.
 *
 * @module
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, Tensor } from '@tensorflow/tfjs-core';

/** How one backend computes the statistics and their gradient. */
export interface FusedMomentsBackend {
  /** Kernel: input `x` (float32, rank ≥ 2); outputs `[mean, variance]`, shape `[C]`, over every axis but the last. */
  kernelName: string;
  /** Kernel: inputs `x`, `mean`, `dmean`, `dvar`; output `dx = dmean/n + 2·dvar·(x − mean)/n` (n = x.size / C). */
  gradKernelName: string;
  /** Optional: false when the kernels cannot run on the current backend instance (the original runs). */
  available?(): boolean;
}

type MomentsFn = (x: Tensor | tf.TensorLike, axis?: number | number[], keepDims?: boolean) => { mean: Tensor; variance: Tensor };

const PATCHED = '__trellisFusedMoments';
const backends = new Map<string, FusedMomentsBackend>();

/** Whether `axis` covers exactly every axis but the last of a tensor of rank `rank` (rank ≥ 2). */
function reducesAllButLast(axis: number | number[] | undefined, rank: number): boolean {
  if (rank < 2 || axis == null) return false;
  const axes = [...new Set(tf.util.parseAxisParam(axis, new Array<number>(rank).fill(1)))].sort((a, b) => a - b);
  return axes.length === rank - 1 && axes.every((a, i) => a === i);
}

/** The gradient of a fused-moments kernel: one call of its gradient kernel. */
function momentsGradConfig(impl: FusedMomentsBackend): GradConfig {
  return {
    kernelName: impl.kernelName,
    inputsToSave: ['x'],
    outputsToSave: [true, false],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
      const [dmean, dvar] = dy as Tensor[];
      const [x, mean] = saved as [Tensor, Tensor];
      return { x: () => tf.engine().runKernel(impl.gradKernelName, { x, mean, dmean, dvar } as unknown as tf.NamedTensorMap) as Tensor };
    },
  };
}

/**
 * Makes `tf.moments` (as tfjs-layers calls it) run `impl`'s kernels while `backendName` is the
 * current backend; registers the gradient of `impl.kernelName`. Installs the replacement once;
 * registering a backend again replaces its entry. Returns false when `TRELLIS_FUSED_MOMENTS=0` or
 * tfjs-core's CommonJS exports cannot be written (then the original runs everywhere).
 */
export function registerFusedMoments(backendName: string, impl: FusedMomentsBackend): boolean {
  if (process.env['TRELLIS_FUSED_MOMENTS'] === '0') return false;
  if (!installPatch()) return false;
  backends.set(backendName, impl);
  if (tf.getGradient(impl.kernelName) == null) tf.registerGradient(momentsGradConfig(impl));
  return true;
}

/** Whether `backendName` has fused moments registered. */
export function hasFusedMoments(backendName: string): boolean {
  return backends.has(backendName);
}

function installPatch(): boolean {
  const cjs = createRequire(import.meta.url)('@tensorflow/tfjs-core') as Record<string, unknown>;
  const current = cjs['moments'] as MomentsFn & { [PATCHED]?: true };
  if (current?.[PATCHED]) return true;
  const original = current;
  const patched = ((x: Tensor | tf.TensorLike, axis?: number | number[], keepDims = false) => {
    const impl = backends.get(tf.getBackend());
    if (
      impl == null || impl.available?.() === false || !(x instanceof tf.Tensor) || x.dtype !== 'float32' || x.size === 0 ||
      !reducesAllButLast(axis, x.rank)
    ) {
      return original(x, axis, keepDims);
    }
    return tf.tidy(() => {
      const [mean, variance] = tf.engine().runKernel(impl.kernelName, { x } as unknown as tf.NamedTensorMap) as Tensor[] as [Tensor, Tensor];
      if (!keepDims) return { mean, variance };
      const shape = [...new Array<number>(x.rank - 1).fill(1), x.shape[x.rank - 1] as number];
      return { mean: tf.reshape(mean, shape), variance: tf.reshape(variance, shape) };
    });
  }) as MomentsFn & { [PATCHED]?: true };
  patched[PATCHED] = true;
  try {
    cjs['moments'] = patched;
  } catch {
    return false;
  }
  return cjs['moments'] === patched;
}
