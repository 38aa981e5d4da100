/**
 * Bad and unusual input: zero-size tensors, shapes the native kernels do not cover, bad thread
 * counts and environment variables, and how the addon is found. Each case either runs natively with
 * the cpu backend's result or falls back to the cpu kernel; none throws an addon error or crashes.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { useBackend } from '@trellis-ml/core';
import { runNode } from '../../../tools/test-support/runNode.js';
import { ADDON_FUNCTIONS, NATIVE_BACKEND_NAME, describeNativeBackend, loadAddon, loadNativeKernels, nativeCallCounts, tryLoadAddon, useNativeBackend } from '../src/index.js';
import { nativeKernelFuncs } from '../src/kernels.js';
import type { NativeAddon } from '../src/addon.js';

const loaded = loadNativeKernels().loaded;

/** `f`'s outputs (shape and values) on cpu and on trellis-native, and the tensors each left behind. */
async function onBoth(f: () => tf.Tensor | tf.Tensor[]): Promise<{ cpu: unknown; native: unknown; leaked: number[] }> {
  const run = async (backend: string): Promise<[unknown, number]> => {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => {
      const r = f();
      return (Array.isArray(r) ? r : [r]).map((t) => ({ shape: t.shape, values: Array.from(t.dataSync()).map((v) => (Number.isNaN(v) ? 'NaN' : v)) }));
    });
    return [out, tf.memory().numTensors - before];
  };
  const [cpu, leakCpu] = await run('cpu');
  const [native, leakNative] = await run(NATIVE_BACKEND_NAME);
  await tf.setBackend('cpu');
  return { cpu, native, leaked: [leakCpu, leakNative] };
}

describe.skipIf(!loaded)('zero-size and uncovered shapes give the cpu backend\'s result', () => {
  it('BatchMatMul and _FusedMatMul with a zero batch', async () => {
    for (const f of [
      () => tf.matMul(tf.zeros([0, 2, 3]), tf.zeros([0, 3, 2])),
      () => tf.matMul(tf.zeros([2, 0, 2, 3]), tf.zeros([2, 0, 2, 3]), false, true),
      () => tf.fused.matMul({ a: tf.zeros([0, 2, 3]), b: tf.zeros([0, 3, 2]), bias: tf.ones([2]), activation: 'relu' }),
    ]) {
      const r = await onBoth(f);
      expect(r.native).toEqual(r.cpu);
      expect(r.leaked).toEqual([0, 0]);
    }
  });

  it('counts every fallback in nativeCallCounts, other dtypes of elementwise ops and reductions too', async () => {
    await tf.setBackend(NATIVE_BACKEND_NAME);
    const fallbacks = (k: string): number => nativeCallCounts()[k]?.fallback ?? 0;
    const before = ['Add', 'Exp', 'Sum', 'Relu'].map(fallbacks);
    tf.tidy(() => {
      const i = tf.tensor1d([1, 2, 3], 'int32');
      tf.add(i, i).dataSync();
      tf.engine().runKernel('Exp', { x: i });
      tf.sum(i).dataSync();
      tf.relu(i).dataSync();
      tf.sum(tf.scalar(2)).dataSync();
    });
    expect(['Add', 'Exp', 'Sum', 'Relu'].map(fallbacks)).toEqual([before[0]! + 1, before[1]! + 1, before[2]! + 2, before[3]! + 1]);
    await tf.setBackend('cpu');
  });

  it('Conv2D and its gradients with no input channels: the cpu kernel, without a oneDNN warning', async () => {
    // oneDNN cannot describe such a convolution; the one-time "falling back" warning went to this benign case
    const warnings: unknown[] = [];
    const spy = vi.spyOn(console, 'warn').mockImplementation((...a: unknown[]) => { warnings.push(a); });
    try {
      const r = await onBoth(() => {
        const [dx, df] = tf.grads((x: tf.Tensor, f: tf.Tensor) => tf.sum(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same')))([tf.zeros([1, 5, 5, 0]), tf.ones([3, 3, 0, 4])]);
        return [tf.conv2d(tf.zeros<tf.Rank.R4>([1, 5, 5, 0]), tf.ones<tf.Rank.R4>([3, 3, 0, 4]), 1, 'same'), dx!, df!];
      });
      expect(r.native).toEqual(r.cpu);
      expect(r.leaked).toEqual([0, 0]);
    } finally {
      spy.mockRestore();
    }
    expect(warnings.map(String).filter((w) => w.includes('backend-native'))).toEqual([]);
  });

  it('the FusedBatchNorm gradient with no rows or no channels', async () => {
    for (const [x, c] of [[[0, 3], 3], [[2, 0], 0], [[0, 4, 4, 2], 2]] as const) {
      const r = await onBoth(() =>
        tf.grads((xs: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) => tf.sum(tf.batchNorm(xs, m, v, o, s)))(
          [tf.zeros([...x]), tf.zeros([c]), tf.ones([c]), tf.zeros([c]), tf.ones([c])],
        ),
      );
      expect(r.native).toEqual(r.cpu);
      expect(r.leaked).toEqual([0, 0]);
    }
  });

  it('the Mean gradient over an axis of size 0', async () => {
    for (const [shape, axis] of [[[3, 0], 1], [[2, 0, 3], 1], [[0, 3], 0]] as const) {
      const r = await onBoth(() => tf.grad((x: tf.Tensor) => tf.sum(tf.mean(x, axis)))(tf.zeros([...shape])));
      expect(r.native).toEqual(r.cpu);
      expect(r.leaked).toEqual([0, 0]);
    }
  });

  it('AvgPool where a window lies wholly in the padding (cpu: 0/0 = NaN there), and its gradient', async () => {
    const x = (): tf.Tensor4D => tf.reshape(tf.range(1, 17), [1, 4, 4, 1]);
    const cases: Array<() => tf.Tensor> = [
      () => tf.avgPool(x(), 2, 1, [[0, 0], [3, 3], [3, 3], [0, 0]]),
      () => tf.avgPool(x(), 2, 1, [[0, 0], [2, 0], [0, 2], [0, 0]]),
      () => tf.avgPool(tf.ones<tf.Rank.R4>([1, 5, 5, 1]), 1, 3, 0, 'ceil'),
      () => tf.grad((t: tf.Tensor) => tf.sum(tf.avgPool(t as tf.Tensor4D, 2, 1, [[0, 0], [3, 3], [3, 3], [0, 0]])))(x()),
      // windows that reach the image keep running natively
      () => tf.avgPool(x(), 3, 1, [[0, 0], [2, 2], [2, 2], [0, 0]]),
    ];
    for (const f of cases) {
      const r = await onBoth(f);
      expect(r.native).toEqual(r.cpu);
    }
    const before = nativeCallCounts()['AvgPool'] ?? { native: 0, fallback: 0 };
    await onBoth(cases[4]!);
    expect(nativeCallCounts()['AvgPool']).toEqual({ native: before.native + 1, fallback: before.fallback });
    await onBoth(cases[0]!);
    expect(nativeCallCounts()['AvgPool']).toEqual({ native: before.native + 1, fallback: before.fallback + 1 });
  });
});

/**
 * Calls kernel `name` directly on tensors that only claim `shapes` (4 floats each behind them): what the
 * kernel hands the addon or the cpu fallback, without allocating gigabytes.
 */
function callWithClaimedShapes(addon: NativeAddon, name: string, inputs: Record<string, number[]>, attrs: Record<string, unknown>): unknown {
  const fallback = (n: string): unknown => `fallback:${n}`;
  const kernel = nativeKernelFuncs(addon, fallback as never).find(([n]) => n === name)![1];
  const backend = {
    data: { get: () => ({ values: new Float32Array(4) }) },
    allocOutput: () => new Float32Array(4),
    makeTensorInfo: (shape: number[]) => ({ shape }),
  };
  const infos = Object.fromEntries(Object.entries(inputs).map(([k, shape]) => [k, { dataId: {}, shape, dtype: 'float32' }]));
  return (kernel as unknown as (args: unknown) => unknown)({ inputs: infos, backend, attrs });
}

describe.skipIf(!loaded)('sizes past the addon\'s 32-bit index math fall back to the cpu kernel', () => {
  it('MaxPool, AvgPool and their gradients on an image of 2^31 values or more (argmax offsets are int32)', () => {
    // Before: the addon threw "pool: an image of more than 2^31 - 1 values" mid-step
    const addon = loadAddon().addon!;
    const x = [1, 65536, 32768, 1];
    const attrs = { filterSize: 2, strides: 2, pad: 'valid' };
    for (const name of ['MaxPool', 'AvgPool']) expect(callWithClaimedShapes(addon, name, { x }, attrs)).toBe(`fallback:${name}`);
    for (const name of ['MaxPoolGrad', 'AvgPoolGrad']) {
      expect(callWithClaimedShapes(addon, name, { dy: [1, 32768, 16384, 1], input: x, output: [1, 32768, 16384, 1] }, attrs)).toBe(`fallback:${name}`);
    }
  });

  it('BatchMatMul with M, N or K of 2^31 or more (cblas_sgemm takes C ints)', () => {
    // A recording addon: before, the stack of 65,536 matrices of 32,768 rows reached sgemm as M = 2^31
    const calls: number[][] = [];
    const addon = { matmul: (...args: unknown[]) => calls.push(args.slice(3, 7) as number[]) } as unknown as NativeAddon;
    const attrs = { transposeA: false, transposeB: false };
    for (const [a, b] of [
      [[65536, 32768, 1], [1, 1]],
      [[1, 2 ** 31], [2 ** 31, 1]],
      [[1, 1], [1, 2 ** 31]],
      [[2 ** 31, 1], [1, 1]],
    ]) {
      expect(callWithClaimedShapes(addon, 'BatchMatMul', { a: a!, b: b! }, attrs)).toBe('fallback:BatchMatMul');
    }
    expect(calls).toEqual([]);
    // the largest sizes that fit still run natively
    callWithClaimedShapes(addon, 'BatchMatMul', { a: [2 ** 31 - 1, 1], b: [1, 1] }, attrs);
    expect(calls).toEqual([[1, 2 ** 31 - 1, 1, 1]]);
  });
});

describe.skipIf(!loaded)('thread counts and environment', () => {
  afterEach(async () => {
    delete process.env['TRELLIS_NATIVE_THREADS'];
    await useNativeBackend({ threads: 1 });
    await tf.setBackend('cpu');
  });

  it('refuses more threads than the OpenMP pool can start, and counts that would wrap around in C++', async () => {
    // 100000 segfaulted at the first parallel kernel; 2^31 became 1 thread and 2^32 + 2 became 2
    for (const threads of [100_000, 2 ** 31, 2 ** 32 + 2]) {
      await expect(useNativeBackend({ threads })).rejects.toMatchObject({ name: 'TrellisError', code: 'BAD_THREADS' });
      expect(describeNativeBackend().threads).toBeLessThanOrEqual(1024);
    }
    const info = await useNativeBackend({ threads: 3 });
    expect(info.threads).toBe(3);
  });

  it('a TRELLIS_NATIVE_THREADS that is not a whole number from 1 to 1024 is an error naming the variable', async () => {
    for (const bad of ['abc', '0', '-2', '1.5', '5000']) {
      process.env['TRELLIS_NATIVE_THREADS'] = bad;
      await expect(useNativeBackend()).rejects.toMatchObject({ code: 'BAD_THREADS', message: expect.stringContaining(`TRELLIS_NATIVE_THREADS=${bad}`) });
    }
    process.env['TRELLIS_NATIVE_THREADS'] = '2';
    expect((await useNativeBackend()).threads).toBe(2);
    process.env['TRELLIS_NATIVE_THREADS'] = '';
    expect((await useNativeBackend()).loaded).toBe(true);
    // an explicit option wins over the variable, bad or not
    process.env['TRELLIS_NATIVE_THREADS'] = 'abc';
    expect((await useNativeBackend({ threads: 1 })).threads).toBe(1);
  });

  it("core's useBackend('trellis-native') without threads reads TRELLIS_NATIVE_THREADS (it passed all cores)", async () => {
    process.env['TRELLIS_NATIVE_THREADS'] = '1';
    expect((await useBackend('trellis-native')).threads).toBe(1);
    process.env['TRELLIS_NATIVE_THREADS'] = '3';
    expect((await useBackend('trellis-native')).threads).toBe(3);
    expect((await useBackend('trellis-native', { threads: 2 })).threads).toBe(2);
  });
});

describe.skipIf(!loaded)('worker threads', () => {
  it('convolutions in two worker threads at once (runDataParallel, `trellis train --workers 2`) give cpu\'s results and do not corrupt the heap', async () => {
    // Before the conv cache, scratchpad and stream were per thread: ~19 wrong results in 6,700 calls
    // with 40 shapes, and "double free or corruption" with 300 (one thread clearing the full cache).
    const fixture = fileURLToPath(new URL('./fixtures/conv-in-worker-threads.mjs', import.meta.url));
    // Plain Node: the fixture's workers import the package's built dist.
    for (const shapes of ['40', '300']) {
      const r = await runNode([fixture, '2', '1000', shapes], { timeout: 120_000 });
      expect(r.signal, r.stderr.slice(-2000)).toBeNull();
      expect(r.status, r.stderr.slice(-2000)).toBe(0);
      expect(r.stdout).toMatch(/^ok \d+/m);
    }
  });
});

describe('finding the addon', () => {
  it('resolves a relative TRELLIS_NATIVE_ADDON / tryLoadAddon path against the working directory', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'trellis-rel-addon-'));
    const file = path.join(dir, 'stand_in.cjs');
    writeFileSync(file, ADDON_FUNCTIONS.map((n) => `exports.${n} = () => undefined;`).join('\n'));
    try {
      const rel = path.relative(process.cwd(), file);
      for (const p of [rel, `.${path.sep}${rel}`]) {
        const r = tryLoadAddon(p);
        expect(r.reason).toBeUndefined();
        expect(r.addon).not.toBeNull();
        expect(r.path).toBe(file);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an addon built from other sources than the package\'s native/ (a stale build with every function)', async () => {
    // Before: a build from before binary op 9 (the one-pass Sigmoid gradient) loaded, then threw
    // "binary: bad arguments" in the middle of a training step.
    const { nativeSourcesHash } = await import('../src/addon.js');
    const sources = nativeSourcesHash();
    expect(sources).toMatch(/^h[0-9a-f]{64}$/);
    if (loaded) expect(loadAddon().addon!.versions().sources).toBe(sources);
    const dir = mkdtempSync(path.join(tmpdir(), 'trellis-stale-addon-'));
    try {
      for (const [name, built] of [['other.cjs', `'h${'0'.repeat(64)}'`], ['unstamped.cjs', 'undefined']] as const) {
        const file = path.join(dir, name);
        writeFileSync(file, ADDON_FUNCTIONS.map((n) => `exports.${n} = () => undefined;`).join('\n') + `\nexports.versions = () => ({ sources: ${built} });`);
        const r = tryLoadAddon(file, { sources });
        expect(r.addon).toBeNull();
        expect(r.reason).toMatch(/built from other sources/);
        expect(r.reason).toContain('npm run build:native -w @trellis-ml/backend-native');
        // without the expected sources (TRELLIS_NATIVE_ADDON names a build on purpose) it loads
        expect(tryLoadAddon(file).addon).not.toBeNull();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('TRELLIS_NATIVE_DISABLE=1 says to unset it', async () => {
    vi.resetModules();
    const prior = process.env['TRELLIS_NATIVE_DISABLE'];
    process.env['TRELLIS_NATIVE_DISABLE'] = '1';
    try {
      const fresh = await import('../src/addon.js');
      const r = fresh.loadAddon();
      expect(r.addon).toBeNull();
      expect(r.reason).toMatch(/TRELLIS_NATIVE_DISABLE=1/);
      expect(r.reason).toMatch(/unset/);
    } finally {
      if (prior === undefined) delete process.env['TRELLIS_NATIVE_DISABLE'];
      else process.env['TRELLIS_NATIVE_DISABLE'] = prior;
      vi.resetModules();
    }
  });
});
