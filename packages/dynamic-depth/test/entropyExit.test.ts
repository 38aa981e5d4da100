import * as tf from '@tensorflow/tfjs-core';
import { softmaxRows } from '@trellis-ml/core';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  chooseEntropyThreshold,
  depthAccuracy,
  entropyExit,
  entropyThresholdSweep,
  evaluateEntropyExit,
  exitOutputs,
  residualMLP,
  resNetCNN,
  type EntropyExitPoint,
  type ExitOutputs,
} from '../src/index.js';
import { toyDataset, useCpu } from './helpers.js';

beforeAll(useCpu);

/** The TrellisError code `f` throws (a clear test failure when it throws something else or nothing). */
const codeOf = async (f: () => unknown): Promise<string> => (await trellisErrorOf(f)).code;

/*
 * The 3-exit toy case, 2 classes, 4 samples, computed by hand. Entropy (nats) of softmax([a, b]) depends on |a − b|:
 *   |Δ| = 0: ln 2 = 0.693147   |Δ| = 1: 0.582203   |Δ| = 2: 0.365334   |Δ| = 3: 0.190865
 *
 *            exit 0            exit 1            exit 2 (last)     label
 *   s0   [2, 0] H .365     [3, 0] H .191     [0, 1] H .582       0
 *   s1   [1, 0] H .582     [0, 3] H .191     [0, 1] H .582       1
 *   s2   [0, 0] H .693     [1, 0] H .582     [2, 0] H .365       1
 *   s3   [0, 1] H .582     [0, 0] H .693     [0, 2] H .365       1
 *
 * Costs of leaving at exits 0, 1, 2: 100, 250, 450 FLOPs and 1, 2, 4 blocks.
 *
 * τ = 0.5:        s0 exit 0 (.365 < .5) → 0 ✓; s1 exit 1 (.582, then .191) → 1 ✓; s2 exit 2 (.693, .582) → 0 ✗;
 *                 s3 exit 2 (.582, .693) → 1 ✓. Exits [0, 1, 2, 2], shares [1/4, 1/4, 2/4], accuracy 3/4,
 *                 mean FLOPs (100 + 250 + 450 + 450) / 4 = 312.5, mean blocks (1 + 2 + 4 + 4) / 4 = 2.75.
 * τ = [0.2, 0.6]: s0 exit 1 (.365 ≥ .2, .191 < .6) → 0 ✓; s1 exit 1 → 1 ✓; s2 exit 1 (.582 < .6) → 0 ✗; s3 exit 2 → 1 ✓.
 *                 Exits [1, 1, 1, 2], shares [0, 3/4, 1/4], accuracy 3/4, FLOPs (3·250 + 450) / 4 = 300, blocks (3·2 + 4) / 4 = 2.5.
 * τ = 0.6:        s0, s1 (.582 < .6) and s3 leave at exit 0 → 0, 0, 1; s2 at exit 1 → 0. Accuracy 2/4 (s0, s3),
 *                 shares [3/4, 1/4, 0], FLOPs (3·100 + 250) / 4 = 137.5, blocks (3 + 2) / 4 = 1.25.
 * τ = 0:          nothing is below 0: all at exit 2 → 1, 1, 0, 1: accuracy 2/4, FLOPs 450, blocks 4.
 * τ = ∞:          all at exit 0 → 0, 0, 0 (a tie goes to class 0), 1: accuracy 2/4, FLOPs 100, blocks 1.
 */
const toy = (): ExitOutputs & { logits: number[][] } => ({
  logits: [
    [2, 0, 1, 0, 0, 0, 0, 1],
    [3, 0, 0, 3, 1, 0, 0, 0],
    [0, 1, 0, 1, 2, 0, 0, 2],
  ],
  numClasses: 2,
  labels: [0, 1, 1, 1],
  costs: [{ flops: 100, activeBlocks: 1 }, { flops: 250, activeBlocks: 2 }, { flops: 450, activeBlocks: 4 }],
  exits: ['d1', 'd2', 'd4'],
});
const H1 = 0.5822031088882179;
const H2 = 0.3653338550872077;
const H3 = 0.1908649711064423;

describe('entropyExit (pure function, the hand-computed 3-exit case)', () => {
  it('one threshold: each sample leaves at the first exit whose entropy is below it; the last exit takes the rest', () => {
    const r = entropyExit(toy(), 0.5);
    expect(Array.from(r.exit)).toEqual([0, 1, 2, 2]);
    expect(Array.from(r.prediction)).toEqual([0, 1, 0, 1]);
    const h = Array.from(r.entropy);
    [H2, H3, H2, H2].forEach((v, i) => expect(h[i]).toBeCloseTo(v, 12));
    expect(r.exitCounts).toEqual([1, 1, 2]);
    expect(r.exitFractions).toEqual([0.25, 0.25, 0.5]);
    expect(r.accuracy).toBe(0.75);
    expect(r.meanFlops).toBe(312.5);
    expect(r.meanBlocks).toBe(2.75);
    expect(r.thresholds).toEqual([0.5, 0.5]);
    expect(r.exits).toEqual(['d1', 'd2', 'd4']);
  });

  it('per-exit thresholds (one per exit but the last), and the extremes 0 and Infinity', () => {
    const per = entropyExit(toy(), [0.2, 0.6]);
    expect(Array.from(per.exit)).toEqual([1, 1, 1, 2]);
    expect(Array.from(per.prediction)).toEqual([0, 1, 0, 1]);
    expect(per).toMatchObject({ exitFractions: [0, 0.75, 0.25], accuracy: 0.75, meanFlops: 300, meanBlocks: 2.5, threshold: [0.2, 0.6] });
    const six = entropyExit(toy(), 0.6);
    expect(Array.from(six.exit)).toEqual([0, 0, 1, 0]);
    expect(six).toMatchObject({ exitFractions: [0.75, 0.25, 0], accuracy: 0.5, meanFlops: 137.5, meanBlocks: 1.25 });
    const none = entropyExit(toy(), 0);
    expect(Array.from(none.exit)).toEqual([2, 2, 2, 2]);
    expect(none).toMatchObject({ accuracy: 0.5, meanFlops: 450, meanBlocks: 4 });
    const all = entropyExit(toy(), Infinity);
    expect(Array.from(all.exit)).toEqual([0, 0, 0, 0]);
    expect(Array.from(all.prediction)).toEqual([0, 0, 0, 1]);
    expect(all).toMatchObject({ accuracy: 0.5, meanFlops: 100, meanBlocks: 1 });
  });

  it('the rule is strict: an entropy equal to the threshold does not leave (probabilities, entropy exactly 0 and ln 2)', () => {
    // sample 0 is one-hot at exit 0 (entropy 0), sample 1 uniform at exit 0 and 1 (entropy ln 2)
    const probs: ExitOutputs = { probabilities: [[1, 0, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0, 1, 1, 0]], numClasses: 2, labels: [0, 0] };
    expect(Array.from(entropyExit(probs, 0).exit)).toEqual([2, 2]);
    expect(Array.from(entropyExit(probs, 1e-12).exit)).toEqual([0, 2]);
    expect(Array.from(entropyExit(probs, Math.LN2).exit)).toEqual([0, 2]);
    expect(Array.from(entropyExit(probs, Math.LN2 + 1e-12).exit)).toEqual([0, 0]);
    // with probabilities the entropies are those of the rows given; the logits path gives the softmax's
    const viaProbs = entropyExit({ probabilities: toy().logits.map((z) => softmaxRows(z, 2)), numClasses: 2, labels: [0, 1, 1, 1] }, 0.5);
    expect(Array.from(viaProbs.exit)).toEqual([0, 1, 2, 2]);
    expect(viaProbs.entropy[1]).toBeCloseTo(H3, 6);
  });

  it('without labels or costs the result has no accuracy or mean cost; one exit takes every sample', () => {
    const { labels: _, costs: __, ...bare } = toy();
    const r = entropyExit(bare, 0.5);
    expect(r.accuracy).toBeUndefined();
    expect(r.meanFlops).toBeUndefined();
    expect(Array.from(r.exit)).toEqual([0, 1, 2, 2]);
    const one = entropyExit({ logits: [toy().logits[0]!], numClasses: 2 }, []);
    expect(Array.from(one.exit)).toEqual([0, 0, 0, 0]);
    expect(entropyExit({ logits: [toy().logits[0]!], numClasses: 2 }, 0.3).exitFractions).toEqual([1]);
    expect(H1).toBeGreaterThan(0.5); // the table's .582 is above 0.5 (sanity of the hand computation)
  });
});

describe('entropyThresholdSweep and chooseEntropyThreshold', () => {
  const sweep = (): EntropyExitPoint[] => entropyThresholdSweep(toy(), [0, 0.5, [0.2, 0.6], 0.6, Infinity]);

  it('gives accuracy against mean cost per threshold (the hand-computed points)', () => {
    expect(sweep()).toEqual([
      { threshold: 0, accuracy: 0.5, exitFractions: [0, 0, 1], meanFlops: 450, meanBlocks: 4 },
      { threshold: 0.5, accuracy: 0.75, exitFractions: [0.25, 0.25, 0.5], meanFlops: 312.5, meanBlocks: 2.75 },
      { threshold: [0.2, 0.6], accuracy: 0.75, exitFractions: [0, 0.75, 0.25], meanFlops: 300, meanBlocks: 2.5 },
      { threshold: 0.6, accuracy: 0.5, exitFractions: [0.75, 0.25, 0], meanFlops: 137.5, meanBlocks: 1.25 },
      { threshold: Infinity, accuracy: 0.5, exitFractions: [1, 0, 0], meanFlops: 100, meanBlocks: 1 },
    ]);
  });

  it('the default grid runs from 0 (all to the last exit) to ln k rounded up (all out at the first), cost falling', () => {
    const pts = entropyThresholdSweep(toy());
    const ts = pts.map((p) => p.threshold as number);
    expect(ts[0]).toBe(0);
    expect(ts[ts.length - 1]).toBe(0.694); // ln 2 = 0.693147, rounded up
    expect([...ts].sort((a, b) => a - b)).toEqual(ts);
    expect(new Set(ts).size).toBe(ts.length);
    // quantiles of the early exits' entropies {.365, .582, .693, .582, .191, .191, .582, .693}
    for (const t of ts.slice(1, -1)) expect([H3, H2, H1, Math.LN2].some((h) => Math.abs(h - t) < 1e-12)).toBe(true);
    expect(pts[0]).toMatchObject({ meanFlops: 450, exitFractions: [0, 0, 1] });
    expect(pts[pts.length - 1]).toMatchObject({ meanFlops: 100, exitFractions: [1, 0, 0] });
    for (let i = 1; i < pts.length; i++) expect(pts[i]!.meanFlops!).toBeLessThanOrEqual(pts[i - 1]!.meanFlops!);
  });

  it('picks the most accurate threshold within a mean-cost budget (ties to fewer FLOPs); none fits: the cheapest, flagged', async () => {
    expect(chooseEntropyThreshold(sweep(), { maxFlops: 320 })).toMatchObject({ threshold: [0.2, 0.6], overBudget: false });
    expect(chooseEntropyThreshold(sweep(), { maxFlops: 310 })).toMatchObject({ threshold: [0.2, 0.6], overBudget: false });
    expect(chooseEntropyThreshold(sweep(), { maxFlops: 299 })).toMatchObject({ threshold: Infinity, overBudget: false });
    expect(chooseEntropyThreshold(sweep(), { maxFlops: 1e9 }).point.accuracy).toBe(0.75);
    expect(chooseEntropyThreshold(sweep().slice(0, 2), { maxBlocks: 3 })).toMatchObject({ threshold: 0.5, overBudget: false });
    expect(chooseEntropyThreshold(sweep(), { maxFlops: 50 })).toMatchObject({ threshold: Infinity, overBudget: true });
    expect(chooseEntropyThreshold(sweep(), { maxFlops: 50 }, { onOverBudget: 'smallest' })).toMatchObject({ threshold: Infinity, overBudget: true });
    expect(await codeOf(() => chooseEntropyThreshold(sweep(), { maxFlops: 50 }, { onOverBudget: 'throw' }))).toBe('NO_THRESHOLD_FITS');
    expect(await codeOf(() => chooseEntropyThreshold(sweep(), {}))).toBe('EMPTY_BUDGET');
    expect(await codeOf(() => chooseEntropyThreshold(sweep(), { maxFlops: -1 }))).toBe('BAD_BUDGET');
    expect(await codeOf(() => chooseEntropyThreshold(sweep(), { maxFlops: NaN }))).toBe('BAD_BUDGET');
    expect(await codeOf(() => chooseEntropyThreshold(sweep(), { maxLatencyMs: 3 } as never))).toBe('BAD_BUDGET');
    expect(await codeOf(() => chooseEntropyThreshold([], { maxFlops: 1 }))).toBe('BAD_OPTION');
    const { costs: _, ...noCosts } = toy();
    expect(await codeOf(() => chooseEntropyThreshold(entropyThresholdSweep(noCosts, [0.5]), { maxFlops: 1e9 }))).toBe('BAD_BUDGET');
    expect(await codeOf(() => chooseEntropyThreshold(sweep(), { maxFlops: 1 }, { onOverBudget: 'cheapest' as 'throw' }))).toBe('BAD_OPTION');
  });
});

describe('bad input gets a clear TrellisError', () => {
  it('thresholds: NaN, negative, not a number, a list of the wrong length', async () => {
    expect(await codeOf(() => entropyExit(toy(), NaN))).toBe('BAD_THRESHOLD');
    expect(await codeOf(() => entropyExit(toy(), -0.1))).toBe('BAD_THRESHOLD');
    expect(await codeOf(() => entropyExit(toy(), '0.5' as unknown as number))).toBe('BAD_THRESHOLD');
    const e = await trellisErrorOf(() => entropyExit(toy(), [0.1, 0.2, 0.3]));
    expect(e.code).toBe('BAD_THRESHOLD');
    expect(e.problem).toContain('3 thresholds for 3 exits');
    expect(await codeOf(() => entropyExit(toy(), [0.1]))).toBe('BAD_THRESHOLD');
    expect(await codeOf(() => entropyExit(toy(), [0.1, NaN]))).toBe('BAD_THRESHOLD');
    expect(await codeOf(() => entropyThresholdSweep(toy(), []))).toBe('BAD_THRESHOLD');
    expect(await codeOf(() => entropyThresholdSweep(toy(), [0.5, -1]))).toBe('BAD_THRESHOLD');
  });

  it('outputs: NaN logits, no samples, exits of other sizes, labels, costs, probabilities that are not distributions', async () => {
    const nan = toy();
    nan.logits[1]![5] = NaN;
    const e = await trellisErrorOf(() => entropyExit(nan, 0.5));
    expect(e.code).toBe('NON_FINITE_LOGITS');
    expect(e.problem).toContain('exit 1, sample 2, class 1');
    expect(await codeOf(() => entropyExit({ logits: [[], []], numClasses: 2 }, 0.5))).toBe('EMPTY_DATASET');
    expect(await codeOf(() => entropyExit({ logits: [[0, 1], [0, 1, 2, 3]], numClasses: 2 }, 0.5))).toBe('SHAPE_MISMATCH');
    expect(await codeOf(() => entropyExit({ logits: [[0, 1, 2]], numClasses: 2 }, 0.5))).toBe('BAD_SHAPE');
    expect(await codeOf(() => entropyExit({ logits: [[0, 1]], numClasses: 0 }, 0.5))).toBe('BAD_SHAPE');
    expect(await codeOf(() => entropyExit({ logits: [], numClasses: 2 }, 0.5))).toBe('BAD_OPTION');
    expect(await codeOf(() => entropyExit({ numClasses: 2 }, 0.5))).toBe('BAD_OPTION');
    expect(await codeOf(() => entropyExit({ logits: [[0, 1]], probabilities: [[0, 1]], numClasses: 2 }, 0.5))).toBe('BAD_OPTION');
    expect(await codeOf(() => entropyExit({ ...toy(), labels: [0, 1] }, 0.5))).toBe('SHAPE_MISMATCH');
    expect(await codeOf(() => entropyExit({ ...toy(), labels: [0, 1, 2, 0] }, 0.5))).toBe('LABEL_OUT_OF_RANGE');
    expect(await codeOf(() => entropyExit({ ...toy(), costs: [{ flops: 1, activeBlocks: 1 }] }, 0.5))).toBe('BAD_OPTION');
    expect(await codeOf(() => entropyExit({ ...toy(), costs: toy().costs!.map((c) => ({ ...c, flops: NaN })) }, 0.5))).toBe('BAD_OPTION');
    expect(await codeOf(() => entropyExit({ ...toy(), exits: ['d1'] }, 0.5))).toBe('BAD_OPTION');
    expect(await codeOf(() => entropyExit({ probabilities: [[0.5, 0.6]], numClasses: 2 }, 0.5))).toBe('BAD_PROBABILITIES');
    expect(await codeOf(() => entropyExit({ probabilities: [[1.5, -0.5]], numClasses: 2 }, 0.5))).toBe('BAD_PROBABILITIES');
    expect(await codeOf(() => entropyExit({ probabilities: [[NaN, 1]], numClasses: 2 }, 0.5))).toBe('BAD_PROBABILITIES');
    const { labels: _, ...unlabelled } = toy();
    expect(await codeOf(() => entropyThresholdSweep(unlabelled))).toBe('UNLABELED');
  });
});

/** Menu d1, d2, d4 with one head per depth (inputs of 8, width 8, 3 classes). */
const exitNet = (seed = 1) => residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed, headMode: 'per-depth' });

describe('on a per-depth-head DepthNet', () => {
  it('cascadeCost: shared blocks paid once, every exit\'s head paid (by hand), and per-config batch-norm shares nothing', () => {
    const net = exitNet();
    // stem 2·8·8 = 128 FLOPs, a block 2·(2·8·8) = 256, a head 2·8·3 = 48 (LayerNorm FLOPs are not counted)
    expect(net.cost('d1').flops).toBe(432);
    expect(net.cascadeCost(['d1']).flops).toBe(432);
    expect(net.cascadeCost(['d1', 'd2'])).toEqual({ flops: 128 + 2 * 256 + 2 * 48, params: 72 + 2 * 160 + 2 * 43, activeBlocks: 2 });
    expect(net.cascadeCost(['d1', 'd2', 'd4'])).toEqual({ flops: 128 + 4 * 256 + 3 * 48, params: 72 + 4 * 160 + 3 * 43, activeBlocks: 4 });
    expect(net.cascadeCost(['d4', 'd1'])).toEqual(net.cascadeCost(['d1', 'd4']));
    net.dispose();
    // a CNN with per-depth batch-norm statistics: each depth reads its own, so no block is shared at inference
    const cnn = resNetCNN({ inputShape: [4, 4, 1], stageChannels: [4, 8], blocksPerStage: [1, 1], numClasses: 3, seed: 1, headMode: 'per-depth', bnMode: 'per-config' });
    const [a, b] = [...cnn.configs].sort((x, y) => cnn.compareCost(x, y));
    expect(cnn.cascadeCost([a!, b!]).flops).toBe(cnn.cost(a!).flops + cnn.cost(b!).flops);
    cnn.dispose();
  });

  it('exitOutputs: exits shallow → deep, the depths\' own logits, cascade costs; the rule at 0 and ∞ is the last and first depth', () => {
    const net = exitNet();
    const data = toyDataset(50);
    const out = exitOutputs(net, data, { batchSize: 16, configs: ['d4', 'd1', 'd2'] });
    expect(out.exits).toEqual(['d1', 'd2', 'd4']);
    expect(out.costs).toEqual([{ flops: 432, params: 72 + 160 + 43, activeBlocks: 1 }, net.cascadeCost(['d1', 'd2']), net.cascadeCost(['d1', 'd2', 'd4'])]);
    expect(Array.from(out.labels!)).toEqual(Array.from(data.labels!));
    const x = data.batchAt(Int32Array.from([0, 1, 2])).x;
    out.exits.forEach((id, e) => {
      const z = net.forward(x, { config: id });
      Array.from(z.dataSync()).forEach((v, i) => expect(out.logits[e]![i]).toBeCloseTo(v, 5));
      z.dispose();
    });
    x.dispose();
    expect(evaluateEntropyExit(net, data, 0).accuracy).toBe(depthAccuracy(net, data, 'd4'));
    expect(evaluateEntropyExit(net, data, Infinity).accuracy).toBe(depthAccuracy(net, data, 'd1'));
    const r = entropyExit(out, 0.9);
    expect(r.exitCounts.reduce((s, c) => s + c, 0)).toBe(50);
    expect(r.meanFlops).toBeGreaterThanOrEqual(432);
    expect(r.meanFlops).toBeLessThanOrEqual(out.costs[2]!.flops);
    net.dispose();
  });

  it('leaks no tensor: tf.memory().numTensors is flat across evaluations', () => {
    const net = exitNet();
    const data = toyDataset(40);
    evaluateEntropyExit(net, data, 0.5, { batchSize: 16 }); // warm-up
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const out = exitOutputs(net, data, { batchSize: 16 });
      chooseEntropyThreshold(entropyThresholdSweep(out), { maxFlops: 800 });
      evaluateEntropyExit(net, data, [0.5, 1], { batchSize: 7 });
    }
    expect(tf.memory().numTensors).toBe(before);
    net.dispose();
  });

  it('refuses a shared-head network (NO_EXIT_HEADS), an empty dataset, a bad threshold before any pass, repeated exits', async () => {
    const shared = residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed: 1 });
    const e = await trellisErrorOf(() => exitOutputs(shared, toyDataset(12)));
    expect(e.code).toBe('NO_EXIT_HEADS');
    expect(e.fix).toContain("headMode: 'per-depth'");
    expect(await codeOf(() => evaluateEntropyExit(shared, toyDataset(12), 0.5))).toBe('NO_EXIT_HEADS');
    shared.dispose();
    const net = exitNet();
    expect(await codeOf(() => exitOutputs(net, toyDataset(12).take(0)))).toBe('EMPTY_DATASET');
    expect(await codeOf(() => evaluateEntropyExit(net, toyDataset(12), NaN))).toBe('BAD_THRESHOLD');
    expect(await codeOf(() => evaluateEntropyExit(net, toyDataset(12), [0.5]))).toBe('BAD_THRESHOLD');
    expect(evaluateEntropyExit(net, toyDataset(12), [0.5], { configs: ['d1', 'd4'] }).exitCounts).toHaveLength(2);
    expect(await codeOf(() => exitOutputs(net, toyDataset(12), { configs: ['d1', 'd1'] }))).toBe('DUPLICATE_DEPTH');
    expect(await codeOf(() => exitOutputs(net, toyDataset(12), { configs: ['d3'] }))).toBe('UNKNOWN_DEPTH');
    expect(await codeOf(() => exitOutputs(net, toyDataset(12), { batchSize: 0 }))).toBe('BAD_OPTION');
    // the exits' options are checked before the threshold is sized against them (this read BAD_THRESHOLD "for 0 exits")
    expect(await codeOf(() => evaluateEntropyExit(net, toyDataset(12), 0.5, { configs: [] }))).toBe('BAD_OPTION');
    expect(await codeOf(() => evaluateEntropyExit(net, toyDataset(12), [0.5], { configs: ['d1', 'd1'] }))).toBe('DUPLICATE_DEPTH');
    net.dispose();
  });
});
