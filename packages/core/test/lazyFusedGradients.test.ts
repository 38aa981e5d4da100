import { beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers'; // registers the gradients
import { installLazyFusedGradients } from '../src/backend/lazyFusedGradients.js';

const cjs = createRequire(import.meta.url)('@tensorflow/tfjs-core') as typeof tf;
/** tfjs's own fused ops, taken before the replacement. */
const original = cjs.fused;

/** Deterministic values in [-1, 1). */
function t(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731 + seed * 1.37)), shape);
}

/** Values of `f(...inputs)` and of the gradients of a weighted sum of it with respect to every input. */
function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): number[][] {
  return tf.tidy(() => {
    const y = f(...inputs);
    const w = t(y.shape, 99);
    const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), w)))(inputs);
    return [y, ...grads].map((g) => Array.from(g.dataSync()));
  });
}

/** Kernel names run by `f` (profiled). */
async function kernelsOf(f: () => tf.Tensor | tf.Tensor[]): Promise<string[]> {
  const prof = await tf.profile(() => {
    tf.dispose(tf.tidy(f));
  });
  return prof.kernels.map((k) => k.name);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  expect(installLazyFusedGradients()).toBe(true);
  expect(installLazyFusedGradients()).toBe(true); // idempotent
});

describe('installLazyFusedGradients', () => {
  it('replaces fused in the CommonJS exports (what tfjs-layers reads), keeping the other fused ops', () => {
    expect(cjs.fused).not.toBe(original);
    expect(cjs.fused.depthwiseConv2d).toBe(original.depthwiseConv2d);
  });

  const matMulCases = [
    { ta: false, tb: false, bias: [5] },
    { ta: false, tb: true, bias: [5] },
    { ta: true, tb: false, bias: [3, 5] },
    { ta: true, tb: true, bias: [1] },
  ];
  it.each(matMulCases)('matMul (transposeA $ta, transposeB $tb, bias $bias): values and every gradient bit-identical to tfjs', ({ ta, tb, bias }) => {
    const a = t(ta ? [4, 3] : [3, 4], 1);
    const b = t(tb ? [5, 4] : [4, 5], 2);
    const c = t(bias, 3);
    const run = (fused: typeof tf.fused) => valueAndGrads((x, y, z) => fused.matMul({ a: x, b: y, bias: z, transposeA: ta, transposeB: tb }), [a, b, c]);
    expect(run(cjs.fused)).toEqual(run(original));
    tf.dispose([a, b, c]);
  });

  const convCases = [
    { shape: [2, 7, 9, 3], filter: [3, 3, 3, 5], stride: 1, pad: 'same' as const },
    { shape: [2, 8, 8, 4], filter: [3, 3, 4, 6], stride: 2, pad: 'valid' as const },
    { shape: [1, 6, 5, 1], filter: [2, 2, 1, 4], stride: [2, 1] as [number, number], pad: 'same' as const },
  ];
  it.each(convCases)('conv2d $shape * $filter, stride $stride, $pad: values and every gradient bit-identical to tfjs', ({ shape, filter, stride, pad }) => {
    const x = t(shape, 4);
    const w = t(filter, 5);
    const bias = t([filter[3]!], 6);
    const run = (fused: typeof tf.fused) => valueAndGrads((a, f, b) => fused.conv2d({ x: a as tf.Tensor4D, filter: f as tf.Tensor4D, bias: b, strides: stride, pad }), [x, w, bias]);
    expect(run(cjs.fused)).toEqual(run(original));
    tf.dispose([x, w, bias]);
  });

  it('differentiates only the inputs on the path: no input gradient for a first layer, and no tensor growth', async () => {
    const x = t([2, 6, 6, 2], 7);
    const w = tf.variable(t([3, 3, 2, 4], 8));
    const bias = tf.variable(t([4], 9));
    const loss = (fused: typeof tf.fused) => () => tf.sum(fused.conv2d({ x: x as tf.Tensor4D, filter: w as unknown as tf.Tensor4D, bias, strides: 1, pad: 'same' })) as tf.Scalar;
    const step = (fused: typeof tf.fused) => () => Object.values(tf.variableGrads(loss(fused)).grads);
    expect(await kernelsOf(step(original))).toContain('Conv2DBackpropInput');
    const ours = await kernelsOf(step(cjs.fused));
    expect(ours).not.toContain('Conv2DBackpropInput');
    expect(ours).toContain('Conv2DBackpropFilter');
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(tf.tidy(step(cjs.fused)));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w, bias]);
  });

  it('leaves non-linear activations, a missing bias and other layouts to tfjs', async () => {
    const x = t([1, 5, 5, 2], 10);
    const w = t([3, 3, 2, 3], 11);
    const runs = [
      () => cjs.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'same', bias: t([3], 12), activation: 'relu' }),
      () => cjs.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'same' }),
      () => cjs.fused.matMul({ a: t([2, 3], 13), b: t([3, 4], 14) }),
    ];
    for (const f of runs) {
      const ours = tf.tidy(() => Array.from(f().dataSync()));
      expect(ours.every(Number.isFinite)).toBe(true);
    }
    tf.dispose([x, w]);
  });

  it("is what tfjs-layers' Conv2D and Dense use: a conv → batch norm model trains to the same weights, without the first layer's input gradient", async () => {
    const build = () => {
      const m = tfl.sequential({
        layers: [
          tfl.layers.conv2d({ inputShape: [6, 6, 1], filters: 3, kernelSize: 3, padding: 'same', kernelInitializer: 'ones' }),
          tfl.layers.batchNormalization(),
          tfl.layers.flatten(),
          tfl.layers.dense({ units: 2, kernelInitializer: 'ones' }),
        ],
      });
      return m;
    };
    const x = t([4, 6, 6, 1], 15);
    const train = async (patched: boolean): Promise<{ weights: number[][]; kernels: string[] }> => {
      cjs.fused = patched ? fusedPatched : original;
      const model = build();
      const opt = tf.train.sgd(0.1);
      const loss = () => tf.mean(tf.square(model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar;
      const kernels = await kernelsOf(() => Object.values(tf.variableGrads(loss).grads));
      for (let i = 0; i < 3; i++) tf.dispose(opt.minimize(loss, true) ?? []);
      const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
      model.dispose();
      opt.dispose();
      return { weights, kernels };
    };
    const fusedPatched = cjs.fused;
    try {
      const ours = await train(true);
      const theirs = await train(false);
      expect(ours.weights).toEqual(theirs.weights);
      expect(theirs.kernels).toContain('Conv2DBackpropInput');
      expect(ours.kernels).not.toContain('Conv2DBackpropInput');
    } finally {
      cjs.fused = fusedPatched;
    }
    x.dispose();
  });
});
