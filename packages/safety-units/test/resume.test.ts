import { claimFigures, interruptAndResume } from '@trellis-ml/testkit';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { experiment } from '../src/index.js';
import { useWasm } from './helpers.js';

beforeAll(useWasm);

describe('trellis safety-units --resume', () => {
  it('an interrupted study resumes after its last finished seed and ends with the uninterrupted run\'s results', async () => {
    const params = {
      layers: 1, dModel: 16, heads: 2, dFf: 32, pretrainEpochs: 1, alignEpochs: 1, scoreSize: 32, evalSize: 32, grid: '0.05,0.1',
      scoringSeeds: 2, probe: false, evalEvery: 100,
    };
    const { whole, resumed, resumedLog, metrics, cleanup } = await interruptAndResume(experiment, { mode: 'quick', seed: 1, seeds: [1, 2], params });
    onTestFinished(cleanup); // the runs' temporary directory
    expect(resumedLog.join('\n')).toContain('1 finished seeds are replayed');
    expect(claimFigures(resumed)).toEqual(claimFigures(whole));
    expect(JSON.stringify(resumed.summary)).toEqual(JSON.stringify(whole.summary));
    // the first seed's metrics line is the interrupted run's, the second's was logged again: the same apart from its time
    const untimed = (lines: string[]) => lines.map((l) => l.replace(/"time":"[^"]*",/, ''));
    expect(metrics.resumed).toHaveLength(2);
    expect(untimed(metrics.resumed)).toEqual(untimed(metrics.whole));
  }, 300_000);
});
