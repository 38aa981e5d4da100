/**
 * Native `tf.moments` for batch normalisation in training. tfjs-layers' BatchNormalization computes
 * the batch statistics with `tf.moments` (Mean, Sub, Square, Mean) and its gradient runs another
 * half-dozen full-size ops (two broadcasts, 2·a·b, a negated sum, accumulations): in a ResNet step
 * those passes over the activations cost about as much as the convolutions' share above PyTorch's.
 * Here one kernel computes both statistics (two reads of x) and one kernel the gradient (one pass).
 *
 * tfjs-layers reads `moments` from tfjs-core's CommonJS exports at call time, so replacing that
 * property routes its calls here. The replacement runs natively only on 'trellis-native', for
 * float32 inputs reduced over every axis but the last (what BatchNormalization does for
 * channels-last data); everything else calls the original. `TRELLIS_NATIVE_MOMENTS=0` disables it.
 *
 * @module
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, Tensor, TensorInfo } from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon.js';
import { alloc, count, f32, output } from './kernels.js';

/** Kernel: input x; outputs [mean, variance] of shape [C] over every axis but the last. */
export const MOMENTS_KERNEL = 'TrellisNativeMoments';
/** Kernel: inputs x, mean, dmean, dvar; output dx. */
export const MOMENTS_GRAD_KERNEL = 'TrellisNativeMomentsGrad';

const PATCHED = '__trellisNativeMoments';

type KernelArgs = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };
function values(backend: unknown, t: TensorInfo | undefined, name: string): Float32Array {
  const v = f32(backend, t);
  if (v == null) throw new Error(`${MOMENTS_KERNEL}: float32 '${name}' expected`);
  return v;
}

/** The two kernels, to register on the native backend. */
export function momentsKernelFuncs(addon: NativeAddon): Array<[string, KernelFunc]> {
  const forward = ((args: KernelArgs) => {
    const x = args.inputs['x'] as TensorInfo;
    const xv = values(args.backend, x, 'x');
    const c = x.shape[x.shape.length - 1] as number;
    const mean = alloc(args.backend, c);
    const variance = alloc(args.backend, c);
    addon.moments(xv, mean, variance, c);
    count(MOMENTS_KERNEL, true);
    return [output(args.backend, [c], mean), output(args.backend, [c], variance)];
  }) as unknown as KernelFunc;
  const backward = ((args: KernelArgs) => {
    const get = (k: string): Float32Array => values(args.backend, args.inputs[k] as TensorInfo, k);
    const x = args.inputs['x'] as TensorInfo;
    const xv = get('x');
    const c = x.shape[x.shape.length - 1] as number;
    const dx = alloc(args.backend, xv.length);
    addon.momentsGrad(xv, get('mean'), get('dmean'), get('dvar'), dx, c);
    count(MOMENTS_GRAD_KERNEL, true);
    return output(args.backend, [...x.shape], dx);
  }) as unknown as KernelFunc;
  return [
    [MOMENTS_KERNEL, forward],
    [MOMENTS_GRAD_KERNEL, backward],
  ];
}

/** The gradient of {@link MOMENTS_KERNEL} (registered once, backend-independent by name). */
export const momentsGradConfig: GradConfig = {
  kernelName: MOMENTS_KERNEL,
  inputsToSave: ['x'],
  outputsToSave: [true, false],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
    const [dmean, dvar] = dy as Tensor[];
    const [x, mean] = saved as [Tensor, Tensor];
    return {
      x: () => tf.engine().runKernel(MOMENTS_GRAD_KERNEL, { x, mean, dmean, dvar } as unknown as tf.NamedTensorMap) as Tensor,
    };
  },
};

type MomentsFn = (x: Tensor | tf.TensorLike, axis?: number | number[], keepDims?: boolean) => { mean: Tensor; variance: Tensor };

/** Whether `axis` covers exactly every axis but the last of a tensor of rank `rank`. */
export function reducesAllButLast(axis: number | number[] | undefined, rank: number): boolean {
  if (rank < 2 || axis == null) return false;
  const axes = [...new Set(tf.util.parseAxisParam(axis, new Array<number>(rank).fill(1)))].sort((a, b) => a - b);
  return axes.length === rank - 1 && axes.every((a, i) => a === i);
}

/**
 * Replaces tfjs-core's exported `moments` (what tfjs-layers calls) with one that runs the native
 * kernels on `backendName`. Idempotent; returns false when disabled or the export is not writable.
 */
export function installNativeMoments(backendName: string): boolean {
  if (process.env['TRELLIS_NATIVE_MOMENTS'] === '0') return false;
  const require = createRequire(import.meta.url);
  const cjs = require('@tensorflow/tfjs-core') as Record<string, unknown>;
  const current = cjs['moments'] as MomentsFn & { [PATCHED]?: true };
  if (current?.[PATCHED]) return true;
  const original = current;
  const patched = ((x: Tensor | tf.TensorLike, axis?: number | number[], keepDims = false) => {
    if (
      tf.getBackend() !== backendName || !(x instanceof tf.Tensor) || x.dtype !== 'float32' || x.size === 0 ||
      !reducesAllButLast(axis, x.rank)
    ) {
      return original(x, axis, keepDims);
    }
    return tf.tidy(() => {
      const [mean, variance] = tf.engine().runKernel(MOMENTS_KERNEL, { x } as unknown as tf.NamedTensorMap) as Tensor[] as [Tensor, Tensor];
      if (!keepDims) return { mean, variance };
      const shape = [...new Array<number>(x.rank - 1).fill(1), x.shape[x.rank - 1] as number];
      return { mean: tf.reshape(mean, shape), variance: tf.reshape(variance, shape) };
    });
  }) as MomentsFn & { [PATCHED]?: true };
  patched[PATCHED] = true;
  try {
    cjs['moments'] = patched;
  } catch {
    return false;
  }
  return cjs['moments'] === patched;
}
