/**
 * What the fused optimizer updates (adam.ts, sgd.ts) need to write in place: a tensor's own buffer
 * when nothing else holds it.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';

/** What the in-place path needs of the backend (see NativeBackend.exclusiveValues). */
interface InPlaceBackend {
  exclusiveValues?(dataId: object): Float32Array | null;
}

/**
 * The current backend's float32 buffer of `t` when `t` alone holds it (so writing into it changes
 * nothing else), else null.
 */
export function exclusiveBuffer(t: Tensor): Float32Array | null {
  return (tf.backend() as unknown as InPlaceBackend).exclusiveValues?.(t.dataId) ?? null;
}
