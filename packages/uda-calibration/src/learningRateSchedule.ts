/**
 * Learning-rate schedules of the adaptation methods: constant, or SHOT's decay
 * `lr · (1 + 10·progress)^−0.75` (Liang et al., ICML 2020; tim-learn/SHOT).
 */
import { check, checkChoice, TrellisError } from '@trellis-ml/core';

/** `'constant'`: the optimizer's learning rate throughout. `'shot-decay'`: SHOT's `(1 + 10·progress)^−0.75` decay. */
export type LearningRateSchedule = 'constant' | 'shot-decay';

/** The schedules {@link checkLearningRateSchedule} accepts. */
export const LEARNING_RATE_SCHEDULES: readonly LearningRateSchedule[] = ['constant', 'shot-decay'];

/** Throws `BAD_LR_SCHEDULE` unless `schedule` is one of {@link LEARNING_RATE_SCHEDULES}. */
export function checkLearningRateSchedule(schedule: unknown): asserts schedule is LearningRateSchedule {
  checkChoice(schedule, LEARNING_RATE_SCHEDULES, 'learning-rate schedule', { code: 'BAD_LR_SCHEDULE', fix: `use one of: ${LEARNING_RATE_SCHEDULES.join(', ')}` });
}

/**
 * SHOT's learning rate for optimizer step `step` (0-based) of `totalSteps`:
 * `baseLr · (1 + 10·p)^−0.75` with `p = min(1, (step + 1)/totalSteps)` — the released code counts
 * the step before scheduling it, so the first step already decays slightly and the last one runs at
 * `baseLr · 11^−0.75 ≈ 0.166 · baseLr`. Throws `NO_TOTAL_STEPS` unless `totalSteps` is a positive
 * whole number.
 */
export function shotLearningRate(baseLr: number, step: number, totalSteps: number): number {
  if (!(Number.isInteger(totalSteps) && totalSteps >= 1)) {
    throw new TrellisError('NO_TOTAL_STEPS', `SHOT's learning-rate decay needs the planned number of optimizer steps, got ${totalSteps}`,
      'pass `totalSteps` (epochs × batches per epoch), or adapt through createAdaptation/runStream or Trainer.fit, which plan it');
  }
  const progress = Math.min(1, Math.max(0, (step + 1) / totalSteps));
  return baseLr * (1 + 10 * progress) ** -0.75;
}
