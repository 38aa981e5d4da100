import { useBackend } from '@trellis-ml/core';
import { claimFigures, interruptAndResume } from '@trellis-ml/testkit';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { experiment } from '../src/index.js';

// a resume check compares two runs on one backend: wasm gives the same arithmetic every run, several times faster than cpu
beforeAll(() => useBackend('wasm'));

describe('trellis privacy --resume', () => {
  it('an interrupted study resumes after its last finished seed × method (or LiRA) unit and ends with the uninterrupted run\'s figures', async () => {
    const params = { members: 60, epochs: 2, batchSize: 32, methods: 'vanilla,crl', liraModels: 3, liraMethods: 'vanilla', attackEpochs: 2, attackBatchSize: 32, benchmarkPairs: 0 };
    // units: seed 1 vanilla, seed 1 crl, seed 1 LiRA vanilla, seed 2 vanilla, seed 2 crl — cut after the LiRA unit
    const { whole, resumed, resumedLog, metrics, units, cleanup } = await interruptAndResume(experiment, { mode: 'quick', seed: 1, seeds: [1, 2], params }, { keep: 3 });
    onTestFinished(cleanup); // the runs' temporary directory
    expect(units).toEqual({ total: 5, kept: 3 });
    expect(resumedLog.join('\n')).toContain('3 finished seed × method and LiRA units are replayed');
    expect(resumedLog.filter((l) => /seed \d \w+: train/.test(l)).map((l) => l.trim().slice(0, 6))).toEqual(['seed 2', 'seed 2']);
    const untimed = (r: typeof whole) => claimFigures(r, (id) => id.startsWith('benchmark'));
    expect(untimed(resumed).length).toBeGreaterThan(5);
    // RMIA runs on the LiRA unit's models (3 models: offline a tuned on the two other models of each target)
    expect(untimed(resumed).map((c) => c[0])).toEqual(expect.arrayContaining(['rmia-beats-loss', 'rmia-offline-beats-lira-offline']));
    expect(untimed(resumed)).toEqual(untimed(whole));
    expect((resumed.summary.table as { rows: unknown[] }).rows).toEqual((whole.summary.table as { rows: unknown[] }).rows);
    expect(metrics.resumed).toHaveLength(metrics.whole.length);
  }, 300_000);
});
