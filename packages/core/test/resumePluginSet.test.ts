/**
 * A checkpoint's plugin states are keyed by plugin name. Resuming with another plugin set used to succeed with
 * nothing said; `lastRestore` now names the states it passed over and the plugins that start fresh.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Trainer, mlp, type TrainerPlugin } from '@trellis-ml/core';
import { toyDataset, useCpu } from './helpers.js';

beforeAll(useCpu);
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A plugin that counts its steps and checkpoints the count. */
function counter(name: string): TrainerPlugin<{ n: number }> {
  let n = 0;
  return { name, apiVersion: 1, onBatchEnd: () => void n++, getState: () => ({ n }), setState: (s) => void (n = s.n) };
}

/** Trains 1 epoch with `first` into a fresh checkpoint directory, then resumes to epoch 2 with `second`; the resume's lastRestore. */
async function resumeWith(first: TrainerPlugin[], second: TrainerPlugin[]) {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-resume-plugins-'));
  dirs.push(dir);
  for (const [plugins, resume] of [[first, false], [second, true]] as const) {
    const m = mlp({ inputShape: [8], hidden: [6], numClasses: 3, seed: 1 });
    const t = new Trainer({ model: m, seed: 4, batchSize: 60, optimizer: tf.train.sgd(0.1), plugins: [...plugins], checkpointDir: dir });
    await t.fit(toyDataset(120), { epochs: resume ? 2 : 1, resume });
    const restored = t.lastRestore;
    t.dispose();
    m.dispose();
    if (resume) return restored;
  }
  return null;
}

describe('resume with another plugin set', () => {
  it('the same plugins: nothing passed over', async () => {
    const restored = await resumeWith([counter('a')], [counter('a')]);
    expect(restored).toMatchObject({ epoch: 0, skipped: [], statesWithoutPlugin: [], pluginsWithoutState: [] });
  });

  it('a renamed, a removed and an added plugin are named', async () => {
    expect(await resumeWith([counter('a'), counter('b')], [counter('a2'), counter('b')]))
      .toMatchObject({ statesWithoutPlugin: ['a'], pluginsWithoutState: ['a2'] });
    expect(await resumeWith([counter('a'), counter('b')], [counter('b')])).toMatchObject({ statesWithoutPlugin: ['a'], pluginsWithoutState: [] });
    expect(await resumeWith([counter('b')], [counter('b'), counter('c')])).toMatchObject({ statesWithoutPlugin: [], pluginsWithoutState: ['c'] });
  });
});
