/**
 * Cleanup for a gradient computation that threw part-way through its forward pass.
 *
 * While TF.js records a tape (`tf.grads`, `optimizer.computeGradients`, …) it keeps a copy of every
 * tensor a kernel's gradient will need. Those copies are freed only by the backward pass; when the
 * forward function throws (a plugin's loss term rejecting a batch, a shape check), the backward
 * pass never runs and the copies stay allocated until the process ends.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The part of TF.js's engine state that holds the abandoned tape (internal to TF.js 4.x). */
interface TapeState {
  gradientDepth?: number;
  activeTape?: Array<{ saved?: tf.Tensor[] }> | null;
}

/**
 * Frees the tensors TF.js saved for the backward pass of the outermost gradient computation when
 * that computation threw before its backward pass ran, and clears the tape. Call it from the
 * `catch` of code that wraps `optimizer.computeGradients` / `tf.grads` (the Trainer does). Does
 * nothing inside a nested gradient computation (the outer one still owns the tape) or when no tape
 * is left over; returns how many tensors it freed.
 */
export function releaseAbandonedTape(): number {
  const state = (tf.engine() as unknown as { state?: TapeState }).state;
  if (!state || state.gradientDepth !== 0 || !Array.isArray(state.activeTape)) return 0;
  let freed = 0;
  for (const node of state.activeTape) {
    for (const t of node.saved ?? []) {
      if (!t.isDisposed) {
        t.dispose();
        freed++;
      }
    }
  }
  state.activeTape = null;
  return freed;
}
