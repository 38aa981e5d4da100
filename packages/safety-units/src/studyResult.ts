/**
 * What one seed of the study produces ({@link SeedResult}, with one {@link ArmResult} per fine-tuning arm) and
 * the look-ups and averages over seeds that the claims and the report share.
 *
 * @module
 */
import { meanStd } from '@trellis-ml/core';
import type { AcceptanceCheck } from './acceptance.js';
import type { SweepPoint } from './calibrate.js';
import { transferShares } from './classify.js';
import type { SafetyMetrics } from './lmEval.js';
import type { ProbePoint } from './probe.js';
import type { UnitGroup } from './units.js';

/** One fine-tuning arm of one seed: what it froze or trained, and the model's metrics before and after. */
export interface ArmResult {
  arm: string;
  frozenUnits: number;
  /** Frozen unit fraction (NaN for the adapter arm, which freezes every base weight and trains A·B). */
  frozenFraction: number;
  frozenParamFraction: number;
  /** Trainable parameters / all parameters of the model (adapter arm: adapter parameters / base parameters). */
  trainableParamFraction: number;
  before: SafetyMetrics;
  after: SafetyMetrics;
  harm: { mean: number; rate5: number };
  finalLoss: number;
  /** Refusal after / refusal before. */
  retained: number;
  /** Hazard ASR (mean of w/ and w/o SYS) after `step` fine-tuning steps (figure F2). */
  curve: Array<{ step: number; asr: number }>;
}

/** Everything one seed of the study measured (the report and the claims average these over seeds). */
export interface SeedResult {
  seed: number;
  m0: SafetyMetrics;
  aligned: SafetyMetrics;
  fractions: { esu: number; euu: number; ru: number };
  counts: Record<string, number>;
  ablation: Array<{ row: string; unitFraction: number; paramFraction: number; m: SafetyMetrics }>;
  sweep: { dense: { utility: number; refusal: number }; points: SweepPoint[] };
  arms: ArmResult[];
  transfer: { full: number[][]; setting1: number[][]; unitsDiffering: number; esuKeptFull: number; esuKeptSetting1: number };
  /** Wei-style rewind after full fine-tuning (spec §4.3 `rewind-after`): refusal and downstream accuracy per rewound region. */
  rewind: Array<{ region: string; refusal: number; finetuneAcc: number }>;
  /** Attention channels and MLP channels in the Setting (i) set and in the magnitude set (where the magnitude ranking lands). */
  split: { setting1: { attn: number; mlp: number }; magnitude: { attn: number; mlp: number } };
  budget: Array<{ arm: string; m: SafetyMetrics; unitFraction: number }>;
  jaccard: Record<string, number>;
  /** Spec §10.3 steps 1–2 acceptance checks of this seed's M0 and aligned model. */
  acceptance: AcceptanceCheck[];
  /** Group sizes with the paper's fixed fractions (spec §10.3 step 3; `counts` are the calibrated ones). */
  paperCounts: Record<string, number>;
  /** Sensitivity (spec §10.5 item 7): Jaccard of ESU sets, with the calibrated and with the paper's ESU fraction. */
  sensitivity: Record<string, { calibrated: number; paper: number }>;
  /** Reasoning-direction probe (spec §10.3 step 8) of M0 and of the aligned model; empty when `probe` is off. */
  probe: { m0: ProbePoint[]; aligned: ProbePoint[] };
  unitMap: Array<{ module: string; unit: number; group: string }>;
  perModule: Array<{ module: string; ESU: number; EUU: number; CU: number; RU: number }>;
}

/** The arm named `name` of a seed. */
export const armResult = (r: SeedResult, name: string): ArmResult => r.arms.find((a) => a.arm === name)!;

/** Metrics of the T1 ablation row named `row` of a seed. */
export const ablationMetrics = (r: SeedResult, row: string): SafetyMetrics => r.ablation.find((a) => a.row === row)!.m;

/** Utility cost of a model against the seed's M0: mean drop of benign and skill exact match. */
export const utilityCost = (r: SeedResult, m: SafetyMetrics): number => ((r.m0.benignAcc - m.benignAcc) + (r.m0.skillAcc - m.skillAcc)) / 2;

/** Where the aligned model's ESU went after full fine-tuning or under freeze (i): the ESU row of the transfer matrix, normalised. */
export const esuFate = (r: SeedResult, which: 'full' | 'setting1'): Record<UnitGroup, number> => transferShares(r.transfer[which], 'ESU');

/** Mean and sd over seeds of a per-seed number. */
export function mean(results: SeedResult[], f: (r: SeedResult) => number): { mean: number; std: number } {
  return meanStd(results.map(f));
}

/** Every metric of `f(r)` averaged over the seeds (key by key). */
export function meanMetrics(results: SeedResult[], f: (r: SeedResult) => SafetyMetrics): SafetyMetrics {
  const keys = Object.keys(results[0]!.m0) as Array<keyof SafetyMetrics>;
  return Object.fromEntries(keys.map((k) => [k, meanStd(results.map((r) => f(r)[k])).mean])) as unknown as SafetyMetrics;
}
