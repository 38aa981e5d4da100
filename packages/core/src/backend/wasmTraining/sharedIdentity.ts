import type { DataType, TensorInfo } from '@tensorflow/tfjs-core';
import { stockKernel, type KernelArgs } from './heap.js';

// --------------------------------------------------------------------------------------------
// Identity (and Cast to the same dtype) share the buffer (tensors are immutable), as on the cpu
// backend. The engine runs Identity to clone every tensor it saves for the backward pass, and the
// ReLU gradient casts float32 to float32; stock wasm copies each one.
// --------------------------------------------------------------------------------------------
/** The wasm `Cast` kernel: a same-dtype cast shares the buffer. */
export function castShared(args: KernelArgs): TensorInfo {
  const x = args.inputs['x'] as TensorInfo;
  const { dtype } = args.attrs as unknown as { dtype: DataType };
  if (x.dtype !== dtype || dtype === 'string') return (stockKernel('Cast').kernelFunc as (a: KernelArgs) => TensorInfo)(args);
  (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype };
}

/** The wasm `Identity` kernel: shares the buffer. */
export function identityShared(args: KernelArgs): TensorInfo {
  const x = args.inputs['x'] as TensorInfo;
  if (x.dtype === 'string') return (stockKernel('Identity').kernelFunc as (a: KernelArgs) => TensorInfo)(args);
  (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}
