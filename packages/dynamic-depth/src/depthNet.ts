import * as tf from '@tensorflow/tfjs-core';
import {
  check,
  checkInputShape,
  loadVariablesInto,
  saveVariables,
  TrellisError,
  type ApplyOptions,
  type ModelAdapter,
  type ModelOutputs,
} from '@trellis-ml/core';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveConfig, validateConfig, type BlockLayout, type DepthConfig } from './depthConfig.js';
import { VariableStore, type ForwardContext } from './layers.js';

/**
 * How batch-norm running statistics are kept when blocks are skipped: `'none'` (the network has
 * no batch-norm, e.g. LayerNorm MLPs); `'per-config'` (γ/β shared, running mean/variance stored per
 * depth and updated by that depth's training passes); `'recalibrate'` (one shared set during
 * training; {@link recalibrateBatchNorm} recomputes per-depth statistics afterwards).
 */
export type BnMode = 'none' | 'per-config' | 'recalibrate';

/**
 * How a network classifies at its depths: `'shared'` (one head after the last block, used by every
 * depth: the LayerDrop/OFA style, the default) or `'per-depth'` (each depth of the menu has its own
 * classifier head, an early-exit network as in BranchyNet/MSDNet; the `early-exit` baseline).
 */
export type HeadMode = 'shared' | 'per-depth';

/** A stem or head: a function of the hidden state with a FLOP count per example. */
export interface DepthPart {
  apply(h: tf.Tensor, ctx: ForwardContext): tf.Tensor;
  /** Multiply-adds × 2 per example. */
  flops: number;
  /** Trainable scalars. */
  params: number;
}

/** A block: skippable blocks are residual with matching shapes; mandatory ones (shape changes) always run. */
export interface DepthBlock extends DepthPart {
  skippable: boolean;
  /** Stage index (a run of blocks sharing one shape). */
  stage: number;
}

/** JSON description of an architecture (saved with the weights, compared on load). */
export interface ArchitectureSpec {
  kind: string;
  [key: string]: unknown;
}

/** Everything a {@link DepthNet} is built from. */
export interface DepthNetDefinition {
  architecture: ArchitectureSpec;
  inputShape: number[];
  numClasses: number;
  stem: DepthPart;
  blocks: DepthBlock[];
  head: DepthPart;
  /**
   * Per-depth heads (`headMode: 'per-depth'`), keyed by menu depth id: a depth's pass ends in its own
   * head instead of `head`. Every depth of the menu needs one; depths outside the menu then have none.
   */
  heads?: Record<string, DepthPart>;
  /** The network's variables (trainable, and running statistics as state). */
  store: VariableStore;
  /** The depth menu (must contain the full depth: every skippable block active). */
  configs: DepthConfig[];
  bnMode: BnMode;
}

/** Options of {@link DepthNet.forwardMany}. */
export interface ForwardManyOptions {
  /** Training mode (batch statistics; running statistics updated). */
  training?: boolean;
  /** Running-average momentum override in [0, 1] (recalibration): new = momentum · old + (1 − momentum) · batch. */
  statsMomentum?: number;
  /** Update each depth's own statistics (used by {@link recalibrateBatchNorm}; implies a training-mode pass). */
  calibrate?: boolean;
}

/** Cost of one depth: FLOPs per example, parameters touched, active skippable blocks. */
export interface DepthCost {
  flops: number;
  params: number;
  activeBlocks: number;
}

const SAVE_FORMAT = 'trellis-depth-net-1';

/**
 * A depth-switchable network (`stem → blocks → head`) over plain `tf.Variable`s. One weight set
 * serves every depth of its menu: {@link DepthNet.setDepth} only changes which blocks run (and
 * which batch-norm statistics are read), so switching costs nothing and skipped blocks really are
 * not computed. It is a core `ModelAdapter`, so it trains in core's Trainer at its current depth.
 */
export class DepthNet implements ModelAdapter {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly architecture: ArchitectureSpec;
  readonly bnMode: BnMode;
  /** The shipped depth menu C (includes the full depth). */
  readonly configs: readonly DepthConfig[];
  /** Skippable block indices per stage. */
  readonly stages: number[][];
  readonly numBlocks: number;
  /**
   * `features`, the tap the head reads (the output of the last block run, at every depth): a plugin that
   * reads the representation before the classifier by default (privacy's CRL and SRCM, through core's
   * `penultimateTap`) reads it, not `block<K-1>`, the tap listed before it, which skipped-block depths do not run.
   */
  readonly featureTap = 'features';
  /** Depths whose batch-norm statistics were recalibrated (bnMode `'recalibrate'`). */
  readonly calibrated = new Set<string>();
  private readonly def: DepthNetDefinition;
  private current: DepthConfig;

  constructor(def: DepthNetDefinition) {
    this.def = def;
    this.inputShape = [...def.inputShape];
    this.numClasses = def.numClasses;
    this.architecture = def.architecture;
    this.bnMode = def.bnMode;
    this.numBlocks = def.blocks.length;
    const stageCount = def.blocks.reduce((m, b) => Math.max(m, b.stage + 1), 0);
    this.stages = Array.from({ length: stageCount }, () => [] as number[]);
    def.blocks.forEach((b, i) => {
      if (b.skippable) this.stages[b.stage]!.push(i);
    });
    check(Array.isArray(def.configs), 'BAD_DEPTH', `the depth menu ${String(def.configs)} is not a list of configurations`, 'pass e.g. [{ id: \'d1\', activeBlocks: [0] }]');
    this.configs = def.configs.map((c) => validateConfig(c, this.layout));
    check(this.configs.length > 0, 'EMPTY_DEPTH_MENU', 'the depth menu is empty', 'pass at least one depth');
    const repeated = this.configs.map((c) => c.id).filter((id, i, ids) => ids.indexOf(id) !== i);
    // two depths of one id would share outputs in forwardMany and batch-norm statistics, and only the first could be selected
    check(repeated.length === 0, 'DUPLICATE_DEPTH', () => `depth id "${repeated[0]}" appears twice in the menu`, 'give every depth of the menu its own id');
    const full = this.configs.find((c) => c.activeBlocks.length === this.numSkippable);
    check(full, 'NO_FULL_DEPTH', `the depth menu (${this.configs.map((c) => c.id).join(', ')}) has no full depth with all ${this.numSkippable} skippable blocks`,
      'add the full depth to `configs`');
    this.current = full;
    if (def.heads) {
      const missing = this.configs.filter((c) => !def.heads![c.id]).map((c) => c.id);
      check(missing.length === 0, 'BAD_OPTION', `per-depth heads are missing for depth(s) ${missing.join(', ')}`, 'give every depth of the menu its own head (keyed by depth id)');
    }
  }

  /** `'per-depth'` when every depth of the menu has its own classifier head (an early-exit network), else `'shared'`. */
  get headMode(): HeadMode {
    return this.def.heads ? 'per-depth' : 'shared';
  }

  /** The head a depth's pass ends in (its own with per-depth heads; UNKNOWN_DEPTH for a depth outside the menu then). */
  private headOf(config: DepthConfig): DepthPart {
    if (!this.def.heads) return this.def.head;
    const head = this.def.heads[config.id];
    if (!head) {
      throw new TrellisError('UNKNOWN_DEPTH', `depth "${config.id}" has no classifier head: this network has one head per menu depth (${this.configs.map((c) => c.id).join(', ')})`,
        'run one of the menu\'s depths (per-depth heads cannot serve sampled depths such as LayerDrop\'s)', { id: config.id });
    }
    return head;
  }

  /** The layout configurations are validated against. */
  get layout(): BlockLayout {
    return { numBlocks: this.numBlocks, stages: this.stages };
  }

  /** Number of skippable blocks. */
  get numSkippable(): number {
    return this.stages.reduce((s, st) => s + st.length, 0);
  }

  /** The full depth `c_full` (every skippable block active). */
  get fullConfig(): DepthConfig {
    return this.configs.find((c) => c.activeBlocks.length === this.numSkippable)!;
  }

  /** The shallowest depth of the menu, `c_min`: fewest FLOPs, then fewest active blocks (backbones without FLOPs read 0 for every depth). */
  get minConfig(): DepthConfig {
    return [...this.configs].sort((a, b) => this.compareCost(a, b))[0]!;
  }

  /** Orders depths by cost: FLOPs, then active blocks (for sorting; negative when `a` is cheaper). */
  compareCost(a: DepthConfig, b: DepthConfig): number {
    return this.cost(a).flops - this.cost(b).flops || a.activeBlocks.length - b.activeBlocks.length;
  }

  /** The depth {@link DepthNet.apply} and {@link DepthNet.predict} use. */
  get depth(): DepthConfig {
    return this.current;
  }

  /**
   * Resolves a depth: a menu id, a menu config, or (for training-time sampling such as LayerDrop)
   * any valid configuration object. Throws UNKNOWN_DEPTH / BAD_DEPTH / MANDATORY_BLOCK, and BAD_DEPTH
   * for an object that takes a menu depth's id with other blocks (it would read that depth's batch-norm
   * statistics and replace its outputs in `forwardMany`).
   */
  resolve(config: DepthConfig | string): DepthConfig {
    if (typeof config === 'string') return resolveConfig(this.configs, config);
    check(config !== null && typeof config === 'object', 'BAD_DEPTH', `depth ${String(config)} is neither a menu id nor a configuration`,
      `pass one of ${this.configs.map((c) => `'${c.id}'`).join(', ')}, or a configuration { id, activeBlocks }`);
    const inMenu = this.configs.find((c) => c.id === config.id);
    if (inMenu) {
      const blocks = Array.isArray(config.activeBlocks) ? [...config.activeBlocks].sort((a, b) => a - b).join(',') : String(config.activeBlocks);
      if (inMenu.activeBlocks.join(',') === blocks) return inMenu;
      throw new TrellisError('BAD_DEPTH', `depth "${config.id}" is in the menu with blocks [${inMenu.activeBlocks.join(', ')}], but this object has blocks [${blocks}]`,
        `pass the menu's depth ("${config.id}"), or give a configuration of other blocks its own id`, { id: config.id });
    }
    return validateConfig(config, this.layout);
  }

  /** Switches the depth used by `apply`/`predict` (no weights move, nothing is rebuilt). */
  setDepth(config: DepthConfig | string): void {
    this.current = this.resolve(config);
  }

  /** Analytic cost of a depth: stem + mandatory blocks + active blocks + head. */
  cost(config: DepthConfig | string): DepthCost {
    const c = this.resolve(config);
    const active = new Set(c.activeBlocks);
    const head = this.headOf(c);
    let flops = this.def.stem.flops + head.flops;
    let params = this.def.stem.params + head.params;
    this.def.blocks.forEach((b, i) => {
      if (!b.skippable || active.has(i)) {
        flops += b.flops;
        params += b.params;
      }
    });
    return { flops, params, activeBlocks: c.activeBlocks.length };
  }

  /** Block indices a depth executes, in order (mandatory blocks and its active skippable ones). */
  executedBlocks(config: DepthConfig): number[] {
    const active = new Set(config.activeBlocks);
    const out: number[] = [];
    this.def.blocks.forEach((b, i) => {
      if (!b.skippable || active.has(i)) out.push(i);
    });
    return out;
  }

  private statsKey(config: DepthConfig): string {
    if (this.bnMode === 'per-config') {
      if (!this.configs.some((c) => c.id === config.id)) {
        throw new TrellisError('UNKNOWN_DEPTH', `depth "${config.id}" has no batch-norm statistics (it is not in the menu)`,
          `evaluate one of: ${this.configs.map((c) => c.id).join(', ')}`);
      }
      return config.id;
    }
    if (this.bnMode === 'recalibrate') return this.calibrated.has(config.id) ? config.id : 'shared';
    return 'shared';
  }

  private updateKeys(config: DepthConfig): string[] {
    if (this.bnMode === 'per-config') return this.configs.some((c) => c.id === config.id) ? [config.id] : [];
    if (this.bnMode === 'recalibrate') return ['shared'];
    return [];
  }

  /** Logits at one depth. */
  forward(x: tf.Tensor, opts: { config?: DepthConfig | string; training?: boolean } = {}): tf.Tensor {
    const config = this.resolve(opts.config ?? this.current);
    return this.forwardMany(x, [config], { training: opts.training })[config.id]!;
  }

  /**
   * Logits at several depths in one call. Depths whose executed blocks share a prefix share its
   * computation (with first-k selection a depth's activations are a prefix of the deeper ones'),
   * which gives the same values and gradients as separate passes at a fraction of the cost.
   */
  forwardMany(x: tf.Tensor, configs: ReadonlyArray<DepthConfig | string>, opts: ForwardManyOptions = {}): Record<string, tf.Tensor> {
    check(Array.isArray(configs), 'BAD_DEPTH', `forwardMany needs a list of depths, got ${String(configs)}`, "pass e.g. ['d2', 'd4']");
    check(opts !== null && typeof opts === 'object', 'BAD_OPTION', `forwardMany options must be an object, got ${String(opts)}`, 'pass { training?, statsMomentum?, calibrate? } or nothing');
    // a momentum outside [0, 1] makes the running statistics diverge (or NaN) without an error
    check(opts.statsMomentum === undefined || (Number.isFinite(opts.statsMomentum) && opts.statsMomentum >= 0 && opts.statsMomentum <= 1), 'BAD_OPTION',
      `statsMomentum ${String(opts.statsMomentum)} is outside [0, 1]`, 'pass the share of the old running statistics that a batch keeps, e.g. 0.9 (or leave it out)');
    checkInputShape(x.shape, this.inputShape);
    return tf.tidy(() => this.runPlans(x, configs, opts));
  }

  /**
   * How {@link DepthNet.forwardMany} computes one depth: the batch-norm statistics it reads, its executed
   * blocks, and one key per computed part (stem, each block, head). Depths whose keys agree share that part's
   * computation, so the keys are also what {@link DepthNet.cascadeCost} counts.
   */
  private plan(config: DepthConfig, training: boolean): { config: DepthConfig; sk: string; path: number[]; keys: string[] } {
    const sk = training ? '' : this.statsKey(config);
    const path = this.executedBlocks(config);
    const keys = [`${sk}|stem`];
    path.forEach((b) => keys.push(`${keys[keys.length - 1]!}>${b}`));
    keys.push(`${keys[keys.length - 1]!}>head${this.def.heads ? `:${config.id}` : ''}`);
    return { config, sk, path, keys };
  }

  /**
   * Analytic cost of running several depths in one inference-mode {@link DepthNet.forwardMany} call, as an
   * early-exit cascade does to reach its last exit: every part `forwardMany` computes counts once (a prefix of
   * blocks the depths share, e.g. with `first-k` selection, is paid once; every depth's head is paid). `flops`
   * and `params` (distinct parameters touched) are per example, `activeBlocks` is the number of skippable block
   * passes run. With per-depth batch-norm statistics (`bnMode: 'per-config'`) depths share no block at inference
   * (each reads its own statistics), so the cost is the sum of their costs. For one depth it equals {@link DepthNet.cost}.
   */
  cascadeCost(configs: ReadonlyArray<DepthConfig | string>): DepthCost {
    check(Array.isArray(configs) && configs.length > 0, 'BAD_DEPTH', `cascadeCost needs a non-empty list of depths, got ${JSON.stringify(configs)}`, "pass e.g. ['d2', 'd4']");
    const seen = new Set<string>();
    const parts = new Set<string>();
    let flops = 0;
    let params = 0;
    let activeBlocks = 0;
    const pay = (key: string, part: string, p: DepthPart, skippable: boolean) => {
      if (seen.has(key)) return;
      seen.add(key);
      flops += p.flops;
      if (skippable) activeBlocks++;
      if (!parts.has(part)) params += p.params;
      parts.add(part);
    };
    for (const c of configs) {
      const { config, path, keys } = this.plan(this.resolve(c), false);
      pay(keys[0]!, 'stem', this.def.stem, false);
      path.forEach((b, i) => pay(keys[i + 1]!, `block${b}`, this.def.blocks[b]!, this.def.blocks[b]!.skippable));
      pay(keys[keys.length - 1]!, this.def.heads ? `head:${config.id}` : 'head', this.headOf(config), false);
    }
    return { flops, params, activeBlocks };
  }

  private runPlans(x: tf.Tensor, configs: ReadonlyArray<DepthConfig | string>, opts: ForwardManyOptions): Record<string, tf.Tensor> {
    const training = opts.training ?? false;
    const plans = configs.map((c) => this.plan(this.resolve(c), training));
    const updates = new Map<string, Set<string>>();
    for (const p of plans) {
      for (const k of p.keys) {
        const set = updates.get(k) ?? new Set<string>();
        for (const u of opts.calibrate ? [p.config.id] : this.updateKeys(p.config)) set.add(u);
        updates.set(k, set);
      }
    }
    const ctxFor = (key: string, sk: string): ForwardContext => ({
      training, statsKey: sk, updateKeys: training ? [...(updates.get(key) ?? [])] : [],
      ...(opts.statsMomentum !== undefined ? { statsMomentum: opts.statsMomentum } : {}),
    });
    const cache = new Map<string, tf.Tensor>();
    const out: Record<string, tf.Tensor> = {};
    for (const p of plans) {
      let key = p.keys[0]!;
      let h = cache.get(key);
      if (!h) {
        h = this.def.stem.apply(x, ctxFor(key, p.sk));
        cache.set(key, h);
      }
      for (let i = 0; i < p.path.length; i++) {
        key = p.keys[i + 1]!;
        let next = cache.get(key);
        if (!next) {
          const block = this.def.blocks[p.path[i]!]!;
          next = block.apply(h, ctxFor(key, p.sk));
          cache.set(key, next);
        }
        h = next;
      }
      key = p.keys[p.keys.length - 1]!;
      let logits = cache.get(key);
      if (!logits) {
        logits = this.headOf(p.config).apply(h, ctxFor(key, p.sk));
        cache.set(key, logits);
      }
      out[p.config.id] = logits;
    }
    return out;
  }

  /** Forward pass at the current depth (the ModelAdapter contract). Taps: `stem`, `block<i>`, `features`. */
  apply(x: tf.Tensor, options: ApplyOptions = {}): ModelOutputs {
    const taps = options.taps ?? [];
    if (taps.length === 0) return { logits: this.forward(x, { config: this.current, training: options.training }), features: {} };
    const known = new Set(this.tapNames());
    for (const t of taps) check(known.has(t), 'UNKNOWN_TAP', `the model has no tap "${t}"`, `tap one of: ${[...known].join(', ')}`, { tap: t });
    checkInputShape(x.shape, this.inputShape);
    const config = this.current;
    const training = options.training ?? false;
    const ctx: ForwardContext = { training, statsKey: training ? '' : this.statsKey(config), updateKeys: training ? this.updateKeys(config) : [] };
    const all: Record<string, tf.Tensor> = {};
    let h = this.def.stem.apply(x, ctx);
    all.stem = h;
    for (const b of this.executedBlocks(config)) {
      h = this.def.blocks[b]!.apply(h, ctx);
      all[`block${b}`] = h;
    }
    all.features = h;
    const logits = this.headOf(config).apply(h, ctx);
    const features: Record<string, tf.Tensor> = {};
    for (const t of taps) {
      const f = all[t];
      check(f, 'TAP_INACTIVE', `tap "${t}" is a block skipped at depth "${config.id}"`, 'tap an active block, `stem` or `features`', { tap: t, depth: config.id });
      features[t] = f;
    }
    return { logits, features };
  }

  /** Inference at the current depth. */
  predict(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.forward(x, { config: this.current, training: false }));
  }

  tapNames(): string[] {
    return ['stem', ...this.def.blocks.map((_, i) => `block${i}`), 'features'];
  }

  trainableVariables(): Record<string, tf.Variable> {
    return { ...this.def.store.trainable };
  }

  allVariables(): Record<string, tf.Variable> {
    return { ...this.def.store.trainable, ...this.def.store.state };
  }

  /**
   * Saves one weight set for every depth: `depth-net.json` (architecture, depth menu, batch-norm
   * mode, recalibrated depths) and `variables/` (weights and per-depth statistics).
   */
  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    const meta = { format: SAVE_FORMAT, architecture: this.architecture, calibrated: [...this.calibrated] };
    await writeFile(join(dir, 'depth-net.json'), JSON.stringify(meta, null, 2));
    await saveVariables(this.allVariables(), join(dir, 'variables'));
  }

  /** Loads weights saved by {@link DepthNet.save}; a checkpoint of another architecture is refused (ARCHITECTURE_MISMATCH). */
  async load(dir: string): Promise<void> {
    const meta = await readDepthNetMeta(dir);
    const diff = architectureDiff(meta.architecture, this.architecture);
    if (diff.length > 0) {
      throw new TrellisError('ARCHITECTURE_MISMATCH',
        `the checkpoint in ${dir} is a different architecture: ${diff.join('; ')}`,
        'load it into a model built with the same options (or use loadDepthNet(dir), which builds the saved architecture)',
        { saved: meta.architecture, model: this.architecture });
    }
    await loadVariablesInto(this.allVariables(), join(dir, 'variables'));
    this.calibrated.clear();
    for (const c of meta.calibrated) this.calibrated.add(c);
  }

  dispose(): void {
    tf.dispose([...Object.values(this.def.store.trainable), ...Object.values(this.def.store.state)]);
  }
}

/** The metadata {@link DepthNet.save} writes. */
export interface DepthNetMeta {
  format: string;
  architecture: ArchitectureSpec;
  calibrated: string[];
}

/** Reads `depth-net.json` of a saved {@link DepthNet} (CHECKPOINT_UNREADABLE when absent or not one). */
export async function readDepthNetMeta(dir: string): Promise<DepthNetMeta> {
  let meta: DepthNetMeta;
  try {
    meta = JSON.parse(await readFile(join(dir, 'depth-net.json'), 'utf8')) as DepthNetMeta;
  } catch (e) {
    throw new TrellisError('CHECKPOINT_UNREADABLE', `cannot read ${join(dir, 'depth-net.json')}: ${(e as Error).message}`,
      'point at a directory written by DepthNet.save (a dynamic-depth model)');
  }
  check(meta !== null && typeof meta === 'object' && meta.format === SAVE_FORMAT && meta.architecture && typeof meta.architecture.kind === 'string', 'CHECKPOINT_UNREADABLE',
    `${dir} is not a saved dynamic-depth network`, 'point at a directory written by DepthNet.save');
  check(Array.isArray(meta.calibrated) && meta.calibrated.every((c) => typeof c === 'string'), 'CHECKPOINT_UNREADABLE',
    `${join(dir, 'depth-net.json')} is damaged: "calibrated" is ${JSON.stringify(meta.calibrated)}, not a list of depth ids`,
    'save the model again with DepthNet.save (or restore the file from a copy)');
  return meta;
}

/** Fields of an architecture spec that only say how fresh weights were initialised; loading overwrites them. */
const INIT_ONLY_FIELDS = new Set(['zeroInitResidual']);

/**
 * Human-readable differences between two architecture specs (empty when equal). Initialisation-only
 * fields (`zeroInitResidual`) are not compared: they do not change which weights exist or their shapes.
 */
export function architectureDiff(saved: ArchitectureSpec, model: ArchitectureSpec): string[] {
  const keys = new Set([...Object.keys(saved), ...Object.keys(model)]);
  const out: string[] = [];
  for (const k of [...keys].sort()) {
    if (INIT_ONLY_FIELDS.has(k)) continue;
    const a = JSON.stringify(saved[k]);
    const b = JSON.stringify(model[k]);
    if (a !== b) out.push(`${k} is ${a ?? 'absent'} in the checkpoint but ${b ?? 'absent'} in the model`);
  }
  return out;
}
