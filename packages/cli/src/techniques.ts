import type { TechniqueExperiment } from '@trellis-ml/core';

/** A technique subcommand slot: its name and how to load its experiment. */
export interface TechniqueEntry {
  name: string;
  package: string;
  description: string;
  /** Whether its study resumes (`--resume`); equals the loaded experiment's `resumable` (a CLI test checks). */
  resumable: boolean;
  load(): Promise<TechniqueExperiment>;
}

/** One slot: the package is `@trellis-ml/<name>`, and `load` imports it only when its subcommand runs. */
function technique(name: string, description: string, load: () => Promise<{ experiment: TechniqueExperiment }>, resumable = false): TechniqueEntry {
  return { name, package: `@trellis-ml/${name}`, description, resumable, load: async () => (await load()).experiment };
}

/** The technique subcommands, in tour order. Each technique package exports `experiment`. */
export const TECHNIQUES: TechniqueEntry[] = [
  technique('privacy', 'membership-inference defenses (CRL, SRCM, RelaxLoss) vs threshold/shadow/LiRA/RMIA attacks', () => import('@trellis-ml/privacy'), true),
  technique('fair-prune', 'pruning without disparate impact: per-group drops, indicators, constrained fine-tuning', () => import('@trellis-ml/fair-prune'), true),
  technique('safety-units', 'find, freeze and align the few units that carry safety in a tiny language model', () => import('@trellis-ml/safety-units'), true),
  technique('dynamic-depth', 'Leader + Teammate nets: one weight set serving many depths, chosen to fit a budget', () => import('@trellis-ml/dynamic-depth'), true),
  technique('uda-calibration', 'adapt to an unlabeled shifted domain without over-certainty (certainty distillation vs TENT)', () => import('@trellis-ml/uda-calibration'), true),
  technique('distill', 'teacher-free distillation from autoencoder soft labels (ReffAKD) vs KD, DKD, DIST, LS, Tf-KD', () => import('@trellis-ml/distill'), true),
  technique('retrain-cost', 'predict retraining cost under a shift from one forward pass (PreIndex, ARM, RESQUE); energy/CO2 tracker', () => import('@trellis-ml/retrain-cost'), true),
];
