/**
 * tfjs's Adam in one native pass per variable on 'trellis-native'. Once GEMM and convolutions are
 * native, `AdamOptimizer.applyGradients` (eleven elementwise ops per variable, each allocating a
 * full-size tensor) is most of an MLP's training step; this runs the same float32 arithmetic in one
 * kernel. Installed by patching `AdamOptimizer.prototype.applyGradients`, and active only while
 * 'trellis-native' is the current backend (elsewhere, or for non-float32 variables, the original
 * method runs). `TRELLIS_NATIVE_ADAM=0` disables it.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, NamedTensorMap, Tensor, TensorInfo, Variable } from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon.js';
import { ADAM_KERNEL, count, f32 } from './kernels.js';

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

type NamedTensorList = Array<{ name: string; tensor: Tensor }>;

const PATCHED = '__trellisNativeAdam';

/** What the in-place path needs of the backend (see NativeBackend.exclusiveValues). */
interface InPlaceBackend {
  exclusiveValues?(dataId: object): Float32Array | null;
}

/** Name under which in-place updates are counted in `nativeCallCounts()`. */
export const ADAM_IN_PLACE = 'TrellisNativeAdam(in place)';

/**
 * Patches AdamOptimizer once (idempotent). `backendName`: where the fused path applies. When the
 * variable and both moments are each held by that one variable alone (see
 * `NativeBackend.exclusiveValues`: after the first step they are the kernel's own outputs), the
 * update is written into their buffers in place — no new tensors, no assign; otherwise the fused
 * kernel makes three new tensors that are assigned.
 */
export function installNativeAdam(backendName: string, addon: NativeAddon): boolean {
  if (process.env['TRELLIS_NATIVE_ADAM'] === '0') return false;
  const proto = tf.AdamOptimizer.prototype as unknown as Record<string, unknown>;
  if (proto[PATCHED]) return true;
  const original = proto['applyGradients'] as (this: tf.AdamOptimizer, g: NamedTensorMap | NamedTensorList) => void;
  proto['applyGradients'] = function applyGradients(this: tf.AdamOptimizer, variableGradients: NamedTensorMap | NamedTensorList): void {
    if (tf.getBackend() !== backendName) return original.call(this, variableGradients);
    const self = this as unknown as AdamInternals;
    const list = Array.isArray(variableGradients);
    const names = list ? (variableGradients as NamedTensorList).map((v) => v.name) : Object.keys(variableGradients);
    const registered = tf.engine().registeredVariables;
    if (names.some((n) => registered[n]?.dtype !== 'float32')) return original.call(this, variableGradients);
    tf.tidy(() => {
      const acc1 = self.accBeta1.dataSync()[0] as number;
      const acc2 = self.accBeta2.dataSync()[0] as number;
      const f = Math.fround;
      const constants = [
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
        const gradient = list ? (variableGradients as NamedTensorList)[i]?.tensor : (variableGradients as NamedTensorMap)[name];
        if (gradient == null) return;
        const m = self.accumulatedFirstMoment[i]!.variable;
        const v = self.accumulatedSecondMoment[i]!.variable;
        const g = gradient.dtype === 'float32' ? gradient : tf.cast(gradient, 'float32');
        const backend = tf.backend() as unknown as InPlaceBackend;
        const own = (t: Tensor): Float32Array | null => backend.exclusiveValues?.(t.dataId) ?? null;
        const vv = own(value);
        const mv = own(m);
        const sv = own(v);
        const gv = f32(backend, g as unknown as TensorInfo);
        if (vv != null && mv != null && sv != null && gv != null && gv.length === vv.length) {
          addon.adam(vv, mv, sv, gv, vv, mv, sv, Float32Array.from(constants));
          count(ADAM_IN_PLACE, true);
          return;
        }
        const [nv, nm, ns] = tf.engine().runKernel(ADAM_KERNEL, { value, m, v, g } as unknown as NamedTensorMap, {
          constants,
        } as unknown as NamedAttrMap) as Tensor[] as [Tensor, Tensor, Tensor];
        m.assign(nm);
        v.assign(ns);
        value.assign(nv);
      });
      self.accBeta1.assign(tf.mul(self.accBeta1, self.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, self.beta2));
    });
    self.incrementIterations();
  };
  proto[PATCHED] = true;
  return true;
}
