import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchBatchReads } from './hostReads.js';
import { check, Dataset, decodeJournalValue, encodeJournalValue, requireBackend, Rng, SYNC_HOOKS, Trainer, TrellisError, mlp, useBackend, type ModelAdapter, type TrainerPlugin } from '@trellis-ml/core';

/** What a conformance run builds the plugin against. */
export interface ConformanceFixture {
  model: ModelAdapter;
  data: Dataset;
}

/** Options of {@link checkPluginConformance} / {@link describePluginConformance}. */
export interface ConformanceOptions {
  /** Builds the model (default: a seeded MLP 8-16-3 with layers `fc1`, `logits`). */
  model?: (seed: number) => ModelAdapter;
  /** Builds the training data (default: a seeded, separable 3-class set of 96 examples in 8 dimensions, two groups). */
  data?: () => Dataset;
  /** Steps for the flat-tensor-count check (default 6). */
  steps?: number;
  /** Batch size (default 16). */
  batchSize?: number;
  /** Base loss for the Trainer (default cross-entropy; `'none'` for unsupervised plugins). */
  baseLoss?: 'crossEntropy' | 'none';
  /** Builds the optimizer (default Adam 0.01), e.g. for plugins that need SGD or momentum. */
  optimizer?: () => tf.Optimizer;
  /** Plugins the plugin under test needs beside it (built fresh per run). */
  companions?: (fixture: ConformanceFixture) => TrainerPlugin[];
  /**
   * Why the plugin reads the batch back to the host in every step, for a plugin that must (e.g. per-class counts
   * kept on the host): with it `no-batch-reads` passes and quotes the reason; without it, reads fail that check.
   */
  allowBatchReads?: string;
}

/** The default conformance data: 96 examples, 8 features, 3 classes, 2 groups. */
export function conformanceData(seed = 1): Dataset {
  const rng = new Rng(seed);
  const n = 96;
  const x = new Float32Array(n * 8);
  const labels = new Int32Array(n);
  const groups = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    groups[i] = i % 2;
    for (let j = 0; j < 8; j++) x[i * 8 + j] = rng.normal(j % 3 === c ? 1.5 : 0, 0.5);
  }
  return Dataset.fromArrays({ x, shape: [8], labels, numClasses: 3, groups });
}

/** The default conformance model. */
export function conformanceModel(seed: number): ModelAdapter {
  return mlp({ inputShape: [8], hidden: [16], numClasses: 3, seed });
}

/** One named check's outcome. */
export interface ConformanceResult {
  check: string;
  ok: boolean;
  message: string;
}

/** Every key of core's `TrainerPlugin` (the compile-time check below fails when core adds one). */
const PLUGIN_KEYS = [
  'name', 'apiVersion', 'order', 'before', 'after', 'replacesBaseLoss', 'taps', 'setup', 'wrapModel', 'trainableVariables', 'stateVariables',
  'onFitStart', 'onEpochStart', 'onBatchStart', 'transformTargets', 'lossTerms', 'transformGradients', 'afterApply', 'onBatchEnd', 'onEpochEnd',
  'onEvalEnd', 'onFitEnd', 'getState', 'setState', 'dispose',
] as const satisfies ReadonlyArray<keyof TrainerPlugin>;
const pluginKeysComplete: Exclude<keyof TrainerPlugin, (typeof PLUGIN_KEYS)[number]> extends never ? true : never = true;
void pluginKeysComplete;

/** Edit distance (insertions, deletions, substitutions) between two short strings. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The plugin's own keys that look like a misspelt plugin key (the same letters in another case, or at most
 * two edits from one, for keys of 5 letters or more): the Trainer never calls such a hook, so the plugin
 * would silently do less than it says. Other extra keys (a plugin's own controls) are fine.
 */
export function misspeltPluginKeys(plugin: object): Array<{ key: string; meant: string }> {
  const known = new Set<string>(PLUGIN_KEYS);
  const out: Array<{ key: string; meant: string }> = [];
  // own keys and a class's methods (a class plugin's hooks live on its prototype)
  const keys = new Set<string>(Object.keys(plugin));
  for (let proto = Object.getPrototypeOf(plugin); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const k of Object.getOwnPropertyNames(proto)) if (k !== 'constructor') keys.add(k);
  }
  for (const key of keys) {
    if (known.has(key) || key.length < 5) continue;
    // the nearest key, a case-only difference first
    const ranked = PLUGIN_KEYS.map((k) => ({ k, d: k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(k, key) })).sort((a, b) => a.d - b.d);
    if (ranked[0]!.d <= 2) out.push({ key, meant: ranked[0]!.k });
  }
  return out;
}

/** Where two plugin states first differ: see {@link stateDifference}. */
export interface StateDifference {
  /** Path of the first differing value from the state's root, e.g. `state.stats.mean[2]` or `state.byClass.get("3")`. */
  path: string;
  /** The value there in the first state, described (e.g. `NaN`, `Float32Array(3)`, `an object with keys 0, 1, 2`). */
  before: string;
  /** The value there in the second state, described the same way. */
  after: string;
}

/** How a {@link StateDifference} describes one value. */
function describeValue(v: unknown): string {
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null || typeof v !== 'object') return typeof v === 'function' ? 'a function' : String(v);
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as ArrayLike<unknown>).length ?? v.byteLength})`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v instanceof Map) return `a Map of ${v.size}`;
  if (v instanceof Set) return `a Set of ${v.size}`;
  if (v instanceof Date) return `a Date (${Number.isNaN(v.getTime()) ? 'invalid' : v.toISOString()})`;
  const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined);
  return keys.length ? `an object with keys ${keys.slice(0, 6).join(', ')}${keys.length > 6 ? ', …' : ''}` : 'an empty object';
}

/** The kind of value a state comparison tells apart (a difference in kind is reported before any content). */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  if (Array.isArray(v)) return 'array';
  if (v instanceof Map) return 'Map';
  if (v instanceof Set) return 'Set';
  if (v instanceof Date) return 'Date';
  return 'object';
}

/** A path step naming an object key: `.key`, or `["a key"]` when it is not an identifier. */
function keyStep(k: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
}

/**
 * The first place where two plugin states differ, or `null` when they are equal: compared structurally, not
 * as JSON text (which writes NaN and ±Infinity as `null` and a typed array as an object of its elements, so
 * a state mangled that way used to compare equal to its JSON copy). Numbers are equal when `===` or both NaN
 * (so NaN equals only NaN, and 0 equals -0); typed arrays by their type and elements; arrays by length and
 * elements; Maps by their keys and each key's value, Sets by their members, Dates by their time; other
 * objects by their own enumerable keys (a key whose value is `undefined` counts as absent, as in JSON) and
 * each key's value. `path` starts at `root`.
 *
 * ```ts
 * stateDifference({ mean: [1, NaN] }, { mean: [1, null] });
 * // { path: 'state.mean[1]', before: 'NaN', after: 'null' }
 * ```
 */
export function stateDifference(before: unknown, after: unknown, root = 'state'): StateDifference | null {
  const d = firstDifference(before, after, root);
  return d && { path: d.path, before: d.before, after: d.after };
}

/** {@link stateDifference}, also giving the first state's value at the difference (`raw`). */
function firstDifference(before: unknown, after: unknown, root: string): (StateDifference & { raw: unknown }) | null {
  const seen = new Map<object, Set<object>>();
  const diff = (a: unknown, b: unknown, path: string): (StateDifference & { raw: unknown }) | null => {
    const here = () => ({ path, before: describeValue(a), after: describeValue(b), raw: a });
    if (typeof a === 'number' && typeof b === 'number') return a === b || (Number.isNaN(a) && Number.isNaN(b)) ? null : here();
    if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') {
      // functions: equal when both are (JSON drops them, so a state cannot carry one through a checkpoint anyway)
      return a === b || (typeof a === 'function' && typeof b === 'function') ? null : here();
    }
    if (kindOf(a) !== kindOf(b)) return here();
    // a pair already being compared further up (a cycle): equal unless some other step differs
    const pairs = seen.get(a) ?? new Set<object>();
    if (pairs.has(b)) return null;
    seen.set(a, pairs.add(b));
    if (ArrayBuffer.isView(a)) {
      const [x, y] = [a as unknown as ArrayLike<unknown>, b as unknown as ArrayLike<unknown>];
      if (x.length === undefined || y.length === undefined) {
        // a DataView: its bytes
        const [p, q] = [new Uint8Array(a.buffer, a.byteOffset, a.byteLength), new Uint8Array((b as DataView).buffer, (b as DataView).byteOffset, (b as DataView).byteLength)];
        return p.length === q.length && p.every((v, i) => v === q[i]) ? null : here();
      }
      if (x.length !== y.length) return here();
      for (let i = 0; i < x.length; i++) {
        const d = diff(x[i], y[i], `${path}[${i}]`);
        if (d) return d;
      }
      return null;
    }
    if (Array.isArray(a)) {
      const y = b as unknown[];
      if (a.length !== y.length) return here();
      for (let i = 0; i < a.length; i++) {
        const d = diff(a[i], y[i], `${path}[${i}]`);
        if (d) return d;
      }
      return null;
    }
    if (a instanceof Map) {
      const y = b as Map<unknown, unknown>;
      for (const [k, v] of a) {
        const step = `${path}.get(${typeof k === 'string' ? JSON.stringify(k) : describeValue(k)})`;
        if (!y.has(k)) return { path: step, before: describeValue(v), after: 'no such key', raw: v };
        const d = diff(v, y.get(k), step);
        if (d) return d;
      }
      for (const [k, v] of y) if (!a.has(k)) return { path: `${path}.get(${typeof k === 'string' ? JSON.stringify(k) : describeValue(k)})`, before: 'no such key', after: describeValue(v), raw: undefined };
      return null;
    }
    if (a instanceof Set) {
      const y = b as Set<unknown>;
      for (const v of a) if (!y.has(v)) return { path, before: `${describeValue(a)} holding ${describeValue(v)}`, after: `${describeValue(y)} without it`, raw: a };
      for (const v of y) if (!a.has(v)) return { path, before: `${describeValue(a)} without ${describeValue(v)}`, after: `${describeValue(y)} holding it`, raw: a };
      return null;
    }
    if (a instanceof Date) return Object.is((a as Date).getTime(), (b as Date).getTime()) ? null : here();
    const [x, y] = [a as Record<string, unknown>, b as Record<string, unknown>];
    for (const k of Object.keys(x)) {
      if (x[k] === undefined) continue;
      if (!Object.prototype.hasOwnProperty.call(y, k) || y[k] === undefined) return { path: `${path}${keyStep(k)}`, before: describeValue(x[k]), after: 'no such key', raw: x[k] };
      const d = diff(x[k], y[k], `${path}${keyStep(k)}`);
      if (d) return d;
    }
    for (const k of Object.keys(y)) if (y[k] !== undefined && !Object.prototype.hasOwnProperty.call(x, k)) return { path: `${path}${keyStep(k)}`, before: 'no such key', after: describeValue(y[k]), raw: undefined };
    return null;
  };
  return diff(before, after, root);
}

/**
 * Whether a value cannot pass through a checkpoint unchanged (what the hint of a state-round-trip failure names):
 * the checkpoint's encoding (core's `encodeJournalValue`) keeps NaN, ±Infinity and typed arrays, not Maps, Sets or Dates.
 */
function checkpointMangles(v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v instanceof Map || v instanceof Set || v instanceof Date || (ArrayBuffer.isView(v) && !('length' in v)));
}

function snapshot(model: ModelAdapter): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(model.allVariables())) out[k] = Array.from(v.dataSync());
  return out;
}

/** The name of the suite's loss recorder, which every training run of the suite adds. */
const RECORDER_NAME = 'conformance-recorder';

/** Records every step's total loss (added last, so the plugin under test sees the normal order). */
function lossRecorder(losses: number[]): TrainerPlugin {
  return { name: RECORDER_NAME, apiVersion: 1, onBatchEnd: (ctx) => void losses.push(ctx.logs.loss ?? NaN) };
}

/**
 * Checks the suite's own arguments (a mistake there is the caller's, so it throws rather than failing a check).
 * @throws TrellisError `BAD_OPTION`
 */
function checkOptions(factory: unknown, options: ConformanceOptions): void {
  check(typeof factory === 'function', 'BAD_OPTION', `the plugin factory is ${typeof factory}, not a function`,
    'pass a function that builds a fresh plugin, e.g. () => myPlugin({ strength: 0.1 })');
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', `conformance options are ${String(options)}`, 'pass an options object, or leave it out');
  for (const k of ['model', 'data', 'optimizer', 'companions'] as const) {
    check(options[k] === undefined || typeof options[k] === 'function', 'BAD_OPTION', `conformance option \`${k}\` is ${typeof options[k]}, not a function`,
      `pass a function that builds a fresh one per run, e.g. ${k}: ${k === 'model' ? '(seed) => myModel(seed)' : k === 'companions' ? '(fixture) => [otherPlugin()]' : `() => …`}`);
  }
  for (const k of ['steps', 'batchSize'] as const) {
    const v = options[k];
    check(v === undefined || (Number.isInteger(v) && v >= 1), 'BAD_OPTION', `conformance option \`${k}\` ${typeof v === 'string' ? `"${v}"` : String(v)} is not an integer ≥ 1`,
      `pass a whole number, e.g. ${k}: ${k === 'steps' ? 6 : 16} (the default)`);
  }
  check(options.allowBatchReads === undefined || (typeof options.allowBatchReads === 'string' && options.allowBatchReads.trim().length > 0), 'BAD_OPTION',
    `conformance option \`allowBatchReads\` is ${JSON.stringify(options.allowBatchReads)}, not a reason`,
    "pass the reason the plugin reads the batch on the host in every step, e.g. allowBatchReads: 'keeps per-class counts on the host', or leave it out");
  check(options.baseLoss === undefined || options.baseLoss === 'crossEntropy' || options.baseLoss === 'none', 'BAD_OPTION',
    `conformance option \`baseLoss\` "${String(options.baseLoss)}" is not a base loss`, "pass 'crossEntropy' (the default) or 'none' (unsupervised plugins)");
}

/**
 * Makes sure TensorFlow.js has a backend: the one already picked is kept (`useBackend`, `tf.setBackend`, or an
 * imported backend package), and with none the suite picks core's `'cpu'` (every check builds models and
 * tensors; without a backend each failed with `NO_BACKEND`).
 */
async function ensureBackend(): Promise<void> {
  try {
    requireBackend('the plugin conformance suite');
  } catch (e) {
    if (!(e instanceof TrellisError && e.code === 'NO_BACKEND')) throw e;
    await useBackend('cpu');
  }
}

/** Builds the fixture model, checking the `model` option returned one. */
function buildModel(options: ConformanceOptions, seed: number): ModelAdapter {
  const model = (options.model ?? conformanceModel)(seed);
  check(typeof model?.apply === 'function' && typeof model.trainableVariables === 'function', 'BAD_OPTION',
    `the \`model\` option returned ${model === null || typeof model !== 'object' ? String(model) : 'an object without apply() / trainableVariables()'} for seed ${seed}`,
    'return a ModelAdapter from model(seed), e.g. mlp({ inputShape: [8], hidden: [16], numClasses: 3, seed })');
  return model;
}

/** How {@link trainRun} fits: by default one epoch of the fixture data stopped after `steps` steps. */
interface TrainRunShape {
  epochs?: number;
  /** Checkpoint after every epoch into this directory. */
  checkpointDir?: string;
  /** Resume from the checkpoint in `checkpointDir`. */
  resume?: boolean;
  /** Trains on the fixture data's first `limit` examples (and validates on them, when they are labeled). */
  limit?: number;
  /** Plugins added after the recorder (e.g. a tensor counter). */
  extra?: TrainerPlugin[];
}

/** Builds a fresh fixture, plugin and Trainer and fits (so fit and epoch hooks run too): see {@link TrainRunShape}. */
async function trainRun(factory: (f: ConformanceFixture) => TrainerPlugin, options: ConformanceOptions, seed: number, steps: number | undefined, shape: TrainRunShape = {}) {
  const full = (options.data ?? (() => conformanceData()))();
  const data = shape.limit !== undefined ? full.take(Math.min(shape.limit, full.size)) : full;
  const model = buildModel(options, seed);
  const fixture = { model, data };
  const plugin = factory(fixture);
  const companions = options.companions?.(fixture) ?? [];
  check(Array.isArray(companions), 'BAD_OPTION', `the \`companions\` option returned ${typeof companions}, not an array of plugins`, 'return an array, e.g. companions: () => [sequenceLossPlugin(…)]');
  const losses: number[] = [];
  const trainer = new Trainer({
    model, seed, batchSize: options.batchSize ?? 16, baseLoss: options.baseLoss, optimizer: options.optimizer?.() ?? tf.train.adam(0.01),
    plugins: [...companions, plugin, lossRecorder(losses), ...(shape.extra ?? [])],
    ...(shape.checkpointDir !== undefined ? { checkpointDir: shape.checkpointDir } : {}),
  });
  const validation = shape.limit !== undefined && data.labels !== null ? { validation: data } : {};
  await trainer.fit(data, { epochs: shape.epochs ?? 1, ...(steps !== undefined ? { maxSteps: steps } : {}), ...validation, ...(shape.resume ? { resume: true } : {}) });
  return { trainer, plugin, companions, losses };
}

/** Epochs of the epoch-leak run: counts at the starts of the 2nd and 3rd are compared (the 1st may build lazy state). */
const LEAK_EPOCHS = 3;

/**
 * The hooks a step calls outside `tf.tidy` and the gradient tape (in the order it calls them): the tensors such a call
 * leaves behind outlive the step unless the plugin frees them, so the change of `tf.memory().numTensors` across
 * one call is what the call leaked. The tape hooks (`transformTargets`, `lossTerms`, `transformGradients`) run
 * inside a tidy, where the count also holds the tensors the tidy frees afterwards, so they are not measured.
 */
const MEASURED_HOOKS = ['onBatchStart', 'afterApply', 'onBatchEnd'] as const;

/** The tensors a hook call left behind, per step, for each measured hook of each plugin (see {@link meterHooks}). */
interface HookMeter {
  /** The step the next calls belong to (0-based). */
  step: number;
  /** Per `hook of "plugin"`: the tensors its calls left behind in each step. */
  left: Map<string, number[]>;
  /** Hooks that could not be wrapped (a frozen plugin), as `hook of "plugin"`. */
  unmeasured: string[];
  /** Puts the plugins' own hooks back. */
  restore(): void;
}

/**
 * Wraps the {@link MEASURED_HOOKS} of `plugins` (objects the suite built, so it may) to count the tensors each call
 * leaves behind. A call inside a `tf.tidy` scope is not counted (the tidy frees what it made afterwards). For
 * `onBatchStart` the tensors of the batch it returns in place of the step's are not counted as left behind: the
 * Trainer frees the replaced batch's tensors right after the hook.
 */
function meterHooks(plugins: TrainerPlugin[]): HookMeter {
  const meter: HookMeter = { step: 0, left: new Map(), unmeasured: [], restore: () => {} };
  const undo: Array<() => void> = [];
  for (const plugin of plugins) {
    for (const hook of MEASURED_HOOKS) {
      const original = plugin[hook] as ((...args: unknown[]) => unknown) | undefined;
      if (typeof original !== 'function') continue;
      const key = `${hook} of ${JSON.stringify(plugin.name)}`;
      const own = Object.getOwnPropertyDescriptor(plugin, hook);
      const add = (n: number) => {
        const perStep = meter.left.get(key) ?? [];
        perStep[meter.step] = (perStep[meter.step] ?? 0) + n;
        meter.left.set(key, perStep);
      };
      const wrapper = function (this: unknown, ...args: unknown[]): unknown {
        if (tf.engine().state.scopeStack.length > 0) return original.apply(this, args);
        const ctx = args[0] as { batch?: { x?: unknown; y?: unknown; groups?: unknown } } | undefined;
        const given = new Set<unknown>(hook === 'onBatchStart' ? [ctx?.batch?.x, ctx?.batch?.y, ctx?.batch?.groups] : []);
        const before = tf.memory().numTensors;
        const settle = (value: unknown): void => {
          let left = tf.memory().numTensors - before;
          if (hook === 'onBatchStart' && value !== null && typeof value === 'object') {
            const b = value as { x?: unknown; y?: unknown; groups?: unknown };
            // the replacement batch's new tensors take the place of the ones the Trainer frees next
            left -= new Set([b.x, b.y, b.groups].filter((t) => t instanceof tf.Tensor && !t.isDisposed && !given.has(t))).size;
          }
          add(left);
        };
        const out = original.apply(this, args);
        if (out !== null && typeof out === 'object' && typeof (out as { then?: unknown }).then === 'function') {
          return (out as Promise<unknown>).then((v) => {
            settle(v);
            return v;
          });
        }
        settle(out);
        return out;
      };
      try {
        Object.defineProperty(plugin, hook, { value: wrapper, writable: true, configurable: true, enumerable: own?.enumerable ?? false });
        undo.push(() => {
          if (own) Object.defineProperty(plugin, hook, own);
          else delete (plugin as unknown as Record<string, unknown>)[hook];
        });
      } catch {
        meter.unmeasured.push(key);
      }
    }
  }
  meter.restore = () => {
    for (const u of undo.reverse()) {
      try {
        u();
      } catch {
        // a plugin that let the hook be replaced but not put back keeps the wrapper (it calls the original)
      }
    }
  };
  return meter;
}

/** The fix every step-leak message ends with. */
const STEP_LEAK_FIX = 'a step hook creates tensors it never frees: do its tensor work in tf.tidy (which frees all but the tensors the callback returns) or dispose each tensor once used; '
  + 'a tensor the plugin keeps from one step to the next must dispose the one it replaces (old.dispose() before keeping the new one)';

/**
 * The no-tensor-leak failure for counts that grew: where they grew (the measured hooks whose calls left tensors
 * behind in the compared steps) and the fix.
 */
function stepLeakMessage(steps: number, counts: number[], meter: HookMeter): string {
  // the compared counts are those after the 2nd step on, so the growth happens in the 3rd step on
  const compared = counts.map((_, i) => i).filter((i) => i >= 2);
  const perHook = [...meter.left].map(([key, perStep]) => ({ key, left: compared.map((i) => perStep[i] ?? 0) }));
  const growing = perHook.filter((h) => h.left.reduce((a, b) => a + b, 0) > 0);
  const grown = counts[counts.length - 1]! - counts[1]!;
  const explained = growing.reduce((a, h) => a + h.left.reduce((x, y) => x + y, 0), 0);
  const rate = (left: number[]) => (left.every((n) => n === left[0]) ? `+${left[0]} a step` : `+${left.reduce((a, b) => a + b, 0)} over steps 3–${steps}`);
  const tape = 'a tape hook (transformTargets, lossTerms, transformGradients: a tf.keep there outlives the step)';
  const hooks = `measured: ${MEASURED_HOOKS.join(', ')}: the hooks a step calls outside tf.tidy`;
  const unmeasured = meter.unmeasured.length ? `; not measured, as the plugin could not be wrapped (frozen): ${meter.unmeasured.join(', ')}` : '';
  let where: string;
  if (growing.length === 0) {
    where = meter.unmeasured.length
      ? `none of the measured hooks grew the count (${hooks}${unmeasured}), so the tensors are left by a hook not measured or ${tape}`
      : `none of the measured hooks grew the count (${hooks}), so the tensors are likely left by ${tape}`;
  } else {
    where = `the count grew in ${growing.map((h) => `${h.key} (${rate(h.left)})`).join(', ')} (${hooks}${unmeasured})`;
    if (explained < grown) where += `; the other ${grown - explained} over steps 3–${steps} outside them, in ${meter.unmeasured.length ? 'a hook not measured or ' : ''}${tape}`;
  }
  return `tensor counts over ${steps} steps: ${counts.join(', ')} — ${where}. Fix: ${STEP_LEAK_FIX}`;
}

/**
 * The no-batch-reads message: how many of the measured steps read their batch (labels, inputs or group ids) back to
 * the host, and either the fix or the reason the plugin gave for it.
 */
function batchReadsMessage(stepsRead: number, readsOf: string[], steps: number, allowed: string | undefined): string {
  if (stepsRead === 0) return `no host read of the batch in ${steps} steps`;
  const what = `${stepsRead} of ${steps} steps read their batch back to the host (dataSync/data calls: ${readsOf.join(', ')})`;
  if (allowed !== undefined) return `${what}: allowed, "${allowed}"`;
  return `${what} — each read stalls the step until the device catches up. Fix: keep the work on tensors (e.g. tf.oneHot(batch.y, k) or tf.gather instead of reading the labels), `
    + 'read what the plugin needs once, in setup or onFitStart, from ctx.train, or, when a host read every step is what the plugin is for, say why with the allowBatchReads option';
}

/**
 * Runs the conformance checks on a plugin factory and returns one result per check (no test
 * framework needed). The factory is called once per run and must build a fresh plugin (`contract` calls it twice
 * and fails when both calls return the same object). Runs on the current TensorFlow.js backend; with none picked
 * yet it picks core's `'cpu'`. A failed check's `message` says what to fix: a leak names the step hooks whose calls
 * grew the tensor count, and a nondeterministic run the first step whose losses differ.
 */
export async function checkPluginConformance(
  factory: (fixture: ConformanceFixture) => TrainerPlugin,
  options: ConformanceOptions = {},
): Promise<ConformanceResult[]> {
  checkOptions(factory, options);
  await ensureBackend();
  const results: ConformanceResult[] = [];
  const record = (check: string, ok: boolean, message: string) => results.push({ check, ok, message });
  const steps = options.steps ?? 6;
  // whether the factory returned one plugin object twice (contract fails; deterministic and resume-matches point to it)
  let shared = false;
  const sharedNote = 'the factory returns one shared plugin (see contract), so each run starts from the plugin the run before it trained and disposed: build a new plugin each call';

  // 1. shape of the contract
  {
    const data = (options.data ?? (() => conformanceData()))();
    const model = buildModel(options, 1);
    let p: TrainerPlugin;
    try {
      p = factory({ model, data });
    } catch (e) {
      model.dispose();
      record('contract', false, `the plugin factory threw: ${(e as Error)?.message ?? String(e)} (it must build a fresh plugin from the fixture)`);
      return results;
    }
    if (p === null || typeof p !== 'object' || typeof (p as { then?: unknown }).then === 'function') {
      model.dispose();
      const got = p instanceof Promise || typeof (p as { then?: unknown } | null)?.then === 'function' ? 'a Promise' : String(p);
      record('contract', false, `the plugin factory returned ${got}, not a plugin object — return the plugin itself, built synchronously (e.g. () => myPlugin(options))`);
      return results;
    }
    // a second plugin from the same fixture: a factory returning one shared object makes every later run start from
    // the plugin the run before it trained and disposed (deterministic and resume-matches then fail without saying why)
    let notFresh: string | null = null;
    try {
      const q = factory({ model, data });
      if (q === p) {
        shared = true;
        notFresh = 'the factory returned the same plugin object on two calls — it must build a new plugin each call (e.g. () => myPlugin(options), not () => plugin): '
          + 'each run disposes its plugin, and a shared one carries its state from one run into the next';
      } else if (q === null || typeof q !== 'object' || typeof (q as { then?: unknown }).then === 'function') {
        notFresh = `the plugin factory returned ${typeof (q as { then?: unknown } | null)?.then === 'function' ? 'a Promise' : String(q)} on its second call, not a plugin object — it must build a new plugin each call`;
      } else {
        try {
          q.dispose?.();
        } catch {
          // a throwing dispose is reported by dispose-frees
        }
      }
    } catch (e) {
      notFresh = `the plugin factory threw on its second call: ${(e as Error)?.message ?? String(e)} (it must build a new plugin each call)`;
    }
    record('contract', typeof p.name === 'string' && p.name.length > 0 && p.apiVersion === 1 && notFresh === null,
      `name=${JSON.stringify(p.name)} apiVersion=${String(p.apiVersion)} (needs a non-empty name and apiVersion 1)${notFresh === null ? '' : `; ${notFresh}`}`);
    const asyncHooks = SYNC_HOOKS.filter((h) => typeof p[h] === 'function' && (p[h] as Function).constructor.name === 'AsyncFunction');
    const misspelt = misspeltPluginKeys(p);
    record('hook-names', misspelt.length === 0, misspelt.length
      ? `${misspelt.map((m) => `"${m.key}" (did you mean ${m.meant}?)`).join(', ')}: the Trainer only calls the hooks of the plugin contract — rename them, or give the plugin's own controls names that are not a hook's`
      : 'no key looks like a misspelt hook');
    record('sync-tape-hooks', asyncHooks.length === 0, asyncHooks.length ? `async tape hooks: ${asyncHooks.join(', ')} (they run inside tf.tidy and must be synchronous)` : 'tape hooks are synchronous');
    try {
      p.dispose?.();
    } catch {
      // a throwing dispose is reported by dispose-frees (the Trainer disposes the plugin there too)
    }
    model.dispose();
  }

  // 2. trains, flat tensor count, deterministic
  const before = tf.memory().numTensors;
  let run1: Awaited<ReturnType<typeof trainRun>>;
  try {
    run1 = await trainRun(factory, options, 7, steps);
  } catch (e) {
    const message = (e as Error)?.message ?? String(e);
    // the Trainer lists its plugins in some errors (NAN_LOSS): the suite's own recorder is among them
    const own = message.includes(RECORDER_NAME) ? ` ("${RECORDER_NAME}" is the suite's own plugin, which only records each step's loss)` : '';
    record('trains', false, `training with the plugin threw: ${message}${own}`);
    return results;
  }
  record('trains', run1.losses.length > 0 && run1.losses.every(Number.isFinite), `losses: ${run1.losses.map((l) => l.toFixed(4)).join(', ')}`);
  const counts: number[] = [];
  const data = (options.data ?? (() => conformanceData()))();
  // whether the steps leaked (what dispose-frees and no-epoch-leak then point back to), and how many tensors a step
  let stepLeak: { perStep: number | null } | null = null;
  // the suite built these plugins, so it may wrap their step hooks to see which one leaves tensors behind
  const meter = meterHooks([...run1.companions, run1.plugin]);
  // and counts the host reads of each step's batch (labels, inputs, group ids): the same steps, so no extra run
  // one watch per batch field (the field a watch's own plugin would record is irrelevant: each is fed by watch())
  const reads = { labels: watchBatchReads('y'), inputs: watchBatchReads('x'), 'group ids': watchBatchReads() };
  const totalReads = () => Object.values(reads).reduce((n, w) => n + w.reads(), 0);
  let batchesRead = 0;
  try {
    for (let i = 0; i < steps; i++) {
      const batch = data.batchAt(Int32Array.from({ length: Math.min(options.batchSize ?? 16, data.size) }, (_, k) => k));
      if (batch.y) reads.labels.watch(batch.y);
      reads.inputs.watch(batch.x);
      if (batch.groups) reads['group ids'].watch(batch.groups);
      meter.step = i;
      const readsBefore = totalReads();
      await run1.trainer.trainStep(batch);
      if (totalReads() > readsBefore) batchesRead++;
      counts.push(tf.memory().numTensors);
    }
    const flat = counts.slice(1).every((c) => c === counts[1]);
    // the first step is not compared, so fewer than 3 steps would pass without comparing two counts
    if (steps < 3) record('no-tensor-leak', false, `steps: ${steps} leaves no two steady-state tensor counts to compare (the first step after fit is skipped) — pass steps ≥ 3 (default 6)`);
    else if (flat) record('no-tensor-leak', true, `tensor counts over ${steps} steps: ${counts.join(', ')}`);
    else {
      const growth = counts.slice(2).map((c, i) => c - counts[i + 1]!);
      stepLeak = { perStep: growth.every((g) => g === growth[0]) ? growth[0]! : null };
      record('no-tensor-leak', false, stepLeakMessage(steps, counts, meter));
    }
  } catch (e) {
    record('no-tensor-leak', false, `a training step after fit threw: ${(e as Error)?.message ?? String(e)}`);
  } finally {
    meter.restore();
    // each watch patched dataSync over the one before it: put them back in reverse
    for (const w of Object.values(reads).reverse()) w.restore();
  }
  const readsOf = Object.entries(reads).filter(([, w]) => w.reads() > 0).map(([part, w]) => `${part} ${w.reads()}`);
  record('no-batch-reads', batchesRead === 0 || options.allowBatchReads !== undefined, batchReadsMessage(batchesRead, readsOf, steps, options.allowBatchReads));

  // 3. state round trip
  if (run1.plugin.getState) {
    let ok = true;
    let msg = 'getState → checkpoint encoding → setState → getState is identical';
    let text: string | undefined;
    let state: unknown;
    try {
      state = run1.plugin.getState();
      // what the Trainer's checkpoint writes: JSON, plus NaN, ±Infinity and typed arrays (core's journal encoding)
      text = state === undefined ? undefined : encodeJournalValue(state);
      if (text === undefined) {
        ok = false;
        msg = 'getState returned undefined — return the plugin\'s state as a JSON-serialisable object (or leave getState out for a stateless plugin)';
      }
    } catch (e) {
      ok = false;
      msg = `getState threw or returned a state JSON cannot hold: ${(e as Error)?.message ?? String(e)} — return plain data (numbers, strings, arrays, objects)`;
    }
    if (ok && !run1.plugin.setState) {
      ok = false;
      msg = 'the plugin has getState but no setState — add setState to restore the state getState returns';
    }
    if (ok && text !== undefined) {
      const fresh = factory({ model: run1.trainer.model, data });
      try {
        // what a checkpoint does: the state goes through the checkpoint's encoding to a fresh plugin, whose state must
        // then equal the original (compared structurally, not as text)
        fresh.setState?.(decodeJournalValue(text) as never);
        const d = firstDifference(state, fresh.getState?.(), 'state');
        if (d) {
          ok = false;
          msg = `state changed in the round trip (getState → checkpoint encoding → setState on a fresh plugin → getState) at ${d.path}: ${d.before} before, ${d.after} after — `
            + (checkpointMangles(d.raw)
              ? 'a checkpoint stores the state as JSON (keeping NaN, ±Infinity and typed arrays), which writes Maps, Sets and Dates as plain objects or strings: keep such values in a JSON form in getState (e.g. [...map] for a Map, an ISO string for a Date) and rebuild them in setState'
              : 'setState must restore exactly what getState returned, so that getState on the restored plugin returns it again');
        }
      } catch (e) {
        ok = false;
        msg = `setState threw: ${(e as Error).message}`;
      }
      fresh.dispose?.();
    }
    record('state-round-trip', ok, msg);
  } else {
    record('state-round-trip', true, 'stateless plugin (no getState)');
  }
  const weights1 = snapshot(run1.trainer.model);

  // 4. dispose frees everything: the Trainer (plugins, optimizer) and the model it trained — the
  // (possibly wrapped) `trainer.model`, which the caller owns; a wrapper disposes what it wraps.
  try {
    run1.trainer.dispose();
    run1.trainer.model.dispose();
    const after = tf.memory().numTensors;
    record('dispose-frees', after <= before, `tensors before ${before}, after dispose ${after}${after <= before ? '' : ` — ${after - before} tensors outlive the trainer and the model: `
      + 'dispose every tensor and variable the plugin owns in its dispose() (the Trainer calls it), and free what a hook makes once it is used'
      + (stepLeak ? '; no-tensor-leak failed too: the tensors leaked in every step likely explain these (fix that first)' : '')}`);
  } catch (e) {
    record('dispose-frees', false, `disposing the trainer (and so the plugin) or its model threw: ${(e as Error)?.message ?? String(e)}`);
  }

  // 5. same seed → same numbers
  let run2: Awaited<ReturnType<typeof trainRun>> | undefined;
  try {
    run2 = await trainRun(factory, options, 7, steps);
    for (let i = 0; i < steps; i++) {
      const batch = data.batchAt(Int32Array.from({ length: Math.min(options.batchSize ?? 16, data.size) }, (_, k) => k));
      await run2.trainer.trainStep(batch);
    }
    const again = snapshot(run2.trainer.model);
    const difference = runDifference(run1.losses, run2.losses, weights1, again);
    record('deterministic', difference === null, difference === null ? 'two runs with one seed gave identical losses and weights'
      : shared ? `${difference} — ${sharedNote}`
        : `${difference} — two runs with one seed must give identical losses and weights. The usual causes: randomness not drawn from the Trainer's seed, or state kept outside the plugin. `
        + 'Fix: draw random numbers from ctx.rng (the Trainer\'s generator, seeded from its seed and saved in its checkpoints) or from an Rng seeded from it '
        + '(Rng.derive(ctx.seed, \'my-plugin\'), kept in getState), never Math.random; keep every value that changes during a run in the plugin the factory builds, '
        + 'not in a module-level variable or an object the factory shares between plugins');
  } catch (e) {
    record('deterministic', false, `the second run threw: ${(e as Error)?.message ?? String(e)} (the factory must return a fresh plugin, and the optimizer option a fresh optimizer, per run)`);
  }
  disposeRun(run2);

  // 6. flat across epochs: the epoch and evaluation hooks do not leak either (the step check above runs
  // no epoch hooks). Two batches an epoch, validated on the same examples so onEvalEnd runs.
  const epochCounts: number[] = [];
  const counter: TrainerPlugin = { name: 'conformance-epoch-counter', apiVersion: 1, onEpochStart: () => void epochCounts.push(tf.memory().numTensors) };
  let run3: Awaited<ReturnType<typeof trainRun>> | undefined;
  try {
    run3 = await trainRun(factory, options, 7, undefined, { epochs: LEAK_EPOCHS, limit: 2 * (options.batchSize ?? 16), extra: [counter] });
    const flat = epochCounts.length === LEAK_EPOCHS && epochCounts[1] === epochCounts[2];
    const epochHooks = 'free what onEpochStart/onEpochEnd/onEvalEnd create, or keep it in the plugin\'s own state';
    let why = '';
    if (!flat && stepLeak && epochCounts.length === LEAK_EPOCHS) {
      // the steps of the 2nd epoch leak too: blame the epoch hooks only for what the step leak does not account for
      const stepsPerEpoch = run3.losses.length / LEAK_EPOCHS;
      const byEpochHooks = stepLeak.perStep !== null && Number.isInteger(stepsPerEpoch) ? epochCounts[2]! - epochCounts[1]! - stepLeak.perStep * stepsPerEpoch : 0;
      why = ` (the 2nd and 3rd must be equal: no-tensor-leak found tensors leaked in every step, which the 2nd epoch's steps leave too — see no-tensor-leak and fix that first${byEpochHooks > 0 ? `; the count grew by ${byEpochHooks} more than those steps leave: ${epochHooks}` : ''})`;
    } else if (!flat) {
      why = ` (the 2nd and 3rd must be equal: ${epochHooks})`;
    }
    record('no-epoch-leak', flat, `tensor counts at the start of epochs 1–${LEAK_EPOCHS}: ${epochCounts.join(', ')}${why}`);
  } catch (e) {
    record('no-epoch-leak', false, `a ${LEAK_EPOCHS}-epoch run with validation threw: ${(e as Error)?.message ?? String(e)}`);
  }
  disposeRun(run3);

  // 7. a run checkpointed after its 1st epoch and resumed ends where the whole run ends: the plugin's
  // getState/setState holds everything its later steps depend on (state-round-trip only sees that
  // getState survives JSON, not that it is complete)
  const [resumeOk, resumeMessage] = await resumeMatches(factory, options);
  record('resume-matches', resumeOk, resumeOk || !shared ? resumeMessage : `${sharedNote}; ${resumeMessage}`);
  return results;
}

/**
 * Where two runs of the deterministic check first differ, described, or `null` when their losses and weights are
 * identical (compared as JSON, so NaN equals NaN).
 */
function runDifference(losses1: number[], losses2: number[], weights1: Record<string, number[]>, weights2: Record<string, number[]>): string | null {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const n = Math.min(losses1.length, losses2.length);
  for (let i = 0; i < n; i++) {
    if (!same(losses1[i], losses2[i])) return `the losses first differ at step ${i + 1} of ${losses1.length}: ${losses1[i]} in the first run, ${losses2[i]} in the second`;
  }
  if (losses1.length !== losses2.length) return `the first run logged ${losses1.length} losses, the second ${losses2.length} (the first ${n} are identical)`;
  if (!same(Object.keys(weights1), Object.keys(weights2))) return `the losses are identical but the models' variables differ: ${Object.keys(weights1).join(', ')} in the first run, ${Object.keys(weights2).join(', ')} in the second`;
  for (const name of new Set([...Object.keys(weights1), ...Object.keys(weights2)])) {
    const [a, b] = [weights1[name], weights2[name]];
    if (!a || !b) return `the losses are identical but the variable ${name} is in only one run's model`;
    const j = a.findIndex((v, k) => !same(v, b[k]));
    if (j >= 0 || a.length !== b.length) {
      const k = j >= 0 ? j : Math.min(a.length, b.length);
      return `the losses are identical but the weights differ, first at ${name}[${k}]: ${a[k]} in the first run, ${b[k]} in the second`;
    }
  }
  return null;
}

/** Epochs of the resume check; it checkpoints after the first and resumes the rest. */
const RESUME_EPOCHS = 2;

/** Disposes a conformance run's trainer and model, ignoring what dispose-frees already reports. */
function disposeRun(run: Awaited<ReturnType<typeof trainRun>> | undefined): void {
  try {
    run?.trainer.dispose();
    run?.trainer.model.dispose();
  } catch {
    // already reported by dispose-frees
  }
}

/**
 * The resume check: {@link RESUME_EPOCHS} epochs of two batches whole, against the same run stopped once
 * its first epoch is checkpointed (to a temporary directory) and a fresh plugin, model and Trainer resuming from it. Same losses after
 * the checkpoint and the same weights means the checkpoint (weights, optimizer, RNG, plugin state) is complete.
 */
async function resumeMatches(factory: (f: ConformanceFixture) => TrainerPlugin, options: ConformanceOptions): Promise<[boolean, string]> {
  const shape = { epochs: RESUME_EPOCHS, limit: 2 * (options.batchSize ?? 16) };
  const dir = await mkdtemp(join(tmpdir(), 'trellis-conformance-resume-'));
  let whole: Awaited<ReturnType<typeof trainRun>> | undefined;
  let first: Awaited<ReturnType<typeof trainRun>> | undefined;
  let resumed: Awaited<ReturnType<typeof trainRun>> | undefined;
  try {
    whole = await trainRun(factory, options, 7, undefined, shape);
    const wholeWeights = snapshot(whole.trainer.model);
    // planned as the whole run (a schedule may read the epoch count), stopped once epoch 1 is checkpointed
    const stopAfterFirst: TrainerPlugin = { name: 'conformance-interrupt', apiVersion: 1, onEpochEnd: (ctx) => void (ctx.epoch === 0 && ctx.stopTraining('conformance: interrupted after epoch 1')) };
    first = await trainRun(factory, options, 7, undefined, { ...shape, checkpointDir: dir, extra: [stopAfterFirst] });
    const stepsBefore = first.losses.length;
    disposeRun(first);
    first = undefined;
    resumed = await trainRun(factory, options, 7, undefined, { ...shape, checkpointDir: dir, resume: true });
    const expected = whole.losses.slice(stepsBefore);
    if (JSON.stringify(resumed.losses) !== JSON.stringify(expected)) {
      return [false, `after resuming from the checkpoint of epoch 1 the losses were ${resumed.losses.join(', ')}, the whole run's ${expected.join(', ')} — put everything the plugin's later steps depend on (counters, running statistics, RNG state) in getState and restore it in setState`];
    }
    const same = JSON.stringify(snapshot(resumed.trainer.model)) === JSON.stringify(wholeWeights);
    return same
      ? [true, `${RESUME_EPOCHS} epochs whole and resumed after epoch 1 gave identical losses and weights`]
      : [false, 'the resumed run logged the whole run\'s losses but ended with other weights — restore in setState (or stateVariables) every value the plugin changes the weights with'];
  } catch (e) {
    return [false, `checkpointing after epoch 1 and resuming threw: ${(e as Error)?.message ?? String(e)} (getState must return JSON that setState on a fresh plugin accepts)`];
  } finally {
    disposeRun(whole);
    disposeRun(first);
    disposeRun(resumed);
    await rm(dir, { recursive: true, force: true });
  }
}
