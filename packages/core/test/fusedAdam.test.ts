import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers'; // registers the gradients
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { hasFusedAdam, registerFusedAdam, type AdamConstants } from '../src/backend/fusedAdam.js';

// A test backend (the cpu backend under another name) with a one-pass Adam kernel written here.
const BACKEND = 'fused-adam-test';
const KERNEL = 'TestFusedAdam';
let calls = 0;
let inPlaceCalls = 0;
tf.registerBackend(BACKEND, () => new MathBackendCPU(), 0);
for (const k of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...k, backendName: BACKEND });
tf.registerKernel({
  kernelName: KERNEL,
  backendName: BACKEND,
  kernelFunc: (({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: MathBackendCPU; attrs: { constants: AdamConstants } }) => {
    calls++;
    const get = (k: string): Float32Array => backend.data.get(inputs[k]!.dataId).values as Float32Array;
    const [b1, omb1, b2, omb2, oma1, oma2, eps, negLr] = attrs.constants;
    const [value, m, v, g] = ['value', 'm', 'v', 'g'].map(get) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const out = [new Float32Array(value.length), new Float32Array(value.length), new Float32Array(value.length)] as const;
    for (let i = 0; i < value.length; i++) {
      const nm = m[i]! * b1 + g[i]! * omb1;
      const nv = v[i]! * b2 + g[i]! * g[i]! * omb2;
      out[1][i] = nm;
      out[2][i] = nv;
      out[0][i] = (nm / oma1) / (Math.sqrt(nv / oma2) + eps) * negLr + value[i]!;
    }
    const shape = inputs['value']!.shape;
    return out.map((o) => backend.makeTensorInfo(shape, 'float32', o));
  }) as unknown as KernelFunc,
});

async function train(backend: string): Promise<{ weights: number[]; growth: number }> {
  await tf.setBackend(backend);
  const w = tf.variable(tf.tensor2d(Float32Array.from({ length: 37 * 11 }, (_, i) => Math.sin(i)), [37, 11]));
  const b = tf.variable(tf.tensor1d(Float32Array.from({ length: 11 }, (_, i) => Math.cos(i))));
  const x = tf.tensor2d(Float32Array.from({ length: 9 * 37 }, (_, i) => Math.sin(i * 0.7)), [9, 37]);
  const opt = tf.train.adam(0.01);
  let afterTwo = 0;
  for (let s = 0; s < 6; s++) {
    tf.dispose(opt.minimize(() => tf.sum(tf.square(tf.add(tf.matMul(x, w), b))), true) ?? []);
    if (s === 1) afterTwo = tf.memory().numTensors;
  }
  const growth = tf.memory().numTensors - afterTwo;
  const weights = [...w.dataSync(), ...b.dataSync()];
  tf.dispose([w, b, x]);
  opt.dispose();
  return { weights, growth };
}

describe('registerFusedAdam', () => {
  it('runs the backend kernel once per variable per step, with the weights of tfjs Adam, flat tensor count', async () => {
    expect(registerFusedAdam(BACKEND, { kernelName: KERNEL })).toBe(true);
    expect(hasFusedAdam(BACKEND)).toBe(true);
    expect(hasFusedAdam('cpu')).toBe(false);
    const cpu = await train('cpu');
    expect(calls).toBe(0); // other backends keep tfjs's own update
    const fused = await train(BACKEND);
    expect(calls).toBe(2 * 6);
    expect(fused.growth).toBe(0);
    for (let i = 0; i < cpu.weights.length; i++) expect(fused.weights[i]).toBeCloseTo(cpu.weights[i] as number, 5);
  });

  it('takes the in-place route when the backend says it wrote the update', async () => {
    registerFusedAdam(BACKEND, {
      kernelName: KERNEL,
      inPlace: () => {
        inPlaceCalls++;
        return inPlaceCalls % 2 === 0; // every other variable "in place" (so its weights stay put here)
      },
    });
    const before = calls;
    await train(BACKEND);
    expect(inPlaceCalls).toBe(12);
    expect(calls - before).toBe(6);
    registerFusedAdam(BACKEND, { kernelName: KERNEL });
  });

  it('leaves a gradient of another shape than its variable to tfjs (which broadcasts it)', async () => {
    const run = async (backend: string): Promise<number[]> => {
      await tf.setBackend(backend);
      const w = tf.variable(tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), true, `fusedAdamBroadcast${backend}`);
      const opt = tf.train.adam(0.1);
      for (let s = 0; s < 2; s++) tf.tidy(() => opt.applyGradients([{ name: w.name, tensor: tf.tensor1d([1]) }]));
      const out = Array.from(w.dataSync());
      w.dispose();
      opt.dispose();
      return out;
    };
    const before = calls;
    const fused = await run(BACKEND);
    expect(calls).toBe(before);
    expect(fused).toEqual(await run('cpu'));
    expect(fused[9]).toBeLessThan(10); // the broadcast gradient moved every weight
    await tf.setBackend('cpu');
  });
});
