import * as tf from '@tensorflow/tfjs-core';
import { check, checkChoice } from '../errors.js';
import type { TrainerContext, TrainerPlugin } from '../plugin.js';

/** Where an early-stopping watch stands after some epochs (JSON: a checkpoint keeps it). */
export interface EarlyStoppingState {
  /** The best value seen, or null before the first epoch. */
  best: number | null;
  /** The epoch that gave it (−1 before the first epoch). */
  bestEpoch: number;
  /** Epochs since the last improvement. */
  wait: number;
  /** Whether the watch has asked the run to stop. */
  stopped: boolean;
}

/** The rule of {@link earlyStoppingStep}: which way is better, by how much, and how long to wait. */
export interface EarlyStoppingRule {
  mode: 'min' | 'max';
  /** An improvement must beat the best by more than this (≥ 0). */
  minDelta: number;
  /** Epochs without improvement after which to stop (whole, ≥ 1). */
  patience: number;
}

/** The state before any epoch. */
export const EARLY_STOPPING_START: Readonly<EarlyStoppingState> = Object.freeze({ best: null, bestEpoch: -1, wait: 0, stopped: false });

/**
 * One epoch of early stopping (pure): `value` improves on the best when it is lower (`min`) or higher (`max`) by more
 * than `minDelta`; then it becomes the best and the wait restarts, else the wait grows and the watch stops once it
 * reaches `patience`. A NaN value never improves (it counts as a waiting epoch).
 */
export function earlyStoppingStep(state: EarlyStoppingState, value: number, epoch: number, rule: EarlyStoppingRule): EarlyStoppingState {
  const improved = !Number.isNaN(value) && (state.best === null || (rule.mode === 'min' ? value < state.best - rule.minDelta : value > state.best + rule.minDelta));
  if (improved) return { best: value, bestEpoch: epoch, wait: 0, stopped: false };
  const wait = state.wait + 1;
  return { ...state, wait, stopped: wait >= rule.patience };
}

/** Options of {@link earlyStopping}. */
export interface EarlyStoppingOptions {
  /** The epoch log to watch (default `val_loss`; `fit` logs `val_loss` and `val_accuracy` with a `validation` set). */
  monitor?: string;
  /** `'min'` or `'max'` (default `'max'` for a monitor containing "accuracy", else `'min'`). */
  mode?: 'min' | 'max';
  /** Epochs without improvement before the run stops (default 5). */
  patience?: number;
  /** The smallest change that counts as an improvement (default 0). */
  minDelta?: number;
  /**
   * Put the best epoch's model variables back when the fit ends (default true). Keeps one copy of the model's
   * variables, saved with the run's checkpoints, so a resumed run restores the same best epoch.
   */
  restoreBest?: boolean;
  name?: string;
}

/**
 * A core plugin that stops a fit when an epoch log (by default `val_loss`) has not improved for `patience` epochs,
 * and by default puts back the model variables of its best epoch when the fit ends (the last checkpoint keeps the
 * last epoch's; the best copy is saved beside it). The watch is read at each epoch's end, after validation.
 * @throws TrellisError `BAD_OPTION` for a bad option; `NO_METRIC` at the first epoch's end when the monitored log is
 * missing (e.g. `val_loss` without a `validation` set).
 */
export function earlyStopping(options: EarlyStoppingOptions = {}): TrainerPlugin<EarlyStoppingState> {
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', () => `earlyStopping's options ${String(options)} are not an object`, "pass e.g. { monitor: 'val_loss', patience: 5 } or leave them out");
  const monitor = options.monitor ?? 'val_loss';
  check(typeof monitor === 'string' && monitor.length > 0, 'BAD_OPTION', () => `early stopping's monitor ${JSON.stringify(monitor)} is not an epoch log's name`, "pass e.g. monitor: 'val_loss' or 'val_accuracy'");
  const mode = options.mode ?? (monitor.includes('accuracy') ? 'max' : 'min');
  checkChoice(mode, ['min', 'max'] as const, 'early-stopping mode');
  const patience = options.patience ?? 5;
  check(Number.isInteger(patience) && patience >= 1, 'BAD_OPTION', () => `early stopping's patience ${String(patience)} is not a whole number of epochs ≥ 1`, 'pass e.g. patience: 5');
  const minDelta = options.minDelta ?? 0;
  check(typeof minDelta === 'number' && Number.isFinite(minDelta) && minDelta >= 0, 'BAD_OPTION', () => `early stopping's minDelta ${String(minDelta)} is not a finite number ≥ 0`, 'pass e.g. minDelta: 0 (any improvement counts)');
  const restoreBest = options.restoreBest ?? true;
  check(typeof restoreBest === 'boolean', 'BAD_OPTION', () => `early stopping's restoreBest ${JSON.stringify(restoreBest)} is not a boolean`, 'pass restoreBest: true or false');
  const name = options.name ?? 'early-stopping';
  const rule: EarlyStoppingRule = { mode, minDelta, patience };
  let state: EarlyStoppingState = { ...EARLY_STOPPING_START };
  /** Whether a checkpoint restored the state for the coming fit (a resume), rather than a new fit starting. */
  let restored = false;
  let best: Record<string, tf.Variable> = {};
  let source: Record<string, tf.Variable> = {};

  const release = () => {
    for (const v of Object.values(best)) v.dispose();
    best = {};
  };
  const copy = (from: Record<string, tf.Variable>, to: Record<string, tf.Variable>) => {
    for (const [k, v] of Object.entries(from)) to[k]!.assign(v);
  };
  let context: TrainerContext | null = null;
  /**
   * The best-epoch copy, made at its first use: after every plugin's setup and wrapModel (so it copies the model the
   * Trainer trains, a wrapper's own variables included) and before a resume restores it (the checkpoint's shapes are
   * checked against it).
   */
  const copies = (): Record<string, tf.Variable> => {
    if (!restoreBest || !context || Object.keys(best).length > 0) return best;
    source = context.model.allVariables();
    tf.tidy(() => {
      for (const [k, v] of Object.entries(source)) best[k] = tf.variable(tf.clone(v), false);
    });
    return best;
  };

  return {
    name,
    apiVersion: 1,
    setup(ctx) {
      context = ctx;
    },
    stateVariables: () => copies(),
    onFitStart(ctx) {
      // a new fit watches afresh (its best copy is replaced at its first epoch); a resumed one continues its watch
      if (!restored) state = { ...EARLY_STOPPING_START };
      restored = false;
      // a resumed run that had stopped: train no further epoch (the best weights still go back at the fit's end)
      if (state.stopped) ctx.stopTraining(`${name}: stopped at epoch ${state.bestEpoch + patience} (best ${monitor} ${state.best} at epoch ${state.bestEpoch})`);
    },
    onEpochEnd(ctx) {
      const value = ctx.logs[monitor];
      check(typeof value === 'number', 'NO_METRIC', () => `plugin "${name}" watches "${monitor}", which epoch ${ctx.epoch} did not log (logs: ${Object.keys(ctx.logs).join(', ')})`,
        monitor.startsWith('val_') ? 'pass a validation set to fit (fit(train, { epochs, validation })), or watch another log' : 'watch a log every epoch writes (e.g. val_loss with a validation set)');
      const next = earlyStoppingStep(state, value, ctx.epoch, rule);
      if (restoreBest && next.bestEpoch === ctx.epoch) {
        const target = copies(); // sets `source` on its first call
        copy(source, target);
      }
      state = next;
      ctx.logs[`${name}/wait`] = state.wait;
      if (state.stopped) ctx.stopTraining(`${name}: ${monitor} did not improve for ${patience} epoch(s) (best ${state.best} at epoch ${state.bestEpoch})`);
    },
    onFitEnd() {
      if (restoreBest && state.bestEpoch >= 0) copy(best, source);
    },
    getState: () => ({ ...state }),
    setState(s) {
      check(s !== null && typeof s === 'object' && (s.best === null || typeof s.best === 'number') && Number.isInteger(s.bestEpoch) && Number.isInteger(s.wait) && typeof s.stopped === 'boolean',
        'BAD_STATE', () => `saved early-stopping state ${JSON.stringify(s)} is not { best, bestEpoch, wait, stopped }`, 'restore a state saved by an earlyStopping plugin');
      state = { ...s };
      restored = true;
    },
    dispose() {
      release();
    },
  };
}
