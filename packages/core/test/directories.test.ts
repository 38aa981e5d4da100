import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureDirectory, mlp, RunRecord, Trainer, TrellisError } from '@trellis-ml/core';
import { toyDataset, useCpu } from './helpers.js';

beforeAll(useCpu);

const root = mkdtempSync(join(tmpdir(), 'trellis-dirs-'));
const aFile = join(root, 'a-file');
writeFileSync(aFile, 'not a directory');

async function errorOf(p: Promise<unknown>): Promise<TrellisError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(TrellisError);
  return e as TrellisError;
}

describe('ensureDirectory: run and checkpoint directories', () => {
  it('creates missing parents one level at a time and accepts a directory that exists', async () => {
    const deep = join(root, 'x', 'y', 'z');
    await ensureDirectory(deep, 'the test directory', 'fix');
    expect(statSync(deep).isDirectory()).toBe(true);
    await ensureDirectory(deep, 'the test directory', 'fix');
  });
  it('names the path, the reason and the fix when a part of the path is a file, or the directory itself is one', async () => {
    const under = await errorOf(ensureDirectory(join(aFile, 'run'), 'the run directory', 'pass --out a directory you can write'));
    expect(under.code).toBe('DIRECTORY_UNWRITABLE');
    expect(under.problem).toBe(`cannot create or write the run directory ${join(aFile, 'run')}: a part of the path is a file, not a directory (ENOTDIR)`);
    expect(under.fix).toBe('pass --out a directory you can write');
    const itself = await errorOf(ensureDirectory(aFile, 'the run directory', 'fix'));
    expect(itself.problem).toMatch(/a file of that name is in the way \(EEXIST\)/);
  });
  it.runIf(existsSync('/proc/self'))('returns an error under /proc, where Node\'s recursive mkdir never returns', async () => {
    const e = await errorOf(ensureDirectory('/proc/trellis-no-such-dir/run', 'the run directory', 'fix'));
    expect(e.problem).toMatch(/\/proc\/trellis-no-such-dir\/run: the file system does not allow creating it \(ENOENT\)/);
  });
  it('RunRecord.create refuses an --out under a file with DIRECTORY_UNWRITABLE (it used to end in a raw ENOTDIR stack trace)', async () => {
    const e = await errorOf(RunRecord.create({ out: aFile, name: 'x', seed: 1 }));
    expect(e.code).toBe('DIRECTORY_UNWRITABLE');
    expect(e.fix).toMatch(/pass --out \(or `out`\) a directory you can write/);
  });
  it('Trainer.fit checks its checkpoint directory before the first step, not after the first epoch', async () => {
    const model = mlp({ inputShape: [8], hidden: [8], numClasses: 3, seed: 1 });
    let steps = 0;
    const trainer = new Trainer({ model, seed: 1, batchSize: 32, optimizer: tf.train.sgd(0.1), checkpointDir: join(aFile, 'ckpt'),
      plugins: [{ name: 'count', apiVersion: 1, onBatchEnd: () => void steps++ }] });
    const e = await errorOf(trainer.fit(toyDataset(), { epochs: 1 }));
    expect(e.code).toBe('DIRECTORY_UNWRITABLE');
    expect(e.problem).toMatch(/the checkpoint directory/);
    expect(steps).toBe(0);
    trainer.dispose();
    model.dispose();
  });
});
