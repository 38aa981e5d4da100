import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Dataset, Rng, TrellisError } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { adapterMacs, adapterParams, cnnTeacher, countMacs, flipRotate, flipRotatePlugin, lenet5Bn, padImages } from '../src/index.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

const trainable = (m: { trainableVariables(): Record<string, tf.Variable> }): number => Object.values(m.trainableVariables()).reduce((s, v) => s + v.size, 0);

describe('conv-tier models (spec §6.1, §10.2), hand-computed sizes', () => {
  it('LeNet-5+BN on 32×32×1: 61,750 trainable parameters, 416,520 MACs, 10 logits, no leaks', () => {
    const before = tf.memory().numTensors;
    const m = lenet5Bn({ numClasses: 10, seed: 0 });
    // conv1 5·5·1·6 + 6 = 156; bn1 γ, β 12; conv2 5·5·6·16 + 16 = 2,416; bn2 32;
    // fc 400·120 + 120 = 48,120; 120·84 + 84 = 10,164; 84·10 + 10 = 850
    expect(trainable(m)).toBe(156 + 12 + 2416 + 32 + 48120 + 10164 + 850);
    expect(trainable(m)).toBe(61750);
    expect(adapterParams(m)).toBe(61750 + 2 * (6 + 16)); // + BN moving mean / variance
    // conv1 28·28·(5·5·1)·6 = 117,600; conv2 10·10·(5·5·6)·16 = 240,000; fc 48,000 + 10,080 + 840
    expect(adapterMacs(m)).toBe(117600 + 240000 + 48000 + 10080 + 840);
    expect(adapterMacs(m)).toBe(416520);
    const names = m.model.layers.map((l) => l.getClassName());
    expect(names).toEqual(['Conv2D', 'BatchNormalization', 'ReLU', 'MaxPooling2D', 'Conv2D', 'BatchNormalization', 'ReLU', 'MaxPooling2D', 'Flatten', 'Dense', 'Dense', 'Dense']);
    const bn = m.model.getLayer('bn1').getConfig();
    expect(bn.epsilon).toBe(1e-5);
    expect(bn.momentum).toBe(0.9);
    const out = tf.tidy(() => m.apply(tf.zeros([2, 32, 32, 1]), { training: true }).logits);
    expect(out.shape).toEqual([2, 10]);
    out.dispose();
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('CNN-T on 32×32×1: 140,778 trainable parameters (spec ≈ 140 k), 28,607,744 MACs (spec ≈ 28.6 M)', () => {
    const m = cnnTeacher({ numClasses: 10, seed: 0 });
    // convs 3·3·Cin·Cout + Cout: 320, 9,248, 18,496, 36,928, 73,856; BN γ, β 2·(32+32+64+64+128) = 640; FC 128·10 + 10
    expect(trainable(m)).toBe(320 + 9248 + 18496 + 36928 + 73856 + 640 + 1290);
    expect(trainable(m)).toBe(140778);
    // 'same' convs: 32·32·9·1·32 + 32·32·9·32·32 + 16·16·9·32·64 + 16·16·9·64·64 + 8·8·9·64·128 + FC 128·10
    expect(adapterMacs(m)).toBe(294912 + 9437184 + 4718592 + 9437184 + 4718592 + 1280);
    expect(adapterMacs(m)).toBe(28607744);
    // the spec's check (§10.4): the full ConvAE (1,277,952 MACs) costs ≈ 1/22 of a CNN-T forward
    expect(28607744 / 1277952).toBeCloseTo(22.39, 2);
    m.dispose();
    const narrow = cnnTeacher({ numClasses: 3, seed: 0, channels: [2, 2, 4, 4, 8] });
    expect(narrow.numClasses).toBe(3);
    narrow.dispose();
    expect(() => cnnTeacher({ numClasses: 10, seed: 0, channels: [32, 32, 64] })).toThrow(/5 positive channel counts/);
    expect(() => lenet5Bn({ numClasses: 10, seed: 0, inputShape: [8, 8, 1] })).toThrow(/at least 16×16/);
  });

  it('same seed, same weights (one seeded RNG from core)', () => {
    const a = lenet5Bn({ numClasses: 10, seed: 3 });
    const b = lenet5Bn({ numClasses: 10, seed: 3 });
    const c = lenet5Bn({ numClasses: 10, seed: 4 });
    const w = (m: typeof a) => Array.from(m.trainableVariables()['conv1/kernel']!.dataSync());
    expect(w(a)).toEqual(w(b));
    expect(w(a)).not.toEqual(w(c));
    for (const m of [a, b, c]) m.dispose();
  });

  it('countMacs counts convs for any padding, stride and data format (hand-computed)', () => {
    const model = (layer: tfl.layers.Layer) => tfl.sequential({ layers: [layer] });
    // valid 3×3 on 8×8×3 → 6×6×4: 6·6·9·3·4 = 3,888, channels last and first alike
    const last = model(tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3 }));
    const first = model(tfl.layers.conv2d({ inputShape: [3, 8, 8], filters: 4, kernelSize: 3, dataFormat: 'channelsFirst' }));
    expect(countMacs(last)).toBe(3888);
    expect(countMacs(first)).toBe(3888);
    // stride 2, valid, 9×9×2 → 4×4×5: 4·4·9·2·5 = 1,440; 'same' stride 2 → 5×5×5: 2,250
    const strided = model(tfl.layers.conv2d({ inputShape: [9, 9, 2], filters: 5, kernelSize: 3, strides: 2 }));
    const same = model(tfl.layers.conv2d({ inputShape: [9, 9, 2], filters: 5, kernelSize: 3, strides: 2, padding: 'same' }));
    expect(countMacs(strided)).toBe(1440);
    expect(countMacs(same)).toBe(2250);
    for (const m of [last, first, strided, same]) m.dispose();
  });
});

describe('padImages: 28×28 → 32×32, centred', () => {
  it('pixel (r, c) lands at (r + 2, c + 2); a 2-pixel zero border on every side; flat [784] rows read as 28×28', () => {
    const n = 2;
    const x = new Float32Array(n * 784).map((_, i) => 1 + (i % 784) + 1000 * Math.floor(i / 784));
    const flat = Dataset.fromArrays({ x, shape: [784], labels: Int32Array.from([0, 1]), numClasses: 2 });
    const padded = padImages(flat);
    expect(padded.shape).toEqual([32, 32, 1]);
    expect(padded.size).toBe(2);
    expect(Array.from(padded.labels!)).toEqual([0, 1]);
    const at = (k: number, r: number, c: number) => padded.x[k * 1024 + r * 32 + c]!;
    for (let k = 0; k < n; k++) {
      for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) expect(at(k, r + 2, c + 2)).toBe(x[k * 784 + r * 28 + c]);
      for (let i = 0; i < 32; i++) for (const j of [0, 1, 30, 31]) {
        expect(at(k, i, j)).toBe(0);
        expect(at(k, j, i)).toBe(0);
      }
    }
    expect(at(0, 2, 2)).toBe(1);
    expect(at(1, 29, 29)).toBe(1000 + 784);
    // the same placement as the ConvAE's own padding: images as [28, 28, 1] pad identically
    expect(Array.from(padImages(flat.reshape([28, 28, 1])).x)).toEqual(Array.from(padded.x));
    expect(() => padImages(Dataset.fromArrays({ x: new Float32Array(10), shape: [10], labels: null, numClasses: 2 }))).toThrow(/needs images/);
    expect(() => padImages(flat, 16)).toThrow(/cannot zero-pad 28×28/);
  });
});

describe('flip / rotation augmentation (optional, conv tier)', () => {
  const img = (h: number, w: number) => Float32Array.from({ length: h * w }, (_, i) => i + 1);

  it('no rotation: each image is itself or its left–right mirror; seeded', () => {
    const h = 3;
    const w = 4;
    const n = 16;
    const x = new Float32Array(n * h * w);
    for (let k = 0; k < n; k++) x.set(img(h, w), k * h * w);
    const out = flipRotate(x, { n, h, w, c: 1 }, new Rng(1), { maxDegrees: 0 });
    const mirror = Array.from(img(h, w)).map((_, i) => img(h, w)[Math.floor(i / w) * w + (w - 1 - (i % w))]!);
    let flipped = 0;
    for (let k = 0; k < n; k++) {
      const o = Array.from(out.subarray(k * h * w, (k + 1) * h * w));
      if (o.every((v, i) => v === mirror[i])) flipped++;
      else expect(o).toEqual(Array.from(img(h, w)));
    }
    expect(flipped).toBeGreaterThan(0);
    expect(flipped).toBeLessThan(n);
    expect(Array.from(flipRotate(x, { n, h, w, c: 1 }, new Rng(1)))).toEqual(Array.from(flipRotate(x, { n, h, w, c: 1 }, new Rng(1))));
    expect(() => flipRotate(x, { n: 2, h, w, c: 1 }, new Rng(1))).toThrow(/are not 2 images/);
    // a NaN angle used to turn rotation off silently, a NaN fill to put NaN pixels in the batch
    expect(() => flipRotate(x, { n, h, w, c: 1 }, new Rng(1), { maxDegrees: NaN })).toThrow(TrellisError);
    expect(() => flipRotate(x, { n, h, w, c: 1 }, new Rng(1), { maxDegrees: -15 })).toThrow(/maxDegrees -15 must be a finite angle ≥ 0/);
    expect(() => flipRotate(x, { n, h, w, c: 1 }, new Rng(1), { fill: NaN })).toThrow(/fill NaN is not a finite number/);
    expect(() => flipRotatePlugin({ seed: 1, maxDegrees: NaN })).toThrow(/maxDegrees NaN/);
  });

  it('rotation keeps the centre pixel and brings in the fill value at the corners', () => {
    const x = new Float32Array(5 * 5).fill(1);
    const out = flipRotate(x, { n: 1, h: 5, w: 5, c: 1 }, new Rng(7), { flip: false, maxDegrees: 15, fill: -2 });
    expect(out[12]).toBeCloseTo(1, 6);
    expect(out[0]!).toBeLessThan(1);
    expect(Math.min(...out)).toBeGreaterThanOrEqual(-2);
  });

  it('the plugin replaces an image batch (labels kept) without leaking tensors, and rejects flat batches', async () => {
    const before = tf.memory().numTensors;
    const plugin = flipRotatePlugin({ seed: 1 });
    const batch = { x: tf.ones([2, 4, 4, 1]), y: tf.tensor1d([0, 1], 'int32'), indices: Int32Array.from([0, 1]), size: 2 };
    const out = await plugin.onBatchStart!({ batch, step: 0 } as never);
    expect(out && out !== batch).toBe(true);
    const b = out as typeof batch;
    expect(b.x.shape).toEqual([2, 4, 4, 1]);
    expect(Array.from(b.y.dataSync())).toEqual([0, 1]);
    for (const t of [batch.x, batch.y, b.x, b.y]) t.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const flat = { x: tf.ones([2, 16]), indices: Int32Array.from([0, 1]), size: 2 };
    expect(() => plugin.onBatchStart!({ batch: flat, step: 0 } as never)).toThrow(/needs image batches/);
    flat.x.dispose();
  });
});
