import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { asWasm, zeroFill, type KernelArgs } from './heap.js';

// --------------------------------------------------------------------------------------------
// UnsortedSegmentSum (the gradient of gather / embeddings): one pass over the rows.
// --------------------------------------------------------------------------------------------
/** The wasm `UnsortedSegmentSum` kernel (stock wasm has none). */
export function unsortedSegmentSum(args: KernelArgs): TensorInfo {
  const { inputs, backend } = args;
  const { numSegments } = args.attrs as unknown as tf.UnsortedSegmentSumAttrs;
  const x = inputs['x'] as TensorInfo;
  const ids = inputs['segmentIds'] as TensorInfo;
  const idRank = ids.shape.length;
  const rows = tf.util.sizeFromShape(ids.shape);
  const rowSize = tf.util.sizeFromShape(x.shape.slice(idRank));
  const b = asWasm(backend);
  const out = b.makeOutput([numSegments, ...x.shape.slice(idRank)], x.dtype);
  const o = b.typedArrayFromHeap(out);
  const xv = b.typedArrayFromHeap(x);
  const idv = b.typedArrayFromHeap(ids);
  zeroFill(o);
  for (let r = 0; r < rows; r++) {
    const s = idv[r] as number;
    if (s < 0 || s >= numSegments) continue; // TF semantics: out-of-range ids are dropped.
    const src = r * rowSize;
    const dst = s * rowSize;
    for (let j = 0; j < rowSize; j++) o[dst + j]! += xv[src + j] as number;
  }
  return out;
}
