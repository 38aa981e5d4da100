/**
 * Large host arrays that are cheap to touch the first time. A `Float32Array` of hundreds of MB is backed
 * by a fresh mmap whose first write page-faults every 4 KB page; on the build machine (a VM) that costs
 * 3.6 ms per MB, more than most of the arithmetic done on the array afterwards (a 125 MB buffer: 370 ms
 * to fill the first time, 5 ms the second). Where an advisor is registered — `@trellis-ml/backend-native`
 * registers one that asks Linux for transparent huge pages (16 ms for the same first fill) — arrays from
 * {@link largeFloat32Array} get that advice before anything writes them. Values are never affected.
 *
 * @module
 */

/** Gives a freshly allocated, not yet written array its memory advice; returns the bytes advised. */
export type LargeArrayAdvisor = (array: Float32Array) => number;

let advisor: LargeArrayAdvisor | null = null;

/** Arrays from this many bytes get the advice (smaller ones come from malloc's reused heap). */
export const LARGE_ARRAY_BYTES = 8 << 20;

/** Registers (or, with null, removes) the advisor {@link largeFloat32Array} calls; returns the one it replaces. */
export function registerLargeArrayAdvisor(next: LargeArrayAdvisor | null): LargeArrayAdvisor | null {
  const previous = advisor;
  advisor = next;
  return previous;
}

/**
 * A zero-filled `Float32Array` of `length` elements, with the registered advisor's memory advice when it
 * is at least {@link LARGE_ARRAY_BYTES} (see the module comment). Use it for large buffers written once
 * and read many times (embeddings, datasets, pooled kernel outputs).
 */
export function largeFloat32Array(length: number): Float32Array {
  const array = new Float32Array(length);
  if (advisor != null && array.byteLength >= LARGE_ARRAY_BYTES) advisor(array);
  return array;
}
