import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { useBackend } from '@trellis-ml/core';
import { interruptAndResume } from '@trellis-ml/testkit';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { experiment } from '../src/index.js';

// a resume check compares two runs on one backend: wasm gives the same arithmetic every run, several times faster than cpu
beforeAll(() => useBackend('wasm'));

describe('trellis retrain-cost --resume', () => {
  it('an interrupted grid resumes after its last finished cell, with its energy samples cut back, and ends with the uninterrupted run\'s indices and steps', async () => {
    const params = { severities: '2,5', pretrainN: 600, testN: 200, retrainN: 300, maxEpochs: 2, pretrainEpochs: 1, clusteringSubsample: 200, preIndexSubsample: 0, seedsPerModel: 2 };
    const { whole, resumed, resumedLog, metrics, units, cleanup } = await interruptAndResume(experiment, { mode: 'quick', seed: 1, seeds: [1, 2], params });
    onTestFinished(cleanup); // the runs' temporary directory
    expect(units).toEqual({ total: 2, kept: 1 });
    expect(resumedLog.join('\n')).toContain('1 finished dataset × model × seed cells are replayed');
    expect(resumedLog.filter((l) => l.includes('clean test accuracy')).map((l) => l.trim().slice(0, 17))).toEqual(['mnist/mlp seed 2:']);
    // what a setting measured, less its clocks and the energy modelled from them
    const untimed = async (dir: string) => (JSON.parse(await readFile(join(dir, 'runs.json'), 'utf8')) as Array<Record<string, unknown>>)
      .map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !/Ms$|S$|kWh|CO2|co2|energy|Energy|cpuMethod/.test(k))));
    const [a, b] = [await untimed(whole.runDir), await untimed(resumed.runDir)];
    expect(a).toHaveLength(6);
    expect(b).toEqual(a);
    expect(Object.keys(a[0]!)).toEqual(expect.arrayContaining(['indices', 'steps', 'epochs', 'finalAcc']));
    const samples = async (dir: string) => (await readFile(join(dir, 'energy-samples.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { run: string }).run);
    expect(await samples(resumed.runDir)).toEqual(await samples(whole.runDir));
    expect(metrics.resumed).toHaveLength(metrics.whole.length);
  }, 300_000);
});
