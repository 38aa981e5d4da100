import type * as tf from '@tensorflow/tfjs-core';
import { check, checkChoice, TrellisError } from '../errors.js';
import type { TrainerContext, TrainerPlugin } from '../plugin.js';

/** The learning rate an optimizer keeps as a number (`learningRate`), or undefined when it keeps none. */
export function learningRateOf(optimizer: tf.Optimizer): number | undefined {
  const lr = (optimizer as unknown as { learningRate?: unknown }).learningRate;
  return typeof lr === 'number' ? lr : undefined;
}

/**
 * Sets an optimizer's learning rate, the one way every package does it: through `setLearningRate` where the
 * optimizer has one (tfjs's SGD and momentum SGD keep a scalar `−lr` that only it remakes, so writing the
 * `learningRate` field alone left their stock update on the old rate), else by writing the `learningRate` field that
 * tfjs's other optimizers (Adam, Adamax, RMSProp, Adagrad, Adadelta) read at every update.
 * @param who names the schedule in the errors (e.g. a plugin's name).
 * @throws TrellisError `BAD_OPTION` for a rate that is not a finite number ≥ 0; `LR_SCHEDULE_UNSUPPORTED` for an
 * optimizer that keeps no numeric learning rate.
 */
export function setLearningRate(optimizer: tf.Optimizer, lr: number, who = 'the learning-rate schedule'): void {
  check(typeof lr === 'number' && Number.isFinite(lr) && lr >= 0, 'BAD_OPTION', () => `${who} computed the learning rate ${String(lr)}, not a finite number ≥ 0`,
    'give the schedule finite rates ≥ 0 (a negative rate climbs the loss)');
  check(typeof optimizer === 'object' && optimizer !== null, 'BAD_OPTION', () => `${who} was given ${String(optimizer)}, not an optimizer`, 'pass a tfjs optimizer (e.g. tf.train.adam(1e-3))');
  const opt = optimizer as unknown as { setLearningRate?: (lr: number) => void; learningRate?: unknown };
  if (typeof opt.setLearningRate === 'function') {
    opt.setLearningRate(lr);
    return;
  }
  if (typeof opt.learningRate !== 'number') {
    throw new TrellisError('LR_SCHEDULE_UNSUPPORTED', `${who} cannot set the learning rate of ${optimizer.getClassName?.() ?? 'this optimizer'}: it keeps no numeric learningRate`,
      "use one of tfjs's optimizers (tf.train.adam, sgd, momentum, rmsprop, adagrad, adamax, adadelta), or drop the schedule");
  }
  opt.learningRate = lr;
}

/** A learning-rate schedule over a run (see {@link scheduledLearningRate}). */
export type LearningRateScheduleSpec =
  | {
    /** Step decay: `lr · gamma^(milestones passed)`, set at each epoch's start. */
    kind: 'step';
    lr: number;
    /** The epochs (whole, ≥ 1) at whose start the rate drops. Give this or `milestoneFractions`. */
    milestones?: number[];
    /** The drops as fractions of the planned epochs, each at epoch `round(fraction · epochs)` (e.g. [0.5, 0.75]). */
    milestoneFractions?: number[];
    /** The factor of each drop (default 0.1). */
    gamma?: number;
  }
  | {
    /**
     * Cosine decay set before every step: after `warmupSteps` steps rising linearly to `lr` (`lr · (step + 1) /
     * warmupSteps`), `finalLr + (lr − finalLr) · ½(1 + cos(π t))` with `t` the fraction of the decay steps done.
     */
    kind: 'cosine';
    lr: number;
    /** The rate at the end (default 0). */
    finalLr?: number;
    /** Linear warm-up steps before the decay (default 0). */
    warmupSteps?: number;
    /** The run's planned steps, warm-up included (default: the fit's epochs × batches per epoch at the Trainer's batch size). */
    totalSteps?: number;
  };

/** What a {@link learningRateSchedule} keeps in a checkpoint: the Trainer step its fit started at. */
export interface LearningRateScheduleState {
  fitStart: number;
}

/** Where in a run a schedule is read: the epoch (0-based) of the planned `epochs`, the step (0-based) of `totalSteps`. */
export interface SchedulePosition {
  epoch: number;
  epochs: number;
  step: number;
  totalSteps: number;
}

/**
 * The learning rate of `schedule` at `at` (pure). Step decay reads the epoch; cosine decay the step, over the
 * schedule's own `totalSteps` when it has them, else `at.totalSteps`, and stays at `finalLr` past them.
 * @throws TrellisError `BAD_OPTION` for an invalid schedule (see {@link checkLearningRateScheduleSpec}), or a cosine
 * schedule without planned steps.
 */
export function scheduledLearningRate(schedule: LearningRateScheduleSpec, at: SchedulePosition): number {
  checkLearningRateScheduleSpec(schedule);
  return rateAt(schedule, at);
}

/** {@link scheduledLearningRate} of a schedule already checked (what the plugin calls at every step). */
function rateAt(schedule: LearningRateScheduleSpec, at: SchedulePosition): number {
  if (schedule.kind === 'step') {
    const gamma = schedule.gamma ?? 0.1;
    const passed = schedule.milestones
      ? schedule.milestones.filter((m) => at.epoch >= m).length
      : schedule.milestoneFractions!.filter((f) => at.epoch >= Math.round(f * at.epochs)).length;
    return schedule.lr * gamma ** passed;
  }
  const warmup = schedule.warmupSteps ?? 0;
  const final = schedule.finalLr ?? 0;
  const total = schedule.totalSteps ?? at.totalSteps;
  check(typeof total === 'number' && Number.isFinite(total), 'BAD_OPTION', () => `a cosine schedule needs the run's planned steps, got ${String(total)}`,
    'pass totalSteps in the schedule, or a position with the planned steps (epochs × batches per epoch)');
  if (at.step < warmup) return (schedule.lr * (at.step + 1)) / warmup;
  const span = total - warmup;
  const t = span > 0 ? Math.min(1, (at.step - warmup) / span) : 1;
  return final + (schedule.lr - final) * 0.5 * (1 + Math.cos(Math.PI * t));
}

function checkFinite(value: unknown, what: string, min: number, fix: string): void {
  check(typeof value === 'number' && Number.isFinite(value) && value >= min, 'BAD_OPTION', () => `the schedule's ${what} ${String(value)} is not a finite number ≥ ${min}`, fix);
}

/**
 * Checks a {@link LearningRateScheduleSpec}.
 * @throws TrellisError `BAD_OPTION` naming the field: an unknown kind, a rate that is not finite and > 0 (`lr`) or
 * ≥ 0 (`finalLr`), milestones that are not whole epochs ≥ 1 or fractions in [0, 1], both or neither kind of
 * milestones, a gamma ≤ 0, warm-up steps that are not a whole number, total steps that are not a finite number ≥ 1
 * or fewer than the warm-up, a key the kind does not read.
 */
export function checkLearningRateScheduleSpec(schedule: LearningRateScheduleSpec): void {
  check(typeof schedule === 'object' && schedule !== null, 'BAD_OPTION', () => `the learning-rate schedule ${String(schedule)} is not an object`,
    "pass e.g. { kind: 'cosine', lr: 1e-3 } or { kind: 'step', lr: 0.1, milestones: [30, 60] }");
  checkChoice(schedule.kind, ['step', 'cosine'] as const, 'learning-rate schedule kind');
  const unread = Object.keys(schedule).filter((k) => !(SCHEDULE_KEYS[schedule.kind] as readonly string[]).includes(k));
  check(unread.length === 0, 'BAD_OPTION', () => `a ${schedule.kind} schedule does not read ${unread.map((k) => `"${k}"`).join(', ')}`,
    `pass only ${SCHEDULE_KEYS[schedule.kind].join(', ')}`);
  checkFinite(schedule.lr, 'lr', 0, 'pass the starting rate, e.g. lr: 1e-3');
  check(schedule.lr > 0, 'BAD_OPTION', () => `the schedule's lr ${schedule.lr} must be > 0`, 'pass the starting rate, e.g. lr: 1e-3');
  if (schedule.kind === 'step') {
    const { milestones, milestoneFractions } = schedule;
    check((milestones === undefined) !== (milestoneFractions === undefined), 'BAD_OPTION', 'a step schedule needs exactly one of milestones (epochs) and milestoneFractions (fractions of the epochs)',
      'pass milestones: [30, 60] or milestoneFractions: [0.5, 0.75]');
    if (milestones !== undefined) {
      check(Array.isArray(milestones) && milestones.every((m) => Number.isInteger(m) && m >= 1), 'BAD_OPTION', () => `the step milestones ${JSON.stringify(milestones)} are not whole epochs ≥ 1`,
        'pass the epochs at whose start the rate drops, e.g. [30, 60] (or milestoneFractions for fractions of the run)');
    } else {
      check(Array.isArray(milestoneFractions) && milestoneFractions.every((f) => typeof f === 'number' && f >= 0 && f <= 1), 'BAD_OPTION',
        () => `the step milestoneFractions ${JSON.stringify(milestoneFractions)} are not fractions in [0, 1]`, 'pass fractions of the planned epochs, e.g. [0.5, 0.75]');
    }
    if (schedule.gamma !== undefined) {
      checkFinite(schedule.gamma, 'gamma', 0, 'pass the factor of each drop, e.g. 0.1');
      check(schedule.gamma > 0, 'BAD_OPTION', () => `the schedule's gamma ${schedule.gamma} must be > 0`, 'pass the factor of each drop, e.g. 0.1');
    }
    return;
  }
  if (schedule.finalLr !== undefined) checkFinite(schedule.finalLr, 'finalLr', 0, 'pass the rate at the end, e.g. 0 (the default)');
  const { warmupSteps, totalSteps } = schedule;
  check(warmupSteps === undefined || (Number.isInteger(warmupSteps) && warmupSteps >= 0), 'BAD_OPTION', () => `the schedule's warmupSteps ${String(warmupSteps)} is not a whole number ≥ 0`,
    'pass warmupSteps as a count of optimizer steps');
  check(totalSteps === undefined || (typeof totalSteps === 'number' && Number.isFinite(totalSteps) && totalSteps >= 1), 'BAD_OPTION',
    () => `the schedule's totalSteps ${String(totalSteps)} is not a finite number of steps ≥ 1`, 'pass the planned optimizer steps (epochs × batches per epoch), or leave totalSteps out to plan them from the fit');
  check(totalSteps === undefined || (warmupSteps ?? 0) <= totalSteps, 'BAD_OPTION', () => `the schedule's warm-up (${warmupSteps} steps) is longer than its ${totalSteps} steps`,
    'pass warmupSteps ≤ totalSteps');
}

/** The keys each schedule kind reads (any other is a typo or belongs to the other kind). */
const SCHEDULE_KEYS = { step: ['kind', 'lr', 'milestones', 'milestoneFractions', 'gamma'], cosine: ['kind', 'lr', 'finalLr', 'warmupSteps', 'totalSteps'] } as const;

/**
 * A core plugin that sets the optimizer's learning rate from a {@link LearningRateScheduleSpec} (step decay at each epoch's
 * start, cosine decay with optional warm-up before every step) through {@link setLearningRate}, and logs it as `lr`.
 * One plugin per Trainer may set the rate (`LR_SCHEDULE_CONFLICT` otherwise). Without `totalSteps` each fit plans its
 * own steps (epochs × batches at the Trainer's batch size) and the schedule starts with it; with `totalSteps` it follows
 * the Trainer's step count across fits. A resumed fit picks up the rate of its epoch and step.
 * @throws TrellisError `BAD_OPTION` for a bad schedule (see {@link checkLearningRateScheduleSpec}) or options.
 */
export function learningRateSchedule(schedule: LearningRateScheduleSpec, options: { name?: string } = {}): TrainerPlugin<LearningRateScheduleState> {
  checkLearningRateScheduleSpec(schedule);
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', () => `learningRateSchedule's options ${String(options)} are not an object`, "pass { name: 'my-schedule' } or leave them out");
  const name = options.name ?? 'lr-schedule';
  // Steps are counted from the fit's first step: a second fit on the same Trainer plans and runs its own schedule.
  // A schedule given totalSteps follows the Trainer's step count instead (ctx.step, across fits).
  let fitStart = 0;
  let restored = false;
  const position = (ctx: TrainerContext): SchedulePosition => {
    const planned = ctx.train ? ctx.epochs * ctx.train.numBatches(ctx.batchSize) : Number.NaN;
    const own = schedule.kind === 'cosine' && schedule.totalSteps !== undefined;
    return { epoch: ctx.epoch, epochs: ctx.epochs, step: own ? ctx.step : ctx.step - fitStart, totalSteps: planned };
  };
  return {
    name,
    apiVersion: 1,
    order: 'pre',
    onFitStart(ctx) {
      // a resumed fit continues from the step its checkpoint recorded (setState); a new fit starts here
      if (!restored) fitStart = ctx.step;
      restored = false;
    },
    getState: () => ({ fitStart }),
    setState(s) {
      check(s !== null && typeof s === 'object' && Number.isInteger(s.fitStart) && s.fitStart >= 0, 'BAD_STATE', () => `saved learning-rate schedule state ${JSON.stringify(s)} is not { fitStart }`,
        'restore a state saved by a learningRateSchedule plugin');
      fitStart = s.fitStart;
      restored = true;
    },
    onEpochStart(ctx) {
      if (schedule.kind === 'step') setLearningRate(ctx.optimizer, rateAt(schedule, position(ctx)), `plugin "${name}"`);
    },
    onBatchStart(ctx) {
      if (schedule.kind !== 'cosine') return;
      const at = position(ctx);
      check(schedule.totalSteps !== undefined || Number.isFinite(at.totalSteps), 'BAD_OPTION', `plugin "${name}" cannot plan a cosine schedule: the run's step count is unknown (a step outside fit)`,
        'pass totalSteps in the schedule');
      setLearningRate(ctx.optimizer, rateAt(schedule, at), `plugin "${name}"`);
    },
    onBatchEnd(ctx) {
      const lr = learningRateOf(ctx.optimizer);
      if (lr !== undefined) ctx.logs.lr = lr;
    },
  };
}
