/**
 * Native `tf.moments` for batch normalisation in training. tfjs-layers' BatchNormalization computes
 * the batch statistics with `tf.moments` (Mean, Sub, Square, Mean) and its gradient runs another
 * half-dozen full-size ops (two broadcasts, 2·a·b, a negated sum, accumulations): in a ResNet step
 * those passes over the activations cost about as much as the convolutions' share above PyTorch's.
 * Here one kernel computes both statistics (two reads of x) and one kernel the gradient (one pass).
 *
 * Core's `registerFusedMoments` replaces `tf.moments` as tfjs-layers calls it: on 'trellis-native', for
 * float32 inputs reduced over every axis but the last (what BatchNormalization does for channels-last
 * data), it runs these kernels; everything else calls the original. `TRELLIS_NATIVE_MOMENTS=0` disables it.
 *
 * @module
 */
import type { KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { registerFusedMoments } from '@trellis-ml/core';
import type { NativeAddon } from './addon.js';
import { alloc, count, f32, output } from './kernels.js';

/** Kernel: input x; outputs [mean, variance] of shape [C] over every axis but the last. */
export const MOMENTS_KERNEL = 'TrellisNativeMoments';
/** Kernel: inputs x, mean, dmean, dvar; output dx. */
export const MOMENTS_GRAD_KERNEL = 'TrellisNativeMomentsGrad';

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

/**
 * Routes `tf.moments` (as tfjs-layers calls it) to the native kernels on `backendName`, through
 * core's {@link registerFusedMoments}. Returns false when disabled (`TRELLIS_NATIVE_MOMENTS=0`, or
 * core's `TRELLIS_FUSED_MOMENTS=0`) or the export is not writable.
 */
export function installNativeMoments(backendName: string): boolean {
  if (process.env['TRELLIS_NATIVE_MOMENTS'] === '0') return false;
  return registerFusedMoments(backendName, { kernelName: MOMENTS_KERNEL, gradKernelName: MOMENTS_GRAD_KERNEL });
}
