import * as tf from '@tensorflow/tfjs-core';
import { check, checkChoice, Trainer, type Dataset, type EpochLogs, type ModelAdapter, type TrainerPlugin } from '@trellis-ml/core';
import { checkGroupIds } from './groups.js';
import type { MaskSet } from './masks.js';
import {
  accuracyGapConstraints, equalizedLoss, groupConstraints, pruning,
  type AccuracyGapOptions, type ConstraintPlugin, type DenseReference, type GroupConstraintOptions,
} from './plugin.js';

/** What the fine-tune after pruning optimises. */
export type Mitigation =
  | { kind: 'none' }
  /** Per-group loss-gap constraints with dual ascent (the mitigation; see {@link groupConstraints}). */
  | ({ kind: 'group-loss' } & Omit<GroupConstraintOptions, 'numGroups' | 'dense' | 'reference' | 'name'>)
  /** The equalised-loss baseline (signed equality constraints; see {@link equalizedLoss}). */
  | ({ kind: 'equalized-loss' } & Omit<GroupConstraintOptions, 'numGroups' | 'dense' | 'reference' | 'name' | 'violation' | 'target' | 'dualUpdate'>)
  /** The CEAG baseline (accuracy-gap constraints; see {@link accuracyGapConstraints}). */
  | ({ kind: 'accuracy-gap' } & Omit<AccuracyGapOptions, 'numGroups' | 'dense' | 'reference' | 'name'>);

/** Options of {@link fineTunePruned}. */
export interface FineTuneOptions {
  epochs: number;
  /** Number of groups of the training set's group ids. */
  numGroups: number;
  seed: number;
  batchSize?: number;
  /** Optimizer (default Adam with `lr`). */
  optimizer?: tf.Optimizer;
  /** Learning rate of the default Adam (default 3e-4). */
  lr?: number;
  mitigation?: Mitigation;
  /** The dense model θ* (needed by excess-loss targets, distillation and CEAG). */
  dense?: ModelAdapter;
  /** Dense statistics on the training set (computed from `dense` when absent and needed). */
  reference?: DenseReference;
  /** Extra plugins composed into the same Trainer. */
  plugins?: TrainerPlugin[];
  /** Stop after this many steps. */
  maxSteps?: number;
  onLog?: (logs: Record<string, number>) => void | Promise<void>;
}

/** Result of {@link fineTunePruned}. */
export interface FineTuneResult {
  history: EpochLogs[];
  /** Final multipliers of the constraint plugin (empty without mitigation). */
  lambdas: number[];
}

/** The kinds of {@link Mitigation}. */
export const MITIGATION_KINDS: readonly Mitigation['kind'][] = ['none', 'group-loss', 'equalized-loss', 'accuracy-gap'];

/** Throws `BAD_OPTION` unless `mitigation.kind` is one of {@link MITIGATION_KINDS} (a typo would otherwise run a plain fine-tune). */
export function checkMitigation(mitigation: Mitigation): void {
  const kind = (mitigation as { kind?: unknown } | null | undefined)?.kind;
  checkChoice(kind, MITIGATION_KINDS, 'mitigation kind');
}

/** Throws `BAD_OPTION` unless a learning rate is a finite number > 0 (a NaN one surfaced only as a NaN loss mid-run). @internal */
export function checkLearningRate(lr: number, what = 'lr'): void {
  check(Number.isFinite(lr) && lr > 0, 'BAD_OPTION', () => `${what} ${String(lr)} is not a finite number > 0`, `pass ${what} such as 3e-4`);
}

/** Builds the constraint plugin of a {@link Mitigation} (null for `none`). */
export function mitigationPlugin(mitigation: Mitigation, numGroups: number, dense?: ModelAdapter, reference?: DenseReference): ConstraintPlugin | null {
  checkMitigation(mitigation);
  const shared = { numGroups, ...(dense ? { dense } : {}), ...(reference ? { reference } : {}) };
  switch (mitigation.kind) {
    case 'none':
      return null;
    case 'group-loss': {
      const { kind: _k, ...rest } = mitigation;
      return groupConstraints({ ...rest, ...shared });
    }
    case 'equalized-loss': {
      const { kind: _k, ...rest } = mitigation;
      return equalizedLoss({ ...rest, ...shared });
    }
    case 'accuracy-gap': {
      const { kind: _k, ...rest } = mitigation;
      return accuracyGapConstraints({ ...rest, ...shared });
    }
  }
}

/**
 * Fine-tunes a pruned model with its mask fixed (gradients masked, mask re-applied after every step),
 * optionally under a mitigation. `model` is changed in place.
 */
export async function fineTunePruned(model: ModelAdapter, masks: MaskSet, train: Dataset, options: FineTuneOptions): Promise<FineTuneResult> {
  const mitigation = options.mitigation ?? { kind: 'none' };
  if (mitigation.kind !== 'none') checkGroupIds(train, options.numGroups, 'the training set');
  const constraint = mitigationPlugin(mitigation, options.numGroups, options.dense, options.reference);
  // the given masks fix what is pruned (a one-shot plugin with masks never computes new ones), so `sparsity`
  // is not the masks' own: theirs may be 1 (every weight pruned), which no requested sparsity may be
  const plugins: TrainerPlugin[] = [pruning({ sparsity: 0, masks }), ...(constraint ? [constraint] : []), ...(options.plugins ?? [])];
  if (!options.optimizer) checkLearningRate(options.lr ?? 3e-4);
  const optimizer = options.optimizer ?? tf.train.adam(options.lr ?? 3e-4);
  let trainer: Trainer;
  try {
    trainer = new Trainer({
      model, seed: options.seed, batchSize: options.batchSize ?? 128, plugins, optimizer,
      ...(options.onLog ? { onLog: options.onLog } : {}),
    });
  } catch (e) {
    if (!options.optimizer) optimizer.dispose(); // ours: the Trainer that would have owned it was never built
    throw e;
  }
  try {
    const history = await trainer.fit(train, { epochs: options.epochs, ...(options.maxSteps !== undefined ? { maxSteps: options.maxSteps } : {}) });
    return { history, lambdas: constraint ? constraint.lambdas() : [] };
  } finally {
    trainer.dispose();
  }
}
