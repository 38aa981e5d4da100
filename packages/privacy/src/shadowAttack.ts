import { Dataset, mlp, predictLogits, TrellisError, type ModelAdapter } from '@trellis-ml/core';
import { trainClassifier, type TrainingRecipe } from './recipe.js';
import type { Signals } from './signals.js';

/** Options of {@link ShadowModelAttack}. */
export interface ShadowAttackOptions {
  /** Hidden widths of the attack MLP (default [128, 64, 64], the CRL code's net; ReLU, no dropout). */
  hidden?: number[];
  /** Attack training recipe (default: SGD momentum 0.9, LR 0.01 ×0.1 at 50 %/75 %, wd 5e-4, batch 256, 100 epochs). */
  recipe?: Partial<TrainingRecipe>;
  seed: number;
}

/** The attack's input: softmax vector ⊕ one-hot label (2C values per example). */
export function attackFeatures(s: Signals): Float32Array {
  const k = s.numClasses;
  const n = s.labels.length;
  const x = new Float32Array(n * 2 * k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) x[i * 2 * k + c] = s.probs[i * k + c]!;
    x[i * 2 * k + k + s.labels[i]!] = 1;
  }
  return x;
}

/**
 * The Shokri-style NN attack of the CRL/SRCM code: an MLP on (p ⊕ onehot(y)) trained on the shadow
 * models' outputs on their own members (label 1) and non-members (label 0). Its member score is
 * the attack net's member probability.
 */
export class ShadowModelAttack {
  private model: ModelAdapter | null = null;
  private numClasses = 0;
  constructor(readonly options: ShadowAttackOptions) {
    if (options === null || typeof options !== 'object') {
      throw new TrellisError('BAD_OPTION', `ShadowModelAttack needs an options object, got ${String(options)}`, 'pass one with a seed, e.g. new ShadowModelAttack({ seed: 1 })');
    }
  }

  /** Trains the attack net on shadow members / non-members (one entry per shadow model). */
  async fit(shadowIn: readonly Signals[], shadowOut: readonly Signals[]): Promise<void> {
    if (shadowIn.length === 0 || shadowIn.length !== shadowOut.length) {
      throw new TrellisError('BAD_SHADOWS', `got ${shadowIn.length} member and ${shadowOut.length} non-member signal sets`, 'pass one members and one non-members Signals per shadow model');
    }
    const k = shadowIn[0]!.numClasses;
    for (const s of [...shadowIn, ...shadowOut]) {
      if (s.numClasses !== k) {
        throw new TrellisError('CLASS_COUNT_MISMATCH', `shadow signals have ${s.numClasses} classes, the first shadow's have ${k}`, 'train the attack on shadow models with the same classes');
      }
    }
    const parts = [...shadowIn.map((s) => ({ s, y: 1 })), ...shadowOut.map((s) => ({ s, y: 0 }))];
    const total = parts.reduce((a, p) => a + p.s.labels.length, 0);
    const x = new Float32Array(total * 2 * k);
    const labels = new Int32Array(total);
    let o = 0;
    for (const p of parts) {
      x.set(attackFeatures(p.s), o * 2 * k);
      labels.fill(p.y, o, o + p.s.labels.length);
      o += p.s.labels.length;
    }
    const data = Dataset.fromArrays({ x, shape: [2 * k], labels, numClasses: 2 });
    this.dispose();
    this.numClasses = k;
    const model = mlp({ inputShape: [2 * k], hidden: this.options.hidden ?? [128, 64, 64], numClasses: 2, seed: this.options.seed });
    const recipe: TrainingRecipe = { epochs: 100, batchSize: 256, lr: 0.01, momentum: 0.9, weightDecay: 5e-4, milestones: [0.5, 0.75], gamma: 0.1, ...this.options.recipe };
    const trained = await trainClassifier({ model, data, recipe, seed: this.options.seed, label: 'shadow-attack' });
    this.model = trained.model;
  }

  /** Member probability of each example (higher = member). */
  score(s: Signals): Float64Array {
    if (!this.model) throw new TrellisError('NOT_FITTED', 'the shadow-model attack has not been trained', 'call fit(shadowIn, shadowOut) first');
    if (s.numClasses !== this.numClasses) throw new TrellisError('CLASS_COUNT_MISMATCH', `signals have ${s.numClasses} classes, the attack was trained on ${this.numClasses}`, 'score outputs of a model with the same classes');
    const data = Dataset.fromArrays({ x: attackFeatures(s), shape: [2 * s.numClasses], labels: null, numClasses: 2 });
    const logits = predictLogits(this.model, data);
    const out = new Float64Array(s.labels.length);
    for (let i = 0; i < out.length; i++) out[i] = 1 / (1 + Math.exp(logits[2 * i]! - logits[2 * i + 1]!));
    return out;
  }

  /** Frees the attack net. */
  dispose(): void {
    this.model?.dispose();
    this.model = null;
  }
}
