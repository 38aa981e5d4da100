/**
 * Counting host reads of a step's batch tensors: a plugin whose loss reads the labels (or inputs) back
 * from the device in every step makes one synchronous device-to-host copy per step, which a `Dataset`'s
 * own checks make redundant. A test adds the watch's plugin to the Trainer and asserts `reads()` is 0.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TrainerPlugin } from '@trellis-ml/core';

/** What {@link watchBatchReads} returns. */
export interface BatchReadWatch {
  /** Add it to the Trainer's plugins (anywhere in the list): it records each step's batch tensor. */
  readonly plugin: TrainerPlugin;
  /** Also counts the reads of `t` since the watch began (e.g. a label tensor passed to a loss function directly). */
  watch(t: tf.Tensor): void;
  /** How many distinct tensor buffers are watched (0 means no step ran, and `reads()` proves nothing). */
  watched(): number;
  /**
   * Host reads of the watched buffers so far: `dataSync` calls (`arraySync` and `bufferSync` call it) and, counted
   * when called, `data` and `bytes` calls (`array` calls `data`).
   */
  reads(): number;
  /** Puts `tf.Tensor.prototype`'s `dataSync`, `data` and `bytes` back. Call it in a `finally`. */
  restore(): void;
}

/**
 * Watches the host reads of each training step's batch labels (`part: 'y'`, default) or inputs (`'x'`,
 * e.g. a language model's token ids). Reads are counted by buffer, so a reshape or clone of the batch's
 * tensor counts too; a backend kernel's own reads of other buffers do not. Synchronous reads (`dataSync`, and
 * `arraySync`/`bufferSync` through it) and asynchronous ones (`data`, `bytes`, and `array` through `data`, e.g. an
 * `await ctx.batch.y.data()` in `onBatchStart`) are both counted, the latter when called.
 *
 * @example
 * const w = watchBatchReads('y');
 * try {
 *   const t = new Trainer({ model, seed: 1, plugins: [myPlugin(), w.plugin] });
 *   await t.fit(data, { epochs: 1 });
 *   expect(w.watched()).toBeGreaterThan(0);
 *   expect(w.reads()).toBe(0);
 * } finally {
 *   w.restore();
 * }
 */
export function watchBatchReads(part: 'x' | 'y' = 'y'): BatchReadWatch {
  type Reader = (this: tf.Tensor, ...args: unknown[]) => unknown;
  const proto = tf.Tensor.prototype as unknown as Record<'dataSync' | 'data' | 'bytes', Reader>;
  const originals = { dataSync: proto.dataSync, data: proto.data, bytes: proto.bytes };
  const ids = new Set<object>();
  // every buffer read while watching, counted when read: a plugin's loss may read the batch before the watch's
  // own lossTerms (later in the step) has seen it
  const readsOf = new WeakMap<object, number>();
  for (const key of ['dataSync', 'data', 'bytes'] as const) {
    const original = originals[key];
    proto[key] = function read(this: tf.Tensor, ...args: unknown[]) {
      readsOf.set(this.dataId, (readsOf.get(this.dataId) ?? 0) + 1);
      return original.apply(this, args);
    };
  }
  return {
    plugin: {
      name: 'batch-read-watch',
      apiVersion: 1,
      lossTerms: (_outputs, batch) => {
        const t = part === 'x' ? batch.x : batch.y;
        if (t) ids.add(t.dataId);
        return {};
      },
    },
    watch: (t) => void ids.add(t.dataId),
    watched: () => ids.size,
    reads: () => [...ids].reduce((n, id) => n + (readsOf.get(id) ?? 0), 0),
    restore: () => {
      Object.assign(proto, originals);
    },
  };
}
