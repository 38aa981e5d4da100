import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dataParallelPlugin, dataParallelRank, runDataParallel, shardRange } from '@trellis-ml/core';
import { runNode } from '../../../tools/test-support/runNode.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/data-parallel-train.mjs', import.meta.url));

interface Result { rank: number; workers: number; history: number[]; tensors: number[]; weights: number[]; rows: number }

/** The same script run alone (no workers: the plugin is a no-op), for the single-process reference. */
async function alone(options: object): Promise<Result> {
  const out = await runNode([SCRIPT, JSON.stringify(options)]);
  if (out.status !== 0) throw new Error(out.stderr);
  return JSON.parse(out.stdout) as Result;
}

const maxDiff = (a: number[], b: number[]): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('shardRange', () => {
  it('splits rows into contiguous shards that cover the batch', () => {
    expect([0, 1, 2].map((r) => shardRange(7, r, 3))).toEqual([[0, 2], [2, 4], [4, 7]]);
    expect([0, 1].map((r) => shardRange(128, r, 2))).toEqual([[0, 64], [64, 128]]);
  });
  it('gives every rank the whole batch when it has fewer rows than workers', () => {
    expect([0, 1, 2].map((r) => shardRange(2, r, 3))).toEqual([[0, 2], [0, 2], [0, 2]]);
  });
});

describe('outside a data-parallel run', () => {
  it('is rank 0 of 1 and the plugin does nothing', () => {
    expect(dataParallelRank()).toEqual({ rank: 0, workers: 1, data: undefined, active: false });
    const p = dataParallelPlugin();
    expect(p.transformGradients).toBeUndefined();
    expect(p.onBatchStart).toBeUndefined();
  });
});

describe('runDataParallel', { timeout: 60_000 }, () => {
  it('two workers train identical replicas that match single-process full-batch training', async () => {
    const opts = { batchSize: 32, epochs: 3 };
    const [a, b] = (await runDataParallel<Result>({ script: SCRIPT, workers: 2, data: opts })) as Result[];
    expect(a!.weights).toEqual(b!.weights); // bit-identical replicas, though rank 1 was built with other weights
    expect(a!.history).toEqual(b!.history); // the logs are averaged over the ranks
    expect([a!.rows, b!.rows]).toEqual([360, 360]); // each trained on half of every batch (3 epochs × 240 / 2)
    const ref = await alone(opts);
    // Same full-batch gradient up to float rounding of the two-shard sum (240 = 7 × 32 + 16: the last batch splits 8/8).
    expect(maxDiff(a!.weights, ref.weights)).toBeLessThan(1e-4);
    expect(maxDiff(a!.history, ref.history)).toBeLessThan(1e-5);
    expect(ref.history[2]!).toBeLessThan(ref.history[0]!);
    // No tensor leaks across epochs in either worker.
    for (const r of [a!, b!]) expect(r.tensors[2]).toBe(r.tensors[1]);
  });

  it('on the wasm backend (gradients read from its heap in place) as on cpu', async () => {
    const opts = { batchSize: 32, epochs: 2, backend: 'wasm' };
    const [a, b] = (await runDataParallel<Result>({ script: SCRIPT, workers: 2, data: opts })) as Result[];
    expect(a!.weights).toEqual(b!.weights);
    const ref = await alone(opts);
    expect(maxDiff(a!.weights, ref.weights)).toBeLessThan(1e-4);
    expect(a!.tensors[1]).toBe(a!.tensors[0]);
  });

  it('keeps BatchNorm replicas identical: the moving statistics are averaged over the ranks too', async () => {
    // Without that, each rank's moving mean/variance would follow its own shard and fit's replica check would fail.
    const [a, b] = (await runDataParallel<Result>({ script: SCRIPT, workers: 2, data: { batchSize: 32, epochs: 2, batchNorm: true } })) as Result[];
    expect(a!.weights).toEqual(b!.weights);
    const ref = await alone({ batchSize: 32, epochs: 2, batchNorm: true });
    expect(a!.weights.length).toBe(ref.weights.length);
    // Shard statistics (unsynchronised BatchNorm) make the run differ from one process, but it still learns.
    expect(a!.history[1]!).toBeLessThan(a!.history[0]!);
  });

  it('weights uneven shards by size, and trains a batch smaller than the worker count whole on every rank', async () => {
    // Batches of 7 split 2/2/3 over three workers; 240 = 34 × 7 + 2, and the last batch of 2 goes whole to each rank.
    const opts = { batchSize: 7, epochs: 1 };
    const res = (await runDataParallel<Result>({ script: SCRIPT, workers: 3, data: opts })) as Result[];
    expect(res[1]!.weights).toEqual(res[0]!.weights);
    expect(res[2]!.weights).toEqual(res[0]!.weights);
    // 34 batches of 7 split 2/2/3, then the batch of 2 whole on every rank.
    expect(res.map((r) => r!.rows)).toEqual([34 * 2 + 2, 34 * 2 + 2, 34 * 3 + 2]);
    const ref = await alone(opts);
    expect(maxDiff(res[0]!.weights, ref.weights)).toBeLessThan(1e-4);
    expect(Math.abs(res[0]!.history[0]! - ref.history[0]!)).toBeLessThan(1e-5);
  });

  it('runs many workers (9: the shared buffer reservation is capped at what V8 allows)', async () => {
    const res = (await runDataParallel<Result>({ script: SCRIPT, workers: 9, data: { batchSize: 32, epochs: 1 } })) as Result[];
    expect(res).toHaveLength(9);
    for (const r of res) expect(r!.weights).toEqual(res[0]!.weights);
  });

  it('rejects with the failing worker’s error and stops the others', async () => {
    const t0 = Date.now();
    const run = runDataParallel({ script: SCRIPT, workers: 2, data: { failRank: 1, failStep: 3 } });
    await expect(run).rejects.toMatchObject({ code: 'DATA_PARALLEL_WORKER_FAILED', message: expect.stringContaining('boom at rank 1, step 3') });
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it('catches ranks with different seeds, and ranks that run different schedules', async () => {
    await expect(runDataParallel({ script: SCRIPT, workers: 2, data: { seeds: [3, 4] } })).rejects.toMatchObject({
      message: expect.stringContaining('seed'),
    });
    await expect(runDataParallel({ script: SCRIPT, workers: 2, data: { epochsByRank: [2, 1] }, barrierTimeoutMs: 5_000 })).rejects.toMatchObject({
      code: 'DATA_PARALLEL_WORKER_FAILED', message: expect.stringContaining('rank 1 finished its script while rank 0 was at the gradient exchange'),
    });
  });

  it('rejects bad options with a clear error', async () => {
    await expect(runDataParallel({ script: SCRIPT, workers: 0 })).rejects.toMatchObject({ code: 'BAD_WORKERS' });
    await expect(runDataParallel({ script: '/nonexistent/train.mjs' })).rejects.toMatchObject({ code: 'BAD_SCRIPT' });
    for (const barrierTimeoutMs of [NaN, -1, 0]) {
      await expect(runDataParallel({ script: SCRIPT, barrierTimeoutMs }), String(barrierTimeoutMs)).rejects.toThrow(/barrierTimeoutMs .* is not a positive number of milliseconds/);
    }
    await expect(runDataParallel({ script: SCRIPT, maxParameters: 2.5 })).rejects.toMatchObject({ code: 'BAD_OPTION' });
  });
});
