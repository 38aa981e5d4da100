import * as tf from '@tensorflow/tfjs-core';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Batch, Dataset } from './dataset.js';
import { checkBatchSize, disposeBatch, labelsChecked } from './dataset.js';
import { checkClassLabels } from './labels.js';
import { check, TrellisError } from './errors.js';
import { ensureDirectory } from './directories.js';
import { evaluate, type Evaluation } from './evaluate.js';
import { oneHotTargets, softCrossEntropy } from './losses.js';
import { checkInputShape, checkSavedShapes, readVariables, saveVariables, type ModelAdapter, type ModelOutputs } from './model.js';
import { orderPlugins, runHook, runSyncHook, type TrainerContext, type TrainerPlugin } from './plugin.js';
import { learningRateOf } from './plugins/learningRate.js';
import { createProgress } from './progress.js';
import { releaseAbandonedTape } from './tape.js';
import { Rng, type RngState } from './rng.js';
import { decodeJournalValue, encodeJournalValue } from './studyJournal.js';
import { requireBackend } from './backend/useBackend.js';

/** The base loss: softmax cross-entropy on (transformed) targets, none, or your own. */
export type BaseLoss = 'crossEntropy' | 'none' | ((logits: tf.Tensor, targets: tf.Tensor) => tf.Scalar);

/** Options of a {@link Trainer}. */
export interface TrainerOptions {
  model: ModelAdapter;
  /** Optimizer (default Adam, learning rate 1e-3). */
  optimizer?: tf.Optimizer;
  plugins?: TrainerPlugin[];
  /** The run's seed: shuffling, the context RNG and plugins' draws derive from it. */
  seed: number;
  batchSize?: number;
  baseLoss?: BaseLoss;
  /** Directory for the checkpoint written after every epoch (kept on errors). */
  checkpointDir?: string;
  /**
   * Write the checkpoint to `checkpointDir` after every epoch (default true). False only reads it
   * on `resume` (the non-zero ranks of a data-parallel run resume from rank 0's checkpoint).
   */
  saveCheckpoints?: boolean;
  /** Called with each epoch's logs (e.g. a RunRecord's `logMetrics`). */
  onLog?: (logs: EpochLogs) => void | Promise<void>;
  /** Show progress (bar on a TTY, plain lines otherwise). Default false. */
  progress?: boolean;
  /** Label for progress lines. */
  label?: string;
}

/** Options of {@link Trainer.fit}. */
export interface FitOptions {
  epochs: number;
  validation?: Dataset;
  /** Continue from the checkpoint in `checkpointDir` when one exists. */
  resume?: boolean;
  /**
   * Stop once the run's step count (counted over the whole run, a resumed one included) reaches this, a
   * whole number ≥ 1 (for quick runs and tests).
   */
  maxSteps?: number;
}

/**
 * One epoch's logs: each step value (`loss`, `base`, plugin terms, values plugins write into
 * `ctx.logs`) averaged over the steps of the epoch that logged it, plus `val_accuracy` / `val_loss`.
 */
export type EpochLogs = Record<string, number> & { epoch: number };

/** A checkpoint read and checked, not yet applied. */
interface LoadedCheckpoint {
  state: CheckpointState;
  model: Record<string, tf.Tensor>;
  optimizer: Record<string, tf.Tensor>;
}

/** Which checkpoint {@link Trainer.restoreIfPresent} used, its epoch, and the damaged ones it skipped (with why). */
export interface RestoreInfo {
  from: string;
  epoch: number;
  skipped: string[];
  /**
   * Plugin states the checkpoint holds for which this Trainer has no plugin of that name (with `setState`): they
   * were passed over. Empty when the run resumes with the plugins it was started with.
   */
  statesWithoutPlugin: string[];
  /**
   * Plugins of this Trainer (with `setState`) for which the checkpoint holds no state: they start fresh. Either
   * list non-empty means the plugin set changed since the checkpoint, so the run no longer continues the
   * uninterrupted one exactly (a choice when a plugin is added on purpose, e.g. pruning after dense training).
   */
  pluginsWithoutState: string[];
}

interface CheckpointState {
  format: 'trellis-checkpoint-1';
  seed: number;
  epoch: number;
  step: number;
  rng: RngState;
  plugins: Record<string, unknown>;
  history: EpochLogs[];
  optimizerOrder: string[];
  /** The optimizer's class (`getClassName()`, e.g. `Adam`); absent in checkpoints of older versions. */
  optimizer?: string;
}

/**
 * Checks what a plugin's `transformGradients` returned: every key a trainable variable's name, every
 * value a tensor of that variable's shape (`BAD_GRADIENT` naming the plugin otherwise). Entries passed
 * through unchanged are not looked at, so a plugin that edits one gradient costs one check a step. On failure it
 * frees the tensors the plugin made, so the step's own gradients (`before`) are the caller's to free.
 */
function checkGradients(after: tf.NamedTensorMap, before: tf.NamedTensorMap, vars: Array<[string, tf.Variable]>, plugin: string): void {
  if (after === null || typeof after !== 'object') {
    throw new TrellisError('BAD_GRADIENT', `plugin "${plugin}" returned ${String(after)} from transformGradients, not a gradient map`,
      'return the gradient map you were given (changed or not), e.g. end the hook with `return grads`', { plugin });
  }
  let shapes: Map<string, string> | undefined;
  for (const [name, g] of Object.entries(after)) {
    if (before[name] === g) continue; // passed through under its own name: the step's own gradient
    shapes ??= new Map(vars.map(([n, v]) => [n, v.shape.join('x')]));
    const shape = shapes.get(name);
    const problem = shape === undefined ? `a gradient for "${name}", which is not a trainable variable`
      : !(g instanceof tf.Tensor) ? `a gradient for "${name}" that is not a tensor`
        : g.shape.join('x') !== shape ? `a gradient for "${name}" of shape [${g.shape.join(', ')}], but the variable's is [${shape.split('x').join(', ')}]` : null;
    if (problem) {
      const own = new Set(Object.values(before));
      tf.dispose(Object.values(after).filter((t) => t instanceof tf.Tensor && !own.has(t)));
      throw new TrellisError('BAD_GRADIENT', `plugin "${plugin}" returned ${problem}`,
        `return the gradient map you were given, changed in place of its values (keys are the variables' stable names, e.g. ${[...shapes.keys()].slice(0, 3).join(', ')})`, { plugin, variable: name });
    }
  }
}

/** Whether a step's logits (null before the forward pass) and each target transform's output (plugin name, flag, in order) were all finite. */
interface FinitenessFlags<T> {
  logits: T | null;
  targets: Array<[string, T]>;
}

function disposeFlags(flags: FinitenessFlags<tf.Tensor>): void {
  tf.dispose([...(flags.logits ? [flags.logits] : []), ...flags.targets.map(([, t]) => t)]);
}

/**
 * The NAN_LOSS error of a step whose loss is not finite. `finite` says whether the step's logits and each
 * plugin's transformed targets were all finite, so the message can name where the non-finite value came from:
 * a loss term, a target transform (the first one whose output was not finite), or the model itself.
 */
function nanLossError(ctx: TrainerContext, logs: Record<string, number>, finite: FinitenessFlags<boolean>, plugins: string[], checkpointDir?: string): TrellisError {
  const logitsFinite = finite.logits !== false;
  const badTargets = logitsFinite ? finite.targets.find(([, ok]) => !ok)?.[0] : undefined;
  const terms = Object.keys(logs).filter((k) => k !== 'loss' && !Number.isFinite(logs[k]!));
  // with non-finite logits every term that reads them is a consequence, not a cause: blame the model alone
  const suspects = logitsFinite ? [...new Set([...terms.filter((k) => k.includes('/')).map((k) => k.split('/')[0]!), ...(terms.includes('base') && badTargets ? [badTargets] : [])])] : [];
  const described = terms.map((k) => (k.includes('/') ? `plugin "${k.split('/')[0]}" (term ${k})`
    : `the base loss${badTargets ? `, because plugin "${badTargets}"'s transformTargets returned non-finite targets` : ''}`));
  const what = logitsFinite ? described.join(', ') || 'the total'
    : `the model's logits (weights that diverged, or NaN/Inf in the inputs)${described.length ? `, and with them ${described.join(', ')}` : ''}`;
  const fix = suspects.length ? `fix or disable plugin${suspects.length > 1 ? 's' : ''} ${suspects.map((n) => `"${n}"`).join(' and ')}` : 'lower the learning rate, or check the inputs for NaN/Inf';
  return new TrellisError('NAN_LOSS',
    `the loss became ${logs.loss} at epoch ${ctx.epoch}, step ${ctx.step} (batch ${ctx.batchIndex}); non-finite: ${what}; active plugins: ${plugins.join(', ') || 'none'}`,
    `${fix}${checkpointDir ? `; the last checkpoint in ${checkpointDir} is intact (resume with resume: true)` : ''}`,
    { epoch: ctx.epoch, step: ctx.step, terms: logs, plugins, suspects, logitsFinite });
}

/**
 * A step's forward pass. A model error about a tap it cannot return (`TAP_INACTIVE`: e.g. a dynamic-depth block
 * skipped at the current depth; `UNKNOWN_TAP`) is rethrown with the same code, naming the plugin(s) whose `taps`
 * asked for that tap (`owners`: tap → plugin names) and the option to change; `details` gain `tap` and `plugins`,
 * and the model's error is the `cause`. The tap is the model error's `details.tap`, else the first requested tap
 * its message quotes; when neither names one, every plugin that asked for a tap is named. A tap the model names
 * (`details.tap`) that no plugin asked for (a wrapper tapping the model it wraps) leaves the model's error unchanged.
 */
function forwardNamingTapOwners(model: ModelAdapter, x: tf.Tensor, taps: string[], owners: ReadonlyMap<string, readonly string[]>): ModelOutputs {
  try {
    return model.apply(x, { training: true, taps });
  } catch (e) {
    if (!(e instanceof TrellisError) || (e.code !== 'TAP_INACTIVE' && e.code !== 'UNKNOWN_TAP') || owners.size === 0) throw e;
    const declared = e.details.tap;
    // a tap the model names that no plugin asked for (a wrapper such as srcm taps the model itself): not the plugins' doing
    if (typeof declared === 'string' && !owners.has(declared)) throw e;
    const tap = typeof declared === 'string' ? declared : [...owners.keys()].find((t) => e.problem.includes(`"${t}"`));
    const plugins = tap === undefined ? [...new Set([...owners.values()].flat())] : [...owners.get(tap)!];
    const quoted = plugins.map((n) => `"${n}"`);
    const who = `plugin${plugins.length > 1 ? 's' : ''} ${quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')} and ${quoted[quoted.length - 1]}` : quoted[0]}`;
    throw new TrellisError(e.code, `${e.problem}, ${tap === undefined ? 'one of the taps ' : ''}requested by ${who}`,
      `give ${who} a tap the model returns at every step through ${plugins.length > 1 ? 'their' : 'its'} tap option (e.g. featureTap): ${e.fix}`,
      { ...e.details, ...(tap === undefined ? {} : { tap }), plugins }, { cause: e });
  }
}

/**
 * Checks what a plugin's `onBatchStart` returned instead of the batch: a {@link Batch} whose `x` (and `y`,
 * `groups` when present) are tensors (`BAD_PLUGIN` naming the plugin otherwise, after freeing the tensors
 * it returned; a bare tensor used to fail later with a TypeError and stay allocated).
 */
function checkReplacedBatch(value: unknown, plugin: string): asserts value is Batch {
  const b = value as Partial<Batch>;
  const ok = typeof value === 'object' && b.x instanceof tf.Tensor
    && (b.y === undefined || b.y instanceof tf.Tensor) && (b.groups === undefined || b.groups instanceof tf.Tensor);
  if (ok) return;
  if (value instanceof tf.Tensor) value.dispose();
  else if (value !== null && typeof value === 'object') for (const t of [b.x, b.y, b.groups]) if (t instanceof tf.Tensor) t.dispose();
  throw new TrellisError('BAD_PLUGIN', `plugin "${plugin}" returned ${value instanceof tf.Tensor ? 'a tensor' : typeof value === 'object' ? 'an object without tensor x (and y, groups)' : String(value)} from onBatchStart, not a batch`,
    'return nothing to keep the batch, or a batch: e.g. `return { ...ctx.batch, x: augmented }`', { plugin });
}

/**
 * Owns the training step: batch hooks, forward pass, targets, loss terms, gradient transforms,
 * optimizer step, after-apply hooks, end hooks (in reverse), checkpoints (the order is in the package README, "The step").
 */
export class Trainer {
  readonly plugins: TrainerPlugin[];
  readonly optimizer: tf.Optimizer;
  readonly seed: number;
  readonly batchSize: number;
  readonly history: EpochLogs[] = [];
  model: ModelAdapter;
  private readonly options: TrainerOptions;
  private readonly ctx: TrainerContext;
  private isSetup = false;
  private stopReason: string | null = null;
  private taps: string[] = [];
  /** Which plugins asked for each tap (named when the forward pass cannot return one). */
  private readonly tapOwners = new Map<string, string[]>();
  private startEpoch = 0;
  /** The checkpoint the last {@link Trainer.restoreIfPresent} (or `fit` with `resume`) restored, or null. */
  lastRestore: RestoreInfo | null = null;
  /** The plugin that changed the optimizer's learning rate in a hook (a second one is `LR_SCHEDULE_CONFLICT`). */
  private lrSetter: string | null = null;
  /** The plugins that replace the base loss (fixed with the plugins; more than one is `BASE_LOSS_CONFLICT` at the first step). */
  private readonly replacing: TrainerPlugin[];

  constructor(options: TrainerOptions) {
    requireBackend('new Trainer()');
    check(Number.isFinite(options.seed), 'NO_SEED', 'the Trainer needs a numeric seed', 'pass `seed` (every run records it)');
    this.options = options;
    this.model = options.model;
    this.plugins = orderPlugins(options.plugins ?? []);
    this.replacing = this.plugins.filter((p) => p.replacesBaseLoss);
    this.optimizer = options.optimizer ?? tf.train.adam(1e-3);
    this.seed = options.seed;
    this.batchSize = options.batchSize ?? 128;
    checkBatchSize(this.batchSize);
    this.ctx = {
      model: this.model,
      optimizer: this.optimizer,
      seed: this.seed,
      rng: Rng.derive(this.seed, 'trainer'),
      epoch: 0,
      epochs: 0,
      batchSize: this.batchSize,
      step: 0,
      batchIndex: 0,
      logs: {},
      // fixed for the Trainer (its plugins are), so a plugin can rely on it from setup on, not only inside a step
      baseLossActive: (options.baseLoss ?? 'crossEntropy') !== 'none' && this.replacing.length === 0,
      store: new Map(),
      stopTraining: (reason: string) => {
        this.stopReason = reason;
      },
    };
  }

  /** The context hooks see (read-only use outside hooks). */
  get context(): TrainerContext {
    return this.ctx;
  }

  /** Runs plugin `setup` and `wrapModel` once (called by fit; call it yourself to inspect the wrapped model). */
  async setup(): Promise<void> {
    if (this.isSetup) return;
    this.isSetup = true;
    for (const p of this.plugins) {
      if (p.setup) await runHook(p.name, 'setup', this.ctx, () => p.setup!(this.ctx));
      if (p.wrapModel) {
        const wrapped = runSyncHook(p.name, 'wrapModel', this.ctx, () => p.wrapModel!(this.model, this.ctx));
        check(wrapped !== null && typeof wrapped === 'object' && typeof (wrapped as Partial<ModelAdapter>).apply === 'function'
          && typeof (wrapped as Partial<ModelAdapter>).tapNames === 'function', 'BAD_PLUGIN',
        () => `plugin "${p.name}" returned ${wrapped === null || typeof wrapped !== 'object' ? String(wrapped) : 'an object without apply/tapNames'} from wrapModel, not a model adapter`,
        'return a ModelAdapter from wrapModel: the model you were given, or an adapter that wraps it');
        this.model = wrapped;
        this.ctx.model = this.model;
      }
    }
    const known = new Set(this.model.tapNames());
    const taps = new Set<string>();
    for (const p of this.plugins) {
      for (const t of p.taps ?? []) {
        check(known.has(t), 'UNKNOWN_TAP', `plugin "${p.name}" taps "${t}", which the model does not have`,
          `tap one of: ${[...known].join(', ')}`);
        taps.add(t);
        const owners = this.tapOwners.get(t) ?? [];
        if (!owners.includes(p.name)) this.tapOwners.set(t, [...owners, p.name]);
      }
    }
    this.taps = [...taps];
  }

  /**
   * Runs a plugin's hook outside the tape ({@link runHook}) and notes whether it changed the optimizer's learning
   * rate: once one plugin has, another that changes it too is `LR_SCHEDULE_CONFLICT` (two schedules, e.g. a step
   * schedule set at epoch start and a cosine one set before every step, used to run with whichever wrote last).
   */
  private async runLoopHook<T>(p: TrainerPlugin, hook: string, call: () => T | Promise<T>): Promise<T> {
    const before = learningRateOf(this.optimizer);
    const out = await runHook(p.name, hook, this.ctx, call);
    const after = learningRateOf(this.optimizer);
    if (after !== before) {
      if (this.lrSetter !== null && this.lrSetter !== p.name) {
        throw new TrellisError('LR_SCHEDULE_CONFLICT',
          `plugins "${this.lrSetter}" and "${p.name}" both set the optimizer's learning rate ("${p.name}" changed it in ${hook} at epoch ${this.ctx.epoch}, step ${this.ctx.step}), so one would silently overwrite the other's schedule`,
          `keep one plugin that sets the learning rate per Trainer: drop one of them, or turn its schedule off (e.g. dynamic-depth's ofaDepth without \`lr\`, uda-calibration's shotIm with lrSchedule 'constant')`,
          { plugins: [this.lrSetter, p.name], hook, epoch: this.ctx.epoch, step: this.ctx.step });
      }
      this.lrSetter = p.name;
    }
    return out;
  }

  /** The variables the optimizer steps: the model's, then plugins' extras, by stable name. */
  trainableVariables(): Array<[string, tf.Variable]> {
    const out: Array<[string, tf.Variable]> = Object.entries(this.model.trainableVariables());
    for (const p of this.plugins) {
      for (const [k, v] of Object.entries(p.trainableVariables?.() ?? {})) out.push([`${p.name}:${k}`, v]);
    }
    return out;
  }

  /** Trains on `train` for `options.epochs`, returning the per-epoch logs. */
  async fit(train: Dataset, options: FitOptions): Promise<EpochLogs[]> {
    await this.setup();
    check(Number.isInteger(options.epochs) && options.epochs > 0, 'BAD_EPOCHS', `epochs ${options.epochs} is not a positive integer`, 'pass epochs ≥ 1');
    // −1 stopped after the first step, NaN never stopped
    check(options.maxSteps === undefined || (Number.isInteger(options.maxSteps) && options.maxSteps >= 1), 'BAD_OPTION',
      () => `maxSteps ${String(options.maxSteps)} is not a whole number ≥ 1`, 'pass a step cap such as 100, or leave maxSteps out to train every epoch in full');
    check(train.size > 0, 'EMPTY_DATASET', 'the training set is empty', 'pass a dataset with examples');
    check(train.numClasses === this.model.numClasses, 'CLASS_COUNT_MISMATCH',
      `the dataset has ${train.numClasses} classes but the model outputs ${this.model.numClasses}`,
      train.labels === null
        // an unlabeled set's class count is only what it was built with (the loaders default to 1 without labels)
        ? `the dataset is unlabeled, so its class count is the one it was built with: build it with numClasses: ${this.model.numClasses} (e.g. loadIdxDataset(images, null, { numClasses: ${this.model.numClasses} }) or { labelColumn: null, numClasses: ${this.model.numClasses} } for a CSV)`
        : 'build the model with one output per class of the dataset');
    checkInputShape([1, ...train.shape], this.model.inputShape);
    // the validation set too, before the first epoch: it used to be refused after a whole epoch of training (whose checkpoint was not written)
    if (options.validation) {
      const v = options.validation;
      check(v.labels, 'UNLABELED', 'the validation set has no labels', 'pass a labeled validation set (or leave validation out)');
      check(v.numClasses === this.model.numClasses, 'CLASS_COUNT_MISMATCH',
        `the validation set has ${v.numClasses} classes but the model outputs ${this.model.numClasses}`, 'validate on a set with the model\'s classes');
      checkInputShape([1, ...v.shape], this.model.inputShape);
    }
    // before the first epoch, not after it: a checkpoint directory that cannot be written would lose that epoch
    if (this.options.checkpointDir && this.options.saveCheckpoints !== false) {
      await ensureDirectory(this.options.checkpointDir, 'the checkpoint directory', 'pass a checkpointDir you can write');
    }
    if (options.resume && this.options.checkpointDir) await this.restoreIfPresent(this.options.checkpointDir);
    const ctx = this.ctx;
    ctx.train = train;
    ctx.epochs = options.epochs;
    this.stopReason = null;
    for (const p of this.plugins) if (p.onFitStart) await this.runLoopHook(p, 'onFitStart', () => p.onFitStart!(ctx));
    const batches = train.numBatches(this.batchSize);
    for (let epoch = this.startEpoch; epoch < options.epochs && this.stopReason === null; epoch++) {
      ctx.epoch = epoch;
      ctx.logs = {};
      for (const p of this.plugins) if (p.onEpochStart) await this.runLoopHook(p, 'onEpochStart', () => p.onEpochStart!(ctx));
      const progress = createProgress({ label: `${this.options.label ?? 'train'} epoch ${epoch + 1}/${options.epochs}`, total: batches, silent: !this.options.progress });
      // each key's mean over the steps that logged it (a value a plugin logs on some steps is not diluted)
      const sums: Record<string, { total: number; steps: number }> = {};
      let b = 0;
      for (const batch of train.batches(this.batchSize, { rng: Rng.derive(this.seed, 'shuffle', epoch) })) {
        ctx.batchIndex = b++;
        const logs = await this.trainStep(batch);
        for (const [k, v] of Object.entries(logs)) {
          const sum = (sums[k] ??= { total: 0, steps: 0 });
          sum.total += v;
          sum.steps++;
        }
        progress.update(b, `loss ${logs.loss?.toFixed(4)}`);
        if (this.stopReason !== null || (options.maxSteps !== undefined && ctx.step >= options.maxSteps)) {
          this.stopReason ??= 'maxSteps';
          break;
        }
      }
      const epochLogs: EpochLogs = { epoch };
      for (const [k, { total, steps }] of Object.entries(sums)) epochLogs[k] = total / steps;
      if (options.validation) {
        const ev = await this.evaluate(options.validation);
        epochLogs.val_accuracy = ev.accuracy;
        epochLogs.val_loss = ev.loss;
      }
      ctx.logs = epochLogs;
      for (const p of [...this.plugins].reverse()) if (p.onEpochEnd) await this.runLoopHook(p, 'onEpochEnd', () => p.onEpochEnd!(ctx));
      this.history.push({ ...ctx.logs, epoch } as EpochLogs);
      progress.finish(Object.entries(epochLogs).filter(([k]) => k !== 'epoch').map(([k, v]) => `${k}=${v.toFixed(4)}`).join(' '));
      if (this.options.onLog) await this.options.onLog(this.history[this.history.length - 1]!);
      if (this.options.checkpointDir && this.options.saveCheckpoints !== false) await this.saveCheckpoint(this.options.checkpointDir, epoch);
    }
    for (const p of [...this.plugins].reverse()) if (p.onFitEnd) await runHook(p.name, 'onFitEnd', ctx, () => p.onFitEnd!(ctx));
    return this.history;
  }

  /**
   * One optimizer step on `batch` (disposes the batch). Returns the step's scalars: `loss` (the
   * total), `base`, and each plugin term as `plugin/term`.
   */
  async trainStep(batch: Batch): Promise<Record<string, number>> {
    await this.setup();
    const ctx = this.ctx;
    ctx.batch = batch;
    const dropped: NonNullable<TrainerContext['batchDroppedBy']> = {};
    ctx.batchDroppedBy = dropped;
    const replacing = this.replacing;
    try {
      if (replacing.length > 1) {
        throw new TrellisError('BASE_LOSS_CONFLICT', `plugins ${replacing.map((p) => `"${p.name}"`).join(' and ')} each replace the base loss`,
          'use one loss-replacing plugin per Trainer');
      }
      for (const p of this.plugins) {
        if (!p.onBatchStart) continue;
        const replaced: unknown = await this.runLoopHook(p, 'onBatchStart', () => p.onBatchStart!(ctx));
        if (replaced !== undefined && replaced !== null && replaced !== ctx.batch) {
          checkReplacedBatch(replaced, p.name);
          // free the old batch's tensors, except those the new one reuses (`{ ...ctx.batch, x: augmented }` keeps y)
          const kept = new Set([replaced.x, replaced.y, replaced.groups]);
          for (const t of [ctx.batch!.x, ctx.batch!.y, ctx.batch!.groups]) if (t && !kept.has(t)) t.dispose();
          if (ctx.batch!.y && !replaced.y) dropped.labels ??= p.name;
          if (ctx.batch!.groups && !replaced.groups) dropped.groups ??= p.name;
          ctx.batch = replaced;
        }
      }
      // labels a Dataset did not build (a hand-made batch, a plugin's new labels) are read once and checked: tf.oneHot
      // turns a class id outside [0, classes) into a row of zeros, which trains on nothing, silently
      const y = ctx.batch!.y;
      if (y && !labelsChecked(y, this.model.numClasses)) {
        checkClassLabels(y.dataSync(), this.model.numClasses, {
          context: `the batch of step ${ctx.step}`,
          fix: `pass class ids 0..${this.model.numClasses - 1} (the model has ${this.model.numClasses} classes), or build batches with Dataset.batchAt`,
        });
      }
    } catch (e) {
      // The step owns the batch: free it (or the batch a plugin replaced it with) when a hook throws.
      disposeBatch(ctx.batch!);
      ctx.batch = undefined;
      throw e;
    }
    const current = ctx.batch!;
    const vars = this.trainableVariables();
    const friendly = new Map(vars.map(([name, v]) => [v.name, name]));
    const terms: Record<string, tf.Scalar> = {};
    // Whether the logits and each plugin's targets were all finite: read only after a non-finite loss, to name its source.
    const finite: FinitenessFlags<tf.Tensor> = { logits: null, targets: [] };
    const baseLoss = ctx.baseLossActive ? this.options.baseLoss ?? 'crossEntropy' : 'none';
    const model = this.model;
    const taps = this.taps;
    const tapOwners = this.tapOwners;
    let computed: { value: tf.Scalar; grads: tf.NamedTensorMap };
    try {
      computed = tf.tidy(() =>
        this.optimizer.computeGradients(() => {
          const outputs = forwardNamingTapOwners(model, current.x, taps, tapOwners);
          const lastDim = outputs.logits.shape[outputs.logits.shape.length - 1];
          check(lastDim === model.numClasses, 'OUTPUT_SHAPE_MISMATCH', `the model outputs ${lastDim} values per example but declares ${model.numClasses} classes`,
            'make the last layer output one logit per class');
          finite.logits = tf.keep(tf.all(tf.isFinite(outputs.logits)));
          let total: tf.Scalar = tf.scalar(0);
          if (baseLoss !== 'none') {
            if (!current.y) {
              const by = dropped.labels;
              throw new TrellisError('UNLABELED', `the batch has no labels but the base loss is cross-entropy${by !== undefined ? ` (plugin "${by}" replaced this step's batch with one without its labels)` : ''}`,
                by !== undefined ? `"${by}" drops the labels from the batch it trains on: train with the base cross-entropy in a Trainer without "${by}" (or with baseLoss 'none')`
                  : "train unlabeled data with `baseLoss: 'none'` and a plugin that provides loss terms", by !== undefined ? { droppedBy: by } : {});
            }
            let targets: tf.Tensor = oneHotTargets(current.y, model.numClasses);
            // [1, k] logits would broadcast against [b, k] targets and train on a loss of the wrong rows
            check(outputs.logits.rank === 2 && outputs.logits.shape[0] === targets.shape[0], 'OUTPUT_SHAPE_MISMATCH',
              () => `the model returned logits of shape [${outputs.logits.shape.join(', ')}] for a batch of ${targets.shape[0]} labelled examples`,
              'return [batch, classes] logits, one row per example of the batch (and keep x and y of a batch that onBatchStart returns the same length)');
            for (const p of this.plugins) {
              if (!p.transformTargets) continue;
              const next = runSyncHook(p.name, 'transformTargets', ctx, () => p.transformTargets!(targets, outputs, ctx));
              check(next instanceof tf.Tensor && next.shape.join('x') === targets.shape.join('x'), 'BAD_TARGETS',
                () => `plugin "${p.name}" returned targets ${next instanceof tf.Tensor ? `of shape [${next.shape.join(', ')}]` : `that are not a tensor (${typeof next})`}, but the batch's are [${targets.shape.join(', ')}]`,
                'return a [batch, classes] tensor from transformTargets (e.g. soft labels over the model\'s classes)');
              finite.targets.push([p.name, tf.keep(tf.all(tf.isFinite(next)))]);
              targets = next;
            }
            const base = baseLoss === 'crossEntropy' ? softCrossEntropy(outputs.logits, targets) : baseLoss(outputs.logits, targets);
            terms.base = tf.keep(base);
            total = tf.add(total, base);
          }
          for (const p of this.plugins) {
            if (!p.lossTerms) continue;
            const added = runSyncHook(p.name, 'lossTerms', ctx, () => p.lossTerms!(outputs, current, ctx));
            check(added !== null && typeof added === 'object', 'BAD_LOSS_TERM', () => `plugin "${p.name}" returned ${String(added)} from lossTerms, not a map of named terms`,
              'return an object of scalar tensors, e.g. { penalty: tf.mean(…) } (or {} for no term this step)');
            for (const [name, t] of Object.entries(added)) {
              check(t instanceof tf.Tensor, 'BAD_LOSS_TERM', () => `plugin "${p.name}" returned a loss term "${name}" that is not a tensor (${typeof t})`, 'return scalar tensors from lossTerms, e.g. tf.mean(…)');
              check(t.rank === 0, 'BAD_LOSS_TERM', `plugin "${p.name}" returned a loss term "${name}" of shape [${t.shape.join(', ')}]`, 'return scalars from lossTerms (reduce with tf.mean)');
              terms[`${p.name}/${name}`] = tf.keep(t);
              total = tf.add(total, t);
            }
          }
          // a zero connected to no variable: tfjs threw "Cannot find a connection between any variable and the result"
          if (Object.keys(terms).length === 0) {
            throw new TrellisError('NO_LOSS',
              `no loss at epoch ${ctx.epoch}, step ${ctx.step}: the base loss is off (${replacing.length ? `plugin "${replacing[0]!.name}" replaces it` : "baseLoss 'none'"}) and no plugin returned a loss term (plugins: ${this.plugins.map((p) => p.name).join(', ') || 'none'})`,
              "add a plugin that returns loss terms (e.g. a test-time adaptation method such as tent), or train with the base cross-entropy (leave baseLoss out)",
              { epoch: ctx.epoch, step: ctx.step, plugins: this.plugins.map((p) => p.name) });
          }
          return total;
        }, vars.map(([, v]) => v)),
      );
    } catch (e) {
      releaseAbandonedTape();
      tf.dispose(Object.values(terms));
      disposeFlags(finite);
      disposeBatch(current);
      ctx.batch = undefined;
      throw e;
    }
    const logs: Record<string, number> = { loss: computed.value.dataSync()[0]! };
    for (const [k, t] of Object.entries(terms)) logs[k] = t.dataSync()[0]!;
    tf.dispose(Object.values(terms));
    computed.value.dispose();
    if (!Number.isFinite(logs.loss!)) {
      const read = (t: tf.Tensor) => t.dataSync()[0] === 1;
      const finiteRead: FinitenessFlags<boolean> = { logits: finite.logits ? read(finite.logits) : null, targets: finite.targets.map(([n, t]) => [n, read(t)]) };
      disposeFlags(finite);
      tf.dispose(Object.values(computed.grads));
      disposeBatch(current);
      ctx.batch = undefined;
      throw nanLossError(ctx, logs, finiteRead, this.plugins.map((p) => p.name), this.options.checkpointDir);
    }
    disposeFlags(finite);
    const held: { grads: tf.NamedTensorMap } = { grads: {} };
    for (const [tfName, g] of Object.entries(computed.grads)) held.grads[friendly.get(tfName) ?? tfName] = g;
    try {
      this.applyGradients(held, vars);
      for (const p of this.plugins) if (p.afterApply) runSyncHook(p.name, 'afterApply', ctx, () => p.afterApply!(ctx));
      ctx.logs = logs;
      for (const p of [...this.plugins].reverse()) if (p.onBatchEnd) await this.runLoopHook(p, 'onBatchEnd', () => p.onBatchEnd!(ctx));
    } catch (e) {
      // A gradient, apply or end hook threw: free what the step still holds (freeing twice is a no-op).
      tf.dispose(Object.values(held.grads));
      disposeBatch(current);
      ctx.batch = undefined;
      throw e;
    }
    disposeBatch(current);
    ctx.batch = undefined;
    ctx.step++;
    return logs;
  }

  /**
   * Runs the plugins' `transformGradients` on `held.grads` (`held` always names the live map, so the
   * caller can free it if a hook throws), then applies the result to every trainable variable and
   * frees the gradients.
   */
  private applyGradients(held: { grads: tf.NamedTensorMap }, vars: Array<[string, tf.Variable]>): void {
    for (const p of this.plugins) {
      if (!p.transformGradients) continue;
      const before = held.grads;
      const after = runSyncHook(p.name, 'transformGradients', this.ctx, () => p.transformGradients!(before, this.ctx));
      checkGradients(after, before, vars, p.name);
      const kept = new Set(Object.values(after));
      for (const t of Object.values(before)) if (!kept.has(t)) t.dispose();
      held.grads = after;
    }
    const grads = held.grads;
    // tfjs optimizers keep their slots (Adam moments, momentum) by position in this list, so every
    // trainable variable is always passed: one that got no gradient this step (a skipped block) gets
    // zeros instead of shifting the slots of the variables after it.
    const ordered: Array<{ name: string; tensor: tf.Tensor }> = [];
    for (const [name, v] of vars) {
      let g = grads[name];
      if (!g) {
        g = tf.zerosLike(v);
        grads[name] = g;
      }
      ordered.push({ name: v.name, tensor: g });
    }
    this.optimizer.applyGradients(ordered);
    tf.dispose(Object.values(grads));
  }

  /** Evaluates the (wrapped) model on a labeled dataset and runs `onEvalEnd` hooks. */
  async evaluate(dataset: Dataset, batchSize = 256): Promise<Evaluation> {
    await this.setup();
    const ev = evaluate(this.model, dataset, { batchSize });
    const scalars: Record<string, number> = {};
    for (const [k, v] of Object.entries(ev)) if (typeof v === 'number') scalars[k] = v;
    for (const p of [...this.plugins].reverse()) if (p.onEvalEnd) await runHook(p.name, 'onEvalEnd', this.ctx, () => p.onEvalEnd!(this.ctx, scalars));
    return ev;
  }

  /**
   * Writes a checkpoint (model and optimizer variables, plugin states, RNG, epoch, history) to
   * `dir/checkpoint`, replacing the previous one only once the new one is complete; the previous one
   * stays as `dir/checkpoint-prev`, so a damaged checkpoint costs one epoch, not the run. `state.json` is
   * written with {@link encodeJournalValue}, so plugin states keep NaN, ±Infinity and typed arrays.
   */
  async saveCheckpoint(dir: string, epoch: number): Promise<void> {
    const next = join(dir, 'checkpoint-next');
    const cur = join(dir, 'checkpoint');
    const prev = join(dir, 'checkpoint-prev');
    await rm(next, { recursive: true, force: true });
    await mkdir(next, { recursive: true });
    await saveVariables(this.checkpointVariables(), join(next, 'model'));
    const optWeights = await this.optimizer.getWeights();
    const named: Record<string, tf.Tensor> = {};
    const order: string[] = [];
    optWeights.forEach((w, i) => {
      const key = `${String(i).padStart(5, '0')}:${w.name}`;
      named[key] = w.tensor;
      order.push(key);
    });
    // Scalar variables the optimizer keeps outside getWeights (Adam's running β powers): saved so a
    // resumed run continues bit-for-bit instead of recomputing them with different rounding.
    for (const [key, v] of optimizerScalars(this.optimizer)) named[`extra:${key}`] = v;
    await saveVariables(named, join(next, 'optimizer'));
    // getWeights() makes a fresh scalar for the iteration count; the rest are the optimizer's own variables.
    for (const w of optWeights) if (w.name === 'iter') w.tensor.dispose();
    const plugins: Record<string, unknown> = {};
    for (const p of this.plugins) if (p.getState) plugins[p.name] = p.getState();
    const state: CheckpointState = {
      format: 'trellis-checkpoint-1', seed: this.seed, epoch, step: this.ctx.step, rng: this.ctx.rng.getState(),
      plugins, history: this.history, optimizerOrder: order, optimizer: this.optimizer.getClassName(),
    };
    // the journal's encoding: plain JSON would write a plugin's Infinity/NaN (an early-stopping best) as null
    // and a typed array as an object of indices, and a resumed plugin would get those back instead
    await writeFile(join(next, 'state.json'), encodeJournalValue(state));
    await rm(prev, { recursive: true, force: true });
    if (await exists(cur)) await rename(cur, prev);
    await rename(next, cur);
  }

  /**
   * Restores the newest readable checkpoint in `dir`: `checkpoint`, or — when its files are damaged
   * (unparsable state, missing or truncated weights) — the one before it, `checkpoint-prev`, which
   * {@link Trainer.saveCheckpoint} keeps. Which one was used, and why another was skipped, is in
   * {@link Trainer.lastRestore}. Returns false when there is none; throws `CHECKPOINT_UNREADABLE` when
   * every checkpoint is damaged, and `CHECKPOINT_SEED` / `CHECKPOINT_MISMATCH` (another seed, architecture
   * or optimizer class) without trying the older one.
   */
  async restoreIfPresent(dir: string): Promise<boolean> {
    await this.setup();
    const skipped: string[] = [];
    for (const name of ['checkpoint', 'checkpoint-prev']) {
      const ckpt = join(dir, name);
      if (!(await exists(ckpt))) continue;
      let loaded: LoadedCheckpoint;
      try {
        loaded = await this.readCheckpoint(ckpt);
      } catch (e) {
        if (e instanceof TrellisError && (e.code === 'CHECKPOINT_SEED' || e.code === 'CHECKPOINT_MISMATCH')) throw e;
        skipped.push(`${name}: ${e instanceof TrellisError ? e.problem : (e as Error).message}`);
        continue;
      }
      await this.applyCheckpoint(loaded);
      const saved = loaded.state.plugins;
      const restorable = this.plugins.filter((p) => p.setState);
      this.lastRestore = {
        from: ckpt, epoch: loaded.state.epoch, skipped,
        statesWithoutPlugin: Object.keys(saved).filter((n) => !restorable.some((p) => p.name === n)),
        pluginsWithoutState: restorable.filter((p) => saved[p.name] === undefined).map((p) => p.name),
      };
      return true;
    }
    if (skipped.length) {
      throw new TrellisError('CHECKPOINT_UNREADABLE', `no readable checkpoint in ${dir} (${skipped.join('; ')})`,
        `the checkpoint files are damaged: move ${dir}'s checkpoint directories away to train from the start, or restore them from a copy`, { skipped });
    }
    return false;
  }

  /** Reads and checks a checkpoint without touching the model, the optimizer or the plugins. */
  private async readCheckpoint(ckpt: string): Promise<LoadedCheckpoint> {
    let state: CheckpointState;
    try {
      state = decodeJournalValue(await readFile(join(ckpt, 'state.json'), 'utf8')) as CheckpointState;
    } catch (e) {
      throw new TrellisError('CHECKPOINT_UNREADABLE', `cannot read ${join(ckpt, 'state.json')}: ${(e as Error).message}`, 'point checkpointDir at a directory written by the Trainer');
    }
    check(state?.format === 'trellis-checkpoint-1', 'CHECKPOINT_UNREADABLE', `${ckpt} is not a Trellis checkpoint`, 'point checkpointDir at a directory written by the Trainer');
    check(state.seed === this.seed, 'CHECKPOINT_SEED', `the checkpoint was written with seed ${state.seed}, this run has seed ${this.seed}`, 'resume with the same seed, or start a fresh run in a new directory');
    // another optimizer's slots were set by position (Adam's m and v became Momentum's accumulators) or threw a plain Error (SGD)
    check(state.optimizer === undefined || state.optimizer === this.optimizer.getClassName(), 'CHECKPOINT_MISMATCH',
      () => `the checkpoint in ${ckpt} was written by a ${String(state.optimizer)} optimizer, this run uses ${this.optimizer.getClassName()}`,
      'resume with the optimizer the run was started with, or start a fresh run in a new directory');
    const vars = this.checkpointVariables();
    const model = await readVariables(join(ckpt, 'model'));
    let optimizer: Record<string, tf.Tensor> = {};
    try {
      checkSavedShapes(vars, model, join(ckpt, 'model'));
      optimizer = await readVariables(join(ckpt, 'optimizer'));
      const missing = state.optimizerOrder.filter((key) => !optimizer[key]);
      check(missing.length === 0, 'CHECKPOINT_UNREADABLE', `${join(ckpt, 'optimizer')} lacks ${missing.length} of the optimizer's saved variables (e.g. ${missing[0]})`, 'point checkpointDir at a directory written by the Trainer');
    } catch (e) {
      tf.dispose([...Object.values(model), ...Object.values(optimizer)]);
      throw e;
    }
    return { state, model, optimizer };
  }

  /** Puts a checked checkpoint into the model, the optimizer, the plugins and the loop state; frees its tensors. */
  private async applyCheckpoint({ state, model, optimizer }: LoadedCheckpoint): Promise<void> {
    try {
      for (const [name, v] of Object.entries(this.checkpointVariables())) v.assign(model[name]!);
      await this.optimizer.setWeights(state.optimizerOrder.map((key) => ({ name: key.slice(6), tensor: optimizer[key]! })));
      for (const [key, v] of optimizerScalars(this.optimizer)) {
        const t = optimizer[`extra:${key}`];
        if (t) v.assign(t);
      }
    } finally {
      tf.dispose([...Object.values(model), ...Object.values(optimizer)]);
    }
    for (const p of this.plugins) if (p.setState && state.plugins[p.name] !== undefined) p.setState(state.plugins[p.name]);
    this.ctx.rng.setState(state.rng);
    this.ctx.step = state.step;
    this.history.splice(0, this.history.length, ...state.history);
    this.startEpoch = state.epoch + 1;
  }

  /** The model's variables and the plugins' own trainable and state variables, under their checkpoint names. */
  private checkpointVariables(): Record<string, tf.Variable> {
    const vars = this.model.allVariables();
    for (const p of this.plugins) {
      for (const [k, v] of Object.entries({ ...p.stateVariables?.(), ...p.trainableVariables?.() })) vars[`${p.name}:${k}`] = v;
    }
    return vars;
  }

  /** Disposes plugins (in reverse order) and the optimizer; the model stays the caller's. */
  dispose(): void {
    for (const p of [...this.plugins].reverse()) p.dispose?.();
    this.optimizer.dispose();
    // Some tfjs optimizers keep constant tensors their dispose() forgets (Momentum's `m` in 4.22).
    for (const v of Object.values(this.optimizer as unknown as Record<string, unknown>)) {
      if (v instanceof tf.Tensor && !v.isDisposed) v.dispose();
    }
  }
}

/** The optimizer's own tf.Variables that `getWeights` leaves out (e.g. Adam's accBeta1/accBeta2). */
function optimizerScalars(optimizer: tf.Optimizer): Array<[string, tf.Variable]> {
  return Object.entries(optimizer as unknown as Record<string, unknown>)
    .filter((e): e is [string, tf.Variable] => e[1] instanceof tf.Variable)
    .sort((a, b) => a[0].localeCompare(b[0]));
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
