import * as tf from '@tensorflow/tfjs-core';
import { Trainer, TrellisError, type Dataset, type EpochLogs, type ModelAdapter, type TrainerPlugin } from '@trellis-ml/core';
import { coupledWeightDecay, stepLearningRate } from './plugin.js';

/** The training recipe of target, shadow and reference models (all trained alike). */
export interface TrainingRecipe {
  epochs: number;
  batchSize: number;
  /** Initial SGD learning rate. */
  lr: number;
  momentum: number;
  /** Coupled weight decay on every parameter (PyTorch SGD semantics). */
  weightDecay: number;
  /** LR milestones as fractions of the epochs (×gamma at each). */
  milestones: number[];
  gamma: number;
}

/** The spec's §6.3 recipe: SGD momentum 0.9, LR 0.05 ×0.1 at 50 % and 75 %, batch 128, 80 epochs, wd 5e-4. */
export const SPEC_RECIPE: TrainingRecipe = { epochs: 80, batchSize: 128, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, milestones: [0.5, 0.75], gamma: 0.1 };

/** Options of {@link trainClassifier}. */
export interface TrainClassifierOptions {
  model: ModelAdapter;
  data: Dataset;
  recipe: TrainingRecipe;
  /** Defense plugins (RelaxLoss, CRL, SRCM, label smoothing, ...); the recipe's LR schedule and weight decay are added. */
  plugins?: TrainerPlugin[];
  seed: number;
  label?: string;
  progress?: boolean;
  onLog?: (logs: Record<string, number>) => void | Promise<void>;
}

/** What {@link trainClassifier} returns: the trained (possibly wrapped) model and timing. */
export interface TrainedClassifier {
  /** The trained model (wrapped when a plugin wraps it, e.g. SRCM). The caller disposes it. */
  model: ModelAdapter;
  history: EpochLogs[];
  seconds: number;
}

/**
 * Trains a classifier with the recipe and the given defense plugins through core's Trainer (SGD
 * with momentum, step LR, coupled weight decay; `baseLoss: 'none'` when a plugin replaces the CE).
 * Disposes the Trainer (optimizer and plugin state) and returns the model.
 */
export async function trainClassifier(options: TrainClassifierOptions): Promise<TrainedClassifier> {
  if (options === null || typeof options !== 'object' || options.recipe === null || typeof options.recipe !== 'object') {
    throw new TrellisError('BAD_OPTION', `trainClassifier needs options with a training recipe, got ${options === null || typeof options !== 'object' ? String(options) : `recipe ${String(options.recipe)}`}`,
      'pass { model, data, recipe, seed }, e.g. recipe: SPEC_RECIPE');
  }
  const { recipe } = options;
  // tf.train.momentum takes any number: NaN only shows up later as a NaN loss blamed on the base loss
  if (!(typeof recipe.momentum === 'number' && recipe.momentum >= 0 && recipe.momentum < 1)) {
    throw new TrellisError('BAD_OPTION', `recipe momentum ${String(recipe.momentum)} is not in [0, 1)`, 'pass momentum such as 0.9 (0 = plain SGD)');
  }
  const plugins = [
    ...(options.plugins ?? []),
    stepLearningRate({ lr: recipe.lr, milestones: recipe.milestones, gamma: recipe.gamma }),
    coupledWeightDecay({ rate: recipe.weightDecay }),
  ];
  const trainer = new Trainer({
    model: options.model,
    optimizer: tf.train.momentum(recipe.lr, recipe.momentum),
    plugins,
    seed: options.seed,
    batchSize: recipe.batchSize,
    progress: options.progress ?? false,
    ...(options.label ? { label: options.label } : {}),
    ...(options.onLog ? { onLog: options.onLog } : {}),
  });
  const t0 = performance.now();
  try {
    const history = await trainer.fit(options.data, { epochs: recipe.epochs });
    return { model: trainer.model, history, seconds: (performance.now() - t0) / 1000 };
  } finally {
    trainer.dispose();
  }
}
