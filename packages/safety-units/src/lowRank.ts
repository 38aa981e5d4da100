/**
 * A LoRA-style low-rank adapter (spec §4.4 "PEFT comparison", §10.3 step 5 "low-rank adapter (rank 4)
 * on all projections"): the base weights stay fixed and every targeted kernel `W` (TF.js `[in, out]`
 * layout) is used as `W + (α/r)·A·B` with trainable `A` `[in, r]` and `B` `[r, out]`. Standard
 * initialisation: `A` uniform in `±1/√in` from core's seeded RNG, `B` zero, so the adapted model starts
 * out exactly equal to the base model.
 *
 * The wrapper works with any model that can run its forward pass with replaced weights
 * ({@link WeightOverridableModel}; the package's {@link TinyTransformer} can). The optimizer only ever
 * sees `A` and `B` (they are the wrapper's only trainable variables), so the base weights stay
 * bit-identical under any optimizer, Adam included.
 *
 * @module
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { ApplyOptions, ModelAdapter, ModelOutputs } from '@trellis-ml/core';
import { check, loadVariablesInto, Rng, saveVariables, TrellisError } from '@trellis-ml/core';

/** A model whose forward pass can use replacement tensors for some of its weights (by variable name). */
export interface WeightOverridableModel extends ModelAdapter {
  /** Forward pass with `weights[name]` used instead of variable `name` (same shape). Must be tape- and tidy-safe. */
  applyWithWeights(x: tf.Tensor, weights: Readonly<Record<string, tf.Tensor>>, options?: ApplyOptions): ModelOutputs;
  /** The projection kernels an adapter targets by default (optional). */
  projectionVariables?(): string[];
}

/** Whether a model can run with replaced weights (see {@link WeightOverridableModel}). */
export function canOverrideWeights(model: ModelAdapter): model is WeightOverridableModel {
  return typeof (model as Partial<WeightOverridableModel>).applyWithWeights === 'function';
}

/** Options of {@link lowRankAdapter}. */
export interface LowRankOptions {
  /** Rank r of every update A·B (default 4, spec §10.3). An integer ≥ 1 and ≤ min(in, out) of every target. */
  rank?: number;
  /** Scaling numerator α: the update is `(α/r)·A·B` (default α = r, i.e. scale 1). */
  alpha?: number;
  /** Kernels to adapt (rank-2 trainable variables, by name). Default: the model's `projectionVariables()`. */
  targets?: readonly string[];
  /** Seed of A's initialisation (core's seeded RNG). */
  seed: number;
}

let instances = 0;

/** Default rank of the spec's adapter arm. */
export const DEFAULT_ADAPTER_RANK = 4;

function checkRank(rank: number): void {
  check(Number.isInteger(rank) && rank >= 1, 'BAD_RANK', `adapter rank ${rank} is not an integer ≥ 1`, 'pass rank ≥ 1, e.g. 4 (the spec\'s adapter arm)');
}

/**
 * The adapter rank and alpha of `options` with their defaults (rank {@link DEFAULT_ADAPTER_RANK},
 * alpha = rank), checked: `BAD_RANK` unless the rank is a whole number ≥ 1, `BAD_OPTION` unless
 * alpha is a positive number. The adapter and its plugin both call it, so the plugin fails when it is
 * built, before any training.
 */
export function resolveAdapterRank(options: { rank?: number; alpha?: number }): { rank: number; alpha: number } {
  const rank = options.rank ?? DEFAULT_ADAPTER_RANK;
  checkRank(rank);
  const alpha = options.alpha ?? rank;
  check(Number.isFinite(alpha) && alpha > 0, 'BAD_OPTION', `adapter alpha ${alpha} is not a positive number`, 'pass alpha > 0 (default: alpha = rank, scale 1)');
  return { rank, alpha };
}

/**
 * Trainable parameters of rank-`rank` adapters on kernels of the given shapes: `Σ r·(in + out)`.
 * Pure (no tensors), for reporting and tests.
 * @throws TrellisError `BAD_RANK` for a rank that is not a whole number ≥ 1, `BAD_TARGET` for a shape that is not `[in, out]`.
 */
export function lowRankParamCount(shapes: ReadonlyArray<readonly number[]>, rank: number): number {
  checkRank(rank);
  for (const sh of shapes) {
    // a rank-1 or empty shape used to give NaN
    check(Array.isArray(sh) && sh.length === 2 && sh.every((d) => Number.isInteger(d) && d >= 1), 'BAD_TARGET', `a low-rank adapter needs rank-2 kernel shapes [in, out], got [${String(sh)}]`,
      'pass the shapes of the adapted kernels, e.g. [[64, 64], [64, 256]]');
  }
  return shapes.reduce((s, sh) => s + rank * (sh[0]! + sh[1]!), 0);
}

/**
 * The base model with low-rank adapters on its projection kernels (see the module comment). Use it
 * as the Trainer's model directly, or through {@link lowRankAdapterPlugin}. `trainableVariables()`
 * holds only the adapters (`<target>/lora_A`, `<target>/lora_B`); `allVariables()` the base's and the
 * adapters'. {@link LowRankAdapter.merge} folds the update into the base weights.
 * {@link LowRankAdapter.dispose} frees the adapters and the base (a wrapper disposes what it wraps);
 * {@link LowRankAdapter.disposeAdapters} frees only the adapters.
 */
export class LowRankAdapter implements ModelAdapter {
  /** The base model's input shape. */
  readonly inputShape: readonly number[];
  /** The base model's number of outputs. */
  readonly numClasses: number;
  /** Rank r of every update. */
  readonly rank: number;
  /** LoRA α. */
  readonly alpha: number;
  /** The factor α/r multiplying A·B. */
  readonly scale: number;
  /** The adapted kernels (variable names of the base model). */
  readonly targets: readonly string[];
  private readonly A: Record<string, tf.Variable> = {};
  private readonly B: Record<string, tf.Variable> = {};

  /** Wraps `base`; see {@link lowRankAdapter}. */
  constructor(readonly base: WeightOverridableModel, options: LowRankOptions) {
    if (!canOverrideWeights(base)) {
      throw new TrellisError('NO_WEIGHT_OVERRIDE', 'the model cannot run its forward pass with replaced weights, which a low-rank adapter needs',
        'use a model that implements applyWithWeights(x, weights, options) (the package\'s tinyTransformer does); a core LayersModelAdapter does not');
    }
    check(Number.isFinite(options?.seed), 'NO_SEED', 'the low-rank adapter needs a numeric seed', 'pass `seed` (A is drawn from it)');
    const { rank, alpha } = resolveAdapterRank(options);
    const targets = [...(options.targets ?? base.projectionVariables?.() ?? [])];
    check(targets.length > 0, 'BAD_TARGET', 'the low-rank adapter has no kernels to adapt',
      'pass `targets` (names of rank-2 trainable variables), or use a model with projectionVariables()');
    check(new Set(targets).size === targets.length, 'BAD_TARGET', `the adapter targets list a kernel twice: ${targets.join(', ')}`, 'list every kernel once');
    const vars = base.trainableVariables();
    for (const t of targets) {
      const w = vars[t];
      check(w, 'BAD_TARGET', `the model has no trainable variable "${t}" to adapt`, `adapt some of: ${Object.keys(vars).join(', ')}`);
      check(w.shape.length === 2, 'BAD_TARGET', `"${t}" has shape [${w.shape.join(', ')}]; a low-rank adapter needs a rank-2 kernel`, 'target projection kernels [in, out] only');
      const [din, dout] = w.shape as [number, number];
      check(rank <= Math.min(din, dout), 'BAD_RANK', `adapter rank ${rank} is larger than the ${din}×${dout} kernel "${t}" allows (at most ${Math.min(din, dout)})`,
        `pass rank ≤ ${Math.min(din, dout)}, or leave "${t}" out of the targets`);
    }
    this.inputShape = base.inputShape;
    this.numClasses = base.numClasses;
    this.rank = rank;
    this.alpha = alpha;
    this.scale = alpha / rank;
    this.targets = targets;
    const id = instances++;
    for (const t of targets) {
      const [din, dout] = vars[t]!.shape as [number, number];
      const bound = 1 / Math.sqrt(din);
      const a = tf.tensor2d(Rng.derive(options.seed, 'lora-A', t).uniformArray(din * rank, -bound, bound), [din, rank]);
      const b = tf.zeros([rank, dout]);
      this.A[t] = tf.variable(a, true, `lora${id}/${t}/A`);
      this.B[t] = tf.variable(b, true, `lora${id}/${t}/B`);
      a.dispose();
      b.dispose();
    }
  }

  /** The effective kernels `W + (α/r)·A·B` of every target (inside the caller's tidy/tape). */
  effectiveWeights(): Record<string, tf.Tensor> {
    const vars = this.base.trainableVariables();
    const out: Record<string, tf.Tensor> = {};
    for (const t of this.targets) out[t] = tf.add(vars[t]!, tf.mul(tf.matMul(this.A[t]!, this.B[t]!), this.scale));
    return out;
  }

  /** Forward pass of the adapted model. */
  apply(x: tf.Tensor, options: ApplyOptions = {}): ModelOutputs {
    return this.base.applyWithWeights(x, this.effectiveWeights(), options);
  }

  /** The base model's taps. */
  tapNames(): string[] {
    return this.base.tapNames();
  }

  /** The base model's feature tap (see core's `ModelAdapter.featureTap`). */
  get featureTap(): string | undefined {
    return this.base.featureTap;
  }

  /** Only the adapters: `<target>/lora_A` and `<target>/lora_B`. */
  trainableVariables(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    for (const t of this.targets) {
      out[`${t}/lora_A`] = this.A[t]!;
      out[`${t}/lora_B`] = this.B[t]!;
    }
    return out;
  }

  /** The base model's variables and the adapters. */
  allVariables(): Record<string, tf.Variable> {
    return { ...this.base.allVariables(), ...this.trainableVariables() };
  }

  /** Trainable parameters of the adapters: `Σ r·(in + out)` over the targets. */
  parameterCount(): number {
    const vars = this.base.trainableVariables();
    return lowRankParamCount(this.targets.map((t) => vars[t]!.shape), this.rank);
  }

  /**
   * Folds the update into the base weights (`W ← W + (α/r)·A·B`) and resets B to zero, so the adapted
   * model's outputs are unchanged and the base model alone now computes them.
   */
  merge(): void {
    const vars = this.base.trainableVariables();
    tf.tidy(() => {
      for (const t of this.targets) {
        vars[t]!.assign(tf.add(vars[t]!, tf.mul(tf.matMul(this.A[t]!, this.B[t]!), this.scale)));
        this.B[t]!.assign(tf.zerosLike(this.B[t]!));
      }
    });
  }

  /** Saves the base model under `dir/base` and the adapters under `dir/lora`. */
  async save(dir: string): Promise<void> {
    await this.base.save(join(dir, 'base'));
    await saveVariables(this.trainableVariables(), join(dir, 'lora'));
  }

  /** Loads what {@link LowRankAdapter.save} wrote. */
  async load(dir: string): Promise<void> {
    await this.base.load(join(dir, 'base'));
    await loadVariablesInto(this.trainableVariables(), join(dir, 'lora'));
  }

  /** Frees the adapters only (the base model stays usable). Safe to call more than once. */
  disposeAdapters(): void {
    for (const v of [...Object.values(this.A), ...Object.values(this.B)]) if (!v.isDisposed) v.dispose();
  }

  /** Frees the adapters and the base model. */
  dispose(): void {
    this.disposeAdapters();
    this.base.dispose();
  }
}

/** Wraps `model` with rank-`rank` adapters on its projection kernels (see {@link LowRankAdapter}). */
export function lowRankAdapter(model: ModelAdapter, options: LowRankOptions): LowRankAdapter {
  return new LowRankAdapter(model as WeightOverridableModel, options);
}
