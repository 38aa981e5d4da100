/**
 * tfjs's SGD and momentum SGD in one native pass per variable on 'trellis-native', through core's
 * fused-SGD hook (`registerFusedSgd`: `SGDOptimizer` / `MomentumOptimizer.applyGradients` run one
 * kernel per variable instead of two to six full-size elementwise ops). The addon rounds every
 * product and sum on its own, as tfjs's Mul and Add kernels do, so the weights are tfjs's bit for
 * bit. When the variable (and its momentum accumulator) are each held by that one variable alone
 * (`NativeBackend.exclusiveValues`), the update is written into their buffers in place.
 * `TRELLIS_NATIVE_SGD=0` (or core's `TRELLIS_FUSED_SGD=0`) disables it.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, TensorInfo } from '@tensorflow/tfjs-core';
import { registerFusedSgd } from '@trellis-ml/core';
import type { NativeAddon } from './addon.js';
import { SGD_KERNEL, count, f32 } from './kernels.js';
import { exclusiveBuffer } from './inPlace.js';

/** Name under which in-place updates are counted in `nativeCallCounts()`. */
export const SGD_IN_PLACE = 'TrellisNativeSgd(in place)';

/** Registers the native fused SGD for `backendName` (idempotent). */
export function installNativeSgd(backendName: string, addon: NativeAddon): boolean {
  if (process.env['TRELLIS_NATIVE_SGD'] === '0') return false;
  return registerFusedSgd(backendName, {
    kernelName: SGD_KERNEL,
    inPlace: (value: Tensor, acc: Tensor | null, g: Tensor, constants) => {
      const vv = exclusiveBuffer(value);
      const av = acc == null ? null : exclusiveBuffer(acc);
      const gv = f32(tf.backend(), g as unknown as TensorInfo);
      if (vv == null || (acc != null && av == null) || gv == null || gv.length !== vv.length) return false;
      addon.sgd(vv, av, gv, vv, av, Float32Array.from(constants));
      count(SGD_IN_PLACE, true);
      return true;
    },
  });
}
