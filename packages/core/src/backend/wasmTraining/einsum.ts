import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { dispose, run, transposeInfo, type KernelArgs } from './heap.js';

// --------------------------------------------------------------------------------------------
// Einsum (forward only, like every other backend): each operand is transposed into the
// equation's dimension order and padded with size-1 axes, multiplied in (broadcasting), and every
// summed dimension is reduced as soon as no later operand uses it.
// --------------------------------------------------------------------------------------------
/** The wasm `Einsum` kernel (stock wasm has none). */
export function einsum(args: KernelArgs): TensorInfo {
  const { inputs, backend } = args;
  const { equation } = args.attrs as unknown as tf.EinsumAttrs;
  const operands = Object.keys(inputs)
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => inputs[k] as TensorInfo);
  const { allDims, summedDims, idDims } = tf.backend_util.decodeEinsumEquation(equation, operands.length);
  const nDims = allDims.length;
  const sizes = new Array<number>(nDims).fill(1);
  operands.forEach((t, i) => (idDims[i] ?? []).forEach((d, j) => (sizes[d] = t.shape[j] ?? 1)));
  const lastUse = new Array<number>(nDims).fill(-1);
  idDims.forEach((dims, i) => dims.forEach((d) => (lastUse[d] = Math.max(lastUse[d] ?? -1, i))));
  const summed = new Set(summedDims);
  let acc: TensorInfo | null = null;
  const reduced = new Set<number>();
  operands.forEach((t, i) => {
    const dims = idDims[i] ?? [];
    // Transpose so the operand's axes follow the global order, then reshape to full rank.
    const order = dims.map((d, j) => [d, j] as const).sort((p, q) => p[0] - q[0]);
    const perm = order.map(([, j]) => j);
    let cur = t;
    const temps: TensorInfo[] = [];
    if (perm.some((p, j) => p !== j)) {
      cur = transposeInfo(cur, perm, backend);
      temps.push(cur);
    }
    const full = sizes.map((s, d) => (dims.includes(d) ? s : 1));
    cur = run('Reshape', { x: cur }, { shape: full }, backend);
    temps.push(cur);
    if (acc == null) {
      acc = run('Identity', { x: cur }, {}, backend);
    } else {
      const next = run('Multiply', { a: acc, b: cur }, {}, backend);
      dispose(backend, acc);
      acc = next;
    }
    dispose(backend, ...temps);
    const done = [...summed].filter((d) => !reduced.has(d) && (lastUse[d] ?? -1) <= i && (acc as TensorInfo).shape[d] !== 1);
    if (done.length > 0) {
      const next = run('Sum', { x: acc }, { axis: done, keepDims: true }, backend);
      dispose(backend, acc);
      acc = next;
    }
    for (const d of summed) if ((lastUse[d] ?? -1) <= i) reduced.add(d);
  });
  if (acc == null) throw new Error('Einsum needs at least one operand');
  const outShape = sizes.slice(0, nDims - summedDims.length);
  const out = run('Reshape', { x: acc }, { shape: outShape }, backend);
  // Reshape shares the data: copy so the result owns its buffer, then release the accumulator.
  const owned = run('Identity', { x: out }, {}, backend);
  dispose(backend, out, acc);
  return owned;
}
