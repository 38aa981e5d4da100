/**
 * With no TF.js backend ready, building a model or a batch says what to do (`NO_BACKEND`) instead of
 * TF.js's "No backend found in registry". This file must not import a backend at the top: vitest runs
 * each test file in its own process, so the registry starts empty here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { Dataset, TrellisError, mlp, requireBackend, smallCnn, useBackend } from '@trellis-ml/core';

function codeOf(fn: () => unknown): { code?: string; fix?: string; message?: string } {
  try {
    fn();
  } catch (err) {
    return err as TrellisError;
  }
  return {};
}

describe('requireBackend', () => {
  it('names the call and the fix when no backend is registered, then works once one is chosen', async () => {
    const data = Dataset.fromArrays({ x: new Float32Array(8), shape: [4], labels: new Int32Array([0, 1]), numClasses: 2 });
    const fromMlp = codeOf(() => mlp({ inputShape: [4], hidden: [3], numClasses: 2, seed: 1 }));
    expect(fromMlp).toBeInstanceOf(TrellisError);
    expect(fromMlp.code).toBe('NO_BACKEND');
    expect(fromMlp.message).toContain('mlp()');
    expect(fromMlp.message).toContain('No backend found in registry');
    expect(fromMlp.fix).toContain("useBackend('auto')");
    expect(codeOf(() => smallCnn({ inputShape: [4, 4, 1], numClasses: 2, seed: 1 })).code).toBe('NO_BACKEND');
    expect(codeOf(() => data.batchAt(Int32Array.from([0, 1]))).code).toBe('NO_BACKEND');

    // a registered asynchronous backend nobody awaited is the same mistake
    await import('@tensorflow/tfjs-backend-wasm');
    const unawaited = codeOf(() => requireBackend('Dataset.batchAt()'));
    expect(unawaited.code).toBe('NO_BACKEND');
    expect(unawaited.message).toContain('has not yet been initialized');

    await useBackend('cpu');
    expect(() => requireBackend('mlp()')).not.toThrow();
    const model = mlp({ inputShape: [4], hidden: [3], numClasses: 2, seed: 1 });
    const batch = data.batchAt(Int32Array.from([0, 1]));
    expect(batch.x.shape).toEqual([2, 4]);
    tf.dispose([batch.x, batch.y!]);
    model.dispose();
  });
});

describe('useBackend options', () => {
  it('rejects an unknown GEMM library before touching any backend, and notes that a non-native backend ignores a valid one', async () => {
    await expect(useBackend('cpu', { gemm: 'mkl' as never })).rejects.toMatchObject({ code: 'BAD_GEMM', fix: expect.stringContaining("gemm: 'auto'") });
    const info = await useBackend('cpu', { gemm: 'onednn' });
    expect(info.name).toBe('cpu');
    expect(info.notes).toContain("gemm 'onednn' ignored: only trellis-native has a GEMM choice");
    expect(info.libraries).toBeUndefined();
  });
});
