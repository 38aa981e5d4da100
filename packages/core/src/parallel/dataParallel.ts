/**
 * Data-parallel training on several cores: {@link runDataParallel} starts N worker threads on one
 * training script; in each, {@link dataParallelPlugin} makes an ordinary {@link Trainer} train on its
 * shard of every batch and apply the gradient averaged over all shards, so the N model copies stay
 * identical and together compute the full-batch step. Gradients travel through a SharedArrayBuffer
 * (no copies through messages); the workers meet at a barrier once per step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { wasmHeapView } from '../backend/wasmSimd.js';
import type { Batch } from '../dataset.js';
import { check, TrellisError } from '../errors.js';
import type { TrainerContext, TrainerPlugin } from '../plugin.js';
import { abort, barrier, CONTROL, depart, CONTROL_BYTES, MAX_LOGS, MAX_WORKERS, throwIfAborted } from './sharedBarrier.js';

/** Key of the launcher's part of `workerData`. */
const KEY = 'trellisDataParallel';
/** Largest growable SharedArrayBuffer Node 20's V8 reserves (2^32 bytes; 2^33 is refused). */
const MAX_SHARED_BYTES = 2 ** 32;
/** Key of a worker's result message. */
const RESULT = 'trellisDataParallelResult';

/** A growable SharedArrayBuffer (ES2024; Node 20 has it, TypeScript's ES2022 lib does not). */
interface GrowableSharedArrayBuffer extends SharedArrayBuffer {
  readonly maxByteLength: number;
  grow(byteLength: number): void;
}
const GrowableSharedArrayBuffer = SharedArrayBuffer as unknown as new (byteLength: number, options: { maxByteLength: number }) => GrowableSharedArrayBuffer;

/** What the launcher hands each worker. */
interface WorkerSetup {
  rank: number;
  workers: number;
  gradients: GrowableSharedArrayBuffer;
  control: SharedArrayBuffer;
  barrierTimeoutMs: number;
}

/** Options of {@link runDataParallel}. */
export interface DataParallelOptions {
  /** The training script every worker runs: an ES module's file path or `file:` URL. */
  script: string | URL;
  /** Number of workers (default 2, one per core of a 2-core machine). */
  workers?: number;
  /** Any structured-cloneable value, given to every worker as `dataParallelRank().data`. */
  data?: unknown;
  /** Largest model (number of float32 parameters) the shared gradient buffer can hold (default 2^26). */
  maxParameters?: number;
  /** How long a worker waits for the others at a barrier before failing the run, in ms > 0 (default 10 min). */
  barrierTimeoutMs?: number;
  /** Node options of the workers (default: this process's `process.execArgv`, as `worker_threads` does). */
  execArgv?: string[];
}

/** Where the calling code runs: its rank among `workers`, and the launcher's `data`. */
export interface DataParallelRank {
  /** 0-based rank of this worker (0 outside a data-parallel run). */
  rank: number;
  /** Number of workers (1 outside a data-parallel run). */
  workers: number;
  /** The launcher's `data` option (undefined outside a data-parallel run). */
  data: unknown;
  /** True inside a worker started by {@link runDataParallel}. */
  active: boolean;
}

function workerSetup(): WorkerSetup | undefined {
  if (isMainThread) return undefined;
  const d = workerData as Record<string, unknown> | null;
  return d && typeof d === 'object' && KEY in d ? (d[KEY] as WorkerSetup) : undefined;
}

/** This thread's rank and the launcher's data; rank 0 of 1 outside a data-parallel run. */
export function dataParallelRank(): DataParallelRank {
  const s = workerSetup();
  if (!s) return { rank: 0, workers: 1, data: undefined, active: false };
  return { rank: s.rank, workers: s.workers, data: (workerData as Record<string, unknown>).data, active: true };
}

/**
 * Sends this worker's result to the launcher ({@link runDataParallel} resolves with one result per
 * rank). Outside a data-parallel run it does nothing.
 */
export function dataParallelResult(value: unknown): void {
  if (workerSetup()) parentPort!.postMessage({ [RESULT]: value });
}

/** The half-open row range `[lo, hi)` of `rank`'s shard of a batch of `size` rows. */
export function shardRange(size: number, rank: number, workers: number): [number, number] {
  if (size < workers) return [0, size]; // too few rows to split: every rank takes the whole batch
  return [Math.floor((rank * size) / workers), Math.floor(((rank + 1) * size) / workers)];
}

/** FNV-1a hash of a string, as a signed 32-bit integer (for cheap equality checks across ranks). */
function signature(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/** Orders `[name, value]` entries by name (the order every rank lays the shared slots out in). */
const byName = ([a]: [string, unknown], [b]: [string, unknown]): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * A cheap fingerprint of a model's values (a weighted sum over every 7th value of every variable),
 * equal on replicas that hold bit-identical variables.
 */
export function replicaChecksum(model: { allVariables(): Record<string, tf.Variable> }): number {
  let sum = 0;
  for (const v of Object.values(model.allVariables())) {
    const d = v.dataSync();
    for (let i = 0; i < d.length; i += 7) sum += (d[i] as number) * ((i % 13) + 1);
  }
  return sum;
}

/** What one rank writes into its slot each step: gradients, then non-trainable float variables. */
interface ExchangeLayout {
  /** The gradient names, sorted. */
  gradients: string[];
  /** The same names, for the per-step "unchanged?" check. */
  gradientSet: Set<string>;
  /** The non-trainable float variables (BatchNorm moving statistics), sorted by name. */
  buffers: Array<[string, tf.Variable]>;
  /** Floats per slot. */
  total: number;
  /** Fingerprint of the names and sizes, compared across ranks. */
  signature: number;
}

function sliceBatch(batch: Batch, lo: number, hi: number): Batch {
  const n = hi - lo;
  const rows = (t: tf.Tensor): tf.Tensor => tf.slice(t, [lo, ...t.shape.slice(1).map(() => 0)], [n, ...t.shape.slice(1)]);
  return {
    x: rows(batch.x),
    y: batch.y ? (rows(batch.y) as tf.Tensor1D) : undefined,
    groups: batch.groups ? (rows(batch.groups) as tf.Tensor1D) : undefined,
    indices: batch.indices.slice(lo, hi),
    size: n,
  };
}

/**
 * The Trainer plugin that makes a worker of {@link runDataParallel} one replica of a data-parallel
 * run. Give every worker the same model, seed, dataset, batch size and schedule; the plugin then
 * - at setup, copies rank 0's variables to every rank (so the replicas start identical) and checks
 *   that all ranks use the same seed (hence the same shuffling);
 * - at each batch, keeps this rank's contiguous shard of the rows (a batch smaller than the number
 *   of workers is trained whole by every rank);
 * - averages the gradients over the ranks, weighted by shard size (the full-batch gradient of a
 *   mean loss), before any other plugin sees them, so every replica applies the same update, and
 *   the non-trainable float variables the same way (BatchNorm's moving statistics, which each rank
 *   updates from its own shard);
 * - averages the step's logged scalars the same way (the returned logs are the full batch's);
 * - at the end of `fit`, checks that the replicas are still identical.
 *
 * Results differ from single-process training by float rounding of the gradient sum, and with
 * BatchNorm each shard normalises with its own statistics (as unsynchronised BatchNorm does).
 * Outside a worker of {@link runDataParallel} it is a no-op, so the same script also runs alone.
 */
export function dataParallelPlugin(): TrainerPlugin {
  const s = workerSetup();
  if (!s) return { name: 'data-parallel', apiVersion: 1, order: 'pre' };
  const { rank, workers, barrierTimeoutMs } = s;
  const control = new Int32Array(s.control, 0, CONTROL.end);
  const logArea = new Float64Array(s.control, CONTROL.end * 4, MAX_WORKERS * MAX_LOGS);
  const gradBuf = s.gradients;
  let step = 0;
  let phase = 0;
  // Every barrier is tagged with the phase and the step, so ranks that drifted apart are caught.
  const wait = (what: string): void => barrier(control, rank, workers, barrierTimeoutMs, `${what} (step ${step})`, signature(`${what}#${step}#${phase++}`));
  const floats = (n: number): Float32Array => {
    const bytes = n * 4;
    if (gradBuf.byteLength < bytes) {
      if (bytes > gradBuf.maxByteLength) {
        abort(control);
        throw new TrellisError('DATA_PARALLEL_MODEL_TOO_LARGE', `the model needs ${n} shared floats, more than the ${gradBuf.maxByteLength / 4} reserved`,
          gradBuf.maxByteLength >= MAX_SHARED_BYTES
            ? `use fewer workers: each step exchanges 2 × workers copies of the gradients, and at most ${MAX_SHARED_BYTES / 2 ** 30} GiB can be shared`
            : 'pass a larger maxParameters to runDataParallel');
      }
      try {
        gradBuf.grow(bytes);
      } catch (e) {
        if (gradBuf.byteLength < bytes) throw e; // another rank grew it first otherwise
      }
    }
    return new Float32Array(gradBuf, 0, n);
  };
  let weights: number[] = new Array(workers).fill(1 / workers);
  // The exchange layout is fixed while the gradient names are (rebuilt only when they change).
  let layout: ExchangeLayout | null = null;
  const exchangeLayout = (grads: tf.NamedTensorMap, ctx: TrainerContext): ExchangeLayout => {
    const names = Object.keys(grads);
    const known = layout?.gradientSet;
    if (layout && known && known.size === names.length && names.every((k) => known.has(k))) return layout;
    const gradients = names.sort();
    const trainable = ctx.model.trainableVariables();
    const buffers = Object.entries(ctx.model.allVariables()).filter(([k, v]) => !(k in trainable) && v.dtype === 'float32').sort(byName);
    const sizes: Array<[string, number]> = [...gradients.map((k): [string, number] => [k, grads[k]!.size]), ...buffers.map(([k, v]): [string, number] => [k, v.size])];
    layout = { gradients, gradientSet: new Set(gradients), buffers, total: sizes.reduce((n, [, size]) => n + size, 0), signature: signature(sizes.map(([k, size]) => `${k}:${size}`).join(';')) };
    return layout;
  };

  return {
    name: 'data-parallel',
    apiVersion: 1,
    order: 'pre',

    setup(ctx: TrainerContext): void {
      const vars = Object.entries(ctx.model.allVariables()).sort(byName);
      const total = vars.reduce((n, [, v]) => n + v.size, 0);
      control[CONTROL.seeds + rank] = ctx.seed;
      control[CONTROL.signatures + rank] = signature(vars.map(([k, v]) => `${k}:${v.size}`).join(';'));
      const shared = floats(total);
      if (rank === 0) {
        let off = 0;
        for (const [, v] of vars) {
          shared.set(v.dataSync() as Float32Array, off);
          off += v.size;
        }
      }
      wait('setup (copying rank 0 weights)');
      for (let r = 0; r < workers; r++) {
        check(control[CONTROL.seeds + r] === ctx.seed, 'DATA_PARALLEL_SEED_MISMATCH',
          `data-parallel rank ${r} trains with seed ${control[CONTROL.seeds + r]}, rank ${rank} with ${ctx.seed}`,
          'give every worker the same Trainer seed (it fixes the shuffling every rank must share)');
        check(control[CONTROL.signatures + r] === control[CONTROL.signatures + rank], 'DATA_PARALLEL_MODEL_MISMATCH',
          `data-parallel ranks ${r} and ${rank} built models with different variables`, 'build the same model in every worker');
      }
      if (rank !== 0) {
        let off = 0;
        for (const [, v] of vars) {
          tf.tidy(() => v.assign(tf.tensor(shared.slice(off, off + v.size), v.shape, v.dtype)));
          off += v.size;
        }
      }
      wait('setup (weights copied)');
    },

    onBatchStart(ctx: TrainerContext): Batch | void {
      const batch = ctx.batch!;
      const [lo, hi] = shardRange(batch.size, rank, workers);
      const sizes = Array.from({ length: workers }, (_, r) => {
        const [a, b] = shardRange(batch.size, r, workers);
        return b - a;
      });
      const sum = sizes.reduce((a, b) => a + b, 0);
      weights = sizes.map((n) => n / sum);
      if (lo === 0 && hi === batch.size) return undefined;
      return sliceBatch(batch, lo, hi);
    },

    transformGradients(grads: tf.NamedTensorMap, ctx: TrainerContext): tf.NamedTensorMap {
      const { gradients, buffers, total, signature: sig } = exchangeLayout(grads, ctx);
      const all: Array<[string, tf.Tensor]> = [...gradients.map((k): [string, tf.Tensor] => [k, grads[k]!]), ...buffers];
      control[CONTROL.signatures + rank] = sig;
      // Two parities of `workers` slots: a rank that runs ahead writes the other parity, never a
      // slot another rank is still reading.
      const slots = floats(2 * workers * total);
      const base = (step % 2) * workers * total;
      let off = base + rank * total;
      const backend = tf.backend();
      for (const [, t] of all) {
        // On wasm, straight from the backend's heap (one copy instead of two).
        slots.set(wasmHeapView(backend, t) ?? (t.dataSync() as Float32Array), off);
        off += t.size;
      }
      wait('the gradient exchange');
      step++;
      for (let r = 0; r < workers; r++) {
        if (control[CONTROL.signatures + r] !== control[CONTROL.signatures + rank]) {
          abort(control);
          throw new TrellisError('DATA_PARALLEL_GRADIENT_MISMATCH', `data-parallel ranks ${r} and ${rank} computed gradients for different variables this step`,
            'every rank must train the same variables each step (no rank-dependent skipping or freezing)');
        }
      }
      // The weighted mean over the ranks, summed in rank order (the same values on every rank).
      // The backend keeps a copy of what it is given, except the cpu backend, which keeps the array.
      const copy = tf.getBackend() !== 'wasm';
      const equal = weights.every((w) => w === weights[0]);
      const mean = (mine: tf.Tensor, at: number): tf.Tensor =>
        tf.tidy(() => {
          let acc: tf.Tensor | undefined;
          for (let r = 0; r < workers; r++) {
            const from = base + r * total + at;
            let part = r === rank ? mine : tf.tensor(copy ? slots.slice(from, from + mine.size) : slots.subarray(from, from + mine.size), mine.shape, 'float32');
            if (!equal) part = tf.mul(part, weights[r]!);
            acc = acc ? tf.add(acc, part) : part;
          }
          return equal && workers > 1 ? tf.mul(acc!, 1 / workers) : acc!;
        });
      const out: tf.NamedTensorMap = {};
      off = 0;
      for (const [k, t] of all) {
        if (k in grads) out[k] = mean(t, off);
        else tf.tidy(() => (t as tf.Variable).assign(mean(t, off)));
        off += t.size;
      }
      return out;
    },

    onBatchEnd(ctx: TrainerContext): void {
      const keys = Object.keys(ctx.logs).filter((k) => typeof ctx.logs[k] === 'number').sort();
      if (keys.length > MAX_LOGS) return; // too many to average here: each rank keeps its own
      control[CONTROL.logSignatures + rank] = signature(keys.join(';'));
      keys.forEach((k, i) => (logArea[rank * MAX_LOGS + i] = ctx.logs[k]!));
      wait('the log exchange');
      for (let r = 0; r < workers; r++) if (control[CONTROL.logSignatures + r] !== control[CONTROL.logSignatures + rank]) return;
      keys.forEach((k, i) => {
        let v = 0;
        for (let r = 0; r < workers; r++) v += weights[r]! * logArea[r * MAX_LOGS + i]!;
        ctx.logs[k] = v;
      });
    },

    onFitEnd(ctx: TrainerContext): void {
      throwIfAborted(control, 'the end of fit');
      logArea[rank * MAX_LOGS] = replicaChecksum(ctx.model);
      wait('the replica check');
      const first = logArea[0];
      const same = Array.from({ length: workers }, (_, r) => logArea[r * MAX_LOGS]).every((v) => Object.is(v, first));
      wait('the replica check (read)');
      check(same, 'DATA_PARALLEL_DIVERGED', 'the data-parallel model replicas differ after training',
        'a plugin or kernel produced rank-dependent results (random draws from a per-rank generator, non-deterministic kernels); report it with the script');
    },
  };
}

/**
 * Runs `script` in `workers` worker threads as one data-parallel training run and resolves with
 * each rank's result (what it passed to {@link dataParallelResult}, or undefined). Each worker selects
 * its backend (one thread each: `useBackend('wasm', { threads: 1 })`), builds the same model and
 * dataset, and trains with {@link dataParallelPlugin} among its Trainer's plugins; save checkpoints
 * and run records from rank 0 only. If a worker fails, the others are stopped at their next barrier
 * and the promise rejects with the failing worker's error.
 */
export async function runDataParallel<R = unknown>(options: DataParallelOptions): Promise<Array<R | undefined>> {
  const workers = options.workers ?? 2;
  check(Number.isInteger(workers) && workers >= 1 && workers <= MAX_WORKERS, 'BAD_WORKERS',
    `runDataParallel needs 1 to ${MAX_WORKERS} workers, got ${String(options.workers)}`, 'pass workers as a small positive integer (one per core)');
  const url = options.script instanceof URL ? options.script : pathToFileURL(options.script);
  check(url.protocol === 'file:' && existsSync(fileURLToPath(url)), 'BAD_SCRIPT', `the data-parallel script ${String(options.script)} does not exist`,
    'pass the path or file: URL of an ES module that trains with dataParallelPlugin()');
  const maxParameters = options.maxParameters ?? 2 ** 26;
  check(Number.isInteger(maxParameters) && maxParameters > 0, 'BAD_OPTION', `maxParameters must be a positive integer, got ${maxParameters}`, 'pass the largest parameter count to reserve');
  // Setup broadcasts all variables (one slot); each step exchanges 2 parities × workers slots. The
  // reservation is capped at what V8 allows for a growable SharedArrayBuffer (4 GiB here).
  const gradients = new GrowableSharedArrayBuffer(0, { maxByteLength: Math.min(4 * maxParameters * Math.max(2 * workers, 1), MAX_SHARED_BYTES) });
  const controlBuf = new SharedArrayBuffer(CONTROL_BYTES);
  const control = new Int32Array(controlBuf, 0, CONTROL.end);
  const barrierTimeoutMs = options.barrierTimeoutMs ?? 600_000;
  // NaN never timed out (a hung worker hung the run), a negative one failed the first barrier
  check(barrierTimeoutMs > 0, 'BAD_OPTION', () => `barrierTimeoutMs ${String(barrierTimeoutMs)} is not a positive number of milliseconds`,
    'pass a timeout such as 600000 (10 minutes, the default), or leave it out');
  const failures: Array<{ rank: number; error: Error }> = [];
  const runs = Array.from({ length: workers }, (_, rank) =>
    new Promise<R | undefined>((resolve) => {
      let result: R | undefined;
      const setup: WorkerSetup = { rank, workers, gradients, control: controlBuf, barrierTimeoutMs };
      const w = new Worker(url, { workerData: { [KEY]: setup, data: options.data }, ...(options.execArgv ? { execArgv: options.execArgv } : {}) });
      w.on('message', (m: unknown) => {
        if (m && typeof m === 'object' && RESULT in m) result = (m as Record<string, R>)[RESULT];
      });
      w.once('error', (error: Error) => {
        failures.push({ rank, error });
        abort(control);
      });
      w.once('exit', (code) => {
        if (code !== 0 && !failures.some((f) => f.rank === rank)) {
          failures.push({ rank, error: new Error(`exited with code ${code}`) });
          abort(control);
        } else if (code === 0) depart(control, rank);
        resolve(result);
      });
    }),
  );
  const results = await Promise.all(runs);
  if (failures.length > 0) {
    // The root cause, not the workers that stopped because of it.
    const isFollowOn = (e: Error): boolean => /another data-parallel worker failed/.test(e.message) && failures.length > 1;
    const first = failures.find((f) => !isFollowOn(f.error)) ?? failures[0]!;
    throw new TrellisError('DATA_PARALLEL_WORKER_FAILED', `data-parallel worker ${first.rank} of ${workers} failed: ${first.error.message}`,
      'fix the error above in the training script (the other workers were stopped)', { rank: first.rank, cause: first.error });
  }
  return results;
}
