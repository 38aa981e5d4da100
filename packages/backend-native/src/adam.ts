/**
 * tfjs's Adam in one native pass per variable on 'trellis-native', through core's fused-Adam hook
 * (`registerFusedAdam`: `AdamOptimizer.applyGradients` runs one kernel per variable instead of
 * eleven full-size elementwise ops while the backend is current). When the variable and both
 * moments are each held by that one variable alone (`NativeBackend.exclusiveValues`: after the
 * first step they are the kernel's own outputs), the update is written into their buffers in place
 * — no new tensors, no assign. `TRELLIS_NATIVE_ADAM=0` (or core's `TRELLIS_FUSED_ADAM=0`) disables it.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, TensorInfo } from '@tensorflow/tfjs-core';
import { registerFusedAdam } from '@trellis-ml/core';
import type { NativeAddon } from './addon.js';
import { ADAM_KERNEL, count, f32 } from './kernels.js';
import { exclusiveBuffer } from './inPlace.js';

/** Name under which in-place updates are counted in `nativeCallCounts()`. */
export const ADAM_IN_PLACE = 'TrellisNativeAdam(in place)';

/** Registers the native fused Adam for `backendName` (idempotent). */
export function installNativeAdam(backendName: string, addon: NativeAddon): boolean {
  if (process.env['TRELLIS_NATIVE_ADAM'] === '0') return false;
  return registerFusedAdam(backendName, {
    kernelName: ADAM_KERNEL,
    inPlace: (value: Tensor, m: Tensor, v: Tensor, g: Tensor, constants) => {
      const vv = exclusiveBuffer(value);
      const mv = exclusiveBuffer(m);
      const sv = exclusiveBuffer(v);
      const gv = f32(tf.backend(), g as unknown as TensorInfo);
      if (vv == null || mv == null || sv == null || gv == null || gv.length !== vv.length) return false;
      addon.adam(vv, mv, sv, gv, vv, mv, sv, Float32Array.from(constants));
      count(ADAM_IN_PLACE, true);
      return true;
    },
  });
}
