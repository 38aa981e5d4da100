/**
 * CoTTA as a core Trainer plugin: the trained model is the student; the plugin keeps a mean teacher
 * (EMA of the student) and a frozen anchor copy of the source, builds the teacher's (possibly
 * augmentation-averaged) prediction before each step, and after each step updates the teacher and
 * stochastically restores student weights to the source. The weight arithmetic lives in `cotta.ts`,
 * the augmentations in `augmentation.ts`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, checkChoice, Rng, softCrossEntropy, TrellisError, type LayersModelAdapter, type ModelAdapter, type RngState, type TrainerPlugin } from '@trellis-ml/core';
import { augmentImages, resolveAugmentation, type AugmentationOptions, type ResolvedAugmentation } from './augmentation.js';
import { emaUpdate, stochasticRestore } from './cotta.js';
import { cloneLayersModel, layersModelOf } from './models.js';
import { checkBatch, claimAdaptation, skippedStepGuard } from './pluginGuards.js';

/** How the teacher's predictions on the augmented copies are averaged. */
export type CottaAugmentationAverage = 'probabilities' | 'logits';

/** Options of {@link cotta} (defaults in brackets). */
export interface CottaOptions {
  /** Plugin name [`cotta`]. */
  name?: string;
  /** EMA factor α of the mean teacher, in [0, 1) [0.999]. */
  emaAlpha?: number;
  /** Probability with which each student weight element is reset to its source value after a step, in [0, 1] [0.01]. */
  restoreProb?: number;
  /** Augmented copies of the batch the teacher averages over, a whole number ≥ 1 [4; the paper's 32 is an option]. */
  nAug?: number;
  /** The teacher averages over augmentations when the source (anchor) model's mean top probability on the batch is below this, in [0, 1] [0.92]. */
  augThreshold?: number;
  /**
   * `'probabilities'` (the default): the target is the mean of the teacher's softmax over the copies.
   * `'logits'`: the softmax of the mean of the teacher's logits (the released code's averaging).
   */
  augAverage?: CottaAugmentationAverage;
  /** The augmentations (see {@link AugmentationOptions}; defaults for 28 × 28 grayscale images). */
  augmentation?: AugmentationOptions;
  /** Seed of the augmentation and restore draws [the Trainer's seed]. */
  seed?: number;
}

/**
 * JSON state of {@link cotta}: counts, the state of its two generators and the mean teacher's
 * variables (each variable's float32 values as numbers, which JSON carries exactly; null before setup).
 */
export interface CottaState {
  steps: number;
  augmentedSteps: number;
  restored: number;
  augmentRng: RngState | null;
  restoreRng: RngState | null;
  teacher: Record<string, number[]> | null;
}

/** What {@link cotta} returns besides the plugin hooks. */
export interface CottaControls {
  /** The mean teacher (a copy of the student at setup, updated by EMA after every step). Throws `NOT_SET_UP` before the Trainer's setup. */
  teacher(): ModelAdapter;
  /**
   * The teacher's `b × k` logits for the last batch, made before its update — CoTTA's output — then
   * forgets them (null when none is pending). With augmentation averaging these are the mean logits
   * (`augAverage: 'logits'`) or the log of the mean probabilities (`'probabilities'`).
   */
  takePrediction(): Float32Array | null;
}

const MIN_PROBABILITY = 1e-30;

/**
 * CoTTA (Wang et al., CVPR 2022; qinenergy/cotta): continual test-time adaptation of all weights.
 * Per batch: the student (the Trainer's model) minimises the soft cross-entropy `−Σ_k q_k ln p_k`
 * against the mean teacher's prediction `q`; when the source model's mean top probability on the
 * batch is below `augThreshold`, `q` averages the teacher over `nAug` augmented copies of the batch.
 * After the optimizer step the teacher becomes `α·teacher + (1 − α)·student`, then each student
 * weight element returns to its source value with probability `restoreProb`. Every forward pass
 * (student, teacher, anchor) normalises with the batch's statistics, as the released code, which
 * discards BatchNorm running statistics. "Source" = the model's weights when the Trainer is set up
 * (the plugin copies them twice there: teacher and anchor). Nothing is reset between batches.
 *
 * Throws `BAD_EMA_ALPHA`, `BAD_RESTORE_PROB`, `BAD_AUG_COUNT`, `BAD_THRESHOLD`, `BAD_AUG_AVERAGE`,
 * `BAD_AUGMENTATION` on bad options; at setup `NOT_CLONEABLE` (not a layers model) and
 * `AUGMENTATION_NEEDS_IMAGES`. A checkpoint (`getState`) holds the mean teacher's variables, so a resumed
 * run continues from the same teacher; the anchor is not stored — it is the model at setup, so resume
 * from the source model, as the run began (the Trainer sets plugins up before it restores the student).
 * A teacher state whose variables do not match the model throws `BAD_STATE`. A plugin after CoTTA that replaces the
 * batch (MEMO's augmented copies) is `BATCH_REPLACED`: the teacher's prediction is for the batch CoTTA saw.
 */
export function cotta(options: CottaOptions = {}): TrainerPlugin<CottaState> & CottaControls {
  const alpha = options.emaAlpha ?? 0.999;
  check(typeof alpha === 'number' && alpha >= 0 && alpha < 1, 'BAD_EMA_ALPHA', `CoTTA's teacher EMA factor ${alpha} is outside [0, 1)`, 'pass e.g. emaAlpha: 0.999 (the paper\'s)');
  const restoreProb = options.restoreProb ?? 0.01;
  check(typeof restoreProb === 'number' && restoreProb >= 0 && restoreProb <= 1, 'BAD_RESTORE_PROB', `CoTTA's restore probability ${restoreProb} is outside [0, 1]`,
    'pass e.g. restoreProb: 0.01 (the paper\'s), or 0 to switch the stochastic restore off');
  const nAug = options.nAug ?? 4;
  check(Number.isInteger(nAug) && nAug >= 1, 'BAD_AUG_COUNT', `CoTTA needs a whole number ≥ 1 of augmented copies, got ${nAug}`, 'pass e.g. nAug: 4 (CPU) or 32 (the paper\'s)');
  const threshold = options.augThreshold ?? 0.92;
  check(typeof threshold === 'number' && threshold >= 0 && threshold <= 1, 'BAD_THRESHOLD', `CoTTA's augmentation threshold ${threshold} is outside [0, 1]`,
    'pass a mean top probability such as 0.92 (the paper\'s CIFAR setting); 0 never augments');
  const average = options.augAverage ?? 'probabilities';
  checkChoice(average, ['probabilities', 'logits'] as const, 'CoTTA augmentation average',
    { code: 'BAD_AUG_AVERAGE', fix: "use 'probabilities' (mean of the teacher's softmax) or 'logits' (softmax of the mean logits, the released code)" });
  resolveAugmentation(options.augmentation, null, 'CoTTA');
  const name = options.name ?? 'cotta';

  let teacherModel: LayersModelAdapter | null = null;
  let anchor: LayersModelAdapter | null = null;
  let teacherWeights: Record<string, tf.Variable> = {};
  let sourceWeights: Record<string, tf.Tensor> = {};
  let teacherStatistics: tf.Variable[] = [];
  let settings: ResolvedAugmentation | null = null;
  let augmentRng: Rng | null = null;
  let restoreRng: Rng | null = null;
  let pendingRng: { augment: RngState; restore: RngState } | null = null;
  let pendingTeacher: Record<string, number[]> | null = null;
  let target: tf.Tensor | null = null;
  /** The inputs `target` was predicted for: a later plugin that replaces the batch makes them differ from the step's. */
  let targetFor: tf.Tensor | null = null;
  let prediction: Float32Array | null = null;
  let last = { confidence: NaN, augmented: false, restored: 0 };
  let steps = 0;
  let augmentedSteps = 0;
  let restored = 0;
  // The teacher's moving statistics follow only its forward on the un-augmented batch.
  const statistics = skippedStepGuard();

  const freeTarget = (): void => {
    target?.dispose();
    target = null;
    targetFor = null;
  };

  /** The teacher's target `q` (kept) and its online logits for batch `x`. */
  const teacherTarget = (x: tf.Tensor): { q: tf.Tensor; logits: Float32Array } => {
    const teacher = teacherModel!;
    const standard = tf.tidy(() => teacher.apply(x, { training: true }).logits);
    if (!last.augmented) {
      const q = tf.tidy(() => tf.softmax(standard));
      const logits = Float32Array.from(standard.dataSync() as Float32Array);
      standard.dispose();
      return { q, logits };
    }
    standard.dispose();
    const n = x.shape[0]!;
    const shape = x.shape.slice(1);
    const per = shape.reduce((a, b) => a * b, 1);
    const copies = augmentImages(x.dataSync() as Float32Array, shape, n, nAug, settings!, augmentRng!);
    statistics.hold(teacherStatistics);
    let mean: tf.Tensor;
    try {
      mean = tf.tidy(() => {
        let sum: tf.Tensor | null = null;
        for (let c = 0; c < nAug; c++) {
          const z = teacher.apply(tf.tensor(copies.subarray(c * n * per, (c + 1) * n * per), x.shape), { training: true }).logits;
          const v = average === 'logits' ? z : tf.softmax(z);
          sum = sum ? tf.add(sum, v) : v;
        }
        return tf.div(sum!, nAug);
      });
    } finally {
      statistics.restore();
    }
    const [q, online] = tf.tidy(() => (average === 'logits' ? [tf.softmax(mean), mean.clone()] : [mean.clone(), tf.log(tf.maximum(mean, MIN_PROBABILITY))]));
    mean.dispose();
    const logits = Float32Array.from(online!.dataSync() as Float32Array);
    online!.dispose();
    return { q: q!, logits };
  };

  return {
    name,
    apiVersion: 1,
    async setup(ctx) {
      // before the early return: a plugin reused in another Trainer claims that Trainer too
      claimAdaptation(ctx, name, 'CoTTA');
      if (teacherModel) return;
      const layers = layersModelOf(ctx.model);
      if (!layers) {
        throw new TrellisError('NOT_CLONEABLE', 'CoTTA copies the model into a teacher and a source anchor, but it is not a layers model',
          'train a LayersModelAdapter (adaptLayersModel(), mlpBn(), core smallCnn()/mlp())');
      }
      settings = resolveAugmentation(options.augmentation, ctx.model.inputShape, 'CoTTA');
      teacherModel = await cloneLayersModel(layers);
      anchor = await cloneLayersModel(layers);
      teacherWeights = teacherModel.trainableVariables();
      sourceWeights = anchor.trainableVariables();
      const all = teacherModel.allVariables();
      teacherStatistics = Object.keys(all).filter((n) => n.endsWith('/moving_mean') || n.endsWith('/moving_variance')).map((n) => all[n]!);
      const seed = options.seed ?? ctx.seed;
      augmentRng = Rng.derive(seed, name, 'augment');
      restoreRng = Rng.derive(seed, name, 'restore');
      if (pendingRng) {
        augmentRng.setState(pendingRng.augment);
        restoreRng.setState(pendingRng.restore);
        pendingRng = null;
      }
      if (pendingTeacher) {
        loadTeacher(teacherModel, pendingTeacher);
        pendingTeacher = null;
      }
    },
    onBatchStart(ctx) {
      checkBatch(ctx, name);
      check(teacherModel !== null && anchor !== null, 'NOT_SET_UP', 'CoTTA has no teacher yet', 'run the plugin in a Trainer (trainer.setup() copies the model)');
      if (!ctx.batch) return;
      freeTarget();
      const x = ctx.batch.x;
      const source = anchor!;
      const conf = tf.tidy(() => tf.mean(tf.max(tf.softmax(source.apply(x, { training: true }).logits), -1)));
      const confidence = conf.dataSync()[0]!;
      conf.dispose();
      last = { confidence, augmented: confidence < threshold, restored: 0 };
      const t = teacherTarget(x);
      target = t.q;
      targetFor = x;
      prediction = t.logits;
    },
    lossTerms(outputs, batch) {
      check(target !== null, 'NOT_SET_UP', 'CoTTA has no teacher prediction for this batch', 'let the Trainer call onBatchStart before the loss (trainStep / fit do)');
      // a plugin after this one replaced the batch (MEMO's augmented copies): tfjs failed on the shapes, or a same-size batch trained on another batch's target
      check(batch.x === targetFor, 'BATCH_REPLACED',
        () => `CoTTA made its teacher prediction for a batch of ${target!.shape[0]} examples, but the step trains on ${batch.x.shape[0]}: a plugin that runs after "${name}" replaced the batch in onBatchStart (e.g. MEMO's augmented copies)`,
        `list the plugin that replaces the batch before "${name}" (or give it order: 'pre', as distill's flipRotatePlugin has), so CoTTA predicts on the batch that trains; CoTTA and MEMO are two adaptation methods and do not combine`);
      return { 'soft-ce': softCrossEntropy(outputs.logits, target!) };
    },
    afterApply(ctx) {
      emaUpdate(teacherWeights, ctx.model.allVariables(), alpha);
      last.restored = stochasticRestore(ctx.model.trainableVariables(), sourceWeights, restoreProb, restoreRng!);
      steps++;
      if (last.augmented) augmentedSteps++;
      restored += last.restored;
    },
    onBatchEnd(ctx) {
      freeTarget();
      ctx.logs[`${name}/anchor-confidence`] = last.confidence;
      ctx.logs[`${name}/augmented`] = last.augmented ? 1 : 0;
      ctx.logs[`${name}/restored`] = last.restored;
    },
    teacher() {
      if (!teacherModel) throw new TrellisError('NOT_SET_UP', 'CoTTA has no teacher before the Trainer is set up', 'call trainer.setup() (or train a step) first');
      return teacherModel;
    },
    takePrediction() {
      const out = prediction;
      prediction = null;
      return out;
    },
    getState: () => ({
      steps, augmentedSteps, restored,
      augmentRng: augmentRng?.getState() ?? pendingRng?.augment ?? null,
      restoreRng: restoreRng?.getState() ?? pendingRng?.restore ?? null,
      teacher: teacherModel ? teacherValues(teacherModel) : pendingTeacher,
    }),
    setState(s) {
      steps = s.steps;
      augmentedSteps = s.augmentedSteps;
      restored = s.restored;
      if (s.augmentRng && s.restoreRng) {
        if (augmentRng && restoreRng) {
          augmentRng.setState(s.augmentRng);
          restoreRng.setState(s.restoreRng);
        } else {
          pendingRng = { augment: s.augmentRng, restore: s.restoreRng };
        }
      }
      if (s.teacher) {
        if (teacherModel) loadTeacher(teacherModel, s.teacher);
        else pendingTeacher = s.teacher;
      }
    },
    dispose() {
      freeTarget();
      statistics.release();
      teacherModel?.dispose();
      anchor?.dispose();
      teacherModel = null;
      anchor = null;
      teacherWeights = {};
      sourceWeights = {};
      teacherStatistics = [];
    },
  };
}

/** Every variable of the teacher (weights and moving statistics) as plain numbers, by name. */
function teacherValues(teacher: LayersModelAdapter): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [n, v] of Object.entries(teacher.allVariables())) out[n] = Array.from(v.dataSync() as Float32Array);
  return out;
}

/** Assigns a {@link teacherValues} record to the teacher's variables, checking names and sizes first. */
function loadTeacher(teacher: LayersModelAdapter, values: Record<string, number[]>): void {
  const vars = teacher.allVariables();
  const names = Object.keys(vars);
  for (const n of names) {
    const v = vars[n]!;
    if (!Array.isArray(values[n]) || values[n]!.length !== v.size) {
      throw new TrellisError('BAD_STATE', `CoTTA's saved teacher has no variable "${n}" of ${v.size} values`,
        'resume with the same model architecture the checkpoint was written with (or start a fresh run)', { variable: n });
    }
  }
  const extra = Object.keys(values).filter((n) => !(n in vars));
  if (extra.length) {
    throw new TrellisError('BAD_STATE', `CoTTA's saved teacher has variables the model does not: ${extra.join(', ')}`,
      'resume with the same model architecture the checkpoint was written with (or start a fresh run)', { extra });
  }
  for (const n of names) {
    const v = vars[n]!;
    tf.tidy(() => v.assign(tf.tensor(values[n]!, v.shape, 'float32')));
  }
}
