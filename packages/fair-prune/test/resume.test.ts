import { readFile } from 'node:fs/promises';
import { useBackend } from '@trellis-ml/core';
import { claimFigures, interruptAndResume } from '@trellis-ml/testkit';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { experiment } from '../src/index.js';

// a resume check compares two runs on one backend: wasm gives the same arithmetic every run, several times faster than cpu
beforeAll(() => useBackend('wasm'));

describe('trellis fair-prune --resume', () => {
  it('an interrupted study resumes after its last finished seed × design block and ends with the uninterrupted run\'s results', async () => {
    const params = { dataset: 'mnist', trainSize: 500, hidden: '32', denseEpochs: 1, fineTuneEpochs: 1, sparsities: '0.5,0.95', baselineSparsities: '0.95', dualLrGrid: '0.01', designs: 'classes' };
    const { whole, resumed, resumedLog, metrics, units, cleanup } = await interruptAndResume(experiment, { mode: 'quick', seed: 1, seeds: [1, 2], params });
    onTestFinished(cleanup); // the runs' temporary directory
    expect(units).toEqual({ total: 2, kept: 1 });
    expect(resumedLog.join('\n')).toContain('1 finished seed × design blocks are replayed');
    // only the second block ran again
    expect(resumedLog.filter((l) => l.includes('dense accuracy')).map((l) => l.slice(0, 24))).toEqual(['[fair-prune] seed 2 clas']);
    expect(claimFigures(resumed)).toEqual(claimFigures(whole));
    const figures = async (r: typeof whole) => {
      const { seconds: _s, resumed: _r, ...rest } = JSON.parse(await readFile(r.summaryPath, 'utf8')) as Record<string, unknown>;
      return rest;
    };
    expect(await figures(resumed)).toEqual(await figures(whole));
    expect(metrics.resumed).toHaveLength(metrics.whole.length);
    expect(JSON.parse(await readFile(resumed.summaryPath, 'utf8')).resumed.replayedUnits).toBe(1);
  }, 300_000);
});
