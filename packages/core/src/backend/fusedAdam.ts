/**
 * Adam in one pass per variable. tfjs's `AdamOptimizer.applyGradients` runs eleven elementwise ops
 * per variable, each allocating a full-size tensor; with native GEMM that was most of an MLP step.
 * A backend registers a kernel computing the same float32 update in one pass
 * ({@link registerFusedAdam}; `@trellis-ml/backend-native` does); while that backend is current,
 * `AdamOptimizer.prototype.applyGradients` (patched once) runs it. On any other backend, or for
 * non-float32 variables or a gradient of another shape than its variable, the original method runs. `TRELLIS_FUSED_ADAM=0` turns the patch off.
 * On wasm, core registers its SIMD kernel (wasmKernels.ts, `TrellisWasmAdam`) when its SIMD kernels
 * are on (a one-pass JavaScript loop over the wasm heap was measured slower than the eleven ops).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, NamedTensorMap, Tensor, Variable } from '@tensorflow/tfjs-core';
import { fusable, gradientAt, variableNames, type VariableGradients } from './optimizerPatch.js';

/** How one backend runs the fused update. */
export interface FusedAdamBackend {
  /**
   * Kernel registered for the backend: inputs `value`, `m`, `v`, `g` (float32, one shape), attr
   * `constants` ({@link AdamConstants} as an array); outputs `[value', m', v']`.
   */
  kernelName: string;
  /**
   * Optional: writes the update into the variable's and moments' own buffers when that is safe
   * (nothing else holds them) and returns true; returning false runs the kernel instead.
   */
  inPlace?(value: Tensor, m: Tensor, v: Tensor, g: Tensor, constants: AdamConstants): boolean;
  /** Optional: false when the kernel cannot run on the current backend instance (tfjs's own update runs). */
  available?(): boolean;
}

/**
 * The update's constants in float32, in kernel order: [β1, 1 − β1, β2, 1 − β2, 1 − β1^t,
 * 1 − β2^t, ε, −lr].
 */
export type AdamConstants = [number, number, number, number, number, number, number, number];

interface AdamInternals {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: Variable;
  accBeta2: Variable;
  accumulatedFirstMoment: Array<{ originalName: string; variable: Variable } | undefined>;
  accumulatedSecondMoment: Array<{ originalName: string; variable: Variable } | undefined>;
  incrementIterations(): void;
}

const PATCHED = '__trellisFusedAdam';

/** β1^t and β2^t as last written by the patch, with the dataIds they were written to. */
const known = new WeakMap<object, { id1: object; id2: object; acc1: number; acc2: number }>();

/**
 * The optimizer's β powers: from the host copy when the variables still hold what the patch wrote
 * (no device read in the training step), else read back (first step, restored state).
 */
function betaPowers(self: AdamInternals): [number, number] {
  const k = known.get(self);
  if (k != null && k.id1 === self.accBeta1.dataId && k.id2 === self.accBeta2.dataId) return [k.acc1, k.acc2];
  return [self.accBeta1.dataSync()[0] as number, self.accBeta2.dataSync()[0] as number];
}
const backends = new Map<string, FusedAdamBackend>();

/**
 * Makes Adam run `impl` while `backendName` is the current backend (installs the patch once;
 * registering a backend again replaces its entry). Returns false when `TRELLIS_FUSED_ADAM=0`.
 */
export function registerFusedAdam(backendName: string, impl: FusedAdamBackend): boolean {
  if (process.env['TRELLIS_FUSED_ADAM'] === '0') return false;
  backends.set(backendName, impl);
  installPatch();
  return true;
}

/** Whether `backendName` has a fused Adam registered. */
export function hasFusedAdam(backendName: string): boolean {
  return backends.has(backendName);
}

function installPatch(): void {
  const proto = tf.AdamOptimizer.prototype as unknown as Record<string, unknown>;
  if (proto[PATCHED]) return;
  const original = proto['applyGradients'] as (this: tf.AdamOptimizer, g: VariableGradients) => void;
  proto['applyGradients'] = function applyGradients(this: tf.AdamOptimizer, variableGradients: VariableGradients): void {
    const impl = backends.get(tf.getBackend());
    const names = variableNames(variableGradients);
    if (impl == null || impl.available?.() === false || !fusable(variableGradients, names)) return original.call(this, variableGradients);
    const self = this as unknown as AdamInternals;
    const registered = tf.engine().registeredVariables;
    tf.tidy(() => {
      const f = Math.fround;
      const [acc1, acc2] = betaPowers(self);
      const constants: AdamConstants = [
        f(self.beta1), f(1 - self.beta1), f(self.beta2), f(1 - self.beta2),
        f(1 - acc1), f(1 - acc2), f(self.epsilon), f(-self.learningRate),
      ];
      names.forEach((name, i) => {
        const value = registered[name] as Variable;
        if (self.accumulatedFirstMoment[i] == null) {
          self.accumulatedFirstMoment[i] = { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        }
        if (self.accumulatedSecondMoment[i] == null) {
          self.accumulatedSecondMoment[i] = { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        }
        const gradient = gradientAt(variableGradients, name, i);
        if (gradient == null) return;
        const m = self.accumulatedFirstMoment[i]!.variable;
        const v = self.accumulatedSecondMoment[i]!.variable;
        const g = gradient.dtype === 'float32' ? gradient : tf.cast(gradient, 'float32');
        if (impl.inPlace?.(value, m, v, g, constants)) return;
        const [nv, nm, ns] = tf.engine().runKernel(impl.kernelName, { value, m, v, g } as unknown as NamedTensorMap, {
          constants,
        } as unknown as NamedAttrMap) as Tensor[] as [Tensor, Tensor, Tensor];
        m.assign(nm);
        v.assign(ns);
        value.assign(nv);
      });
      self.accBeta1.assign(tf.mul(self.accBeta1, self.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, self.beta2));
      // The same float32 products, kept on the host so the next step need not read them back.
      known.set(self, { id1: self.accBeta1.dataId, id2: self.accBeta2.dataId, acc1: f(acc1 * f(self.beta1)), acc2: f(acc2 * f(self.beta2)) });
    });
    self.incrementIterations();
  };
  proto[PATCHED] = true;
}
