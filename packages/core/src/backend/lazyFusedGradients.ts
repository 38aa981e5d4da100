/**
 * Gradients of tfjs's fused ops computed only for the inputs that need one. `tf.fused.matMul` and
 * `tf.fused.conv2d` with a linear activation (what tfjs-layers runs for a Dense or Conv2D layer
 * followed by BatchNormalization or a separate activation layer) differentiate through a custom
 * gradient that computes every input's gradient eagerly — including, for a network's first layer,
 * the gradient with respect to the input data, which nothing uses: a full `Conv2DBackpropInput` (or
 * an input-sized matmul) per step, about a tenth of a batch-norm CNN's step.
 *
 * {@link installLazyFusedGradients} replaces `fused` in tfjs-core's CommonJS exports (where
 * tfjs-layers reads it at call time) with one whose `matMul` (2-D operands) and `conv2d` (NHWC, rank 4,
 * dilation 1, a per-channel bias), for a linear activation with a bias and without PReLU weights, run the same `_FusedMatMul` /
 * `FusedConv2D` kernel, recorded with a kernel gradient whose per-input thunks run the same ops
 * tfjs's custom gradient runs, so the engine calls only those on the path to a variable: values
 * and gradients are bit-identical to tfjs's. Everything else calls the original op.
 * `TRELLIS_LAZY_FUSED_GRADIENTS=0` turns it off.
 *
 * @module
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, NamedAttrMap, NamedTensorMap, Tensor } from '@tensorflow/tfjs-core';

const PATCHED = '__trellisLazyFusedGradients';

type FusedMatMulArgs = Parameters<typeof tf.fused.matMul>[0];
type FusedConv2dArgs = Parameters<typeof tf.fused.conv2d>[0];

/** tfjs's `getFusedBiasGradient`: dy summed over the axes the bias was broadcast along. */
function biasGradient(bias: Tensor, dy: Tensor): Tensor {
  const axes = tf.backend_util.getReductionAxes(bias.shape, dy.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(dy, axes) : dy, bias.shape);
}

/** The gradient of `_FusedMatMul` with a linear activation: tfjs's fused matMul gradient, one thunk per input. */
const fusedMatMulGrad: GradConfig = {
  kernelName: '_FusedMatMul',
  inputsToSave: ['a', 'b', 'bias'],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const [a, b, bias] = saved as [Tensor, Tensor, Tensor | undefined];
    const g = dy as Tensor;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const grads: Record<string, () => Tensor> = !transposeA && !transposeB
      ? { a: () => tf.matMul(g, b, false, true), b: () => tf.matMul(a, g, true, false) }
      : !transposeA && transposeB
        ? { a: () => tf.matMul(g, b, false, false), b: () => tf.matMul(g, a, true, false) }
        : transposeA && !transposeB
          ? { a: () => tf.matMul(b, g, false, true), b: () => tf.matMul(a, g, false, false) }
          : { a: () => tf.matMul(b, g, true, true), b: () => tf.matMul(g, a, true, true) };
    if (bias != null) grads['bias'] = () => biasGradient(bias, g);
    return grads;
  },
};

/** The gradient of `FusedConv2D` with a linear activation, NHWC, dilation 1: tfjs's fused conv2d gradient, one thunk per input. */
const fusedConv2dGrad: GradConfig = {
  kernelName: 'FusedConv2D',
  inputsToSave: ['x', 'filter', 'bias'],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const [x, filter, bias] = saved as [Tensor, Tensor, Tensor | undefined];
    const g = dy as Tensor;
    const { strides, pad } = attrs as unknown as { strides: [number, number] | number; pad: tf.Conv2DAttrs['pad'] };
    // tfjs's gradient calls conv2DBackpropInput / conv2DBackpropFilter without the rounding mode.
    const grads: Record<string, () => Tensor> = {
      x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: g, filter } as unknown as NamedTensorMap,
        { strides, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, inputShape: x.shape } as unknown as NamedAttrMap) as Tensor,
      filter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: g } as unknown as NamedTensorMap,
        { strides, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: filter.shape } as unknown as NamedAttrMap) as Tensor,
    };
    if (bias != null) grads['bias'] = () => biasGradient(bias, g);
    return grads;
  },
};

const isLinear = (activation: string | undefined): boolean => activation == null || activation === 'linear';

/** Whether a dilation (one number or one per spatial axis) is 1 everywhere. */
const allOnes = (d: number | [number, number]): boolean => (Array.isArray(d) ? d.every((v) => v === 1) : d === 1);

/** Runs `kernel` (the tape records it with the gradient registered above). */
function run(kernel: string, inputs: Record<string, Tensor>, attrs: Record<string, unknown>): Tensor {
  return tf.engine().runKernel(kernel, inputs as NamedTensorMap, attrs as unknown as NamedAttrMap) as Tensor;
}

/**
 * Makes tfjs-layers' fused matMul / conv2d with a linear activation compute gradients only for the
 * inputs on the path to a variable (see the module comment). Idempotent; returns false when
 * `TRELLIS_LAZY_FUSED_GRADIENTS=0`, when tfjs already has gradients for the fused kernels (a later
 * tfjs may), or when tfjs-core's CommonJS exports cannot be written.
 */
export function installLazyFusedGradients(): boolean {
  if (process.env['TRELLIS_LAZY_FUSED_GRADIENTS'] === '0') return false;
  const cjs = createRequire(import.meta.url)('@tensorflow/tfjs-core') as Record<string, unknown>;
  const original = cjs['fused'] as typeof tf.fused & { [PATCHED]?: true };
  if (original?.[PATCHED]) return true;
  for (const config of [fusedMatMulGrad, fusedConv2dGrad]) {
    const existing = tf.getGradient(config.kernelName);
    if (existing != null && existing !== config) return false;
  }
  tf.registerGradient(fusedMatMulGrad);
  tf.registerGradient(fusedConv2dGrad);

  const matMul = (args: FusedMatMulArgs): Tensor => {
    const { a, b, transposeA = false, transposeB = false, bias, activation, preluActivationWeights, leakyreluAlpha = 0.2 } = args;
    // Without a bias the engine could not save the kernel's missing input: tfjs's own op then.
    if (!isLinear(activation) || preluActivationWeights != null || !(a instanceof tf.Tensor) || !(b instanceof tf.Tensor) ||
      a.rank !== 2 || b.rank !== 2 || a.dtype !== 'float32' || b.dtype !== 'float32' || !(bias instanceof tf.Tensor) || bias.dtype !== 'float32') {
      return original.matMul(args);
    }
    const [m, k] = transposeA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
    const [kb, n] = transposeB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
    if (k !== kb) return original.matMul(args); // tfjs's own error
    return tf.tidy(() => {
      const a3 = tf.reshape(a, [1, ...a.shape]);
      const b3 = tf.reshape(b, [1, ...b.shape]);
      tf.broadcast_util.assertAndGetBroadcastShape([m, n], bias.shape);
      const y = run('_FusedMatMul', { a: a3, b: b3, bias }, { transposeA, transposeB, activation: 'linear', leakyreluAlpha });
      return tf.reshape(y, [m, n]);
    });
  };

  const conv2d = (args: FusedConv2dArgs): Tensor => {
    const { x, filter, strides, pad, dataFormat = 'NHWC', dilations = [1, 1], dimRoundingMode, bias, activation, preluActivationWeights, leakyreluAlpha } = args;
    if (!isLinear(activation) || preluActivationWeights != null || dataFormat !== 'NHWC' || !allOnes(dilations) ||
      !(x instanceof tf.Tensor) || !(filter instanceof tf.Tensor) || x.rank !== 4 || filter.rank !== 4 ||
      x.dtype !== 'float32' || filter.dtype !== 'float32' || filter.shape[2] !== x.shape[3] ||
      !(bias instanceof tf.Tensor) || bias.dtype !== 'float32' || bias.rank !== 1 || bias.shape[0] !== filter.shape[3]) {
      return original.conv2d(args);
    }
    tf.backend_util.checkPadOnDimRoundingMode('fused conv2d', pad, dimRoundingMode);
    return run('FusedConv2D', { x, filter, bias },
      { strides, pad, dataFormat, dilations, dimRoundingMode, activation: 'linear', leakyreluAlpha });
  };

  const replacement = { ...original, matMul, conv2d, [PATCHED]: true as const };
  try {
    cjs['fused'] = replacement;
  } catch {
    return false;
  }
  return cjs['fused'] === replacement;
}
