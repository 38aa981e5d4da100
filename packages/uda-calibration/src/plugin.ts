/**
 * Test-time adaptation methods as core Trainer plugins. Each adapts on an unlabeled target stream:
 * run them in a `Trainer` with `baseLoss: 'none'` on `target.withoutLabels()` (no plugin here ever
 * reads `batch.y`). Pair any of them with {@link onlinePredictions} to record the prediction made
 * on each batch before its update (the online TTA protocol).
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, disposeBatch, TrellisError, type Batch, type Dataset, type ModelAdapter, type ModelOutputs, type TrainerContext, type TrainerPlugin } from '@trellis-ml/core';
import {
  certaintyDistillationLoss,
  certaintyTemperaturesTensor,
  DEFAULT_TEMPERATURE_CONFIG,
  type DistillationDivergence,
  type SourceStats,
  type TemperatureConfig,
} from './certainty.js';
import { entropyLoss, etaLoss, etaSelect, informationMaximization, pseudoLabelLoss, pseudoLabelSelect, rowEntropy, type EtaSelection, type PseudoLabelSelection } from './objectives.js';
import { AdaptedModel, batchNormVariables, checkTargetShape } from './models.js';

function checkBatch(ctx: TrainerContext): void {
  if (ctx.batch) checkTargetShape(ctx.batch.x.shape, ctx.model.inputShape);
}

/**
 * Undoes a step that must make no update (a batch where ETA or PL keeps no sample): `hold` copies
 * the variables before the Trainer's step, `restore` writes them back after it — a zero gradient
 * still moves weights under Adam or momentum.
 */
function skippedStepGuard(): { hold(vars: tf.Variable[]): void; restore(): void; release(): void } {
  let held: Array<[tf.Variable, tf.Tensor]> | null = null;
  const release = (): void => {
    tf.dispose((held ?? []).map(([, t]) => t));
    held = null;
  };
  return {
    hold(vars) {
      release();
      held = vars.map((v) => [v, tf.keep(tf.clone(v))]);
    },
    restore() {
      for (const [v, t] of held ?? []) v.assign(t);
      release();
    },
    release,
  };
}

/** Options of {@link tent}. */
export interface TentOptions {
  /** Plugin name (default `tent`). */
  name?: string;
}

/**
 * TENT (Wang et al., ICLR 2021): minimise the mean softmax entropy of each target batch, updating
 * only the BatchNorm scale and shift, with BatchNorm always on batch statistics (also when
 * predicting). Throws `NO_BATCHNORM` for a model without BatchNorm.
 */
export function tent(options: TentOptions = {}): TrainerPlugin<Record<string, never>> {
  return {
    name: options.name ?? 'tent',
    apiVersion: 1,
    wrapModel(model) {
      const bn = batchNormVariables(model, 'TENT');
      return new AdaptedModel(model, { trainable: (n) => n in bn.affine, normalization: 'batch' });
    },
    onBatchStart: checkBatch,
    lossTerms(outputs) {
      return { entropy: entropyLoss(outputs.logits) };
    },
    getState: () => ({}),
    setState: () => undefined,
  };
}

/** Options of {@link eta}. */
export interface EtaOptions {
  /** Plugin name (default `eta`, or `eata` with a Fisher term). */
  name?: string;
  /** Entropy threshold as a fraction of `ln K` (default 0.4). */
  e0Factor?: number;
  /**
   * Redundancy filter threshold on `|cos(p_i, m)|`; `null` disables it. Default 0.4: the paper's
   * 0.05 (for 1,000 classes) rejects almost every sample with 10 classes.
   */
  redundancyEps?: number | null;
  /** EMA momentum of the mean kept prediction `m` (default 0.9). */
  emaMomentum?: number;
  /**
   * EATA's anti-forgetting term `α·Σ F_j (θ_j − θ_j^src)²`, with a diagonal Fisher from clean
   * source inputs (their labels are not used: the model's own argmax is the target).
   */
  fisher?: { data: Dataset; alpha?: number; samples?: number; batchSize?: number };
}

/** JSON state of {@link eta}. */
export interface EtaState {
  ema: number[] | null;
  kept: number;
  seen: number;
}

/**
 * ETA / EATA (Niu et al., ICML 2022): entropy minimisation on reliable (entropy below
 * `e0Factor·ln K`) and non-redundant samples, weighted by `exp(−(H − E0))`; BatchNorm affine only,
 * batch statistics. With `fisher` it is EATA.
 *
 * A batch where no sample is kept makes no update (as in the reference, which skips the optimizer
 * step): the plugin restores the BatchNorm scale and shift after the Trainer's step, because a
 * zero gradient still moves the weights under Adam or momentum. The optimizer's own state (Adam
 * moments) still advances in a plain Trainer; {@link createAdaptation} also skips the optimizer
 * step itself (`skipsUpdate()` tells whether the last batch kept nothing).
 */
export function eta(options: EtaOptions = {}): TrainerPlugin<EtaState> & { state(): EtaState; skipsUpdate(): boolean } {
  const e0Factor = options.e0Factor ?? 0.4;
  const redundancyEps = options.redundancyEps === undefined ? 0.4 : options.redundancyEps;
  const momentum = options.emaMomentum ?? 0.9;
  let ema: Float32Array | null = null;
  let kept = 0;
  let seen = 0;
  let last: EtaSelection | null = null;
  let fisher: Record<string, tf.Tensor> | null = null;
  let anchor: Record<string, tf.Tensor> | null = null;
  let affine: Record<string, tf.Variable> = {};
  /** Holds the BatchNorm affine weights before a step that keeps no sample (restored after it). */
  const guard = skippedStepGuard();
  const alpha = options.fisher?.alpha ?? 2000;

  function computeFisher(model: ModelAdapter, data: Dataset): void {
    const samples = Math.min(options.fisher?.samples ?? 500, data.size);
    const source = data.withoutLabels().take(samples);
    const vars = Object.values(affine);
    const names = Object.keys(affine);
    const sums: tf.Tensor[] = names.map((n) => tf.zerosLike(affine[n]!));
    let batches = 0;
    for (const batch of source.batches(options.fisher?.batchSize ?? 64)) {
      const { value, grads } = tf.variableGrads(() => {
        const logits = model.apply(batch.x, { training: true }).logits;
        const own = tf.oneHot(tf.argMax(logits, -1), model.numClasses);
        return tf.neg(tf.mean(tf.sum(tf.mul(tf.cast(own, 'float32'), tf.logSoftmax(logits)), -1))) as tf.Scalar;
      }, vars);
      names.forEach((n, i) => {
        const g = grads[affine[n]!.name]!;
        const next = tf.tidy(() => tf.add(sums[i]!, tf.square(g)));
        sums[i]!.dispose();
        sums[i] = next;
      });
      tf.dispose([value, ...Object.values(grads)]);
      disposeBatch(batch); // x, and the group ids a source set may carry (withoutLabels keeps them)
      batches++;
    }
    fisher = {};
    anchor = {};
    names.forEach((n, i) => {
      fisher![n] = tf.tidy(() => tf.div(sums[i]!, batches));
      sums[i]!.dispose();
      anchor![n] = tf.clone(affine[n]!);
    });
  }

  return {
    name: options.name ?? (options.fisher ? 'eata' : 'eta'),
    apiVersion: 1,
    wrapModel(model) {
      const bn = batchNormVariables(model, options.fisher ? 'EATA' : 'ETA');
      affine = bn.affine;
      const wrapped = new AdaptedModel(model, { trainable: (n) => n in bn.affine, normalization: 'batch' });
      if (options.fisher) computeFisher(wrapped, options.fisher.data);
      return wrapped;
    },
    onBatchStart: checkBatch,
    lossTerms(outputs) {
      const k = outputs.logits.shape[outputs.logits.shape.length - 1]!;
      const [probs, ent] = tf.tidy(() => [tf.softmax(outputs.logits), rowEntropy(outputs.logits)]);
      const p = probs!.dataSync() as Float32Array;
      const h = ent!.dataSync() as Float32Array;
      tf.dispose([probs!, ent!]);
      const sel = etaSelect(p, h, k, e0Factor * Math.log(k), ema, redundancyEps);
      last = sel;
      guard.release();
      if (sel.kept === 0) guard.hold(Object.values(affine));
      if (sel.kept > 0) {
        const mean = new Float32Array(k);
        for (let i = 0; i < sel.mask.length; i++) if (sel.mask[i]) for (let j = 0; j < k; j++) mean[j]! += p[i * k + j]! / sel.kept;
        ema = ema ? ema.map((v, j) => momentum * v + (1 - momentum) * mean[j]!) : mean;
      }
      kept += sel.kept;
      seen += sel.mask.length;
      const terms: Record<string, tf.Scalar> = { entropy: etaLoss(outputs.logits, sel) };
      if (fisher && anchor) {
        const f = fisher;
        const a = anchor;
        terms.fisher = tf.tidy(() => tf.mul(alpha, tf.addN(Object.keys(affine).map((n) => tf.sum(tf.mul(f[n]!, tf.square(tf.sub(affine[n]!, a[n]!))))))) as tf.Scalar);
      }
      return terms;
    },
    transformGradients(grads) {
      return last && last.kept === 0 ? {} : grads;
    },
    afterApply() {
      guard.restore();
    },
    onBatchEnd(ctx) {
      if (last) ctx.logs[`${options.fisher ? 'eata' : 'eta'}/kept`] = last.kept;
    },
    skipsUpdate: () => last !== null && last.kept === 0,
    state: () => ({ ema: ema ? Array.from(ema) : null, kept, seen }),
    getState: () => ({ ema: ema ? Array.from(ema) : null, kept, seen }),
    setState(s) {
      ema = s.ema ? Float32Array.from(s.ema) : null;
      kept = s.kept;
      seen = s.seen;
    },
    dispose() {
      guard.release();
      tf.dispose([...Object.values(fisher ?? {}), ...Object.values(anchor ?? {})]);
      fisher = null;
      anchor = null;
    },
  };
}

/** Options of {@link shotIm}. */
export interface ShotImOptions {
  /** Plugin name (default `shot-im`). */
  name?: string;
  /** Weight of the diversity term `H(mean p)` (default 1; SHOT-IM). */
  diversityWeight?: number;
  /** Layer whose variables stay frozen: the classifier head (default `logits`). */
  head?: string;
}

/**
 * SHOT-IM (Liang et al., ICML 2020): information maximisation — low per-sample entropy, high
 * entropy of the batch-mean prediction — training every layer except the classifier head. (The
 * full SHOT's clustering pseudo-labels are not implemented.)
 */
export function shotIm(options: ShotImOptions = {}): TrainerPlugin<Record<string, never>> {
  const head = options.head ?? 'logits';
  return {
    name: options.name ?? 'shot-im',
    apiVersion: 1,
    wrapModel(model) {
      const names = Object.keys(model.trainableVariables());
      check(names.some((n) => n.startsWith(`${head}/`)), 'NO_HEAD', `the model has no layer "${head}" to freeze as the classifier head (variables: ${names.join(', ')})`,
        'pass `head` with the name of the last (classifier) layer');
      return new AdaptedModel(model, { trainable: (n) => !n.startsWith(`${head}/`) });
    },
    onBatchStart: checkBatch,
    lossTerms(outputs) {
      const { entropy, diversity } = informationMaximization(outputs.logits, options.diversityWeight ?? 1);
      return { entropy, diversity };
    },
    getState: () => ({}),
    setState: () => undefined,
  };
}

/** Options of {@link pseudoLabel}. */
export interface PseudoLabelOptions {
  /** Plugin name (default `pl`). */
  name?: string;
  /** Confidence a sample's top probability must reach to be trained on (default 0.9, spec §3). */
  threshold?: number;
}

/** JSON state of {@link pseudoLabel}: samples kept and seen so far. */
export interface PseudoLabelState {
  kept: number;
  seen: number;
}

/**
 * Hard pseudo-labelling (PL): cross-entropy against each sample's own argmax, on the samples whose
 * top probability is at least `threshold`; BatchNorm scale and shift only, BatchNorm on batch
 * statistics (also when predicting), as TENT. A batch where no sample reaches the threshold makes
 * no update (the BatchNorm weights are restored after the Trainer's step; {@link createAdaptation}
 * also skips the optimizer step, see `skipsUpdate()`). Throws `NO_BATCHNORM` without BatchNorm.
 */
export function pseudoLabel(options: PseudoLabelOptions = {}): TrainerPlugin<PseudoLabelState> & { state(): PseudoLabelState; skipsUpdate(): boolean } {
  const threshold = options.threshold ?? 0.9;
  check(threshold > 0 && threshold <= 1, 'BAD_THRESHOLD', `the pseudo-label threshold ${threshold} is outside (0, 1]`, 'pass a probability such as 0.9');
  let affine: Record<string, tf.Variable> = {};
  let last: PseudoLabelSelection | null = null;
  let kept = 0;
  let seen = 0;
  const guard = skippedStepGuard();
  return {
    name: options.name ?? 'pl',
    apiVersion: 1,
    wrapModel(model) {
      const bn = batchNormVariables(model, 'pseudo-labelling');
      affine = bn.affine;
      return new AdaptedModel(model, { trainable: (n) => n in bn.affine, normalization: 'batch' });
    },
    onBatchStart: checkBatch,
    lossTerms(outputs) {
      const k = outputs.logits.shape[outputs.logits.shape.length - 1]!;
      const probs = tf.softmax(outputs.logits);
      const sel = pseudoLabelSelect(probs.dataSync() as Float32Array, k, threshold);
      probs.dispose();
      last = sel;
      kept += sel.kept;
      seen += sel.mask.length;
      guard.release();
      if (sel.kept === 0) guard.hold(Object.values(affine));
      return { ce: pseudoLabelLoss(outputs.logits, sel) };
    },
    transformGradients(grads) {
      return last && last.kept === 0 ? {} : grads;
    },
    afterApply() {
      guard.restore();
    },
    onBatchEnd(ctx) {
      if (last) ctx.logs['pl/kept'] = last.kept;
    },
    skipsUpdate: () => last !== null && last.kept === 0,
    state: () => ({ kept, seen }),
    getState: () => ({ kept, seen }),
    setState(s) {
      kept = s.kept;
      seen = s.seen;
    },
    dispose() {
      guard.release();
    },
  };
}

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
  const cfg: TemperatureConfig = { ...DEFAULT_TEMPERATURE_CONFIG, ...options.temperature };
  const divergence = options.divergence ?? 'soft-ce';
  const head = options.head ?? 'logits';
  let tauSum = 0;
  let count = 0;
  let pending: tf.Tensor[] | null = null;
  let last: CertaintyDiagnostics | null = null;
  const teacher = options.teacher;
  let teacherStats: Array<[tf.Variable, tf.Tensor]> | null = null;
  const restoreTeacherStats = (): void => {
    for (const [v, t] of teacherStats ?? []) v.assign(t);
  };
  return {
    name: options.name ?? 'dec',
    apiVersion: 1,
    wrapModel(model) {
      check(teacher.numClasses === model.numClasses, 'CLASS_COUNT_MISMATCH', `the teacher has ${teacher.numClasses} classes, the student ${model.numClasses}`,
        'use a copy of the source model as the teacher');
      const studentVars = new Set(Object.values(model.allVariables()));
      if (Object.values(teacher.allVariables()).some((v) => studentVars.has(v))) {
        throw new TrellisError('TEACHER_IS_STUDENT', 'the teacher shares variables with the model being adapted, so it would not stay frozen',
          'adapt a copy of the source model (cloneLayersModel(source)) and pass the source itself as the teacher');
      }
      if (options.teacherNormalization === 'target-batch') {
        const stats = batchNormVariables(teacher, "DEC with teacherNormalization 'target-batch'").statistics;
        teacherStats = Object.values(stats).map((v) => [v, tf.clone(v)]);
      }
      const t = options.trainable ?? 'all';
      if (t === 'all') return model;
      if (t === 'bn-affine') {
        const bn = batchNormVariables(model, "DEC with trainable 'bn-affine'");
        return new AdaptedModel(model, { trainable: (n) => n in bn.affine });
      }
      if (t === 'head') {
        check(Object.keys(model.trainableVariables()).some((n) => n.startsWith(`${head}/`)), 'NO_HEAD', `the model has no layer "${head}"`, 'pass `head` with the classifier layer name');
        return new AdaptedModel(model, { trainable: (n) => n.startsWith(`${head}/`) });
      }
      return new AdaptedModel(model, { trainable: t });
    },
    onBatchStart: checkBatch,
    lossTerms(outputs: ModelOutputs, batch: Batch) {
      // The teacher's variables are not in the optimizer's list, so no gradient reaches them.
      // With 'target-batch' the teacher's forward runs in training mode (batch statistics); that
      // forward also moves its moving statistics, which are restored at once: the teacher stays frozen.
      const zt = teacher.apply(batch.x, { training: options.teacherNormalization === 'target-batch' }).logits;
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

/** One recorded batch of {@link onlinePredictions}. */
export interface OnlineRecord {
  /** Dataset indices of the batch's examples. */
  indices: Int32Array;
  /** `b × k` logits of the training-mode forward pass, made before the batch's update. */
  logits: Float32Array;
}

/**
 * Records the prediction each batch got before its update (the forward pass the loss used), for
 * the online evaluation protocol. Runs last (`order: 'post'`); drain with `take()`.
 */
export function onlinePredictions(name = 'online-predictions'): TrainerPlugin<Record<string, never>> & { take(): OnlineRecord[] } {
  let current: tf.Tensor | null = null;
  let records: OnlineRecord[] = [];
  return {
    name,
    apiVersion: 1,
    order: 'post',
    lossTerms(outputs) {
      current?.dispose();
      current = tf.keep(tf.clone(outputs.logits));
      return {};
    },
    onBatchEnd(ctx) {
      if (!current || !ctx.batch) return;
      records.push({ indices: Int32Array.from(ctx.batch.indices), logits: current.dataSync() as Float32Array });
      current.dispose();
      current = null;
    },
    take() {
      const out = records;
      records = [];
      return out;
    },
    getState: () => ({}),
    setState: () => undefined,
    dispose() {
      current?.dispose();
      current = null;
    },
  };
}
