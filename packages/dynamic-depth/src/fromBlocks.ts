import type * as tf from '@tensorflow/tfjs-core';
import { check } from '@trellis-ml/core';
import type { DepthConfig } from './depthConfig.js';
import { DepthNet, type ArchitectureSpec } from './depthNet.js';
import { VariableStore } from './layers.js';

/** A user block for {@link fromBlocks}. */
export interface UserBlock {
  apply: (h: tf.Tensor, training: boolean) => tf.Tensor;
  /** Skippable blocks must be residual with matching input and output shapes. */
  skippable: boolean;
  stage: number;
  /** FLOPs per example (for the cost model; default 0). */
  flops?: number;
}

/** The parts of a user backbone for {@link fromBlocks}. */
export interface UserBackbone {
  /** Architecture name (saved with the weights, compared on load). */
  name: string;
  inputShape: number[];
  numClasses: number;
  stem: (x: tf.Tensor, training: boolean) => tf.Tensor;
  blocks: UserBlock[];
  head: (h: tf.Tensor, training: boolean) => tf.Tensor;
  /** Every trainable variable of the backbone, keyed by stable names. */
  variables: Record<string, tf.Variable>;
  stemFlops?: number;
  headFlops?: number;
}

/**
 * Wraps any backbone `stem → blocks → head` as a depth-switchable network (the
 * architecture-agnostic claim): skippable blocks are skipped as identities at shallower depths.
 * The backbone's own normalisation must carry no running statistics (use LayerNorm/GroupNorm), or
 * handle them itself. FLOP counts are the caller's.
 */
export function fromBlocks(backbone: UserBackbone, configs: DepthConfig[]): DepthNet {
  check(backbone !== null && typeof backbone === 'object', 'BAD_OPTION', `the backbone is ${String(backbone)}, not { name, inputShape, numClasses, stem, blocks, head, variables }`,
    'pass the parts of the backbone');
  check(Array.isArray(backbone.inputShape) && backbone.inputShape.length > 0 && backbone.inputShape.every((d) => Number.isInteger(d) && d > 0), 'BAD_OPTION',
    `the backbone's inputShape ${JSON.stringify(backbone.inputShape)} is not a list of positive integers`, 'pass the shape of one example, e.g. inputShape: [784]');
  check(typeof backbone.stem === 'function' && typeof backbone.head === 'function', 'BAD_OPTION', 'the backbone needs stem and head functions (h, training) => tensor',
    'pass stem and head as functions');
  check(Array.isArray(backbone.blocks) && backbone.blocks.length > 0, 'BAD_OPTION', 'the backbone has no blocks', 'pass at least one block');
  check(Array.isArray(configs), 'BAD_DEPTH', `the depth menu ${String(configs)} is not a list of configurations`, 'pass e.g. [{ id: \'d1\', activeBlocks: [0] }, { id: \'d2\', activeBlocks: [0, 1] }]');
  const flopsOk = (f: number | undefined) => f === undefined || (Number.isFinite(f) && f >= 0);
  check(flopsOk(backbone.stemFlops) && flopsOk(backbone.headFlops), 'BAD_OPTION', `stemFlops ${String(backbone.stemFlops)} / headFlops ${String(backbone.headFlops)} are not FLOP counts (finite numbers ≥ 0)`,
    'pass FLOPs per example (multiply-adds × 2), or leave them out (0)');
  backbone.blocks.forEach((b, i) => check(typeof b?.apply === 'function' && flopsOk(b.flops), 'BAD_OPTION', `block ${i} needs an apply function and a FLOP count ≥ 0 (flops ${String(b?.flops)})`,
    'give every block apply: (h, training) => tensor and, optionally, its FLOPs per example'));
  backbone.blocks.forEach((b, i) => check(Number.isInteger(b.stage) && b.stage >= 0, 'BAD_OPTION', `block ${i} has stage ${b.stage}; stages are integers 0, 1, 2, …`,
    'give every block the index of its stage (a run of blocks sharing one shape), starting at 0'));
  check(Number.isInteger(backbone.numClasses) && backbone.numClasses >= 1, 'BAD_OPTION', `numClasses ${backbone.numClasses} is not a positive integer`, 'pass the number of classes of the head');
  const store = new VariableStore();
  Object.assign(store.trainable, backbone.variables);
  return new DepthNet({
    architecture: {
      kind: 'custom', name: backbone.name, inputShape: [...backbone.inputShape], numClasses: backbone.numClasses,
      blocks: backbone.blocks.map((b) => ({ skippable: b.skippable, stage: b.stage })),
      variables: Object.fromEntries(Object.entries(backbone.variables).map(([k, v]) => [k, v.shape])),
      configs: configs.map((c) => ({ id: c.id, activeBlocks: [...c.activeBlocks] })),
    } satisfies ArchitectureSpec,
    inputShape: backbone.inputShape,
    numClasses: backbone.numClasses,
    stem: { apply: (x, ctx) => backbone.stem(x, ctx.training), flops: backbone.stemFlops ?? 0, params: 0 },
    blocks: backbone.blocks.map((b) => ({ apply: (h, ctx) => b.apply(h, ctx.training), flops: b.flops ?? 0, params: 0, skippable: b.skippable, stage: b.stage })),
    head: { apply: (h, ctx) => backbone.head(h, ctx.training), flops: backbone.headFlops ?? 0, params: 0 },
    store,
    configs,
    bnMode: 'none',
  });
}
