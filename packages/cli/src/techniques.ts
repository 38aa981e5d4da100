import type { TechniqueExperiment } from '@trellis-ml/core';

/** A technique subcommand slot: its name and how to load its experiment. */
export interface TechniqueEntry {
  name: string;
  package: string;
  description: string;
  load(): Promise<TechniqueExperiment>;
}

/**
 * The technique subcommands, in tour order. Each technique package exports `experiment`; the
 * CLI imports it only when its subcommand runs.
 */
export const TECHNIQUES: TechniqueEntry[] = [
  {
    name: 'privacy',
    package: '@trellis-ml/privacy',
    description: 'membership-inference defenses (CRL, SRCM, RelaxLoss) vs threshold/shadow/LiRA attacks',
    load: async () => (await import('@trellis-ml/privacy')).experiment,
  },
  {
    name: 'fair-prune',
    package: '@trellis-ml/fair-prune',
    description: 'pruning without disparate impact: per-group drops, indicators, constrained fine-tuning',
    load: async () => (await import('@trellis-ml/fair-prune')).experiment,
  },
  {
    name: 'safety-units',
    package: '@trellis-ml/safety-units',
    description: 'find, freeze and align the few units that carry safety in a tiny language model',
    load: async () => (await import('@trellis-ml/safety-units')).experiment,
  },
  {
    name: 'dynamic-depth',
    package: '@trellis-ml/dynamic-depth',
    description: 'Leader + Teammate nets: one weight set serving many depths, chosen to fit a budget',
    load: async () => (await import('@trellis-ml/dynamic-depth')).experiment,
  },
  {
    name: 'uda-calibration',
    package: '@trellis-ml/uda-calibration',
    description: 'adapt to an unlabeled shifted domain without over-certainty (certainty distillation vs TENT)',
    load: async () => (await import('@trellis-ml/uda-calibration')).experiment,
  },
  {
    name: 'distill',
    package: '@trellis-ml/distill',
    description: 'teacher-free distillation from autoencoder soft labels (ReffAKD) vs KD, DKD, DIST, LS, Tf-KD',
    load: async () => (await import('@trellis-ml/distill')).experiment,
  },
  {
    name: 'retrain-cost',
    package: '@trellis-ml/retrain-cost',
    description: 'predict retraining cost under a shift from one forward pass (PreIndex, ARM, RESQUE); energy/CO2 tracker',
    load: async () => (await import('@trellis-ml/retrain-cost')).experiment,
  },
];
