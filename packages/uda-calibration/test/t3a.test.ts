import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Dataset, mlp, Rng, Trainer, type LayersModelAdapter } from '@trellis-ml/core';
import { createAdaptation, mlpBn, prototypeWeights, rowEntropies, runStream, selectSupports, T3AClassifier } from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';

// A hand-made case, d = 2 features, K = 2 classes. Head kernel columns w0 = (2, 0), w1 = (0, 1), no bias.
// Initial supports = the columns; the head on them gives (4, 0) → class 0 and (0, 1) → class 1, with
// entropies H(4, 0) = 0.0900948 and H(0, 1) = 0.5822031 nats.
const head = { kernel: [2, 0, 0, 1], bias: null, featureDim: 2, numClasses: 2 };
// A batch of three: a = (1, 1) with head logits (2, 0) → class 0, H = 0.3653339; b = (2, −1) with (5, 0)
// → class 0, H = 0.0401796; c = (0, 3) with (0, 3) → class 1, H = 0.1908650.
const batch = { features: [1, 1, 2, -1, 0, 3], headLogits: [2, 0, 5, 0, 0, 3] };

describe('T3A on a hand-made case', () => {
  it('entropies of the head logits (nats)', () => {
    const h = rowEntropies([4, 0, 0, 1, 2, 0, 5, 0, 0, 3], 5, 2);
    [0.0900948, 0.5822031, 0.3653339, 0.0401796, 0.190865].forEach((v, i) => expect(h[i]).toBeCloseTo(v, 6));
  });

  it('the filter keeps the K lowest-entropy supports per class, ascending, class by class', () => {
    // memory order: w0, w1, a, b, c
    const labels = [0, 1, 0, 0, 1];
    const ent = [0.0900948, 0.5822031, 0.3653339, 0.0401796, 0.190865];
    expect(Array.from(selectSupports(labels, ent, 2, 2))).toEqual([3, 0, 4, 1]);
    expect(Array.from(selectSupports(labels, ent, 2, 1))).toEqual([3, 4]);
    expect(Array.from(selectSupports(labels, ent, 2, -1))).toEqual([3, 0, 2, 4, 1]);
    // equal entropies: the earlier support first
    expect(Array.from(selectSupports([0, 0, 0], [0.5, 0.5, 0.1], 1, 2))).toEqual([2, 0]);
  });

  it('prototypes: the normalised sum of normalised supports per class', () => {
    // class 0: (1, 0) + (2, −1)/√5 = (1.894427, −0.447214), normalised (0.9732490, −0.2297529); class 1: (0, 1)
    const w = prototypeWeights([2, 0, 2, -1, 0, 1, 0, 3], [0, 0, 1, 1], 2, 2);
    [0.973249, 0, -0.2297529, 1].forEach((v, i) => expect(w[i]).toBeCloseTo(v, 6));
  });

  it('before any target data it predicts with the normalised, bias-free head; after a batch with the filtered prototypes', () => {
    const t3a = new T3AClassifier(head, { filterK: 2 });
    expect(Array.from(t3a.supportCounts())).toEqual([1, 1]);
    // z = (3, 4): normalised columns (1, 0), (0, 1) give (3, 4) → class 1 (the raw head would say (6, 4) → class 0)
    expect(Array.from(t3a.predict([3, 4], 1))).toEqual([3, 4]);
    t3a.add(batch.features, batch.headLogits, 3);
    // kept: class 0 = {b, w0} (a has the highest entropy of the three), class 1 = {c, w1}
    expect(Array.from(t3a.supportCounts())).toEqual([2, 2]);
    // z = (1, 2): 0.9732490 − 2·0.2297529 = 0.5137431 vs 2 → class 1; z = (3, 1): 2.6899940 vs 1 → class 0
    const logits = t3a.predict([1, 2, 3, 1], 2);
    [0.5137431, 2, 2.689994, 1].forEach((v, i) => expect(logits[i]).toBeCloseTo(v, 5));
  });

  it('filterK = −1 keeps every support; supports per class never exceed filterK over a stream', () => {
    const all = new T3AClassifier(head, { filterK: -1 });
    all.add(batch.features, batch.headLogits, 3);
    expect(Array.from(all.supportCounts())).toEqual([3, 2]);
    const rng = new Rng(1);
    const t3a = new T3AClassifier({ kernel: rng.uniformArray(12, -1, 1), featureDim: 4, numClasses: 3 }, { filterK: 5 });
    for (let b = 0; b < 10; b++) {
      t3a.add(rng.uniformArray(40, -1, 1), rng.uniformArray(30, -3, 3), 10);
      for (const c of t3a.supportCounts()) expect(c).toBeLessThanOrEqual(5);
    }
    expect(t3a.supportCounts().reduce((s, c) => s + c, 0)).toBe(15);
  });

  it('without target data it ranks classes like the normalised bias-free linear head (spec §9)', () => {
    const rng = new Rng(2);
    const d = 6;
    const k = 4;
    // a diagonal-dominant head, so each column is its own class under the head
    const kernel = rng.uniformArray(d * k, -0.2, 0.2);
    for (let c = 0; c < k; c++) kernel[c * k + c] = 2;
    const t3a = new T3AClassifier({ kernel, bias: [0.1, -0.3, 0.2, 0], featureDim: d, numClasses: k });
    const z = rng.uniformArray(3 * d, -1, 1);
    const got = t3a.predict(z, 3);
    for (let r = 0; r < 3; r++) for (let c = 0; c < k; c++) {
      let dot = 0;
      let norm = 0;
      for (let i = 0; i < d; i++) {
        dot += z[r * d + i]! * kernel[i * k + c]!;
        norm += kernel[i * k + c]! ** 2;
      }
      expect(got[r * k + c]).toBeCloseTo(dot / Math.sqrt(norm), 5);
    }
  });

  it('bad settings raise TrellisErrors', () => {
    expect(trellisErrorOf(() => new T3AClassifier(head, { filterK: 0 })).code).toBe('BAD_FILTER_K');
    expect(trellisErrorOf(() => new T3AClassifier(head, { filterK: 2.5 })).code).toBe('BAD_FILTER_K');
    expect(trellisErrorOf(() => new T3AClassifier({ ...head, kernel: [1, 2, 3] })).code).toBe('BAD_HEAD');
    const t3a = new T3AClassifier(head);
    expect(trellisErrorOf(() => t3a.predict([1, 2, 3], 1)).code).toBe('FEATURE_SHAPE_MISMATCH');
    expect(trellisErrorOf(() => t3a.add([1, 2], [1, 2, 3], 1)).code).toBe('LOGITS_SHAPE_MISMATCH');
  });
});

describe('T3A in the adaptation runner', () => {
  const D = 6;
  const K = 3;
  let source: LayersModelAdapter;
  let target: Dataset;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    const rng = new Rng(1);
    const make = (n: number, shift: number) => {
      const x = new Float32Array(n * D);
      const labels = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        labels[i] = rng.int(K);
        for (let j = 0; j < D; j++) x[i * D + j] = (j % K === labels[i] ? 1.5 : 0) + rng.normal() * 0.7 + shift * (j + 1) * 0.3;
      }
      return Dataset.fromArrays({ x, shape: [D], labels, numClasses: K });
    };
    source = mlpBn({ inputShape: [D], hidden: [8], numClasses: K, seed: 1 });
    const trainer = new Trainer({ model: source, seed: 1, batchSize: 32 });
    await trainer.fit(make(400, 0), { epochs: 3 });
    trainer.dispose();
    target = make(120, 1);
  });
  afterAll(() => source.dispose());

  it('features are the input of the last Dense layer (relu1 of mlp-bn) and the supports start from its weight columns', async () => {
    const m = await createAdaptation({ kind: 't3a' }, source, { seed: 1 });
    const x = tf.tensor2d(target.x.subarray(0, 10 * D), [10, D]);
    const vars = source.allVariables();
    const kernel = vars['logits/kernel']!.dataSync();
    const bias = vars['logits/bias']!.dataSync();
    const fOut = source.apply(x, { taps: ['relu1'] });
    const z = fOut.features.relu1!.dataSync();
    tf.dispose([fOut.logits, fOut.features.relu1!]);
    // each weight column is its own class under the trained head, so the initial prototypes are the normalised columns
    for (let c = 0; c < K; c++) {
      const out = Array.from({ length: K }, (_, j) => bias[j]! + Array.from({ length: 8 }, (_, i) => kernel[i * K + c]! * kernel[i * K + j]!).reduce((s, v) => s + v, 0));
      expect(out.indexOf(Math.max(...out))).toBe(c);
    }
    const got = m.predict(x);
    for (let r = 0; r < 10; r++) for (let c = 0; c < K; c++) {
      let dot = 0;
      let norm = 0;
      for (let i = 0; i < 8; i++) {
        dot += z[r * 8 + i]! * kernel[i * K + c]!;
        norm += kernel[i * K + c]! ** 2;
      }
      expect(got[r * K + c]).toBeCloseTo(dot / Math.sqrt(norm), 4);
    }
    x.dispose();
    m.dispose();
  });

  it('online: each batch is predicted before it joins the supports (the released code’s order is an option)', async () => {
    const x = tf.tensor2d(target.x.subarray(0, 20 * D), [20, D]);
    const fresh = await createAdaptation({ kind: 't3a' }, source, { seed: 1 });
    const before = fresh.predict(x);
    const m = await createAdaptation({ kind: 't3a' }, source, { seed: 1 });
    expect(Array.from(await m.step(x))).toEqual(Array.from(before));
    expect(m.lastLogs()['t3a/supports']).toBeGreaterThan(K);
    const after = m.predict(x);
    expect(Array.from(after)).not.toEqual(Array.from(before));
    const addFirst = await createAdaptation({ kind: 't3a', onlineOrder: 'add-then-predict' }, source, { seed: 1 });
    expect(Array.from(await addFirst.step(x))).toEqual(Array.from(after));
    for (const a of [fresh, m, addFirst]) a.dispose();
    x.dispose();
  });

  it('a batch with a NaN input is refused before it joins the supports; a misspelt option is refused before the copy', async () => {
    const m = await createAdaptation({ kind: 't3a' }, source, { seed: 1 });
    const clean = tf.tensor2d(target.x.subarray(0, 10 * D), [10, D]);
    const before = m.predict(clean);
    const poisoned = Float32Array.from(target.x.subarray(0, 10 * D));
    poisoned[3] = NaN;
    const bad = tf.tensor2d(poisoned, [10, D]);
    // it used to store the NaN support, and every later batch got NaN logits for its class
    expect((await trellisErrorOf(() => m.step(bad))).code).toBe('NON_FINITE_LOGITS');
    expect(Array.from(m.predict(clean))).toEqual(Array.from(before));
    expect(m.predict(clean).every(Number.isFinite)).toBe(true);
    tf.dispose([clean, bad]);
    m.dispose();
    const tensors = tf.memory().numTensors;
    expect((await trellisErrorOf(() => createAdaptation({ kind: 't3a', featureNormalization: 'target_batch' as 'source' }, source, { seed: 1 }))).code).toBe('BAD_NORMALIZATION');
    expect((await trellisErrorOf(() => createAdaptation({ kind: 't3a', onlineOrder: 'add-first' as 'add-then-predict' }, source, { seed: 1 }))).code).toBe('BAD_OPTION');
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('the memory stays within filterK per class over a stream, and the tensor count stays flat', async () => {
    for (const filterK of [1, 5, -1]) {
      const tensors = tf.memory().numTensors;
      const m = await createAdaptation({ kind: 't3a', filterK, featureNormalization: filterK === 5 ? 'target-batch' : 'source' }, source, { seed: 1 });
      let after1 = -1;
      const r = await runStream(m, target, {
        seed: 2, batchSize: 20,
        onBatch: ({ batch, logs }) => {
          if (batch === 0) after1 = tf.memory().numTensors;
          else expect(tf.memory().numTensors).toBe(after1);
          expect(logs['t3a/supports']!).toBeLessThanOrEqual(filterK < 0 ? K + 20 * (batch + 1) : K * filterK);
        },
      });
      m.dispose();
      expect(tf.memory().numTensors).toBe(tensors);
      expect(r.post.every(Number.isFinite)).toBe(true);
    }
  });

  it('bad input: unknown head, a model whose head is not reachable, a bad filterK', async () => {
    expect((await trellisErrorOf(() => createAdaptation({ kind: 't3a', head: 'nope' }, source, { seed: 1 }))).code).toBe('NO_HEAD');
    expect((await trellisErrorOf(() => createAdaptation({ kind: 't3a', head: 'bn1' }, source, { seed: 1 }))).code).toBe('NO_HEAD');
    expect((await trellisErrorOf(() => createAdaptation({ kind: 't3a', filterK: 0 }, source, { seed: 1 }))).code).toBe('BAD_FILTER_K');
    const plain = mlp({ inputShape: [D], hidden: [4], numClasses: K, seed: 1 });
    const ok = await createAdaptation({ kind: 't3a' }, plain, { seed: 1 }); // no BatchNorm needed
    ok.dispose();
    expect((await trellisErrorOf(() => createAdaptation({ kind: 't3a', featureNormalization: 'target-batch' }, plain, { seed: 1 }))).code).toBe('NO_BATCHNORM');
    plain.dispose();
  });
});
