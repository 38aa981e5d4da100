// Bad input, leaks and doc placement found in a review of the package: each case here failed before its fix.
import * as tf from '@tensorflow/tfjs-core';
import { Dataset, Rng, Trainer } from '@trellis-ml/core';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildConfigs,
  buildFromArchitecture,
  coopDepth,
  depthAccuracy,
  dynamicDepthSetup,
  evaluateAllDepths,
  exitLoss,
  fromBlocks,
  kdLoss,
  layerDrop,
  loadDepthNet,
  measureLatency,
  memberLoss,
  ofaDepthSchedule,
  ofaLearningRate,
  ofaPhaseAt,
  recalibrateBatchNorm,
  residualMLP,
  trainCoopDepth,
  resNetCNN,
  sampleSubnets,
  selectDepth,
  spreadIndices,
  validateConfig,
  type ArchitectureSpec,
  type CoopWeights,
  type DepthConfig,
  type DepthRow,
  type DepthTable,
  type UserBackbone,
} from '../src/index.js';
import { expectTrellisError, kd, rows, toyDataset, useCpu } from './helpers.js';

beforeAll(useCpu);

/** Mean CE of logit rows against labels, by hand. */
const handCe = (z: number[][], y: number[]) => z.reduce((s, r, i) => s + Math.log(r.reduce((a, v) => a + Math.exp(v), 0)) - r[y[i]!]!, 0) / z.length;

describe('review fixes: losses', () => {
  it('memberLoss and exitLoss refuse labels outside the classes (tf.oneHot made them rows of zeros), float labels and empty batches', async () => {
    const z = tf.tensor2d([[1, 2, 3], [0, -1, 4]]);
    const opts = { kdWeight: 0.5, temperature: 3 };
    // valid labels: CE = mean(ln(e + e² + e³) − 1, ln(1 + e⁻¹ + e⁴) − 4) = (2.40761 + 0.02466) / 2
    const good = tf.tensor1d([0, 2], 'int32');
    expect(handCe([[1, 2, 3], [0, -1, 4]], [0, 2])).toBeCloseTo((2.40761 + 0.02466) / 2, 4);
    expect(memberLoss(z, good, [], opts).dataSync()[0]).toBeCloseTo(handCe([[1, 2, 3], [0, -1, 4]], [0, 2]), 5);
    expect(exitLoss([z], good).dataSync()[0]).toBeCloseTo(handCe([[1, 2, 3], [0, -1, 4]], [0, 2]), 5);
    // before: label 5 silently gave half of row 0's CE (1.2038), the bad row adding nothing
    for (const bad of [[0, 5], [0, -1]]) {
      const y = tf.tensor1d(bad, 'int32');
      const e = await expectTrellisError(() => memberLoss(z, y, [], opts), 'LABEL_OUT_OF_RANGE');
      expect(e.problem).toContain(`label ${bad[1]} of example 1 is outside [0, 3)`);
      expect(e.fix).toContain('class ids 0..2');
      await expectTrellisError(() => exitLoss([z], y), 'LABEL_OUT_OF_RANGE');
      y.dispose();
    }
    const yf = tf.tensor1d([0, 1], 'float32');
    expect((await expectTrellisError(() => memberLoss(z, yf as tf.Tensor1D, [], opts), 'BAD_LABELS')).problem).toContain('float32, not int32');
    await expectTrellisError(() => exitLoss([z], yf as tf.Tensor1D), 'BAD_LABELS');
    const empty = tf.zeros([0, 3]);
    const noLabels = tf.tensor1d([], 'int32');
    await expectTrellisError(() => memberLoss(empty, noLabels, [], opts), 'EMPTY_BATCH');
    await expectTrellisError(() => exitLoss([empty], noLabels), 'EMPTY_BATCH');
    await expectTrellisError(() => kdLoss(empty, empty, 3), 'EMPTY_BATCH');
    // 1-D logits were broadcast against [batch, classes] targets into a number
    await expectTrellisError(() => memberLoss(tf.tensor1d([1, 2]), good, [], opts), 'BAD_SHAPE'); // core's code for a bad shape (SHAPE_MISMATCH before the shared check)
    tf.dispose([z, good, yf, empty, noLabels]);
  });

  it('memberLoss refuses teacher weights that are infinite (NaN loss), negative or NaN (silently dropped), a NaN ceScale and a missing teacher list', async () => {
    const z = tf.tensor2d([[0, 0]]);
    const y = tf.tensor1d([1], 'int32');
    const t = tf.tensor2d([[0, Math.log(3)]]);
    const opts = { kdWeight: 0.5, temperature: 1 };
    // the valid case, by hand: 0.5·ln 2 + 0.5·KL([¼, ¾] ‖ [½, ½])
    expect(memberLoss(z, y, [{ logits: t, weight: 2 }], opts).dataSync()[0]).toBeCloseTo(0.5 * Math.log(2) + 0.5 * (0.25 * Math.log(0.5) + 0.75 * Math.log(1.5)), 5);
    for (const weight of [Infinity, -1, NaN]) {
      const e = await expectTrellisError(() => memberLoss(z, y, [{ logits: t, weight }], opts), 'BAD_OPTION');
      expect(e.problem).toContain(`weight ${weight}`);
    }
    await expectTrellisError(() => memberLoss(z, y, [], { ...opts, ceScale: NaN }), 'BAD_OPTION');
    await expectTrellisError(() => memberLoss(z, y, [], { ...opts, ceScale: -1 }), 'BAD_OPTION');
    await expectTrellisError(() => memberLoss(z, y, undefined as unknown as [], opts), 'BAD_OPTION');
    tf.dispose([z, y, t]);
  });
});

describe('review fixes: selectDepth', () => {
  const rows: DepthRow[] = [
    { id: 'd2', activeBlocks: 2, accuracy: 0.85, flops: 100, params: 10 },
    { id: 'd4', activeBlocks: 4, accuracy: 0.9, flops: 200, params: 20 },
    { id: 'd6', activeBlocks: 6, accuracy: 0.9, flops: 300, params: 30 },
  ];

  it('refuses a row with a NaN accuracy (it used to beat a 0.9 row) and malformed rows, naming the row', async () => {
    // ties (0.9, 0.9) go to the cheaper depth; a budget at exactly d2's FLOPs fits d2
    expect(selectDepth({ rows }, { maxFlops: 1e9 }).config).toBe('d4');
    expect(selectDepth({ rows }, { maxFlops: 100 }).config).toBe('d2');
    expect(selectDepth({ rows }, { maxFlops: 99 }, { onOverBudget: 'smallest' })).toMatchObject({ config: 'd2', overBudget: true });
    const nan: DepthTable = { rows: [{ ...rows[0]!, accuracy: NaN }, rows[1]!] };
    const e = await expectTrellisError(() => selectDepth(nan, { maxFlops: 1000 }), 'BAD_DEPTH_TABLE');
    expect(e.problem).toContain('row 0 ("d2") of the depth table has accuracy NaN');
    expect(e.fix).toContain('empty');
    await expectTrellisError(() => selectDepth({ rows: [{ ...rows[0]!, flops: undefined as unknown as number }, rows[1]!] }, { maxFlops: 150 }), 'BAD_DEPTH_TABLE');
    await expectTrellisError(() => selectDepth({ rows: [null as unknown as DepthRow] }, { maxFlops: 150 }), 'BAD_DEPTH_TABLE');
    await expectTrellisError(() => selectDepth({ rows: [{ ...rows[0]!, latencyMs: -1 }] }, { maxFlops: 150 }), 'BAD_DEPTH_TABLE');
    await expectTrellisError(() => selectDepth({ rows: [{ ...rows[0]!, activeBlocks: 1.5 }] }, { maxFlops: 150 }), 'BAD_DEPTH_TABLE');
  });

  it('carries its own TSDoc comment (it sat above a private constant, so TypeDoc gave selectDepth none)', () => {
    const src = readFileSync(new URL('../src/depthTable.ts', import.meta.url), 'utf8');
    expect(src).toMatch(/\*\/\nexport function selectDepth\(/);
  });
});

describe('review fixes: depth configurations', () => {
  const layout = { numBlocks: 6, stages: [[0, 1, 2, 3, 4, 5]] };

  it('configurations and menus that are not lists get BAD_DEPTH, not a TypeError', async () => {
    await expectTrellisError(() => validateConfig({ id: 'x' } as unknown as DepthConfig, layout), 'BAD_DEPTH');
    await expectTrellisError(() => buildConfigs(layout, [], { custom: { d2: 2 as unknown as number[] } }), 'BAD_DEPTH');
    await expectTrellisError(() => buildConfigs(layout, [null as unknown as number]), 'BAD_DEPTH');
    await expectTrellisError(() => residualMLP({ inputShape: [8], width: 4, blocks: 4, numClasses: 3, seed: 1, configs: 3 as unknown as number[] }), 'BAD_DEPTH');
    await expectTrellisError(() => resNetCNN({ inputShape: [4, 4, 1], stageChannels: [2, 4], blocksPerStage: [1, 1], numClasses: 3, seed: 1, configs: [1] as unknown as number[][] }), 'BAD_DEPTH');
    const net = residualMLP({ inputShape: [8], width: 4, blocks: 4, numClasses: 3, seed: 1 });
    const x = tf.zeros([2, 8]);
    await expectTrellisError(() => net.forward(x, { config: { id: 'mine', activeBlocks: 3 as unknown as number[] } }), 'BAD_DEPTH');
    await expectTrellisError(() => net.setDepth(null as unknown as string), 'BAD_DEPTH');
    await expectTrellisError(() => net.forwardMany(x, 'd2' as unknown as string[]), 'BAD_DEPTH');
    // a valid configuration outside the menu still runs
    expect(net.forward(x, { config: { id: 'mine', activeBlocks: [3, 0] } }).shape).toEqual([2, 3]);
    x.dispose();
    net.dispose();
  });

  it('spreadIndices keeps floor(j·n/k) and refuses counts that are not whole numbers ≥ 0', async () => {
    expect(spreadIndices(8, 4)).toEqual([0, 2, 4, 6]);
    expect(spreadIndices(6, 2)).toEqual([0, 3]);
    expect(spreadIndices(5, 3)).toEqual([0, 1, 3]);
    expect(spreadIndices(3, 5)).toEqual([0, 1, 2]);
    expect(spreadIndices(4, 0)).toEqual([]);
    // before: 2.5 gave three indices, NaN and -1 an empty list
    for (const [n, k] of [[6, 2.5], [6, NaN], [-1, 2], [6, -1]] as const) await expectTrellisError(() => spreadIndices(n, k), 'BAD_DEPTH');
  });
});

describe('review fixes: evaluation', () => {
  it('recalibrateBatchNorm leaks no tensor (it kept one logits tensor per batch and depth) and refuses an empty dataset', async () => {
    const net = resNetCNN({ inputShape: [4, 4, 1], stageChannels: [2, 4], blocksPerStage: [1, 1], numClasses: 3, seed: 1, bnMode: 'recalibrate' });
    const data = toyDataset(30, 1, 16).reshape([4, 4, 1]);
    recalibrateBatchNorm(net, data, { samples: 20, batchSize: 7 });
    const before = tf.memory().numTensors;
    // 2 depths × ceil(20 / 7) = 3 batches: 6 tensors a call before the fix
    recalibrateBatchNorm(net, data, { samples: 20, batchSize: 7 });
    recalibrateBatchNorm(net, data, { samples: 20, batchSize: 7 });
    expect(tf.memory().numTensors).toBe(before);
    const fresh = resNetCNN({ inputShape: [4, 4, 1], stageChannels: [2, 4], blocksPerStage: [1, 1], numClasses: 3, seed: 1, bnMode: 'recalibrate' });
    await expectTrellisError(() => recalibrateBatchNorm(fresh, data.take(0)), 'EMPTY_DATASET');
    // it used to mark every depth calibrated with untouched statistics
    expect([...fresh.calibrated]).toEqual([]);
    net.dispose();
    fresh.dispose();
  });

  it('depthAccuracy and evaluateAllDepths refuse an empty dataset (NaN accuracies), labels beyond the model\'s classes, bad timedRuns, and an empty or repeated depth list', async () => {
    const net = residualMLP({ inputShape: [8], width: 4, blocks: 4, numClasses: 3, seed: 1 });
    const data = toyDataset(30, 1, 8);
    await expectTrellisError(() => depthAccuracy(net, data.take(0), 'd2'), 'EMPTY_DATASET');
    await expectTrellisError(() => evaluateAllDepths(net, data.take(0), { latency: false }), 'EMPTY_DATASET');
    // before, 0, -5 and 2.5 all silently timed one run per round
    for (const timedRuns of [0, -5, 2.5]) {
      expect((await expectTrellisError(() => evaluateAllDepths(net, data, { timedRuns, warmup: 0 }), 'BAD_OPTION')).problem).toContain(`timedRuns ${timedRuns}`);
    }
    await expectTrellisError(() => evaluateAllDepths(net, data, { latency: false, configs: [] }), 'BAD_OPTION');
    // null options slipped past the `= {}` defaults into TypeErrors
    await expectTrellisError(() => evaluateAllDepths(net, data, null as unknown as object), 'BAD_OPTION');
    // the string 'false' (e.g. from a config file) used to switch the latency measurement on
    await expectTrellisError(() => evaluateAllDepths(net, data, { latency: 'false' as unknown as boolean }), 'BAD_OPTION');
    await expectTrellisError(() => recalibrateBatchNorm(net, data, null as unknown as object), 'BAD_OPTION');
    const x1 = tf.zeros([1, 8]);
    await expectTrellisError(() => measureLatency(net, x1, 'd2', null as unknown as object), 'BAD_OPTION');
    x1.dispose();
    await expectTrellisError(() => selectDepth({ rows: [{ id: 'd2', activeBlocks: 2, accuracy: 0.5, flops: 1, params: 1 }] }, { maxFlops: 1 }, null as unknown as object), 'BAD_OPTION');
    await expectTrellisError(() => evaluateAllDepths(net, data, { latency: false, configs: ['d2', 'd2'] }), 'DUPLICATE_DEPTH');
    // a labelled set of 30 with every prediction checked by hand against depthAccuracy
    const table = evaluateAllDepths(net, data, { latency: false, configs: ['d4', 'd2'] });
    expect(table.rows.map((r) => r.id)).toEqual(['d4', 'd2']);
    const xs = tf.tensor(data.x, [30, 8]);
    const logits = net.forward(xs, { config: 'd2' });
    const pred = (logits.arraySync() as number[][]).map((r) => r.indexOf(Math.max(...r)));
    expect(table.rows[1]!.accuracy).toBeCloseTo(pred.filter((p, i) => p === data.labels![i]).length / 30, 10);
    tf.dispose([xs, logits]);
    // a dataset of 5 classes on a 3-class model: labels 3 and 4 could never be predicted (accuracy silently capped)
    const five = Dataset.fromArrays({ x: data.x.slice(0, 5 * 8), shape: [8], labels: Int32Array.from([0, 1, 2, 3, 4]), numClasses: 5 });
    expect((await expectTrellisError(() => depthAccuracy(net, five, 'd2'), 'LABEL_OUT_OF_RANGE')).problem).toContain('label 3 of example 3 is outside [0, 3)');
    await expectTrellisError(() => evaluateAllDepths(net, five, { latency: false }), 'LABEL_OUT_OF_RANGE');
    net.dispose();
  });
});

describe('review fixes: options of the training side', () => {
  it('ofaLearningRate and ofaPhaseAt refuse a step that is not a whole number ≥ 0 (NaN gave a NaN rate / the last phase)', async () => {
    const spans = ofaDepthSchedule(87);
    // phase 2 of 87 steps: start 15, 72 steps, ratio 1/4; at step 51 the cosine is at its midpoint
    expect(ofaLearningRate(1e-3, spans[1]!, 51)).toBeCloseTo(1e-3 / 4 / 2, 12);
    expect(ofaPhaseAt(spans, 14).phase).toBe(0);
    expect(ofaPhaseAt(spans, 15).phase).toBe(1);
    for (const step of [NaN, -1, 1.5]) {
      await expectTrellisError(() => ofaLearningRate(1e-3, spans[0]!, step), 'BAD_OPTION');
      await expectTrellisError(() => ofaPhaseAt(spans, step), 'BAD_OPTION');
    }
    await expectTrellisError(() => ofaLearningRate(1e-3, { ...spans[0]!, steps: 0 }, 0), 'BAD_OPTION');
  });

  it('coopDepth refuses a misspelt KD weight instead of ignoring it, and non-boolean switches; layerDrop a non-boolean linear', async () => {
    const e = await expectTrellisError(() => coopDepth({ weights: { gama: 2 } as unknown as CoopWeights }), 'BAD_OPTION');
    expect(e.problem).toContain('unknown KD weight(s) gama');
    await expectTrellisError(() => coopDepth({ weights: 3 as unknown as CoopWeights }), 'BAD_OPTION');
    expect(coopDepth({ weights: { beta: 0, epsilon: 0.5 } }).name).toBe('coop-depth');
    // a string from a config file ('false') used to count as true
    await expectTrellisError(() => coopDepth({ sandwich: 'false' as unknown as boolean }), 'BAD_OPTION');
    await expectTrellisError(() => coopDepth({ sharedSampling: 'false' as unknown as boolean }), 'BAD_OPTION');
    await expectTrellisError(() => coopDepth({ leader: 'none' as unknown as null }), 'BAD_OPTION');
    await expectTrellisError(() => layerDrop({ linear: 'yes' as unknown as boolean }), 'BAD_OPTION');
  });

  it('sampleSubnets checks subnetsPerStep even without sub-networks, and the menu size', async () => {
    const subs = buildConfigs({ numBlocks: 6, stages: [[0, 1, 2, 3, 4, 5]] }, [1, 2, 3, 4, 5]);
    await expectTrellisError(() => sampleSubnets([], 1, { subnetsPerStep: -1 }, new Rng(1)), 'BAD_OPTION');
    await expectTrellisError(() => sampleSubnets(subs, NaN, {}, new Rng(1)), 'BAD_OPTION');
    await expectTrellisError(() => sampleSubnets(subs, 5, {}, new Rng(1)), 'BAD_OPTION');
    // 6 depths (> 4): c_min plus 2 drawn from the other 4
    const drawn = sampleSubnets(subs, 6, {}, new Rng(1)).map((c) => c.id);
    expect(drawn).toHaveLength(3);
    expect(drawn[0]).toBe('d1');
  });

  it('fromBlocks and buildFromArchitecture refuse malformed backbones and specs with a TrellisError', async () => {
    const block = { apply: (h: tf.Tensor) => h, skippable: true, stage: 0 };
    const backbone: UserBackbone = { name: 'id', inputShape: [2], numClasses: 2, stem: (h) => h, head: (h) => h, blocks: [block], variables: {} };
    const menu = [{ id: 'd1', activeBlocks: [0] }];
    await expectTrellisError(() => fromBlocks({ ...backbone, inputShape: undefined as unknown as number[] }, menu), 'BAD_OPTION');
    // NaN FLOPs made every cost NaN
    await expectTrellisError(() => fromBlocks({ ...backbone, blocks: [{ ...block, flops: NaN }] }, menu), 'BAD_OPTION');
    await expectTrellisError(() => fromBlocks({ ...backbone, stemFlops: -1 }, menu), 'BAD_OPTION');
    await expectTrellisError(() => fromBlocks(backbone, undefined as unknown as DepthConfig[]), 'BAD_DEPTH');
    // two depths named alike: only the first could ever be selected, the second silently unreachable
    const two = { ...backbone, blocks: [block, block] };
    await expectTrellisError(() => fromBlocks(two, [{ id: 'd', activeBlocks: [0] }, { id: 'd', activeBlocks: [0, 1] }]), 'DUPLICATE_DEPTH');
    expect(fromBlocks({ ...backbone, blocks: [{ ...block, flops: 10 }], stemFlops: 4, headFlops: 6 }, menu).cost('d1')).toEqual({ flops: 20, params: 0, activeBlocks: 1 });
    await expectTrellisError(() => buildFromArchitecture(null as unknown as ArchitectureSpec, 0), 'UNKNOWN_ARCHITECTURE');
  });
});

describe('review fixes: the Leader and checkpoints', () => {
  it('a given (frozen) Leader teaches at its full depth even when it was set to a shallower one', async () => {
    const leader = residualMLP({ inputShape: [8], width: 12, blocks: 4, numClasses: 3, configs: [1, 2], seed: 99 });
    leader.setDepth('d1');
    const A = residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed: 1 });
    const trainer = new Trainer({ model: A, seed: 5, batchSize: 32, plugins: [coopDepth({ teammates: 1, leader: { model: leader } })], optimizer: tf.train.adam(0.01) });
    await trainer.setup();
    const data = toyDataset(96);
    const idx = Int32Array.from([0, 4, 8, 13, 17, 22, 30, 31]);
    const probe = data.batchAt(idx);
    const zA = rows(A.forward(probe.x, { config: 'd4', training: true }));
    const zFull = rows(leader.forward(probe.x, { config: 'd4' }));
    const zShallow = rows(leader.forward(probe.x, { config: 'd1' }));
    tf.dispose([probe.x, probe.y!]);
    // one Teammate, the Leader its only teacher: A's term is w·KD_T(L → A), its CE share in the base loss
    const expected = 0.5 * kd(zFull, zA, 3);
    expect(Math.abs(expected - 0.5 * kd(zShallow, zA, 3))).toBeGreaterThan(1e-3);
    const logs = await trainer.trainStep(data.batchAt(idx));
    expect(logs['coop-depth/teammateA']).toBeCloseTo(expected, 5);
    expect(leader.depth.id).toBe('d1');
    trainer.dispose();
    A.dispose();
    leader.dispose();
  });

  it('loadDepthNet refuses a depth-net.json whose "calibrated" list is damaged (a TypeError before)', async () => {
    const net = residualMLP({ inputShape: [8], width: 4, blocks: 2, numClasses: 3, seed: 1 });
    const dir = await mkdtemp(join(tmpdir(), 'dd-review-'));
    try {
      await net.save(dir);
      const file = join(dir, 'depth-net.json');
      const meta = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      await writeFile(file, JSON.stringify({ ...meta, calibrated: undefined }));
      const e = await expectTrellisError(() => loadDepthNet(dir), 'CHECKPOINT_UNREADABLE');
      expect(e.problem).toContain('"calibrated"');
      await writeFile(file, 'null');
      await expectTrellisError(() => loadDepthNet(dir), 'CHECKPOINT_UNREADABLE');
      await writeFile(file, JSON.stringify(meta));
      const back = await loadDepthNet(dir);
      expect(back.configs.map((c) => c.id)).toEqual(['d2']);
      back.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
      net.dispose();
    }
  });
});

describe('review fixes: trainCoopDepth', () => {
  it('checks the validation set before training: an empty one left `deployed` undefined after the whole run', async () => {
    const data = toyDataset(60);
    const A = residualMLP({ inputShape: [8], width: 4, blocks: 2, numClasses: 3, configs: [1], seed: 1 });
    const before = Array.from(A.trainableVariables()['stem/kernel']!.dataSync());
    const tensors = tf.memory().numTensors;
    await expectTrellisError(() => trainCoopDepth(A, data, data.take(0), { epochs: 1, batchSize: 30, seed: 1 }), 'EMPTY_DATASET');
    await expectTrellisError(() => trainCoopDepth(A, data, data.withoutLabels(), { epochs: 1, batchSize: 30, seed: 1 }), 'UNLABELED');
    await expectTrellisError(() => trainCoopDepth(A, data, toyDataset(30, 1, 5), { epochs: 1, batchSize: 30, seed: 1 }), 'INPUT_SHAPE_MISMATCH');
    // nothing trained, no Teammate B or Leader left behind
    expect(Array.from(A.trainableVariables()['stem/kernel']!.dataSync())).toEqual(before);
    expect(tf.memory().numTensors).toBe(tensors);
    A.dispose();
  });
});

describe('review fixes: experiment setup', () => {
  it('refuses a depth listed twice before anything loads (it failed at the first model build, after loading the data)', async () => {
    const e = await expectTrellisError(() => dynamicDepthSetup({ mode: 'quick', params: { depths: '2,2,6' } }), 'BAD_PARAM');
    expect(e.problem).toContain('depth 2 is listed twice');
    // the quick defaults are untouched; an unsorted list is fine (depths are ordered by FLOPs later)
    expect(dynamicDepthSetup({ mode: 'quick', params: {} }).depths).toEqual([2, 4, 6]);
    expect(dynamicDepthSetup({ mode: 'quick', params: { depths: '6,2' } }).depths).toEqual([6, 2]);
  });
});

describe('review fixes: batch-norm statistics momentum', () => {
  it('forwardMany refuses a statsMomentum outside [0, 1] (the statistics diverged silently); 0 sets them to the batch moments', async () => {
    const net = resNetCNN({ inputShape: [2, 2, 1], stageChannels: [1], blocksPerStage: [1], numClasses: 2, seed: 1, bnMode: 'per-config' });
    // input 1, 2, 3, 4 through the stem conv; momentum 0 makes block 0's first BN statistics exactly those of its input
    const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    for (const m of [2, -0.5, NaN]) await expectTrellisError(() => net.forwardMany(x, ['d1'], { training: true, statsMomentum: m }), 'BAD_OPTION');
    const stem = tf.tidy(() => tf.conv2d(x, net.trainableVariables()['stem/conv/kernel'] as tf.Tensor4D, 1, 'same'));
    const v = Array.from(stem.dataSync());
    const mean = v.reduce((a, b) => a + b, 0) / 4;
    const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / 4;
    tf.dispose(net.forwardMany(x, ['d1'], { training: true, statsMomentum: 0 }));
    const all = net.allVariables();
    expect(all['block0/bn1/d1/moving_mean']!.dataSync()[0]).toBeCloseTo(mean, 5);
    expect(all['block0/bn1/d1/moving_variance']!.dataSync()[0]).toBeCloseTo(variance, 5);
    // the other depth's statistics did not move
    expect(all['block0/bn1/d0/moving_mean']!.dataSync()[0]).toBe(0);
    tf.dispose([x, stem]);
    net.dispose();
  });
});
