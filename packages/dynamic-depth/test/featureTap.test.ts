/**
 * A DepthNet's taps end with `features` (the head's input), not with a logits layer, so "the tap before the last"
 * (`block<K-1>`) is not its penultimate representation and is skipped at shallow depths: the net declares
 * `featureTap`, which core's `penultimateTap` (privacy's CRL and SRCM default) reads, also through the
 * multi-depth plugins' model view. A tap skipped at the step's depth is `TAP_INACTIVE` naming the plugin that asked.
 */
import * as tf from '@tensorflow/tfjs-core';
import { penultimateTap, Trainer, TrellisError, type TrainerPlugin } from '@trellis-ml/core';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { coopDepth, layerDrop, residualMLP } from '../src/index.js';
import { toyDataset, useCpu } from './helpers.js';

beforeAll(useCpu);

const net = () => residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2, 4], seed: 1 });

/** A plugin that, like privacy's CRL, taps the model's penultimate representation unless given a tap. */
function featureReader(tap?: string): TrainerPlugin & { tap?: string } {
  const plugin: TrainerPlugin & { tap?: string } = {
    name: 'crl',
    apiVersion: 1,
    taps: [],
    setup(ctx) {
      plugin.tap = tap ?? penultimateTap(ctx.model);
      plugin.taps = plugin.tap ? [plugin.tap] : [];
    },
    lossTerms(outputs) {
      return { center: tf.mean(tf.square(outputs.features[plugin.tap!]!)) as tf.Scalar };
    },
  };
  return plugin;
}

describe('DepthNet feature tap', () => {
  it('declares features, the head input, which penultimateTap returns (the tap before the last is block3)', () => {
    const n = net();
    expect(n.tapNames().slice(-2)).toEqual(['block3', 'features']);
    expect(n.featureTap).toBe('features');
    expect(penultimateTap(n)).toBe('features');
    n.dispose();
  });

  it('the multi-depth plugins\' model view delegates it', async () => {
    const n = net();
    const t = new Trainer({ model: n, seed: 1, plugins: [coopDepth()] });
    await t.setup();
    expect(t.model).not.toBe(n);
    expect(t.model.featureTap).toBe('features');
    expect(penultimateTap(t.model)).toBe('features');
    t.dispose();
    n.dispose();
  });

  it('a plugin reading the default feature trains under layerDrop (every depth runs features)', async () => {
    const n = net();
    const reader = featureReader();
    const t = new Trainer({ model: n, seed: 1, batchSize: 16, optimizer: tf.train.sgd(0.05), plugins: [layerDrop({ p: 0.9 }), reader] });
    await t.fit(toyDataset(64), { epochs: 1 });
    expect(reader.tap).toBe('features');
    t.dispose();
    n.dispose();
  });

  it('a tap skipped at the step\'s depth is TAP_INACTIVE naming the plugin that asked for it', async () => {
    const n = net();
    const t = new Trainer({ model: n, seed: 1, batchSize: 16, optimizer: tf.train.sgd(0.05), plugins: [layerDrop({ p: 0.9 }), featureReader('block3')] });
    const e = await trellisErrorOf(() => t.fit(toyDataset(64), { epochs: 1 }));
    expect(e).toBeInstanceOf(TrellisError);
    expect(e.code).toBe('TAP_INACTIVE');
    expect(e.problem).toMatch(/^tap "block3" is a block skipped at depth "layerdrop-sample", requested by plugin "crl"$/);
    expect(e.fix).toContain('plugin "crl"');
    expect(e.details).toMatchObject({ tap: 'block3', depth: 'layerdrop-sample', plugins: ['crl'] });
    t.dispose();
    n.dispose();
  });
});
