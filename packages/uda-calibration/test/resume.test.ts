import { readFile } from 'node:fs/promises';
import { useBackend } from '@trellis-ml/core';
import { claimFigures, interruptAndResume } from '@trellis-ml/testkit';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { experiment } from '../src/index.js';

// a resume check compares two runs on one backend: wasm gives the same arithmetic every run, several times faster than cpu
beforeAll(() => useBackend('wasm'));

describe('trellis uda-calibration --resume', () => {
  it('an interrupted study resumes after its last finished unit (a cell here: the next runs on a source model trained again) and ends with the uninterrupted run\'s results', async () => {
    const params = { datasets: 'mnist', trainSize: 300, valSize: 100, epochs: 1, targetSize: 100, shifts: 'gaussian_noise', severities: '3,5', methods: 'source,bn,tent,dec', trajectoryPasses: 2 };
    // units of each seed: the source model's figures, 2 cells (severities 3, 5), the first seed's trajectories; cut
    // after the first cell, so the second runs on a freshly trained source model (a method that changed the
    // source in place would show here)
    const { whole, resumed, resumedLog, metrics, units, cleanup } = await interruptAndResume(experiment, { mode: 'quick', seed: 1, seeds: [1, 2], params }, { keep: 2 });
    onTestFinished(cleanup); // the runs' temporary directory
    expect(units).toEqual({ total: 7, kept: 2 });
    expect(resumedLog.join('\n')).toContain('2 finished units (a source model');
    // the first seed's source figures were replayed (no clean-source line), the second seed's were not
    expect(resumedLog.filter((l) => l.includes('clean acc')).map((l) => l.slice(0, 12))).toEqual(['[uda] seed 2']);
    expect(claimFigures(resumed)).toEqual(claimFigures(whole));
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
