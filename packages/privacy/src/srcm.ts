import * as tf from '@tensorflow/tfjs-core';
import {
  check, checkChoice, loadVariablesInto, penultimateTap, Rng, saveVariables, TrellisError,
  type ApplyOptions, type ModelAdapter, type ModelOutputs,
} from '@trellis-ml/core';
import { join } from 'node:path';

/**
 * SRCM — Saturn Ring Classifier Module (Fang & Kim, AIES 2024). The module's source is not public;
 * this is the spec's reconstruction (§3.2): an optional pre-layer, a "Saturn ring" that confines the
 * representation's magnitude to [r − d, r + d], and a magnitude-normalised linear classifier
 * ("LinearNorm": unit-norm weight columns, no bias), so |logit| ≤ r + d.
 */

/** How the ring maps a magnitude ρ to ρ'. */
export type RingMode = 'clamp' | 'tanh' | 'soft';

/** SRCM options (defaults r = 15, d = 5, pre-layer on, clamp). */
export interface SRCMConfig {
  /** Ring radius r (acts as the logit scale of a cosine classifier). Default 15. */
  radius?: number;
  /** Ring half-width d (0 = a sphere of radius r). Default 5. */
  width?: number;
  /** A Dense(D→D) pre-layer before the ring. Default true. */
  preLayer?: boolean;
  /** `clamp` (default): ρ' = clip(ρ, r − d, r + d); `tanh`: r + d·tanh((ρ − r)/d); `soft`: r·ρ/(ρ + d). */
  ringMode?: RingMode;
  /** ε of ρ = ‖h‖ + ε and of the weight normalisation. Default 1e-7. */
  epsilon?: number;
  /**
   * The backbone tap feeding the head. Default: core's `penultimateTap(backbone)`, the backbone's declared
   * `featureTap` (e.g. `features` of a dynamic-depth DepthNet), else the tap before its last one (the layer
   * before the last layer of a layers model).
   */
  featureTap?: string;
  /** Seed of the head's initial weights (default: the Trainer's seed when used as a plugin, else 0). */
  seed?: number;
}

/** Fully resolved {@link SRCMConfig}. */
export type ResolvedSRCMConfig = Required<Omit<SRCMConfig, 'featureTap' | 'seed'>>;

/** Fills SRCM defaults and validates them. */
export function resolveSRCMConfig(cfg: SRCMConfig = {}): ResolvedSRCMConfig {
  const out = { radius: cfg.radius ?? 15, width: cfg.width ?? 5, preLayer: cfg.preLayer ?? true, ringMode: cfg.ringMode ?? 'clamp', epsilon: cfg.epsilon ?? 1e-7 };
  if (!(out.radius > 0)) throw new TrellisError('BAD_OPTION', `SRCM radius ${out.radius} must be > 0`, 'pass a radius such as 15');
  if (!Number.isFinite(out.radius)) throw new TrellisError('BAD_OPTION', `SRCM radius ${out.radius} must be finite (an infinite ring gives NaN features)`, 'pass a radius such as 15');
  if (typeof out.preLayer !== 'boolean') throw new TrellisError('BAD_OPTION', `SRCM preLayer ${JSON.stringify(out.preLayer)} is not a boolean`, 'pass preLayer: true (a Dense(D→D) before the ring, the default) or false');
  if (!(out.width >= 0 && out.width < out.radius)) throw new TrellisError('BAD_OPTION', `SRCM width ${out.width} must be in [0, radius = ${out.radius})`, 'pass 0 ≤ width < radius, e.g. radius 15, width 5');
  if (!(out.epsilon >= 0 && Number.isFinite(out.epsilon))) throw new TrellisError('BAD_OPTION', `SRCM epsilon ${out.epsilon} must be a finite number ≥ 0`, 'pass a small epsilon such as 1e-7 (it keeps the norms away from zero)');
  checkChoice(out.ringMode, ['clamp', 'tanh', 'soft'] as const, 'ring mode', { fix: "use 'clamp', 'tanh' or 'soft'" });
  return out as ResolvedSRCMConfig;
}

/** ρ' = ringMag(ρ) of a `[b, 1]` tensor of magnitudes. */
export function ringMagnitude(rho: tf.Tensor, cfg: ResolvedSRCMConfig): tf.Tensor {
  return tf.tidy(() => {
    const { radius: r, width: d } = cfg;
    if (cfg.ringMode === 'clamp') return tf.clipByValue(rho, r - d, r + d);
    if (cfg.ringMode === 'tanh') return d < 1e-6 ? tf.mul(tf.onesLike(rho), r) : tf.add(r, tf.mul(d, tf.tanh(tf.div(tf.sub(rho, r), d))));
    return tf.div(tf.mul(r, rho), tf.add(rho, d));
  });
}

/**
 * The Saturn ring: s = h·ρ'/ρ with ρ = ‖h‖ + ε (computed as sqrt(Σh² + 1e-12) + ε so a zero row
 * has a finite gradient), hence ‖s‖ = ρ' ∈ [r − d, r + d] (clamp/tanh).
 */
export function saturnRing(h: tf.Tensor2D, cfg: ResolvedSRCMConfig): tf.Tensor2D {
  check(h instanceof tf.Tensor && h.rank === 2, 'BAD_SHAPE', () => `the Saturn ring needs [batch, D] features, got ${h instanceof tf.Tensor ? `shape [${h.shape.join(', ')}]` : typeof h}`,
    'reshape the features to [batch, -1] first: each row is rescaled by its own norm');
  return tf.tidy(() => {
    const rho = tf.add(tf.sqrt(tf.add(tf.sum(tf.square(h), 1, true), 1e-12)), cfg.epsilon);
    return tf.mul(h, tf.div(ringMagnitude(rho, cfg), rho)) as tf.Tensor2D;
  });
}

/** LinearNorm: ⟨s, w_k / (‖w_k‖ + ε)⟩ for each column w_k of `kernel` `[D, C]`; no bias. */
export function normalizedLogits(s: tf.Tensor2D, kernel: tf.Tensor2D, epsilon = 1e-7): tf.Tensor2D {
  check(s instanceof tf.Tensor && kernel instanceof tf.Tensor && s.rank === 2 && kernel.rank === 2 && s.shape[1] === kernel.shape[0], 'SHAPE_MISMATCH',
    () => `LinearNorm needs [batch, D] features and a [D, classes] kernel, got ${s instanceof tf.Tensor ? `[${s.shape.join(', ')}]` : typeof s} and ${kernel instanceof tf.Tensor ? `[${kernel.shape.join(', ')}]` : typeof kernel}`,
    'pass a kernel with one row per feature dimension and one column per class');
  return tf.tidy(() => {
    const norms = tf.add(tf.sqrt(tf.add(tf.sum(tf.square(kernel), 0, true), 1e-12)), epsilon);
    return tf.matMul(s, tf.div(kernel, norms));
  });
}

/** Fractions of magnitudes on the inner boundary, strictly inside, and on the outer boundary of the ring (tolerance 1e-4·r). */
export function ringOccupancy(norms: ArrayLike<number>, radius: number, width: number): { inner: number; inside: number; outer: number } {
  resolveSRCMConfig({ radius, width });
  const tol = 1e-4 * radius;
  let inner = 0;
  let outer = 0;
  for (let i = 0; i < norms.length; i++) {
    const v = norms[i]!;
    // NaN fails both comparisons and would be counted "inside" the ring
    if (Number.isNaN(v)) throw new TrellisError('NAN_SCORE', `feature norm ${i} is NaN`, 'compute the norms from finite features (check the model for NaN outputs)', { index: i });
    if (v <= radius - width + tol) inner++;
    else if (v >= radius + width - tol) outer++;
  }
  const n = Math.max(1, norms.length);
  return { inner: inner / n, inside: (norms.length - inner - outer) / n, outer: outer / n };
}

function glorot(rng: Rng, fanIn: number, fanOut: number): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return rng.uniformArray(fanIn * fanOut, -limit, limit);
}

/** Tap names the SRCM wrapper adds: the pre-layer output h and the ring output `fea` = s. */
export const SRCM_TAPS = { pre: 'srcm/pre', fea: 'srcm/fea' } as const;

/**
 * The keys of `backbone`'s trainable variables that its logits use and its `featureTap` does not: the classifier
 * head that the SRCM head replaces (a layers model's last layer, a DepthNet's `head`, every layer after an earlier
 * `featureTap`). Found by which variables each output's gradient reaches (the tape, not their values), in one
 * inference pass of a zero input each; variables neither output uses are not counted (so on a DepthNet with one head
 * per depth only the current depth's head is taken out).
 */
function backboneHeadVariables(backbone: ModelAdapter, featureTap: string): Set<string> {
  const entries = Object.entries(backbone.trainableVariables());
  // a frozen backbone (a linear probe: only the SRCM head trains) has no head to take out
  if (entries.length === 0) return new Set();
  const reached = (output: (x: tf.Tensor) => tf.Tensor): Set<string> => {
    const out = new Set<string>();
    try {
      tf.tidy(() => {
        const x = tf.zeros([1, ...backbone.inputShape]);
        const { grads } = tf.engine().gradients(() => tf.sum(output(x)) as tf.Scalar, entries.map(([, v]) => v), undefined, true);
        entries.forEach(([k], i) => grads[i] != null && out.add(k));
      });
    } catch (e) {
      if (e instanceof TrellisError) throw e;
      throw new TrellisError('BAD_MODEL', `SRCM cannot trace which backbone variables its head replaces: ${(e as Error).message}`,
        'wrap a backbone whose inference pass has gradients for every op (a tfjs layers model, a DepthNet)', { cause: String(e) });
    }
    return out;
  };
  const fromLogits = reached((x) => backbone.apply(x, { training: false }).logits);
  const fromFeature = reached((x) => backbone.apply(x, { training: false, taps: [featureTap] }).features[featureTap]!);
  return new Set([...fromLogits].filter((k) => !fromFeature.has(k)));
}

/**
 * A {@link ModelAdapter} that replaces a classifier's head by the SRCM head. The backbone's head (the
 * variables its logits use beyond `featureTap`, found from the tape at construction: e.g. the `logits` layer) is left
 * unused and its variables are no longer trainable; the SRCM head reads the backbone tap `featureTap`. Extra
 * taps: `srcm/pre`, `srcm/fea`.
 */
export class SRCMAdapter implements ModelAdapter {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly config: ResolvedSRCMConfig;
  /**
   * The backbone tap the SRCM head reads. It is also this adapter's `ModelAdapter.featureTap`, so a plugin
   * that reads the representation before the classifier by default (CRL) reads it, not `srcm/pre`.
   */
  readonly featureTap: string;
  readonly featureDim: number;
  /** The keys of the backbone's head variables (the variables its logits use and its `featureTap` does not), left out of the trainable set. */
  readonly replacedVariables: ReadonlySet<string>;
  private readonly own: Record<string, tf.Variable> = {};

  constructor(readonly backbone: ModelAdapter, cfg: SRCMConfig = {}) {
    this.config = resolveSRCMConfig(cfg);
    this.inputShape = backbone.inputShape;
    this.numClasses = backbone.numClasses;
    const taps = backbone.tapNames();
    const featureTap = cfg.featureTap ?? penultimateTap(backbone);
    if (featureTap === undefined) {
      throw new TrellisError('NO_FEATURE_TAP', 'the backbone declares no featureTap and exposes fewer than two taps, so the feature before its classifier cannot be found',
        'pass `featureTap` naming the representation the SRCM head should read');
    }
    this.featureTap = featureTap;
    if (!taps.includes(this.featureTap)) {
      throw new TrellisError('UNKNOWN_TAP', `the backbone has no tap "${this.featureTap}"`, `use one of: ${taps.join(', ')}`);
    }
    if (this.inputShape.some((d) => d < 0)) {
      throw new TrellisError('BAD_MODEL', 'SRCM needs a backbone with a fixed input shape to measure its feature width', 'build the backbone with a concrete input shape');
    }
    this.featureDim = tf.tidy(() => {
      const f = backbone.apply(tf.zeros([1, ...this.inputShape]), { training: false, taps: [this.featureTap] }).features[this.featureTap]!;
      return f.size;
    });
    this.replacedVariables = backboneHeadVariables(backbone, this.featureTap);
    const d = this.featureDim;
    const rng = Rng.derive(cfg.seed ?? 0, 'srcm-init');
    // In a tidy: tf.variable keeps its own reference to the initial value, so the initial tensors
    // would otherwise stay counted (and allocated) after the variables are disposed.
    tf.tidy(() => {
      if (this.config.preLayer) {
        this.own['srcm/pre/kernel'] = tf.variable(tf.tensor2d(glorot(rng, d, d), [d, d]), true, uniqueName('srcm_pre_kernel'));
        this.own['srcm/pre/bias'] = tf.variable(tf.zeros([d]), true, uniqueName('srcm_pre_bias'));
      }
      this.own['srcm/head/kernel'] = tf.variable(tf.tensor2d(glorot(rng, d, this.numClasses), [d, this.numClasses]), true, uniqueName('srcm_head_kernel'));
    });
  }

  apply(x: tf.Tensor, options: ApplyOptions = {}): ModelOutputs {
    const asked = options.taps ?? [];
    const innerTaps = [...new Set([this.featureTap, ...asked.filter((t) => t !== SRCM_TAPS.pre && t !== SRCM_TAPS.fea)])];
    const out = this.backbone.apply(x, { training: options.training ?? false, taps: innerTaps });
    const raw = out.features[this.featureTap]!;
    const f = tf.reshape(raw, [raw.shape[0]!, -1]) as tf.Tensor2D;
    const h = this.config.preLayer ? tf.add(tf.matMul(f, this.own['srcm/pre/kernel'] as tf.Tensor2D), this.own['srcm/pre/bias']!) as tf.Tensor2D : f;
    const s = saturnRing(h, this.config);
    const logits = normalizedLogits(s, this.own['srcm/head/kernel'] as tf.Tensor2D, this.config.epsilon);
    const features: Record<string, tf.Tensor> = {};
    for (const t of asked) {
      if (t === SRCM_TAPS.pre) features[t] = h;
      else if (t === SRCM_TAPS.fea) features[t] = s;
      else features[t] = out.features[t]!;
    }
    return { logits, features };
  }

  tapNames(): string[] {
    return [...this.backbone.tapNames(), SRCM_TAPS.pre, SRCM_TAPS.fea];
  }

  private backboneVars(all: Record<string, tf.Variable>): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    for (const [k, v] of Object.entries(all)) if (!this.replacedVariables.has(k)) out[k] = v;
    return out;
  }

  trainableVariables(): Record<string, tf.Variable> {
    return { ...this.backboneVars(this.backbone.trainableVariables()), ...this.own };
  }

  allVariables(): Record<string, tf.Variable> {
    return { ...this.backbone.allVariables(), ...this.own };
  }

  /** Saves the backbone under `dir/backbone` and the head under `dir/srcm`. */
  async save(dir: string): Promise<void> {
    await this.backbone.save(join(dir, 'backbone'));
    await saveVariables(this.own, join(dir, 'srcm'));
  }

  async load(dir: string): Promise<void> {
    await this.backbone.load(join(dir, 'backbone'));
    await loadVariablesInto(this.own, join(dir, 'srcm'));
  }

  dispose(): void {
    this.backbone.dispose();
    for (const v of Object.values(this.own)) v.dispose();
  }
}

let counter = 0;
function uniqueName(base: string): string {
  return `trellis_privacy_${base}_${++counter}`;
}

/** Wraps a classifier with the SRCM head (see {@link SRCMAdapter}). */
export function withSRCM(backbone: ModelAdapter, cfg: SRCMConfig = {}): SRCMAdapter {
  return new SRCMAdapter(backbone, cfg);
}
