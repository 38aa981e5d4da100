/**
 * Certainty distillation (Dynamic Entropy Control) as a core Trainer plugin: the frozen source
 * teacher's soft pseudo-labels at per-sample temperatures distilled into the student. The
 * temperature and loss math lives in `certainty.ts`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, checkChoice, TrellisError, type Batch, type ModelAdapter, type ModelOutputs, type TrainerPlugin } from '@trellis-ml/core';
import {
  certaintyDistillationLoss,
  certaintyTemperaturesTensor,
  checkCertaintyConfig,
  checkDivergence,
  DEFAULT_TEMPERATURE_CONFIG,
  type DistillationDivergence,
  type SourceStats,
  type TemperatureConfig,
} from './certainty.js';
import { AdaptedModel, batchNormVariables } from './models.js';
import { checkBatch, claimAdaptation } from './pluginGuards.js';

/** Which student weights DEC trains. */
export type TrainableSubset = 'all' | 'bn-affine' | 'head' | ((name: string) => boolean);

/** Options of {@link certaintyDistillation}. */
export interface CertaintyDistillationOptions {
  /** Plugin name (default `dec`). */
  name?: string;
  /**
   * The frozen source model (run in inference mode only, never trained). Must be a separate copy
   * from the model the Trainer trains (the student).
   */
  teacher: ModelAdapter;
  /** `h0` and `κ` from clean source validation inputs ({@link computeSourceStats}). */
  stats: SourceStats;
  /** Temperature settings (default tMin 1, tMax 3, `'entropy-and-norm'`). */
  temperature?: Partial<TemperatureConfig>;
  /** Divergence (default `'soft-ce'`; `'bce-reference'` = the released code's parity mode). */
  divergence?: DistillationDivergence;
  /** Student weights that train (default `'all'`, as in the released code). */
  trainable?: TrainableSubset;
  /** Name of the classifier layer for `trainable: 'head'` (default `logits`). */
  head?: string;
  /**
   * How the frozen teacher normalises: `'source'` (default, the released code: inference mode with
   * the source moving statistics) or `'target-batch'` (ours: the teacher's weights stay frozen but
   * its BatchNorm uses the target batch's statistics, i.e. a BN-adapted teacher).
   */
  teacherNormalization?: 'source' | 'target-batch';
}

/** JSON state of {@link certaintyDistillation}: the running sums behind the stream-mean τ̄. */
export interface CertaintyDistillationState {
  tauSum: number;
  count: number;
}

/** Per-batch diagnostics of DEC (means over the batch). */
export interface CertaintyDiagnostics {
  T: number;
  gamma: number;
  tau: number;
  /** Mean of `T·γ` (the released code's "avgTemp" accumulates this, whatever is fed to the pseudo-label). */
  tauFull: number;
}

/**
 * Certainty distillation / Dynamic Entropy Control: distil the frozen source teacher into the
 * student with soft pseudo-labels `softmax(z_teacher / τ_i)`, where `τ_i` grows with the teacher's
 * entropy above the source level `h0` and with its logit norm below the source level `κ`; loss
 * `D(p_student, q) · mean(τ)²`. The student trains in training mode (batch statistics; its moving
 * statistics follow the target stream).
 */
export function certaintyDistillation(options: CertaintyDistillationOptions): TrainerPlugin<CertaintyDistillationState> & {
  /** Mean of `T·γ` over every target sample seen (the optional post-hoc scale). */
  streamMeanTau(): number;
  /** Diagnostics of the last batch. */
  lastDiagnostics(): CertaintyDiagnostics | null;
} {
  check(options !== null && typeof options === 'object', 'BAD_OPTION', `certaintyDistillation needs options, got ${String(options)}`,
    'pass { teacher, stats }: the frozen source model and computeSourceStats(teacher, clean validation data)');
  const teacher = options.teacher;
  check(teacher !== null && typeof teacher === 'object' && typeof teacher.apply === 'function' && Number.isInteger(teacher.numClasses), 'NO_TEACHER',
    `certaintyDistillation's teacher is ${teacher === undefined ? 'missing' : 'not a ModelAdapter'}`,
    'pass teacher: the frozen source model (wrapped by a ModelAdapter), and adapt a copy of it (cloneLayersModel(source))');
  const cfg: TemperatureConfig = { ...DEFAULT_TEMPERATURE_CONFIG, ...options.temperature };
  // settings and statistics are checked now, not at the first target batch
  checkCertaintyConfig(options.stats, cfg, teacher.numClasses);
  const divergence = options.divergence ?? 'soft-ce';
  checkDivergence(divergence);
  const norm = options.teacherNormalization ?? 'source';
  checkChoice(norm, ['source', 'target-batch'] as const, 'teacherNormalization', { fix: "pass teacherNormalization 'source' (the default) or 'target-batch' (a BN-adapted teacher)" });
  const trainable = options.trainable ?? 'all';
  check(trainable === 'all' || trainable === 'bn-affine' || trainable === 'head' || typeof trainable === 'function', 'BAD_OPTION',
    `trainable ${JSON.stringify(trainable)} is not 'all', 'bn-affine', 'head' or a function of the variable name`, "pass trainable 'all' (the default), 'bn-affine', 'head' or (name) => boolean");
  const head = options.head ?? 'logits';
  let tauSum = 0;
  let count = 0;
  let pending: tf.Tensor[] | null = null;
  let last: CertaintyDiagnostics | null = null;
  let teacherStats: Array<[tf.Variable, tf.Tensor]> | null = null;
  const restoreTeacherStats = (): void => {
    for (const [v, t] of teacherStats ?? []) v.assign(t);
  };
  const name = options.name ?? 'dec';
  return {
    name,
    apiVersion: 1,
    setup(ctx) {
      claimAdaptation(ctx, name, 'certainty distillation (DEC)');
    },
    wrapModel(model) {
      check(teacher.numClasses === model.numClasses, 'CLASS_COUNT_MISMATCH', `the teacher has ${teacher.numClasses} classes, the student ${model.numClasses}`,
        'use a copy of the source model as the teacher');
      const studentVars = new Set(Object.values(model.allVariables()));
      if (Object.values(teacher.allVariables()).some((v) => studentVars.has(v))) {
        throw new TrellisError('TEACHER_IS_STUDENT', 'the teacher shares variables with the model being adapted, so it would not stay frozen',
          'adapt a copy of the source model (cloneLayersModel(source)) and pass the source itself as the teacher');
      }
      if (norm === 'target-batch') {
        const stats = batchNormVariables(teacher, "DEC with teacherNormalization 'target-batch'").statistics;
        teacherStats = Object.values(stats).map((v) => [v, tf.clone(v)]);
      }
      if (trainable === 'all') return model;
      if (trainable === 'bn-affine') {
        const bn = batchNormVariables(model, "DEC with trainable 'bn-affine'");
        return new AdaptedModel(model, { trainable: (n) => n in bn.affine });
      }
      if (trainable === 'head') {
        check(Object.keys(model.trainableVariables()).some((n) => n.startsWith(`${head}/`)), 'NO_HEAD', `the model has no layer "${head}"`, 'pass `head` with the classifier layer name');
        return new AdaptedModel(model, { trainable: (n) => n.startsWith(`${head}/`) });
      }
      return new AdaptedModel(model, { trainable });
    },
    onBatchStart: (ctx) => checkBatch(ctx, name),
    lossTerms(outputs: ModelOutputs, batch: Batch) {
      // The teacher's variables are not in the optimizer's list, so no gradient reaches them.
      // With 'target-batch' the teacher's forward runs in training mode (batch statistics); that
      // forward also moves its moving statistics, which are restored at once: the teacher stays frozen.
      const zt = teacher.apply(batch.x, { training: norm === 'target-batch' }).logits;
      restoreTeacherStats();
      const { T, gamma, tau } = certaintyTemperaturesTensor(zt, options.stats, cfg);
      const loss = certaintyDistillationLoss(outputs.logits, zt, tau, divergence);
      tf.dispose(pending ?? []);
      pending = [tf.mean(T), tf.mean(gamma), tf.mean(tau), tf.sum(tf.mul(T, gamma))].map((t) => tf.keep(t));
      return { distill: loss };
    },
    onBatchEnd(ctx) {
      if (!pending || !ctx.batch) return;
      const [T, g, tau, sumFull] = pending.map((t) => t.dataSync()[0]!) as [number, number, number, number];
      tf.dispose(pending);
      pending = null;
      tauSum += sumFull;
      count += ctx.batch.size;
      last = { T, gamma: g, tau, tauFull: sumFull / ctx.batch.size };
      ctx.logs['dec/T'] = T;
      ctx.logs['dec/gamma'] = g;
      ctx.logs['dec/tau'] = tau;
    },
    streamMeanTau: () => (count ? tauSum / count : 1),
    lastDiagnostics: () => last,
    getState: () => ({ tauSum, count }),
    setState(s) {
      tauSum = s.tauSum;
      count = s.count;
    },
    dispose() {
      tf.dispose(pending ?? []);
      pending = null;
      tf.dispose((teacherStats ?? []).map(([, t]) => t));
      teacherStats = null;
    },
  };
}
