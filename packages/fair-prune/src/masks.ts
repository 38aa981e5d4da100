import * as tf from '@tensorflow/tfjs-core';
import { TrellisError, check, checkChoice, type ModelAdapter } from '@trellis-ml/core';

/**
 * Magnitude pruning as pure functions over host arrays, plus the few helpers that read and write a
 * {@link ModelAdapter}'s variables. Masks are `Uint8Array`s (1 = kept, 0 = pruned).
 */

/** Which weights are pruned and how many. */
export interface PruneOptions {
  /** Fraction of prunable weights set to zero, in [0, 1). */
  sparsity: number;
  /** `global` (default): one threshold over all prunable weights; `layerwise`: the same fraction in each tensor. */
  scope?: 'global' | 'layerwise';
  /** Which variables are prunable (default: names ending in `kernel` with rank ≥ 2 — Dense and Conv kernels, never biases or normalisation). */
  include?: (variableName: string, shape: readonly number[]) => boolean;
  /** Leave the first and last prunable tensor dense (default false). */
  keepFirstLast?: boolean;
  /**
   * Guard: each pruned tensor keeps at least `max(minKeepFraction·size, minKeepCount)` weights (defaults 0 and 10,
   * i.e. 10 weights). A 1% floor (`minKeepFraction: 0.01`, the spec's other reading of "1% of the tensor, or 10
   * weights") makes global pruning at s = 0.99 identical to layer-wise 1% — the floors then use the whole budget —
   * and leaves a 100×10 logits layer 10 weights, fewer than one per class: the collapse the guard is meant to stop.
   */
  minKeepFraction?: number;
  /** See {@link PruneOptions.minKeepFraction}. */
  minKeepCount?: number;
}

/** A weight tensor as host values. */
export interface HostWeight {
  values: Float32Array;
  shape: number[];
}

/** A fixed set of pruning masks. */
export interface MaskSet {
  /** Mask per pruned variable (1 = kept, 0 = pruned), flat in the variable's layout. */
  masks: Record<string, Uint8Array>;
  /** Shape of each masked variable. */
  shapes: Record<string, number[]>;
  /** Achieved sparsity over the masked variables (pruned / total). */
  sparsity: number;
  /** Achieved sparsity of each masked variable. */
  perLayer: Record<string, number>;
  /** Number of pruned weights. */
  pruned: number;
  /** Number of prunable weights. */
  prunable: number;
}

/** Checks a sparsity value: a finite number in [0, 1). */
export function checkSparsity(sparsity: number): void {
  if (!(typeof sparsity === 'number' && Number.isFinite(sparsity) && sparsity >= 0 && sparsity < 1)) {
    throw new TrellisError('SPARSITY_OUT_OF_RANGE', `sparsity ${String(sparsity)} is outside [0, 1)`,
      'pass the fraction of weights to remove, e.g. 0.9 for 90% sparsity (1 would remove every weight)', { sparsity });
  }
}

/**
 * Checks the options of {@link magnitudeMasks}: the sparsity, `scope` (`global` or `layerwise`) and the
 * minimum-keep guard (`minKeepFraction` in [0, 1], `minKeepCount` a non-negative integer).
 */
export function checkPruneOptions(options: PruneOptions): void {
  check(options !== null && typeof options === 'object', 'BAD_OPTION', `pruning needs options, got ${String(options)}`, 'pass at least the sparsity, e.g. { sparsity: 0.9 }');
  checkSparsity(options.sparsity);
  const scope = options.scope ?? 'global';
  checkChoice(scope, ['global', 'layerwise'] as const, 'pruning scope', { fix: "pass scope 'global' (one threshold over all prunable weights, the default) or 'layerwise'" });
  const f = options.minKeepFraction ?? 0;
  check(f >= 0 && f <= 1, 'BAD_OPTION', `minKeepFraction ${f} is outside [0, 1]`, 'pass the fraction of each tensor to keep at least, e.g. 0.01 (default 0)');
  check(options.include === undefined || typeof options.include === 'function', 'BAD_OPTION', () => `include is ${typeof options.include}, not a function`,
    'pass include as a function (variableName, shape) => boolean, e.g. (n) => n.endsWith(\'kernel\'), or leave it unset for Dense/Conv kernels');
  const c = options.minKeepCount ?? 10;
  check(Number.isInteger(c) && c >= 0, 'BAD_OPTION', `minKeepCount ${c} is not a non-negative integer`, 'pass the number of weights each tensor keeps at least, e.g. 10 (the default)');
}

/** The default prunable-variable rule: Dense/Conv kernels (name ends in `kernel`, rank ≥ 2). */
export function defaultPrunable(name: string, shape: readonly number[]): boolean {
  return /kernel$/.test(name) && shape.length >= 2;
}

/** The names of the prunable variables among `weights`, in their given order. */
export function prunableNames(weights: Record<string, { shape: readonly number[] }>, options: Pick<PruneOptions, 'include' | 'keepFirstLast'> = {}): string[] {
  const include = options.include ?? defaultPrunable;
  let names = Object.keys(weights).filter((n) => include(n, weights[n]!.shape));
  if (options.keepFirstLast && names.length > 2) names = names.slice(1, -1);
  else if (options.keepFirstLast) names = [];
  return names;
}

function minKeep(size: number, options: PruneOptions): number {
  const f = options.minKeepFraction ?? 0;
  const c = options.minKeepCount ?? 10;
  return Math.min(size, Math.max(Math.ceil(f * size), c));
}

/**
 * Magnitude masks over host weights. Global scope prunes exactly `⌈s·N⌉` of the N prunable weights,
 * the smallest `|w|` first, ties broken by position (variable order, then flat index), skipping a
 * tensor once it reaches its minimum-keep guard. Layer-wise prunes `⌈s·n_l⌉` per tensor (capped by
 * the guard). `previous` (optional) forces already pruned weights to stay pruned (gradual schedules).
 * @throws TrellisError `NON_FINITE_WEIGHTS` for a NaN or infinite prunable weight, `NOTHING_TO_PRUNE`, `SPARSITY_OUT_OF_RANGE`,
 *   `MASK_MISMATCH` for a previous mask of another size, `BAD_OPTION` when `previous` prunes more than this sparsity does.
 */
export function magnitudeMasks(weights: Record<string, HostWeight>, options: PruneOptions, previous?: MaskSet): MaskSet {
  checkPruneOptions(options);
  const names = prunableNames(weights, options);
  if (names.length === 0) {
    throw new TrellisError('NOTHING_TO_PRUNE', 'no variable matches the prunable rule', 'check `include` / `keepFirstLast`: by default only variables whose name ends in "kernel" are pruned',
      { variables: Object.keys(weights) });
  }
  for (const n of names) {
    const w = weights[n]!.values;
    for (let i = 0; i < w.length; i++) {
      if (!Number.isFinite(w[i]!)) {
        throw new TrellisError('NON_FINITE_WEIGHTS', `weight ${i} of "${n}" is ${w[i]}, so magnitude pruning has no order`,
          'prune a model whose weights are finite: a NaN or infinite weight usually means training diverged (lower the learning rate, or restore a checkpoint)');
      }
    }
  }
  if (previous) {
    for (const n of names) {
      const p = previous.masks?.[n];
      check(!p || p.length === weights[n]!.values.length, 'MASK_MISMATCH', () => `the previous mask of "${n}" has ${p!.length} entries but the variable has ${weights[n]!.values.length}`,
        'pass the masks computed earlier from this model (gradual pruning), or none');
    }
  }
  const masks: Record<string, Uint8Array> = {};
  const shapes: Record<string, number[]> = {};
  const key = (name: string, i: number, v: number): number => (previous?.masks[name] && previous.masks[name]![i] === 0 ? -1 : Math.abs(v));
  for (const n of names) {
    masks[n] = new Uint8Array(weights[n]!.values.length).fill(1);
    shapes[n] = [...weights[n]!.shape];
  }
  const previouslyPruned = (n: string): number => {
    const p = previous?.masks?.[n];
    let z = 0;
    if (p) for (let i = 0; i < p.length; i++) if (p[i] === 0) z++;
    return z;
  };
  const checkNested = (already: number, k: number, where: string): void => {
    check(already <= k, 'BAD_OPTION', () => `the previous masks prune ${already} weights${where}, more than the ${k} that sparsity ${options.sparsity} prunes, so some would be revived`,
      'nested (gradual) masks need a non-decreasing sparsity: pass a sparsity at least that of the previous masks, or no previous masks');
  };
  if ((options.scope ?? 'global') === 'layerwise') {
    for (const n of names) {
      const w = weights[n]!.values;
      const k = Math.min(Math.ceil(options.sparsity * w.length - 1e-9), w.length - minKeep(w.length, options));
      if (previous) checkNested(previouslyPruned(n), k, ` of "${n}"`);
      const order = sortedByMagnitude(w.length, (i) => key(n, i, w[i]!));
      for (let j = 0; j < k; j++) masks[n]![order[j]!] = 0;
    }
  } else {
    const sizes = names.map((n) => weights[n]!.values.length);
    const total = sizes.reduce((a, b) => a + b, 0);
    const offsets: number[] = [];
    sizes.reduce((o, s) => (offsets.push(o), o + s), 0);
    const k = Math.ceil(options.sparsity * total - 1e-9);
    const layerOf = new Int32Array(total);
    const flat = new Float64Array(total);
    names.forEach((n, l) => {
      const w = weights[n]!.values;
      for (let i = 0; i < w.length; i++) {
        layerOf[offsets[l]! + i] = l;
        flat[offsets[l]! + i] = key(n, i, w[i]!);
      }
    });
    const order = sortedByMagnitude(total, (i) => flat[i]!);
    const budget = names.map((n, l) => sizes[l]! - minKeep(sizes[l]!, options));
    if (previous) {
      checkNested(names.reduce((s, n) => s + previouslyPruned(n), 0), k, '');
      names.forEach((n, l) => checkNested(previouslyPruned(n), Math.max(0, budget[l]!), ` of "${n}" (its minimum-keep guard)`));
    }
    let done = 0;
    for (let j = 0; j < total && done < k; j++) {
      const i = order[j]!;
      const l = layerOf[i]!;
      if (budget[l]! <= 0) continue;
      budget[l]!--;
      masks[names[l]!]![i - offsets[l]!] = 0;
      done++;
    }
  }
  return summarizeMasks(masks, shapes);
}

/** Indices 0..n-1 sorted by `keyOf` ascending, ties by index (deterministic). */
function sortedByMagnitude(n: number, keyOf: (i: number) => number): Uint32Array {
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = keyOf(i);
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((a, b) => keys[a]! - keys[b]! || a - b);
  return idx;
}

/** Builds a {@link MaskSet} (sparsity, per-layer sparsity, counts) from raw masks. */
export function summarizeMasks(masks: Record<string, Uint8Array>, shapes: Record<string, number[]>): MaskSet {
  let pruned = 0;
  let prunable = 0;
  const perLayer: Record<string, number> = {};
  for (const [n, m] of Object.entries(masks)) {
    let z = 0;
    for (let i = 0; i < m.length; i++) if (m[i] === 0) z++;
    perLayer[n] = m.length ? z / m.length : 0;
    pruned += z;
    prunable += m.length;
  }
  return { masks, shapes, sparsity: prunable ? pruned / prunable : 0, perLayer, pruned, prunable };
}

/** Reads a model's trainable variables into host arrays (in the model's variable order). */
export function readWeights(model: ModelAdapter): Record<string, HostWeight> {
  const out: Record<string, HostWeight> = {};
  for (const [n, v] of Object.entries(model.trainableVariables())) out[n] = { values: Float32Array.from(v.dataSync() as Float32Array), shape: [...v.shape] };
  return out;
}

/**
 * Magnitude masks from a model's current trainable weights (see {@link magnitudeMasks}).
 * @throws TrellisError `NOTHING_TO_PRUNE` naming the prunable variables the model has but does not train, when a
 *   Trainer plugin's `wrapModel` view (e.g. a BatchNorm-only one) left all of them out.
 */
export function computeMasks(model: ModelAdapter, options: PruneOptions, previous?: MaskSet): MaskSet {
  const weights = readWeights(model);
  if (prunableNames(weights, options).length === 0) {
    const untrained = prunableNames(model.allVariables(), options).filter((n) => !(n in weights));
    if (untrained.length > 0) {
      throw new TrellisError('NOTHING_TO_PRUNE',
        `the model's prunable variables (${untrained.slice(0, 4).join(', ')}${untrained.length > 4 ? ', …' : ''}) are not among the model's trainable variables (${Object.keys(weights).join(', ') || 'none'}), and pruning masks only what trains`,
        "a plugin's wrapModel view restricts what trains (e.g. uda-calibration's TENT, ETA and pseudo-labelling train BatchNorm only): prune in a Trainer without that plugin (e.g. before adapting), or name trainable variables with `include`",
        { variables: Object.keys(weights), untrained });
    }
  }
  return magnitudeMasks(weights, options, previous);
}

/** Checks that every mask matches a variable of `model` in name and size. */
export function checkMasksFit(model: ModelAdapter, masks: MaskSet): Record<string, tf.Variable> {
  const vars = model.trainableVariables();
  for (const [n, m] of Object.entries(masks.masks)) {
    const v = vars[n];
    check(v, 'MASK_MISMATCH', `the mask names variable "${n}", which the model does not have`, `compute masks from this model (its variables: ${Object.keys(vars).join(', ')})`);
    check(v.size === m.length, 'MASK_MISMATCH', `the mask of "${n}" has ${m.length} entries but the variable has ${v.size}`, 'compute masks from a model of the same architecture');
  }
  return vars;
}

/** Sets pruned weights to zero in place: `θ ← m ⊙ θ` for every masked variable. */
export function applyMasks(model: ModelAdapter, masks: MaskSet): void {
  const vars = checkMasksFit(model, masks);
  for (const [n, m] of Object.entries(masks.masks)) {
    const v = vars[n]!;
    tf.tidy(() => v.assign(tf.mul(v, tf.tensor(Float32Array.from(m), v.shape, 'float32'))));
  }
}

/** Measured parameter counts of a model (exact zeros counted by reading the weights). */
export interface ParameterCounts {
  /** All trainable parameters. */
  total: number;
  /** Trainable parameters that are non-zero. */
  nonzero: number;
  /** Parameters of the prunable variables. */
  prunable: number;
  /** Non-zero prunable parameters. */
  nonzeroPrunable: number;
  /** Measured sparsity of the prunable variables (zeros / prunable). */
  sparsity: number;
  /** total / nonzero: the compression factor. */
  compression: number;
}

/**
 * Counts a model's parameters and its exact zeros. Prunable variables are the masked ones when
 * `masks` is given, else those of the default rule.
 * @throws TrellisError `MASK_MISMATCH` when `masks` name a variable the model lacks or of another size (it counted as 0 prunable weights).
 */
export function parameterCounts(model: ModelAdapter, masks?: MaskSet): ParameterCounts {
  const vars = masks ? checkMasksFit(model, masks) : model.trainableVariables();
  const prunable = new Set(masks ? Object.keys(masks.masks) : prunableNames(Object.fromEntries(Object.entries(vars).map(([n, v]) => [n, { shape: v.shape }]))));
  let total = 0;
  let nonzero = 0;
  let p = 0;
  let pnz = 0;
  for (const [n, v] of Object.entries(vars)) {
    const values = v.dataSync();
    let nz = 0;
    for (let i = 0; i < values.length; i++) if (values[i] !== 0) nz++;
    total += values.length;
    nonzero += nz;
    if (prunable.has(n)) {
      p += values.length;
      pnz += nz;
    }
  }
  return { total, nonzero, prunable: p, nonzeroPrunable: pnz, sparsity: p ? 1 - pnz / p : 0, compression: nonzero ? total / nonzero : Infinity };
}

/** Options of the gradual (cubic) schedule of Zhu & Gupta 2017. */
export interface GradualSchedule {
  kind: 'gradual';
  /** Epoch of the first pruning step (0-based). */
  startEpoch: number;
  /** Epoch of the last pruning step, where the final sparsity is reached. */
  endEpoch: number;
  /** Prune every this many epochs (default 1). */
  everyEpochs?: number;
  /** Sparsity at `startEpoch` (default 0). */
  initialSparsity?: number;
}

/** A sparsity schedule: prune once, or gradually with the cubic schedule. */
export type SparsitySchedule = { kind: 'one-shot' } | GradualSchedule;

/**
 * The cubic schedule `s_t = s_f + (s_0 − s_f)(1 − (t − t_0)/(t_end − t_0))³`, evaluated at the last
 * pruning epoch ≤ `epoch` (pruning happens every `everyEpochs` from `startEpoch` to `endEpoch`).
 * Returns `null` before `startEpoch` (no pruning yet).
 */
export function cubicSparsity(epoch: number, finalSparsity: number, schedule: GradualSchedule): number | null {
  checkSparsity(finalSparsity);
  const s0 = schedule.initialSparsity ?? 0;
  checkSparsity(s0);
  check(s0 <= finalSparsity, 'BAD_SCHEDULE', `initialSparsity ${s0} is above the final sparsity ${finalSparsity}`,
    'the cubic schedule only increases sparsity (masks are nested: a pruned weight stays pruned): pass initialSparsity ≤ sparsity');
  const every = checkGradualEpochs(schedule);
  checkEpoch(epoch);
  if (epoch < schedule.startEpoch) return null;
  const span = schedule.endEpoch - schedule.startEpoch;
  if (span === 0) return finalSparsity;
  const lastPrune = Math.min(schedule.startEpoch + Math.floor((epoch - schedule.startEpoch) / every) * every, schedule.endEpoch);
  const frac = epoch >= schedule.endEpoch ? 1 : (lastPrune - schedule.startEpoch) / span;
  return finalSparsity + (s0 - finalSparsity) * (1 - frac) ** 3;
}

/** Throws `BAD_SCHEDULE` unless `epoch` is a whole number ≥ 0 (a NaN epoch would give a NaN sparsity). */
function checkEpoch(epoch: number): void {
  check(Number.isInteger(epoch) && epoch >= 0, 'BAD_SCHEDULE', () => `epoch ${String(epoch)} is not a whole number ≥ 0`, 'pass the 0-based epoch index');
}

/** Checks a gradual schedule's epochs (`BAD_SCHEDULE`) and returns its pruning interval. */
function checkGradualEpochs(schedule: GradualSchedule): number {
  const every = schedule.everyEpochs ?? 1;
  check(Number.isInteger(every) && every >= 1, 'BAD_SCHEDULE', `everyEpochs ${every} is not a positive integer`, 'prune every 1 or more epochs');
  for (const key of ['startEpoch', 'endEpoch'] as const) {
    const e = schedule[key];
    check(Number.isInteger(e) && e >= 0, 'BAD_SCHEDULE', () => `${key} ${String(e)} is not a whole number ≥ 0`, 'pass 0-based epoch numbers, e.g. { startEpoch: 0, endEpoch: 5 }');
  }
  check(schedule.endEpoch >= schedule.startEpoch, 'BAD_SCHEDULE', `endEpoch ${schedule.endEpoch} is before startEpoch ${schedule.startEpoch}`, 'pass startEpoch ≤ endEpoch');
  return every;
}

/** Whether the gradual schedule prunes at the start of `epoch`. */
export function isPruningEpoch(epoch: number, schedule: GradualSchedule): boolean {
  const every = checkGradualEpochs(schedule);
  checkEpoch(epoch);
  if (epoch < schedule.startEpoch || epoch > schedule.endEpoch) return false;
  return (epoch - schedule.startEpoch) % every === 0 || epoch === schedule.endEpoch;
}

/** Encodes a mask set as JSON-friendly base64 bitsets (for plugin state and run records). */
export function encodeMasks(masks: MaskSet): { shapes: Record<string, number[]>; bits: Record<string, string> } {
  const bits: Record<string, string> = {};
  for (const [n, m] of Object.entries(masks.masks)) {
    const packed = new Uint8Array(Math.ceil(m.length / 8));
    for (let i = 0; i < m.length; i++) if (m[i]) packed[i >> 3]! |= 1 << (i & 7);
    bits[n] = Buffer.from(packed).toString('base64');
  }
  return { shapes: masks.shapes, bits };
}

/** Decodes {@link encodeMasks}. */
export function decodeMasks(encoded: { shapes: Record<string, number[]>; bits: Record<string, string> }): MaskSet {
  const masks: Record<string, Uint8Array> = {};
  for (const n of Object.keys(encoded.shapes)) {
    check(typeof encoded.bits[n] === 'string', 'BAD_STATE', `the saved masks have no bits for "${n}"`, 'restore state written by the same plugin version (the file may be cut short)');
  }
  for (const [n, b] of Object.entries(encoded.bits)) {
    const shape = encoded.shapes[n];
    check(shape, 'BAD_STATE', `the saved masks have no shape for "${n}"`, 'restore state written by the same plugin version');
    const size = shape.reduce((p, d) => p * d, 1);
    const packed = Buffer.from(b, 'base64');
    // Buffer.from skips characters outside base64, so a damaged string decodes short instead of failing
    check(packed.length === Math.ceil(size / 8) && /^[A-Za-z0-9+/]*={0,2}$/.test(b), 'BAD_STATE',
      `the saved mask of "${n}" holds ${packed.length} bytes of valid base64, not the ${Math.ceil(size / 8)} its shape [${shape.join(', ')}] needs`,
      'restore state written by the same plugin version; the saved file is damaged');
    const m = new Uint8Array(size);
    for (let i = 0; i < size; i++) m[i] = (packed[i >> 3]! >> (i & 7)) & 1;
    masks[n] = m;
  }
  return summarizeMasks(masks, encoded.shapes);
}
