import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { BufferPool, loadNativeKernels, nativeCallCounts, NATIVE_BACKEND_NAME, type NativeBackend } from '../src/index.js';

// Every reused buffer is filled with NaN: a kernel that leaves part of its output unwritten, or a
// buffer reused while a tensor still holds it, shows up as NaN or a changed value below.
process.env['TRELLIS_NATIVE_POOL_POISON'] = '1';
const loaded = loadNativeKernels().loaded;

describe('BufferPool', () => {
  it('hands a recycled buffer to the next output of the same length, and only then', () => {
    const pool = new BufferPool();
    const a = pool.take(8);
    pool.adopt(a);
    pool.recycle(a);
    expect(pool.take(4)).not.toBe(a);
    const b = pool.take(8);
    expect(b).toBe(a);
    expect(pool.stats()).toMatchObject({ allocated: 2, reused: 1, recycled: 1, heldBytes: 0 });
  });

  it('never reuses a buffer that was read, shared by a second tensor, viewed, or not yet adopted', () => {
    const pool = new BufferPool();
    const read = pool.take(4);
    pool.adopt(read);
    pool.pin(read);
    pool.recycle(read);
    const shared = pool.take(4);
    pool.adopt(shared);
    pool.adopt(shared);
    pool.recycle(shared);
    const viewed = pool.take(4);
    pool.adopt(viewed);
    pool.adopt(viewed.subarray(1, 3));
    pool.recycle(viewed);
    const fresh = pool.take(4);
    pool.recycle(fresh);
    pool.recycle(new Float32Array(4));
    expect(pool.stats()).toMatchObject({ recycled: 0, heldBytes: 0, pinned: 3 });
    expect([read, shared, viewed, fresh]).not.toContain(pool.take(4));
  });

  it('keeps at most maxBytes and poisons handed-out buffers when asked', () => {
    const pool = new BufferPool({ maxBytes: 40, poison: true });
    const a = pool.take(8);
    const b = pool.take(8);
    for (const x of [a, b]) {
      x.fill(1);
      pool.adopt(x);
      pool.recycle(x);
    }
    expect(pool.stats().heldBytes).toBe(32);
    const c = pool.take(8);
    expect(c).toBe(a);
    expect(Number.isNaN(c[0])).toBe(true);
    expect(new BufferPool({ maxBytes: 0 }).stats().heldBytes).toBe(0);
  });
});

describe.skipIf(!loaded)('the native backend reuses outputs safely', () => {
  const seq = (n: number, k: number): Float32Array => Float32Array.from({ length: n }, (_, i) => ((i * 7 + k) % 13) / 13 - 0.5);

  it('reuses buffers of disposed outputs, and arrays a caller read keep their values', async () => {
    await tf.setBackend(NATIVE_BACKEND_NAME);
    const pool = (tf.backend() as NativeBackend).pool;
    const a = tf.tensor2d(seq(6 * 5, 1), [6, 5]);
    const b = tf.tensor2d(seq(5 * 4, 2), [5, 4]);
    const y = tf.matMul(a, b);
    const read = y.dataSync();
    const kept = Float32Array.from(read);
    const view = tf.slice(tf.matMul(a, b), [0, 0], [1, 4]); // a subarray of a pool buffer
    const viewKept = Float32Array.from(view.dataSync());
    const before = pool.stats().reused;
    y.dispose();
    for (let i = 0; i < 20; i++) tf.tidy(() => tf.matMul(tf.add(a, i), b).dataSync());
    expect(pool.stats().reused).toBeGreaterThan(before);
    expect(Array.from(read)).toEqual(Array.from(kept));
    expect(Array.from(view.dataSync())).toEqual(Array.from(viewKept));
    tf.dispose([a, b, view]);
  });

  it('Adam updates in place only buffers nobody else holds: an array read from a variable keeps its values', async () => {
    await tf.setBackend(NATIVE_BACKEND_NAME);
    const w = tf.variable(tf.tensor2d(seq(6 * 4, 5), [6, 4]));
    const x = tf.tensor2d(seq(3 * 6, 6), [3, 6]);
    const opt = tf.train.adam(0.05);
    const step = (): void => {
      tf.dispose(opt.minimize(() => tf.sum(tf.square(tf.matMul(x, w))) as tf.Scalar, true) ?? []);
    };
    for (let i = 0; i < 3; i++) step(); // from the second step on, w's buffer is the pool's
    const inPlace = nativeCallCounts()['TrellisNativeAdam(in place)']?.native ?? 0;
    step();
    expect(nativeCallCounts()['TrellisNativeAdam(in place)']?.native ?? 0).toBeGreaterThan(inPlace);
    const snapshot = w.dataSync(); // read: pinned
    const kept = Float32Array.from(snapshot);
    step();
    step();
    expect(Array.from(snapshot)).toEqual(Array.from(kept));
    expect(Array.from(w.dataSync())).not.toEqual(Array.from(kept));
    step(); // w's buffer is the pool's again (and was read above: pinned, so step once more)
    step();
    const clone = tf.clone(w); // a second holder of the same data, never read
    const cloneValues = (tf.backend() as NativeBackend).data.get(clone.dataId).values as Float32Array;
    const cloneKept = Float32Array.from(cloneValues);
    step();
    expect(Array.from(cloneValues)).toEqual(Array.from(cloneKept));
    tf.dispose([w, x, clone]);
    opt.dispose();
  });

  it('a CNN with batch norm trains to the same losses as on cpu with poisoned reused buffers', async () => {
    const losses = async (backend: string): Promise<number[]> => {
      await tf.setBackend(backend);
      const model = tfl.sequential({
        layers: [
          tfl.layers.conv2d({ inputShape: [8, 8, 2], filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: 'ones', useBias: false }),
          tfl.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 }),
          tfl.layers.activation({ activation: 'relu' }),
          tfl.layers.maxPooling2d({ poolSize: 2 }),
          tfl.layers.flatten(),
          tfl.layers.dense({ units: 3, kernelInitializer: 'ones' }),
        ],
      });
      const x = tf.tensor4d(seq(5 * 8 * 8 * 2, 3), [5, 8, 8, 2]);
      const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1, 0], 'int32'), 3);
      const opt = tf.train.adam(0.01);
      const out: number[] = [];
      for (let s = 0; s < 5; s++) {
        const loss = opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true) as tf.Scalar;
        out.push(loss.dataSync()[0] as number);
        loss.dispose();
      }
      tf.dispose([x, y]);
      opt.dispose();
      model.dispose();
      return out;
    };
    const cpu = await losses('cpu');
    const native = await losses(NATIVE_BACKEND_NAME);
    expect(native.every(Number.isFinite)).toBe(true);
    for (let i = 0; i < cpu.length; i++) expect(native[i]).toBeCloseTo(cpu[i] as number, 4);
    expect(nativeCallCounts()['TrellisNativeMoments']?.native).toBeGreaterThan(0);
    expect(nativeCallCounts()['TrellisNativeMomentsGrad']?.native).toBeGreaterThan(0);
    expect((tf.findBackend(NATIVE_BACKEND_NAME) as NativeBackend).pool.stats().reused).toBeGreaterThan(0);
  });

  // tfjs-layers calls moments through tfjs-core's CommonJS exports, which is what is replaced.
  const moments = (createRequire(import.meta.url)('@tensorflow/tfjs-core') as typeof tf).moments;

  it('tf.moments: values and gradients match cpu, natively over all axes but the last, else the original', async () => {
    for (const [shape, axes, keepDims] of [
      [[6, 5, 4, 3], [0, 1, 2], false],
      [[6, 5, 4, 3], [0, 1, 2], true],
      [[7, 3], [0], false],
      [[6, 5, 4, 3], [1, 2], true],
    ] as Array<[number[], number[], boolean]>) {
      const run = async (backend: string): Promise<number[][]> => {
        await tf.setBackend(backend);
        return tf.tidy(() => {
          const x = tf.tensor(seq(shape.reduce((p, q) => p * q, 1), 4), shape);
          const f = (t: tf.Tensor): tf.Tensor => {
            const { mean, variance } = moments(t, axes, keepDims);
            return tf.add(tf.sum(tf.mul(mean, tf.reshape(tf.range(1, mean.size + 1), mean.shape))), tf.sum(tf.mul(variance, 3)));
          };
          const { mean, variance } = moments(x, axes, keepDims);
          expect(mean.shape).toEqual(keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i)));
          return [mean, variance, tf.grad(f)(x)].map((t) => Array.from(t.dataSync()));
        });
      };
      const before = nativeCallCounts()['TrellisNativeMoments']?.native ?? 0;
      const cpu = await run('cpu');
      const native = await run(NATIVE_BACKEND_NAME);
      const nativeCalls = (nativeCallCounts()['TrellisNativeMoments']?.native ?? 0) - before;
      expect(nativeCalls).toBe(axes.length === shape.length - 1 ? 2 : 0);
      for (let i = 0; i < cpu.length; i++) {
        const c = cpu[i] as number[];
        const n = native[i] as number[];
        expect(n.length).toBe(c.length);
        for (let j = 0; j < c.length; j++) expect(n[j]).toBeCloseTo(c[j] as number, 5);
      }
    }
  });
});
