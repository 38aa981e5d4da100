/**
 * The adaptation runner: every method behind one small interface (adapt on an unlabeled batch and
 * return the online prediction; predict with the adapted model), built from a source model, and
 * {@link runStream}, which feeds a target set through a method without its labels. Gradient methods
 * run the package's plugins in a core `Trainer` with `baseLoss: 'none'`; T3A (gradient-free) keeps
 * a host-side support memory (`t3aAdapter.ts`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, checkChoice, disposeBatch, Rng, Trainer, type Dataset, type ModelAdapter, type TrainerPlugin } from '@trellis-ml/core';
import { computeSourceStats, type DistillationDivergence, type SourceStats, type TemperatureConfig } from './certainty.js';
import { AdaptedModel, batchNormVariables, checkTargetShape, cloneLayersModel } from './models.js';
import type { LearningRateSchedule } from './learningRateSchedule.js';
import { certaintyDistillation, cotta, eta, memo, onlinePredictions, pseudoLabel, shotIm, tent, type EtaOptions, type TrainableSubset } from './plugin.js';
import type { AugmentationOptions } from './augmentation.js';
import type { CottaAugmentationAverage } from './cottaPlugin.js';
import type { ShotClusteringOptions } from './shotClustering.js';
import { createT3A, type T3ASettings } from './t3aAdapter.js';

/** A method and its settings. Every field but `kind` is optional (defaults in brackets, spec §7.5). */
export type MethodSpec =
  /** The source model, unchanged (inference mode). */
  | { kind: 'source'; label?: string }
  /**
   * BN re-estimation, no gradient. `statistics: 'batch'` [default] (TENT's "norm"): BatchNorm
   * always on the current target batch's statistics. `'running'`: the moving statistics are
   * re-estimated along the stream (at the model's BN momentum) and the post-pass predicts in
   * inference mode with them.
   */
  | { kind: 'bn-adapt'; label?: string; statistics?: 'batch' | 'running' }
  /** TENT: Adam [lr 1e-3] (or SGD) on the mean entropy, BN affine only. */
  | { kind: 'tent'; label?: string; lr?: number; optimizer?: 'adam' | 'sgd' }
  /** ETA, or EATA with `fisherAlpha` (Fisher from the context's clean validation inputs). */
  | { kind: 'eta'; label?: string; lr?: number; e0Factor?: number; redundancyEps?: number | null; fisherAlpha?: number; fisherSamples?: number }
  /**
   * SHOT-IM: SGD [lr 1e-2, momentum 0.9] on entropy − diversity, all but the head.
   * `protocol: 'online'` (default): one pass at the stream's batch size, like every other method.
   * `'offline'` (spec §7.5): `epochs` [3] passes over the target set at `batchSize` [64]; the
   * online logits of each pass are then the predictions made before each update of that epoch.
   * Full SHOT: `beta` [0 = SHOT-IM] weighs the cross-entropy against SHOT's clustering
   * pseudo-labels — offline recomputed at the start of every epoch over the whole target set,
   * online from each batch's own features. `lrSchedule` [`'constant'`]: `'shot-decay'` =
   * `lr · (1 + 10·progress)^−0.75` over all planned steps. `clustering`: see {@link ShotClusteringOptions}.
   */
  | {
    kind: 'shot-im'; label?: string; lr?: number; momentum?: number; diversityWeight?: number; protocol?: 'online' | 'offline'; epochs?: number; batchSize?: number;
    beta?: number; lrSchedule?: LearningRateSchedule; clustering?: ShotClusteringOptions;
    /** Offline full SHOT's labelling pass: moving statistics [`'inference'`] or each labelling batch's (`'target-batch'`, ours). */
    labelNormalization?: 'inference' | 'target-batch';
  }
  /** Hard pseudo-labelling: Adam [lr 1e-3] on CE against the argmax where `max p ≥ threshold` [0.9], BN affine only. */
  | { kind: 'pseudo-label'; label?: string; lr?: number; threshold?: number }
  /** T3A: gradient-free prototype adjustment of the last Dense layer (see {@link T3ASettings}). */
  | ({ kind: 't3a'; label?: string } & T3ASettings)
  /**
   * CoTTA (optional baseline, spec §3): Adam [lr 1e-3] on the soft cross-entropy against an EMA
   * teacher [α 0.999], augmentation-averaged [`nAug` 4 copies, `augAverage` 'probabilities'] when the
   * source's mean top probability is below `augThreshold` [0.92], stochastic restore [`restoreProb`
   * 0.01], all weights, continual. `predictWith` [`'teacher'`, the paper's output]: whose logits
   * `step` returns and `predict` uses. `predictNormalization` [`'batch'`, the released code discards
   * BatchNorm running statistics]: `'moving'` predicts in inference mode with that model's moving
   * statistics (spec §7.5's post-pass reading). `seed` (default: the context's) seeds the augmentation and restore draws.
   */
  | {
    kind: 'cotta'; label?: string; lr?: number; emaAlpha?: number; restoreProb?: number; nAug?: number; augThreshold?: number;
    augAverage?: CottaAugmentationAverage; augmentation?: AugmentationOptions; predictWith?: 'teacher' | 'student'; predictNormalization?: 'batch' | 'moving'; seed?: number;
  }
  /**
   * MEMO (optional baseline, spec §3): per target point, one SGD step [lr 5e-3] on all weights on the
   * entropy of the mean prediction over `nAug` [16] augmented copies, inference-mode BatchNorm, then
   * predict the point and reset to the source weights. Episodic: the post-pass model is the source.
   */
  | { kind: 'memo'; label?: string; lr?: number; nAug?: number; augmentation?: AugmentationOptions; seed?: number }
  /** Certainty distillation / DEC: SGD [lr 1e-3] from the frozen source teacher. */
  | {
    kind: 'dec'; label?: string; lr?: number; momentum?: number;
    temperature?: Partial<TemperatureConfig>; divergence?: DistillationDivergence; trainable?: TrainableSubset;
    /** Student BatchNorm momentum [the source model's, TF.js default 0.99]. */
    bnMomentum?: number;
    /** `'stream-mean-tau'`: divide post-pass logits by the stream-mean `T·γ` (ablation). */
    postHocScale?: 'none' | 'stream-mean-tau';
    /** Teacher normalisation [`'source'`, the released code]; `'target-batch'` = BN-adapted frozen teacher (ours). */
    teacherNormalization?: 'source' | 'target-batch';
  };

/** What methods may use besides the target stream. */
export interface AdaptationContext {
  /** The run's seed. */
  seed: number;
  /** Clean source validation inputs (labels never read): DEC's `h0`/`κ`, EATA's Fisher. */
  validation?: Dataset;
  /** Precomputed DEC statistics (else computed from `validation`). */
  stats?: SourceStats;
}

/** A method adapting a copy of the source model on an unlabeled target stream. */
export interface AdaptationMethod {
  /** Display name. */
  readonly id: string;
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  /**
   * Adapts on one unlabeled batch; returns the `b × k` logits predicted for it before the update.
   * `indices`: the examples' positions in the target set (needed by offline SHOT's per-epoch
   * pseudo-labels; {@link runStream} passes them).
   */
  step(x: tf.Tensor, indices?: Int32Array): Promise<Float32Array>;
  /**
   * Called by {@link runStream} before each pass with the label-free target set: offline SHOT
   * clusters it for that epoch's pseudo-labels, SHOT's learning-rate decay plans its steps.
   */
  startPass?(data: Dataset, info: PassInfo): void | Promise<void>;
  /** `b × k` logits of the adapted model (its evaluation mode: batch statistics for TENT/ETA/BN-adapt). */
  predict(x: tf.Tensor): Float32Array;
  /** Scalars of the last step (losses, DEC temperatures, ETA kept count). */
  lastLogs(): Record<string, number>;
  /**
   * Set by offline methods (SHOT-IM with `protocol: 'offline'`): {@link runStream} then adapts for
   * `epochs` passes at `batchSize` instead of its own `passes` / `batchSize`.
   */
  readonly offline?: OfflineProtocol;
  /** Frees the method's copies of the model (never the source). */
  dispose(): void;
}

/** What {@link AdaptationMethod.startPass} learns about the coming pass. */
export interface PassInfo {
  /** 0-based pass (epoch) index. */
  pass: number;
  /** Passes planned in all. */
  passes: number;
  /** Batch size of the pass. */
  batchSize: number;
}

/** How an offline method streams the target set: several epochs at its own batch size. */
export interface OfflineProtocol {
  epochs: number;
  batchSize: number;
}

/** Throws `BAD_LEARNING_RATE` unless `lr` is a finite number > 0. */
function checkLearningRate(lr: number, method: string): void {
  check(typeof lr === 'number' && Number.isFinite(lr) && lr > 0, 'BAD_LEARNING_RATE', `${method}'s learning rate must be a finite number > 0, got ${typeof lr === 'string' ? `"${lr}"` : String(lr)}`,
    'pass e.g. lr: 1e-3');
}

/** Every `kind` of {@link MethodSpec}. */
const METHOD_KINDS: readonly MethodSpec['kind'][] = ['source', 'bn-adapt', 'tent', 'eta', 'shot-im', 'pseudo-label', 't3a', 'cotta', 'memo', 'dec'];

/** The display name of a method spec. */
export function methodLabel(spec: MethodSpec): string {
  return spec.label ?? spec.kind;
}

/**
 * An optimizer that forwards to `inner` but makes no step at all when `skip()` is true: ETA's
 * batches that keep no sample leave the weights *and* the optimizer state (Adam moments, step
 * count) untouched, as the reference's skipped `optimizer.step()` does.
 */
class GatedOptimizer extends tf.Optimizer {
  static className = 'GatedOptimizer';
  constructor(readonly inner: tf.Optimizer, private readonly skip: () => boolean) {
    super();
  }
  override applyGradients(variableGradients: Parameters<tf.Optimizer['applyGradients']>[0]): void {
    if (!this.skip()) this.inner.applyGradients(variableGradients);
  }
  override getWeights(): ReturnType<tf.Optimizer['getWeights']> {
    return this.inner.getWeights();
  }
  override setWeights(weightValues: Parameters<tf.Optimizer['setWeights']>[0]): Promise<void> {
    return this.inner.setWeights(weightValues);
  }
  override getConfig(): tf.serialization.ConfigDict {
    return this.inner.getConfig();
  }
  override dispose(): void {
    this.inner.dispose();
  }
}

function readLogits(model: ModelAdapter, x: tf.Tensor, training: boolean): Float32Array {
  const t = tf.tidy(() => model.apply(x, { training }).logits);
  const v = t.dataSync() as Float32Array;
  t.dispose();
  return v;
}

/**
 * Builds a method from `source` (a LayersModelAdapter; it is copied, never changed). BN-only
 * methods (BN-adapt, TENT, ETA/EATA, PL) throw `NO_BATCHNORM` on a model without BatchNorm; DEC
 * and EATA need `context.validation` (or `context.stats` for DEC); T3A throws `NO_HEAD` when the
 * model has no last Dense layer of that name. CoTTA and MEMO throw `BAD_LEARNING_RATE` and their
 * plugins' option errors before any copy is made, `AUGMENTATION_NEEDS_IMAGES` when the model's
 * inputs are not images and the augmentation rotates or shifts.
 */
export async function createAdaptation(spec: MethodSpec, source: ModelAdapter, context: AdaptationContext): Promise<AdaptationMethod> {
  checkChoice(spec?.kind, METHOD_KINDS, 'adaptation method kind',
    { code: 'BAD_METHOD', fix: (choices) => `pass a method spec { kind } with kind one of ${choices}` });
  const id = methodLabel(spec);
  const base = { id, inputShape: source.inputShape, numClasses: source.numClasses };
  const shapeCheck = (x: tf.Tensor): void => checkTargetShape(x.shape, source.inputShape);
  if (spec.kind === 'source') {
    return {
      ...base,
      step: async (x) => (shapeCheck(x), readLogits(source, x, false)),
      predict: (x) => (shapeCheck(x), readLogits(source, x, false)),
      lastLogs: () => ({}),
      dispose: () => undefined,
    };
  }
  if (spec.kind === 't3a') return createT3A(spec, source, base);
  if (spec.kind === 'bn-adapt') {
    if (spec.statistics !== undefined) checkChoice(spec.statistics, ['batch', 'running'] as const, 'BN-adapt statistics', { code: 'BAD_NORMALIZATION' });
    batchNormVariables(source, 'BN adaptation');
    const running = spec.statistics === 'running';
    const copy = new AdaptedModel(await cloneLayersModel(source), { normalization: running ? 'default' : 'batch' });
    return {
      ...base,
      step: async (x) => (shapeCheck(x), readLogits(copy, x, true)),
      predict: (x) => (shapeCheck(x), readLogits(copy, x, !running)),
      lastLogs: () => ({}),
      dispose: () => copy.dispose(),
    };
  }
  let plugin: TrainerPlugin;
  let optimizer: tf.Optimizer;
  let postScale = (): number => 1;
  let student: ModelAdapter;
  let offline: OfflineProtocol | undefined;
  let startPass: AdaptationMethod['startPass'];
  /** The online logits of the step just made (default: the recorder's training-mode forward). */
  let takeOnline = (): Float32Array => recorder.take()[0]!.logits;
  /** Whether the recorder reads back the student's logits each step (not when nothing would use them). */
  let recordOnline = true;
  /** The model and BatchNorm mode `predict` uses (default: the trained model, inference mode). */
  let predictFrom = (): { model: ModelAdapter; training: boolean } => ({ model: trainer.model, training: false });
  let episodic: { takePrediction(): Float32Array | null } | undefined;
  if (spec.kind === 'tent') {
    checkLearningRate(spec.lr ?? 1e-3, 'TENT');
    if (spec.optimizer !== undefined) checkChoice(spec.optimizer, ['adam', 'sgd'] as const, 'TENT optimizer', { code: 'BAD_OPTIMIZER' });
    batchNormVariables(source, 'TENT');
    student = await cloneLayersModel(source);
    plugin = tent();
    optimizer = spec.optimizer === 'sgd' ? tf.train.sgd(spec.lr ?? 1e-3) : tf.train.adam(spec.lr ?? 1e-3, 0.9, 0.999);
  } else if (spec.kind === 'eta') {
    checkLearningRate(spec.lr ?? 1e-3, spec.fisherAlpha ? 'EATA' : 'ETA');
    batchNormVariables(source, spec.fisherAlpha ? 'EATA' : 'ETA');
    student = await cloneLayersModel(source);
    let fisher: EtaOptions['fisher'];
    if (spec.fisherAlpha !== undefined) {
      check(context.validation, 'NO_VALIDATION', 'EATA needs clean source inputs for its Fisher information', 'pass `validation` (clean source inputs) in the adaptation context');
      fisher = { data: context.validation, alpha: spec.fisherAlpha, samples: spec.fisherSamples ?? 500 };
    }
    const etaPlugin = eta({
      ...(spec.e0Factor !== undefined ? { e0Factor: spec.e0Factor } : {}),
      ...(spec.redundancyEps !== undefined ? { redundancyEps: spec.redundancyEps } : {}),
      ...(fisher ? { fisher } : {}),
    });
    plugin = etaPlugin;
    optimizer = new GatedOptimizer(tf.train.adam(spec.lr ?? 1e-3, 0.9, 0.999), () => etaPlugin.skipsUpdate());
  } else if (spec.kind === 'pseudo-label') {
    checkLearningRate(spec.lr ?? 1e-3, 'pseudo-labelling');
    batchNormVariables(source, 'pseudo-labelling');
    student = await cloneLayersModel(source);
    const pl = pseudoLabel(spec.threshold !== undefined ? { threshold: spec.threshold } : {});
    plugin = pl;
    optimizer = new GatedOptimizer(tf.train.adam(spec.lr ?? 1e-3, 0.9, 0.999), () => pl.skipsUpdate());
  } else if (spec.kind === 'shot-im') {
    checkLearningRate(spec.lr ?? 1e-2, 'SHOT-IM');
    if (spec.protocol !== undefined) checkChoice(spec.protocol, ['online', 'offline'] as const, 'SHOT-IM protocol', { code: 'BAD_OFFLINE_PROTOCOL' });
    if (spec.protocol === 'offline') {
      offline = { epochs: spec.epochs ?? 3, batchSize: spec.batchSize ?? 64 };
      check(Number.isInteger(offline.epochs) && offline.epochs >= 1 && Number.isInteger(offline.batchSize) && offline.batchSize >= 1, 'BAD_OFFLINE_PROTOCOL',
        `offline SHOT-IM needs a positive whole number of epochs and batch size, got ${offline.epochs} epochs at batch ${offline.batchSize}`, 'pass e.g. epochs: 3, batchSize: 64 (spec §7.5)');
    }
    const beta = spec.beta ?? 0;
    const lrSchedule = spec.lrSchedule ?? 'constant';
    // Built before the model copy: the plugin rejects a bad β, schedule or labelling option first.
    const shot = shotIm({
      ...(spec.diversityWeight !== undefined ? { diversityWeight: spec.diversityWeight } : {}),
      beta, pseudoLabels: offline ? 'epoch' : 'batch', lrSchedule,
      ...(spec.clustering ? { clustering: spec.clustering } : {}),
      ...(spec.labelNormalization !== undefined ? { labelNormalization: spec.labelNormalization } : {}),
    });
    student = await cloneLayersModel(source);
    plugin = shot;
    optimizer = tf.train.momentum(spec.lr ?? 1e-2, spec.momentum ?? 0.9);
    const perEpochLabels = beta > 0 && offline !== undefined;
    if (perEpochLabels || lrSchedule === 'shot-decay') {
      startPass = (data, info) => {
        if (info.pass === 0 && lrSchedule === 'shot-decay') shot.planSteps(info.passes * data.numBatches(info.batchSize));
        if (perEpochLabels) shot.refreshPseudoLabels(trainer.model, data);
      };
    }
  } else if (spec.kind === 'cotta') {
    const lr = spec.lr ?? 1e-3;
    checkLearningRate(lr, 'CoTTA');
    const predictWith = spec.predictWith ?? 'teacher';
    checkChoice(predictWith, ['teacher', 'student'] as const, 'CoTTA predictWith',
      { code: 'BAD_PREDICT_WITH', fix: "use 'teacher' (the EMA teacher, the paper's output) or 'student'" });
    const normalization = spec.predictNormalization ?? 'batch';
    checkChoice(normalization, ['batch', 'moving'] as const, 'CoTTA predictNormalization',
      { code: 'BAD_NORMALIZATION', fix: "use 'batch' (batch statistics, the released code) or 'moving' (inference mode with the moving statistics)" });
    // Built before the model copy: the plugin rejects bad options first.
    const plugin_ = cotta({
      ...(spec.emaAlpha !== undefined ? { emaAlpha: spec.emaAlpha } : {}),
      ...(spec.restoreProb !== undefined ? { restoreProb: spec.restoreProb } : {}),
      ...(spec.nAug !== undefined ? { nAug: spec.nAug } : {}),
      ...(spec.augThreshold !== undefined ? { augThreshold: spec.augThreshold } : {}),
      ...(spec.augAverage !== undefined ? { augAverage: spec.augAverage } : {}),
      ...(spec.augmentation !== undefined ? { augmentation: spec.augmentation } : {}),
      seed: spec.seed ?? context.seed,
    });
    student = await cloneLayersModel(source);
    plugin = plugin_;
    optimizer = tf.train.adam(lr, 0.9, 0.999);
    if (predictWith === 'teacher') {
      recordOnline = false;
      takeOnline = () => plugin_.takePrediction()!;
    }
    predictFrom = () => ({ model: predictWith === 'teacher' ? plugin_.teacher() : trainer.model, training: normalization === 'batch' });
  } else if (spec.kind === 'memo') {
    const lr = spec.lr ?? 5e-3;
    checkLearningRate(lr, 'MEMO');
    const plugin_ = memo({
      ...(spec.nAug !== undefined ? { nAug: spec.nAug } : {}),
      ...(spec.augmentation !== undefined ? { augmentation: spec.augmentation } : {}),
      seed: spec.seed ?? context.seed,
    });
    student = await cloneLayersModel(source);
    plugin = plugin_;
    // Stateless SGD, as the paper: resetting the weights after each point resets the whole episode.
    optimizer = tf.train.sgd(lr);
    episodic = plugin_;
    recordOnline = false;
  } else {
    checkLearningRate(spec.lr ?? 1e-3, 'DEC');
    let stats = context.stats;
    if (!stats) {
      check(context.validation, 'NO_VALIDATION', 'certainty distillation needs h0 and κ from clean source validation inputs',
        'pass `validation` (clean source inputs; labels are not used) or precomputed `stats` in the adaptation context');
      stats = computeSourceStats(source, context.validation);
    }
    if (spec.trainable === 'bn-affine') batchNormVariables(source, "DEC with trainable 'bn-affine'");
    if (spec.postHocScale !== undefined) checkChoice(spec.postHocScale, ['none', 'stream-mean-tau'] as const, 'DEC post-hoc scale');
    // built before the student copy: the plugin checks its options (temperatures, divergence, …) when it is made
    const dec = certaintyDistillation({
      teacher: source, stats,
      ...(spec.temperature ? { temperature: spec.temperature } : {}),
      ...(spec.divergence ? { divergence: spec.divergence } : {}),
      ...(spec.trainable ? { trainable: spec.trainable } : {}),
      ...(spec.teacherNormalization ? { teacherNormalization: spec.teacherNormalization } : {}),
    });
    student = await cloneLayersModel(source, spec.bnMomentum !== undefined ? { bnMomentum: spec.bnMomentum } : {});
    plugin = dec;
    if (spec.postHocScale === 'stream-mean-tau') postScale = () => dec.streamMeanTau();
    optimizer = spec.momentum ? tf.train.momentum(spec.lr ?? 1e-3, spec.momentum) : tf.train.sgd(spec.lr ?? 1e-3);
  }
  const recorder = onlinePredictions();
  // MEMO and CoTTA's teacher output make their own predictions: no read-back of the student's logits.
  const trainer = new Trainer({ model: student, optimizer, plugins: recordOnline ? [plugin, recorder] : [plugin], seed: context.seed, baseLoss: 'none' });
  try {
    await trainer.setup();
  } catch (e) {
    trainer.dispose();
    student.dispose();
    throw e;
  }
  let logs: Record<string, number> = {};
  return {
    ...base,
    ...(offline ? { offline } : {}),
    ...(startPass ? { startPass } : {}),
    async step(x, indices) {
      shapeCheck(x);
      const n = x.shape[0]!;
      const ids = indices ? Int32Array.from(indices) : Int32Array.from({ length: n }, (_, i) => i);
      if (episodic) {
        // MEMO: one episode (adapt, predict, reset) per point.
        const k = source.numClasses;
        const out = new Float32Array(n * k);
        for (let i = 0; i < n; i++) {
          logs = await trainer.trainStep({ x: tf.slice(x, i, 1), indices: ids.subarray(i, i + 1), size: 1 });
          out.set(episodic.takePrediction()!, i * k);
        }
        return out;
      }
      // The Trainer owns (and frees) the batch, also when a hook throws.
      logs = await trainer.trainStep({ x: tf.clone(x), indices: ids, size: n });
      return takeOnline();
    },
    predict(x) {
      shapeCheck(x);
      const from = predictFrom();
      const logits = readLogits(from.model, x, from.training);
      const s = postScale();
      if (s !== 1) for (let i = 0; i < logits.length; i++) logits[i] = logits[i]! / s;
      return logits;
    },
    lastLogs: () => ({ ...logs }),
    dispose() {
      trainer.dispose();
      // tfjs 4.22's MomentumOptimizer.dispose() forgets the learning-rate scalar its SGD base keeps.
      const c = (optimizer as unknown as { c?: tf.Tensor }).c;
      if (c && !c.isDisposed) c.dispose();
      student.dispose();
    },
  };
}

/** Options of {@link runStream}. */
export interface StreamOptions {
  /**
   * Target batch size (default 50, DEC's reference; all methods use the same). An offline method
   * adapts at its own batch size; this one then only sets the post-pass batches.
   */
  batchSize?: number;
  /** Seed of the stream order. */
  seed: number;
  /** Passes over the target set (default 1; an offline method makes its own epochs); the online predictions of each pass are returned. */
  passes?: number;
  /** Called after every batch with the pass, batch index and the method's logs. */
  onBatch?: (info: { pass: number; batch: number; logs: Record<string, number>; indices: Int32Array; logits: Float32Array }) => void;
}

/** What {@link runStream} returns: logits only — scoring against labels is the caller's separate step. */
export interface StreamResult {
  /**
   * Per pass: the online logits (prediction before each batch's update), `n × k` in dataset order.
   * For an offline method, pass `e` holds epoch `e`'s predictions before each of its updates.
   */
  online: Float32Array[];
  /** Per pass: the order in which examples arrived. */
  order: Int32Array[];
  /** Logits of the adapted model after the last pass (second pass over the set), dataset order. */
  post: Float32Array;
  /** Mean wall time per adaptation step (per-pass work such as offline SHOT's clustering included), milliseconds. */
  msPerBatch: number;
  /** Largest `tf.memory().numTensors` seen after a step. */
  peakTensors: number;
}

/**
 * Streams `target` through `method`: the labels are stripped first (`withoutLabels()`), so nothing
 * downstream can read them. The stream is shuffled with `seed` (one order per pass); after the
 * passes, the adapted model predicts the whole set again in dataset order (post-pass protocol).
 * An offline method (`method.offline`) streams its own epochs at its own batch size.
 */
export async function runStream(method: AdaptationMethod, target: Dataset, options: StreamOptions): Promise<StreamResult> {
  const data = target.withoutLabels();
  checkTargetShape([1, ...data.shape], method.inputShape);
  check(data.numClasses === method.numClasses, 'CLASS_COUNT_MISMATCH', `the target set has ${data.numClasses} classes, the model ${method.numClasses}`,
    'adapt on a target set with the source label space');
  const postBatch = options.batchSize ?? 50;
  const bs = method.offline?.batchSize ?? postBatch;
  const passes = method.offline?.epochs ?? options.passes ?? 1;
  const k = method.numClasses;
  const online: Float32Array[] = [];
  const order: Int32Array[] = [];
  let ms = 0;
  let steps = 0;
  let peak = 0;
  for (let p = 0; p < passes; p++) {
    const out = new Float32Array(data.size * k);
    const seenOrder = new Int32Array(data.size);
    let pos = 0;
    let b = 0;
    if (method.startPass) {
      // Per-epoch work (offline SHOT's clustering) counts towards the adaptation time.
      const t0 = performance.now();
      await method.startPass(data, { pass: p, passes, batchSize: bs });
      ms += performance.now() - t0;
    }
    for (const batch of data.batches(bs, { rng: Rng.derive(options.seed, 'stream', p) })) {
      const t0 = performance.now();
      let logits: Float32Array;
      try {
        logits = await method.step(batch.x, batch.indices);
      } finally {
        disposeBatch(batch);
      }
      ms += performance.now() - t0;
      steps++;
      peak = Math.max(peak, tf.memory().numTensors);
      batch.indices.forEach((idx, r) => {
        out.set(logits.subarray(r * k, (r + 1) * k), idx * k);
        seenOrder[pos++] = idx;
      });
      options.onBatch?.({ pass: p, batch: b++, logs: method.lastLogs(), indices: batch.indices, logits });
    }
    online.push(out);
    order.push(seenOrder);
  }
  const post = new Float32Array(data.size * k);
  for (const batch of data.batches(postBatch)) {
    const logits = method.predict(batch.x);
    post.set(logits, batch.indices[0]! * k);
    disposeBatch(batch);
  }
  return { online, order, post, msPerBatch: steps ? ms / steps : 0, peakTensors: peak };
}
