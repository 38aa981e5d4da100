import * as tf from '@tensorflow/tfjs-core';
import {
  check,
  learningRateSchedule,
  oneHotTargets,
  requireBatchLabels,
  Rng,
  setLearningRate,
  softCrossEntropy,
  TrellisError,
  type ApplyOptions,
  type ModelAdapter,
  type LearningRateScheduleState,
  type ModelOutputs,
  type RngState,
  type TrainerContext,
  type TrainerPlugin,
} from '@trellis-ml/core';
import { buildFromArchitecture, cloneDepthNet, leaderArchitecture } from './architectures.js';
import type { DepthConfig } from './depthConfig.js';
import { DepthNet } from './depthNet.js';
import { kdLoss, memberLoss, stopGradient, type Teacher } from './distillation.js';
import { exitLoss } from './earlyExit.js';
import { OFA_DEPTH_PHASES, ofaDepthSchedule, ofaLearningRate, ofaPhaseAt, ofaPhaseMenu, type OfaPhase, type OfaPhaseSpan } from './progressiveShrinking.js';
import { sampleDepths, sampleLayerDrop, sampleSubnets, type SubnetSampling } from './sampling.js';

/** Weights of the KD terms (spec §2.3). */
export interface CoopWeights {
  /** Leader → Teammate (default 1). */
  alpha?: number;
  /** Teammate ↔ Teammate, mutual (default 1). */
  beta?: number;
  /** Own Teammate (full depth) → its sub-networks, inplace distillation (default 1). */
  gamma?: number;
  /** Other Teammate → sub-networks (default 1). */
  delta?: number;
  /** Leader → sub-networks directly (default 0). */
  epsilon?: number;
}

/** The Leader: built from the Teammates' architecture (optionally wider/deeper), or a given (frozen) model. */
export interface LeaderOptions {
  widthMultiplier?: number;
  extraBlocks?: number;
  /**
   * A pre-trained Leader; it is frozen (not trained) and not disposed by the plugin. It teaches at its
   * full depth, whatever depth it was last set to (as the Leader the plugin builds does).
   */
  model?: DepthNet;
}

/** Options of {@link coopDepth}. */
export interface CoopDepthOptions extends SubnetSampling {
  /** Number of Teammates (default 2; 1 with `leader: null` is the sandwich-inplace baseline). */
  teammates?: 1 | 2;
  /** The Leader (default: same architecture as the Teammates, trained jointly); `null` for none. */
  leader?: LeaderOptions | null;
  /** KD temperature T (default 3). */
  temperature?: number;
  /** KD share w of each member's loss (default 0.5). */
  kdWeight?: number;
  weights?: CoopWeights;
  /** Use the same sub-network depths for A and B in a step (default true). */
  sharedSampling?: boolean;
  /** Builds Teammate B / the Leader (default: from the Trainer model's architecture). */
  build?: (role: 'teammateB' | 'leader', seed: number) => DepthNet;
  /** Plugin name (default `coop-depth`). */
  name?: string;
}

/** State of the {@link coopDepth} plugin in checkpoints. */
export interface CoopDepthState {
  rng: RngState;
  steps: number;
}

/** The cooperative-training plugin, with access to the team it trains. */
export interface CoopDepthPlugin extends TrainerPlugin<CoopDepthState> {
  /** Teammate A (the Trainer's model) and, with two Teammates, B. Available after setup. */
  teammates(): DepthNet[];
  /** The Leader, or null. Available after setup. */
  leader(): DepthNet | null;
  /** Hands the members the plugin built (Teammate B, the Leader) to the caller, who then disposes them. */
  release(): void;
}

function asDepthNet(model: ModelAdapter, who: string): DepthNet {
  if (model instanceof DepthNet) return model;
  if (model instanceof SubnetAdapter) return model.teammate;
  const kind = (model as { constructor?: { name?: string } }).constructor?.name;
  throw new TrellisError('NOT_DEPTH_SWITCHABLE',
    `${who} needs a depth-switchable model, but the Trainer's model is not a DepthNet${kind && kind !== 'Object' ? ` (it is an instance of ${kind})` : ''}`,
    'build the model with residualMLP, resNetCNN or fromBlocks from @trellis-ml/dynamic-depth; if it is one, a plugin whose wrapModel '
    + "ran before this one's setup wrapped it in its own view (e.g. privacy's srcm, or a test-time adaptation method such as "
    + "uda-calibration's memo or tent), which hides the depths: the depth plugins need the DepthNet itself, so train without the wrapping plugin");
}

/**
 * The Trainer model of a plugin that trains several depths per step (cooperative training, OFA,
 * early exits): the network, whose training forward pass runs its current depth (the logits) and
 * also the step's other depths `subnets` (sharing the prefix of blocks they have in common) and
 * returns their logits as features `<prefix><id>`.
 */
class SubnetAdapter implements ModelAdapter {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  subnets: DepthConfig[] = [];

  constructor(readonly teammate: DepthNet, readonly prefix: string) {
    this.inputShape = teammate.inputShape;
    this.numClasses = teammate.numClasses;
  }

  apply(x: tf.Tensor, options: ApplyOptions = {}): ModelOutputs {
    if (!options.training || (options.taps ?? []).length > 0 || this.subnets.length === 0) return this.teammate.apply(x, options);
    const full = this.teammate.depth;
    const outs = this.teammate.forwardMany(x, [full, ...this.subnets], { training: true });
    const features: Record<string, tf.Tensor> = {};
    for (const c of this.subnets) features[`${this.prefix}${c.id}`] = outs[c.id]!;
    return { logits: outs[full.id]!, features };
  }

  tapNames(): string[] {
    return this.teammate.tapNames();
  }
  /** The network's feature tap (`features`). */
  get featureTap(): string {
    return this.teammate.featureTap;
  }
  trainableVariables(): Record<string, tf.Variable> {
    return this.teammate.trainableVariables();
  }
  allVariables(): Record<string, tf.Variable> {
    return this.teammate.allVariables();
  }
  save(dir: string): Promise<void> {
    return this.teammate.save(dir);
  }
  load(dir: string): Promise<void> {
    return this.teammate.load(dir);
  }
  dispose(): void {
    this.teammate.dispose();
  }
}

/**
 * Cooperative training of depth-switchable networks (CoopDepth, a reconstruction of Fang et al.
 * 2023): the Trainer's model is Teammate A; the plugin adds Teammate B and a Leader and trains them
 * all in the same optimizer step. Per batch it computes
 * `ℒ_L + Σ_X (ℒ_X + mean_{c∈C_t} ℒ_X[c])` with
 * `ℒ_X = (1−w)CE + w(α KD(L→X) + β KD(X̄→X))/(α+β)` and
 * `ℒ_X[c] = (1−w)CE + w(γ KD(X→X[c]) + δ KD(X̄→X[c]) + ε KD(L→X[c]))/(γ+δ+ε)`, every teacher detached.
 * Works with `baseLoss: 'crossEntropy'` (the base term becomes A's `(1−w)·CE`, via its targets)
 * or `'none'`.
 */
export function coopDepth(options: CoopDepthOptions = {}): CoopDepthPlugin {
  const name = options.name ?? 'coop-depth';
  const teammateCount = options.teammates ?? 2;
  check(teammateCount === 1 || teammateCount === 2, 'BAD_OPTION', `teammates ${String(teammateCount)} must be 1 or 2`, 'pass teammates: 1 or 2');
  const T = options.temperature ?? 3;
  check(Number.isFinite(T) && T > 0, 'BAD_OPTION', `temperature ${T} must be a finite number > 0`, 'pass a KD temperature such as 3');
  const w = options.kdWeight ?? 0.5;
  check(w >= 0 && w <= 1, 'BAD_OPTION', `kdWeight ${w} is outside [0, 1]`, 'pass a weight such as 0.5');
  const W = { alpha: 1, beta: 1, gamma: 1, delta: 1, epsilon: 0 };
  check(options.weights === undefined || (typeof options.weights === 'object' && options.weights !== null), 'BAD_OPTION',
    `weights ${String(options.weights)} is not an object of KD weights`, 'pass e.g. weights: { beta: 0 } (alpha, beta, gamma, delta, epsilon)');
  const unknownWeights = Object.keys(options.weights ?? {}).filter((k) => !Object.hasOwn(W, k));
  check(unknownWeights.length === 0, 'BAD_OPTION', () => `unknown KD weight(s) ${unknownWeights.join(', ')}; they would be ignored`,
    `name the weights alpha (Leader → Teammate), beta (Teammate ↔ Teammate), gamma (Teammate → own sub-networks), delta (other Teammate → sub-networks) or epsilon (Leader → sub-networks)`,
    { unknown: unknownWeights });
  Object.assign(W, options.weights);
  for (const [k, v] of Object.entries(W)) check(Number.isFinite(v) && v >= 0, 'BAD_OPTION', `weight ${k}=${v} is not a finite number ≥ 0`, 'pass non-negative KD weights');
  const per = options.subnetsPerStep;
  check(per === undefined || per === 'all' || (Number.isInteger(per) && per >= 0), 'BAD_OPTION', `subnetsPerStep ${String(per)} is not a non-negative integer`,
    "pass a count such as 2, or 'all'");
  for (const key of ['sandwich', 'sharedSampling'] as const) {
    const v = options[key];
    check(v === undefined || typeof v === 'boolean', 'BAD_OPTION', `${key} ${JSON.stringify(v)} is not true or false`, `pass ${key}: true (the default) or false`);
  }
  check(options.leader === undefined || options.leader === null || typeof options.leader === 'object', 'BAD_OPTION',
    `leader ${JSON.stringify(options.leader)} is not an object or null`, 'pass leader: null (no Leader), {} (the default Leader), { widthMultiplier, extraBlocks } or { model }');
  check(options.build === undefined || typeof options.build === 'function', 'BAD_OPTION', 'build is not a function', "pass build: (role, seed) => network, or leave it out");
  const leaderOpt = options.leader === undefined ? {} : options.leader;
  let A: DepthNet | null = null;
  let B: DepthNet | null = null;
  let L: DepthNet | null = null;
  let adapter: SubnetAdapter | null = null;
  const owned: DepthNet[] = [];
  let rng = new Rng(0);
  let steps = 0;
  let subsA: DepthConfig[] = [];
  let subsB: DepthConfig[] = [];
  let baseCarriesCe = false;

  const subConfigs = (net: DepthNet) => net.configs.filter((c) => c.id !== net.fullConfig.id).sort((a, b) => net.compareCost(a, b));
  const kdOpts = { kdWeight: w, temperature: T, checkLabelValues: false }; // the Dataset checked the labels: no host read per step
  const fullTeachersOf = (other: tf.Tensor | null, leader: tf.Tensor | null): Teacher[] => [
    ...(leader ? [{ logits: leader, weight: W.alpha }] : []),
    ...(other ? [{ logits: other, weight: W.beta }] : []),
  ];
  const aHasTeacher = () => (L !== null && W.alpha > 0) || (B !== null && W.beta > 0);

  const plugin: CoopDepthPlugin = {
    name,
    apiVersion: 1,
    order: 'post',
    setup(ctx: TrainerContext) {
      A = asDepthNet(ctx.model, `plugin "${name}"`);
      rng = Rng.derive(ctx.seed, name, 'subnets');
      const seedOf = (role: string) => Rng.derive(ctx.seed, name, role).nextUint32();
      if (teammateCount === 2) {
        B = options.build ? options.build('teammateB', seedOf('teammateB')) : buildFromArchitecture(A.architecture, seedOf('teammateB'));
        check(B.configs.map((c) => c.id).join(',') === A.configs.map((c) => c.id).join(','), 'TEAM_MISMATCH',
          `Teammate B's depth menu (${B.configs.map((c) => c.id).join(', ')}) differs from A's (${A.configs.map((c) => c.id).join(', ')})`, 'build both Teammates with the same depth menu');
        owned.push(B);
      }
      if (leaderOpt) {
        if (leaderOpt.model) L = leaderOpt.model;
        else {
          L = options.build ? options.build('leader', seedOf('leader')) : buildFromArchitecture(leaderArchitecture(A.architecture, leaderOpt), seedOf('leader'));
          owned.push(L);
        }
        check(L.numClasses === A.numClasses, 'TEAM_MISMATCH', `the Leader has ${L.numClasses} classes, the Teammates ${A.numClasses}`, 'build the Leader for the same classes');
      }
    },
    wrapModel(model) {
      adapter = new SubnetAdapter(asDepthNet(model, `plugin "${name}"`), 'coop:');
      return adapter;
    },
    trainableVariables() {
      const out: Record<string, tf.Variable> = {};
      if (B) for (const [k, v] of Object.entries(B.trainableVariables())) out[`teammateB/${k}`] = v;
      if (L && !leaderOpt?.model) for (const [k, v] of Object.entries(L.trainableVariables())) out[`leader/${k}`] = v;
      return out;
    },
    /** Teammate B's and the Leader's batch-norm statistics: a resumed run needs them as much as their weights. */
    stateVariables() {
      const out: Record<string, tf.Variable> = {};
      const untrained = (net: DepthNet, prefix: string) => {
        const trained = net.trainableVariables();
        for (const [k, v] of Object.entries(net.allVariables())) if (!(k in trained)) out[`${prefix}/${k}`] = v;
      };
      if (B) untrained(B, 'teammateB');
      if (L && !leaderOpt?.model) untrained(L, 'leader');
      return out;
    },
    onBatchStart() {
      const a = A!;
      a.setDepth(a.fullConfig);
      subsA = sampleSubnets(subConfigs(a), a.configs.length, options, rng);
      subsB = B ? (options.sharedSampling ?? true ? subsA.map((c) => B!.resolve(c.id)) : sampleSubnets(subConfigs(B), B.configs.length, options, rng)) : [];
      adapter!.subnets = subsA;
      baseCarriesCe = false;
    },
    transformTargets(targets) {
      baseCarriesCe = true;
      return aHasTeacher() ? tf.mul(targets, 1 - w) : targets;
    },
    lossTerms(outputs, batch, ctx) {
      const y = requireBatchLabels(ctx, batch, name);
      const terms: Record<string, tf.Scalar> = {};
      const zA = outputs.logits;
      let zL: tf.Tensor | null = null;
      if (L) {
        if (leaderOpt?.model) zL = stopGradient(L.forward(batch.x, { config: L.fullConfig, training: false }));
        else {
          zL = L.forward(batch.x, { config: L.fullConfig, training: true });
          terms.leader = softCrossEntropy(zL, oneHotTargets(y, L.numClasses));
        }
      }
      let zB: tf.Tensor | null = null;
      let outsB: Record<string, tf.Tensor> = {};
      if (B) {
        outsB = B.forwardMany(batch.x, [B.fullConfig, ...subsB], { training: true });
        zB = outsB[B.fullConfig.id]!;
      }
      terms.teammateA = memberLoss(zA, y, fullTeachersOf(zB, zL), { ...kdOpts, ceScale: baseCarriesCe ? 0 : 1 });
      if (zB) terms.teammateB = memberLoss(zB, y, fullTeachersOf(zA, zL), kdOpts);
      const subTeachers = (own: tf.Tensor, other: tf.Tensor | null): Teacher[] => [
        { logits: own, weight: W.gamma },
        ...(other ? [{ logits: other, weight: W.delta }] : []),
        ...(zL ? [{ logits: zL, weight: W.epsilon }] : []),
      ];
      if (subsA.length > 0) {
        const parts = subsA.map((c) => {
          const z = outputs.features[`coop:${c.id}`] ?? A!.forward(batch.x, { config: c, training: true });
          return memberLoss(z, y, subTeachers(zA, zB), kdOpts);
        });
        terms.subnetsA = tf.div(tf.addN(parts), parts.length) as tf.Scalar;
      }
      if (B && subsB.length > 0) {
        const parts = subsB.map((c) => memberLoss(outsB[c.id]!, y, subTeachers(zB!, zA), kdOpts));
        terms.subnetsB = tf.div(tf.addN(parts), parts.length) as tf.Scalar;
      }
      return terms;
    },
    onBatchEnd() {
      steps++;
    },
    onFitEnd() {
      if (adapter) adapter.subnets = [];
      A?.setDepth(A.fullConfig);
    },
    teammates: () => (A ? (B ? [A, B] : [A]) : []),
    leader: () => L,
    release() {
      owned.length = 0;
    },
    getState: () => ({ rng: rng.getState(), steps }),
    setState(state) {
      rng.setState(state.rng);
      steps = state.steps;
    },
    dispose() {
      for (const m of owned) m.dispose();
      owned.length = 0;
    },
  };
  return plugin;
}

/** Options of {@link layerDrop}. */
export interface LayerDropOptions {
  /** Drop probability per skippable block (default 0.2, the LayerDrop default). */
  p?: number;
  /** Stochastic depth: drop probability rising linearly with depth up to `p` (default false). */
  linear?: boolean;
  name?: string;
}

/**
 * LayerDrop (Fan et al. 2020) as a baseline: every step trains the model with each skippable block
 * dropped independently with probability `p`; inference keeps the blocks of the chosen depth.
 * With per-depth batch-norm, dropped configurations update no statistics: use `bnMode: 'recalibrate'`.
 * Dropped blocks receive zero gradients (so Adam's moments still move them slightly, unlike
 * PyTorch optimizers, which skip parameters without a gradient).
 */
export function layerDrop(options: LayerDropOptions = {}): TrainerPlugin<{ rng: RngState }> {
  const name = options.name ?? 'layerdrop';
  const p = options.p ?? 0.2;
  check(options.linear === undefined || typeof options.linear === 'boolean', 'BAD_OPTION', `linear ${JSON.stringify(options.linear)} is not true or false`,
    'pass linear: true (stochastic depth, rising drop rate) or false (LayerDrop, the default)');
  let rng = new Rng(0);
  let net: DepthNet | null = null;
  sampleLayerDrop([], p, false, rng); // validates p
  return {
    name,
    apiVersion: 1,
    setup(ctx) {
      net = asDepthNet(ctx.model, `plugin "${name}"`);
      rng = Rng.derive(ctx.seed, name);
    },
    onBatchStart() {
      const n = net!;
      const kept = sampleLayerDrop(n.stages.flat(), p, options.linear ?? false, rng);
      n.setDepth({ id: 'layerdrop-sample', activeBlocks: kept });
    },
    transformGradients(grads, ctx) {
      // Dropped blocks get no gradient. tfjs optimizers keep their slots by position in the
      // gradient list, so the list must not change from step to step: give them zeros.
      const out: tf.NamedTensorMap = { ...grads };
      for (const [k, v] of Object.entries(ctx.model.trainableVariables())) if (!out[k]) out[k] = tf.zerosLike(v);
      return out;
    },
    onBatchEnd() {
      net!.setDepth(net!.fullConfig);
    },
    onFitEnd() {
      net?.setDepth(net.fullConfig);
    },
    getState: () => ({ rng: rng.getState() }),
    setState(s) {
      rng.setState(s.rng);
    },
  };
}

/** Options of {@link cosineDecay}. */
export interface CosineDecayOptions {
  initial: number;
  /** Steps over which the rate falls from `initial` to `final`. */
  totalSteps: number;
  final?: number;
  name?: string;
}

/** Cosine learning-rate decay (spec §6.3: Adam 1e-3, cosine to 0), set before every step from the step count: core's `learningRateSchedule` with `kind: 'cosine'` (it logs `lr`). */
export function cosineDecay(options: CosineDecayOptions): TrainerPlugin<LearningRateScheduleState> {
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', `cosineDecay needs { initial, totalSteps }, got ${String(options)}`, 'pass e.g. { initial: 1e-3, totalSteps: 1000 }');
  check(options.final === undefined || (Number.isFinite(options.final) && options.final >= 0), 'BAD_OPTION',
    `cosine decay final rate ${options.final} must be a finite number ≥ 0 (a negative rate climbs the loss)`, 'pass final ≥ 0, e.g. 0 (the default)');
  check(options.totalSteps > 0 && options.initial > 0 && Number.isFinite(options.initial), 'BAD_OPTION', `cosine decay needs initial > 0 and totalSteps > 0 (got ${options.initial}, ${options.totalSteps})`, 'pass the planned number of steps');
  // core's cosine schedule (set before every step through core's setLearningRate, so plain SGD and momentum follow it too)
  return learningRateSchedule({ kind: 'cosine', lr: options.initial, finalLr: options.final ?? 0, totalSteps: options.totalSteps }, { name: options.name ?? 'cosine-decay' });
}

/** Options of {@link ofaDepth}. */
export interface OfaDepthOptions {
  /** Fine-tuning steps the phases are spread over (epochs × batches per epoch), see {@link ofaDepthSchedule}. */
  totalSteps: number;
  /**
   * The learning rate the full-depth network was trained with. When given, the plugin sets the
   * optimizer's rate before every step to {@link ofaLearningRate} (the phase's `lrRatio` times this,
   * cosine to 0 within the phase); without it the rate is left to the caller.
   */
  lr?: number;
  /** The phases (default {@link OFA_DEPTH_PHASES}: 25 : 120, rates 1/12 and 1/4, leaving out the shallowest depth, then none). */
  phases?: readonly OfaPhase[];
  /** Sub-networks per step, drawn with replacement from the phase's depths (default 2, OFA's `dynamic_batch_size`). */
  subnetsPerStep?: number;
  /** Weight of the KD term (default 1, OFA's `kd_ratio`): each sampled sub-network's loss is `CE + kdRatio · KD`. */
  kdRatio?: number;
  /** KD temperature (default 1: OFA distils the teacher's plain softmax). */
  temperature?: number;
  /**
   * The frozen full-depth teacher (not trained, not disposed by the plugin). Default: a copy of the
   * Trainer's model taken at setup, i.e. the full-depth network before fine-tuning (its weights are
   * checkpointed with the run, so a resumed run distils from the same teacher).
   */
  teacher?: DepthNet;
  /** Plugin name (default `ofa-depth`). */
  name?: string;
}

/** State of the {@link ofaDepth} plugin in checkpoints. */
export interface OfaDepthState {
  rng: RngState;
}

/** The progressive-shrinking plugin, with access to its teacher, schedule and the current step's depths. */
export interface OfaDepthPlugin extends TrainerPlugin<OfaDepthState> {
  /** The frozen full-depth teacher (available after setup). */
  teacher(): DepthNet | null;
  /** The phases on the step axis. */
  schedule(): OfaPhaseSpan[];
  /** The depths of the current (or last) step; the first is the model's depth, whose CE the Trainer's base loss carries. */
  sampled(): DepthConfig[];
}

/**
 * Once-for-All's progressive shrinking of depth (Cai et al. 2020) as a baseline: fine-tunes a network
 * already trained at full depth. Every step draws `subnetsPerStep` depths with replacement from the
 * current phase's depths (phase 1: the menu without its shallowest depth; phase 2: the whole menu),
 * and the step's loss is the sum over them of `CE + kdRatio · KD_T(teacher → sub-network)`, the
 * teacher being the frozen full-depth network; one optimizer step follows (OFA accumulates the
 * sub-networks' gradients). With the Trainer's default base loss, the base term is the first depth's
 * CE (the model runs at that depth); with `baseLoss: 'none'` the plugin adds it.
 */
export function ofaDepth(options: OfaDepthOptions): OfaDepthPlugin {
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', `ofaDepth needs { totalSteps, … }, got ${String(options)}`, 'pass e.g. { totalSteps: 1000, lr: 1e-3 }');
  const name = options.name ?? 'ofa-depth';
  const spans = ofaDepthSchedule(options.totalSteps, options.phases ?? OFA_DEPTH_PHASES);
  const per = options.subnetsPerStep ?? 2;
  check(Number.isInteger(per) && per >= 1, 'BAD_OPTION', `subnetsPerStep ${String(per)} is not a whole number ≥ 1`, 'pass a count such as 2 (OFA)');
  const kdRatio = options.kdRatio ?? 1;
  check(Number.isFinite(kdRatio) && kdRatio >= 0, 'BAD_OPTION', `kdRatio ${kdRatio} is not a finite number ≥ 0`, 'pass 1 (OFA) or 0 for no distillation');
  const T = options.temperature ?? 1;
  check(Number.isFinite(T) && T > 0, 'BAD_OPTION', `temperature ${T} must be a finite number > 0`, 'pass 1 (OFA) or a KD temperature such as 3');
  check(options.lr === undefined || (Number.isFinite(options.lr) && options.lr > 0), 'BAD_OPTION', `lr ${String(options.lr)} must be a number > 0`,
    'pass the rate the full-depth network was trained with, e.g. 1e-3 (or leave lr out to set rates yourself)');
  let net: DepthNet | null = null;
  let teacher: DepthNet | null = null;
  let ownsTeacher = false;
  let adapter: SubnetAdapter | null = null;
  let rng = new Rng(0);
  let menus: DepthConfig[][] = [];
  let sampled: DepthConfig[] = [];

  return {
    name,
    apiVersion: 1,
    setup(ctx) {
      const n = asDepthNet(ctx.model, `plugin "${name}"`);
      net = n;
      rng = Rng.derive(ctx.seed, name, 'subnets');
      if (options.teacher) {
        teacher = options.teacher;
        check(teacher.numClasses === n.numClasses && teacher.inputShape.join(',') === n.inputShape.join(','), 'TEAM_MISMATCH',
          `the teacher takes [${teacher.inputShape.join(', ')}] inputs to ${teacher.numClasses} classes, the model [${n.inputShape.join(', ')}] to ${n.numClasses}`,
          'distil from a full-depth network of the same inputs and classes');
      } else if (!teacher) {
        teacher = cloneDepthNet(n);
        ownsTeacher = true;
      }
      const menu = [...n.configs].sort((a, b) => n.compareCost(a, b));
      menus = spans.map((p) => ofaPhaseMenu(menu, p.drop));
    },
    wrapModel(model) {
      adapter = new SubnetAdapter(asDepthNet(model, `plugin "${name}"`), 'ofa:');
      return adapter;
    },
    /** The teacher copy the plugin made: a resumed run must distil from the same full-depth network. */
    stateVariables() {
      const out: Record<string, tf.Variable> = {};
      if (teacher && ownsTeacher) for (const [k, v] of Object.entries(teacher.allVariables())) out[`teacher/${k}`] = v;
      return out;
    },
    onBatchStart(ctx) {
      const span = ofaPhaseAt(spans, ctx.step);
      if (options.lr !== undefined) setLearningRate(ctx.optimizer, ofaLearningRate(options.lr, span, ctx.step), `plugin "${name}"`);
      sampled = sampleDepths(menus[span.phase]!, per, rng);
      net!.setDepth(sampled[0]!);
      adapter!.subnets = sampled.slice(1);
    },
    lossTerms(outputs, batch, ctx) {
      const y = requireBatchLabels(ctx, batch, name);
      const n = net!;
      const zs = [outputs.logits, ...sampled.slice(1).map((c) => outputs.features[`ofa:${c.id}`] ?? n.forward(batch.x, { config: c, training: true }))];
      const terms: Record<string, tf.Scalar> = {};
      if (kdRatio > 0) {
        const zt = teacher!.forward(batch.x, { config: teacher!.fullConfig, training: false });
        terms.kd = tf.mul(tf.addN(zs.map((z) => kdLoss(zt, z, T))), kdRatio) as tf.Scalar;
      }
      const own = ctx.baseLossActive ? zs.slice(1) : zs;
      if (own.length > 0) {
        const targets = oneHotTargets(y, n.numClasses);
        terms.ce = tf.addN(own.map((z) => softCrossEntropy(z, targets))) as tf.Scalar;
      }
      return terms;
    },
    onBatchEnd() {
      net!.setDepth(net!.fullConfig);
    },
    onFitEnd() {
      if (adapter) adapter.subnets = [];
      net?.setDepth(net.fullConfig);
    },
    teacher: () => teacher,
    schedule: () => spans.map((p) => ({ ...p })),
    sampled: () => [...sampled],
    getState: () => ({ rng: rng.getState() }),
    setState(state) {
      rng.setState(state.rng);
    },
    dispose() {
      if (ownsTeacher) teacher?.dispose();
      teacher = null;
      ownsTeacher = false;
    },
  };
}

/** Options of {@link earlyExit}. */
export interface EarlyExitOptions {
  /** Weight of each exit's cross-entropy, by depth id (default 1 for every exit: MSDNet's plain sum; ids left out keep 1). */
  weights?: Record<string, number>;
  /** Plugin name (default `early-exit`). */
  name?: string;
}

/**
 * Early-exit training (BranchyNet, MSDNet) of a network with one classifier head per depth
 * (`headMode: 'per-depth'`): every step runs all depths of the menu in one pass (each exit reads the
 * shared blocks' activations) and the loss is {@link exitLoss}, `Σ_c w_c · CE(z_c, y)` over the exits.
 * With the Trainer's default base loss the base term is the full depth's CE (its targets scaled by
 * its weight); with `baseLoss: 'none'` the plugin adds it.
 */
export function earlyExit(options: EarlyExitOptions = {}): TrainerPlugin<Record<string, never>> {
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', `earlyExit options must be an object, got ${String(options)}`, 'pass e.g. { weights: { d2: 0.5 } } or nothing');
  const name = options.name ?? 'early-exit';
  const given = options.weights ?? {};
  check(typeof given === 'object' && given !== null, 'BAD_OPTION', `exit weights must be an object keyed by depth id, got ${String(given)}`, 'pass e.g. weights: { d2: 0.5, d6: 1 }');
  for (const [id, w] of Object.entries(given)) check(Number.isFinite(w) && w >= 0, 'BAD_OPTION', `exit weight ${id}=${w} is not a finite number ≥ 0`, 'pass weights ≥ 0, e.g. 1 (equal weights)');
  let net: DepthNet | null = null;
  let adapter: SubnetAdapter | null = null;
  let others: DepthConfig[] = [];
  let weightOf: (c: DepthConfig) => number = () => 1;

  return {
    name,
    apiVersion: 1,
    setup(ctx) {
      const n = asDepthNet(ctx.model, `plugin "${name}"`);
      check(n.headMode === 'per-depth', 'NO_EXIT_HEADS', `plugin "${name}" needs a network with one classifier head per depth, but this one has a shared head`,
        "build it with headMode: 'per-depth' (residualMLP or resNetCNN)");
      const ids = n.configs.map((c) => c.id);
      const unknown = Object.keys(given).filter((id) => !ids.includes(id));
      check(unknown.length === 0, 'UNKNOWN_DEPTH', `exit weights name depth(s) ${unknown.join(', ')}, which are not in the menu`, `weigh the menu's depths: ${ids.join(', ')}`);
      weightOf = (c) => given[c.id] ?? 1;
      check(n.configs.some((c) => weightOf(c) > 0), 'BAD_OPTION', 'every exit weight is 0, so nothing would be trained', 'give at least one exit a weight > 0');
      net = n;
      others = n.configs.filter((c) => c.id !== n.fullConfig.id).sort((a, b) => n.compareCost(a, b));
    },
    wrapModel(model) {
      adapter = new SubnetAdapter(asDepthNet(model, `plugin "${name}"`), 'exit:');
      return adapter;
    },
    onBatchStart() {
      net!.setDepth(net!.fullConfig);
      adapter!.subnets = others;
    },
    transformTargets(targets) {
      const w = weightOf(net!.fullConfig);
      return w === 1 ? targets : tf.mul(targets, w);
    },
    lossTerms(outputs, batch, ctx): Record<string, tf.Scalar> {
      const y = requireBatchLabels(ctx, batch, name);
      const n = net!;
      const exits = ctx.baseLossActive ? others : [n.fullConfig, ...others];
      if (exits.length === 0) return {};
      const logits = exits.map((c) => (c.id === n.fullConfig.id ? outputs.logits : outputs.features[`exit:${c.id}`] ?? n.forward(batch.x, { config: c, training: true })));
      return { exits: exitLoss(logits, y, exits.map(weightOf), { checkLabelValues: false }) };
    },
    onFitEnd() {
      if (adapter) adapter.subnets = [];
      net?.setDepth(net.fullConfig);
    },
  };
}
