import * as tf from '@tensorflow/tfjs-core';
import { TrellisError, argmaxRows, check, checkChoice, predictLogits, requireBatchGroups, requireBatchLabels, type Batch, type Dataset, type ModelAdapter, type TrainerContext, type TrainerPlugin } from '@trellis-ml/core';
import { GroupBuffer, dualAscentStep, hostViolations } from './dual.js';
import { distillationLoss, groupMeans, groupViolations, perSampleCrossEntropy, type ViolationKind } from './groupLoss.js';
import { groupReport, perExampleLoss } from './groupMetrics.js';
import { checkGroupIds } from './groups.js';
import {
  applyMasks, checkMasksFit, checkPruneOptions, computeMasks, cubicSparsity, decodeMasks, encodeMasks, isPruningEpoch,
  type MaskSet, type PruneOptions, type SparsitySchedule,
} from './masks.js';

// ------------------------------------------------------------------------------------- pruning

/** Options of {@link pruning}. */
export interface PruningOptions extends PruneOptions {
  /** `one-shot` (default): masks computed once at fit start; `gradual`: the cubic schedule per epoch. */
  schedule?: SparsitySchedule;
  /** A fixed mask set to use instead of computing one (e.g. masks computed from the dense model). */
  masks?: MaskSet;
  /** Multiply gradients by the mask before the optimizer step (default true), so Adam/momentum state never moves pruned weights. */
  maskGradients?: boolean;
  /** Plugin name (default `pruning`). */
  name?: string;
}

/** JSON state of the pruning plugin. */
export interface PruningState {
  masks: ReturnType<typeof encodeMasks> | null;
}

/** The pruning plugin, with access to its current masks. */
export interface PruningPlugin extends TrainerPlugin<PruningState> {
  /** The current masks (null before the first pruning step). */
  masks(): MaskSet | null;
}

/**
 * Magnitude pruning with a fixed mask: the mask is computed (one-shot at fit start, or at each
 * pruning epoch of the cubic schedule), gradients are multiplied by it before every update, and
 * `θ ← m ⊙ θ` is re-applied after every step by the `afterApply` hook.
 */
export function pruning(options: PruningOptions): PruningPlugin {
  checkPruneOptions(options);
  const schedule: SparsitySchedule = options.schedule ?? { kind: 'one-shot' };
  checkChoice((schedule as { kind?: unknown }).kind, ['one-shot', 'gradual'] as const, 'pruning schedule kind',
    { code: 'BAD_SCHEDULE', fix: "pass schedule { kind: 'one-shot' } (the default) or { kind: 'gradual', startEpoch, endEpoch }" });
  // validates the gradual schedule now (a bad one would otherwise never prune, silently)
  if (schedule.kind === 'gradual') cubicSparsity(schedule.endEpoch, options.sparsity, schedule);
  let current: MaskSet | null = options.masks ?? null;
  let tensors: Record<string, tf.Tensor> = {};
  const setMasks = (model: ModelAdapter, masks: MaskSet): void => {
    checkMasksFit(model, masks);
    tf.dispose(Object.values(tensors));
    tensors = {};
    for (const [n, m] of Object.entries(masks.masks)) tensors[n] = tf.tensor(Float32Array.from(m), masks.shapes[n]!, 'float32');
    current = masks;
    applyMasks(model, masks);
  };
  return {
    name: options.name ?? 'pruning',
    apiVersion: 1,
    order: 'post',
    masks: () => current,
    onFitStart: (ctx) => {
      if (current) setMasks(ctx.model, current);
      else if (schedule.kind === 'one-shot') setMasks(ctx.model, computeMasks(ctx.model, options));
    },
    onEpochStart: (ctx) => {
      if (schedule.kind !== 'gradual' || !isPruningEpoch(ctx.epoch, schedule)) return;
      const s = cubicSparsity(ctx.epoch, options.sparsity, schedule);
      if (s === null) return;
      setMasks(ctx.model, computeMasks(ctx.model, { ...options, sparsity: s }, current ?? undefined));
    },
    transformGradients: (grads) => {
      if (options.maskGradients === false || !current) return grads;
      const out: tf.NamedTensorMap = { ...grads };
      for (const [n, m] of Object.entries(tensors)) {
        const g = grads[n];
        if (g) out[n] = tf.mul(g, m);
      }
      return out;
    },
    afterApply: (ctx) => {
      const vars = ctx.model.trainableVariables();
      for (const [n, m] of Object.entries(tensors)) {
        const v = vars[n];
        if (v) tf.tidy(() => v.assign(tf.mul(v, m)));
      }
    },
    onEpochEnd: (ctx) => {
      if (current) ctx.logs['pruning/sparsity'] = current.sparsity;
    },
    getState: () => ({ masks: current ? encodeMasks(current) : null }),
    setState: (s) => {
      current = s.masks ? decodeMasks(s.masks) : null;
      tf.dispose(Object.values(tensors));
      tensors = {};
      if (current) for (const [n, m] of Object.entries(current.masks)) tensors[n] = tf.tensor(Float32Array.from(m), current.shapes[n]!, 'float32');
    },
    dispose: () => {
      tf.dispose(Object.values(tensors));
      tensors = {};
    },
  };
}

// ------------------------------------------------------------------- shared group bookkeeping

/** The batch's group ids (GROUP_IDS_MISSING otherwise), after checking it has labels (UNLABELED); either error names a plugin that replaced the batch. */
function batchGroupsOrThrow(batch: Batch, plugin: string, ctx: TrainerContext): tf.Tensor1D {
  const groups = requireBatchGroups(ctx, batch, plugin, 'train on a dataset with one group id per example (dataset.withGroups(ids) or a group design such as classGroups)');
  requireBatchLabels(ctx, batch, plugin, 'its per-group losses compare each example with its label');
  return groups;
}

/** {@link denseReference} on a plugin's training set, whose missing labels are `UNLABELED` naming the plugin. */
function referenceOnTrain(plugin: string, dense: ModelAdapter, train: Dataset, numGroups: number): DenseReference {
  check(train.labels, 'UNLABELED', `plugin "${plugin}" computes the dense model's per-group reference on the training set, which has no labels`,
    'train on a labelled dataset, or pass `reference` (denseReference(dense, data, numGroups) on labelled data)', { plugin });
  return denseReference(dense, train, numGroups);
}

/** Dense-model statistics on the training set that the constraints compare against. */
export interface DenseReference {
  /** `J(θ*; D_a)` per group on the training set. */
  groupLoss: number[];
  /** `J(θ*; D)`. */
  loss: number;
  /** `acc_a(θ*)` per group on the training set. */
  groupAccuracy: number[];
  /** `acc(θ*)`. */
  accuracy: number;
}

/**
 * Throws `BAD_OPTION` unless a caller-supplied {@link DenseReference} has one finite loss and accuracy
 * per group and finite overall values: a short vector would silently switch off the constraints of the
 * missing groups (their violation is NaN and skipped).
 */
export function checkDenseReference(reference: DenseReference, numGroups: number): void {
  const fix = `pass the result of denseReference(dense, train, ${numGroups}) (one value per group), or pass \`dense\` and let the plugin compute it`;
  check(reference !== null && typeof reference === 'object', 'BAD_OPTION', () => `reference is ${String(reference)}, not a dense reference`, fix);
  for (const key of ['groupLoss', 'groupAccuracy'] as const) {
    const v = reference[key];
    check(Array.isArray(v) && v.length === numGroups, 'BAD_OPTION', () => `reference.${key} has ${Array.isArray(v) ? v.length : 'no'} values for ${numGroups} groups`, fix);
    const bad = v.findIndex((x) => !Number.isFinite(x));
    check(bad < 0, 'BAD_OPTION', () => `reference.${key}[${bad}] is ${String(v[bad])}`, fix);
  }
  for (const key of ['loss', 'accuracy'] as const) check(Number.isFinite(reference[key]), 'BAD_OPTION', () => `reference.${key} is ${String(reference[key])}`, fix);
}

/** Computes a {@link DenseReference} of `dense` on a dataset with group ids. */
export function denseReference(dense: ModelAdapter, data: Dataset, numGroups: number): DenseReference {
  check(data.labels, 'UNLABELED', 'the dense reference needs labels', 'use a labeled dataset');
  const groups = checkGroupIds(data, numGroups, 'the training set');
  const r = groupReport(predictLogits(dense, data), data.labels, groups, dense.numClasses, numGroups, { bootstrapBelow: 0 });
  return { groupLoss: r.perGroup.map((g) => g.loss), loss: r.overall.loss, groupAccuracy: r.perGroup.map((g) => g.accuracy), accuracy: r.overall.accuracy };
}

interface PendingBatch {
  logits: Float32Array;
  labels: Int32Array;
  groups: Int32Array;
}

/**
 * A copy of the current batch's logits, kept from `lossTerms` (inside the step) until `onBatchEnd` reads
 * it on the host with the batch's labels and groups.
 */
class KeptLogits {
  private kept: tf.Tensor | null = null;

  /** Keeps a copy of `logits`, freeing a copy that was never read. */
  keep(logits: tf.Tensor): void {
    this.kept?.dispose();
    this.kept = tf.keep(tf.clone(logits));
  }

  /** The kept logits with `batch`'s labels and groups on the host (null when any is missing); frees the copy. */
  take(batch: Batch | undefined): PendingBatch | null {
    const kept = this.kept;
    const out = kept && batch?.y && batch.groups
      ? { logits: kept.dataSync() as Float32Array, labels: batch.y.dataSync() as Int32Array, groups: batch.groups.dataSync() as Int32Array }
      : null;
    this.dispose();
    return out;
  }

  dispose(): void {
    this.kept?.dispose();
    this.kept = null;
  }
}

/** Throws `BAD_STATE` unless saved multipliers (and per-group sums/counts, when given) hold one finite value per group. */
function checkConstraintState(s: ConstraintState, numGroups: number, plugin: string, withSums: boolean): void {
  const fix = `restore state saved by a "${plugin}" plugin with the same numGroups (${numGroups}); the saved file may be damaged`;
  check(s !== null && typeof s === 'object', 'BAD_STATE', () => `state ${String(s)} is not a constraint state`, fix);
  const keys = withSums ? (['lambdas', 'sum', 'count'] as const) : (['lambdas'] as const);
  for (const key of keys) {
    const v = s[key];
    check(Array.isArray(v) && v.length === numGroups && v.every((x) => Number.isFinite(x)), 'BAD_STATE',
      () => `the saved ${key} ${Array.isArray(v) ? `has ${v.length} values (${v.filter((x) => !Number.isFinite(x)).length} not finite)` : 'is missing'} for ${numGroups} groups`, fix);
  }
}

/** The Lagrangian term `Σ_a λ_a·v_a`. */
function penaltyTerm(violations: tf.Tensor, lambdas: readonly number[]): tf.Scalar {
  return tf.sum(tf.mul(violations, tf.tensor1d(lambdas as number[], 'float32'))) as tf.Scalar;
}

function hostGroupLosses(p: PendingBatch, k: number, numGroups: number): { groupLoss: number[]; overall: number; losses: Float64Array } {
  const losses = perExampleLoss(p.logits, p.labels, k);
  const sum = new Float64Array(numGroups);
  const cnt = new Float64Array(numGroups);
  let total = 0;
  for (let i = 0; i < losses.length; i++) {
    sum[p.groups[i]!]! += losses[i]!;
    cnt[p.groups[i]!]! += 1;
    total += losses[i]!;
  }
  return { groupLoss: Array.from(sum, (s, a) => (cnt[a]! > 0 ? s / cnt[a]! : NaN)), overall: total / Math.max(1, losses.length), losses };
}

// -------------------------------------------------------------------- group-loss constraints

/** Options of {@link groupConstraints}. */
export interface GroupConstraintOptions {
  /** Number of groups (ids in `[0, numGroups)`). */
  numGroups: number;
  /** `loss` (default): `J_a − J`; `excess-loss`: `(J_a − J*_a) − (J − J*)` against the dense model. */
  target?: 'loss' | 'excess-loss';
  /** `abs` (default), `signed` (equality Lagrangian, λ ∈ ℝ) or `one-sided` (`max(0, gap)`). */
  violation?: ViolationKind;
  /** Dual step size η_λ (default 1e-2). */
  dualLr?: number;
  /** `step` (default): a dual step after every batch; `epoch`: once per epoch on the epoch's mean violation. */
  dualUpdate?: 'step' | 'epoch';
  /** Bound on |λ_a| (default 10). */
  lambdaMax?: number;
  /** Per-group ring buffer of the last M per-example losses for the dual estimate (default 0: the batch alone). */
  bufferSize?: number;
  /** The dense model θ*: needed by `excess-loss` (unless `reference` is given) and by `kd`. */
  dense?: ModelAdapter;
  /** Precomputed dense statistics on the training set (else computed from `dense` at fit start). */
  reference?: DenseReference;
  /** Distillation from the dense model: `κ·T²·KL(p_dense^T ‖ p^T)` (default off). */
  kd?: { weight: number; temperature?: number };
  /** Initial multipliers (default all 0). */
  initialLambdas?: number[];
  /** Plugin name (default `group-constraints`). */
  name?: string;
}

/** JSON state of the constraint plugins. */
export interface ConstraintState {
  lambdas: number[];
  sum: number[];
  count: number[];
  buffer?: ReturnType<GroupBuffer['getState']>;
  overallBuffer?: ReturnType<GroupBuffer['getState']>;
}

/** A constraint plugin exposing its multipliers. */
export interface ConstraintPlugin extends TrainerPlugin<ConstraintState> {
  /** Current Lagrange multipliers λ_a. */
  lambdas(): number[];
}

/**
 * Fine-tuning with per-group loss-gap constraints `J(θ; D_a) − J(θ; D) = 0` and multipliers by dual
 * ascent: adds `Σ_a λ_a·v_a` (batch group means through a one-hot group matrix) as the loss term
 * `penalty`, and after each batch (or epoch) steps `λ_a ← clip(λ_a + η_λ·v̂_a)`. With all λ = 0 and no
 * distillation it adds nothing, so it equals plain fine-tuning.
 */
export function groupConstraints(options: GroupConstraintOptions): ConstraintPlugin {
  check(options !== null && typeof options === 'object', 'BAD_OPTION', `groupConstraints needs options, got ${String(options)}`, 'pass at least numGroups, e.g. groupConstraints({ numGroups: 10 })');
  const A = options.numGroups;
  check(Number.isInteger(A) && A >= 1, 'BAD_GROUP_COUNT', `numGroups ${A} is not a positive integer`, 'pass the number of groups');
  const name = options.name ?? 'group-constraints';
  const violation = options.violation ?? 'abs';
  const lr = options.dualLr ?? 1e-2;
  const lambdaMax = options.lambdaMax ?? 10;
  const update = options.dualUpdate ?? 'step';
  check(lr >= 0 && Number.isFinite(lr), 'BAD_OPTION', `dualLr ${lr} must be a finite number ≥ 0`, 'pass a dual step such as 1e-2');
  check(lambdaMax > 0, 'BAD_OPTION', `lambdaMax ${lambdaMax} must be > 0`, 'pass a bound such as 10');
  checkChoice(violation, ['abs', 'signed', 'one-sided'] as const, 'violation', { fix: "pass violation 'abs' (the default), 'signed' or 'one-sided'" });
  if (options.target !== undefined) {
    checkChoice(options.target, ['loss', 'excess-loss'] as const, 'target', { fix: "pass target 'loss' (the default: J_a − J) or 'excess-loss' (against the dense model)" });
  }
  checkChoice(update, ['step', 'epoch'] as const, 'dualUpdate', { fix: "pass dualUpdate 'step' (a dual step after every batch, the default) or 'epoch'" });
  const kdWeight = options.kd?.weight ?? 0;
  const temperature = options.kd?.temperature ?? 4;
  check(kdWeight >= 0 && Number.isFinite(kdWeight), 'BAD_OPTION', `distillation weight ${kdWeight} must be a finite number ≥ 0`, 'pass kd.weight such as 1 (0 turns distillation off)');
  check(temperature > 0 && Number.isFinite(temperature), 'BAD_OPTION', `distillation temperature ${temperature} must be a finite number > 0`, 'pass kd.temperature such as 4 (the default)');
  if (kdWeight > 0) check(options.dense, 'NEEDS_DENSE_MODEL', 'distillation needs the dense model', 'pass `dense` (the model before pruning)');
  if (options.target === 'excess-loss') {
    check(options.dense || options.reference, 'NEEDS_DENSE_MODEL', "target 'excess-loss' needs the dense model's group losses", 'pass `dense` or `reference`');
  }
  let lambdas = options.initialLambdas ? [...options.initialLambdas] : new Array<number>(A).fill(0);
  check(lambdas.length === A, 'BAD_OPTION', `${lambdas.length} initial multipliers for ${A} groups`, 'pass one multiplier per group');
  const badLambda = lambdas.findIndex((l) => !Number.isFinite(l));
  check(badLambda < 0, 'BAD_OPTION', () => `initial multiplier ${badLambda} is ${String(lambdas[badLambda])}`, 'pass finite initial multipliers (default all 0)');
  check(options.bufferSize === undefined || (Number.isInteger(options.bufferSize) && options.bufferSize >= 0), 'BAD_OPTION',
    () => `bufferSize ${String(options.bufferSize)} is not a whole number ≥ 0`, 'pass the per-group buffer length, e.g. 40, or 0 / unset for the batch alone');
  if (options.reference !== undefined) checkDenseReference(options.reference, A);
  let reference = options.reference ?? null;
  let sum = new Array<number>(A).fill(0);
  let count = new Array<number>(A).fill(0);
  const buffer = options.bufferSize ? new GroupBuffer(A, options.bufferSize) : null;
  const overallBuffer = options.bufferSize ? new GroupBuffer(1, options.bufferSize * A) : null;
  const kept = new KeptLogits();
  const violationOptions = () => ({
    violation,
    ...(options.target === 'excess-loss' && reference ? { denseGroupLoss: reference.groupLoss, denseLoss: reference.loss } : {}),
  });

  return {
    name,
    apiVersion: 1,
    lambdas: () => [...lambdas],
    onFitStart: (ctx) => {
      if (ctx.train) checkGroupIds(ctx.train, A, 'the training set');
      if (options.target === 'excess-loss' && !reference && ctx.train) reference = referenceOnTrain(name, options.dense!, ctx.train, A);
    },
    lossTerms: (outputs, batch, ctx): Record<string, tf.Scalar> => {
      const groups = batchGroupsOrThrow(batch, name, ctx);
      kept.keep(outputs.logits);
      const terms: Record<string, tf.Scalar> = {};
      if (lambdas.some((l) => l !== 0)) {
        const losses = perSampleCrossEntropy(outputs.logits, batch.y!, ctx.model.numClasses);
        const { groupMean, counts, overall } = groupMeans(losses, groups, A);
        const v = groupViolations(groupMean, overall, counts, violationOptions());
        terms.penalty = penaltyTerm(v, lambdas);
      }
      if (kdWeight > 0) {
        const teacher = options.dense!.apply(batch.x, { training: false }).logits;
        terms.kd = tf.mul(kdWeight, distillationLoss(outputs.logits, teacher, temperature)) as tf.Scalar;
      }
      return terms;
    },
    onBatchEnd: (ctx) => {
      const p = kept.take(ctx.batch);
      if (!p) return;
      const k = ctx.model.numClasses;
      let { groupLoss, overall, losses } = hostGroupLosses(p, k, A);
      if (buffer && overallBuffer) {
        for (let i = 0; i < losses.length; i++) {
          buffer.push(p.groups[i]!, losses[i]!);
          overallBuffer.push(0, losses[i]!);
        }
        groupLoss = groupLoss.map((_, a) => buffer.mean(a));
        overall = overallBuffer.mean(0);
      }
      const { violations, present } = hostViolations(groupLoss, overall, violationOptions());
      ctx.logs[`${name}/maxViolation`] = Math.max(...violations.filter((_, a) => present[a]));
      if (update === 'step') {
        lambdas = dualAscentStep(lambdas, violations, present, { lr, lambdaMax, signed: violation === 'signed' });
      } else {
        violations.forEach((v, a) => {
          if (present[a]) {
            sum[a] = sum[a]! + v;
            count[a] = count[a]! + 1;
          }
        });
      }
    },
    onEpochEnd: (ctx) => {
      if (update === 'epoch') {
        const mean = sum.map((s, a) => (count[a]! > 0 ? s / count[a]! : 0));
        lambdas = dualAscentStep(lambdas, mean, count.map((c) => c > 0), { lr, lambdaMax, signed: violation === 'signed' });
        sum = new Array<number>(A).fill(0);
        count = new Array<number>(A).fill(0);
      }
      ctx.logs[`${name}/maxLambda`] = Math.max(...lambdas.map(Math.abs));
    },
    getState: () => ({
      lambdas: [...lambdas], sum: [...sum], count: [...count],
      ...(buffer && overallBuffer ? { buffer: buffer.getState(), overallBuffer: overallBuffer.getState() } : {}),
    }),
    setState: (s) => {
      checkConstraintState(s, A, name, true);
      checkBufferPresence(s, buffer !== null, name);
      if (buffer && s.buffer) buffer.setState(s.buffer);
      if (overallBuffer && s.overallBuffer) overallBuffer.setState(s.overallBuffer);
      lambdas = [...s.lambdas];
      sum = [...s.sum];
      count = [...s.count];
    },
    dispose: () => kept.dispose(),
  };
}

/**
 * Throws `BAD_STATE` when a saved constraint state carries a replay buffer but the plugin has none (saved with
 * `bufferSize` > 0, restored with 0: the buffered estimates used to be dropped silently). A state without a
 * buffer restores into a buffered plugin (its multipliers alone, a warm start), with the buffer left empty.
 */
function checkBufferPresence(s: ConstraintState, hasBuffer: boolean, plugin: string): void {
  const saved = s.buffer ?? s.overallBuffer;
  if (hasBuffer || saved === undefined || saved === null) return;
  const size = Array.isArray(saved?.values?.[0]) ? saved.values[0].length : undefined;
  throw new TrellisError('BAD_STATE', `the saved "${plugin}" state has a replay buffer${size === undefined ? '' : ` of ${size} values per group`}, this plugin has none (bufferSize 0)`,
    `resume with the bufferSize of the run that saved it${size === undefined ? '' : ` (bufferSize: ${size})`}, or restore only { lambdas, sum, count } to start with batch estimates`);
}

/**
 * The equalised-loss baseline (the equality-constrained problem as in Balancing Act's
 * `EqualizedLoss`): signed violations `J_a − J`, λ ∈ [−λmax, λmax], a dual step after every batch.
 */
export function equalizedLoss(options: Omit<GroupConstraintOptions, 'violation' | 'target' | 'dualUpdate'>): ConstraintPlugin {
  return groupConstraints({ ...options, violation: 'signed', target: 'loss', dualUpdate: 'step', name: options.name ?? 'equalized-loss' });
}

// ------------------------------------------------------------------- CEAG: accuracy-gap constraints

/** Options of {@link accuracyGapConstraints}. */
export interface AccuracyGapOptions {
  numGroups: number;
  /** Tolerance ε of `ψ_a = Δ_a − Δ ≤ ε` (default 0.01). */
  tolerance?: number;
  /** Dual step size (default 1e-2). */
  dualLr?: number;
  /** Bound on λ_a (default 10). */
  lambdaMax?: number;
  /** Per-group replay buffer of the last M per-example correct/incorrect outcomes (default 64). */
  bufferSize?: number;
  /** The dense model (for its training-set group accuracies) unless `reference` is given. */
  dense?: ModelAdapter;
  /** Precomputed dense statistics on the training set. */
  reference?: DenseReference;
  /** Plugin name (default `accuracy-gap`). */
  name?: string;
}

/**
 * Constrained excess accuracy gaps (CEAG, Balancing Act): constraints `ψ_a = Δ_a − Δ ≤ ε` on the
 * accuracy drop from the dense model. Multipliers (λ ≥ 0) step on the *accuracy* violation estimated
 * from a per-group replay buffer of training outcomes; the primal term is the differentiable
 * surrogate `Σ_a λ_a·(J_a − J)` (the cross-entropy version of the same gap, dense constants dropped).
 */
export function accuracyGapConstraints(options: AccuracyGapOptions): ConstraintPlugin {
  check(options !== null && typeof options === 'object', 'BAD_OPTION', `accuracyGapConstraints needs options, got ${String(options)}`, 'pass at least numGroups and dense, e.g. accuracyGapConstraints({ numGroups: 10, dense })');
  const A = options.numGroups;
  check(Number.isInteger(A) && A >= 1, 'BAD_GROUP_COUNT', `numGroups ${A} is not a positive integer`, 'pass the number of groups');
  check(options.dense || options.reference, 'NEEDS_DENSE_MODEL', 'accuracy-gap constraints compare with the dense model', 'pass `dense` or `reference`');
  const name = options.name ?? 'accuracy-gap';
  const eps = options.tolerance ?? 0.01;
  const lr = options.dualLr ?? 1e-2;
  const lambdaMax = options.lambdaMax ?? 10;
  const size = options.bufferSize ?? 64;
  check(lr >= 0 && Number.isFinite(lr), 'BAD_OPTION', `dualLr ${lr} must be a finite number ≥ 0`, 'pass a dual step such as 1e-2');
  check(lambdaMax > 0, 'BAD_OPTION', `lambdaMax ${lambdaMax} must be > 0`, 'pass a bound such as 10');
  check(Number.isFinite(eps), 'BAD_OPTION', `tolerance ${eps} must be a finite number`, 'pass the allowed excess accuracy gap as a fraction, e.g. 0.01 (1 pp)');
  let lambdas = new Array<number>(A).fill(0);
  if (options.reference !== undefined) checkDenseReference(options.reference, A);
  let reference = options.reference ?? null;
  const buffer = new GroupBuffer(A, size);
  const overallBuffer = new GroupBuffer(1, size * A);
  const kept = new KeptLogits();
  return {
    name,
    apiVersion: 1,
    lambdas: () => [...lambdas],
    onFitStart: (ctx) => {
      if (ctx.train) checkGroupIds(ctx.train, A, 'the training set');
      if (!reference && ctx.train) reference = referenceOnTrain(name, options.dense!, ctx.train, A);
    },
    lossTerms: (outputs, batch, ctx): Record<string, tf.Scalar> => {
      const groups = batchGroupsOrThrow(batch, name, ctx);
      kept.keep(outputs.logits);
      if (!lambdas.some((l) => l !== 0)) return {};
      const losses = perSampleCrossEntropy(outputs.logits, batch.y!, ctx.model.numClasses);
      const { groupMean, counts, overall } = groupMeans(losses, groups, A);
      const v = groupViolations(groupMean, overall, counts, { violation: 'signed' });
      return { penalty: penaltyTerm(v, lambdas) };
    },
    onBatchEnd: (ctx) => {
      const p = kept.take(ctx.batch);
      if (!p || !reference) return;
      const preds = argmaxRows(p.logits, ctx.model.numClasses);
      for (let i = 0; i < preds.length; i++) {
        const hit = preds[i] === p.labels[i] ? 1 : 0;
        buffer.push(p.groups[i]!, hit);
        overallBuffer.push(0, hit);
      }
      const drop = reference.accuracy - overallBuffer.mean(0);
      const violations = lambdas.map((_, a) => reference!.groupAccuracy[a]! - buffer.mean(a) - drop - eps);
      const present = lambdas.map((_, a) => buffer.count(a) > 0);
      lambdas = dualAscentStep(lambdas, violations, present, { lr, lambdaMax, signed: false });
      ctx.logs[`${name}/maxViolation`] = Math.max(...violations.filter((_, a) => present[a]));
    },
    onEpochEnd: (ctx) => {
      ctx.logs[`${name}/maxLambda`] = Math.max(...lambdas);
    },
    getState: () => ({ lambdas: [...lambdas], sum: [], count: [], buffer: buffer.getState(), overallBuffer: overallBuffer.getState() }),
    setState: (s) => {
      checkConstraintState(s, A, name, false);
      if (s.buffer) buffer.setState(s.buffer);
      if (s.overallBuffer) overallBuffer.setState(s.overallBuffer);
      lambdas = [...s.lambdas];
    },
    dispose: () => kept.dispose(),
  };
}

