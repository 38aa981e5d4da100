/**
 * SGD and momentum SGD in one pass per variable. tfjs's `MomentumOptimizer.applyGradients` runs four
 * full-size elementwise ops per variable (two Mul, two Add; six with Nesterov) and `SGDOptimizer` two,
 * each allocating a tensor. A backend registers a kernel computing the same update
 * ({@link registerFusedSgd}; `@trellis-ml/backend-native` and core's wasm SIMD kernels do, each
 * product and sum rounded on its own as tfjs's kernels round them, so the weights are tfjs's bit for
 * bit); while that backend is current, the two optimizers' `applyGradients` (patched once) run it. On any other backend, or
 * for non-float32 variables or a gradient of another shape than its variable, the original method runs. `TRELLIS_FUSED_SGD=0` turns the patch off.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, NamedTensorMap, Tensor, Variable } from '@tensorflow/tfjs-core';
import { fusable, gradientAt, variableNames, type VariableGradients } from './optimizerPatch.js';

/**
 * The update's constants, in kernel order: [momentum, −lr, mode] with mode 0 plain SGD
 * (`value' = −lr·g + value`), 1 momentum (`acc' = momentum·acc + g; value' = −lr·acc' + value`),
 * 2 Nesterov (`value' = −lr·(g + acc'·momentum) + value`). Momentum and −lr are the float32 values
 * of the optimizer's own scalars (`m`; `c` = −learningRate).
 */
export type SgdConstants = [momentum: number, negLr: number, mode: 0 | 1 | 2];

/** How one backend runs the fused update. */
export interface FusedSgdBackend {
  /**
   * Kernel registered for the backend: inputs `value`, `g` and (modes 1, 2) `acc` (float32, one
   * shape), attr `constants` ({@link SgdConstants} as an array); outputs `[value']` in mode 0, else
   * `[value', acc']`.
   */
  kernelName: string;
  /**
   * Optional: writes the update into the variable's (and accumulator's) own buffers when that is safe
   * (nothing else holds them) and returns true; returning false runs the kernel instead. `acc` is
   * null in mode 0.
   */
  inPlace?(value: Tensor, acc: Tensor | null, g: Tensor, constants: SgdConstants): boolean;
  /** Optional: false when the kernel cannot run on the current backend instance (tfjs's own update runs). */
  available?(): boolean;
}

/** The fields of tfjs 4.22's SGDOptimizer / MomentumOptimizer the patch reads. */
interface SgdInternals {
  learningRate: number;
  m?: Tensor;
  useNesterov?: boolean;
  accumulations?: Array<{ originalName: string; variable: Variable } | undefined>;
  incrementIterations(): void;
}

const PATCHED = '__trellisFusedSgd';
const backends = new Map<string, FusedSgdBackend>();

/**
 * The momentum tfjs multiplies by: its scalar `m`, made once in the constructor (`setMomentum` does
 * not replace it), so it is read once per optimizer, never in a later step.
 */
const momenta = new WeakMap<Tensor, number>();
function momentumOf(m: Tensor): number {
  let v = momenta.get(m);
  if (v === undefined) {
    v = m.dataSync()[0] as number;
    momenta.set(m, v);
  }
  return v;
}

/**
 * Makes SGD and momentum SGD run `impl` while `backendName` is the current backend (installs the
 * patch once; registering a backend again replaces its entry). Returns false when `TRELLIS_FUSED_SGD=0`.
 */
export function registerFusedSgd(backendName: string, impl: FusedSgdBackend): boolean {
  if (process.env['TRELLIS_FUSED_SGD'] === '0') return false;
  backends.set(backendName, impl);
  installPatch(tf.SGDOptimizer.prototype, false);
  installPatch(tf.MomentumOptimizer.prototype, true);
  return true;
}

/** Whether `backendName` has a fused SGD registered. */
export function hasFusedSgd(backendName: string): boolean {
  return backends.has(backendName);
}

/** Runs the update of one variable: in place when the backend can, else through the kernel and `assign`. */
function update(impl: FusedSgdBackend, value: Variable, acc: Variable | null, gradient: Tensor, constants: SgdConstants): void {
  tf.tidy(() => {
    const g = gradient.dtype === 'float32' ? gradient : tf.cast(gradient, 'float32');
    if (impl.inPlace?.(value, acc, g, constants)) return;
    const inputs = acc == null ? { value, g } : { value, acc, g };
    const outputs = tf.engine().runKernel(impl.kernelName, inputs as unknown as NamedTensorMap, {
      constants,
    } as unknown as NamedAttrMap) as Tensor[];
    if (acc != null) acc.assign(outputs[1]!);
    value.assign(outputs[0]!);
  });
}

function installPatch(target: object, momentum: boolean): void {
  const proto = target as Record<string, unknown>;
  if (Object.prototype.hasOwnProperty.call(proto, PATCHED)) return;
  const original = proto['applyGradients'] as (this: tf.SGDOptimizer, g: VariableGradients) => void;
  proto['applyGradients'] = function applyGradients(this: tf.SGDOptimizer, variableGradients: VariableGradients): void {
    const impl = backends.get(tf.getBackend());
    const names = variableNames(variableGradients);
    if (impl == null || impl.available?.() === false || !fusable(variableGradients, names)) return original.call(this, variableGradients);
    const self = this as unknown as SgdInternals;
    // tfjs's `c` is `scalar(−learningRate)`, remade by every `setLearningRate`: its float32 value, without a read.
    const negLr = Math.fround(-self.learningRate);
    const registered = tf.engine().registeredVariables;
    if (!momentum) {
      names.forEach((name, i) => {
        const gradient = gradientAt(variableGradients, name, i);
        if (gradient != null) update(impl, registered[name] as Variable, null, gradient, [0, negLr, 0]);
      });
    } else {
      const constants: SgdConstants = [momentumOf(self.m!), negLr, self.useNesterov ? 2 : 1];
      const accumulations = self.accumulations!;
      names.forEach((name, i) => {
        const value = registered[name] as Variable;
        if (accumulations[i] == null) {
          accumulations[i] = { originalName: `${name}/momentum`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        }
        const gradient = gradientAt(variableGradients, name, i);
        if (gradient != null) update(impl, value, accumulations[i]!.variable, gradient, constants);
      });
    }
    self.incrementIterations();
  };
  proto[PATCHED] = true;
}
