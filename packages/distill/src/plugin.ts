import * as tf from '@tensorflow/tfjs-core';
import { Rng, TrellisError, check, checkChoice, checkTargetsUsed, requireBatchLabels, smoothTargets, type ModelAdapter, type TrainerContext, type TrainerPlugin } from '@trellis-ml/core';
import { teacherGenerator, type GeneratorState, type SoftLabelBatch, type SoftLabelGenerator } from './generators.js';
import { flipRotate, type FlipRotateOptions } from './models.js';
import { distFromProbs, dkdFromProbs, softTargetKL, standardizeLogits, type KlReduction, type SmoothingVariant } from './losses.js';

/** The distillation loss a {@link distillPlugin} adds. */
export type DistillMethod =
  /** `T²·KL(p ‖ softmax(z_s/T))` (ReffAKD, Hinton KD with a teacher source, Tf-KD with `scaleT2: false`). */
  | { kind: 'soft-kl'; T: number; reduction?: KlReduction; scaleT2?: boolean }
  /** Decoupled KD: `min((epoch+1)/warmupEpochs, 1)·(α·TCKD + β·NCKD)`, epoch counted from 0 (mdistiller's `epoch/warmup` with epochs from 1); no warm-up when `warmupEpochs` is 0 or left out. */
  | { kind: 'dkd'; alpha: number; beta: number; T: number; warmupEpochs?: number }
  /** DIST: `τ²·(β·inter + γ·intra)`. */
  | { kind: 'dist'; beta?: number; gamma?: number; tau?: number }
  /** KD on z-scored logits; the teacher side is z-scored only when `standardizeTeacher` (default true for a teacher, false for per-class sources). */
  | { kind: 'logit-std-kd'; T: number; standardizeTeacher?: boolean; reduction?: KlReduction };

/** Options of {@link distillPlugin}. */
export interface DistillPluginOptions {
  /** The soft-label source: {@link reffakdGenerator}, {@link teacherGenerator}, {@link matrixGenerator}, ... */
  source: SoftLabelGenerator;
  method: DistillMethod;
  /**
   * Weight of the hard-label cross-entropy (the Trainer's base loss is scaled by it). Explicit, never a bare "α".
   * With the base loss off (`baseLoss: 'none'`, or a loss-replacing plugin such as privacy's `crl`) there is
   * nothing to scale: pass 1, and the hard-label part of the loss is that plugin's (another weight is `TARGETS_IGNORED`).
   */
  ceWeight: number;
  /** Weight of the distillation term. */
  kdWeight: number;
  /**
   * `'replace-teacher'` (default): the source takes the teacher's place in the method's loss.
   * `'add-term'`: `extraTeacher` drives the method, and the source's soft labels add
   * `addTermWeight·T²·KL(P[y] ‖ softmax(z/T))` (§4, mode B).
   */
  mode?: 'replace-teacher' | 'add-term';
  /** The real teacher of `'add-term'` mode. */
  extraTeacher?: ModelAdapter;
  /** Weight of the added soft-label term in `'add-term'` mode (default `kdWeight`). */
  addTermWeight?: number;
  /** Temperature of the added term (default: the method's T / τ). */
  addTermT?: number;
  /** Plugin name (default `distill`). */
  name?: string;
  /** Warning sink (small DIST batches). */
  warn?: (line: string) => void;
}

/** JSON state of the distill plugin: the step count and the source (its matrix, so a resumed run does not refit). */
export interface DistillPluginState {
  steps: number;
  source: GeneratorState;
}

const METHOD_KINDS: readonly DistillMethod['kind'][] = ['soft-kl', 'dkd', 'dist', 'logit-std-kd'];

function checkNonNegative(value: unknown, what: string): void {
  check(typeof value === 'number' && Number.isFinite(value) && value >= 0, 'BAD_OPTION', `${what} ${String(value)} must be a finite number ≥ 0`, `pass ${what} as a number ≥ 0`);
}

/** Checks the method's kind and weights (temperatures are checked by the plugin). */
function checkMethod(m: DistillMethod): void {
  const fix = "pass method: { kind: 'soft-kl', T }, { kind: 'dkd', alpha, beta, T }, { kind: 'dist', beta?, gamma?, tau? } or { kind: 'logit-std-kd', T }";
  check(typeof m === 'object' && m !== null, 'BAD_OPTION', () => `distillation method ${String(m)} is not an object`, fix);
  checkChoice(m.kind, METHOD_KINDS, 'distillation method kind', { fix });
  // checked here, not at the first step; a truthy string used to act as true
  if ((m.kind === 'soft-kl' || m.kind === 'logit-std-kd') && m.reduction !== undefined) {
    checkChoice(m.reduction, ['batchmean', 'elementwise-mean'] as const, 'KL reduction',
      { fix: "pass reduction 'batchmean' (sum over classes, mean over examples; the default) or 'elementwise-mean' (PyTorch's nn.KLDivLoss() default)" });
  }
  const flag = m.kind === 'soft-kl' ? (['scaleT2', m.scaleT2] as const) : m.kind === 'logit-std-kd' ? (['standardizeTeacher', m.standardizeTeacher] as const) : null;
  if (flag) {
    check(flag[1] === undefined || typeof flag[1] === 'boolean', 'BAD_OPTION', `${m.kind} ${flag[0]} ${JSON.stringify(flag[1])} is not true or false`,
      `pass ${flag[0]}: true or false, or leave it out for the default`);
  }
  if (m.kind === 'dkd') {
    checkNonNegative(m.alpha, 'DKD alpha (the TCKD weight)');
    checkNonNegative(m.beta, 'DKD beta (the NCKD weight)');
    // 0 (like leaving it out) means no warm-up
    check(m.warmupEpochs === undefined || (Number.isFinite(m.warmupEpochs) && m.warmupEpochs >= 0), 'BAD_OPTION',
      `DKD warmupEpochs ${String(m.warmupEpochs)} must be a finite number ≥ 0`, 'pass the number of warm-up epochs (e.g. 20), or 0 / leave it out for no warm-up');
  } else if (m.kind === 'dist') {
    if (m.beta !== undefined) checkNonNegative(m.beta, 'DIST beta (the inter-class weight)');
    if (m.gamma !== undefined) checkNonNegative(m.gamma, 'DIST gamma (the intra-class weight)');
  }
}

function methodTemperature(m: DistillMethod): number {
  return m.kind === 'dist' ? m.tau ?? 1 : m.T;
}

/** Throws `TEACHER_CLASS_MISMATCH` unless the teacher outputs as many classes as the student. */
export function checkTeacherClasses(teacherClasses: number, studentClasses: number, what = 'teacher'): void {
  if (teacherClasses !== studentClasses) {
    throw new TrellisError('TEACHER_CLASS_MISMATCH', `the ${what} outputs ${teacherClasses} classes but the student outputs ${studentClasses}`,
      `distil from a ${what} trained on the student's ${studentClasses} classes (same class order)`, { teacherClasses, studentClasses });
  }
}

/**
 * The distillation plugin: adds the method's loss against the source's soft labels as the term
 * `kd` (for DKD the two weighted terms `tckd` and `nckd` instead; plus `soft` in `'add-term'` mode), and weights the Trainer's
 * cross-entropy by `ceWeight` by scaling its targets in `transformTargets`. At fit start it fits an
 * unfitted source on the training set (ReffAKD trains its autoencoder there) and prepares a cached
 * teacher. All tape hooks are synchronous.
 */
export function distillPlugin(options: DistillPluginOptions): TrainerPlugin<DistillPluginState> {
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', `distillPlugin needs an options object, got ${String(options)}`,
    "pass { source, method, ceWeight, kdWeight }, e.g. { source: reffakdGenerator({ numClasses: 10 }), method: { kind: 'soft-kl', T: 4 }, ...weightsFromAlpha(0.5, 'alpha-weights-kd') }");
  const { source, method } = options;
  check(typeof source === 'object' && source !== null && typeof source.targets === 'function', 'BAD_OPTION', `distillPlugin's source ${String(source)} is not a soft-label generator`,
    'pass source: a generator such as reffakdGenerator(...), teacherGenerator(model), labelSmoothingGenerator(...) or matrixGenerator(P)');
  checkMethod(method);
  const mode = options.mode ?? 'replace-teacher';
  check(mode === 'replace-teacher' || mode === 'add-term', 'BAD_OPTION', `mode ${JSON.stringify(mode)} is not 'replace-teacher' or 'add-term'`,
    "pass mode 'replace-teacher' (default: the source stands in for the teacher) or 'add-term' (with extraTeacher)");
  check(Number.isFinite(options.ceWeight) && options.ceWeight >= 0 && Number.isFinite(options.kdWeight) && options.kdWeight >= 0, 'BAD_OPTION',
    `ceWeight ${options.ceWeight} and kdWeight ${options.kdWeight} must be finite and ≥ 0`, 'pass explicit weights, e.g. weightsFromAlpha(0.5, \'alpha-weights-kd\')');
  const T = methodTemperature(method);
  check(Number.isFinite(T) && T > 0, 'BAD_TEMPERATURE', `the ${method.kind} temperature ${T} must be a positive finite number`, 'pass T > 0, e.g. 4');
  check(mode === 'replace-teacher' || options.extraTeacher, 'BAD_OPTION', "mode 'add-term' needs `extraTeacher` (the real teacher that drives the method)",
    "pass extraTeacher, or use mode 'replace-teacher' to let the source stand in for the teacher");
  if (options.addTermWeight !== undefined) checkNonNegative(options.addTermWeight, 'addTermWeight');
  if (options.addTermT !== undefined) {
    check(Number.isFinite(options.addTermT) && options.addTermT > 0, 'BAD_TEMPERATURE', `addTermT ${options.addTermT} must be a positive finite number`,
      "pass addTermT > 0, or leave it out to use the method's temperature");
  }
  const driver: SoftLabelGenerator = mode === 'add-term' ? teacherGenerator(options.extraTeacher!) : source;
  let steps = 0;
  let warned = false;
  let soloWarned = false;

  const lossTerms = (logits: tf.Tensor2D, batch: SoftLabelBatch, ctx: TrainerContext): Record<string, tf.Scalar> => {
    const out: Record<string, tf.Scalar> = {};
    const w = options.kdWeight;
    if (method.kind === 'soft-kl') {
      const p = driver.targets(batch, method.T);
      out.kd = tf.mul(softTargetKL(logits, p, { T: method.T, reduction: method.reduction, scaleT2: method.scaleT2 }), w) as tf.Scalar;
    } else if (method.kind === 'dkd') {
      const p = driver.targets(batch, method.T);
      const warm = method.warmupEpochs ? Math.min((ctx.epoch + 1) / method.warmupEpochs, 1) : 1;
      const d = dkdFromProbs(logits, p, batch.labels, { ...method, checkLabelValues: !batch.labelsChecked });
      out.tckd = tf.mul(d.tckd, w * warm * method.alpha) as tf.Scalar;
      out.nckd = tf.mul(d.nckd, w * warm * method.beta) as tf.Scalar;
    } else if (method.kind === 'dist') {
      const B = logits.shape[0];
      if (B < 2) {
        // DIST's intra-class term needs 2 examples. A training set of size ≡ 1 (mod batch size) ends every epoch
        // with a batch of 1, which used to throw BATCH_TOO_SMALL after a whole epoch of training: that batch gets
        // no DIST term (its cross-entropy still counts). A first batch of 1 means batch size 1 (or one example): an error.
        check(ctx.batchIndex !== 0, 'BATCH_TOO_SMALL', `DIST needs at least 2 examples per batch (got ${B} in the first batch of epoch ${ctx.epoch}): its intra-class term correlates across the batch`,
          'train with a batch size of 8 or more');
        if (!soloWarned) {
          soloWarned = true;
          (options.warn ?? console.warn)('distill: DIST skips batches of 1 example (its intra-class term needs 2): the last, partial batch of an epoch has 1 example when the training set size is 1 more than a multiple of the batch size');
        }
        out.kd = tf.scalar(0);
      } else {
        if (B < 8 && !warned) {
          warned = true;
          (options.warn ?? console.warn)(`distill: DIST with a batch of ${B} (< 8): the intra-class correlation is noisy; use batches of 8 or more`);
        }
        const p = driver.targets(batch, method.tau ?? 1);
        out.kd = tf.mul(distFromProbs(logits, p, method), w) as tf.Scalar;
      }
    } else {
      const standardizeTeacher = method.standardizeTeacher ?? driver.granularity === 'per-sample';
      const teacherProbs = standardizeTeacher
        ? (tf.softmax(tf.div(standardizeLogits(driver.pseudoLogits(batch, method.T)), method.T)) as tf.Tensor2D)
        : driver.targets(batch, method.T);
      out.kd = tf.mul(softTargetKL(standardizeLogits(logits), teacherProbs, { T: method.T, reduction: method.reduction }), w) as tf.Scalar;
    }
    if (mode === 'add-term') {
      const Ta = options.addTermT ?? T;
      out.soft = tf.mul(softTargetKL(logits, source.targets(batch, Ta), { T: Ta }), options.addTermWeight ?? w) as tf.Scalar;
    }
    return out;
  };

  return {
    name: options.name ?? 'distill',
    apiVersion: 1,
    setup: (ctx) => {
      // the weight lives in transformTargets, which the Trainer runs only with its base loss on
      if (options.ceWeight !== 1) {
        checkTargetsUsed(ctx, options.name ?? 'distill', `weights the base cross-entropy by ceWeight ${options.ceWeight}`,
          "pass ceWeight: 1 (the hard-label part of the loss is then the loss-replacing plugin's), or train with the base cross-entropy");
      }
      checkTeacherClasses(source.numClasses, ctx.model.numClasses, source.granularity === 'per-sample' ? 'teacher' : `soft-label source "${source.name}"`);
      if (mode === 'add-term') checkTeacherClasses(driver.numClasses, ctx.model.numClasses);
    },
    onFitStart: async (ctx) => {
      if (!ctx.train) return;
      if (!source.fitted) {
        check(source.fit, 'GENERATOR_NOT_FITTED', `the "${source.name}" source is not fitted and cannot fit itself`, 'fit it before training');
        await source.fit(ctx.train);
      }
      await source.prepare?.(ctx.train);
      if (driver !== source) await driver.prepare?.(ctx.train);
    },
    onBatchStart: async (ctx) => {
      // bare trainStep calls skip onFitStart: fit an unfitted source on the training set when there is one
      if (!source.fitted && ctx.train && source.fit) await source.fit(ctx.train);
    },
    transformTargets: (targets) => (options.ceWeight === 1 ? targets : tf.mul(targets, options.ceWeight)),
    lossTerms: (outputs, batch, ctx) => {
      const labels = requireBatchLabels(ctx, batch, options.name ?? 'distill', 'soft labels are looked up by the label');
      // the Trainer checked the step's labels (a Dataset's when it was built, others once in the step): no host read here
      return lossTerms(outputs.logits as tf.Tensor2D, { labels, inputs: batch.x, indices: batch.indices, labelsChecked: true }, ctx);
    },
    onBatchEnd: () => {
      steps++;
    },
    getState: () => ({ steps, source: source.toJSON() }),
    setState: (s) => {
      steps = s.steps;
      if (source.granularity === 'per-class' && s.source.matrix) source.restore(s.source);
    },
    // frees the sources' tensors; a per-class source keeps its matrix, so it can be shared by later runs
    dispose: () => {
      source.dispose();
      if (driver !== source) driver.dispose();
    },
  };
}

/**
 * Label smoothing as a pure target replacement (no extra loss term): the Trainer's cross-entropy
 * targets become `(1−ε)·onehot + ε/C` (`'uniform-all'`) or `1−ε` / `ε/(C−1)` (`'uniform-others'`), by core's
 * `smoothTargets` (a row another plugin weighted is smoothed within its own mass).
 * A Trainer without the base loss (`baseLoss: 'none'`, or a loss-replacing plugin beside it) is `TARGETS_IGNORED` at setup.
 */
export function labelSmoothingPlugin(options: { epsilon: number; variant?: SmoothingVariant; name?: string }): TrainerPlugin<Record<string, never>> {
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', `labelSmoothingPlugin needs an options object, got ${String(options)}`, 'pass { epsilon }, e.g. { epsilon: 0.1 }');
  check(options.variant === undefined || options.variant === 'uniform-all' || options.variant === 'uniform-others', 'BAD_OPTION',
    `label-smoothing variant ${JSON.stringify(options.variant)} is not 'uniform-all' or 'uniform-others'`,
    "pass variant 'uniform-all' (ε/C on every class, default) or 'uniform-others' (ε/(C−1) on the wrong classes)");
  check(options.epsilon >= 0 && options.epsilon <= 1, 'BAD_OPTION', `label smoothing ε ${options.epsilon} is outside [0, 1]`, 'pass ε in [0, 1], e.g. 0.1');
  return {
    name: options.name ?? 'label-smoothing',
    apiVersion: 1,
    // beside a loss-replacing plugin (or baseLoss 'none') it was silently a no-op
    setup: (ctx) => checkTargetsUsed(ctx, options.name ?? 'label-smoothing', 'smooths the base loss\'s targets'),
    // within each row's mass (core's smoothTargets): exact on one-hot rows, and preserves a scaled row's mass
    transformTargets: (targets) => smoothTargets(targets as tf.Tensor2D, options.epsilon, options.variant),
  };
}

/** Options of {@link flipRotatePlugin}. */
export interface FlipRotatePluginOptions extends FlipRotateOptions {
  /** Seed of the per-step augmentation draws (the run's seed). */
  seed: number;
  /** Plugin name (default `flip-rotate`). */
  name?: string;
}

/**
 * The paper's training augmentation as a Trainer plugin: every training batch `[B, H, W, C]` is
 * replaced in `onBatchStart` by {@link flipRotate} of it (random left–right flip, rotation in
 * ±`maxDegrees`), drawn from `Rng.derive(seed, 'flip-rotate', step)`. Pass `fill` = the background's
 * value of the inputs you train on (e.g. `−mean/std` for standardised images). A teacher whose logits
 * are cached (`cache: 'epoch-invariant'`) cannot be used with it (`TEACHER_CACHE_STALE`).
 */
export function flipRotatePlugin(options: FlipRotatePluginOptions): TrainerPlugin {
  flipRotate(new Float32Array(0), { n: 0, h: 0, w: 0, c: 0 }, new Rng(0), options); // validates maxDegrees and fill now, not at the first batch
  return {
    name: options.name ?? 'flip-rotate',
    apiVersion: 1,
    order: 'pre',
    onBatchStart: (ctx: TrainerContext) => {
      const batch = ctx.batch!;
      const x = batch.x;
      check(x.rank === 4, 'BAD_SHAPE', `flip/rotate augmentation needs image batches [B, H, W, C], got shape [${x.shape.join(', ')}]`,
        'train on image-shaped data (e.g. padImages), not flat inputs');
      const [n, h, w, c] = x.shape as [number, number, number, number];
      const out = flipRotate(x.dataSync() as Float32Array, { n, h, w, c }, Rng.derive(options.seed, 'flip-rotate', ctx.step), options);
      return { ...batch, x: tf.tensor4d(out, [n, h, w, c]), ...(batch.y ? { y: tf.clone(batch.y) } : {}), ...(batch.groups ? { groups: tf.clone(batch.groups) } : {}) };
    },
  };
}
