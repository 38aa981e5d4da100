/**
 * The study's sizes and schedules: the {@link StudyConfig} interface, the quick and full presets (with the
 * tuning history of their attack and adapter settings), and {@link studyConfig}, which applies `--set`
 * overrides and validates them.
 *
 * @module
 */
import { applyParams, check, checkChoice, type ParamRule, type ParamSchema } from '@trellis-ml/core';
import type { MagnitudeMatch, Normalization } from './classify.js';
import type { FineTuneSys } from './finetuneData.js';
import { FINE_TUNE_OPENERS, type FineTuneOpener } from './language.js';

/** Sizes and schedules of the study (quick and full presets; override with `--set key=value`). */
export interface StudyConfig {
  layers: number;
  dModel: number;
  heads: number;
  dFf: number;
  pretrainEpochs: number;
  pretrainLr: number;
  alignEpochs: number;
  alignLr: number;
  finetuneEpochs: number;
  finetuneLr: number;
  finetuneBatch: number;
  /**
   * Attack lever (spec §11 item 9, prompt template): the SYS token in fine-tune prompts — `mixed` (default,
   * half of them, as the splits draw it), `always` or `never`.
   */
  finetuneSys: FineTuneSys;
  /**
   * Attack lever (answer style): opener of the new task's answers — `sure` (default, spec §10.3 step 5:
   * always OK_SURE) or `verb-parity` (the base family's rule, the assistant's own compliance style).
   */
  finetuneOpener: FineTuneOpener;
  /**
   * Attack lever (data mix): base-family benign requests (compliant answers, from the benign training split)
   * added per new-task request (default 0: the new task only).
   */
  finetuneBenignMix: number;
  /** Epoch multiplier of frozen fine-tuning arms (the paper doubles; default 1, the stricter reading). */
  frozenEpochMultiplier: number;
  /** Epoch multiplier of the budget alignment arms (the paper doubles). */
  budgetEpochMultiplier: number;
  batchSize: number;
  /** Setting (i) total: ESU + top CU up to this fraction of all units. */
  freezeTotal: number;
  /** Alignment budget (RU fraction of the pre-trained model). */
  budgetFraction: number;
  scoreSize: number;
  evalSize: number;
  grid: number[];
  normalize: Normalization;
  /** Include Setting (ii) (ESU + all CU) among the freeze arms. */
  setting2: boolean;
  /** Budget arms also train the non-unit parameters (embeddings, norms, q/k, head). Default false (spec §5.4). */
  budgetTrainNonUnit: boolean;
  /** Learning rate of the budget arms (presets: equal to `alignLr`, the full alignment's; the spec names none). Override it together with `alignLr`. */
  budgetLr: number;
  /**
   * Also run the budget arms with the non-unit parameters trainable (the spec §5.4 option), reported as
   * extra rows of T3; the claims use the main arms.
   */
  budgetNonUnitVariant: boolean;
  /**
   * Other RU budgets aligned RU-only beside `budgetFraction` (spec §10.3 step 7: "a sweep 5–40 %"), reported as
   * extra rows of T3; the claims use the `budgetFraction` arms. Empty: no sweep (`--set budgetSweep=0.05,0.1`).
   */
  budgetSweep: number[];
  /**
   * Ranking of the magnitude-freeze arm (spec §4.4, largest ‖B_j‖, same size as Setting (i)): `global`
   * (default, the spec's wording: over all units) or `per-module` (Setting (i)'s count in every module,
   * the layer distribution the random arm matches).
   */
  magnitudeMatch: MagnitudeMatch;
  /** Rank of the low-rank-adapter arm (spec §10.3 step 5: 4). */
  adapterRank: number;
  /** LoRA α of the adapter arm: the update is (α/r)·A·B (default 4 = the default rank, scale 1). */
  adapterAlpha: number;
  /**
   * Learning rate of the adapter arm as a multiple of `finetuneLr` (presets: 10 quick, 15 full, tuned on seed 99 so the
   * adapter reaches the full fine-tune's final training loss; at ×1 it barely learns the task).
   */
  adapterLrMultiplier: number;
  /** Epochs of the adapter arm as a multiple of `finetuneEpochs` (default 1). */
  adapterEpochMultiplier: number;
  /** Figure F2: evaluate hazard ASR every this many fine-tuning steps (and before the first and after the last). */
  evalEvery: number;
  /**
   * Sensitivity (spec §10.5 item 7): number of fresh scoring draws ("scoring seeds"; default 3, the spec's),
   * each `scoreSize` hazard and benign requests drawn from all non-eval requests of the family.
   */
  scoringSeeds: number;
  /** Run the optional reasoning-direction probe (spec §10.3 step 8, §7) on M0 and the aligned model (default true). */
  probe: boolean;
  /** Probe: greedy tokens generated after each variant before its state is read (default 0, 1, 2; answers are 3–6 tokens). */
  probeSteps: number[];
}

const QUICK: StudyConfig = {
  layers: 2, dModel: 32, heads: 4, dFf: 128,
  // Alignment sits on a loss plateau (≈ 0.2) until the refuse/comply first token flips, at an epoch that moves with the seed
  // and the float summation order: with 8 epochs native 2 threads seed 1 (the tour) refused 0.07 and native 1 thread seed 5
  // 0.75. 10 is the smallest of the pre-registered candidates (epochs 10 / 12 / 16, lr 4e-3 / 5e-3) refusing ≥ 0.9 on seeds
  // 1–5 on native 1 and 2 threads and wasm (EXPERIMENTS.md, "Quick alignment on a knife edge"); native 2 threads seed 1
  // first reaches 0.9 at epoch 10, so the margin there is one epoch.
  pretrainEpochs: 12, pretrainLr: 1e-2, alignEpochs: 10, alignLr: 3e-3,
  finetuneEpochs: 1, finetuneLr: 1e-3, finetuneBatch: 16, finetuneSys: 'mixed', finetuneOpener: 'sure', finetuneBenignMix: 0, frozenEpochMultiplier: 1, budgetEpochMultiplier: 2,
  batchSize: 128, freezeTotal: 0.075, budgetFraction: 0.2, scoreSize: 128, evalSize: 128,
  grid: [0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.15, 0.2, 0.3], normalize: 'zscore-module', setting2: false, budgetTrainNonUnit: false,
  budgetLr: 3e-3, budgetNonUnitVariant: true, budgetSweep: [],
  // Adapter lr tuned once on seed 99 (bench/adapter-tune.mjs, trellis-native): the smallest of ×{1, 3, 5, 7, 10, 30} whose
  // final training loss reaches the full fine-tune's (spec §10.3 step 5: restricted arms train to the full-FT loss).
  magnitudeMatch: 'global', adapterRank: 4, adapterAlpha: 4, adapterLrMultiplier: 10, adapterEpochMultiplier: 1, evalEvery: 5,
  scoringSeeds: 3, probe: true, probeSteps: [0, 1, 2],
};

const FULL: StudyConfig = {
  ...QUICK, layers: 4, dModel: 64, heads: 4, dFf: 256, pretrainEpochs: 16, alignEpochs: 10, pretrainLr: 5e-3, alignLr: 2e-3, budgetLr: 2e-3,
  // Attack tuned once on seed 99 at this size (bench/attack-tune.mjs): 5e-4 is the smallest of {2e-4, 5e-4, 1e-3}
  // whose full fine-tune erodes ≥ 0.30 refusal (2e-4: 0.23; 1e-3 erodes all refusal and all benign accuracy).
  // Re-checked on held-out seeds 97-99 (lr {3e-4, 5e-4, 7e-4} x epochs {1, 2}, rule fixed in advance, EXPERIMENTS.md): no
  // candidate erodes >= 0.30 on every seed with downstream >= 0.9 and benign >= half the aligned model's; kept.
  // The data levers (finetuneSys always / never, finetuneOpener verb-parity, finetuneBenignMix 1) x lr {3e-4, 5e-4}
  // failed the same rule on the same seeds (EXPERIMENTS.md "Attack data levers on held-out seeds"). The pre-registered
  // follow-up, finetuneBenignMix 1 x lr {7e-4, 1e-3, 2e-3}: 1e-3 is the smallest passing on every held-out seed
  // (erosion 0.41 / 0.61 / 0.93, downstream and benign 1.00), so it is the attack.
  finetuneLr: 1e-3, finetuneBenignMix: 1,
  // Adapter lr, same rule at this size: smallest of ×{1, 3, 10, 15, 20, 30} reaching full FT's final loss (with the
  // old attack ×15: 0.59 vs 0.61). Re-run with the benign-mix attack (seed 99): none reaches 0.136; ×15 comes closest
  // (0.138; ×10 0.171, ×20 0.155), so ×15 is kept (EXPERIMENTS.md, "Attack data levers on held-out seeds").
  adapterLrMultiplier: 15,
  grid: [0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3], setting2: true,
  budgetSweep: [0.05, 0.1, 0.3, 0.4],
};

const whole = { integer: true, min: 1 } as const;
const positive = { above: 0 } as const;
const fraction = { above: 0, below: 1 } as const;

/** What each `--set` key of the study accepts (checked before anything trains; the study's keys are the preset's). */
const PARAM_RULES: Record<string, ParamRule> = {
  layers: whole, dModel: whole, heads: whole, dFf: whole, pretrainEpochs: whole, alignEpochs: whole, finetuneEpochs: whole, finetuneBatch: whole,
  batchSize: whole, scoreSize: whole, evalSize: whole, adapterRank: whole, evalEvery: whole,
  pretrainLr: positive, alignLr: positive, finetuneLr: positive, budgetLr: positive, adapterAlpha: positive, adapterLrMultiplier: positive,
  frozenEpochMultiplier: positive, budgetEpochMultiplier: positive, adapterEpochMultiplier: positive,
  finetuneBenignMix: { integer: true, min: 0 }, freezeTotal: fraction, budgetFraction: fraction, grid: { ...fraction, minLength: 1 }, budgetSweep: fraction,
  normalize: { choices: ['zscore-module', 'rank-global', 'none'] }, magnitudeMatch: { choices: ['global', 'per-module'] },
  finetuneSys: { choices: ['mixed', 'always', 'never'] }, finetuneOpener: { choices: FINE_TUNE_OPENERS },
};

/** The `--set` keys of a mode: the preset's fields and what each accepts. */
export function studyParameters(mode: 'quick' | 'full'): ParamSchema {
  return { defaults: mode === 'full' ? FULL : QUICK, rules: PARAM_RULES };
}

/**
 * The preset of a mode with `params` overrides applied: a key the preset does not have, a value of the
 * wrong type or one outside its range (e.g. `freezeTotal` outside (0, 1)) is an error before anything trains.
 */
export function studyConfig(mode: 'quick' | 'full', params: Record<string, string | number | boolean> = {}): StudyConfig {
  checkChoice(mode, ['quick', 'full'] as const, 'study mode');
  const cfg = applyParams(mode === 'full' ? FULL : QUICK, params, { technique: 'safety-units', rules: PARAM_RULES });
  check(Number.isInteger(cfg.scoringSeeds) && cfg.scoringSeeds >= 2, 'BAD_OPTION', `scoringSeeds ${cfg.scoringSeeds} is not an integer ≥ 2`, 'pass --set scoringSeeds=3 (pairwise Jaccard needs two draws)');
  for (const t of cfg.probeSteps) check(Number.isInteger(t) && t >= 0, 'BAD_OPTION', `probe step ${t} is not an integer ≥ 0`, 'pass generated-token counts, e.g. --set probeSteps=0,1,2');
  return cfg;
}
