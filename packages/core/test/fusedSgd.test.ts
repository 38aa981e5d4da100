import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers'; // registers the gradients
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { hasFusedSgd, registerFusedSgd, type SgdConstants } from '../src/backend/fusedSgd.js';

// A test backend (the cpu backend under another name) with a one-pass SGD kernel written here,
// rounding each product and sum to float32 as tfjs's Mul and Add kernels do.
const BACKEND = 'fused-sgd-test';
const KERNEL = 'TestFusedSgd';
const seen: SgdConstants[] = [];
tf.registerBackend(BACKEND, () => new MathBackendCPU(), 0);
for (const k of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...k, backendName: BACKEND });
tf.registerKernel({
  kernelName: KERNEL,
  backendName: BACKEND,
  kernelFunc: (({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: MathBackendCPU; attrs: { constants: SgdConstants } }) => {
    seen.push(attrs.constants);
    const f = Math.fround;
    const get = (k: string): Float32Array | null => (inputs[k] == null ? null : (backend.data.get(inputs[k]!.dataId).values as Float32Array));
    const [momentum, negLr, mode] = attrs.constants;
    const [value, acc, g] = [get('value')!, get('acc'), get('g')!];
    const outValue = new Float32Array(value.length);
    const outAcc = new Float32Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const na = mode === 0 ? 0 : f(f(momentum * acc![i]!) + g[i]!);
      const step = mode === 0 ? g[i]! : mode === 1 ? na : f(g[i]! + f(na * momentum));
      outAcc[i] = na;
      outValue[i] = f(f(negLr * step) + value[i]!);
    }
    const shape = inputs['value']!.shape;
    const out = [backend.makeTensorInfo(shape, 'float32', outValue)];
    return mode === 0 ? out : [...out, backend.makeTensorInfo(shape, 'float32', outAcc)];
  }) as unknown as KernelFunc,
});

interface Run {
  weights: number[];
  /** Tensors added between the end of step 2 and the end of the run. */
  growth: number;
  /** The optimizer's saved state after the run: names and values. */
  state: Array<{ name: string; values: number[] }>;
}

async function train(backend: string, make: () => tf.SGDOptimizer): Promise<Run> {
  await tf.setBackend(backend);
  const w = tf.variable(tf.tensor2d(Float32Array.from({ length: 37 * 11 }, (_, i) => Math.sin(i)), [37, 11]));
  const b = tf.variable(tf.tensor1d(Float32Array.from({ length: 11 }, (_, i) => Math.cos(i))));
  const x = tf.tensor2d(Float32Array.from({ length: 9 * 37 }, (_, i) => Math.sin(i * 0.7)), [9, 37]);
  const opt = make();
  let afterTwo = 0;
  for (let s = 0; s < 6; s++) {
    if (s === 3) opt.setLearningRate(0.004);
    tf.dispose(opt.minimize(() => tf.sum(tf.square(tf.add(tf.matMul(x, w), b))), true) ?? []);
    if (s === 1) afterTwo = tf.memory().numTensors;
  }
  const growth = tf.memory().numTensors - afterTwo;
  const weights = [...w.dataSync(), ...b.dataSync()];
  const saved = await opt.getWeights();
  const state = saved.map((s) => ({ name: s.name.replace(/^.*\//, '*/'), values: Array.from(s.tensor.dataSync()) }));
  tf.dispose(saved.map((s) => s.tensor));
  tf.dispose([w, b, x]);
  opt.dispose();
  return { weights, growth, state };
}

const OPTIMIZERS: Array<[string, () => tf.SGDOptimizer, SgdConstants[2]]> = [
  ['sgd', () => tf.train.sgd(0.01), 0],
  ['momentum', () => tf.train.momentum(0.01, 0.9), 1],
  ['nesterov', () => tf.train.momentum(0.01, 0.9, true), 2],
];

describe('registerFusedSgd', () => {
  afterEach(async () => {
    registerFusedSgd(BACKEND, { kernelName: KERNEL });
    await tf.setBackend('cpu');
  });

  it.each(OPTIMIZERS)('%s: runs the kernel once per variable per step, with tfjs\'s weights and state bit for bit, flat tensor count', async (_, make, mode) => {
    expect(registerFusedSgd(BACKEND, { kernelName: KERNEL })).toBe(true);
    expect(hasFusedSgd(BACKEND)).toBe(true);
    expect(hasFusedSgd('cpu')).toBe(false);
    seen.length = 0;
    const cpu = await train('cpu', make);
    expect(seen.length).toBe(0); // other backends keep tfjs's own update
    const fused = await train(BACKEND, make);
    expect(seen.length).toBe(2 * 6);
    // −lr and the momentum are the optimizer's own float32 scalars, and −lr follows setLearningRate
    expect(seen.map((c) => c[2])).toEqual(new Array(12).fill(mode));
    expect(seen.map((c) => c[1])).toEqual([...new Array(6).fill(Math.fround(-0.01)), ...new Array(6).fill(Math.fround(-0.004))]);
    expect(seen[0]![0]).toBe(mode === 0 ? 0 : Math.fround(0.9));
    expect(fused.growth).toBe(0);
    expect(fused.weights).toEqual(cpu.weights);
    expect(fused.state).toEqual(cpu.state);
    expect(fused.state.length).toBe(mode === 0 ? 1 : 3); // iterations, and one `…/momentum` per variable
  });

  it('takes the in-place route when the backend says it wrote the update, and passes the accumulator', async () => {
    const accs: Array<boolean> = [];
    let inPlaceCalls = 0;
    registerFusedSgd(BACKEND, {
      kernelName: KERNEL,
      inPlace: (_value, acc) => {
        accs.push(acc != null);
        inPlaceCalls++;
        return inPlaceCalls % 2 === 0; // every other variable "in place" (so its weights stay put here)
      },
    });
    seen.length = 0;
    await train(BACKEND, () => tf.train.momentum(0.01, 0.9));
    expect(inPlaceCalls).toBe(12);
    expect(seen.length).toBe(6);
    expect(accs.every(Boolean)).toBe(true);
    accs.length = 0;
    await train(BACKEND, () => tf.train.sgd(0.01));
    expect(accs.some(Boolean)).toBe(false);
  });

  it('leaves tfjs\'s update to run when the backend says it is unavailable, and for a non-float32 variable', async () => {
    registerFusedSgd(BACKEND, { kernelName: KERNEL, available: () => false });
    seen.length = 0;
    const off = await train(BACKEND, () => tf.train.momentum(0.01, 0.9));
    expect(seen.length).toBe(0);
    expect(off.weights).toEqual((await train('cpu', () => tf.train.momentum(0.01, 0.9))).weights);
    registerFusedSgd(BACKEND, { kernelName: KERNEL });
    await tf.setBackend(BACKEND);
    const counter = tf.variable(tf.tensor1d([3], 'int32'), true, 'fusedSgdIntCounter');
    const opt = tf.train.sgd(1);
    // tfjs's own update runs, and refuses as tfjs does (its float product cannot be assigned to int32)
    expect(() => opt.applyGradients({ fusedSgdIntCounter: tf.tensor1d([1], 'int32') })).toThrow(/dtype of the new value/);
    expect(seen.length).toBe(0);
    expect(Array.from(counter.dataSync())).toEqual([3]);
    counter.dispose();
    opt.dispose();
  });

  it('leaves a gradient of another shape than its variable to tfjs (which broadcasts it), for every variable of that call', async () => {
    const run = async (backend: string): Promise<number[]> => {
      await tf.setBackend(backend);
      const w = tf.variable(tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), true, `fusedSgdBroadcast${backend}`);
      const b = tf.variable(tf.tensor1d([1, 2]), true, `fusedSgdBroadcastB${backend}`);
      const opt = tf.train.momentum(0.1, 0.9);
      for (let s = 0; s < 2; s++) tf.tidy(() => opt.applyGradients([{ name: w.name, tensor: tf.tensor1d([1]) }, { name: b.name, tensor: tf.tensor1d([0.5, 0.25]) }]));
      const out = [...w.dataSync(), ...b.dataSync()];
      tf.dispose([w, b]);
      opt.dispose();
      return out;
    };
    seen.length = 0;
    const fused = await run(BACKEND);
    expect(seen.length).toBe(0);
    expect(fused).toEqual(await run('cpu'));
    expect(fused[9]).toBeCloseTo(10 - 0.1 - 0.19, 5); // the broadcast gradient moved every weight
  });

  it('is not installed when TRELLIS_FUSED_SGD=0', () => {
    process.env['TRELLIS_FUSED_SGD'] = '0';
    try {
      expect(registerFusedSgd('another-backend', { kernelName: KERNEL })).toBe(false);
      expect(hasFusedSgd('another-backend')).toBe(false);
    } finally {
      delete process.env['TRELLIS_FUSED_SGD'];
    }
  });
});
