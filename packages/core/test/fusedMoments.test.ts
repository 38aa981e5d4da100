import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers'; // registers the gradients
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { hasFusedMoments, registerFusedMoments } from '../src/backend/fusedMoments.js';

// A test backend (the cpu backend under another name) with moments kernels written here in float64.
const BACKEND = 'fused-moments-test';
const KERNEL = 'TestMoments';
const GRAD_KERNEL = 'TestMomentsGrad';
const calls = { forward: 0, grad: 0 };
tf.registerBackend(BACKEND, () => new MathBackendCPU(), 0);
for (const k of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...k, backendName: BACKEND });
type Args = { inputs: Record<string, TensorInfo>; backend: MathBackendCPU };
const values = (backend: MathBackendCPU, t: TensorInfo): Float32Array => backend.data.get(t.dataId).values as Float32Array;
tf.registerKernel({
  kernelName: KERNEL,
  backendName: BACKEND,
  kernelFunc: (({ inputs, backend }: Args) => {
    calls.forward++;
    const x = values(backend, inputs['x']!);
    const c = inputs['x']!.shape.at(-1)!;
    const rows = x.length / c;
    const mean = new Float32Array(c);
    const variance = new Float32Array(c);
    for (let j = 0; j < c; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += x[r * c + j]!;
      mean[j] = s / rows;
      let q = 0;
      for (let r = 0; r < rows; r++) q += (x[r * c + j]! - mean[j]!) ** 2;
      variance[j] = q / rows;
    }
    return [backend.makeTensorInfo([c], 'float32', mean), backend.makeTensorInfo([c], 'float32', variance)];
  }) as unknown as KernelFunc,
});
tf.registerKernel({
  kernelName: GRAD_KERNEL,
  backendName: BACKEND,
  kernelFunc: (({ inputs, backend }: Args) => {
    calls.grad++;
    const [x, mean, dmean, dvar] = ['x', 'mean', 'dmean', 'dvar'].map((k) => values(backend, inputs[k]!)) as Float32Array[];
    const c = mean!.length;
    const rows = x!.length / c;
    const dx = Float32Array.from(x!, (v, i) => dmean![i % c]! / rows + (2 * dvar![i % c]! / rows) * (v - mean![i % c]!));
    return backend.makeTensorInfo(inputs['x']!.shape, 'float32', dx);
  }) as unknown as KernelFunc,
});

/** `tf.moments` as tfjs-layers calls it: from tfjs-core's CommonJS exports, at call time. */
const moments: typeof tf.moments = (...args) => (createRequire(import.meta.url)('@tensorflow/tfjs-core') as typeof tf).moments(...args);

/** Values and gradients of a weighted sum of the moments of x over `axes`. */
function run(shape: number[], axes: number[], keepDims: boolean): { shapes: number[][]; values: number[][] } {
  return tf.tidy(() => {
    const x = tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.37) * 3 + (i % 5)), shape);
    const { mean, variance } = moments(x, axes, keepDims);
    const weights = (t: tf.Tensor, k: number) => tf.tensor(Float32Array.from({ length: t.size }, (_, i) => Math.cos(i + k)), t.shape);
    const [dx] = tf.grads((a: tf.Tensor) => {
      const m = moments(a, axes, keepDims);
      return tf.add(tf.sum(tf.mul(m.mean, weights(m.mean, 1))), tf.sum(tf.mul(m.variance, weights(m.variance, 2))));
    })([x]);
    const outs = [mean, variance, dx!];
    return { shapes: outs.map((t) => t.shape), values: outs.map((t) => Array.from(t.dataSync())) };
  });
}

describe('registerFusedMoments', () => {
  it('routes tf.moments over every axis but the last to the backend kernels, with the original values, shapes and gradients', async () => {
    expect(registerFusedMoments(BACKEND, { kernelName: KERNEL, gradKernelName: GRAD_KERNEL })).toBe(true);
    expect(hasFusedMoments(BACKEND)).toBe(true);
    expect(hasFusedMoments('cpu')).toBe(false);
    for (const [shape, axes, keepDims, fused] of [
      [[4, 3, 5, 6], [0, 1, 2], false, true],
      [[4, 3, 5, 6], [2, 0, 1], true, true],
      [[9, 7], [0], false, true],
      [[4, 3, 5, 6], [0, 1], false, false],
      [[4, 3, 5, 6], [1, 2, 3], true, false],
      [[9], [0], false, false],
    ] as Array<[number[], number[], boolean, boolean]>) {
      await tf.setBackend('cpu');
      const before = { ...calls };
      const reference = run(shape, axes, keepDims);
      expect(calls).toEqual(before); // other backends keep tfjs's own moments
      await tf.setBackend(BACKEND);
      const tensors = tf.memory().numTensors;
      const ours = run(shape, axes, keepDims);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(calls.forward - before.forward).toBe(fused ? 2 : 0);
      expect(calls.grad - before.grad).toBe(fused ? 1 : 0);
      expect(ours.shapes).toEqual(reference.shapes);
      ours.values.forEach((v, i) => v.forEach((a, j) => expect(a).toBeCloseTo(reference.values[i]![j]!, 4)));
    }
  });

  it("is what tfjs-layers' BatchNormalization uses in training", async () => {
    await tf.setBackend(BACKEND);
    const before = calls.forward;
    const model = tfl.sequential({ layers: [tfl.layers.batchNormalization({ inputShape: [4, 4, 3] })] });
    const y = tf.tidy(() => model.apply(tf.ones([2, 4, 4, 3]), { training: true }) as tf.Tensor);
    expect(calls.forward).toBe(before + 1);
    tf.dispose(y);
    model.dispose();
  });
});
