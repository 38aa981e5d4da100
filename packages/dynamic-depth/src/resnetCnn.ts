import * as tf from '@tensorflow/tfjs-core';
import { check, checkChoice, Rng, requireBackend } from '@trellis-ml/core';
import { buildConfigs, type BlockSelection } from './depthConfig.js';
import { DepthNet, type BnMode, type DepthBlock, type DepthPart, type HeadMode } from './depthNet.js';
import { Conv, Dense, SwitchableBatchNorm, VariableStore } from './layers.js';
import { configJson } from './residualMlp.js';

/** Options of {@link resNetCNN}. */
export interface ResNetCnnOptions {
  /** `[height, width, channels]`, e.g. `[28, 28, 1]`. */
  inputShape: [number, number, number];
  /** Channels per stage (default `[16, 32, 64]`); stage s > 0 starts with a mandatory stride-2 transition. */
  stageChannels?: number[];
  /** Skippable residual blocks per stage (default 2 each). */
  blocksPerStage?: number[];
  numClasses: number;
  /** Batch-norm statistics under depth switching (default `'per-config'`). */
  bnMode?: BnMode;
  /**
   * Menu: active skippable blocks per stage (default (0,…), (1,…), …, (max,…)); the full depth is always
   * added. Ignored with a `{ custom }` block selection, whose lists are the whole menu.
   */
  configs?: number[][];
  /** How a depth picks its blocks within a stage (default `'first-k'`). */
  blockSelection?: BlockSelection;
  seed: number;
  /**
   * `'shared'` (default): one `BN → ReLU → GAP → Dense` head for every depth. `'per-depth'`: every
   * depth of the menu gets its own such head (an early-exit network; variables `head/<depth id>/…`).
   */
  headMode?: HeadMode;
}

/**
 * The small pre-activation ResNet of the spec (M2): `conv3×3` stem; per stage a mandatory stride-2
 * transition (after the first stage) and skippable blocks `h ← h + conv(ReLU(BN(conv(ReLU(BN(h))))))`;
 * then `BN → ReLU → global average pool → Dense(classes)`. Batch-norm statistics are kept per depth
 * (`bnMode: 'per-config'`) or recalibrated per depth after training (`'recalibrate'`).
 */
export function resNetCNN(options: ResNetCnnOptions): DepthNet {
  requireBackend('resNetCNN()');
  const channels = options.stageChannels ?? [16, 32, 64];
  const perStage = options.blocksPerStage ?? channels.map(() => 2);
  check(Array.isArray(channels) && channels.length > 0, 'BAD_OPTION', `stageChannels ${JSON.stringify(channels)} has no stage`, 'pass one width per stage, e.g. stageChannels: [16, 32, 64]');
  check(perStage.length === channels.length, 'BAD_OPTION', `${channels.length} stage widths but ${perStage.length} block counts`, 'give one block count per stage');
  check(channels.every((c) => Number.isInteger(c) && c > 0) && perStage.every((k) => Number.isInteger(k) && k >= 0), 'BAD_OPTION',
    `stageChannels [${channels.join(', ')}] must be positive integers and blocksPerStage [${perStage.join(', ')}] non-negative integers`,
    'pass e.g. stageChannels: [16, 32, 64], blocksPerStage: [2, 2, 2]');
  check(Array.isArray(options.inputShape) && options.inputShape.length === 3 && options.inputShape.every((d) => Number.isInteger(d) && d > 0), 'BAD_OPTION',
    `inputShape ${JSON.stringify(options.inputShape)} is not an image shape [H, W, C] of positive integers`, 'pass image examples, e.g. inputShape: [28, 28, 1] (dataset.reshape([28, 28, 1]) for flat data)');
  check(Number.isInteger(options.numClasses) && options.numClasses >= 1, 'BAD_OPTION', `numClasses ${options.numClasses} is not a positive integer`, 'pass the number of classes, e.g. numClasses: 10');
  if (options.bnMode !== undefined) {
    checkChoice(options.bnMode, ['none', 'per-config', 'recalibrate'] as const, 'bnMode', { fix: "pass bnMode: 'per-config' (default), 'recalibrate' or 'none'" });
  }
  const bnMode = options.bnMode ?? 'per-config';
  if (options.headMode !== undefined) checkChoice(options.headMode, ['shared', 'per-depth'] as const, 'headMode', { fix: "pass headMode: 'shared' (default) or 'per-depth'" });
  const headMode = options.headMode ?? 'shared';
  const [H0, W0, C0] = options.inputShape;
  const rng = Rng.derive(options.seed, 'resnet-cnn');
  const store = new VariableStore();

  // layout: stage 0 blocks, then per later stage one mandatory transition + its blocks
  const kinds: Array<{ stage: number; skippable: boolean }> = [];
  channels.forEach((_, s) => {
    if (s > 0) kinds.push({ stage: s, skippable: false });
    for (let j = 0; j < perStage[s]!; j++) kinds.push({ stage: s, skippable: true });
  });
  const stages = channels.map(() => [] as number[]);
  kinds.forEach((k, i) => {
    if (k.skippable) stages[k.stage]!.push(i);
  });
  const layout = { numBlocks: kinds.length, stages };
  const maxDepth = Math.max(...perStage);
  check(options.configs === undefined || (Array.isArray(options.configs) && options.configs.every((d) => Array.isArray(d))), 'BAD_DEPTH',
    `configs ${JSON.stringify(options.configs)} is not a list of per-stage active-block counts`, `pass one count per stage for each depth, e.g. configs: [[1, 1, 1], [2, 1, 0]] (the full depth is added)`);
  const depths = options.configs ?? Array.from({ length: maxDepth + 1 }, (_, d) => perStage.map((n) => Math.min(d, n)));
  const full = perStage.join(',');
  const withFull = depths.some((d) => d.join(',') === full) || typeof options.blockSelection === 'object' ? depths : [...depths, [...perStage]];
  const configs = buildConfigs(layout, withFull, options.blockSelection ?? 'first-k');
  const keys = bnMode === 'per-config' ? configs.map((c) => c.id) : bnMode === 'recalibrate' ? ['shared', ...configs.map((c) => c.id)] : [];
  const bn = (name: string, ch: number) => (bnMode === 'none' ? null : new SwitchableBatchNorm(store, name, ch, keys));

  const stemConv = new Conv(store, 'stem/conv', C0, channels[0]!, 1, rng);
  const stem: DepthPart = { apply: (x) => stemConv.apply(x), flops: stemConv.flops(H0, W0), params: store.paramsUnder('stem/') };
  const blocks: DepthBlock[] = [];
  let h = H0;
  let w = W0;
  kinds.forEach((k, i) => {
    const name = `block${i}`;
    const ch = channels[k.stage]!;
    if (!k.skippable) {
      const inCh = channels[k.stage - 1]!;
      const norm = bn(`${name}/bn`, inCh);
      const conv = new Conv(store, `${name}/conv`, inCh, ch, 2, rng);
      h = Math.ceil(h / 2);
      w = Math.ceil(w / 2);
      blocks.push({
        apply: (x, ctx) => conv.apply(tf.relu(norm ? norm.apply(x, ctx) : x)),
        flops: conv.flops(h, w), params: store.paramsUnder(`${name}/`), skippable: false, stage: k.stage,
      });
      return;
    }
    const bn1 = bn(`${name}/bn1`, ch);
    const conv1 = new Conv(store, `${name}/conv1`, ch, ch, 1, rng);
    const bn2 = bn(`${name}/bn2`, ch);
    const conv2 = new Conv(store, `${name}/conv2`, ch, ch, 1, rng);
    blocks.push({
      apply: (x, ctx) => {
        const a = conv1.apply(tf.relu(bn1 ? bn1.apply(x, ctx) : x));
        return tf.add(x, conv2.apply(tf.relu(bn2 ? bn2.apply(a, ctx) : a)));
      },
      flops: conv1.flops(h, w) + conv2.flops(h, w), params: store.paramsUnder(`${name}/`), skippable: true, stage: k.stage,
    });
  });
  const last = channels[channels.length - 1]!;
  const makeHead = (prefix: string): DepthPart => {
    const headBn = bn(`${prefix}/bn`, last);
    const headDense = new Dense(store, `${prefix}/logits`, last, options.numClasses, rng);
    return {
      apply: (x, ctx) => headDense.apply(tf.mean(tf.relu(headBn ? headBn.apply(x, ctx) : x), [1, 2])),
      flops: headDense.flops, params: store.paramsUnder(`${prefix}/`),
    };
  };
  const heads = headMode === 'per-depth' ? Object.fromEntries(configs.map((c) => [c.id, makeHead(`head/${c.id}`)])) : undefined;
  const skippable = perStage.reduce((a, b) => a + b, 0);
  const fullConfig = configs.find((c) => c.activeBlocks.length === skippable) ?? configs[configs.length - 1]!;
  const head = heads ? heads[fullConfig.id]! : makeHead('head');
  return new DepthNet({
    architecture: {
      kind: 'resnet-cnn', inputShape: [...options.inputShape], stageChannels: channels, blocksPerStage: perStage,
      numClasses: options.numClasses, bnMode, configs: configs.map(configJson),
      ...(headMode === 'per-depth' ? { headMode } : {}),
    },
    inputShape: [...options.inputShape], numClasses: options.numClasses, stem, blocks, head, ...(heads ? { heads } : {}), store, configs, bnMode,
  });
}
