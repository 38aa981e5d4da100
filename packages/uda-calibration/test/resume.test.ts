import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { interruptAndResume } from '@trellis-ml/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { experiment } from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('trellis uda-calibration --resume', () => {
  it('an interrupted study resumes after its last finished block and ends with the uninterrupted run\'s results', async () => {
    const params = { datasets: 'mnist', trainSize: 300, valSize: 100, epochs: 1, targetSize: 100, shifts: 'gaussian_noise', severities: '5', methods: 'source,tent,dec', trajectoryPasses: 0 };
    const { whole, resumed, resumedLog, metrics } = await interruptAndResume(experiment, { mode: 'quick', seed: 1, seeds: [1, 2], params });
    expect(resumedLog.join('\n')).toContain('1 finished seed × dataset × model blocks are replayed');
    // only the second block ran again: its clean-source line is logged, the first's is not
    expect(resumedLog.filter((l) => l.includes('clean acc')).map((l) => l.slice(0, 12))).toEqual(['[uda] seed 2']);
    const claims = (r: typeof whole) => r.claims.map((c) => [c.id, c.measured, c.holds]);
    expect(claims(resumed)).toEqual(claims(whole));
    // every cell's figures and the source models are the same (the wall-clock per batch is the run's own)
    const cells = async (r: typeof whole) => {
      const s = JSON.parse(await readFile(r.summaryPath, 'utf8')) as { cells: Array<Record<string, unknown>>; sourceModels: unknown[] };
      return { sources: s.sourceModels, cells: s.cells.map(({ msPerBatch: _ms, ...rest }) => rest) };
    };
    const [a, b] = [await cells(whole), await cells(resumed)];
    expect(a.cells.length).toBeGreaterThan(10);
    expect(b).toEqual(a);
    expect(metrics.resumed).toHaveLength(metrics.whole.length);
  });
});
