/**
 * Trainer plugins: freeze a unit set during fine-tuning (spec §4), train only a unit budget during
 * alignment (spec §5), fine-tune through a low-rank adapter (the spec's PEFT control, §4.4), and the
 * sequence loss of the package's language model.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelAdapter, TrainerContext, TrainerPlugin } from '@trellis-ml/core';
import { check } from '@trellis-ml/core';
import { LowRankAdapter, lowRankAdapter, resolveAdapterRank, type LowRankOptions } from './lowRank.js';
import { unitWeightMasks } from './prune.js';
import { checkTokenIds, sequenceNll, type SequenceLossOptions } from './sequenceLoss.js';
import { checkMask, emptyMask, invertMask, maskFromJson, maskToJson, unionMasks, type UnitLayout, type UnitMask } from './units.js';

/**
 * One phase of a mask schedule: freeze `frozen` for `epochs` epochs, a whole number ≥ 1 (the last phase
 * lasts to the end; it alone may be `Infinity`).
 */
export interface FreezePhase {
  epochs: number;
  frozen: UnitMask;
}

/** Options of {@link unitFreezePlugin}. */
export interface FreezeOptions {
  layout: UnitLayout;
  /** Units to keep fixed (1 = frozen). Ignored when `schedule` is given. */
  frozen?: UnitMask;
  /** Mask schedule, e.g. one epoch of Setting (ii) then Setting (i) (spec §4.1). */
  schedule?: FreezePhase[];
  /**
   * Re-pin frozen weights to their values at the start of the phase after every step (default true):
   * guards against optimizer state (Adam moments, momentum) from earlier phases, weight decay, and rounding.
   */
  pin?: boolean;
  /**
   * Also freeze every parameter of the model that belongs to no unit (embeddings, norms, q/k, head). Default false.
   * Variables other plugins train beside the model (their `trainableVariables`, e.g. privacy's CRL centres) are theirs
   * and keep their gradients.
   */
  freezeNonUnitParams?: boolean;
  /** Plugin name (default `unit-freeze`). */
  name?: string;
}

/** JSON state of a freeze/budget plugin. */
export interface FreezeState {
  phase: number;
  steps: number;
  frozen: Record<string, number[]>;
}

/**
 * Freezes a unit set: multiplies the gradients of unit-carrying variables by keep-masks (0 on frozen
 * slices) in `transformGradients`, drops the gradients of non-unit parameters when asked, and in
 * `afterApply` re-pins the frozen slices to their values at the start of the phase (`w ← w·keep +
 * w0·(1 − keep)`), so no optimizer — Adam included — can move them. The values are taken when `fit`
 * starts (and at the first batch of each later phase). With `pin` (the default), the first step of each phase
 * and every epoch end with a check that the frozen slices still hold them: a plugin that runs after this one and writes weights
 * (fair-prune's `pruning`, order 'post', zeroes pruned weights after every step) used to leave frozen units
 * silently changed, and now stops the run with `FROZEN_UNITS_OVERWRITTEN`.
 */
export function unitFreezePlugin(options: FreezeOptions): TrainerPlugin<FreezeState> {
  check(Array.isArray(options?.layout), 'BAD_OPTION', 'the freeze plugin has no unit layout', 'pass `layout` (e.g. model.unitModules() or denseUnitModules(…)) with `frozen`');
  // A copy: setState replaces a phase's mask, which used to write into the caller's schedule array (and so
  // into every other plugin built from it).
  check(options.schedule === undefined || Array.isArray(options.schedule), 'BAD_OPTION', 'the freeze schedule is not a list of phases', 'pass schedule: [{ epochs, frozen }, …]');
  const schedule = options.schedule ? [...options.schedule] : options.frozen ? [{ epochs: Number.POSITIVE_INFINITY, frozen: options.frozen }] : [];
  check(schedule.length > 0, 'BAD_OPTION', 'the freeze plugin has no units to freeze', 'pass `frozen` (a UnitMask) or a `schedule`');
  schedule.forEach((p, i) => {
    checkMask(options.layout, p.frozen, 'frozen mask');
    // A fractional phase silently lasted whole epochs (1.5 → 2); an endless phase before the last made the later ones unreachable.
    const last = i === schedule.length - 1;
    check(typeof p.epochs === 'number' && ((Number.isInteger(p.epochs) && p.epochs > 0) || (last && p.epochs === Number.POSITIVE_INFINITY)), 'BAD_OPTION',
      `a schedule phase lasts ${typeof p.epochs === 'string' ? `"${p.epochs}"` : p.epochs} epochs (phase ${i} of ${schedule.length})`,
      'give every phase a whole number of epochs ≥ 1 (only the last phase may be Infinity; it lasts to the end anyway)');
  });
  const pin = options.pin ?? true;
  const unitVars = new Set(options.layout.flatMap((m) => [...m.aSide, m.bSide].map((s) => s.variable)));
  let keep: Record<string, tf.Tensor> = {};
  let pinned: Record<string, tf.Tensor> = {};
  let activePhase = -1;
  /** The phase whose pinned values were last checked after a step (see onBatchEnd). */
  let checkedPhase = -1;
  let steps = 0;
  let wanted = 0;
  let model: ModelAdapter | undefined;
  /** The trainable variable names of the Trainer's model (what `freezeNonUnitParams` may freeze), per model. */
  let modelVars: { model: ModelAdapter | null; names: Set<string> } = { model: null, names: new Set() };

  const release = () => {
    tf.dispose(Object.values(keep));
    tf.dispose(Object.values(pinned));
    keep = {};
    pinned = {};
  };
  const activate = (phase: number, m: ModelAdapter) => {
    release();
    activePhase = phase;
    model = m;
    keep = unitWeightMasks(m, options.layout, schedule[phase]!.frozen);
    if (pin) {
      const vars = m.trainableVariables();
      for (const name of Object.keys(keep)) pinned[name] = tf.clone(vars[name]!);
    }
  };
  const phaseAt = (epoch: number) => {
    let end = 0;
    for (let i = 0; i < schedule.length; i++) {
      end += schedule[i]!.epochs;
      if (epoch < end) return i;
    }
    return schedule.length - 1;
  };
  const ensure = (ctx: TrainerContext) => {
    if (activePhase !== wanted || model !== ctx.model) activate(wanted, ctx.model);
  };
  const name = options.name ?? 'unit-freeze';
  /** Throws `FROZEN_UNITS_OVERWRITTEN` when a frozen slice no longer holds its pinned value (one host read). */
  const checkPinned = (when: string) => {
    if (!pin || !model || activePhase < 0) return;
    const vars = model.trainableVariables();
    const names = Object.keys(keep);
    if (names.length === 0) return;
    const changed = tf.tidy(() => tf.stack(names.map((n) => tf.cast(tf.any(tf.logicalAnd(tf.equal(keep[n]!, 0), tf.notEqual(vars[n]!, pinned[n]!))), 'float32'))));
    const flags = changed.dataSync();
    changed.dispose();
    const bad = names.filter((_, i) => flags[i]! > 0);
    check(bad.length === 0, 'FROZEN_UNITS_OVERWRITTEN',
      () => `the frozen units of ${bad.map((n) => `"${n}"`).join(', ')} no longer hold the values "${name}" pinned (checked ${when}): a plugin that writes weights after this one's afterApply or at fit/epoch start overwrote them (e.g. fair-prune's pruning, order 'post', zeroes pruned weights after every step)`,
      "keep the frozen units out of the other plugin's reach (e.g. pruning's `include` without these layers, or prune before freezing in a separate fit), list it before this plugin so the freeze re-pins after it, or pass pin: false to let other plugins change frozen weights");
  };

  return {
    name,
    apiVersion: 1,
    onFitStart(ctx) {
      // every fit checks after its first step again (a second fit, a resumed one)
      checkedPhase = -1;
      // before plugins that run later (pruning, order 'post') change weights at fit start
      ensure(ctx);
    },
    onEpochStart(ctx) {
      wanted = phaseAt(ctx.epoch);
    },
    onBatchStart(ctx) {
      ensure(ctx);
    },
    onBatchEnd(ctx) {
      // once per phase, after its first step (every plugin's afterApply has run): a plugin that overwrites frozen
      // units stops the run within a step instead of after a whole epoch
      if (checkedPhase === activePhase) return;
      checkedPhase = activePhase;
      checkPinned(`after the first step of freeze phase ${activePhase}, epoch ${ctx.epoch}, step ${ctx.step}`);
    },
    onEpochEnd(ctx) {
      checkPinned(`at the end of epoch ${ctx.epoch}`);
    },
    transformGradients(grads, ctx) {
      const out: tf.NamedTensorMap = {};
      if (options.freezeNonUnitParams && modelVars.model !== ctx.model) modelVars = { model: ctx.model, names: new Set(Object.keys(ctx.model.trainableVariables())) };
      for (const [name, g] of Object.entries(grads)) {
        const k = keep[name];
        if (k) out[name] = tf.mul(g, k);
        // the model's own parameters only: another plugin's variables (`<plugin>:<key>`) used to be dropped too
        else if (options.freezeNonUnitParams && !unitVars.has(name) && modelVars.names.has(name)) continue;
        else out[name] = g;
      }
      return out;
    },
    afterApply() {
      steps++;
      if (!pin || !model) return;
      const vars = model.trainableVariables();
      tf.tidy(() => {
        for (const [name, k] of Object.entries(keep)) {
          const v = vars[name]!;
          v.assign(tf.add(tf.mul(v, k), tf.mul(pinned[name]!, tf.sub(1, k))));
        }
      });
    },
    getState: () => ({ phase: wanted, steps, frozen: maskToJson(schedule[Math.max(0, wanted)]!.frozen) }),
    setState(s) {
      check(Number.isInteger(s?.phase) && s.phase >= 0 && s.phase < schedule.length, 'BAD_STATE', `saved freeze state has phase ${String(s?.phase)}, the schedule has ${schedule.length} phase(s)`,
        'restore a state saved by a freeze plugin with the same schedule');
      check(Number.isInteger(s.steps) && s.steps >= 0, 'BAD_STATE', `saved freeze state has ${String(s.steps)} steps`, 'restore a state saved by getState() of a freeze or budget plugin');
      wanted = s.phase;
      steps = s.steps;
      schedule[s.phase] = { ...schedule[s.phase]!, frozen: maskFromJson(options.layout, s.frozen) };
      activePhase = -1; // re-snapshot the pinned values at the next batch (they equal the saved weights)
    },
    dispose() {
      release();
      activePhase = -1;
    },
  };
}

/** Options of {@link unitBudgetPlugin}. */
export interface BudgetOptions {
  layout: UnitLayout;
  /** The units that may train (e.g. RU at 20 %, spec §5). */
  trainable: UnitMask;
  /** Also train parameters outside every unit (embeddings, norms, q/k, head). Default false (spec §5.4, reconstructed). */
  trainNonUnitParams?: boolean;
  pin?: boolean;
  name?: string;
}

/**
 * Trains only a unit budget: every other unit (and, by default, every non-unit parameter) is frozen.
 * A module that `trainable` leaves out has no trainable unit, so all of its units are frozen.
 */
export function unitBudgetPlugin(options: BudgetOptions): TrainerPlugin<FreezeState> {
  check(Array.isArray(options?.layout) && options.trainable, 'BAD_OPTION', 'the budget plugin needs `layout` and `trainable`', 'pass `layout` (e.g. model.unitModules()) and `trainable` (a UnitMask, e.g. budgetMask(cls))');
  checkMask(options.layout, options.trainable, 'trainable mask');
  // Complete the mask over the layout first: inverting only the modules it names left every unit of an
  // omitted module trainable.
  return unitFreezePlugin({
    layout: options.layout,
    frozen: invertMask(unionMasks(emptyMask(options.layout), options.trainable)),
    freezeNonUnitParams: !(options.trainNonUnitParams ?? false),
    pin: options.pin ?? true,
    name: options.name ?? 'unit-budget',
  });
}

/**
 * The language model's loss as a Trainer plugin (use with `baseLoss: 'none'`): mean next-token
 * cross-entropy over response positions (see {@link sequenceNll}), logged as `sequence-loss/nll`.
 * The token ids are checked once when `fit` starts, on the training set's host copy (`LABEL_OUT_OF_RANGE`),
 * and not read back from the device in every step; batches passed to `trainStep` directly are not checked.
 */
export function sequenceLossPlugin(options: Omit<SequenceLossOptions, 'checkLabelValues'> & { name?: string }): TrainerPlugin {
  check(Array.isArray(options?.responseStart) && Number.isInteger(options.pad), 'BAD_OPTION', 'the sequence loss needs `responseStart` (token ids) and `pad` (a token id)',
    'pass lang.lossOptions() for the request language, e.g. sequenceLossPlugin(lang.lossOptions())');
  const lossOptions: SequenceLossOptions = { responseStart: options.responseStart, pad: options.pad, checkLabelValues: false };
  return {
    name: options.name ?? 'sequence-loss',
    apiVersion: 1,
    onFitStart: (ctx) => {
      if (ctx.train) checkTokenIds(ctx.train.x, ctx.train.exampleSize, ctx.model.numClasses, 'training example');
    },
    lossTerms: (outputs, batch) => ({ nll: sequenceNll(outputs.logits, batch.x, lossOptions) }),
  };
}

/** Options of {@link lowRankAdapterPlugin}. */
export interface LowRankPluginOptions extends Omit<LowRankOptions, 'seed'> {
  /** Seed of A's initialisation (default: the Trainer's seed). */
  seed?: number;
  /**
   * Fold the learned update into the base weights when `fit` ends (default true), so the caller's model
   * carries the fine-tune after the Trainer is disposed (the plugin's `dispose` frees the adapters).
   * Set false to keep the update only in the wrapped model (`trainer.model`, a {@link LowRankAdapter}).
   */
  mergeOnFitEnd?: boolean;
  /** Plugin name (default `low-rank-adapter`). */
  name?: string;
}

/**
 * Fine-tunes through a low-rank adapter (spec §10.3 step 5: rank 4 on all projections): `wrapModel`
 * wraps the model in a {@link LowRankAdapter}, so only the adapters A, B train and every base weight
 * stays fixed (embeddings, norms and head included). At the end of `fit` the update is merged into the
 * base weights (`mergeOnFitEnd`, default true). `dispose` frees the adapters. The rank, alpha and seed
 * are checked when the plugin is built.
 */
export function lowRankAdapterPlugin(options: LowRankPluginOptions = {}): TrainerPlugin {
  resolveAdapterRank(options);
  check(options.seed === undefined || Number.isFinite(options.seed), 'NO_SEED', `the low-rank adapter's seed ${String(options.seed)} is not a number`,
    "pass a numeric `seed`, or leave it out to use the Trainer's");
  let adapter: LowRankAdapter | undefined;
  return {
    name: options.name ?? 'low-rank-adapter',
    apiVersion: 1,
    order: 'pre',
    wrapModel(model, ctx) {
      adapter?.disposeAdapters();
      adapter = lowRankAdapter(model, { ...options, seed: options.seed ?? ctx.seed });
      return adapter;
    },
    onFitEnd() {
      if (options.mergeOnFitEnd ?? true) adapter?.merge();
    },
    dispose() {
      adapter?.disposeAdapters();
      adapter = undefined;
    },
  };
}
