import * as tf from '@tensorflow/tfjs-core';
import { Rng, TrellisError, checkTargetsUsed, learningRateSchedule, penultimateTap, requireBatchLabels, smoothTargets, type TrainerContext, type TrainerPlugin } from '@trellis-ml/core';
import { checkVariant, relaxedCenterLoss, relaxedCrossEntropy, type RelaxBranch } from './relaxedLosses.js';
import { resolveSRCMConfig, withSRCM, type SRCMConfig } from './srcm.js';

/**
 * A plugin whose loss replaces the Trainer's cross-entropy (core's `replacesBaseLoss`: the Trainer
 * then adds no base loss).
 */
export interface LossReplacingPlugin<S = unknown> extends TrainerPlugin<S> {
  readonly replacesBaseLoss: true;
}

/** The step's labels; `UNLABELED` names the plugin, and a plugin that replaced the batch without them (core's check). */
function labelsOf(ctx: TrainerContext, name: string): tf.Tensor1D {
  return requireBatchLabels(ctx, ctx.batch, name);
}

/** Which epoch number the alternating schedule sees: CRL counts from 1, the original RelaxLoss from 0. */
export type EpochBase = 0 | 1;

/** Options of {@link relaxLoss}. */
export interface RelaxLossOptions {
  /** Target loss level α (the privacy/utility knob). */
  alpha: number;
  /** Upper clamp of the target confidence in the flattened labels (default 1). */
  upper?: number;
  /** `kimlab` (default; the copy in the CRL repo, the Kim-lab papers' baseline) or `original` (Chen et al.). */
  variant?: 'kimlab' | 'original';
  /** Epoch numbering of the schedule (default: 1 for kimlab, 0 for original). */
  epochBase?: EpochBase;
  /** Treat soft targets as constants (default false, as the reference code). */
  detachTargets?: boolean;
  name?: string;
}

/** Per-branch step counts, the state of the relaxed plugins. */
export interface RelaxState {
  branches: Record<RelaxBranch, number>;
}

/**
 * RelaxLoss (Chen et al. 2022) as a loss-replacing plugin: alternates |CE − α|, descent and
 * posterior flattening by epoch parity (spec §2.3). Loss term `relax`. The batch's labels are not read
 * back to the host (`checkLabelValues: false`): the Dataset checked them when it was built.
 */
export function relaxLoss(options: RelaxLossOptions): LossReplacingPlugin<RelaxState> {
  checkOptions('relaxLoss', options, 'relaxLoss({ alpha: 0.3 })');
  checkPositive('alpha', options.alpha);
  if (options.upper !== undefined) checkClamp('upper', options.upper);
  const variant = options.variant ?? 'kimlab';
  checkVariant(variant);
  const epochBase = options.epochBase ?? (variant === 'original' ? 0 : 1);
  checkEpochBase(epochBase);
  const name = options.name ?? 'relax-loss';
  const branches: Record<RelaxBranch, number> = { abs: 0, descent: 0, flatten: 0 };
  return {
    name,
    apiVersion: 1,
    replacesBaseLoss: true,
    lossTerms: (outputs, batch, ctx) => {
      const r = relaxedCrossEntropy(outputs.logits as tf.Tensor2D, labelsOf(ctx, name), {
        alpha: options.alpha, upper: options.upper ?? 1, scheduleEpoch: ctx.epoch + epochBase, variant, checkLabelValues: false,
        ...(options.detachTargets !== undefined ? { detachTargets: options.detachTargets } : {}),
      });
      branches[r.branch]++;
      void batch;
      return { relax: r.loss };
    },
    getState: () => ({ branches: { ...branches } }),
    setState: (s) => Object.assign(branches, s.branches),
  };
}

/** Options of {@link crl} (defaults are the spec's §2.5 starting points). */
export interface CRLOptions {
  /** Target CE level α of the relaxed term (default 0.3). */
  alpha?: number;
  /** Upper clamp u (default 1). */
  upper?: number;
  /** Logit squashing temperature t (default 0.1: ‖logits‖ < 10). */
  t?: number;
  /** Target centre distance α_c (default 0.1). */
  alphaCenter?: number;
  /** Feature/centre squashing temperature t_c (default 1). */
  tCenter?: number;
  /** Upper clamp u_c (default 1). */
  upperCenter?: number;
  /** Weight λ of the centre loss (default 0.5). */
  lambda?: number;
  /** Constant learning rate of the centres' own SGD (default 0.5). */
  centerLr?: number;
  /** Momentum of the centres' SGD (default 0.9). */
  centerMomentum?: number;
  /** Coupled weight decay of the centres' SGD (default 5e-4). */
  centerWeightDecay?: number;
  /**
   * The model tap holding the penultimate features. Default: core's `penultimateTap(model)`, the model's declared
   * `featureTap` (e.g. `features` of a dynamic-depth DepthNet), else the tap before the model's last one (`fc2` of
   * core's `mlp({ hidden: [256, 128] })`).
   */
  featureTap?: string;
  /** Width D of that feature (default: measured at setup with one forward pass). */
  featureDim?: number;
  /** Epoch numbering of the schedule (default 1, as CRL). */
  epochBase?: EpochBase;
  /** Treat the soft targets and confidence weights as constants (default false, as the reference code). */
  detachTargets?: boolean;
  name?: string;
}

/** State of {@link crl}: branch counts, the centres and their momentum buffer. */
export interface CRLState extends RelaxState {
  centerBranches: Record<RelaxBranch, number>;
  centers?: number[];
  velocity?: number[];
  shape?: [number, number];
}

/**
 * CRL — Center-based Relaxed Learning (Fang & Kim, UAI 2024) as a loss-replacing plugin:
 * L = ImpRelaxLoss(N_t(z)) + λ·RelaxedCenterLoss(N_tc(f), N_tc(c)) (spec §2.3–2.5). The centres
 * (C × D, N(0, 1) from the run's seed) get their gradient from the same backward pass and are
 * stepped by their own momentum SGD with a constant learning rate, not by the Trainer's optimizer.
 * Loss terms `relax` and `center` (already × λ). The batch's labels are not read back to the host
 * (`checkLabelValues: false`): the Dataset checked them when it was built.
 */
export function crl(options: CRLOptions = {}): LossReplacingPlugin<CRLState> {
  checkOptions('crl', options, 'crl({ alpha: 0.3 })');
  const o = {
    alpha: options.alpha ?? 0.3, upper: options.upper ?? 1, t: options.t ?? 0.1,
    alphaCenter: options.alphaCenter ?? 0.1, tCenter: options.tCenter ?? 1, upperCenter: options.upperCenter ?? 1,
    lambda: options.lambda ?? 0.5, centerLr: options.centerLr ?? 0.5, centerMomentum: options.centerMomentum ?? 0.9,
    centerWeightDecay: options.centerWeightDecay ?? 5e-4, epochBase: options.epochBase ?? 1,
  };
  checkPositive('alpha', o.alpha);
  checkPositive('t', o.t);
  checkPositive('tCenter', o.tCenter);
  if (!(o.lambda >= 0 && Number.isFinite(o.lambda))) throw new TrellisError('BAD_OPTION', `CRL lambda ${o.lambda} must be a finite number ≥ 0`, 'pass lambda such as 0.5 (0 keeps only the relaxed CE term)');
  checkClamp('upper', o.upper);
  checkClamp('upperCenter', o.upperCenter);
  checkNonNegative('alphaCenter', o.alphaCenter, 0.1);
  checkNonNegative('centerLr', o.centerLr, 0.5);
  checkNonNegative('centerWeightDecay', o.centerWeightDecay, 5e-4);
  if (!(o.centerMomentum >= 0 && o.centerMomentum < 1)) throw new TrellisError('BAD_OPTION', `CRL centerMomentum ${o.centerMomentum} is not in [0, 1)`, 'pass centerMomentum such as 0.9');
  checkEpochBase(o.epochBase);
  if (options.featureDim !== undefined && !(Number.isInteger(options.featureDim) && options.featureDim > 0)) {
    throw new TrellisError('BAD_OPTION', `CRL featureDim ${options.featureDim} is not a positive whole number`, 'pass the width of the tapped feature, or leave featureDim out so it is measured at setup');
  }
  const name = options.name ?? 'crl';
  const branches: Record<RelaxBranch, number> = { abs: 0, descent: 0, flatten: 0 };
  const centerBranches: Record<RelaxBranch, number> = { abs: 0, descent: 0, flatten: 0 };
  let tap = options.featureTap;
  let centers: tf.Variable | null = null;
  let velocity: tf.Variable | null = null;
  let pending: CRLState | null = null;
  const key = `${name}:centers`;

  const plugin: LossReplacingPlugin<CRLState> = {
    name,
    apiVersion: 1,
    replacesBaseLoss: true,
    get taps() {
      return tap ? [tap] : [];
    },
    setup: (ctx) => {
      const names = ctx.model.tapNames();
      tap ??= penultimateTap(ctx.model);
      if (!tap || !names.includes(tap)) {
        throw new TrellisError('UNKNOWN_TAP', `CRL cannot read the feature tap "${String(tap)}"`, `pass featureTap, one of: ${names.join(', ')}`);
      }
      const dim = options.featureDim ?? tf.tidy(() => {
        const f = ctx.model.apply(tf.zeros([1, ...ctx.model.inputShape.map((d) => Math.max(1, d))]), { training: false, taps: [tap!] }).features[tap!]!;
        return f.size;
      });
      const k = ctx.model.numClasses;
      const rng = Rng.derive(ctx.seed, name, 'centers');
      // In a tidy: tf.variable keeps its own reference to the initial value, which would otherwise outlive dispose().
      [centers, velocity] = tf.tidy((): [tf.Variable, tf.Variable] => [
        tf.variable(tf.tensor2d(rng.normalArray(k * dim), [k, dim]), true, `trellis_privacy_${name}_centers_${++counter}`),
        tf.variable(tf.zeros([k, dim]), false, `trellis_privacy_${name}_velocity_${counter}`),
      ]);
      if (pending) restore(pending);
    },
    trainableVariables: (): Record<string, tf.Variable> => (centers ? { centers } : {}),
    lossTerms: (outputs, _batch, ctx) => {
      const logits = outputs.logits as tf.Tensor2D;
      const y = labelsOf(ctx, name);
      const e = ctx.epoch + o.epochBase;
      const r1 = relaxedCrossEntropy(logits, y, {
        alpha: o.alpha, upper: o.upper, scheduleEpoch: e, variant: 'kimlab', squashT: o.t, checkLabelValues: false,
        ...(options.detachTargets !== undefined ? { detachTargets: options.detachTargets } : {}),
      });
      branches[r1.branch]++;
      const terms: Record<string, tf.Scalar> = { relax: r1.loss };
      if (o.lambda > 0 && centers) {
        const raw = outputs.features[tap!]!;
        const f = tf.reshape(raw, [raw.shape[0]!, -1]) as tf.Tensor2D;
        const r2 = relaxedCenterLoss(f, centers as tf.Tensor2D, y, logits, {
          alpha: o.alphaCenter, t: o.tCenter, upper: o.upperCenter, scheduleEpoch: e, checkLabelValues: false,
          ...(options.detachTargets !== undefined ? { detachTargets: options.detachTargets } : {}),
        });
        centerBranches[r2.branch]++;
        terms.center = tf.mul(o.lambda, r2.loss) as tf.Scalar;
      }
      return terms;
    },
    transformGradients: (grads) => {
      const g = grads[key];
      if (!g || !centers || !velocity) return grads;
      const c = centers;
      const v = velocity;
      tf.tidy(() => {
        const withDecay = tf.add(g, tf.mul(o.centerWeightDecay, c));
        const nv = tf.add(tf.mul(o.centerMomentum, v), withDecay);
        v.assign(nv);
        c.assign(tf.sub(c, tf.mul(o.centerLr, nv)));
      });
      const rest: tf.NamedTensorMap = {};
      for (const [k, t] of Object.entries(grads)) if (k !== key) rest[k] = t;
      return rest;
    },
    getState: () => {
      const s: CRLState = { branches: { ...branches }, centerBranches: { ...centerBranches } };
      if (centers && velocity) {
        s.centers = Array.from(centers.dataSync());
        s.velocity = Array.from(velocity.dataSync());
        s.shape = centers.shape as [number, number];
      } else if (pending?.centers && pending.velocity && pending.shape) {
        // restored before setup: the centres wait in `pending` until the variables exist
        s.centers = [...pending.centers];
        s.velocity = [...pending.velocity];
        s.shape = [...pending.shape];
      }
      return s;
    },
    setState: (s) => {
      if (centers) restore(s);
      else {
        Object.assign(branches, s.branches);
        Object.assign(centerBranches, s.centerBranches);
        pending = s;
      }
    },
    dispose: () => {
      centers?.dispose();
      velocity?.dispose();
      centers = null;
      velocity = null;
    },
  };

  function restore(s: CRLState): void {
    Object.assign(branches, s.branches);
    Object.assign(centerBranches, s.centerBranches);
    if (s.centers && s.velocity && s.shape && centers && velocity) {
      if (s.shape.join('x') !== centers.shape.join('x')) {
        throw new TrellisError('CHECKPOINT_MISMATCH', `saved CRL centres have shape [${s.shape.join(', ')}] but this run's are [${centers.shape.join(', ')}]`, 'resume with the same model and feature tap');
      }
      const shape = s.shape;
      tf.tidy(() => {
        centers!.assign(tf.tensor2d(s.centers!, shape));
        velocity!.assign(tf.tensor2d(s.velocity!, shape));
      });
    }
    pending = null;
  }
  return plugin;
}

let counter = 0;

function checkOptions(what: string, options: unknown, example: string): void {
  if (options === null || typeof options !== 'object') {
    throw new TrellisError('BAD_OPTION', `${what} needs an options object, got ${String(options)}`, `pass one, e.g. ${example}`);
  }
}

function checkNonNegative(what: string, v: number, example: number): void {
  if (!(v >= 0 && Number.isFinite(v))) throw new TrellisError('BAD_OPTION', `${what} = ${v} must be a finite number ≥ 0`, `pass ${what} such as ${example}`);
}

/** A confidence clamp u: NaN or u < 0 would fail in tfjs' clip at the first flattening step. */
function checkClamp(what: string, v: number): void {
  if (!(typeof v === 'number' && v >= 0)) throw new TrellisError('BAD_OPTION', `${what} = ${v} must be a number ≥ 0`, `pass ${what} such as 1 (the clamp of the target-class confidence in the soft labels)`);
}

/** The schedule's epoch numbering: anything but 0 or 1 would shift or (fractional) break the parity. */
function checkEpochBase(v: unknown): void {
  if (v !== 0 && v !== 1) throw new TrellisError('BAD_OPTION', `epochBase ${String(v)} is neither 0 nor 1`, 'pass epochBase 1 (CRL, kimlab RelaxLoss) or 0 (the original RelaxLoss)');
}

function checkPositive(what: string, v: number): void {
  if (!(v > 0 && Number.isFinite(v))) throw new TrellisError('BAD_OPTION', `${what} = ${v} must be a positive number`, `pass ${what} > 0`);
}

/**
 * Label smoothing (the negative control: it increases leakage at small scale): targets
 * (1 − ε)·onehot + ε/C, i.e. (1 − ε)·CE + ε·mean_k(−log p_k). A row another plugin has already
 * weighted (distill's `ceWeight`, a `w·onehot` row) is smoothed within its own mass,
 * `(1 − ε)·t + ε·Σt/C` (core's `smoothTargets`), so the two target hooks give the same targets in either order. A Trainer without the
 * base loss (a loss-replacing plugin beside it, or `baseLoss: 'none'`) is `TARGETS_IGNORED` at setup.
 */
export function labelSmoothing(options: { epsilon?: number; name?: string } = {}): TrainerPlugin {
  checkOptions('labelSmoothing', options, 'labelSmoothing({ epsilon: 0.1 })');
  const eps = options.epsilon ?? 0.1;
  if (!(eps >= 0 && eps < 1)) throw new TrellisError('BAD_OPTION', `label smoothing ε = ${eps} must be in [0, 1)`, 'pass ε such as 0.1');
  return {
    name: options.name ?? 'label-smoothing',
    apiVersion: 1,
    // ε·Σt/C, not ε/C: a weighted row (mass w) used to get its smoothing mass ε unweighted
    transformTargets: (targets) => smoothTargets(targets as tf.Tensor2D, eps),
    // beside a loss-replacing plugin (or baseLoss 'none') it was silently a no-op
    setup: (ctx) => checkTargetsUsed(ctx, options.name ?? 'label-smoothing', "smooths the base loss's targets"),
  };
}

/** Confidence penalty (Pereyra et al.): adds −β·H(p) to the loss (term `penalty`). */
export function confidencePenalty(options: { beta?: number; name?: string } = {}): TrainerPlugin {
  checkOptions('confidencePenalty', options, 'confidencePenalty({ beta: 0.1 })');
  const beta = options.beta ?? 0.1;
  if (!(beta >= 0 && Number.isFinite(beta))) throw new TrellisError('BAD_OPTION', `confidence penalty β = ${beta} must be a finite number ≥ 0`, 'pass β such as 0.1');
  return {
    name: options.name ?? 'confidence-penalty',
    apiVersion: 1,
    lossTerms: (outputs) => {
      const logp = tf.logSoftmax(outputs.logits);
      const negEntropy = tf.mean(tf.sum(tf.mul(tf.exp(logp), logp), -1));
      return { penalty: tf.mul(beta, negEntropy) as tf.Scalar };
    },
  };
}

/**
 * SRCM as a plugin: wraps the Trainer's model with the SRCM head at setup (see `withSRCM`). The
 * head's initial weights derive from the Trainer's seed unless `seed` is set.
 * Its options are checked here, so a bad radius, width, ring mode or epsilon fails before training.
 */
export function srcm(config: SRCMConfig = {}, name = 'srcm'): TrainerPlugin {
  resolveSRCMConfig(config);
  return {
    name,
    apiVersion: 1,
    order: 'pre',
    wrapModel: (model, ctx) => withSRCM(model, { ...config, seed: config.seed ?? ctx.seed }),
  };
}

/**
 * Coupled weight decay as PyTorch's SGD applies it: g ← g + rate·θ for every trainable variable
 * of the model (kernels and biases), so momentum sees it.
 */
export function coupledWeightDecay(options: { rate: number; name?: string }): TrainerPlugin {
  checkOptions('coupledWeightDecay', options, 'coupledWeightDecay({ rate: 5e-4 })');
  if (!(options.rate >= 0 && Number.isFinite(options.rate))) throw new TrellisError('BAD_OPTION', `weight decay ${options.rate} must be a finite number ≥ 0`, 'pass a rate such as 5e-4');
  return {
    name: options.name ?? 'coupled-weight-decay',
    apiVersion: 1,
    order: 'post',
    transformGradients: (grads, ctx) => {
      if (options.rate === 0) return grads;
      const vars = ctx.model.trainableVariables();
      const out: tf.NamedTensorMap = {};
      for (const [k, g] of Object.entries(grads)) {
        const v = vars[k];
        out[k] = v ? tf.tidy(() => tf.add(g, tf.mul(options.rate, v))) : g;
      }
      return out;
    },
  };
}

/**
 * A step learning-rate schedule: `lr · gamma^(number of milestones passed)`, milestones given as
 * fractions of the planned epochs (default 0.5 and 0.75, ×0.1 each — the spec's recipe), set at each epoch's start:
 * core's `learningRateSchedule` with `kind: 'step'` (any tfjs optimizer; it logs `lr`).
 */
export function stepLearningRate(options: { lr: number; milestones?: number[]; gamma?: number; name?: string }): TrainerPlugin {
  checkOptions('stepLearningRate', options, 'stepLearningRate({ lr: 0.05 })');
  checkPositive('lr', options.lr);
  const milestones = options.milestones ?? [0.5, 0.75];
  if (!Array.isArray(milestones)) {
    throw new TrellisError('BAD_OPTION', `LR milestones ${JSON.stringify(milestones)} are not a list`, 'pass milestones as a list of fractions of the epochs, e.g. [0.5, 0.75] (50 % and 75 %)');
  }
  const gamma = options.gamma ?? 0.1;
  checkPositive('gamma', gamma);
  for (const m of milestones) {
    if (!(m >= 0 && m <= 1)) {
      throw new TrellisError('BAD_OPTION', `LR milestone ${m} is not a fraction of the planned epochs in [0, 1]`, 'pass milestones as fractions of the epochs, e.g. [0.5, 0.75] (50 % and 75 %)');
    }
  }
  // core's step schedule: lr · gamma^(milestones passed), a milestone passed from epoch round(m · epochs)
  return learningRateSchedule({ kind: 'step', lr: options.lr, milestoneFractions: milestones, gamma }, { name: options.name ?? 'step-lr' });
}
