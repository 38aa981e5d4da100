/**
 * SHOT-IM and full SHOT as a core Trainer plugin: information maximisation on every layer but the
 * classifier head, plus (`beta > 0`) the cross-entropy against SHOT's clustering pseudo-labels, and
 * optionally SHOT's learning-rate decay. The clustering math lives in `shotClustering.ts`, the
 * decay in `learningRateSchedule.ts`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, checkChoice, disposeBatch, learningRateOf, setLearningRate, softmaxRows64, TrellisError, type Dataset, type ModelAdapter, type ModelOutputs, type TrainerContext, type TrainerPlugin } from '@trellis-ml/core';
import { checkLearningRateSchedule, shotLearningRate, type LearningRateSchedule } from './learningRateSchedule.js';
import { AdaptedModel, batchNormVariables, headFeatureLayer, layersModelOf } from './models.js';
import { informationMaximization, pseudoLabelLoss } from './objectives.js';
import { checkBatch, claimAdaptation } from './pluginGuards.js';
import { shotPseudoLabels, type ShotClustering, type ShotClusteringOptions } from './shotClustering.js';

/**
 * When SHOT's pseudo-labels are computed. `'epoch'`: once per epoch over the whole target set from
 * the current model in inference mode (the paper's offline protocol). `'batch'`: from each batch's
 * own features and predictions in the step's forward pass (for a single online pass).
 */
export type ShotPseudoLabelMode = 'epoch' | 'batch';

/** Options of {@link shotIm}. */
export interface ShotImOptions {
  /** Plugin name (default `shot-im`). */
  name?: string;
  /** Weight of the diversity term `H(mean p)` (default 1; SHOT-IM). */
  diversityWeight?: number;
  /** Layer whose variables stay frozen: the classifier head (default `logits`). */
  head?: string;
  /**
   * Weight β of the cross-entropy against SHOT's clustering pseudo-labels (default 0 = SHOT-IM,
   * exactly as without the option; the paper's digit setting is 0.3). Must be finite and ≥ 0.
   */
  beta?: number;
  /** When the pseudo-labels are computed (default `'epoch'`; see {@link ShotPseudoLabelMode}). */
  pseudoLabels?: ShotPseudoLabelMode;
  /** Layer whose output is clustered (default: the layer that feeds `head`). */
  features?: string;
  /** Clustering options (default: a constant 1 appended to each feature, as the released code). */
  clustering?: ShotClusteringOptions;
  /**
   * BatchNorm in the per-epoch labelling pass (`pseudoLabels: 'epoch'`). `'inference'` (default, the
   * released code's eval mode): the model's moving statistics — at the first epoch the source's.
   * `'target-batch'` (ours): statistics of each labelling batch of 256 target examples; the moving
   * statistics are restored after the pass, so only the labels change. Needs BatchNorm layers.
   */
  labelNormalization?: 'inference' | 'target-batch';
  /**
   * Learning-rate schedule (default `'constant'`). `'shot-decay'` sets the optimizer's rate to
   * `lr · (1 + 10·progress)^−0.75` before every step ({@link shotLearningRate}) through core's
   * `setLearningRate` (any tfjs optimizer; SHOT's own is momentum SGD).
   */
  lrSchedule?: LearningRateSchedule;
  /**
   * Planned optimizer steps for `'shot-decay'`. Default: set by `createAdaptation` (via
   * `planSteps`), or in `Trainer.fit` epochs × the batches at the Trainer's batch size (`ctx.batchSize`).
   */
  totalSteps?: number;
}

/** JSON state of {@link shotIm}: the learning rate the decay starts from (null before the first scheduled step). */
export interface ShotImState {
  baseLr: number | null;
}

/** What {@link shotIm} returns besides the plugin hooks. */
export interface ShotImControls {
  /**
   * Recomputes the per-epoch pseudo-labels of every example of `data` (inputs only: its labels are
   * stripped first) with `model` in inference mode. `Trainer.fit` calls it at each epoch start;
   * the adaptation runner before each pass. The batches' `indices` then select the labels.
   */
  refreshPseudoLabels(model: ModelAdapter, data: Dataset): void;
  /** The latest clustering (null before the first one). */
  lastClustering(): ShotClustering | null;
  /** Sets the planned number of optimizer steps of the `'shot-decay'` schedule. */
  planSteps(total: number): void;
}

const FEATURE_BATCH = 256;

/** Throws `BAD_BETA` unless β is a finite number ≥ 0. */
export function checkShotBeta(beta: unknown): asserts beta is number {
  check(typeof beta === 'number' && Number.isFinite(beta) && beta >= 0, 'BAD_BETA', `SHOT's pseudo-label weight β must be a finite number ≥ 0, got ${String(beta)}`,
    'pass beta: 0 for SHOT-IM, or e.g. 0.3 (the paper\'s digit setting) for full SHOT');
}

/** Throws `BAD_LABEL_NORMALIZATION` unless `mode` is `'inference'` or `'target-batch'`. */
export function checkLabelNormalization(mode: unknown): asserts mode is 'inference' | 'target-batch' {
  checkChoice(mode, ['inference', 'target-batch'] as const, 'SHOT labelling normalisation',
    { code: 'BAD_LABEL_NORMALIZATION', fix: "use 'inference' (moving statistics, the released code) or 'target-batch' (each labelling batch's own statistics)" });
}

/** The per-epoch pseudo-labels, checked to exist and to cover `indices`; throws `NO_PSEUDO_LABELS` otherwise. */
function checkEpochLabels(labels: Int32Array | null, indices: Int32Array): Int32Array {
  if (!labels) {
    throw new TrellisError('NO_PSEUDO_LABELS', 'SHOT has no pseudo-labels for this batch: they are computed at the start of each epoch over the whole target set',
      "train with Trainer.fit (which computes them at each epoch start), adapt through runStream, call refreshPseudoLabels(model, target) first, or use pseudoLabels: 'batch'");
  }
  check(indices.every((i) => i >= 0 && i < labels.length), 'NO_PSEUDO_LABELS',
    `the batch's dataset indices do not address the ${labels.length} pseudo-labels of the last clustering`,
    'pass batches of the dataset the pseudo-labels were computed on, with their dataset indices');
  return labels;
}

/**
 * SHOT-IM (Liang et al., ICML 2020): information maximisation — low per-sample entropy, high
 * entropy of the batch-mean prediction — training every layer except the classifier head. With
 * `beta > 0`, full SHOT: adds `β · CE(z, ŷ)` with ŷ from {@link shotPseudoLabels} on the features
 * feeding the head. Throws `BAD_BETA`, `BAD_LR_SCHEDULE` or `BAD_PSEUDO_LABEL_MODE` on bad options,
 * `NO_HEAD` / `NO_FEATURE_LAYER` when the head or its input layer cannot be found (`NO_HEAD` also when a plugin before it, such as TENT, wrapped the model in a view that does not train the head).
 */
export function shotIm(options: ShotImOptions = {}): TrainerPlugin<ShotImState> & ShotImControls {
  const head = options.head ?? 'logits';
  const beta = options.beta ?? 0;
  checkShotBeta(beta);
  const mode = options.pseudoLabels ?? 'epoch';
  checkChoice(mode, ['epoch', 'batch'] as const, 'SHOT pseudo-label mode', { code: 'BAD_PSEUDO_LABEL_MODE', fix: "use 'epoch' (offline, once per epoch) or 'batch' (online, per batch)" });
  const schedule = options.lrSchedule ?? 'constant';
  checkLearningRateSchedule(schedule);
  const diversityWeight = options.diversityWeight ?? 1;
  // a negative weight rewards collapsing onto one class
  check(Number.isFinite(diversityWeight) && diversityWeight >= 0, 'BAD_OPTION', `SHOT-IM's diversityWeight ${String(diversityWeight)} is not a finite number ≥ 0`,
    'pass diversityWeight such as 1 (the default), or 0 for entropy minimisation alone');
  const labelNormalization = options.labelNormalization ?? 'inference';
  checkLabelNormalization(labelNormalization);
  const name = options.name ?? 'shot-im';
  let featureLayer = '';
  let epochLabels: Int32Array | null = null;
  let clustering: ShotClustering | null = null;
  let planned: number | undefined = options.totalSteps;
  let baseLr: number | null = null;

  const cluster = (features: Float32Array, logits: Float32Array, n: number, k: number): ShotClustering => {
    check(n === 0 || features.length % n === 0, 'NO_FEATURE_LAYER', `the features of "${featureLayer}" do not split into ${n} rows`, 'cluster a layer with one flat feature vector per example');
    return shotPseudoLabels(features, softmaxRows64(logits, k), n, n ? features.length / n : 1, k, options.clustering ?? {});
  };

  const scheduleLearningRate = (ctx: TrainerContext): void => {
    const current = learningRateOf(ctx.optimizer);
    check(current !== undefined, 'LR_SCHEDULE_UNSUPPORTED',
      `the 'shot-decay' learning-rate schedule needs an optimizer with a numeric learning rate, got ${ctx.optimizer.getClassName()}`,
      "use one of tfjs's optimizers, e.g. tf.train.momentum (SHOT uses SGD with momentum 0.9)");
    if (planned === undefined && ctx.train && ctx.epochs > 0) planned = ctx.epochs * ctx.train.numBatches(ctx.batchSize);
    baseLr ??= current;
    setLearningRate(ctx.optimizer, shotLearningRate(baseLr, ctx.step, planned ?? NaN), `plugin "${name}"`);
  };

  const plugin: TrainerPlugin<ShotImState> & ShotImControls = {
    name,
    apiVersion: 1,
    setup(ctx) {
      claimAdaptation(ctx, name, beta > 0 ? 'SHOT' : 'SHOT-IM');
    },
    wrapModel(model) {
      const names = Object.keys(model.trainableVariables());
      // a head another plugin's wrapModel stopped training used to read as a missing layer (another adaptation method,
      // e.g. TENT's BatchNorm-only view, is refused before this, at setup: TTA_CONFLICT)
      const untrained = !names.some((n) => n.startsWith(`${head}/`)) && Object.keys(model.allVariables()).some((n) => n.startsWith(`${head}/`));
      check(!untrained, 'NO_HEAD', () => `the classifier head "${head}" is not among the variables the model trains (${names.join(', ')}): a plugin before "${name}" wrapped the model in a view that does not train it (one that trains only part of the model, or one that replaces the head with its own, as privacy's srcm does)`,
        'SHOT-IM trains every layer but the head (which it freezes itself): drop the plugin that hides or freezes the head from this Trainer');
      check(names.some((n) => n.startsWith(`${head}/`)), 'NO_HEAD', `the model has no layer "${head}" to freeze as the classifier head (variables: ${names.join(', ')})`,
        'pass `head` with the name of the last (classifier) layer');
      if (beta > 0) {
        if (options.features !== undefined) {
          check(model.tapNames().includes(options.features), 'NO_FEATURE_LAYER', `the model has no layer "${options.features}" to cluster (layers: ${model.tapNames().join(', ')})`,
            'pass `features` with the name of the layer that feeds the classifier head, or leave it out');
          featureLayer = options.features;
        } else {
          const layers = layersModelOf(model);
          if (!layers) {
            throw new TrellisError('NO_FEATURE_LAYER', 'SHOT cannot find the layer that feeds the classifier head of a model that is not a layers model',
              'pass `features` with the name of the feature tap that feeds the head');
          }
          featureLayer = headFeatureLayer(layers, head, 'SHOT');
        }
        if (mode === 'batch') plugin.taps = [featureLayer];
      }
      return new AdaptedModel(model, { trainable: (n) => !n.startsWith(`${head}/`) });
    },
    onEpochStart(ctx) {
      if (beta > 0 && mode === 'epoch' && ctx.train) plugin.refreshPseudoLabels(ctx.model, ctx.train);
    },
    onBatchStart(ctx) {
      checkBatch(ctx, name);
      // Checked here, before the gradient tape: the step fails before any forward pass is spent.
      if (beta > 0 && mode === 'epoch' && ctx.batch) checkEpochLabels(epochLabels, ctx.batch.indices);
      if (schedule === 'shot-decay') scheduleLearningRate(ctx);
    },
    lossTerms(outputs: ModelOutputs, batch): Record<string, tf.Scalar> {
      const { entropy, diversity } = informationMaximization(outputs.logits, diversityWeight);
      if (beta === 0) return { entropy, diversity };
      const k = outputs.logits.shape[outputs.logits.shape.length - 1]!;
      const n = outputs.logits.shape[0]!;
      let labels: Int32Array;
      if (mode === 'batch') {
        const f = outputs.features[featureLayer]!;
        clustering = cluster(f.dataSync() as Float32Array, outputs.logits.dataSync() as Float32Array, n, k);
        labels = clustering.labels;
      } else {
        const all = epochLabels!; // checked against the batch's indices in onBatchStart
        labels = Int32Array.from(batch.indices, (i) => all[i]!);
      }
      const ce = pseudoLabelLoss(outputs.logits, { labels, mask: new Float32Array(n).fill(1), kept: n });
      return { entropy, diversity, pseudo: tf.mul(ce, beta) as tf.Scalar };
    },
    onBatchEnd(ctx) {
      if (clustering) ctx.logs[`${name}/pl-changed`] = clustering.changedFromArgmax;
      if (schedule === 'shot-decay') ctx.logs[`${name}/lr`] = learningRateOf(ctx.optimizer)!;
    },
    refreshPseudoLabels(model, data) {
      check(featureLayer !== '', 'NO_PSEUDO_LABELS', 'SHOT computes pseudo-labels only with beta > 0, once the plugin has joined a Trainer', 'pass beta > 0 and call trainer.setup() first');
      const k = model.numClasses;
      const n = data.size;
      const logits = new Float32Array(n * k);
      let features: Float32Array | null = null;
      const batchStats = labelNormalization === 'target-batch';
      // A training-mode forward also moves the moving statistics: keep them to restore after the pass.
      const saved = batchStats
        ? Object.values(batchNormVariables(model, "SHOT with labelNormalization 'target-batch'").statistics).map((v) => [v, tf.clone(v)] as const)
        : [];
      try {
        for (const b of data.withoutLabels().batches(FEATURE_BATCH)) {
          const [f, z] = tf.tidy(() => {
            const out = model.apply(b.x, { training: batchStats, taps: [featureLayer] });
            return [out.features[featureLayer]!, out.logits];
          });
          try {
            const rows = b.indices.length;
            check(f!.shape[0] === rows && f!.size % rows === 0, 'NO_FEATURE_LAYER', `the features of "${featureLayer}" have shape [${f!.shape.join(', ')}] for ${rows} examples`,
              'cluster a layer with one feature vector per example');
            const d = f!.size / rows;
            features ??= new Float32Array(n * d);
            const fRows = f!.dataSync() as Float32Array;
            const zRows = z!.dataSync() as Float32Array;
            b.indices.forEach((index, row) => {
              features!.set(fRows.subarray(row * d, (row + 1) * d), index * d);
              logits.set(zRows.subarray(row * k, (row + 1) * k), index * k);
            });
          } finally {
            tf.dispose([f!, z!]);
            disposeBatch(b);
          }
        }
      } finally {
        for (const [v, copy] of saved) {
          v.assign(copy);
          copy.dispose();
        }
      }
      clustering = cluster(features ?? new Float32Array(0), logits, n, k);
      epochLabels = clustering.labels;
    },
    lastClustering: () => clustering,
    planSteps(total) {
      shotLearningRate(1, 0, total); // validates total (NO_TOTAL_STEPS)
      planned = total;
    },
    getState: () => ({ baseLr }),
    setState(s) {
      baseLr = s.baseLr;
    },
  };
  return plugin;
}
