/**
 * The benign fine-tuning attack's training requests (spec §10.3 step 5) and its data-mix / template
 * levers (spec §11 item 9: erosion depends on the prompt template and the data). Every lever keeps the
 * data benign: no hazard object and no refusal target ever enters the fine-tune set. The answer-opener
 * lever lives in the language ({@link LanguageOptions.fineTuneOpener}), because the downstream
 * evaluation must score the same answers the attack trains on.
 *
 * @module
 */
import { check, checkChoice, Rng } from '@trellis-ml/core';
import type { Request, StudySplits } from './language.js';

/**
 * The SYS token in fine-tune prompts: `mixed` (default: as the splits drew it, half of the prompts),
 * `always` or `never`.
 */
export type FineTuneSys = 'mixed' | 'always' | 'never';

/** Levers of {@link fineTuneRequests}. */
export interface FineTuneMixOptions {
  /** SYS token in every fine-tune prompt (default `mixed`). */
  sys?: FineTuneSys;
  /**
   * Base-family benign requests (from the benign training split, compliant answers) added per new-task
   * request: `round(benignMix × |new-task train|)` of them, a seeded draw without replacement (default 0).
   */
  benignMix?: number;
  /** Seed of the benign draw (the study passes the run seed). */
  seed: number;
}

const SYS_VALUES: readonly FineTuneSys[] = ['mixed', 'always', 'never'];

/**
 * Checks the SYS and benign-mix levers (the one check of both, for {@link fineTuneRequests} and the study
 * config; the pool-size bound needs the splits and stays in {@link fineTuneRequests}).
 * @throws TrellisError `BAD_OPTION` for an unknown SYS setting or a mix that is not a number ≥ 0.
 */
export function checkFineTuneMix(sys: FineTuneSys, benignMix: number): void {
  checkChoice(sys, SYS_VALUES, 'finetuneSys', { fix: `pass one of ${SYS_VALUES.join(', ')}, e.g. --set finetuneSys=always` });
  check(Number.isFinite(benignMix) && benignMix >= 0, 'BAD_OPTION', `finetuneBenignMix ${benignMix} is not a number ≥ 0`, 'pass base-family benign requests per new-task request, e.g. --set finetuneBenignMix=1 (0: the new task only)');
}

/**
 * The requests of the benign fine-tune set (all answered compliantly): the new task family's training
 * requests, plus the optional benign mix, with the SYS lever applied to all of them. With the defaults
 * it returns `splits.finetune.train` itself (same requests, same order).
 */
export function fineTuneRequests(splits: StudySplits, options: FineTuneMixOptions): Request[] {
  check(Number.isFinite(options?.seed), 'NO_SEED', 'fineTuneRequests needs a numeric seed', 'pass { seed } (the run seed), e.g. fineTuneRequests(splits, { seed: 1 })');
  const sys = options.sys ?? 'mixed';
  const mix = options.benignMix ?? 0;
  checkFineTuneMix(sys, mix);
  const task = splits.finetune.train;
  const count = Math.round(mix * task.length);
  const pool = splits.benign.train;
  check(count <= pool.length, 'BAD_OPTION', `finetuneBenignMix ${mix} asks for ${count} benign requests, the benign training split has ${pool.length}`, `pass finetuneBenignMix ≤ ${(pool.length / task.length).toFixed(2)}`);
  if (sys === 'mixed' && count === 0) return task;
  const order = Rng.derive(options.seed, 'finetune-benign-mix').permutation(pool.length);
  const benign = Array.from(order.slice(0, count), (i) => pool[i]!);
  const all = [...task, ...benign];
  return sys === 'mixed' ? all : all.map((r) => ({ ...r, sys: sys === 'always' }));
}
