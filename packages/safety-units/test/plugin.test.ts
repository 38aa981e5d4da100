import * as tf from '@tensorflow/tfjs-core';
import { Dataset, Trainer, type TrainerPlugin } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { watchBatchReads } from '@trellis-ml/testkit';
import {
  denseUnitModules, emptyMask, encodeSequences, RequestLanguage, sequenceLossPlugin, sequenceNll, tinyTransformer, unitBudgetPlugin, unitFreezePlugin,
  type FreezeOptions, type UnitMask,
} from '../src/index.js';
import { expectTrellisError, TinyMlp, useWasm, values } from './helpers.js';

beforeAll(useWasm);

function model(): TinyMlp {
  const A = [[0.3, -0.2, 0.5, 0.1], [0.4, 0.6, -0.3, 0.2], [-0.1, 0.2, 0.3, -0.5]];
  const B = [[0.2, -0.4], [0.5, 0.1], [-0.3, 0.3], [0.1, 0.2]];
  return new TinyMlp(A, [0.1, 0.1, 0.1, 0.1], B, [0, 0]);
}

function data(): Dataset {
  const x = Float32Array.from({ length: 64 * 3 }, (_, i) => Math.sin(i * 1.3));
  const labels = Int32Array.from({ length: 64 }, (_, i) => (Math.sin(i * 1.3) > 0 ? 1 : 0));
  return Dataset.fromArrays({ x, shape: [3], labels, numClasses: 2 });
}

const col = (v: number[], cols: number, j: number) => v.filter((_, i) => i % cols === j);
const row = (v: number[], cols: number, j: number) => v.slice(j * cols, (j + 1) * cols);

async function train(m: TinyMlp, plugins: TrainerPlugin[], steps: number, seed = 1): Promise<void> {
  const t = new Trainer({ model: m, optimizer: tf.train.adam(0.05), plugins, seed, batchSize: 8 });
  await t.fit(data(), { epochs: Math.ceil(steps / 8), maxSteps: steps });
  t.dispose();
}

describe('unitFreezePlugin', () => {
  it('after 50 Adam steps frozen slices are bit-identical and unfrozen ones moved (with and without pinning)', async () => {
    for (const pin of [true, false]) {
      const m = model();
      const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
      const frozen = emptyMask(layout);
      frozen.fc1![1] = 1;
      frozen.fc1![3] = 1;
      const A0 = values(m.vars['fc1/kernel']!);
      const a0 = values(m.vars['fc1/bias']!);
      const B0 = values(m.vars['out/kernel']!);
      await train(m, [unitFreezePlugin({ layout, frozen, pin })], 50);
      const A1 = values(m.vars['fc1/kernel']!);
      const B1 = values(m.vars['out/kernel']!);
      for (const j of [1, 3]) {
        expect(col(A1, 4, j)).toEqual(col(A0, 4, j));
        expect(row(B1, 2, j)).toEqual(row(B0, 2, j));
        expect(values(m.vars['fc1/bias']!)[j]).toBe(a0[j]);
      }
      for (const j of [0, 2]) {
        expect(col(A1, 4, j)).not.toEqual(col(A0, 4, j));
        expect(row(B1, 2, j)).not.toEqual(row(B0, 2, j));
      }
      m.dispose();
    }
  });

  it('a mask schedule (Setting ii → i style) keeps newly frozen slices fixed from the switch on (pinning beats Adam momentum)', async () => {
    const m = model();
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    const phase1: UnitMask = emptyMask(layout);
    phase1.fc1![0] = 1;
    const phase2: UnitMask = emptyMask(layout);
    phase2.fc1![2] = 1; // trained (with Adam moments) in phase 1, frozen in phase 2
    let atSwitch: number[] = [];
    const spy: TrainerPlugin = {
      name: 'spy', apiVersion: 1, order: 'pre',
      onEpochStart: (ctx) => {
        if (ctx.epoch === 1) atSwitch = values(m.vars['fc1/kernel']!);
      },
    };
    const A0 = values(m.vars['fc1/kernel']!);
    const t = new Trainer({ model: m, optimizer: tf.train.adam(0.05), plugins: [spy, unitFreezePlugin({ layout, schedule: [{ epochs: 1, frozen: phase1 }, { epochs: 1, frozen: phase2 }] })], seed: 2, batchSize: 8 });
    await t.fit(data(), { epochs: 2 });
    t.dispose();
    const A2 = values(m.vars['fc1/kernel']!);
    expect(col(atSwitch, 4, 0)).toEqual(col(A0, 4, 0));
    expect(col(atSwitch, 4, 2)).not.toEqual(col(A0, 4, 2));
    expect(col(A2, 4, 2)).toEqual(col(atSwitch, 4, 2));
    expect(col(A2, 4, 0)).not.toEqual(col(atSwitch, 4, 0));
    m.dispose();
  });

  it('keeps the tensor count flat, round-trips its state and is deterministic', async () => {
    const runOnce = async () => {
      const m = model();
      const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
      const frozen = emptyMask(layout);
      frozen.fc1![2] = 1;
      const plugin = unitFreezePlugin({ layout, frozen });
      const t = new Trainer({ model: m, optimizer: tf.train.adam(0.01), plugins: [plugin], seed: 3, batchSize: 16 });
      await t.fit(data(), { epochs: 1 });
      const before = tf.memory().numTensors;
      await t.fit(data(), { epochs: 3 });
      expect(tf.memory().numTensors).toBe(before);
      const state = plugin.getState!();
      const other = unitFreezePlugin({ layout, frozen: emptyMask(layout) });
      other.setState!(JSON.parse(JSON.stringify(state)));
      expect(other.getState!()).toEqual(state);
      expect(state.frozen).toEqual({ fc1: [2] });
      const w = values(m.vars['out/kernel']!);
      t.dispose();
      m.dispose();
      return w;
    };
    expect(await runOnce()).toEqual(await runOnce());
  });
});

describe('unitBudgetPlugin', () => {
  it('trains only the budget units; non-unit parameters stay fixed by default', async () => {
    const m = model();
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    const trainable = emptyMask(layout);
    trainable.fc1![0] = 1;
    const A0 = values(m.vars['fc1/kernel']!);
    const b0 = values(m.vars['out/bias']!);
    await train(m, [unitBudgetPlugin({ layout, trainable })], 20);
    const A1 = values(m.vars['fc1/kernel']!);
    expect(col(A1, 4, 0)).not.toEqual(col(A0, 4, 0));
    for (const j of [1, 2, 3]) expect(col(A1, 4, j)).toEqual(col(A0, 4, j));
    expect(values(m.vars['out/bias']!)).toEqual(b0);
    m.dispose();
  });
});

describe('sequenceLossPlugin: token ids', () => {
  const lang = new RequestLanguage({ verbs: 2, benignObjects: 4, hazardObjects: 2, modifiers: 2, contentTokens: 4 });
  const requests = [...lang.requests('benign'), ...lang.requests('hazard')];
  const sequences = () => encodeSequences(lang, requests, requests.map((r) => (r.hazard ? 'refuse' : 'comply'))).data;
  const lm = () => tinyTransformer({ vocabSize: lang.vocabSize, maxLen: lang.maxLen, layers: 1, dModel: 8, heads: 2, dFf: 16, seed: 2 });
  const trainer = (plugins: TrainerPlugin[]) => new Trainer({ model: lm(), optimizer: tf.train.adam(0.01), plugins, seed: 1, batchSize: 8, baseLoss: 'none' });

  it('reads no token ids back to the host in a step, checks the training set once at fit start, and sequenceNll still refuses a bad id', async () => {
    const w = watchBatchReads('x');
    try {
      const t = trainer([sequenceLossPlugin(lang.lossOptions()), w.plugin]);
      await t.fit(sequences(), { epochs: 1, maxSteps: 2 });
      const before = tf.memory().numTensors;
      await t.fit(sequences(), { epochs: 1, maxSteps: 4 });
      expect(tf.memory().numTensors).toBe(before);
      expect(w.watched()).toBeGreaterThan(0);
      expect(w.reads()).toBe(0);
      t.model.dispose();
      t.dispose();
      // called directly, the loss still reads the ids and refuses id V (its one-hot row would be all zero)
      const logits = tf.zeros([1, 3, lang.vocabSize]);
      const bad = tf.tensor2d([[1, lang.vocabSize, 2]]);
      w.watch(bad);
      expectTrellisError(() => sequenceNll(logits, bad, lang.lossOptions()), 'LABEL_OUT_OF_RANGE',
        new RegExp(`token id ${lang.vocabSize} at position 1 of sequence 0 is outside the model's vocabulary \\[0, ${lang.vocabSize}\\)`));
      expect(w.reads()).toBe(1);
      tf.dispose([logits, bad]);
    } finally {
      w.restore();
    }
    // the plugin refuses a training set with an id outside the vocabulary before the first step
    const data = sequences();
    const x = data.x.slice();
    x[lang.maxLen + 2] = lang.vocabSize;
    const t = trainer([sequenceLossPlugin(lang.lossOptions())]);
    const before = Array.from(t.model.trainableVariables()['head/kernel']!.dataSync());
    await expect(t.fit(data.withInputs(x), { epochs: 1 })).rejects.toMatchObject({
      code: 'LABEL_OUT_OF_RANGE', problem: `token id ${lang.vocabSize} at position 2 of training example 1 is outside the model's vocabulary [0, ${lang.vocabSize})`,
    });
    expect(Array.from(t.model.trainableVariables()['head/kernel']!.dataSync())).toEqual(before);
    t.model.dispose();
    t.dispose();
  });
});

describe('bad plugin options', () => {
  it('missing options, a string phase length and a foreign saved state are clear errors', () => {
    const m = model();
    const layout = denseUnitModules(m, ['fc1'], ['fc1', 'out']);
    const frozen = emptyMask(layout);
    // used to be raw TypeErrors ("layout is not iterable", reading 'schedule' / 'fc1' of undefined)
    expectTrellisError(() => unitFreezePlugin(undefined as never), 'BAD_OPTION', /freeze plugin has no unit layout/);
    expectTrellisError(() => unitFreezePlugin({ frozen } as FreezeOptions), 'BAD_OPTION', /freeze plugin has no unit layout/);
    expectTrellisError(() => unitBudgetPlugin({ layout } as never), 'BAD_OPTION', /budget plugin needs `layout` and `trainable`/);
    expectTrellisError(() => sequenceLossPlugin(undefined as never), 'BAD_OPTION', /sequence loss needs `responseStart`/);
    // '2' epochs used to concatenate into the phase boundaries ("02", "021")
    expectTrellisError(() => unitFreezePlugin({ layout, schedule: [{ epochs: '2' as never, frozen }, { epochs: 1, frozen }] }), 'BAD_OPTION', /a schedule phase lasts "2" epochs/);
    // a state of another schedule used to write a phase past the end of it
    const p = unitFreezePlugin({ layout, frozen });
    expectTrellisError(() => p.setState!({ phase: 3, steps: 0, frozen: {} }), 'BAD_STATE', /saved freeze state has phase 3, the schedule has 1 phase/);
    expectTrellisError(() => p.setState!({ phase: 0, steps: 0, frozen: { fc1: [9] } }), 'BAD_MASK', /selects unit 9 of module "fc1"/);
    m.dispose();
  });
});
