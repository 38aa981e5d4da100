/**
 * CRL's centre loss and the SRCM head read the model's penultimate representation by default. They used to take
 * "the tap before the last one", which is right for core's layers models (taps = layers, logits last) but not for a
 * model whose taps end with its feature tap (dynamic-depth's DepthNet: `stem, block0…, features`), where it read the
 * last block instead — a block skipped at shallow depths (`TAP_INACTIVE`). They now ask core's `penultimateTap`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Dataset, mlp, penultimateTap, smallCnn, Trainer, TrellisError, type ApplyOptions, type ModelAdapter, type ModelOutputs } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { crl, srcm, type CRLOptions } from '../src/plugin.js';
import { withSRCM } from '../src/srcm.js';
import { QUICK_CONFIG, FULL_CONFIG } from '../src/experiment.js';
import { cpu } from './helpers.js';

beforeAll(cpu);

/**
 * A DepthNet-like model (taps `stem, block0, block1, features`; the head reads `features`, 4 wide). `block1` is
 * skipped, as at a shallow depth: asking for it is `TAP_INACTIVE`.
 */
class SkippingNet implements ModelAdapter {
  readonly inputShape = [6];
  readonly numClasses = 3;
  readonly featureTap = 'features';
  private readonly stem = tf.tidy(() => tf.variable(tf.randomNormal([6, 5], 0, 0.4, 'float32', 1)));
  private readonly block0 = tf.tidy(() => tf.variable(tf.randomNormal([5, 4], 0, 0.4, 'float32', 2)));
  private readonly head = tf.tidy(() => tf.variable(tf.randomNormal([4, 3], 0, 0.4, 'float32', 3)));

  apply(x: tf.Tensor, options: ApplyOptions = {}): ModelOutputs {
    const stem = tf.relu(tf.matMul(x as tf.Tensor2D, this.stem));
    const block0 = tf.relu(tf.matMul(stem, this.block0));
    const all: Record<string, tf.Tensor> = { stem, block0, features: block0 };
    const features: Record<string, tf.Tensor> = {};
    for (const t of options.taps ?? []) {
      if (!all[t]) throw new TrellisError('TAP_INACTIVE', `tap "${t}" is a block skipped at depth "d1"`, 'tap an active block, `stem` or `features`', { tap: t });
      features[t] = all[t]!;
    }
    return { logits: tf.matMul(block0, this.head), features };
  }

  tapNames(): string[] {
    return ['stem', 'block0', 'block1', 'features'];
  }
  trainableVariables(): Record<string, tf.Variable> {
    return { 'stem/kernel': this.stem, 'block0/kernel': this.block0, 'head/kernel': this.head };
  }
  allVariables(): Record<string, tf.Variable> {
    return this.trainableVariables();
  }
  async save(): Promise<void> {}
  async load(): Promise<void> {}
  dispose(): void {
    for (const v of Object.values(this.trainableVariables())) v.dispose();
  }
}

/** Trains `model` one epoch on a few rows with `crl(options)`; the taps CRL asked for and its centres' shape. */
async function fitOnce(model: ModelAdapter, options: CRLOptions) {
  const data = Dataset.fromArrays({ x: Float32Array.from({ length: 48 * 6 }, (_, i) => Math.sin(i)), shape: [6], labels: Int32Array.from({ length: 48 }, (_, i) => i % 3), numClasses: 3 });
  const plugin = crl(options);
  const t = new Trainer({ model, seed: 1, batchSize: 16, optimizer: tf.train.sgd(0.05), plugins: [plugin] });
  await t.fit(data, { epochs: 1 });
  const out = { taps: plugin.taps, centers: plugin.getState!().shape };
  t.dispose();
  return out;
}

describe('CRL and SRCM default feature tap', () => {
  it('CRL reads the feature tap a model declares (features), not the tap before the last (a skipped block)', async () => {
    const m = new SkippingNet();
    const { taps, centers } = await fitOnce(m, { alpha: 0.3 });
    expect(taps).toEqual(['features']);
    expect(centers).toEqual([3, 4]);
    m.dispose();
  });

  it('SRCM\'s head reads the declared feature tap', () => {
    const m = withSRCM(new SkippingNet(), { radius: 5, width: 1 });
    expect(m.featureTap).toBe('features');
    expect(m.featureDim).toBe(4);
    m.dispose();
  });

  it('SRCM takes the backbone\'s own head out of the trainable set when the taps end with the feature: it used to stay trainable, unused', () => {
    const m = withSRCM(new SkippingNet(), { radius: 5, width: 1 });
    expect([...m.replacedVariables]).toEqual(['head/kernel']);
    expect(Object.keys(m.trainableVariables()).sort()).toEqual(['block0/kernel', 'srcm/head/kernel', 'srcm/pre/bias', 'srcm/pre/kernel', 'stem/kernel']);
    expect(Object.keys(m.allVariables())).toContain('head/kernel'); // still saved with the backbone
    m.dispose();
  });

  it('SRCM on a frozen backbone (a linear probe) trains its own head alone', () => {
    const backbone = mlp({ inputShape: [6], hidden: [5, 4], numClasses: 3, seed: 1 });
    backbone.model.trainable = false;
    const m = withSRCM(backbone, { radius: 5, width: 1 });
    expect(m.replacedVariables.size).toBe(0);
    expect(Object.keys(m.trainableVariables()).sort()).toEqual(['srcm/head/kernel', 'srcm/pre/bias', 'srcm/pre/kernel']);
    m.dispose();
  });

  it('SRCM on a layers model replaces its last layer, as before, and every layer after an earlier featureTap', () => {
    const m = withSRCM(mlp({ inputShape: [6], hidden: [5, 4], numClasses: 3, seed: 1 }), { radius: 5, width: 1 });
    expect([...m.replacedVariables].sort()).toEqual(['logits/bias', 'logits/kernel']);
    m.dispose();
    const early = withSRCM(mlp({ inputShape: [6], hidden: [5, 4], numClasses: 3, seed: 1 }), { radius: 5, width: 1, featureTap: 'fc1' });
    expect([...early.replacedVariables].sort()).toEqual(['fc2/bias', 'fc2/kernel', 'logits/bias', 'logits/kernel']);
    const cnn = withSRCM(smallCnn({ inputShape: [8, 8, 1], channels: [4], dense: 6, numClasses: 3, seed: 1 }), { radius: 5, width: 1 });
    expect([...cnn.replacedVariables].every((k) => k.startsWith(`${cnn.backbone.tapNames().at(-1)}/`))).toBe(true);
    expect(cnn.replacedVariables.size).toBe(2);
    early.dispose();
    cnn.dispose();
  });

  it('on core layers models the default is unchanged: the layer before the last', async () => {
    const models = [
      mlp({ inputShape: [784], hidden: QUICK_CONFIG.hidden, numClasses: 10, seed: 1 }), // the privacy study's models
      mlp({ inputShape: [784], hidden: FULL_CONFIG.hidden, numClasses: 10, seed: 1 }),
      mlp({ inputShape: [6], hidden: [5], numClasses: 3, seed: 1 }),
      smallCnn({ inputShape: [8, 8, 1], channels: [4], dense: 6, numClasses: 3, seed: 1 }),
    ];
    const before = models.map((m) => m.tapNames()[m.tapNames().length - 2]);
    expect(before).toEqual(['fc2', 'fc2', 'fc1', 'fc1']);
    for (const [i, m] of models.entries()) {
      const plugin = crl({ alpha: 0.3 });
      const t = new Trainer({ model: m, seed: 1, plugins: [plugin] });
      await t.setup();
      expect(plugin.taps).toEqual([before[i]]);
      t.dispose();
      const t2 = new Trainer({ model: m, seed: 1, plugins: [srcm({ radius: 5, width: 1 })] });
      await t2.setup();
      expect((t2.model as ReturnType<typeof withSRCM>).featureTap).toBe(before[i]);
      t2.dispose();
      t2.model.dispose(); // the SRCM view disposes its backbone
    }
  });

  it('an SRCM-wrapped model declares the backbone feature its head reads, which CRL composed after it reads (not srcm/pre)', async () => {
    const m = withSRCM(mlp({ inputShape: [6], hidden: [5, 4], numClasses: 3, seed: 1 }), { radius: 5, width: 1 });
    expect(m.tapNames().slice(-2)).toEqual(['srcm/pre', 'srcm/fea']);
    expect(penultimateTap(m)).toBe('fc2');
    m.dispose();
    const backbone = mlp({ inputShape: [6], hidden: [5, 4], numClasses: 3, seed: 1 });
    const plugin = crl({ alpha: 0.3 });
    const t = new Trainer({ model: backbone, seed: 1, plugins: [srcm({ radius: 5, width: 1 }), plugin] });
    await t.setup();
    expect(plugin.taps).toEqual(['fc2']);
    t.dispose();
    t.model.dispose();
  });
});
