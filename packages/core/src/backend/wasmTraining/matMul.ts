import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { wasmSimdKernels, type WasmSimdKernels } from '../wasmSimd.js';
import { asWasm, dispose, run, swapLastTwo, transposeInfo, type KernelArgs } from './heap.js';

// --------------------------------------------------------------------------------------------
// BatchMatMul / _FusedMatMul. The stock kernels use XNNPACK only when neither operand is
// transposed *and* both have batch size 1; everything else runs a blocked scalar loop (~20x
// slower). So: transposed operands are transposed first (wasm's Transpose kernel); a batched `a`
// against an unbatched `b` is one matrix [batch·M, K] × [K, N]; two batched operands are
// multiplied batch by batch (each slice on XNNPACK) when the slices are big enough to pay for it.
// --------------------------------------------------------------------------------------------
/** Per-slice multiply-adds from which a batch-by-batch XNNPACK loop beats the scalar loop. */
const PER_BATCH_MIN_MACS = 4096;

function sliceCopy(t: TensorInfo, index: number, shape: number[], backend: unknown): TensorInfo {
  const b = asWasm(backend);
  const size = tf.util.sizeFromShape(shape);
  const out = b.makeOutput(shape, t.dtype);
  const dst = b.typedArrayFromHeap(out) as Float32Array;
  const src = b.typedArrayFromHeap(t) as Float32Array;
  dst.set(src.subarray(index * size, (index + 1) * size));
  return out;
}

type MatMulAttrs = { transposeA?: boolean; transposeB?: boolean; activation?: string };

/**
 * A float32 (fused) matmul on core's SIMD GEMM ({@link wasmSimdKernels}): any transposes, an
 * operand broadcast over the batch or equal batches, bias of N values, linear or ReLU activation.
 * Returns null for anything else (the caller falls back to the backend's kernels).
 */
function simdMatMul(simd: WasmSimdKernels, args: KernelArgs): TensorInfo | null {
  const attrs = (args.attrs ?? {}) as MatMulAttrs;
  const a = args.inputs['a'] as TensorInfo;
  const b = args.inputs['b'] as TensorInfo;
  const bias = args.inputs['bias'] as TensorInfo | undefined;
  const activation = attrs.activation ?? 'linear';
  if (args.inputs['preluActivationWeights'] != null || (activation !== 'linear' && activation !== 'relu')) return null;
  const aOuter = a.shape.slice(0, -2);
  const bOuter = b.shape.slice(0, -2);
  const aBatch = tf.util.sizeFromShape(aOuter);
  const bBatch = tf.util.sizeFromShape(bOuter);
  const sameOuter = aOuter.length === bOuter.length && aOuter.every((d, i) => d === bOuter[i]);
  if (!(aBatch === 1 || bBatch === 1 || sameOuter)) return null;
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const m = attrs.transposeA ? ac : ar;
  const k = attrs.transposeA ? ar : ac;
  const n = attrs.transposeB ? br : bc;
  if ((attrs.transposeB ? bc : br) !== k) return null;
  if (bias != null && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== n)) return null;
  const outShape = [...tf.broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter), m, n];
  const out = asWasm(args.backend).makeOutput(outShape, 'float32');
  if (tf.util.sizeFromShape(outShape) === 0) return out;
  // A batched, untransposed `a` against one `b` is a single [batch·M, K] × [K, N] product.
  const flat = bBatch === 1 && !attrs.transposeA;
  const batch = flat ? 1 : Math.max(aBatch, bBatch);
  const rows = flat ? aBatch * m : m;
  simd.gemm(
    batch, rows, n, k,
    {
      ptr: simd.offset(a), batchStride: aBatch === 1 ? 0 : m * k,
      rowStride: attrs.transposeA ? 1 : k, colStride: attrs.transposeA ? m : 1,
    },
    {
      ptr: simd.offset(b), batchStride: bBatch === 1 ? 0 : k * n,
      rowStride: attrs.transposeB ? 1 : n, colStride: attrs.transposeB ? k : 1,
    },
    simd.offset(out), bias != null ? simd.offset(bias) : 0, activation === 'relu',
  );
  return out;
}

/** The wasm `BatchMatMul` / `_FusedMatMul` kernel wrapping the stock `original` (SIMD GEMM, else XNNPACK-friendly operands). */
export function fastMatMul(original: KernelConfig): KernelFunc {
  const kernelFunc = original.kernelFunc as (a: KernelArgs) => TensorInfo;
  return ((args: KernelArgs) => {
    const attrs = (args.attrs ?? {}) as MatMulAttrs;
    const { backend } = args;
    let a = args.inputs['a'] as TensorInfo;
    let b = args.inputs['b'] as TensorInfo;
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) {
      return kernelFunc(args);
    }
    const simd = wasmSimdKernels(backend);
    if (simd != null) {
      const out = simdMatMul(simd, args);
      if (out != null) return out;
    }
    const aOuter = a.shape.slice(0, -2);
    const bOuter = b.shape.slice(0, -2);
    const aBatch = tf.util.sizeFromShape(aOuter);
    const bBatch = tf.util.sizeFromShape(bOuter);
    if (!attrs.transposeA && !attrs.transposeB && aBatch === 1 && bBatch === 1) return kernelFunc(args);
    const temps: TensorInfo[] = [];
    try {
      if (attrs.transposeA) {
        a = transposeInfo(a, swapLastTwo(a.shape.length), backend);
        temps.push(a);
      }
      if (attrs.transposeB) {
        b = transposeInfo(b, swapLastTwo(b.shape.length), backend);
        temps.push(b);
      }
      const m = a.shape[a.shape.length - 2] as number;
      const k = a.shape[a.shape.length - 1] as number;
      const n = b.shape[b.shape.length - 1] as number;
      const plainAttrs = { ...(args.attrs ?? {}), transposeA: false, transposeB: false };
      const prelu = args.inputs['preluActivationWeights'] as TensorInfo | undefined;
      const sameOuter = aOuter.length === bOuter.length && aOuter.every((d, i) => d === bOuter[i]);
      const simpleBatch = aBatch === 1 || bBatch === 1 || sameOuter;
      if (prelu != null || !simpleBatch || (aBatch === 1 && bBatch === 1)) {
        return kernelFunc({ inputs: { ...args.inputs, a, b }, backend, attrs: plainAttrs });
      }
      const outShape = [...tf.broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter), m, n];
      if (bBatch === 1) {
        // [batch, M, K] × [K, N] is one [batch·M, K] × [K, N] product.
        const a3 = run('Reshape', { x: a }, { shape: [1, aBatch * m, k] }, backend);
        const b3 = run('Reshape', { x: b }, { shape: [1, k, n] }, backend);
        temps.push(a3, b3);
        const res = kernelFunc({ inputs: { ...args.inputs, a: a3, b: b3 }, backend, attrs: plainAttrs });
        temps.push(res);
        return run('Reshape', { x: res }, { shape: outShape }, backend);
      }
      if (m * n * k < PER_BATCH_MIN_MACS) {
        return kernelFunc({ inputs: { ...args.inputs, a, b }, backend, attrs: plainAttrs });
      }
      const batch = Math.max(aBatch, bBatch);
      const wasm = asWasm(backend);
      const out = wasm.makeOutput(outShape, 'float32');
      const a3 = aBatch === 1 ? run('Reshape', { x: a }, { shape: [1, m, k] }, backend) : null;
      if (a3 != null) temps.push(a3);
      for (let i = 0; i < batch; i++) {
        const ai = a3 ?? sliceCopy(a, i, [1, m, k], backend);
        const bi = sliceCopy(b, i, [1, k, n], backend);
        const res = kernelFunc({ inputs: { ...args.inputs, a: ai, b: bi }, backend, attrs: plainAttrs });
        (wasm.typedArrayFromHeap(out) as Float32Array).set(wasm.typedArrayFromHeap(res) as Float32Array, i * m * n);
        dispose(backend, res, bi);
        if (a3 == null) dispose(backend, ai);
      }
      return out;
    } finally {
      dispose(backend, ...temps);
    }
  }) as unknown as KernelFunc;
}
