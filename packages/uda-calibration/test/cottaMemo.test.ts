import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Dataset, Rng, softCrossEntropy, Trainer, TrellisError, type LayersModelAdapter } from '@trellis-ml/core';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { FEATURE_CLASSES, FEATURE_DIM, shiftedFeatures } from './helpers.js';
import {
  augmentImages,
  cloneLayersModel,
  cotta,
  createAdaptation,
  emaUpdate,
  entropyLoss,
  marginalEntropyLoss,
  mlpBn,
  resolveAugmentation,
  restoreIndices,
  runStream,
  STUDY_METHODS,
  quickConfig,
  fullConfig,
  stochasticRestore,
  type AugmentationOptions,
  type MethodSpec,
} from '../src/index.js';

const D = FEATURE_DIM;
const K = FEATURE_CLASSES;
/** Noise-only augmentation for the feature-vector fixture (rotation and shift need images). */
const NOISE: AugmentationOptions = { maxRotationDegrees: 0, maxShiftPixels: 0, noiseStd: 0.3, clipRange: null };
let source: LayersModelAdapter;
let target: Dataset;

const makeData = shiftedFeatures;

async function stream(spec: MethodSpec, data = target, batchSize = 20, onLogs?: (logs: Record<string, number>) => void) {
  const m = await createAdaptation(spec, source, { seed: 3 });
  const r = await runStream(m, data, { seed: 3, batchSize, ...(onLogs ? { onBatch: ({ logs }: { logs: Record<string, number> }) => onLogs(logs) } : {}) });
  m.dispose();
  return r;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  source = mlpBn({ inputShape: [D], hidden: [8], numClasses: K, seed: 1 });
  const trainer = new Trainer({ model: source, seed: 1, batchSize: 32 });
  await trainer.fit(makeData(300, 1, 0), { epochs: 3 });
  trainer.dispose();
  target = makeData(60, 3, 1);
});

afterAll(() => source.dispose());

describe('CoTTA and MEMO: the pure parts, checked by hand', () => {
  it("the student's soft cross-entropy −Σ q ln p (core's softCrossEntropy) on two rows", () => {
    // Row 1: p = softmax([0, ln 3]) = [1/4, 3/4], q = [1/2, 1/2] → ½(ln 4 + ln 4/3) = 0.836988.
    // Row 2: p = [1/2, 1/2], q = [1, 0] → ln 2 = 0.693147. Mean 0.765068.
    const loss = tf.tidy(() => softCrossEntropy(tf.tensor2d([[0, Math.log(3)], [0, 0]]), tf.tensor2d([[0.5, 0.5], [1, 0]])).dataSync()[0]!);
    expect(loss).toBeCloseTo(0.765068, 5);
  });

  it('the EMA update of a tiny teacher', () => {
    const teacher = { w: tf.variable(tf.tensor1d([1, 2, -4])) };
    const student = { w: tf.tensor1d([3, 6, 0]), other: tf.tensor1d([9]) };
    emaUpdate(teacher, student, 0.75); // 0.75·t + 0.25·s
    expect(Array.from(teacher.w.dataSync())).toEqual([1.5, 3, -3]);
    emaUpdate(teacher, student, 0); // α = 0 copies the student
    expect(Array.from(teacher.w.dataSync())).toEqual([3, 6, 0]);
    expect(() => emaUpdate({ missing: teacher.w }, student, 0.5)).toThrow(/no weight "missing"/);
    tf.dispose([teacher.w, student.w, student.other]);
  });

  it('the stochastic restore hits each element with probability p (fixed seed), and restores source values bit for bit', () => {
    expect(restoreIndices(1000, 0, new Rng(1))).toHaveLength(0);
    expect(Array.from(restoreIndices(5, 1, new Rng(1)))).toEqual([0, 1, 2, 3, 4]);
    for (const p of [0.01, 0.3]) {
      const n = 100_000;
      const idx = restoreIndices(n, p, new Rng(7));
      // Binomial(n, p): mean n·p, sd sqrt(n·p·(1 − p)); within 4 sd (p 0.01: 1,000 ± 126; p 0.3: 30,000 ± 580).
      expect(Math.abs(idx.length - n * p)).toBeLessThan(4 * Math.sqrt(n * p * (1 - p)));
      // ascending, distinct, in range, and spread over the whole tensor (each half gets its share)
      expect(idx.every((v, i) => v >= 0 && v < n && (i === 0 || v > idx[i - 1]!))).toBe(true);
      const firstHalf = idx.filter((v) => v < n / 2).length;
      expect(Math.abs(firstHalf - idx.length / 2)).toBeLessThan(4 * Math.sqrt(idx.length / 4));
      expect(Array.from(restoreIndices(n, p, new Rng(7)))).toEqual(Array.from(idx)); // same seed, same draws
    }
    expect(() => restoreIndices(10, 1.5, new Rng(1))).toThrow(TrellisError);
    const w = { a: tf.variable(tf.tensor1d([0.1, 0.2, 0.3])) };
    const src = { a: tf.tensor1d([0.7, 0.11, -0.3]) };
    expect(stochasticRestore(w, src, 0, new Rng(1))).toBe(0);
    expect(Array.from(w.a.dataSync())).toEqual(Array.from(Float32Array.of(0.1, 0.2, 0.3)));
    expect(stochasticRestore(w, src, 1, new Rng(1))).toBe(3);
    expect(Array.from(w.a.dataSync())).toEqual(Array.from(src.a.dataSync()));
    tf.dispose([w.a, src.a]);
  });

  it("MEMO's marginal entropy of known softmaxes (copy-major rows)", () => {
    // Point A: copies [0.9, 0.1] and [0.1, 0.9] → marginal [0.5, 0.5] → ln 2 = 0.693147.
    // Point B: copies [0.8, 0.2] twice → −(0.8 ln 0.8 + 0.2 ln 0.2) = 0.500402. Mean 0.596775.
    const probs = [[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.8, 0.2]]; // [A0, B0, A1, B1]
    const v = tf.tidy(() => marginalEntropyLoss(tf.log(tf.tensor2d(probs)), 2).dataSync()[0]!);
    expect(v).toBeCloseTo(0.596775, 5);
    // One copy: the plain mean entropy (TENT's loss).
    const [one, tent] = tf.tidy(() => {
      const z = tf.tensor2d([[1, -2, 0.5], [0, 3, 1]]);
      return [marginalEntropyLoss(z, 1).dataSync()[0]!, entropyLoss(z).dataSync()[0]!];
    });
    expect(one).toBeCloseTo(tent!, 6);
    const z = tf.zeros([3, 2]);
    expect(() => marginalEntropyLoss(z, 2)).toThrow(TrellisError);
    z.dispose();
  });

  it('the augmentations: seeded, independent per copy, in [0, 1], the identity when switched off; rejected settings', () => {
    const shape = [5, 5, 1];
    const img = new Float32Array(2 * 25);
    img[12] = 1; // image 0: a centre dot
    img[25 + 6] = 0.5; // image 1: an off-centre dot
    const settings = resolveAugmentation({}, shape, 'test');
    expect(settings).toEqual({ maxRotationDegrees: 10, maxShiftPixels: 2, noiseStd: 0.02, clipRange: [0, 1] });
    const a = augmentImages(img, shape, 2, 3, settings, new Rng(5));
    expect(a).toHaveLength(2 * 3 * 25);
    expect(Array.from(augmentImages(img, shape, 2, 3, settings, new Rng(5)))).toEqual(Array.from(a));
    expect(a.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(Array.from(a.subarray(0, 25))).not.toEqual(Array.from(a.subarray(50, 75))); // copy 0 vs copy 1 of image 0
    const off = resolveAugmentation({ maxRotationDegrees: 0, maxShiftPixels: 0, noiseStd: 0 }, shape, 'test');
    const same = augmentImages(img, shape, 2, 2, off, new Rng(5));
    expect(Array.from(same)).toEqual([...img, ...img]);
    // Noise only on feature vectors: mean ≈ 0, sd ≈ σ, no clipping.
    const flat = new Float32Array(4000).fill(3);
    const noisy = augmentImages(flat, [4], 1000, 1, resolveAugmentation(NOISE, [4], 'test'), new Rng(2));
    const d = Array.from(noisy, (v) => v - 3);
    const mean = d.reduce((s, v) => s + v, 0) / d.length;
    const sd = Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / d.length);
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(sd).toBeGreaterThan(0.28);
    expect(sd).toBeLessThan(0.32);
    const bad = (o: AugmentationOptions, s: number[] | null = shape) => {
      try {
        resolveAugmentation(o, s, 'test');
      } catch (e) {
        return e instanceof TrellisError ? e.code : 'other';
      }
      return 'no error';
    };
    expect(bad({ noiseStd: -1 })).toBe('BAD_AUGMENTATION');
    expect(bad({ maxRotationDegrees: 200 })).toBe('BAD_AUGMENTATION');
    expect(bad({ clipRange: [1, 0] })).toBe('BAD_AUGMENTATION');
    expect(bad({}, [6])).toBe('AUGMENTATION_NEEDS_IMAGES');
    expect(bad({}, [784])).toBe('no error');
    expect(bad(NOISE, [6])).toBe('no error');
    // Object.prototype's keys are no settings (`in` let `constructor` through)
    expect(bad({ constructor: 1 } as unknown as AugmentationOptions)).toBe('BAD_AUGMENTATION');
    expect(bad(JSON.parse('{"toString": 0}') as AugmentationOptions)).toBe('BAD_AUGMENTATION');
    // copies: a positive integer (2.5 gave a RangeError from Float32Array, 0 an empty batch, −1 a RangeError)
    for (const copies of [0, -1, 2.5, NaN]) {
      expect(() => augmentImages(img, shape, 2, copies, settings, new Rng(5))).toThrow(`${copies} augmented copies is not a positive integer`);
    }
  });
});

describe('CoTTA adaptation', () => {
  it('before any update its online prediction is the source on batch statistics (BN-adapt), teacher or student', async () => {
    const bn = await stream({ kind: 'bn-adapt' });
    const first = bn.order[0]!.slice(0, 20);
    for (const predictWith of ['teacher', 'student'] as const) {
      const r = await stream({ kind: 'cotta', augmentation: NOISE, augThreshold: 0, predictWith });
      expect(Array.from(r.order[0]!)).toEqual(Array.from(bn.order[0]!));
      for (const i of first) for (let j = 0; j < K; j++) expect(r.online[0]![i * K + j], predictWith).toBeCloseTo(bn.online[0]![i * K + j]!, 5);
    }
  });

  it('restoreProb 1 puts the student back to the source after every step; emaAlpha 0 makes the teacher the student', async () => {
    const bn = await stream({ kind: 'bn-adapt' });
    const restored = await stream({ kind: 'cotta', augmentation: NOISE, restoreProb: 1, predictWith: 'student', lr: 0.05 });
    for (let i = 0; i < bn.post.length; i++) expect(restored.post[i]).toBeCloseTo(bn.post[i]!, 5);
    const teacher = await stream({ kind: 'cotta', augmentation: NOISE, emaAlpha: 0, restoreProb: 0, lr: 0.05 });
    const student = await stream({ kind: 'cotta', augmentation: NOISE, emaAlpha: 0, restoreProb: 0, lr: 0.05, predictWith: 'student' });
    for (let i = 0; i < teacher.post.length; i++) expect(teacher.post[i]).toBeCloseTo(student.post[i]!, 5);
    // and the adaptation did move the weights away from the source
    expect(teacher.post.some((v, i) => Math.abs(v - bn.post[i]!) > 1e-3)).toBe(true);
  });

  it('averages over augmentations exactly when the source is less confident than augThreshold', async () => {
    for (const [threshold, expected] of [[0, 0], [1, 1]] as const) {
      const flags: number[] = [];
      await stream({ kind: 'cotta', augmentation: NOISE, augThreshold: threshold }, target, 20, (logs) => flags.push(logs['cotta/augmented']!));
      expect(flags).toEqual([expected, expected, expected]);
    }
    const logs: Array<Record<string, number>> = [];
    await stream({ kind: 'cotta', augmentation: NOISE, augThreshold: 0.8 }, target, 20, (l) => logs.push(l));
    for (const l of logs) {
      expect(l['cotta/augmented']).toBe(l['cotta/anchor-confidence']! < 0.8 ? 1 : 0);
      expect(l['cotta/restored']).toBeGreaterThanOrEqual(0);
    }
    // On 28 × 28-like images the default augmentation (rotation, shift, noise) runs too.
    const img = mlpBn({ inputShape: [4, 4, 1], hidden: [8], numClasses: K, seed: 2 });
    const rng = new Rng(4);
    const images = Dataset.fromArrays({ x: Float32Array.from({ length: 30 * 16 }, () => rng.next()), shape: [4, 4, 1], labels: null, numClasses: K });
    const tensors = tf.memory().numTensors;
    for (const spec of [{ kind: 'cotta', augThreshold: 1 }, { kind: 'memo', nAug: 4 }] as MethodSpec[]) {
      const m = await createAdaptation(spec, img, { seed: 1 });
      const r = await runStream(m, images, { seed: 1, batchSize: 10 });
      m.dispose();
      expect(r.online[0]!.every(Number.isFinite) && r.post.every(Number.isFinite), spec.kind).toBe(true);
    }
    expect(tf.memory().numTensors).toBe(tensors);
    img.dispose();
  });

  it('same seed → same numbers; another seed → other augmentation and restore draws', async () => {
    const spec: MethodSpec = { kind: 'cotta', augmentation: NOISE, augThreshold: 1, restoreProb: 0.2 };
    const [a, b, c] = [await stream(spec), await stream(spec), await stream({ ...spec, seed: 99 })];
    expect(Array.from(a.post)).toEqual(Array.from(b.post));
    expect(Array.from(a.online[0]!)).toEqual(Array.from(b.online[0]!));
    expect(Array.from(c.post)).not.toEqual(Array.from(a.post));
  });

  it('in a plain Trainer: the teacher is a separate copy; the plugin frees its copies with the Trainer', async () => {
    const tensors = tf.memory().numTensors;
    const student = await cloneLayersModel(source);
    const plugin = cotta({ augmentation: NOISE, augThreshold: 1 });
    expect((await trellisErrorOf(() => plugin.teacher())).code).toBe('NOT_SET_UP');
    const trainer = new Trainer({ model: student, optimizer: tf.train.adam(0.01), seed: 1, plugins: [plugin], baseLoss: 'none', batchSize: 20 });
    await trainer.fit(target.withoutLabels(), { epochs: 1 });
    expect(plugin.teacher()).not.toBe(student);
    expect(plugin.getState!()).toMatchObject({ steps: 3, augmentedSteps: 3 });
    expect(plugin.takePrediction()).toHaveLength(20 * K);
    expect(plugin.takePrediction()).toBeNull();
    trainer.dispose();
    student.dispose();
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('a run resumed from its checkpoint continues with the saved teacher: the same student and teacher as the uninterrupted run', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const data = target.withoutLabels();
    const values = (vars: Record<string, tf.Variable>) => Object.fromEntries(Object.entries(vars).map(([n, v]) => [n, Array.from(v.dataSync())]));
    const run = async (epochs: number, dir?: string, resume = false) => {
      const student = await cloneLayersModel(source); // every run, resumed or not, starts from the source model
      const plugin = cotta({ augmentation: NOISE, augThreshold: 1, restoreProb: 0.2 });
      const trainer = new Trainer({ model: student, optimizer: tf.train.adam(0.01), seed: 1, plugins: [plugin], baseLoss: 'none', batchSize: 20, ...(dir ? { checkpointDir: dir } : {}) });
      await trainer.fit(data, { epochs, resume });
      const out = { student: values(student.allVariables()), teacher: values(plugin.teacher().allVariables()), state: plugin.getState!() };
      trainer.dispose();
      student.dispose();
      return out;
    };
    const whole = await run(3);
    const dir = mkdtempSync(join(tmpdir(), 'cotta-resume-'));
    try {
      await run(1, dir);
      const resumed = await run(3, dir, true);
      expect(resumed.state.steps).toBe(9);
      expect(resumed.student).toEqual(whole.student);
      expect(resumed.teacher).toEqual(whole.teacher);
      // the teacher has moved away from the source, so a teacher copied afresh at resume would have differed
      expect(resumed.teacher).not.toEqual(values(source.allVariables()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // a saved teacher of another architecture is refused with a clear error
    const other = cotta({ augmentation: NOISE });
    other.setState!({ ...whole.state, teacher: { 'no/such/variable': [0] } });
    const student = await cloneLayersModel(source);
    const trainer = new Trainer({ model: student, optimizer: tf.train.adam(0.01), seed: 1, plugins: [other], baseLoss: 'none' });
    expect((await trellisErrorOf(() => trainer.setup())).code).toBe('BAD_STATE');
    trainer.dispose();
    student.dispose();
  });
});

describe('MEMO adaptation', () => {
  it('is episodic: each point is predicted from the source weights alone, so the batch size does not matter, and the post pass is the source', async () => {
    // Without noise every copy is the point itself: the prediction is a function of the point only.
    const spec: MethodSpec = { kind: 'memo', nAug: 3, lr: 0.5, augmentation: { ...NOISE, noiseStd: 0 } };
    const [a, b] = [await stream(spec, target, 20), await stream(spec, target, 7)];
    for (let i = 0; i < a.online[0]!.length; i++) expect(b.online[0]![i]).toBeCloseTo(a.online[0]![i]!, 5);
    const src = await stream({ kind: 'source' });
    for (let i = 0; i < src.post.length; i++) expect(a.post[i]).toBeCloseTo(src.post[i]!, 6);
    // The step did change each point's prediction (lr 0.5), and an lr near 0 leaves the source's.
    expect(a.online[0]!.some((v, i) => Math.abs(v - src.online[0]![i]!) > 1e-3)).toBe(true);
    const tiny = await stream({ ...spec, lr: 1e-9 });
    for (let i = 0; i < src.online[0]!.length; i++) expect(tiny.online[0]![i]).toBeCloseTo(src.online[0]![i]!, 4);
  });

  it('a step lowers the marginal entropy of the point it predicts (noise augmentation)', async () => {
    const src = await stream({ kind: 'source' });
    const r = await stream({ kind: 'memo', nAug: 8, lr: 0.5, augmentation: NOISE });
    const h = (z: Float32Array) => tf.tidy(() => entropyLoss(tf.tensor2d(z, [z.length / K, K])).dataSync()[0]!);
    expect(h(r.online[0]!)).toBeLessThan(h(src.online[0]!));
  });
});

describe('CoTTA and MEMO: bad options and the study table', () => {
  it('reject bad options with a TrellisError and a hint, before any copy is made', async () => {
    const tensors = tf.memory().numTensors;
    const cases: Array<[MethodSpec, string]> = [
      [{ kind: 'cotta', augmentation: NOISE, restoreProb: -0.1 }, 'BAD_RESTORE_PROB'],
      [{ kind: 'cotta', augmentation: NOISE, restoreProb: 1.5 }, 'BAD_RESTORE_PROB'],
      [{ kind: 'cotta', augmentation: NOISE, nAug: 0 }, 'BAD_AUG_COUNT'],
      [{ kind: 'cotta', augmentation: NOISE, nAug: 2.5 }, 'BAD_AUG_COUNT'],
      [{ kind: 'cotta', augmentation: NOISE, emaAlpha: 1 }, 'BAD_EMA_ALPHA'],
      [{ kind: 'cotta', augmentation: NOISE, emaAlpha: -0.1 }, 'BAD_EMA_ALPHA'],
      [{ kind: 'cotta', augmentation: NOISE, augThreshold: 1.2 }, 'BAD_THRESHOLD'],
      [{ kind: 'cotta', augmentation: NOISE, augAverage: 'median' as never }, 'BAD_AUG_AVERAGE'],
      [{ kind: 'cotta', augmentation: NOISE, lr: 0 }, 'BAD_LEARNING_RATE'],
      [{ kind: 'cotta', augmentation: NOISE, predictWith: 'anchor' as never }, 'BAD_PREDICT_WITH'],
      [{ kind: 'cotta', augmentation: NOISE, predictNormalization: 'running' as never }, 'BAD_NORMALIZATION'],
      [{ kind: 'cotta', augmentation: { noiseStd: Number.NaN } }, 'BAD_AUGMENTATION'],
      [{ kind: 'cotta' }, 'AUGMENTATION_NEEDS_IMAGES'], // the default augmentation rotates: the fixture is not images
      [{ kind: 'memo', augmentation: NOISE, nAug: 0 }, 'BAD_AUG_COUNT'],
      [{ kind: 'memo', augmentation: NOISE, lr: Number.NaN }, 'BAD_LEARNING_RATE'],
      [{ kind: 'memo' }, 'AUGMENTATION_NEEDS_IMAGES'],
    ];
    for (const [spec, code] of cases) {
      let err: unknown = null;
      try {
        (await createAdaptation(spec, source, { seed: 1 })).dispose();
      } catch (e) {
        err = e;
      }
      expect(err instanceof TrellisError ? err.code : String(err), JSON.stringify(spec)).toBe(code);
      expect((err as TrellisError).fix.length, code).toBeGreaterThan(10);
    }
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('are opt-in study methods with their settings spelled out, in no preset', () => {
    expect(STUDY_METHODS.cotta).toEqual({
      kind: 'cotta', label: 'CoTTA', lr: 1e-3, emaAlpha: 0.999, restoreProb: 0.01, nAug: 4, augThreshold: 0.92, augAverage: 'probabilities', predictWith: 'teacher', predictNormalization: 'batch',
    });
    expect(STUDY_METHODS.memo).toEqual({ kind: 'memo', label: 'MEMO', lr: 5e-3, nAug: 16 });
    for (const cfg of [quickConfig(), fullConfig()]) {
      for (const m of [...cfg.methods, ...cfg.ablations]) expect(['cotta', 'memo']).not.toContain(m.kind);
    }
  });
});
