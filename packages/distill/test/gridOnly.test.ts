import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { experiment, readParams } from '../src/experiment.js';
import { useCpu } from './helpers.js';

let out = '';
beforeAll(async () => {
  await useCpu();
  out = await mkdtemp(join(tmpdir(), 'distill-grid-'));
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

// a tiny MLP-tier run with a 2 × 1 ReffAKD/KD grid (T ∈ {1, 4}, α = 0.5), one LS and one Tf-KD cell
const TINY = {
  trainSize: 120, valSize: 40, testSize: 40, batchSize: 40, teacherHidden: '16', studentHidden: '8', teacherEpochs: 1, teacherMilestones: '9',
  studentEpochs: 1, studentMilestones: '9', aeEpochs: 1, samplesPerClass: 3, extras: false,
  grid: true, gridEpochs: 1, gridT: '1,4', gridAlpha: '0.5', gridEps: '0.1', gridTfkdAlpha: '0.1', temperatureSweepAlpha: '',
};

interface Summary {
  dataset: string; gridOnly?: boolean; nextStage?: string; grid: Array<[string, string, number]>;
  gridCells: Array<{ method: string; T: number; alpha: number; valAcc: number }>;
  diagnostics: { temperature: { points: Array<{ T: number; alpha: number; from: string }> } };
  tuned: { reffakd: { T: number; alpha: number }; kd: { T: number; alpha: number }; ls: number; tfkd: number };
  claims: Array<{ id: string }>; accuracy?: Record<string, { finalTestMean: number }>;
}
const read = async (path: string): Promise<Summary> => JSON.parse(await readFile(path, 'utf8')) as Summary;

describe('gridOnly: stage 1 of a two-stage reproduction', () => {
  it('stops after the grid, and stage 2 with the selected settings reproduces the one-shot run', async () => {
    const before = tf.memory().numTensors;
    const oneShot = await read((await experiment.run({ mode: 'quick', seed: 3, out, log: () => undefined, params: TINY })).summaryPath);
    const stage1Result = await experiment.run({ mode: 'quick', seed: 3, out, log: () => undefined, params: { ...TINY, gridOnly: true } });
    const stage1 = await read(stage1Result.summaryPath);
    expect(stage1.gridOnly).toBe(true);
    // the default dataset is Fashion-MNIST (the record's name unchanged)
    expect([oneShot.dataset, stage1.dataset]).toEqual(['fashion-mnist', 'fashion-mnist']);
    expect(stage1.accuracy).toBeUndefined();
    // only the claims that need no student run
    expect(stage1.claims.map((c) => c.id)).toEqual(['matrix-diagonal', 'matrix-structure', 'loss-test-vectors', 'bad-input-errors']);
    expect(stage1.grid.map(([m, s]) => `${m} ${s}`)).toEqual([
      'ReffAKD-AE T=1 α=0.5', 'ReffAKD-AE T=4 α=0.5', 'KD (teacher) T=1 α=0.5', 'KD (teacher) T=4 α=0.5', 'LS ε=0.1', 'Tf-KD_reg α=0.1']);
    // the same teacher, generators and grid as the one-shot run: the same grid values and selection
    expect(stage1.grid).toEqual(oneShot.grid);
    expect(stage1.tuned).toEqual(oneShot.tuned);
    const best = (label: string) => stage1.grid.filter(([m]) => m === label).reduce((a, b) => (b[2] > a[2] ? b : a));
    expect(best('ReffAKD-AE')[1]).toBe(`T=${stage1.tuned.reffakd.T} α=${stage1.tuned.reffakd.alpha}`);
    // figure 3's α × T cells are the grid's ReffAKD/KD rows; figure 5 (a) reuses the ReffAKD cells (no extra training)
    expect(stage1.gridCells.map((c) => `${c.method} T=${c.T} α=${c.alpha} ${c.valAcc}`)).toEqual(stage1.grid.slice(0, 4).map(([m, st, v]) => `${m} ${st} ${v}`));
    expect(stage1.diagnostics.temperature.points.map((p) => `${p.from} T=${p.T} α=${p.alpha}`)).toEqual(['grid T=1 α=0.5', 'grid T=4 α=0.5']);
    const stage1Report = await readFile(join(stage1Result.runDir, 'report.md'), 'utf8');
    expect(stage1Report).toContain('Diagnostic: true-class probability vs T');
    expect(stage1Report).toMatch(/## Tuning grid[^#]*!\[Tuning grid/);
    expect(stage1Report).toContain('Stage 2');
    expect(stage1Report).toContain('validation grid only (Fashion-MNIST, quick, MLP tier)');
    // stage 2: the printed settings with grid=false give the one-shot run's students exactly
    const nextStage = Object.fromEntries([...stage1.nextStage!.matchAll(/--set (\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
    expect(nextStage.grid).toBe('false');
    const stage2 = await read((await experiment.run({ mode: 'quick', seed: 3, out, log: () => undefined, params: { ...TINY, ...nextStage } })).summaryPath);
    expect(stage2.tuned).toEqual(oneShot.tuned);
    expect(stage2.accuracy).toEqual(oneShot.accuracy);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gridOnly without the grid is rejected', () => {
    expect(() => readParams({ mode: 'quick', seed: 1, out, params: { gridOnly: true } })).toThrow(/gridOnly=true stops after the validation grid, but grid is off/);
    expect(readParams({ mode: 'full', seed: 1, out, params: { gridOnly: true } }).gridOnly).toBe(true);
  });
});
