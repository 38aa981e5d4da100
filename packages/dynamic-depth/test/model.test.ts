import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@trellis-ml/core';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateAllDepths, fromBlocks, leaderArchitecture, loadDepthNet, measureLatency, measureSwitchCost, recalibrateBatchNorm, residualMLP, resNetCNN, type DepthNet } from '../src/index.js';
import { expectTrellisError, toyDataset, useCpu } from './helpers.js';

beforeAll(useCpu);

const input = (n: number, shape: number[], seed = 3) => tf.tensor(new Rng(seed).normalArray(n * shape.reduce((p, d) => p * d, 1)), [n, ...shape]);
const mlp = (seed = 1, extra: Partial<Parameters<typeof residualMLP>[0]> = {}) =>
  residualMLP({ inputShape: [4], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed, zeroInitResidual: false, ...extra });

/** The plain (non-switchable) residual MLP computed by hand from the same variables. */
function plainMlp(net: DepthNet, x: tf.Tensor): tf.Tensor {
  const v = net.trainableVariables();
  const ln = (h: tf.Tensor, p: string) => {
    const { mean, variance } = tf.moments(h, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, 1e-5))), v[`${p}/gamma`]!), v[`${p}/beta`]!);
  };
  const dense = (h: tf.Tensor, p: string) => tf.add(tf.matMul(h as tf.Tensor2D, v[`${p}/kernel`] as tf.Tensor2D), v[`${p}/bias`]!);
  let h = tf.relu(dense(x, 'stem'));
  for (let k = 0; k < 4; k++) h = tf.add(h, dense(tf.relu(dense(ln(h, `block${k}/ln`), `block${k}/fc1`)), `block${k}/fc2`));
  return dense(ln(h, 'head/ln'), 'head/logits');
}

describe('residual MLP', () => {
  it('refuses a misspelt norm (it used to build the MLP without LayerNorm), a bad class count or input shape (raw RangeErrors), a misspelt block selection', async () => {
    const base = { inputShape: [8], width: 4, blocks: 2, numClasses: 3, seed: 1 };
    expect((await expectTrellisError(() => residualMLP({ ...base, norm: 'layernorm' as 'layer' }), 'BAD_OPTION')).problem).toContain('norm "layernorm"');
    expect((await expectTrellisError(() => residualMLP({ ...base, numClasses: -1 }), 'BAD_OPTION')).problem).toContain('numClasses -1 is not a positive integer');
    await expectTrellisError(() => residualMLP({ ...base, numClasses: 0 }), 'BAD_OPTION');
    expect((await expectTrellisError(() => residualMLP({ ...base, inputShape: [-4] }), 'BAD_OPTION')).problem).toContain('inputShape [-4]');
    await expectTrellisError(() => residualMLP({ ...base, blockSelection: 'everyother' as 'every-other' }), 'BAD_OPTION');
  });
  it('full depth equals the plain model bit for bit; the full depth is added to the menu', () => {
    const net = mlp();
    expect(net.configs.map((c) => c.id)).toEqual(['d1', 'd2', 'd4']);
    const x = input(5, [4]);
    const a = tf.tidy(() => net.forward(x, { config: 'd4' }));
    const b = tf.tidy(() => plainMlp(net, x));
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([a, b, x]);
    net.dispose();
  });

  it('different depths give different logits, report their active blocks, and FLOPs match the active blocks', () => {
    const net = mlp();
    const x = input(5, [4]);
    const outs = net.configs.map((c) => tf.tidy(() => net.forward(x, { config: c })).arraySync() as number[][]);
    expect(outs[0]).not.toEqual(outs[1]);
    expect(outs[1]).not.toEqual(outs[2]);
    // stem 2·4·8 = 64, block 2·(2·8·8) = 256, head 2·8·3 = 48
    expect(net.cost('d1')).toMatchObject({ flops: 64 + 256 + 48, activeBlocks: 1 });
    expect(net.cost('d4')).toMatchObject({ flops: 64 + 4 * 256 + 48, activeBlocks: 4 });
    // params: stem 4·8+8, block 2·8 (LN) + 2·(8·8+8), head 2·8 + 8·3+3
    expect(net.cost('d2').params).toBe(40 + 2 * 160 + 43);
    x.dispose();
    net.dispose();
  });

  it('the spec FLOP table: W=256, K=8 gives ≈2.5 MFLOPs at full depth and a 0.37 ratio at depth 2', () => {
    const net = residualMLP({ inputShape: [784], width: 256, blocks: 8, numClasses: 10, seed: 1 });
    expect(net.cost('d8').flops).toBe(401408 + 8 * 262144 + 5120);
    expect(net.cost('d2').flops / net.cost('d8').flops).toBeCloseTo(0.372, 3);
    net.dispose();
  });

  it('by default every dense layer is Glorot-uniform (spec M1: plain Dense); zeroInitResidual starts every block as the identity', () => {
    const x = input(3, [4]);
    const glorot = residualMLP({ inputShape: [4], width: 8, blocks: 4, numClasses: 3, configs: [1], seed: 1 });
    expect(glorot.architecture.zeroInitResidual).toBe(false);
    const k = Array.from(glorot.trainableVariables()['block2/fc2/kernel']!.dataSync());
    // Glorot-uniform limit sqrt(6 / (8 + 8)) = 0.6124
    expect(Math.max(...k.map(Math.abs))).toBeGreaterThan(0.1);
    expect(Math.max(...k.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 16));
    const g = glorot.forwardMany(x, ['d1', 'd4']);
    expect(Array.from(g.d1!.dataSync())).not.toEqual(Array.from(g.d4!.dataSync()));

    const zero = residualMLP({ inputShape: [4], width: 8, blocks: 4, numClasses: 3, configs: [1], seed: 1, zeroInitResidual: true });
    const z = zero.forwardMany(x, ['d1', 'd4']);
    expect(Array.from(z.d1!.dataSync())).toEqual(Array.from(z.d4!.dataSync()));
    expect(Math.max(...Array.from(zero.trainableVariables()['block2/fc2/kernel']!.dataSync()).map(Math.abs))).toBe(0);
    tf.dispose([...Object.values(g), ...Object.values(z), x]);
    glorot.dispose();
    zero.dispose();
  });

  it('a checkpoint loads into a model of the same shapes whatever its initialisation; loadDepthNet keeps the saved init flag', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dd-init-'));
    const saved = mlp(1, { zeroInitResidual: true });
    await saved.save(join(dir, 'm'));
    const other = mlp(2); // Glorot-initialised
    await other.load(join(dir, 'm'));
    const x = input(4, [4]);
    const a = tf.tidy(() => saved.forward(x, { config: 'd2' }));
    const b = tf.tidy(() => other.forward(x, { config: 'd2' }));
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    const back = await loadDepthNet(join(dir, 'm'));
    expect(back.architecture.zeroInitResidual).toBe(true);
    tf.dispose([a, b, x]);
    [saved, other, back].forEach((m) => m.dispose());
  });

  it('skipped blocks are not computed: no gradient reaches them', () => {
    const net = mlp();
    const x = input(5, [4]);
    const vars = net.trainableVariables();
    const { grads } = tf.variableGrads(() => tf.sum(net.forward(x, { config: 'd2', training: true })) as tf.Scalar, Object.values(vars));
    const byName = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, grads[v.name]]));
    expect(byName['block1/fc1/kernel']).toBeDefined();
    expect(byName['block2/fc1/kernel']).toBeUndefined();
    expect(byName['block3/fc2/bias']).toBeUndefined();
    expect(net.executedBlocks(net.resolve('d2'))).toEqual([0, 1]);
    tf.dispose([...Object.values(grads), x]);
    net.dispose();
  });

  it('forwardMany shares prefixes and gives the same logits as separate passes', () => {
    const net = mlp();
    const x = input(6, [4]);
    const many = net.forwardMany(x, ['d1', 'd2', 'd4']);
    for (const id of ['d1', 'd2', 'd4']) {
      const one = tf.tidy(() => net.forward(x, { config: id }));
      expect(Array.from(many[id]!.dataSync())).toEqual(Array.from(one.dataSync()));
      one.dispose();
    }
    tf.dispose([...Object.values(many), x]);
    net.dispose();
  });

  it('setDepth switches what apply/predict run without touching weights; unknown depths are refused', async () => {
    const net = mlp();
    const x = input(3, [4]);
    const full = net.predict(x);
    net.setDepth('d1');
    expect(net.depth.id).toBe('d1');
    const shallow = net.predict(x);
    const ref = tf.tidy(() => net.forward(x, { config: 'd1' }));
    expect(Array.from(shallow.dataSync())).toEqual(Array.from(ref.dataSync()));
    expect(Array.from(shallow.dataSync())).not.toEqual(Array.from(full.dataSync()));
    await expectTrellisError(() => net.setDepth('d3'), 'UNKNOWN_DEPTH');
    tf.dispose([full, shallow, ref, x]);
    net.dispose();
  });

  it('one saved weight set serves every depth; another architecture or a foreign directory is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dd-'));
    const net = mlp(1);
    await net.save(join(dir, 'm'));
    const back = await loadDepthNet(join(dir, 'm'));
    const x = input(4, [4]);
    for (const c of net.configs) {
      const a = tf.tidy(() => net.forward(x, { config: c }));
      const b = tf.tidy(() => back.forward(x, { config: c.id }));
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      tf.dispose([a, b]);
    }
    const wider = mlp(2, { width: 16 });
    const e = await expectTrellisError(() => wider.load(join(dir, 'm')), 'ARCHITECTURE_MISMATCH');
    expect(e.problem).toContain('width is 8 in the checkpoint but 16 in the model');
    const otherMenu = mlp(2, { configs: [2] });
    await expectTrellisError(() => otherMenu.load(join(dir, 'm')), 'ARCHITECTURE_MISMATCH');
    await mkdir(join(dir, 'junk'));
    await writeFile(join(dir, 'junk', 'depth-net.json'), '{"hello": 1}');
    await expectTrellisError(() => loadDepthNet(join(dir, 'junk')), 'CHECKPOINT_UNREADABLE');
    await expectTrellisError(() => loadDepthNet(join(dir, 'nothing-here')), 'CHECKPOINT_UNREADABLE');
    tf.dispose(x);
    [net, back, wider, otherMenu].forEach((m) => m.dispose());
  });
});

describe('residual CNN with switchable batch-norm', () => {
  const cnn = (bnMode: 'per-config' | 'recalibrate' = 'per-config') =>
    resNetCNN({ inputShape: [8, 8, 1], stageChannels: [4, 8], blocksPerStage: [2, 2], numClasses: 3, bnMode, seed: 1 });

  it('has a mandatory transition, per-stage depths, and refuses skipping the transition', async () => {
    const net = cnn();
    expect(net.stages).toEqual([[0, 1], [3, 4]]);
    expect(net.configs.map((c) => c.id)).toEqual(['s0-0', 's1-1', 's2-2']);
    expect(net.executedBlocks(net.resolve('s0-0'))).toEqual([2]);
    await expectTrellisError(() => net.setDepth({ id: 'bad', activeBlocks: [0, 2] }), 'MANDATORY_BLOCK');
    // stem 2·8·8·9·1·4, stage-0 block 2·(2·8·8·9·4·4), transition 2·4·4·9·4·8, stage-1 block 2·(2·4·4·9·8·8), head 2·8·3
    expect(net.cost('s1-1').flops).toBe(4608 + 36864 + 9216 + 36864 + 48);
    net.dispose();
  });

  it('per-config statistics: a training pass at one depth leaves the other depths\' statistics unchanged', () => {
    const net = cnn();
    const x = input(6, [8, 8, 1]);
    const stat = (id: string) => Array.from(net.allVariables()[`block0/bn1/${id}/moving_mean`]!.dataSync());
    const before = { s11: stat('s1-1'), s22: stat('s2-2') };
    tf.tidy(() => net.forward(x, { config: 's1-1', training: true }));
    expect(stat('s2-2')).toEqual(before.s22);
    expect(stat('s1-1')).not.toEqual(before.s11);
    const outs = ['s0-0', 's1-1', 's2-2'].map((id) => Array.from(tf.tidy(() => net.forward(x, { config: id })).dataSync()));
    expect(outs[0]).not.toEqual(outs[1]);
    expect(outs[1]).not.toEqual(outs[2]);
    x.dispose();
    net.dispose();
  });

  it('recalibration recomputes each depth\'s statistics after training', () => {
    const net = cnn('recalibrate');
    const data = toyDataset(40, 2, 64).reshape([8, 8, 1]);
    const stat = (id: string) => Array.from(net.allVariables()[`head/bn/${id}/moving_mean`]!.dataSync());
    const x = input(4, [8, 8, 1]);
    const before = Array.from(tf.tidy(() => net.forward(x, { config: 's0-0' })).dataSync());
    recalibrateBatchNorm(net, data, { samples: 40, batchSize: 20 });
    expect([...net.calibrated].sort()).toEqual(['s0-0', 's1-1', 's2-2']);
    expect(stat('s0-0')).not.toEqual(stat('s2-2'));
    const after = Array.from(tf.tidy(() => net.forward(x, { config: 's0-0' })).dataSync());
    expect(after).not.toEqual(before);
    x.dispose();
    net.dispose();
  });

  it('a depth object that takes a menu id with other blocks is refused (it read that depth\'s statistics and replaced its outputs)', async () => {
    const net = cnn();
    const e = await expectTrellisError(() => net.setDepth({ id: 's1-1', activeBlocks: [1, 4] }), 'BAD_DEPTH');
    expect(e.problem).toBe('depth "s1-1" is in the menu with blocks [0, 3], but this object has blocks [1,4]');
    expect(net.resolve({ id: 's1-1', activeBlocks: [3, 0] })).toBe(net.resolve('s1-1'));
    expect(net.resolve({ id: 'sampled', activeBlocks: [1, 4] }).activeBlocks).toEqual([1, 4]);
    net.dispose();
  });

  it('a resNetCNN without stages is BAD_OPTION (it was a raw shape error)', async () => {
    await expectTrellisError(() => resNetCNN({ inputShape: [8, 8, 1], stageChannels: [], blocksPerStage: [], numClasses: 3, seed: 1 }), 'BAD_OPTION');
  });

  it('recalibration refuses batchSize 0 (it used to loop forever) and samples 0 (it marked every depth calibrated without statistics)', async () => {
    const net = cnn('recalibrate');
    const data = toyDataset(12, 2, 64).reshape([8, 8, 1]);
    expect((await expectTrellisError(() => recalibrateBatchNorm(net, data, { samples: 12, batchSize: 0 }), 'BAD_OPTION')).problem).toContain('batchSize 0 is not an integer ≥ 1');
    await expectTrellisError(() => recalibrateBatchNorm(net, data, { samples: 12, batchSize: 2.5 }), 'BAD_OPTION');
    expect((await expectTrellisError(() => recalibrateBatchNorm(net, data, { samples: 0 }), 'BAD_OPTION')).problem).toContain('samples 0');
    expect([...net.calibrated]).toEqual([]);
    net.dispose();
    // the options are checked on a network without batch norm too (it used to return before looking at them)
    const plain = residualMLP({ inputShape: [4], numClasses: 3, width: 8, blocks: 2, seed: 1 });
    await expectTrellisError(() => recalibrateBatchNorm(plain, toyDataset(12, 3, 4), { samples: 0 }), 'BAD_OPTION');
    plain.dispose();
  });

  it("the Leader's architecture refuses a width multiplier ≤ 0 and fractional extra blocks", async () => {
    const net = residualMLP({ inputShape: [4], numClasses: 3, width: 8, blocks: 2, seed: 1 });
    expect((await expectTrellisError(() => leaderArchitecture(net.architecture, { widthMultiplier: -1 }), 'BAD_OPTION')).problem).toContain('widthMultiplier -1');
    await expectTrellisError(() => leaderArchitecture(net.architecture, { widthMultiplier: NaN }), 'BAD_OPTION');
    expect((await expectTrellisError(() => leaderArchitecture(net.architecture, { extraBlocks: 1.5 }), 'BAD_OPTION')).problem).toContain('extraBlocks 1.5');
    const leader = leaderArchitecture(net.architecture, { widthMultiplier: 1.5, extraBlocks: 1 });
    expect([leader['width'], leader['blocks']]).toEqual([12, 3]);
    net.dispose();
  });

  it('refuses options that used to build a silently different network or a raw RangeError', async () => {
    const bn = await expectTrellisError(() => resNetCNN({ inputShape: [8, 8, 1], numClasses: 3, seed: 1, bnMode: 'perconfig' as 'per-config' }), 'BAD_OPTION');
    expect(bn.problem).toContain('bnMode "perconfig"');
    expect((await expectTrellisError(() => resNetCNN({ inputShape: [64] as unknown as [number, number, number], numClasses: 3, seed: 1 }), 'BAD_OPTION')).problem)
      .toContain('not an image shape [H, W, C]');
    await expectTrellisError(() => resNetCNN({ inputShape: [8, 8, 1], stageChannels: [0, 4], numClasses: 3, seed: 1 }), 'BAD_OPTION');
  });
});

describe('measuring', () => {
  it('refuses zero repetitions (the median of no runs used to come back undefined) and a latency batch of 0', async () => {
    const net = residualMLP({ inputShape: [8], width: 4, blocks: 2, numClasses: 3, seed: 1 });
    const x = input(2, [8]);
    expect((await expectTrellisError(() => measureLatency(net, x, 'd2', { timedRuns: 0 }), 'BAD_OPTION')).problem).toContain('timedRuns 0 is not an integer ≥ 1');
    await expectTrellisError(() => measureLatency(net, x, 'd2', { warmup: -1 }), 'BAD_OPTION');
    // a misspelt statistic used to give the median silently
    expect((await expectTrellisError(() => measureLatency(net, x, 'd2', { statistic: 'minimum' as 'min' }), 'BAD_OPTION')).problem).toContain(`unknown latency statistic "minimum"`);
    expect((await expectTrellisError(() => measureSwitchCost(net, 0), 'BAD_OPTION')).problem).toContain('repetitions 0');
    await expectTrellisError(() => evaluateAllDepths(net, toyDataset(6), { latencyBatchSize: 0 }), 'BAD_OPTION');
    x.dispose();
    net.dispose();
  });
});

describe('fromBlocks', () => {
  it('refuses a block stage that is not a non-negative integer (it used to be a TypeError)', async () => {
    const backbone = (stage: number) => ({ name: 'x', inputShape: [2], numClasses: 2, stem: (x: tf.Tensor) => x, blocks: [{ apply: (h: tf.Tensor) => h, skippable: true, stage }], head: (h: tf.Tensor) => h, variables: {} });
    expect((await expectTrellisError(() => fromBlocks(backbone(-1), [{ id: 'd1', activeBlocks: [0] }]), 'BAD_OPTION')).problem).toContain('block 0 has stage -1');
    await expectTrellisError(() => fromBlocks(backbone(1.5), [{ id: 'd1', activeBlocks: [0] }]), 'BAD_OPTION');
  });

  it('without FLOP counts the shallowest depth is the one with the fewest blocks, not the first of the menu', () => {
    const w = tf.variable(tf.eye(3));
    const net = fromBlocks({
      name: 'noflops', inputShape: [3], numClasses: 3, stem: (x) => x,
      blocks: [0, 1, 2].map(() => ({ apply: (h: tf.Tensor) => tf.add(h, tf.matMul(h as tf.Tensor2D, w as tf.Tensor2D)), skippable: true, stage: 0 })),
      head: (h) => h, variables: { w },
    }, [{ id: 'd2', activeBlocks: [0, 1] }, { id: 'd1', activeBlocks: [0] }, { id: 'd3', activeBlocks: [0, 1, 2] }]);
    expect(net.configs.map((c) => net.cost(c).flops)).toEqual([0, 0, 0]);
    expect(net.minConfig.id).toBe('d1');
    net.dispose();
  });

  it('wraps a user backbone: skippable blocks become identities at shallower depths', () => {
    const w = tf.variable(tf.mul(tf.eye(3), 2));
    const net = fromBlocks({
      name: 'toy', inputShape: [3], numClasses: 3,
      stem: (x) => x,
      blocks: [0, 1].map(() => ({ apply: (h: tf.Tensor) => tf.add(h, tf.matMul(h as tf.Tensor2D, w as tf.Tensor2D)), skippable: true, stage: 0, flops: 18 })),
      head: (h) => h,
      variables: { w },
    }, [{ id: 'none', activeBlocks: [] }, { id: 'one', activeBlocks: [0] }, { id: 'all', activeBlocks: [0, 1] }]);
    const x = tf.tensor2d([[1, 0, 0]]);
    expect(Array.from(net.forward(x, { config: 'none' }).dataSync())).toEqual([1, 0, 0]);
    expect(Array.from(net.forward(x, { config: 'one' }).dataSync())).toEqual([3, 0, 0]);
    expect(Array.from(net.forward(x, { config: 'all' }).dataSync())).toEqual([9, 0, 0]);
    expect(net.cost('all').flops).toBe(36);
    x.dispose();
    net.dispose();
  });
});
