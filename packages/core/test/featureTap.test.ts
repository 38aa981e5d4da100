import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { LayersModelAdapter, Trainer, TrellisError, mlp, penultimateTap, smallCnn, type ApplyOptions, type ModelAdapter, type ModelOutputs, type TrainerPlugin } from '@trellis-ml/core';
import { toyDataset, useCpu } from './helpers.js';

beforeAll(useCpu);

/** The rule CRL and SRCM used before models could declare their feature tap: the tap listed before the last one. */
const tapBeforeLast = (m: ModelAdapter) => m.tapNames()[m.tapNames().length - 2];

/**
 * A tiny model whose taps end with its feature tap (like dynamic-depth's DepthNet): `hidden` → `features` → logits.
 * `inactive` names a tap whose forward throws `TAP_INACTIVE` (a block skipped at the current depth), as DepthNet does.
 */
class TinyTapModel implements ModelAdapter {
  readonly inputShape = [8];
  readonly numClasses = 3;
  readonly featureTap = 'features';
  private readonly w1 = tf.tidy(() => tf.variable(tf.randomNormal([8, 4], 0, 0.3, 'float32', 1)));
  private readonly w2 = tf.tidy(() => tf.variable(tf.randomNormal([4, 3], 0, 0.3, 'float32', 2)));

  constructor(private readonly inactive: string | null = null) {}

  apply(x: tf.Tensor, options: ApplyOptions = {}): ModelOutputs {
    const hidden = tf.relu(tf.matMul(x as tf.Tensor2D, this.w1));
    const features: Record<string, tf.Tensor> = {};
    for (const t of options.taps ?? []) {
      if (t === this.inactive) throw new TrellisError('TAP_INACTIVE', `tap "${t}" is a block skipped at depth "d1"`, 'tap an active block or `features`', { tap: t });
      features[t] = hidden;
    }
    return { logits: tf.matMul(hidden, this.w2), features };
  }

  tapNames(): string[] {
    return ['hidden', 'features'];
  }
  trainableVariables(): Record<string, tf.Variable> {
    return { w1: this.w1, w2: this.w2 };
  }
  allVariables(): Record<string, tf.Variable> {
    return this.trainableVariables();
  }
  async save(): Promise<void> {}
  async load(): Promise<void> {}
  dispose(): void {
    this.w1.dispose();
    this.w2.dispose();
  }
}

/** A plugin that only asks for `tap`. */
const tapping = (name: string, tap: string): TrainerPlugin => ({ name, apiVersion: 1, taps: [tap] });

describe('penultimateTap', () => {
  it('returns the tap a model declares as its classifier input, even when its taps do not end with the logits layer', () => {
    const m = new TinyTapModel();
    expect(tapBeforeLast(m)).toBe('hidden'); // the old rule picked the wrong representation
    expect(penultimateTap(m)).toBe('features');
    m.dispose();
  });

  it('is unchanged on core layers models: the layer before the last (mlp, smallCnn, functional)', () => {
    const a = mlp({ inputShape: [8], hidden: [16, 12], numClasses: 3, seed: 1 });
    const b = mlp({ inputShape: [4, 4], hidden: [16], numClasses: 3, seed: 1 });
    const c = smallCnn({ inputShape: [8, 8, 1], numClasses: 3, channels: [4], dense: 8, seed: 1 });
    const input = tfl.input({ shape: [6] });
    const h1 = tfl.layers.dense({ units: 5, name: 'h1' }).apply(input) as tfl.SymbolicTensor;
    const h2 = tfl.layers.dense({ units: 5, name: 'h2' }).apply(h1) as tfl.SymbolicTensor;
    const sum = tfl.layers.add({ name: 'sum' }).apply([h1, h2]) as tfl.SymbolicTensor;
    const d = new LayersModelAdapter(tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 3, name: 'out' }).apply(sum) as tfl.SymbolicTensor }));
    expect([a, b, c, d].map(penultimateTap)).toEqual(['fc2', 'fc1', 'fc1', 'sum']);
    expect([a, b, c, d].map(penultimateTap)).toEqual([a, b, c, d].map(tapBeforeLast));
    expect([a, b, c, d].map((m) => m.featureTap)).toEqual(['fc2', 'fc1', 'fc1', 'sum']);
    for (const m of [a, b, c, d]) m.dispose();
  });

  it('has no answer for a layers model whose output layer reads the input (a linear mlp), as before', () => {
    const m = mlp({ inputShape: [8], hidden: [], numClasses: 3, seed: 1 });
    expect(m.tapNames()).toEqual(['logits']);
    expect(m.featureTap).toBeUndefined();
    expect(penultimateTap(m)).toBeUndefined();
    m.dispose();
    // a functional linear model lists its input layer among its taps: that is no declared feature
    const input = tfl.input({ shape: [6], name: 'in' });
    const f = new LayersModelAdapter(tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 3, name: 'out' }).apply(input) as tfl.SymbolicTensor }));
    expect(f.tapNames()).toEqual(['in', 'out']);
    expect(f.featureTap).toBeUndefined();
    f.dispose();
  });

  it('falls back to the tap before the last for a model that declares none', () => {
    const inner = new TinyTapModel();
    const plain: ModelAdapter = {
      inputShape: inner.inputShape, numClasses: inner.numClasses, apply: (x, o) => inner.apply(x, o), tapNames: () => ['a', 'b', 'c'],
      trainableVariables: () => inner.trainableVariables(), allVariables: () => inner.allVariables(), save: async () => {}, load: async () => {}, dispose: () => inner.dispose(),
    };
    expect(penultimateTap(plain)).toBe('b');
    plain.dispose();
  });
});

describe('Trainer: a tap the forward pass cannot return names the plugin that asked for it', () => {
  it('TAP_INACTIVE keeps its code and names the requesting plugin, the tap and the fix', async () => {
    const m = new TinyTapModel('hidden');
    const before = tf.memory().numTensors;
    const t = new Trainer({ model: m, seed: 1, batchSize: 32, optimizer: tf.train.sgd(0.1), plugins: [tapping('crl', 'hidden'), tapping('probe', 'features')] });
    const err = await t.fit(toyDataset(64), { epochs: 1 }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(TrellisError);
    const e = err as TrellisError;
    expect(e.code).toBe('TAP_INACTIVE');
    expect(e.problem).toContain('tap "hidden" is a block skipped at depth "d1"');
    expect(e.problem).toContain('requested by plugin "crl"');
    expect(e.problem).not.toContain('probe');
    expect(e.fix).toContain('plugin "crl"');
    expect(e.fix).toContain('tap an active block or `features`');
    expect(e.details).toMatchObject({ tap: 'hidden', plugins: ['crl'] });
    expect(e.cause).toBeInstanceOf(TrellisError);
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it('names every plugin that asked for the tap, and finds the tap in the message when the model gives no details', async () => {
    const m = new TinyTapModel();
    const inner = m.apply.bind(m);
    m.apply = (x, o) => {
      if (o?.taps?.includes('hidden')) throw new TrellisError('UNKNOWN_TAP', 'the model has no tap "hidden"', 'tap one of: features');
      return inner(x, o);
    };
    const t = new Trainer({ model: m, seed: 1, batchSize: 32, plugins: [tapping('a', 'hidden'), tapping('b', 'features'), tapping('c', 'hidden')] });
    const err = await t.fit(toyDataset(64), { epochs: 1 }).then(() => null, (e: unknown) => e) as TrellisError;
    expect(err.code).toBe('UNKNOWN_TAP');
    expect(err.problem).toContain('requested by plugins "a" and "c"');
    expect(err.details).toMatchObject({ tap: 'hidden', plugins: ['a', 'c'] });
    t.dispose();
    m.dispose();
  });

  it('a tap the model names that no plugin asked for (a wrapper tapping its model) leaves the model\'s error as it is, blaming no plugin', async () => {
    const m = new TinyTapModel();
    const inner = m.apply.bind(m);
    // as privacy's srcm wrapping a DepthNet: the wrapper asks for "hidden" itself, which is skipped at this depth
    m.apply = (x, o) => {
      if (o?.taps?.length) throw new TrellisError('TAP_INACTIVE', 'tap "hidden" is a block skipped at depth "d1"', 'tap an active block or `features`', { tap: 'hidden' });
      return inner(x, o);
    };
    const t = new Trainer({ model: m, seed: 1, batchSize: 32, plugins: [tapping('reads-features', 'features')] });
    const err = await t.fit(toyDataset(64), { epochs: 1 }).then(() => null, (e: unknown) => e) as TrellisError;
    expect(err.code).toBe('TAP_INACTIVE');
    expect(err.message).toBe('tap "hidden" is a block skipped at depth "d1" — tap an active block or `features`');
    t.dispose();
    m.dispose();
  });

  it('leaves other forward errors alone', async () => {
    const m = new TinyTapModel();
    m.apply = () => {
      throw new TrellisError('INPUT_SHAPE_MISMATCH', 'bad input', 'reshape');
    };
    const t = new Trainer({ model: m, seed: 1, batchSize: 32, plugins: [tapping('a', 'hidden')] });
    const err = await t.fit(toyDataset(64), { epochs: 1 }).then(() => null, (e: unknown) => e) as TrellisError;
    expect(err.code).toBe('INPUT_SHAPE_MISMATCH');
    expect(err.message).toBe('bad input — reshape');
    t.dispose();
    m.dispose();
  });
});
