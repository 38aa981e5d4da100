import type * as tf from '@tensorflow/tfjs-core';
import type { Batch, Dataset } from './dataset.js';
import { TrellisError } from './errors.js';
import type { ModelAdapter, ModelOutputs } from './model.js';
import type { Rng } from './rng.js';

/**
 * For a plugin whose effect lives in the base loss's targets (its `transformTargets`: label smoothing, a weight on
 * the hard-label cross-entropy), called from its `setup`: throws `TARGETS_IGNORED` when the Trainer adds no base
 * loss (`baseLoss: 'none'`, or a loss-replacing plugin such as privacy's `crl`), where no `transformTargets` hook
 * runs and the plugin would silently change nothing. `effect` says what the plugin does to the targets; `fix`
 * replaces the default advice.
 */
export function checkTargetsUsed(ctx: Pick<TrainerContext, 'baseLossActive'>, plugin: string, effect = "changes the base loss's targets", fix?: string): void {
  if (ctx.baseLossActive) return;
  throw new TrellisError('TARGETS_IGNORED',
    `plugin "${plugin}" ${effect}, but the Trainer adds no base loss (baseLoss 'none', or a loss-replacing plugin such as privacy's crl or relaxLoss), so no transformTargets hook runs and it would change nothing`,
    fix ?? `leave "${plugin}" out, or train with the base cross-entropy and no loss-replacing plugin (beside test-time adaptation, which needs baseLoss 'none', only the first is possible)`, { plugin });
}

/** Which batch field a check needs: its name in messages and its key in {@link TrainerContext.batchDroppedBy}. */
type BatchField = { key: 'labels' | 'groups'; name: string };

/** Where a missing batch field went: the plugin whose replacement batch dropped it, if one did. */
function droppedNote(ctx: Pick<TrainerContext, 'batchDroppedBy'>, plugin: string, field: BatchField): { problem: string; fix?: string; by?: string } {
  const by = ctx.batchDroppedBy?.[field.key];
  if (by === undefined || by === plugin) return { problem: `this step's batch has no ${field.name}` };
  return {
    problem: `plugin "${by}" replaced this step's batch with one without its ${field.name}`,
    fix: `"${by}" drops the ${field.name} from the batch it trains on: train "${plugin}" in a Trainer without "${by}"`,
    by,
  };
}

/**
 * The labels of a training step's batch, for a plugin hook that needs them (`lossTerms`, `onBatchStart`,
 * `onBatchEnd`). Throws `UNLABELED` naming `plugin` when the batch has none, and, when another plugin's replacement
 * batch dropped the labels the step's batch had ({@link TrainerContext.batchDroppedBy}), that plugin: the dataset
 * has labels. `need` says what the plugin uses them for.
 *
 * @example const y = requireBatchLabels(ctx, batch, 'my-plugin', 'its centre loss is per class');
 */
export function requireBatchLabels(ctx: Pick<TrainerContext, 'batchDroppedBy'>, batch: Batch | undefined, plugin: string, need?: string): NonNullable<Batch['y']> {
  if (batch?.y) return batch.y;
  const note = droppedNote(ctx, plugin, { key: 'labels', name: 'labels' });
  throw new TrellisError('UNLABELED', `plugin "${plugin}" needs labelled batches${need ? ` (${need})` : ''}, but ${note.problem}`,
    note.fix ?? 'train on a labelled dataset', { plugin, ...(note.by !== undefined ? { droppedBy: note.by } : {}) });
}

/**
 * The group ids of a training step's batch, for a plugin that needs them (per-group losses and constraints). Throws
 * `GROUP_IDS_MISSING` as {@link requireBatchLabels} throws `UNLABELED`; `fix` replaces the advice for a batch that
 * had none to begin with (e.g. how to give the dataset group ids).
 */
export function requireBatchGroups(ctx: Pick<TrainerContext, 'batchDroppedBy'>, batch: Batch | undefined, plugin: string, fix = 'train on a dataset with one group id per example (Dataset.withGroups)'): NonNullable<Batch['groups']> {
  if (batch?.groups) return batch.groups;
  const note = droppedNote(ctx, plugin, { key: 'groups', name: 'group ids' });
  throw new TrellisError('GROUP_IDS_MISSING', `plugin "${plugin}" needs the group id of every example, but ${note.problem}`,
    note.fix ?? fix, { plugin, ...(note.by !== undefined ? { droppedBy: note.by } : {}) });
}

/** The contract version this core implements. */
export const PLUGIN_API_VERSION = 1 as const;

/** What every hook sees: the run's state at that moment. Plugins may read it freely. */
export interface TrainerContext {
  /** The (possibly wrapped) model being trained. */
  model: ModelAdapter;
  /** The optimizer stepping the model's trainable variables. */
  optimizer: tf.Optimizer;
  /** The run's seed. */
  seed: number;
  /** The run's generator (advances deterministically; plugins may draw from it). */
  rng: Rng;
  /** Current epoch (0-based). */
  epoch: number;
  /** Total epochs planned for this fit. */
  epochs: number;
  /**
   * The Trainer's batch size: with `train`, what plans a run's steps (`epochs × train.numBatches(batchSize)`). The
   * current `batch` may be smaller (an epoch's last batch, a data-parallel rank's shard).
   */
  batchSize: number;
  /** Global optimizer step count (0-based, counted before the step runs). */
  step: number;
  /** Batch index within the epoch. */
  batchIndex: number;
  /** The current batch (during batch hooks). */
  batch?: Batch;
  /**
   * The plugins whose `onBatchStart` replacement batch dropped the labels (`labels`) or group ids (`groups`) the
   * current step's batch had (empty when no replacement dropped any). A replacement may drop them (uda-calibration's
   * MEMO keeps inputs only); {@link requireBatchLabels} and {@link requireBatchGroups} then name that plugin.
   */
  batchDroppedBy?: { labels?: string; groups?: string };
  /** The training dataset. */
  train?: Dataset;
  /** Scalars logged for the current step or epoch (plugins may add numbers). */
  logs: Record<string, number>;
  /**
   * Whether the Trainer adds its base loss (false with `baseLoss: 'none'` or a loss-replacing plugin). Fixed for a
   * Trainer and set before any hook runs, so `setup` can refuse a combination; with it false no `transformTargets`
   * hook runs, so a plugin whose effect lives in its targets should refuse (e.g. `TARGETS_IGNORED`).
   */
  baseLossActive: boolean;
  /** A free-form store plugins can share within a run. */
  store: Map<string, unknown>;
  /** Asks the Trainer to stop after the current batch. */
  stopTraining(reason: string): void;
}

/**
 * A training plugin. Hooks marked "sync, in tape" run inside `tf.tidy` and the gradient tape and
 * must return values, never Promises. The step order is in the package README, "The step" (`@trellis-ml/core`).
 */
export interface TrainerPlugin<S = unknown> {
  /** Unique name within a Trainer. */
  name: string;
  /** Contract version; must be 1. */
  apiVersion: 1;
  /** Coarse ordering bucket: `pre` plugins run before unbucketed ones, `post` after. */
  order?: 'pre' | 'post';
  /** Names of plugins this one must run before. */
  before?: string[];
  /** Names of plugins this one must run after. */
  after?: string[];
  /**
   * The plugin's loss terms replace the base cross-entropy (e.g. RelaxLoss): the Trainer then adds
   * no base loss. At most one plugin per Trainer may set it.
   */
  replacesBaseLoss?: boolean;
  /** Intermediate features the plugin needs in `outputs.features` (model tap names). */
  taps?: string[];
  /** Once, when the plugin joins a Trainer. */
  setup?(ctx: TrainerContext): void | Promise<void>;
  /** Wraps the model (e.g. a new classifier head); runs once at setup, in plugin order. */
  wrapModel?(model: ModelAdapter, ctx: TrainerContext): ModelAdapter;
  /** Extra variables the plugin trains with the model's (e.g. a head it adds); keyed by name. */
  trainableVariables?(): Record<string, tf.Variable>;
  /**
   * Variables the plugin owns that the optimizer does not train but a checkpoint must keep (e.g. the
   * batch-norm running statistics of a model it builds); saved and restored with the model's under
   * `<plugin name>:<key>`, so their keys must differ from {@link TrainerPlugin.trainableVariables}'.
   */
  stateVariables?(): Record<string, tf.Variable>;
  onFitStart?(ctx: TrainerContext): void | Promise<void>;
  onEpochStart?(ctx: TrainerContext): void | Promise<void>;
  /**
   * May return a replacement batch; the Trainer frees the old batch's tensors that the new one does not
   * reuse (`{ ...ctx.batch, x: augmented }` keeps the labels).
   */
  onBatchStart?(ctx: TrainerContext): void | Batch | Promise<void | Batch>;
  /**
   * Sync, in tape: replaces the `[b, classes]` targets of the base loss (e.g. soft labels). Not called when the
   * Trainer adds no base loss (`ctx.baseLossActive` false): a plugin whose effect lives here calls
   * {@link checkTargetsUsed} in `setup`.
   */
  transformTargets?(targets: tf.Tensor, outputs: ModelOutputs, ctx: TrainerContext): tf.Tensor;
  /** Sync, in tape: extra loss terms, added to the base loss. Names are logged. */
  lossTerms?(outputs: ModelOutputs, batch: Batch, ctx: TrainerContext): Record<string, tf.Scalar>;
  /** Sync: rewrites gradients (keys are the model's stable variable names). */
  transformGradients?(grads: tf.NamedTensorMap, ctx: TrainerContext): tf.NamedTensorMap;
  /** Sync: after the optimizer applied the step (re-apply masks, pin values). */
  afterApply?(ctx: TrainerContext): void;
  onBatchEnd?(ctx: TrainerContext): void | Promise<void>;
  onEpochEnd?(ctx: TrainerContext): void | Promise<void>;
  onEvalEnd?(ctx: TrainerContext, metrics: Record<string, number>): void | Promise<void>;
  onFitEnd?(ctx: TrainerContext): void | Promise<void>;
  /** JSON state for checkpoints (NaN, ±Infinity and typed arrays are kept too, as in the study journal). */
  getState?(): S;
  /**
   * Restores {@link TrainerPlugin.getState}'s value, on resume: after `setup` and before `onFitStart`. Not called
   * when the checkpoint holds no state under this plugin's `name` (see the Trainer's `lastRestore`).
   */
  setState?(state: S): void;
  /** Frees tensors and variables the plugin owns. */
  dispose?(): void;
}

/** Hooks that run inside the tape and must be synchronous. */
export const SYNC_HOOKS = ['transformTargets', 'lossTerms', 'transformGradients', 'afterApply', 'wrapModel'] as const;

/**
 * Orders plugins: `pre` bucket, unbucketed, `post` bucket; within that, `before`/`after`
 * constraints (a stable topological sort that keeps the user's order otherwise). Throws on an
 * unknown name, a duplicate name, a wrong apiVersion, an `order` other than `'pre'`/`'post'`, a
 * `before`/`after`/`taps` that is not an array of names, or a cycle.
 */
export function orderPlugins(plugins: readonly TrainerPlugin[]): TrainerPlugin[] {
  const byName = new Map<string, TrainerPlugin>();
  for (const p of plugins) {
    if (!p || typeof p.name !== 'string' || p.name.length === 0) {
      throw new TrellisError('BAD_PLUGIN', 'a plugin has no name', 'give every plugin a unique `name` string');
    }
    if (p.apiVersion !== 1) {
      throw new TrellisError('BAD_PLUGIN', `plugin "${p.name}" declares apiVersion ${String(p.apiVersion)}; this core implements 1`,
        'upgrade the plugin or @trellis-ml/core so their contract versions match');
    }
    if (p.order !== undefined && p.order !== 'pre' && p.order !== 'post') {
      throw new TrellisError('BAD_PLUGIN', `plugin "${p.name}" declares order ${JSON.stringify(p.order)}, which is not a bucket`,
        "use order: 'pre' (runs before the others) or 'post' (after them), or leave it out; name neighbours with before / after");
    }
    for (const side of ['before', 'after', 'taps'] as const) {
      const names: unknown = p[side];
      const what = side === 'taps' ? 'layer' : 'plugin';
      // a bare string would be read letter by letter
      if (names !== undefined && !(Array.isArray(names) && names.every((n) => typeof n === 'string'))) {
        throw new TrellisError('BAD_PLUGIN', `plugin "${p.name}" declares ${side}: ${JSON.stringify(names)}, not a list of ${what} names`,
          `write ${side}: [${typeof names === 'string' ? JSON.stringify(names) : `'other-${what}'`}] (an array, even for one name)`);
      }
    }
    if (byName.has(p.name)) {
      throw new TrellisError('DUPLICATE_PLUGIN', `two plugins are named "${p.name}"`, 'give each plugin instance a unique name');
    }
    byName.set(p.name, p);
  }
  const rank = (p: TrainerPlugin): number => (p.order === 'pre' ? 0 : p.order === 'post' ? 2 : 1);
  const edges = new Map<string, Set<string>>(); // a -> b: a runs before b
  for (const p of plugins) edges.set(p.name, new Set());
  for (const p of plugins) {
    for (const other of p.before ?? []) {
      if (!byName.has(other)) throw unknown(p.name, 'before', other, byName);
      edges.get(p.name)!.add(other);
    }
    for (const other of p.after ?? []) {
      if (!byName.has(other)) throw unknown(p.name, 'after', other, byName);
      edges.get(other)!.add(p.name);
    }
  }
  const indeg = new Map<string, number>();
  for (const p of plugins) indeg.set(p.name, 0);
  for (const [, outs] of edges) for (const b of outs) indeg.set(b, indeg.get(b)! + 1);
  const position = new Map(plugins.map((p, i) => [p.name, i]));
  const key = (p: TrainerPlugin): number => rank(p) * 1e6 + position.get(p.name)!;
  const ready = plugins.filter((p) => indeg.get(p.name) === 0);
  const out: TrainerPlugin[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => key(a) - key(b));
    const p = ready.shift()!;
    out.push(p);
    for (const b of edges.get(p.name)!) {
      indeg.set(b, indeg.get(b)! - 1);
      if (indeg.get(b) === 0) ready.push(byName.get(b)!);
    }
  }
  if (out.length !== plugins.length) {
    const stuck = plugins.filter((p) => !out.includes(p)).map((p) => p.name);
    throw new TrellisError('PLUGIN_CYCLE', `the before/after constraints of ${stuck.join(', ')} form a cycle`,
      'remove one of the before/after entries so an order exists', { plugins: stuck });
  }
  return out;
}

function unknown(name: string, field: string, other: string, byName: Map<string, TrainerPlugin>): TrellisError {
  return new TrellisError('UNKNOWN_PLUGIN', `plugin "${name}" lists "${other}" in \`${field}\`, but no plugin of that name is in this Trainer`,
    `add the "${other}" plugin or remove it from \`${field}\` (present: ${[...byName.keys()].join(', ') || 'none'})`);
}

/**
 * The error a Trainer throws when a plugin's hook throws: a {@link TrellisError} from the plugin passes
 * as it is (it already says what to do); any other error becomes `PLUGIN_FAILED`, naming the plugin,
 * the hook, the epoch and the step, with the original error as its `cause` (its stack is printed below).
 */
export function pluginFailure(error: unknown, plugin: string, hook: string, ctx: Pick<TrainerContext, 'epoch' | 'step'>): Error {
  if (error instanceof TrellisError) return error;
  const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new TrellisError('PLUGIN_FAILED', `plugin "${plugin}" failed in ${hook} (epoch ${ctx.epoch}, step ${ctx.step}): ${what}`,
    'the plugin\'s own error and stack follow as the cause; fix the plugin, or train without it to confirm it is the one', { plugin, hook, epoch: ctx.epoch, step: ctx.step }, { cause: error });
}

/** Calls a plugin's hook that runs in the tape: refuses a Promise (`ASYNC_TAPE_HOOK`) and names the plugin in any error ({@link pluginFailure}). */
export function runSyncHook<T>(plugin: string, hook: string, ctx: Pick<TrainerContext, 'epoch' | 'step'>, call: () => T): T {
  let value: T;
  try {
    value = call();
  } catch (e) {
    throw pluginFailure(e, plugin, hook, ctx);
  }
  return assertNotPromise(value, plugin, hook);
}

/** Calls (and awaits) a plugin's hook outside the tape, naming the plugin in any error ({@link pluginFailure}). */
export async function runHook<T>(plugin: string, hook: string, ctx: Pick<TrainerContext, 'epoch' | 'step'>, call: () => T | Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw pluginFailure(e, plugin, hook, ctx);
  }
}

/** Throws when a sync hook returned a Promise. */
export function assertNotPromise<T>(value: T, plugin: string, hook: string): T {
  if (value && typeof (value as { then?: unknown }).then === 'function') {
    throw new TrellisError('ASYNC_TAPE_HOOK', `plugin "${plugin}" returned a Promise from ${hook}, which runs inside tf.tidy and the gradient tape`,
      `make ${hook} synchronous; do async work in setup/onBatchStart/onEpochStart instead`, { plugin, hook });
  }
  return value;
}
