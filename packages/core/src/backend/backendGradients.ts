/**
 * Gradients that a backend computes its own way. tfjs registers one gradient per kernel for every
 * backend; a backend with faster kernels (core's wasm, `@trellis-ml/backend-native`) registers an
 * override here for its name, and the gradient installed for that kernel dispatches on the current
 * backend: the override runs while its backend is current and returns the gradients, or null when
 * it does not cover the case; everything else runs the gradient tfjs had registered.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, NamedAttrMap, Tensor } from '@tensorflow/tfjs-core';

/** The per-input gradient thunks a gradient function returns. */
export type GradientMap = Record<string, () => Tensor>;

/**
 * A backend's gradient for one kernel. It receives what the original gradient saves (the same
 * `inputsToSave` / `outputsToSave`) and returns null to let the original gradient run.
 */
export type BackendGradFunc = (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => GradientMap | null;

interface Dispatcher extends GradConfig {
  overrides: Map<string, BackendGradFunc>;
}

const DISPATCH = '__trellisBackendGradients';
/** The installed gradient keeps tfjs's own under this key (to compare against, or to restore). */
export const ORIGINAL_GRADIENT = '__trellisOriginal';

/**
 * Makes `gradFunc` the gradient of `kernelName` while `backendName` is the current backend
 * (registering again for the same pair replaces it; the installed gradient object stays the same).
 * Throws when tfjs has no gradient for the kernel to fall back to.
 */
export function registerBackendGradient(kernelName: string, backendName: string, gradFunc: BackendGradFunc): void {
  const current = tf.getGradient(kernelName) as (GradConfig & { [DISPATCH]?: Dispatcher }) | undefined;
  if (current == null) throw new Error(`registerBackendGradient: tfjs has no gradient for '${kernelName}'`);
  const existing = current[DISPATCH];
  if (existing != null) {
    existing.overrides.set(backendName, gradFunc);
    return;
  }
  const original = current;
  const overrides = new Map<string, BackendGradFunc>([[backendName, gradFunc]]);
  const dispatcher = {
    ...original,
    overrides,
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) =>
      overrides.get(tf.getBackend())?.(dy, saved, attrs) ?? original.gradFunc(dy, saved, attrs),
  } as Dispatcher & { [DISPATCH]?: Dispatcher; [ORIGINAL_GRADIENT]?: GradConfig };
  dispatcher[DISPATCH] = dispatcher;
  dispatcher[ORIGINAL_GRADIENT] = original;
  tf.registerGradient(dispatcher);
}

/**
 * The gradients of FusedBatchNorm's mean, variance, scale and offset from the two per-channel sums
 * Σdy and Σdy·(x − mean) (shape [C]), and x's from `dx(rstd, scaleVec)`: shared by the backends
 * that compute those sums their own way. Call it in the gradient function's own scope: the thunks
 * share `rstd` = 1/sqrt(variance + eps) and `scaleVec`, and the engine runs each thunk in its own tidy.
 */
export function batchNormGradients(
  dx: (rstd: Tensor, scaleVec: Tensor) => Tensor, mean: Tensor, variance: Tensor, scale: Tensor | undefined, eps: number,
  sumDy: Tensor, sumDyXm: Tensor,
): GradientMap {
  const c = sumDy.size;
  const scaleVec = scale == null ? tf.onesLike(sumDy) : tf.reshape(scale, [c]);
  const rstd = tf.rsqrt(tf.add(tf.reshape(variance, [c]), tf.scalar(eps)));
  return {
    x: () => dx(rstd, scaleVec),
    mean: () => tf.reshape(tf.mul(tf.mul(tf.neg(rstd), scaleVec), sumDy), mean.shape),
    variance: () => {
      const r3 = tf.mul(tf.mul(rstd, rstd), rstd);
      return tf.reshape(tf.mul(tf.mul(tf.mul(r3, tf.scalar(-0.5)), scaleVec), sumDyXm), mean.shape);
    },
    scale: () => tf.reshape(tf.mul(rstd, sumDyXm), mean.shape),
    offset: () => tf.reshape(sumDy, mean.shape),
  };
}
