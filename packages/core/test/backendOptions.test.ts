/**
 * Backend options are checked before any backend starts: a thread count the backends cannot run is
 * `BAD_THREADS` up front (not a crash in the native pool, nor a silent fallback), and the wasm pool's
 * own ceiling is said in a note.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { MAX_BACKEND_THREADS, checkBackendOptions, useBackend } from '@trellis-ml/core';
import { codeOf, runFreshCoreProcess } from './helpers.js';

describe('checkBackendOptions', () => {
  it('takes whole thread counts from 1 to MAX_BACKEND_THREADS (1024) and the known GEMM choices', () => {
    expect(MAX_BACKEND_THREADS).toBe(1024);
    for (const threads of [1, 2, 1024]) expect(codeOf(() => checkBackendOptions({ threads }))).toBe('no error');
    expect(codeOf(() => checkBackendOptions({}))).toBe('no error');
    expect(codeOf(() => checkBackendOptions({ gemm: 'onednn' }))).toBe('no error');
  });

  it('refuses 0, fractions, NaN and counts above 1024 (100,000 crashed the OpenMP pool; 2^31 wraps in C) as BAD_THREADS', () => {
    for (const threads of [0, -1, 1.5, Number.NaN, 1025, 100_000, 2 ** 31]) {
      expect(codeOf(() => checkBackendOptions({ threads })), String(threads)).toBe('BAD_THREADS');
    }
    expect(() => checkBackendOptions({ threads: 5000 })).toThrow('threads 5000 is more than the 1024 any backend takes');
    expect(codeOf(() => checkBackendOptions({ gemm: 'mkl' as never }))).toBe('BAD_GEMM');
  });

  it("useBackend('auto') refuses too many threads before trying any backend (it used to fall back to wasm)", async () => {
    await tf.setBackend('cpu');
    await expect(useBackend('auto', { threads: 5000 })).rejects.toMatchObject({ name: 'TrellisError', code: 'BAD_THREADS' });
    expect(tf.getBackend()).toBe('cpu');
  });
});

describe('the wasm pool ceiling', () => {
  it('threads above 8 on wasm run 8 threads and say so in a note (fresh process)', async () => {
    // The wasm thread count is fixed when the backend first starts, so this needs its own process.
    const r = await runFreshCoreProcess(`const { useBackend } = await import('CORE_SRC/backend/useBackend.ts');
const info = await useBackend('wasm', { threads: 12 });
console.log('RESULT ' + JSON.stringify({ name: info.name, threads: info.threads, notes: info.notes ?? [] }));`);
    if (r == null) return; // no vite-node to run TypeScript in a child: nothing to check here
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    expect(line, r.stderr).toBeDefined();
    const res = JSON.parse(line!.slice(7)) as { name: string; threads: number; notes: string[] };
    expect(res).toMatchObject({ name: 'wasm', threads: 8 });
    expect(res.notes.join('\n')).toContain('the wasm backend runs at most 8 threads; threads=12 became 8');
  });
});
