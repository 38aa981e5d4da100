import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNativeKernels, NATIVE_BACKEND_NAME } from '../src/index.js';

const loaded = loadNativeKernels().loaded;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const hasCompiler = spawnSync('g++', ['--version']).status === 0;

/** How many float32 values apart a and b are (both finite, or equal). */
function ulps(a: number, b: number): number {
  if (a === b) return 0;
  const bits = (v: number) => {
    const u = new Int32Array(new Float32Array([v]).buffer)[0]!;
    return u < 0 ? -(u & 0x7fffffff) : u;
  };
  return Math.abs(bits(a) - bits(b));
}

/** The sigmoid as float32 arithmetic computes it: exp(−x) rounded (∞ past 88.7), then 1 + e and 1 / (1 + e) each rounded. */
function sigmoidInFloat32(x: number): number {
  const e = Math.fround(Math.exp(-x));
  return Math.fround(1 / Math.fround(1 + e));
}

/** Inputs that cover each code path: ordinary values, the ±88 edge, NaN/±∞, subnormal results, and blocks mixing them. */
function sweep(): Float32Array {
  const n = 1 << 16;
  const x = new Float32Array(n + 9);
  for (let i = 0; i < n; i++) x[i] = -104 + (208 * i) / n;
  x.set([NaN, Infinity, -Infinity, 87.99999, 88, -88, 88.7, -103.5, 0], n);
  return x;
}

describe.skipIf(!loaded)('vectorised exp (native/expf.h)', () => {
  it('Exp stays within one float ulp of exp(x), Sigmoid within two of its float32 formula, with IEEE special cases', async () => {
    await tf.setBackend(NATIVE_BACKEND_NAME);
    const x = sweep();
    const [e, s] = tf.tidy(() => {
      const t = tf.tensor1d(x);
      return [tf.exp(t).dataSync() as Float32Array, tf.sigmoid(t).dataSync() as Float32Array];
    });
    const worst = { exp: 0, sigmoid: 0 };
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      // Sigmoid's 1 / (1 + e) rounds twice after exp's own rounding: one ulp of e can become two.
      const cases: Array<[keyof typeof worst, number, number]> = [['exp', e[i]!, Math.fround(Math.exp(v))], ['sigmoid', s[i]!, sigmoidInFloat32(v)]];
      for (const [name, got, want] of cases) {
        if (Number.isNaN(want)) expect(got, `${name}(${v})`).toBeNaN();
        else worst[name] = Math.max(worst[name], ulps(got, want));
      }
    }
    expect(worst.exp).toBeLessThanOrEqual(1);
    expect(worst.sigmoid).toBeLessThanOrEqual(2);
    expect(e[x.length - 9]).toBeNaN();
    expect(e[x.length - 8]).toBe(Infinity);
    expect(e[x.length - 7]).toBe(0);
    expect(s[x.length - 8]).toBe(1);
    expect(s[x.length - 7]).toBe(0);
    expect(s[x.length - 1]).toBe(0.5);
  });

  it('gives the same values in place (the fused-matmul epilogue) as into a new tensor', async () => {
    await tf.setBackend(NATIVE_BACKEND_NAME);
    const x = sweep().subarray(0, 1 << 16);
    const [fused, plain] = tf.tidy(() => {
      const a = tf.tensor2d(x, [256, 256]);
      const eye = tf.eye(256);
      const viaMatMul = tf.fused.matMul({ a, b: eye, activation: 'sigmoid' });
      return [viaMatMul.dataSync() as Float32Array, tf.sigmoid(a).dataSync() as Float32Array];
    });
    expect(Array.from(fused)).toEqual(Array.from(plain));
  });

  it("gives Sigmoid's gradient in one pass, bit for bit tfjs's dy · (y · (1 − y))", async () => {
    await tf.setBackend(NATIVE_BACKEND_NAME);
    const x = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i * 0.37) * 9);
    const [fused, threeOps] = tf.tidy(() => {
      const t = tf.tensor1d(x);
      const dy = tf.tensor1d(Float32Array.from(x, (v, i) => Math.sin(i) * 3));
      const viaGrad = tf.grad((a: tf.Tensor) => tf.sigmoid(a))(t, dy);
      const y = tf.sigmoid(t);
      return [viaGrad.dataSync() as Float32Array, tf.mul(dy, tf.mul(y, tf.sub(tf.scalar(1), y))).dataSync() as Float32Array];
    });
    expect(Array.from(fused)).toEqual(Array.from(threeOps));
  });

  it('keeps the tensor count flat across training steps through the one-pass Sigmoid gradient', async () => {
    await tf.setBackend(NATIVE_BACKEND_NAME);
    const w = tf.variable(tf.randomNormal([16, 8], 0, 0.3, 'float32', 1));
    const x = tf.randomUniform([32, 16], 0, 1, 'float32', 2);
    const target = tf.randomUniform([32, 8], 0, 1, 'float32', 3);
    const optimizer = tf.train.adam(1e-2);
    const step = () => optimizer.minimize(() => tf.mean(tf.square(tf.sub(tf.sigmoid(tf.matMul(x, w)), target))) as tf.Scalar);
    step();
    const after1 = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(after1);
    tf.dispose([w, x, target]);
    optimizer.dispose();
  });

  it.skipIf(!hasCompiler)('matches std::exp bit for bit on a strided sample of every float (test/expf-exhaustive.cc)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'expf-'));
    try {
      const bin = path.join(dir, 'expf-check');
      const build = spawnSync('g++', ['-std=c++17', '-O3', '-march=native', '-fno-math-errno', '-fopenmp', '-I', path.join(root, 'native'),
        path.join(root, 'test', 'expf-exhaustive.cc'), '-o', bin], { encoding: 'utf8' });
      expect(build.status, build.stderr).toBe(0);
      const run = spawnSync(bin, ['41'], { encoding: 'utf8' });
      expect(run.stdout).toMatch(/ 0 differ/);
      expect(run.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
