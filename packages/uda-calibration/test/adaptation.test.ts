import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Dataset, mlp, Rng, softmaxRows64, Trainer, type LayersModelAdapter, type ModelAdapter } from '@trellis-ml/core';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { FEATURE_CLASSES, FEATURE_DIM, NOISE_AUGMENTATION, shiftedFeatures } from './helpers.js';
import {
  calibrationReport,
  certaintyDistillation,
  cloneLayersModel,
  computeSourceStats,
  cotta,
  createAdaptation,
  eta,
  fullConfig,
  memo,
  mlpBn,
  onlinePredictions,
  pseudoLabel,
  pseudoLabelSelect,
  quickConfig,
  runStream,
  shotIm,
  shotLearningRate,
  shotPseudoLabels,
  STUDY_METHODS,
  tent,
  type MethodSpec,
  type SourceStats,
} from '../src/index.js';

const D = FEATURE_DIM;
const K = FEATURE_CLASSES;
let source: LayersModelAdapter;
let validation: Dataset;
let target: Dataset;
let stats: SourceStats;

const makeData = shiftedFeatures;

/** An optimiser's current learning rate (a protected field of tfjs's optimisers). */
const learningRateOf = (opt: tf.Optimizer): number => (opt as unknown as { learningRate: number }).learningRate;

function snapshot(model: ModelAdapter): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(model.allVariables()).map(([n, v]) => [n, Float32Array.from(v.dataSync() as Float32Array)]));
}

function changed(a: Record<string, Float32Array>, b: Record<string, Float32Array>): string[] {
  return Object.keys(a).filter((n) => a[n]!.some((v, i) => v !== b[n]![i])).sort();
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  source = mlpBn({ inputShape: [D], hidden: [8], numClasses: K, seed: 1 });
  const trainer = new Trainer({ model: source, seed: 1, batchSize: 32 });
  await trainer.fit(makeData(400, 1, 0), { epochs: 3 });
  trainer.dispose();
  validation = makeData(100, 2, 0);
  target = makeData(120, 3, 1);
  stats = computeSourceStats(source, validation);
});

afterAll(() => source.dispose());

const SPECS: MethodSpec[] = [
  { kind: 'source' },
  { kind: 'bn-adapt' },
  { kind: 'bn-adapt', statistics: 'running', label: 'bn-running' },
  { kind: 'tent' },
  { kind: 'eta', redundancyEps: null, e0Factor: 1 },
  { kind: 'eta', fisherAlpha: 50, fisherSamples: 64, label: 'eata', e0Factor: 1 },
  { kind: 'shot-im' },
  { kind: 'shot-im', protocol: 'offline', epochs: 2, batchSize: 32, label: 'shot-im-offline' },
  { kind: 'shot-im', beta: 0.3, lrSchedule: 'shot-decay', label: 'shot-online' },
  { kind: 'shot-im', protocol: 'offline', epochs: 2, batchSize: 32, beta: 0.3, lrSchedule: 'shot-decay', label: 'shot-offline' },
  { kind: 'pseudo-label', threshold: 0.6 },
  { kind: 't3a', filterK: 5 },
  { kind: 't3a', filterK: -1, onlineOrder: 'add-then-predict', featureNormalization: 'target-batch', label: 't3a-all' },
  { kind: 'dec' },
  { kind: 'dec', divergence: 'bce-reference', temperature: { mode: 'entropy-only' }, label: 'dec-code' },
  { kind: 'dec', teacherNormalization: 'target-batch', label: 'dec-bn-teacher' },
  { kind: 'dec', trainable: 'bn-affine', label: 'dec-bn' },
  // The optional baselines, with noise-only augmentation (the fixture's inputs are feature vectors, not images).
  { kind: 'cotta', augmentation: { maxRotationDegrees: 0, maxShiftPixels: 0, noiseStd: 0.3, clipRange: null }, augThreshold: 1, restoreProb: 0.05, label: 'cotta' },
  { kind: 'cotta', augmentation: { maxRotationDegrees: 0, maxShiftPixels: 0, noiseStd: 0.3, clipRange: null }, predictWith: 'student', predictNormalization: 'moving', augAverage: 'logits', label: 'cotta-student' },
  { kind: 'memo', nAug: 4, augmentation: { maxRotationDegrees: 0, maxShiftPixels: 0, noiseStd: 0.3, clipRange: null } },
];

describe('adaptation methods', () => {
  it("the full preset's DEC ablations cover spec §7.6 F6 and §10 item 3, and each one changes DEC's post-pass predictions", async () => {
    const labels = fullConfig().ablations.map((a) => a.label);
    for (const l of ['DEC (entropy-only τ)', 'DEC (norm-only τ)', 'DEC (fixed τ=1)', 'DEC (fixed τ=t_max=3)', 'DEC (bce-reference)', 'DEC (BN affine only)',
      'DEC (t_min 1, t_max 2)', 'DEC (t_min 1, t_max 5)', 'DEC (t_min 1.2, t_max 2)', 'DEC (t_min 1.2, t_max 3)', 'DEC (t_min 1.2, t_max 5)',
      'DEC (student BN momentum 0.99)', 'DEC (student BN momentum 0.5)']) expect(labels).toContain(l);
    const post = async (spec: MethodSpec) => {
      const tensors = tf.memory().numTensors;
      const m = await createAdaptation(spec, source, { seed: 5, validation, stats });
      const r = await runStream(m, target, { seed: 5, batchSize: 20 });
      m.dispose();
      expect(tf.memory().numTensors, spec.label).toBe(tensors);
      expect(r.post.every(Number.isFinite), spec.label).toBe(true);
      return Array.from(r.post);
    };
    const dec = await post({ kind: 'dec' });
    for (const spec of fullConfig().ablations.filter((a) => a.kind === 'dec')) expect(await post(spec), spec.label).not.toEqual(dec);
  });

  it('never change the source model, free every tensor, and give finite online and post-pass logits', async () => {
    const before = snapshot(source);
    for (const spec of SPECS) {
      const tensors = tf.memory().numTensors;
      const m = await createAdaptation(spec, source, { seed: 4, validation, stats });
      const r = await runStream(m, target, { seed: 4, batchSize: 20, passes: 2 });
      m.dispose();
      expect(tf.memory().numTensors, spec.label ?? spec.kind).toBe(tensors);
      expect(r.online).toHaveLength(m.offline?.epochs ?? 2);
      for (const logits of [...r.online, r.post]) expect(logits.every(Number.isFinite), spec.label ?? spec.kind).toBe(true);
      const rep = calibrationReport(r.post, target.labels!, K);
      expect(rep.n).toBe(120);
    }
    expect(changed(before, snapshot(source))).toEqual([]);
  });

  it('keep the tensor count flat across steps', async () => {
    for (const spec of SPECS.filter((s) => s.kind !== 'source')) {
      const m = await createAdaptation(spec, source, { seed: 4, validation, stats });
      const x = tf.tensor2d(target.x.subarray(0, 20 * D), [20, D]);
      const idx = Int32Array.from({ length: 20 }, (_, i) => i);
      await m.startPass?.(target.withoutLabels(), { pass: 0, passes: 1, batchSize: 20 });
      await m.step(x, idx);
      const after1 = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) await m.step(x, idx);
      expect(tf.memory().numTensors, spec.label ?? spec.kind).toBe(after1);
      x.dispose();
      m.dispose();
    }
  });

  it('same seed → same numbers', async () => {
    const run = async () => {
      const m = await createAdaptation({ kind: 'dec' }, source, { seed: 9, validation });
      const r = await runStream(m, target, { seed: 9, batchSize: 20 });
      m.dispose();
      return r;
    };
    const [a, b] = [await run(), await run()];
    expect(Array.from(a.online[0]!)).toEqual(Array.from(b.online[0]!));
    expect(Array.from(a.post)).toEqual(Array.from(b.post));
  });

  it('every method sees the same batches in the same order from the same start (identical conditions)', async () => {
    const run = async (spec: MethodSpec) => {
      const m = await createAdaptation(spec, source, { seed: 6, validation, stats });
      const r = await runStream(m, target, { seed: 6, batchSize: 20 });
      m.dispose();
      return r;
    };
    const ref = await run({ kind: 'bn-adapt' });
    const first = ref.order[0]!.slice(0, 20);
    for (const spec of [{ kind: 'tent' }, { kind: 'eta' }, { kind: 'shot-im' }, { kind: 'dec' }, { kind: 'dec', divergence: 'bce-reference' }] as MethodSpec[]) {
      const r = await run(spec);
      expect(Array.from(r.order[0]!), spec.kind).toEqual(Array.from(ref.order[0]!));
      // Before its first update every gradient method predicts like the source model on batch statistics.
      for (const i of first) for (let j = 0; j < K; j++) expect(r.online[0]![i * K + j], spec.kind).toBeCloseTo(ref.online[0]![i * K + j]!, 5);
    }
  });

  it('online predictions are those before each update; the post pass reflects the updates', async () => {
    const m = await createAdaptation({ kind: 'tent', lr: 0.05 }, source, { seed: 4 });
    const bn = await createAdaptation({ kind: 'bn-adapt' }, source, { seed: 4 });
    const r = await runStream(m, target, { seed: 4, batchSize: 20 });
    const rb = await runStream(bn, target, { seed: 4, batchSize: 20 });
    // The first batch is predicted by TENT before any update: identical to BN-adapt on that batch.
    const first = r.order[0]!.slice(0, 20);
    for (const i of first) for (let j = 0; j < K; j++) expect(r.online[0]![i * K + j]).toBeCloseTo(rb.online[0]![i * K + j]!, 5);
    expect(calibrationReport(r.post, target.labels!, K).meanEntropyNats).toBeLessThan(calibrationReport(rb.post, target.labels!, K).meanEntropyNats);
    m.dispose();
    bn.dispose();
  });
});

describe('cloneLayersModel', () => {
  it('copies every weight bit for bit (BatchNorm moving statistics included), sets the momentum, and shares nothing with the source', async () => {
    const read = (m: LayersModelAdapter) => m.model.getWeights().map((w) => Array.from(w.dataSync()));
    const copy = await cloneLayersModel(source, { bnMomentum: 0.5 });
    expect(read(copy)).toEqual(read(source));
    expect(source.model.getWeights().length).toBeGreaterThan(6); // kernels, biases, γ, β and the moving mean / variance
    const bn = copy.model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
    expect(bn.length).toBeGreaterThan(0);
    for (const l of bn) expect((l.getConfig() as { momentum: number }).momentum).toBe(0.5);
    const before = read(source);
    copy.model.getWeights().forEach((w) => (w as tf.Variable).assign(tf.zerosLike(w)));
    expect(read(source)).toEqual(before);
    expect(read(copy)[0]!.every((v) => v === 0)).toBe(true);
    copy.dispose();
  });
});

describe('plugins in a core Trainer', () => {
  it('TENT trains only BatchNorm scale and shift', async () => {
    const student = await cloneLayersModel(source);
    const trainer = new Trainer({ model: student, seed: 1, plugins: [tent()], baseLoss: 'none', batchSize: 20 });
    const before = snapshot(student);
    await trainer.fit(target.withoutLabels(), { epochs: 1 });
    const diff = changed(before, snapshot(student)).filter((n) => !n.includes('moving_'));
    expect(diff).toEqual(['bn1/beta', 'bn1/gamma']);
    trainer.dispose();
    student.dispose();
  });

  it('DEC leaves the teacher untouched (also with a batch-statistics teacher) and changes the student', async () => {
    for (const teacherNormalization of ['source', 'target-batch'] as const) {
      const student = await cloneLayersModel(source);
      const dec = certaintyDistillation({ teacher: source, stats, teacherNormalization });
      const trainer = new Trainer({ model: student, optimizer: tf.train.sgd(0.01), seed: 1, plugins: [dec], baseLoss: 'none', batchSize: 20 });
      const t0 = snapshot(source);
      const s0 = snapshot(student);
      await trainer.fit(target.withoutLabels(), { epochs: 1 });
      expect(changed(t0, snapshot(source))).toEqual([]);
      expect(changed(s0, snapshot(student))).toEqual(expect.arrayContaining(['fc1/kernel', 'logits/kernel', 'bn1/moving_mean']));
      expect(dec.streamMeanTau()).toBeGreaterThan(0);
      expect(dec.lastDiagnostics()!.tau).toBeGreaterThan(0);
      trainer.dispose();
      student.dispose();
    }
  });

  it('SHOT-IM freezes the classifier head', async () => {
    const student = await cloneLayersModel(source);
    const trainer = new Trainer({ model: student, optimizer: tf.train.sgd(0.05), seed: 1, plugins: [shotIm()], baseLoss: 'none', batchSize: 20 });
    const before = snapshot(student);
    await trainer.fit(target.withoutLabels(), { epochs: 1 });
    const diff = changed(before, snapshot(student));
    expect(diff).toContain('fc1/kernel');
    expect(diff.filter((n) => n.startsWith('logits/'))).toEqual([]);
    trainer.dispose();
    student.dispose();
  });

  it('getState/setState round-trip (ETA mean prediction, DEC running τ)', async () => {
    const student = await cloneLayersModel(source);
    const e = eta({ redundancyEps: 0.9, e0Factor: 1 });
    const rec = onlinePredictions();
    const trainer = new Trainer({ model: student, seed: 1, plugins: [e, rec], baseLoss: 'none', batchSize: 20 });
    await trainer.fit(target.withoutLabels(), { epochs: 1 });
    expect(rec.take().reduce((s, r) => s + r.indices.length, 0)).toBe(120);
    const state = JSON.parse(JSON.stringify(e.getState!()));
    expect(state.seen).toBe(120);
    const e2 = eta();
    e2.setState!(state);
    expect(e2.getState!()).toEqual(state);
    const d = certaintyDistillation({ teacher: source, stats });
    d.setState!({ tauSum: 6, count: 3 });
    expect(d.streamMeanTau()).toBe(2);
    expect(d.getState!()).toEqual({ tauSum: 6, count: 3 });
    trainer.dispose();
    student.dispose();
  });
});

describe('ETA makes no update on a batch where it keeps no sample', () => {
  // Batch 1 keeps every sample (E0 = ln K, no mean prediction yet); batch 2 repeats it, and with
  // redundancyEps 1e-3 every sample is "redundant" (|cos(p, m)| ≥ 1e-3 for probability vectors), so
  // nothing is kept. Under Adam a zero gradient would still move the weights by the first step's
  // momentum; the reference skips the optimizer step.
  const options = { e0Factor: 1, redundancyEps: 1e-3 };
  const batch = () => ({ x: tf.tensor2d(target.x.subarray(0, 20 * D), [20, D]), indices: Int32Array.from({ length: 20 }, (_, i) => i), size: 20 });
  const affine = (m: ModelAdapter) => Object.fromEntries(Object.entries(snapshot(m)).filter(([n]) => /\/(gamma|beta)$/.test(n)));

  it('in a plain Trainer with Adam: the BatchNorm scale and shift stay bit-identical', async () => {
    const student = await cloneLayersModel(source);
    const e = eta(options);
    const trainer = new Trainer({ model: student, optimizer: tf.train.adam(0.05), seed: 1, plugins: [e], baseLoss: 'none' });
    const l1 = await trainer.trainStep(batch());
    expect(l1['eta/kept']).toBe(20);
    const s1 = affine(student);
    const l2 = await trainer.trainStep(batch());
    expect(l2['eta/kept']).toBe(0);
    expect(e.skipsUpdate()).toBe(true);
    expect(changed(s1, affine(student))).toEqual([]);
    trainer.dispose();
    student.dispose();
  });

  it('in createAdaptation: weights unchanged and the optimizer state untouched (the next step equals a run without the skipped batch)', async () => {
    const spec: MethodSpec = { kind: 'eta', lr: 0.05, ...options };
    const x = tf.tensor2d(target.x.subarray(0, 20 * D), [20, D]);
    const other = tf.tensor2d(target.x.subarray(40 * D, 60 * D), [20, D]);
    const m = await createAdaptation(spec, source, { seed: 1 });
    await m.step(x);
    const p1 = m.predict(x);
    await m.step(x); // keeps nothing
    expect(m.lastLogs()['eta/kept']).toBe(0);
    expect(Array.from(m.predict(x))).toEqual(Array.from(p1));
    // The mean prediction m of ETA is only updated from kept samples, so both runs see the same
    // filter on `other`; with the skipped step leaving Adam alone, the results are identical.
    await m.step(other);
    const ref = await createAdaptation(spec, source, { seed: 1 });
    await ref.step(x);
    await ref.step(other);
    expect(m.lastLogs()['eta/kept']).toBe(ref.lastLogs()['eta/kept']);
    expect(Array.from(m.predict(x))).toEqual(Array.from(ref.predict(x)));
    m.dispose();
    ref.dispose();
    tf.dispose([x, other]);
  });
});

describe('hard pseudo-labelling (PL)', () => {
  it('selects the argmax where the top probability reaches the threshold (hand-computed)', () => {
    const sel = pseudoLabelSelect([0.95, 0.05, 0.3, 0.7, 0.9, 0.1, 0.5, 0.5], 2, 0.9);
    expect(Array.from(sel.labels)).toEqual([0, 1, 0, 0]);
    expect(Array.from(sel.mask)).toEqual([1, 0, 1, 0]);
    expect(sel.kept).toBe(2);
  });

  it('trains only BatchNorm scale and shift, and a batch with no confident sample changes nothing (plain Trainer, Adam)', async () => {
    const student = await cloneLayersModel(source);
    const pl = pseudoLabel({ threshold: 0.5 });
    const trainer = new Trainer({ model: student, optimizer: tf.train.adam(0.05), seed: 1, plugins: [pl], baseLoss: 'none' });
    const batch = () => ({ x: tf.tensor2d(target.x.subarray(0, 20 * D), [20, D]), indices: Int32Array.from({ length: 20 }, (_, i) => i), size: 20 });
    const before = snapshot(student);
    const l1 = await trainer.trainStep(batch());
    expect(l1['pl/kept']).toBeGreaterThan(0);
    expect(changed(before, snapshot(student)).filter((n) => !n.includes('moving_'))).toEqual(['bn1/beta', 'bn1/gamma']);
    trainer.dispose();
    student.dispose();
    // threshold 1: no softmax of these logits reaches it, so nothing is kept and nothing moves
    const s2 = await cloneLayersModel(source);
    const none = pseudoLabel({ threshold: 1 });
    const t2 = new Trainer({ model: s2, optimizer: tf.train.adam(0.05), seed: 1, plugins: [none], baseLoss: 'none' });
    const w0 = snapshot(s2);
    const l2 = await t2.trainStep(batch());
    expect(l2['pl/kept']).toBe(0);
    expect(none.skipsUpdate()).toBe(true);
    expect(changed(w0, snapshot(s2)).filter((n) => !n.includes('moving_'))).toEqual([]);
    t2.dispose();
    s2.dispose();
    expect(trellisErrorOf(() => pseudoLabel({ threshold: 0 })).code).toBe('BAD_THRESHOLD');
  });
});

describe('SHOT-IM offline protocol', () => {
  it('adapts for its epochs at its own batch size; epoch 1 predicts each batch before its update; the head stays frozen', async () => {
    const spec: MethodSpec = { kind: 'shot-im', protocol: 'offline' };
    const m = await createAdaptation(spec, source, { seed: 7 });
    expect(m.offline).toEqual({ epochs: 3, batchSize: 64 });
    const sizes: number[] = [];
    const r = await runStream(m, target, { seed: 7, batchSize: 20, onBatch: ({ pass, indices }) => sizes.push(pass * 1000 + indices.length) });
    // 120 targets at batch 64 = 64 + 56, three epochs
    expect(sizes).toEqual([64, 56, 1064, 1056, 2064, 2056]);
    expect(r.online).toHaveLength(3);
    expect(r.order[1]).not.toEqual(r.order[0]); // reshuffled each epoch
    // The first batch of epoch 1 is predicted before any update: as BN-adapt predicts that batch of 64.
    const bn = await createAdaptation({ kind: 'bn-adapt' }, source, { seed: 7 });
    const rb = await runStream(bn, target, { seed: 7, batchSize: 64 });
    bn.dispose();
    expect(Array.from(rb.order[0]!)).toEqual(Array.from(r.order[0]!));
    for (const i of r.order[0]!.slice(0, 64)) for (let j = 0; j < K; j++) expect(r.online[0]![i * K + j]).toBeCloseTo(rb.online[0]![i * K + j]!, 5);
    m.dispose();
    expect((await trellisErrorOf(() => createAdaptation({ kind: 'shot-im', protocol: 'offline', epochs: 0 }, source, { seed: 1 }))).code).toBe('BAD_OFFLINE_PROTOCOL');
  });
});

describe('no target label is used in adaptation', () => {
  it('the plugins refuse a batch that carries labels (true or permuted) before touching anything: the run then equals one that never saw it', async () => {
    const cases: Array<[string, () => import('@trellis-ml/core').TrainerPlugin, () => tf.Optimizer]> = [
      ['tent', () => tent(), () => tf.train.adam(0.01)],
      ['pl', () => pseudoLabel({ threshold: 0.6 }), () => tf.train.adam(0.01)],
      ['eta', () => eta({ e0Factor: 1 }), () => tf.train.adam(0.01)],
      ['shot-im', () => shotIm(), () => tf.train.sgd(0.05)],
      ['shot (β 0.3, per-batch pseudo-labels, decay)', () => shotIm({ beta: 0.3, pseudoLabels: 'batch', lrSchedule: 'shot-decay', totalSteps: 2 }), () => tf.train.momentum(0.05, 0.9)],
      ['dec', () => certaintyDistillation({ teacher: source, stats }), () => tf.train.sgd(0.05)],
      ['cotta', () => cotta({ augmentation: NOISE_AUGMENTATION, augThreshold: 1, restoreProb: 0.05 }), () => tf.train.adam(0.01)],
      ['memo', () => memo({ augmentation: NOISE_AUGMENTATION, nAug: 2 }), () => tf.train.sgd(0.05)],
    ];
    const labels = target.labels!.subarray(0, 40);
    const perm = new Rng(3).permutation(40);
    const rows = (start: number) => ({ x: tf.tensor2d(target.x.subarray(start * D, (start + 20) * D), [20, D]), indices: Int32Array.from({ length: 20 }, (_, i) => start + i), size: 20 });
    for (const [name, plugin, opt] of cases) {
      const runs: Array<Record<string, Float32Array>> = [];
      for (const offered of [[], [labels, Int32Array.from(perm, (i) => labels[i]!)]]) {
        const student = await cloneLayersModel(source);
        const trainer = new Trainer({ model: student, optimizer: opt(), seed: 1, plugins: [plugin()], baseLoss: 'none' });
        const s0 = snapshot(student);
        for (const y of offered) {
          const err = await trellisErrorOf(() => trainer.trainStep({ ...rows(0), y: tf.tensor1d(y.subarray(0, 20), 'int32') }));
          expect(err.code, name).toBe('TARGET_LABELS_PRESENT');
          expect(changed(s0, snapshot(student)), name).toEqual([]);
        }
        for (const start of [0, 20]) await trainer.trainStep(rows(start));
        runs.push(snapshot(student));
        trainer.dispose();
        student.dispose();
      }
      expect(changed(runs[0]!, runs[1]!), name).toEqual([]);
    }
  });

  it('full SHOT in Trainer.fit: the per-epoch pseudo-labels are the same with true, permuted or no labels, and a labelled set is refused before its first update', async () => {
    const perm = new Rng(4).permutation(target.size);
    const permuted = Dataset.fromArrays({ x: target.x, shape: [D], labels: Int32Array.from(perm, (i) => target.labels![i]!), numClasses: K });
    const clusterings: number[][] = [];
    for (const ds of [target, permuted, target.withoutLabels()]) {
      const student = await cloneLayersModel(source);
      const shot = shotIm({ beta: 0.3, lrSchedule: 'shot-decay' });
      const trainer = new Trainer({ model: student, optimizer: tf.train.momentum(0.05, 0.9), seed: 1, plugins: [shot], baseLoss: 'none', batchSize: 32 });
      await trainer.setup();
      shot.refreshPseudoLabels(trainer.model, ds);
      clusterings.push(Array.from(shot.lastClustering()!.labels));
      const s0 = snapshot(student);
      if (ds.labels) {
        expect((await trellisErrorOf(() => trainer.fit(ds, { epochs: 2 }))).code).toBe('TARGET_LABELS_PRESENT');
        expect(changed(s0, snapshot(student))).toEqual([]);
      } else {
        await trainer.fit(ds, { epochs: 2 });
        expect(changed(s0, snapshot(student))).toContain('fc1/kernel');
      }
      trainer.dispose();
      student.dispose();
    }
    expect(clusterings[0]!).toHaveLength(target.size);
    expect(clusterings[1]).toEqual(clusterings[0]);
    expect(clusterings[2]).toEqual(clusterings[0]);
  });

  it('adapts on a dataset whose label access throws, with results identical to the labeled run', async () => {
    const poisoned = Object.create(target, {
      labels: { get() { throw new Error('a target label was read during adaptation'); } },
    }) as Dataset;
    for (const spec of SPECS) {
      const a = await createAdaptation(spec, source, { seed: 5, validation, stats });
      const ra = await runStream(a, target, { seed: 5, batchSize: 20 });
      a.dispose();
      const b = await createAdaptation(spec, source, { seed: 5, validation, stats });
      const rb = await runStream(b, poisoned, { seed: 5, batchSize: 20 });
      b.dispose();
      expect(Array.from(rb.online[0]!), spec.label ?? spec.kind).toEqual(Array.from(ra.online[0]!));
      expect(Array.from(rb.post)).toEqual(Array.from(ra.post));
    }
  });

  it('DEC statistics and EATA Fisher read only inputs of the validation set', async () => {
    const poisonedVal = Object.create(validation, {
      labels: { get() { throw new Error('a validation label was read'); } },
    }) as Dataset;
    expect(computeSourceStats(source, poisonedVal)).toEqual(stats);
    const m = await createAdaptation({ kind: 'eta', fisherAlpha: 10 }, source, { seed: 1, validation: poisonedVal });
    m.dispose();
  });
});

describe('bad input', () => {
  it('a target batch of another shape', async () => {
    const m = await createAdaptation({ kind: 'dec' }, source, { seed: 1, validation });
    const x = tf.zeros([4, D + 1]);
    expect((await trellisErrorOf(() => m.step(x))).code).toBe('TARGET_SHAPE_MISMATCH');
    expect((await trellisErrorOf(() => m.predict(x))).code).toBe('TARGET_SHAPE_MISMATCH');
    x.dispose();
    const wide = Dataset.fromArrays({ x: new Float32Array(10 * (D + 2)), shape: [D + 2], labels: null, numClasses: K });
    expect((await trellisErrorOf(() => runStream(m, wide, { seed: 1 }))).code).toBe('TARGET_SHAPE_MISMATCH');
    m.dispose();
    // In a user's own Trainer loop, the plugin checks each batch.
    const student = await cloneLayersModel(source);
    const trainer = new Trainer({ model: student, seed: 1, plugins: [tent()], baseLoss: 'none' });
    expect((await trellisErrorOf(() => trainer.trainStep({ x: tf.zeros([2, D + 1]), indices: Int32Array.of(0, 1), size: 2 }))).code).toBe('TARGET_SHAPE_MISMATCH');
    trainer.dispose();
    student.dispose();
  });

  it('an adaptation plugin in a Trainer that adds its base cross-entropy (a target-label leak) is refused', async () => {
    const labeled = makeData(40, 1, 1);
    for (const make of [() => tent(), () => eta(), () => pseudoLabel(), () => shotIm()]) {
      const student = await cloneLayersModel(source);
      // the default base loss would train on the labels a labeled target batch carries
      const trainer = new Trainer({ model: student, seed: 1, plugins: [make()] });
      const err = await trainer.fit(labeled, { epochs: 1 }).catch((e: unknown) => e);
      expect(trellisErrorOf(() => { throw err; }).code).toBe('BASE_LOSS_ACTIVE');
      expect(String((err as Error).message)).toMatch(/build the Trainer with baseLoss: 'none'/);
      trainer.dispose();
      student.dispose();
    }
  });

  it('misspelt augmentation settings and a negative SHOT diversity weight are refused when the plugin is built', () => {
    // they used to be accepted, leaving the default rotation and shift (or rewarding collapse) in force
    expect(trellisErrorOf(() => cotta({ augmentation: { rotate: 0 } as never })).code).toBe('BAD_AUGMENTATION');
    expect(() => cotta({ augmentation: { maxRotation: 0 } as never })).toThrow(/augmentation has no setting "maxRotation" — use maxRotationDegrees, maxShiftPixels, noiseStd, clipRange/);
    expect(() => cotta({ augmentation: { maxRotationDegrees: 0 } })).not.toThrow();
    expect(trellisErrorOf(() => shotIm({ diversityWeight: -1 })).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => shotIm({ diversityWeight: Infinity })).code).toBe('BAD_OPTION');
  });

  it('a source model without BatchNorm for a BN-only method', async () => {
    const plain = mlp({ inputShape: [D], hidden: [8], numClasses: K, seed: 1 });
    for (const kind of ['tent', 'eta', 'bn-adapt'] as const) {
      expect((await trellisErrorOf(() => createAdaptation({ kind }, plain, { seed: 1 }))).code).toBe('NO_BATCHNORM');
    }
    expect((await trellisErrorOf(() => createAdaptation({ kind: 'dec', trainable: 'bn-affine' }, plain, { seed: 1, validation }))).code).toBe('NO_BATCHNORM');
    const trainer = new Trainer({ model: plain, seed: 1, plugins: [tent()], baseLoss: 'none' });
    expect((await trellisErrorOf(() => trainer.setup())).code).toBe('NO_BATCHNORM');
    // Methods that train other weights accept it.
    const ok = await createAdaptation({ kind: 'dec' }, plain, { seed: 1, validation });
    ok.dispose();
    plain.dispose();
  });

  it('NaN logits, a teacher that is the student, and missing validation data', async () => {
    const nan = new Float32Array(2 * K).fill(0.1);
    nan[1] = NaN;
    expect((await trellisErrorOf(() => calibrationReport(nan, [0, 1], K))).code).toBe('NON_FINITE_LOGITS');
    const trainer = new Trainer({ model: source, seed: 1, plugins: [certaintyDistillation({ teacher: source, stats })], baseLoss: 'none' });
    expect((await trellisErrorOf(() => trainer.setup())).code).toBe('TEACHER_IS_STUDENT');
    expect((await trellisErrorOf(() => createAdaptation({ kind: 'dec' }, source, { seed: 1 }))).code).toBe('NO_VALIDATION');
  });

  it('eta checks its options when it is built (a bad threshold used to keep no sample, silently)', () => {
    for (const bad of [{ e0Factor: -1 }, { e0Factor: NaN }, { e0Factor: 0 }, { redundancyEps: -0.1 }, { emaMomentum: 1 }, { emaMomentum: NaN },
      { fisher: {} }, { fisher: { data: target, alpha: -1 } }, { fisher: { data: target, samples: 0 } }, { fisher: { data: target, batchSize: 2.5 } }]) {
      expect(trellisErrorOf(() => eta(bad as Parameters<typeof eta>[0])).code, JSON.stringify(bad)).toBe('BAD_OPTION');
    }
    expect(eta({ e0Factor: 1, redundancyEps: null, emaMomentum: 0 }).name).toBe('eta');
    expect(eta({ fisher: { data: target, alpha: 0, samples: 10, batchSize: 5 } }).name).toBe('eata');
  });

  it('certaintyDistillation checks its options when it is built, not at the first target batch', () => {
    const dec = (o: unknown) => () => certaintyDistillation(o as Parameters<typeof certaintyDistillation>[0]);
    expect(trellisErrorOf(dec(undefined)).code).toBe('BAD_OPTION'); // was a TypeError
    expect(trellisErrorOf(dec({ stats })).code).toBe('NO_TEACHER'); // was a TypeError at fit start
    expect(trellisErrorOf(dec({ teacher: source })).code).toBe('BAD_SOURCE_STATS');
    expect(trellisErrorOf(dec({ teacher: source, stats: { ...stats, numClasses: K + 1 } })).code).toBe('CLASS_COUNT_MISMATCH');
    expect(trellisErrorOf(dec({ teacher: source, stats, temperature: { tMin: 3, tMax: 1 } })).code).toBe('BAD_TEMPERATURE');
    // a misspelt choice: 'soft_ce' used to run the BCE parity loss, 'target_batch' the source-statistics teacher
    expect(trellisErrorOf(dec({ teacher: source, stats, divergence: 'soft_ce' })).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(dec({ teacher: source, stats, teacherNormalization: 'target_batch' })).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(dec({ teacher: source, stats, trainable: 'bn_affine' })).code).toBe('BAD_OPTION');
    for (const ok of [{}, { divergence: 'bce-reference' }, { teacherNormalization: 'target-batch' }, { trainable: 'head' }, { trainable: () => true }]) {
      expect(dec({ teacher: source, stats, ...ok })().name).toBe('dec');
    }
  });

  it('an unknown method kind, a bad learning rate or an unknown option value, before any model copy', async () => {
    const reject = async (spec: unknown, errorCode: string, message: string): Promise<void> => {
      const before = tf.memory().numTensors;
      expect((await trellisErrorOf(() => createAdaptation(spec as MethodSpec, source, { seed: 1, validation, stats }))).code).toBe(errorCode);
      await expect(createAdaptation(spec as MethodSpec, source, { seed: 1, validation, stats })).rejects.toThrow(message);
      expect(tf.memory().numTensors).toBe(before);
    };
    await reject({ kind: 'tentt' }, 'BAD_METHOD', 'unknown adaptation method kind "tentt"');
    await reject(undefined, 'BAD_METHOD', 'unknown adaptation method kind undefined');
    for (const [kind, name] of [['tent', 'TENT'], ['eta', 'ETA'], ['pseudo-label', 'pseudo-labelling'], ['shot-im', 'SHOT-IM'], ['dec', 'DEC']] as const) {
      for (const lr of [-1, 0, NaN, '0.01']) {
        await reject({ kind, lr }, 'BAD_LEARNING_RATE', `${name}'s learning rate must be a finite number > 0, got ${typeof lr === 'string' ? `"${lr}"` : String(lr)}`);
      }
    }
    await reject({ kind: 'tent', optimizer: 'rmsprop' }, 'BAD_OPTIMIZER', 'unknown TENT optimizer "rmsprop"');
    await reject({ kind: 'shot-im', protocol: 'ofline' }, 'BAD_OFFLINE_PROTOCOL', 'unknown SHOT-IM protocol "ofline"');
    await reject({ kind: 'bn-adapt', statistics: 'runing' }, 'BAD_NORMALIZATION', 'unknown BN-adapt statistics "runing"');
    await reject({ kind: 'dec', divergence: 'soft_ce' }, 'BAD_OPTION', `unknown divergence "soft_ce"`);
    await reject({ kind: 'dec', temperature: { tMin: 3, tMax: 1 } }, 'BAD_TEMPERATURE', 'tMin 3 / tMax 1 are not 0 < tMin ≤ tMax < ∞');
    await reject({ kind: 'dec', postHocScale: 'stream-mean' }, 'BAD_OPTION', 'unknown DEC post-hoc scale "stream-mean"');
  });
});

describe('study presets', () => {
  it("--full is spec §7.8's full profile: both models, 55,000 / 5,000 source images, 10,000 targets per cell, severities 1–5", () => {
    const f = fullConfig();
    expect(f.models).toEqual(['mlp-bn', 'cnn-bn']);
    expect([f.trainSize, f.valSize, f.targetSize]).toEqual([55000, 5000, 10000]);
    expect(f.severities).toEqual([1, 2, 3, 4, 5]);
    expect(f.datasets).toEqual(['mnist', 'fashion']);
  });

  it('both presets run T3A and PL; --full runs SHOT-IM offline (spec §7.5) with the T3A filter sweep, --quick both SHOT-IM protocols', () => {
    const f = fullConfig();
    const q = quickConfig();
    expect(f.methods.map((m) => m.label)).toEqual(expect.arrayContaining(['T3A', 'PL', 'SHOT-IM (offline)']));
    expect(f.methods.map((m) => m.label)).not.toContain('SHOT-IM (online)');
    expect(f.methods.find((m) => m.label === 'SHOT-IM (offline)')).toMatchObject({ protocol: 'offline', epochs: 3, batchSize: 64 });
    expect(f.methods.find((m) => m.label === 'T3A')).toMatchObject({ kind: 't3a', filterK: 100 });
    expect(f.ablations.filter((m) => m.kind === 't3a').map((m) => m.kind === 't3a' && m.filterK)).toEqual([1, 5, 20, 50, -1]);
    expect(q.methods.map((m) => m.label)).toEqual(expect.arrayContaining(['T3A', 'PL', 'SHOT-IM (offline)', 'SHOT-IM (online)']));
  });

  it('full SHOT is a study method (β 0.3, offline 3 epochs at batch 64, with and without the decay) that no preset runs by default', () => {
    expect(STUDY_METHODS.shotFull).toEqual({ kind: 'shot-im', label: 'SHOT (offline)', protocol: 'offline', epochs: 3, batchSize: 64, beta: 0.3, lrSchedule: 'shot-decay' });
    expect(STUDY_METHODS.shotFullConstLr).toMatchObject({ protocol: 'offline', epochs: 3, batchSize: 64, beta: 0.3 });
    expect(STUDY_METHODS.shotFullConstLr).not.toHaveProperty('lrSchedule');
    expect(STUDY_METHODS.shotFullBatchLabels).toEqual({ ...STUDY_METHODS.shotFull, label: 'SHOT (offline, target-batch labels)', labelNormalization: 'target-batch' });
    expect(STUDY_METHODS.shotFullAllClasses).toEqual({ ...STUDY_METHODS.shotFull, label: 'SHOT (offline, all-class labelset)', clustering: { labelset: 'all' } });
    for (const cfg of [quickConfig(), fullConfig()]) {
      for (const m of [...cfg.methods, ...cfg.ablations]) expect(m.kind === 'shot-im' ? m.beta ?? 0 : 0, m.label).toBe(0);
    }
  });
});

describe('full SHOT (β > 0) and the SHOT learning-rate decay', () => {
  it("the per-epoch pseudo-labels are SHOT's clustering of the head's input features over the whole set, inference mode", async () => {
    const student = await cloneLayersModel(source);
    const shot = shotIm({ beta: 0.3 });
    const trainer = new Trainer({ model: student, optimizer: tf.train.sgd(0.01), seed: 1, plugins: [shot], baseLoss: 'none' });
    await trainer.setup();
    const big = makeData(300, 8, 1); // two feature batches of 256
    shot.refreshPseudoLabels(trainer.model, big);
    const [f, z] = tf.tidy(() => {
      const out = source.apply(tf.tensor2d(big.x, [300, D]), { training: false, taps: ['relu1'] });
      return [out.features.relu1!, out.logits];
    });
    const expected = shotPseudoLabels(f!.dataSync(), softmaxRows64(z!.dataSync(), K), 300, 8, K);
    tf.dispose([f!, z!]);
    expect(Array.from(shot.lastClustering()!.labels)).toEqual(Array.from(expected.labels));
    trainer.dispose();
    student.dispose();
  });

  it("labelNormalization 'target-batch': labels from each labelling batch's statistics, moving statistics untouched", async () => {
    const student = await cloneLayersModel(source);
    const shot = shotIm({ beta: 0.3, labelNormalization: 'target-batch' });
    const trainer = new Trainer({ model: student, optimizer: tf.train.sgd(0.01), seed: 1, plugins: [shot], baseLoss: 'none' });
    await trainer.setup();
    const big = makeData(300, 8, 1); // labelling batches of 256 and 44
    const before = snapshot(student);
    const tensors = tf.memory().numTensors;
    shot.refreshPseudoLabels(trainer.model, big);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(changed(before, snapshot(student))).toEqual([]);
    const probe = await cloneLayersModel(source);
    const rows = [[0, 256], [256, 300]] as const;
    const f = new Float32Array(300 * 8);
    const z = new Float32Array(300 * K);
    for (const [a, b] of rows) {
      const [fb, zb] = tf.tidy(() => {
        const out = probe.apply(tf.tensor2d(big.x.subarray(a * D, b * D), [b - a, D]), { training: true, taps: ['relu1'] });
        return [out.features.relu1!, out.logits];
      });
      f.set(fb!.dataSync(), a * 8);
      z.set(zb!.dataSync(), a * K);
      tf.dispose([fb!, zb!]);
    }
    probe.dispose();
    const expected = shotPseudoLabels(f, softmaxRows64(z, K), 300, 8, K);
    expect(Array.from(shot.lastClustering()!.labels)).toEqual(Array.from(expected.labels));
    const inference = shotIm({ beta: 0.3 });
    const other = new Trainer({ model: await cloneLayersModel(source), optimizer: tf.train.sgd(0.01), seed: 1, plugins: [inference], baseLoss: 'none' });
    await other.setup();
    inference.refreshPseudoLabels(other.model, big);
    expect(Array.from(inference.lastClustering()!.labels)).not.toEqual(Array.from(expected.labels)); // the option matters here
    other.dispose();
    other.model.dispose();
    expect(() => shotIm({ beta: 0.3, labelNormalization: 'batch' as 'inference' })).toThrow(expect.objectContaining({ code: 'BAD_LABEL_NORMALIZATION' }));
    trainer.dispose();
    student.dispose();
  });

  it('in Trainer.fit: freezes the head, adds the β-weighted pseudo-label term, and β changes the result', async () => {
    const fit = async (beta: number) => {
      const student = await cloneLayersModel(source);
      const trainer = new Trainer({ model: student, optimizer: tf.train.sgd(0.05), seed: 1, plugins: [shotIm({ beta })], baseLoss: 'none', batchSize: 20 });
      const before = snapshot(student);
      const history = await trainer.fit(target.withoutLabels(), { epochs: 2 });
      const after = snapshot(student);
      expect(changed(before, after).filter((n) => n.startsWith('logits/'))).toEqual([]);
      trainer.dispose();
      student.dispose();
      return { history, after };
    };
    const im = await fit(0);
    const shot = await fit(0.3);
    expect(im.history[0]!).not.toHaveProperty('shot-im/pseudo');
    expect(shot.history[0]!['shot-im/pseudo']).toBeGreaterThan(0);
    expect(changed(im.after, shot.after)).toContain('fc1/kernel');
  });

  it("per-batch mode clusters each batch's own features", async () => {
    const student = await cloneLayersModel(source);
    const shot = shotIm({ beta: 0.3, pseudoLabels: 'batch' });
    const trainer = new Trainer({ model: student, optimizer: tf.train.sgd(0.05), seed: 1, plugins: [shot], baseLoss: 'none' });
    const logs = await trainer.trainStep({ x: tf.tensor2d(target.x.subarray(0, 20 * D), [20, D]), indices: Int32Array.from({ length: 20 }, (_, i) => i), size: 20 });
    expect(shot.lastClustering()!.labels).toHaveLength(20);
    expect(logs['shot-im/pseudo']).toBeGreaterThan(0);
    trainer.dispose();
    student.dispose();
  });

  it('sets the decayed rate before every step (planned steps, or derived in Trainer.fit), and rejects optimizers it cannot drive', async () => {
    const student = await cloneLayersModel(source);
    const shot = shotIm({ lrSchedule: 'shot-decay' });
    const opt = tf.train.momentum(0.05, 0.9);
    const trainer = new Trainer({ model: student, optimizer: opt, seed: 1, plugins: [shot], baseLoss: 'none' });
    const batch = () => ({ x: tf.tensor2d(target.x.subarray(0, 20 * D), [20, D]), indices: Int32Array.from({ length: 20 }, (_, i) => i), size: 20 });
    expect((await trellisErrorOf(() => trainer.trainStep(batch()))).code).toBe('NO_TOTAL_STEPS');
    shot.planSteps(4);
    const counts: number[] = [];
    for (let t = 0; t < 4; t++) {
      const logs = await trainer.trainStep(batch());
      expect(learningRateOf(opt)).toBeCloseTo(0.05 * (1 + 10 * (t + 1) / 4) ** -0.75, 12);
      expect(logs['shot-im/lr']).toBe(learningRateOf(opt));
      counts.push(tf.memory().numTensors);
    }
    expect(new Set(counts).size).toBe(1); // the new rate's scalar replaces the old one
    expect(shot.getState!()).toEqual({ baseLr: 0.05 });
    trainer.dispose();
    // Trainer.fit: 120 examples at batch 20 for 2 epochs = 12 steps; the last runs at 0.05·11^−0.75.
    const opt2 = tf.train.sgd(0.05);
    const t2 = new Trainer({ model: student, optimizer: opt2, seed: 1, plugins: [shotIm({ lrSchedule: 'shot-decay' })], baseLoss: 'none', batchSize: 20 });
    await t2.fit(target.withoutLabels(), { epochs: 2 });
    expect(learningRateOf(opt2)).toBeCloseTo(shotLearningRate(0.05, 11, 12), 12);
    t2.dispose();
    // Adam follows the decay too (core's setLearningRate writes the rate its update reads); it used to be refused
    const opt3 = tf.train.adam(0.01);
    const t3 = new Trainer({ model: student, optimizer: opt3, seed: 1, plugins: [shotIm({ lrSchedule: 'shot-decay', totalSteps: 3 })], baseLoss: 'none' });
    await t3.trainStep(batch());
    expect(learningRateOf(opt3)).toBeCloseTo(shotLearningRate(0.01, 0, 3), 12);
    t3.dispose();
    const odd = { getClassName: () => 'Odd', minimize: () => null, dispose: () => undefined } as unknown as tf.Optimizer;
    const t4 = new Trainer({ model: student, optimizer: odd, seed: 1, plugins: [shotIm({ lrSchedule: 'shot-decay', totalSteps: 3 })], baseLoss: 'none' });
    expect((await trellisErrorOf(() => t4.trainStep(batch()))).code).toBe('LR_SCHEDULE_UNSUPPORTED');
    student.dispose();
  });

  it('offline in the runner: clusters before every epoch, decays to lr·11^−0.75 at the last step, tensor count flat across epochs', async () => {
    const spec: MethodSpec = { kind: 'shot-im', protocol: 'offline', epochs: 3, batchSize: 32, beta: 0.3, lrSchedule: 'shot-decay' };
    const start = tf.memory().numTensors;
    const m = await createAdaptation(spec, source, { seed: 3 });
    const perEpoch: number[] = [];
    const lrs: number[] = [];
    const r = await runStream(m, target, {
      seed: 3, batchSize: 20,
      onBatch: ({ batch, logs }) => {
        lrs.push(logs['shot-im/lr']!);
        expect(logs['shot-im/pseudo']).toBeGreaterThan(0);
        if (batch === 3) perEpoch.push(tf.memory().numTensors); // 120 at batch 32 = 4 batches per epoch
      },
    });
    expect(perEpoch).toHaveLength(3);
    expect(new Set(perEpoch).size).toBe(1);
    expect(lrs).toHaveLength(12);
    expect(lrs[11]).toBeCloseTo(0.01 * 11 ** -0.75, 9);
    expect(lrs.every((v, i) => i === 0 || v < lrs[i - 1]!)).toBe(true);
    expect(r.post.every(Number.isFinite)).toBe(true);
    m.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('β = 0 with the constant schedule is SHOT-IM bit for bit; bad β or schedule throw before any copy is made', async () => {
    const run = async (spec: MethodSpec) => {
      const m = await createAdaptation(spec, source, { seed: 2 });
      const r = await runStream(m, target, { seed: 2, batchSize: 20 });
      m.dispose();
      return [...r.online[0]!, ...r.post];
    };
    expect(await run({ kind: 'shot-im', beta: 0, lrSchedule: 'constant' })).toEqual(await run({ kind: 'shot-im' }));
    const tensors = tf.memory().numTensors;
    for (const beta of [-0.3, NaN]) expect((await trellisErrorOf(() => createAdaptation({ kind: 'shot-im', beta }, source, { seed: 1 }))).code).toBe('BAD_BETA');
    expect((await trellisErrorOf(() => createAdaptation({ kind: 'shot-im', lrSchedule: 'step' as never }, source, { seed: 1 }))).code).toBe('BAD_LR_SCHEDULE');
    expect(tf.memory().numTensors).toBe(tensors);
    // Offline SHOT's pseudo-labels come from the pass start: a bare step has none.
    const m = await createAdaptation({ kind: 'shot-im', protocol: 'offline', beta: 0.3 }, source, { seed: 1 });
    const x = tf.tensor2d(target.x.subarray(0, 20 * D), [20, D]);
    expect((await trellisErrorOf(() => m.step(x))).code).toBe('NO_PSEUDO_LABELS');
    x.dispose();
    m.dispose();
    // A model whose head input is not a layer output (no layer before the Dense head).
    const bare = mlpBn({ inputShape: [D], hidden: [], numClasses: K, seed: 1 });
    expect((await trellisErrorOf(() => createAdaptation({ kind: 'shot-im', beta: 0.3 }, bare, { seed: 1 }))).code).toBe('NO_FEATURE_LAYER');
    bare.dispose();
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
