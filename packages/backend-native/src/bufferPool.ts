/**
 * Reuse of the native kernels' output buffers. Every training step allocates the same few hundred
 * float32 outputs; fresh `Float32Array`s cost a zero fill, first-touch page faults and, above all,
 * V8 major garbage collections driven by the external memory they add (a third of a ResNet step's
 * CPU time before this pool). The pool hands a disposed tensor's buffer to the next output of the
 * same length instead.
 *
 * A buffer is recycled only when it is safe: it was allocated here (`take`), adopted by exactly one
 * tensor, and never escaped — the backend calls {@link BufferPool.pin} when its values are read
 * (`dataSync`, `data`, `arraySync`, …) or when another tensor is made from them or from a view of
 * them (the cpu backend's `Slice` returns subarrays), so an array a user holds is never overwritten.
 *
 * @module
 */

import { largeFloat32Array } from '@trellis-ml/core';

/** Options for {@link BufferPool}. */
export interface BufferPoolOptions {
  /** Most bytes kept for reuse (default 1 GiB; 0 turns reuse off). */
  maxBytes?: number;
  /** Fill every handed-out buffer with NaN (tests: catches a kernel that does not write all of its output). */
  poison?: boolean;
}

/** Counters of a {@link BufferPool}. */
export interface BufferPoolStats {
  /** Buffers handed out from the pool. */
  reused: number;
  /** Buffers newly allocated. */
  allocated: number;
  /** Buffers taken back for reuse. */
  recycled: number;
  /** Buffers that escaped (read or shared) and will never be reused. */
  pinned: number;
  /** Bytes currently held for reuse. */
  heldBytes: number;
}

/** Size-keyed free lists of float32 buffers (see the module comment for when a buffer is reused). */
export class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  private readonly owned = new WeakSet<ArrayBuffer>();
  private readonly fresh = new WeakSet<ArrayBuffer>();
  private readonly escaped = new WeakSet<ArrayBuffer>();
  private readonly maxBytes: number;
  private readonly poison: boolean;
  private held = 0;
  private readonly counts = { reused: 0, allocated: 0, recycled: 0, pinned: 0 };

  constructor(options: BufferPoolOptions = {}) {
    this.maxBytes = options.maxBytes ?? 1 << 30;
    this.poison = options.poison ?? false;
  }

  /** A float32 buffer of `length` elements whose contents are undefined (the caller writes all of it). */
  take(length: number): Float32Array {
    const list = this.free.get(length);
    let out = list?.pop();
    if (out != null) {
      this.held -= out.byteLength;
      this.counts.reused++;
    } else {
      out = largeFloat32Array(length);
      this.owned.add(out.buffer as ArrayBuffer);
      this.counts.allocated++;
    }
    this.fresh.add(out.buffer as ArrayBuffer);
    if (this.poison) out.fill(NaN);
    return out;
  }

  /**
   * Called for every array a tensor is made from: the first adoption of a buffer from {@link take}
   * is the kernel's own output; any other use of a pool buffer (a second tensor on it, a view of
   * it) pins it.
   */
  adopt(values: unknown): void {
    const buffer = bufferOf(values);
    if (buffer == null || !this.owned.has(buffer)) return;
    if (this.fresh.has(buffer) && isWhole(values as Float32Array)) this.fresh.delete(buffer);
    else this.pin(values);
  }

  /** Marks the buffer behind `values` as escaped: it is never reused. */
  pin(values: unknown): void {
    const buffer = bufferOf(values);
    if (buffer == null || !this.owned.has(buffer) || this.escaped.has(buffer)) return;
    this.escaped.add(buffer);
    this.counts.pinned++;
  }

  /** Takes back the values of a disposed tensor when they are a pool buffer that never escaped. */
  recycle(values: unknown): void {
    const buffer = bufferOf(values);
    if (buffer == null || !this.owned.has(buffer) || this.escaped.has(buffer) || this.fresh.has(buffer)) return;
    const arr = values as Float32Array;
    if (!isWhole(arr) || this.maxBytes <= 0 || this.held + arr.byteLength > this.maxBytes) return;
    let list = this.free.get(arr.length);
    if (list == null) this.free.set(arr.length, (list = []));
    list.push(arr);
    this.held += arr.byteLength;
    this.counts.recycled++;
  }

  /**
   * Whether `values` is a whole pool buffer that was adopted and never escaped: its one tensor is
   * then the only holder, and (when that tensor's refCount is 1) it may be written in place.
   */
  isExclusive(values: unknown): boolean {
    const buffer = bufferOf(values);
    return buffer != null && this.owned.has(buffer) && !this.escaped.has(buffer) && !this.fresh.has(buffer) && isWhole(values as Float32Array);
  }

  /** Drops every held buffer. */
  clear(): void {
    this.free.clear();
    this.held = 0;
  }

  /** Counters since construction. */
  stats(): BufferPoolStats {
    return { ...this.counts, heldBytes: this.held };
  }
}

function bufferOf(values: unknown): ArrayBuffer | null {
  return values instanceof Float32Array ? (values.buffer as ArrayBuffer) : null;
}

function isWhole(a: Float32Array): boolean {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
}
