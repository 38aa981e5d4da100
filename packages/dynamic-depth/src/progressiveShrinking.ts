import { check } from '@trellis-ml/core';

/**
 * One phase of Once-for-All's progressive shrinking of depth: how long it runs relative to the other
 * phases, its learning rate relative to the rate the full-depth network was trained with, and how
 * many of the menu's shallowest depths it still leaves out.
 */
export interface OfaPhase {
  /** Relative length (OFA's epochs: 25 and 120); the fine-tuning steps are split in these proportions. */
  length: number;
  /** Peak learning rate of the phase as a multiple of the full-depth training rate (cosine to 0 within the phase). */
  lrRatio: number;
  /** How many of the menu's shallowest depths the phase does not sample (OFA: 1, then 0). */
  drop: number;
}

/**
 * OFA's two elastic-depth phases (mit-han-lab/once-for-all `train_ofa_net.py`, task `depth`):
 * phase 1 samples depths {3, 4} of {2, 3, 4} for 25 epochs at base lr 2.5e-3, phase 2 samples all of
 * {2, 3, 4} for 120 epochs at 7.5e-3. The rates are taken relative to 3e-2, the base rate of the
 * stage OFA runs before elastic depth (elastic kernel, which starts from the trained full network):
 * 2.5e-3 / 3e-2 = 1/12 and 7.5e-3 / 3e-2 = 1/4 of the full-depth rate.
 */
export const OFA_DEPTH_PHASES: readonly OfaPhase[] = Object.freeze([
  { length: 25, lrRatio: 2.5e-3 / 3e-2, drop: 1 },
  { length: 120, lrRatio: 7.5e-3 / 3e-2, drop: 0 },
]);

/** One phase placed on the step axis by {@link ofaDepthSchedule}: steps `[start, start + steps)`. */
export interface OfaPhaseSpan extends OfaPhase {
  /** Phase index, 0-based. */
  phase: number;
  start: number;
  steps: number;
}

/** Checks a list of phases (BAD_OPTION naming the bad field). */
export function checkOfaPhases(phases: readonly OfaPhase[]): void {
  check(Array.isArray(phases) && phases.length > 0, 'BAD_OPTION', 'progressive shrinking needs at least one phase', 'pass phases such as OFA_DEPTH_PHASES');
  phases.forEach((p, i) => {
    check(p !== null && typeof p === 'object', 'BAD_OPTION', `phase ${i} is ${String(p)}, not { length, lrRatio, drop }`, 'pass phases such as OFA_DEPTH_PHASES');
    check(Number.isFinite(p.length) && p.length > 0, 'BAD_OPTION', `phase ${i} has length ${p.length}; lengths are numbers > 0`, 'pass relative lengths such as 25 and 120 (OFA\'s epochs)');
    check(Number.isFinite(p.lrRatio) && p.lrRatio > 0, 'BAD_OPTION', `phase ${i} has lrRatio ${p.lrRatio}; it must be a number > 0`, 'pass the phase rate as a multiple of the full-depth rate, e.g. 0.25');
    check(Number.isInteger(p.drop) && p.drop >= 0, 'BAD_OPTION', `phase ${i} has drop ${p.drop}; it must be a whole number ≥ 0`, 'pass how many of the shallowest depths the phase leaves out, e.g. 1 then 0');
  });
}

/**
 * Splits `totalSteps` fine-tuning steps into the phases in proportion to their lengths: phase k ends
 * at `round(totalSteps · (l_1 + … + l_k) / Σ l)` (the last at `totalSteps`), and every phase keeps at
 * least one step. Example: 87 steps with OFA's 25 : 120 give phase 1 steps 0–14 (87 · 25/145 = 15) and
 * phase 2 steps 15–86. Throws BAD_OPTION when there are fewer steps than phases.
 */
export function ofaDepthSchedule(totalSteps: number, phases: readonly OfaPhase[] = OFA_DEPTH_PHASES): OfaPhaseSpan[] {
  checkOfaPhases(phases);
  check(Number.isInteger(totalSteps) && totalSteps >= phases.length, 'BAD_OPTION',
    `progressive shrinking over ${totalSteps} steps cannot give each of its ${phases.length} phases a step`, `train for at least ${phases.length} steps (a whole number)`);
  const total = phases.reduce((s, p) => s + p.length, 0);
  const out: OfaPhaseSpan[] = [];
  let cumulative = 0;
  let start = 0;
  phases.forEach((p, i) => {
    cumulative += p.length;
    const last = i === phases.length - 1;
    const ideal = last ? totalSteps : Math.round((totalSteps * cumulative) / total);
    // at least one step for this phase and for each phase after it
    const end = Math.min(Math.max(ideal, start + 1), totalSteps - (phases.length - 1 - i));
    out.push({ ...p, phase: i, start, steps: end - start });
    start = end;
  });
  return out;
}

function checkStep(step: number): void {
  check(Number.isInteger(step) && step >= 0, 'BAD_OPTION', `step ${String(step)} is not a whole number ≥ 0`, 'pass the 0-based optimizer step, e.g. ctx.step');
}

/** The phase that step `step` (0-based, a whole number) falls in; steps past the end stay in the last phase. */
export function ofaPhaseAt(schedule: readonly OfaPhaseSpan[], step: number): OfaPhaseSpan {
  check(Array.isArray(schedule) && schedule.length > 0, 'BAD_OPTION', 'the schedule has no phase', 'build it with ofaDepthSchedule');
  checkStep(step);
  return schedule.find((p) => step < p.start + p.steps) ?? schedule[schedule.length - 1]!;
}

/**
 * The learning rate of step `step`: `baseLr · lrRatio · (1 + cos(π · t / steps)) / 2` with `t` the
 * step's offset in its phase: each phase restarts at its own peak and decays by a cosine towards 0,
 * as OFA runs each phase as its own cosine schedule. Example: base 1e-3, phase 2 of OFA (ratio 1/4)
 * starting at step 15 and lasting 72 steps: 2.5e-4 at step 15, 1.25e-4 at step 51. Steps before the
 * span read its peak, steps after it 0; `step` is a whole number ≥ 0 (BAD_OPTION otherwise).
 */
export function ofaLearningRate(baseLr: number, span: OfaPhaseSpan, step: number): number {
  check(Number.isFinite(baseLr) && baseLr > 0, 'BAD_OPTION', `learning rate ${baseLr} must be a number > 0`, 'pass the full-depth training rate, e.g. 1e-3');
  check(span !== null && typeof span === 'object' && Number.isFinite(span.lrRatio) && span.lrRatio > 0 && Number.isInteger(span.start) && span.start >= 0
    && Number.isInteger(span.steps) && span.steps >= 1, 'BAD_OPTION', () => `phase span ${JSON.stringify(span)} needs lrRatio > 0, a whole start ≥ 0 and steps ≥ 1`,
  'pass a span from ofaDepthSchedule (or ofaPhaseAt)');
  checkStep(step);
  const t = Math.min(Math.max(step - span.start, 0), span.steps);
  return baseLr * span.lrRatio * 0.5 * (1 + Math.cos((Math.PI * t) / span.steps));
}

/**
 * The depths a phase samples: the menu (shallowest first) without its `drop` shallowest depths, and
 * never fewer than the deepest one. OFA's phase 1 (`drop: 1`) of {2, 3, 4} is {3, 4}; of this
 * package's `d2, d4, d6` it is `d4, d6`.
 */
export function ofaPhaseMenu<T>(menuShallowFirst: readonly T[], drop: number): T[] {
  check(menuShallowFirst.length > 0, 'EMPTY_DEPTH_MENU', 'the depth menu is empty', 'pass the menu, shallowest depth first');
  check(Number.isInteger(drop) && drop >= 0, 'BAD_OPTION', `drop ${drop} must be a whole number ≥ 0`, 'pass how many of the shallowest depths to leave out');
  return menuShallowFirst.slice(Math.min(drop, menuShallowFirst.length - 1));
}
