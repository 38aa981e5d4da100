import * as tf from '@tensorflow/tfjs-core';
import { check, checkChoice, Rng, requireBackend } from '@trellis-ml/core';
import { buildConfigs, type BlockSelection, type DepthConfig } from './depthConfig.js';
import { DepthNet, type DepthBlock, type DepthPart, type HeadMode } from './depthNet.js';
import { Dense, LayerNorm, VariableStore } from './layers.js';

/** Options of {@link residualMLP}. */
export interface ResidualMlpOptions {
  /** Shape of one example (flattened by the stem), e.g. `[784]` or `[28, 28, 1]`. */
  inputShape: number[];
  /** Hidden width W. */
  width: number;
  /** Number of skippable residual blocks K. */
  blocks: number;
  numClasses: number;
  /** `'layer'` (pre-norm LayerNorm in every block and before the head, default) or `'none'`. */
  norm?: 'layer' | 'none';
  /**
   * Active-block counts of the menu (default 2, 4, …, K); the full depth K is always added. Ignored
   * with a `{ custom }` block selection, whose lists are the whole menu (the full depth is not added).
   */
  configs?: number[];
  /** How a depth picks its blocks (default `'first-k'`); `{ custom }` gives the menu itself, by id. */
  blockSelection?: BlockSelection;
  /** Initialisation seed. */
  seed: number;
  /**
   * Start every block as the identity: its second dense layer is zero-initialised. Default false:
   * every dense layer is seeded Glorot-uniform, the framework default of the spec's plain `Dense(W)`
   * (spec §6.2 gives no initialisation note). With `true`, skipping a block is harmless at the start
   * of training, which makes a model trained only at full depth degrade much less when blocks are skipped.
   */
  zeroInitResidual?: boolean;
  /**
   * `'shared'` (default): one `LN → Dense` head for every depth. `'per-depth'`: every depth of the
   * menu gets its own `LN → Dense` head after its last block (an early-exit network, the spec's
   * `early-exit` baseline; variables `head/<depth id>/…`).
   */
  headMode?: HeadMode;
}

/**
 * The residual MLP of the spec (M1): `Dense(W)+ReLU` stem, K skippable blocks
 * `h ← h + Dense(ReLU(Dense(LN(h))))`, then `LN → Dense(classes)`. No batch-norm, so depth
 * switching needs no per-depth statistics.
 */
export function residualMLP(options: ResidualMlpOptions): DepthNet {
  requireBackend('residualMLP()');
  const { width: W, blocks: K, numClasses } = options;
  check(Number.isInteger(W) && W > 0 && Number.isInteger(K) && K > 0, 'BAD_OPTION', `width ${W} and blocks ${K} must be positive integers`, 'pass e.g. width: 128, blocks: 6');
  check(Array.isArray(options.inputShape) && options.inputShape.length > 0 && options.inputShape.every((d) => Number.isInteger(d) && d > 0), 'BAD_OPTION',
    `inputShape ${JSON.stringify(options.inputShape)} is not a list of positive integers`, 'pass the shape of one example, e.g. inputShape: [784]');
  check(Number.isInteger(numClasses) && numClasses >= 1, 'BAD_OPTION', `numClasses ${numClasses} is not a positive integer`, 'pass the number of classes, e.g. numClasses: 10');
  check(options.norm === undefined || options.norm === 'layer' || options.norm === 'none', 'BAD_OPTION',
    `norm ${JSON.stringify(options.norm)} is not 'layer' or 'none'`, "pass norm: 'layer' (LayerNorm, default) or 'none'");
  const norm = options.norm ?? 'layer';
  const zeroInit = options.zeroInitResidual ?? false;
  if (options.headMode !== undefined) checkChoice(options.headMode, ['shared', 'per-depth'] as const, 'headMode', { fix: "pass headMode: 'shared' (default) or 'per-depth'" });
  const headMode = options.headMode ?? 'shared';
  const inDim = options.inputShape.reduce((p, d) => p * d, 1);
  const rng = Rng.derive(options.seed, 'residual-mlp');
  const store = new VariableStore();
  const layout = { numBlocks: K, stages: [Array.from({ length: K }, (_, i) => i)] };
  check(options.configs === undefined || Array.isArray(options.configs), 'BAD_DEPTH', `configs ${JSON.stringify(options.configs)} is not a list of active-block counts`,
    `pass e.g. configs: [2, 4] (the full depth ${K} is added)`);
  const depths = options.configs ?? Array.from({ length: Math.floor(K / 2) }, (_, i) => 2 * (i + 1));
  const withFull = depths.includes(K) || typeof options.blockSelection === 'object' ? depths : [...depths, K];
  const configs = buildConfigs(layout, withFull, options.blockSelection ?? 'first-k');

  const stemDense = new Dense(store, 'stem', inDim, W, rng);
  const stem: DepthPart = {
    apply: (x) => tf.relu(stemDense.apply(x.rank === 2 ? x : tf.reshape(x, [x.shape[0]!, inDim]))),
    flops: stemDense.flops,
    params: store.paramsUnder('stem/'),
  };
  const blocks: DepthBlock[] = [];
  for (let k = 0; k < K; k++) {
    const name = `block${k}`;
    const ln = norm === 'layer' ? new LayerNorm(store, `${name}/ln`, W) : null;
    const fc1 = new Dense(store, `${name}/fc1`, W, W, rng);
    const fc2 = new Dense(store, `${name}/fc2`, W, W, rng, zeroInit);
    blocks.push({
      apply: (h) => tf.add(h, fc2.apply(tf.relu(fc1.apply(ln ? ln.apply(h) : h)))),
      flops: fc1.flops + fc2.flops,
      params: store.paramsUnder(`${name}/`),
      skippable: true,
      stage: 0,
    });
  }
  const makeHead = (prefix: string): DepthPart => {
    const headLn = norm === 'layer' ? new LayerNorm(store, `${prefix}/ln`, W) : null;
    const headDense = new Dense(store, `${prefix}/logits`, W, numClasses, rng);
    return { apply: (h) => headDense.apply(headLn ? headLn.apply(h) : h), flops: headDense.flops, params: store.paramsUnder(`${prefix}/`) };
  };
  const heads = headMode === 'per-depth' ? Object.fromEntries(configs.map((c) => [c.id, makeHead(`head/${c.id}`)])) : undefined;
  const full = configs.find((c) => c.activeBlocks.length === K);
  const head = heads ? heads[full?.id ?? configs[configs.length - 1]!.id]! : makeHead('head');
  return new DepthNet({
    architecture: {
      kind: 'residual-mlp', inputShape: [...options.inputShape], width: W, blocks: K, numClasses, norm, zeroInitResidual: zeroInit,
      configs: configs.map(configJson),
      // only per-depth networks name their head mode, so checkpoints of shared-head networks stay loadable
      ...(headMode === 'per-depth' ? { headMode } : {}),
    },
    inputShape: options.inputShape, numClasses, stem, blocks, head, ...(heads ? { heads } : {}), store, configs, bnMode: 'none',
  });
}

/** A config as saved in an architecture spec. */
export function configJson(c: DepthConfig): { id: string; activeBlocks: number[] } {
  return { id: c.id, activeBlocks: [...c.activeBlocks] };
}
