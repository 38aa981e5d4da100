/**
 * The synchronisation data-parallel workers share: a reusable barrier over an Int32Array in a
 * SharedArrayBuffer, with an abort flag the launcher raises when any worker fails (so the others
 * stop waiting and fail too) and a timeout (so a worker that stopped stepping cannot hang the rest).
 */
import { TrellisError } from '../errors.js';

/** Int32 slots of the control buffer. */
export const CONTROL = {
  /** Workers arrived at the current barrier. */
  arrived: 0,
  /** Barrier generation (bumped when the last worker arrives). */
  generation: 1,
  /** 1 once the launcher or a worker gave up: every wait then throws. */
  abort: 2,
  /** 1 + the rank of the first worker that finished its script (0 while all run). */
  departed: 3,
  /** First of `workers` slots: each rank's shard size this step. */
  shardSizes: 8,
  /** First of `workers` slots: each rank's seed (checked equal at setup). */
  seeds: 8 + 64,
  /** First of `workers` slots: each rank's gradient-set signature (checked equal every step). */
  signatures: 8 + 128,
  /** First of `workers` slots: each rank's logged-scalar signature (checked before averaging). */
  logSignatures: 8 + 192,
  /** Two parities × `workers` slots: what each rank says it is waiting for (checked equal). */
  tags: 8 + 256,
  /** Int32 slots before the Float64 area. */
  end: 8 + 384,
} as const;

/** Most workers a launch supports (the control buffer's per-rank areas hold 64). */
export const MAX_WORKERS = 64;
/** Most logged scalars averaged per step (Float64 slots per rank). */
export const MAX_LOGS = 64;
/** Bytes of the control buffer: the Int32 slots, then MAX_WORKERS × MAX_LOGS Float64 log values. */
export const CONTROL_BYTES = CONTROL.end * 4 + MAX_WORKERS * MAX_LOGS * 8;

/** How long one `Atomics.wait` slice lasts before the abort flag is checked again (ms). */
const SLICE_MS = 50;

const OUT_OF_STEP_FIX =
  'every worker must run the same steps on the same schedule (same seed, dataset size, batch size and epochs; no rank-local stopping)';

/**
 * Waits until all `workers` ranks called it (reusable: each call is a new generation), then checks
 * that they all waited for the same thing (`tag`, e.g. a hash of the phase and step). Throws a
 * {@link TrellisError} if the run was aborted (another worker failed), nobody came for `timeoutMs`,
 * or the ranks were at different points of the run.
 */
export function barrier(control: Int32Array, rank: number, workers: number, timeoutMs: number, what: string, tag: number): void {
  const gen = Atomics.load(control, CONTROL.generation);
  // A rank can be at most one barrier ahead of another, so two parities of tags never collide.
  const tags = CONTROL.tags + (gen % 2) * 64;
  control[tags + rank] = tag;
  if (Atomics.add(control, CONTROL.arrived, 1) === workers - 1) {
    Atomics.store(control, CONTROL.arrived, 0);
    Atomics.add(control, CONTROL.generation, 1);
    Atomics.notify(control, CONTROL.generation);
  } else {
    const start = Date.now();
    while (Atomics.load(control, CONTROL.generation) === gen) {
      throwIfAborted(control, what);
      const gone = Atomics.load(control, CONTROL.departed);
      if (gone !== 0) {
        abort(control);
        throw new TrellisError('DATA_PARALLEL_OUT_OF_STEP', `data-parallel rank ${gone - 1} finished its script while rank ${rank} was at ${what}`, OUT_OF_STEP_FIX);
      }
      if (Date.now() - start > timeoutMs) {
        abort(control);
        throw new TrellisError('DATA_PARALLEL_TIMEOUT', `a data-parallel worker waited ${timeoutMs} ms for the others at ${what}`,
          `${OUT_OF_STEP_FIX}; raise barrierTimeoutMs if a step really takes that long`);
      }
      Atomics.wait(control, CONTROL.generation, gen, SLICE_MS);
    }
  }
  throwIfAborted(control, what);
  for (let r = 0; r < workers; r++) {
    if (control[tags + r] !== tag) {
      abort(control);
      throw new TrellisError('DATA_PARALLEL_OUT_OF_STEP', `data-parallel rank ${rank} reached ${what} while rank ${r} was elsewhere in the run`, OUT_OF_STEP_FIX);
    }
  }
}

/** Raises the abort flag and wakes every waiting worker. */
export function abort(control: Int32Array): void {
  Atomics.store(control, CONTROL.abort, 1);
  Atomics.notify(control, CONTROL.generation);
}

/** Records that `rank` finished its script (a rank still waiting at a barrier then fails). */
export function depart(control: Int32Array, rank: number): void {
  Atomics.compareExchange(control, CONTROL.departed, 0, rank + 1);
  Atomics.notify(control, CONTROL.generation);
}

/** Throws when the run was aborted. */
export function throwIfAborted(control: Int32Array, what: string): void {
  if (Atomics.load(control, CONTROL.abort) !== 0) {
    throw new TrellisError('DATA_PARALLEL_ABORTED', `another data-parallel worker failed while this one was at ${what}`,
      "see the failing worker's error, which runDataParallel rethrows");
  }
}
