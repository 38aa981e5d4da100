import { readFile } from 'node:fs/promises';
import { useBackend } from '@trellis-ml/core';
import { claimFigures, interruptAndResume } from '@trellis-ml/testkit';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { experiment } from '../src/index.js';

// a resume check compares two runs on one backend: wasm gives the same arithmetic every run, several times faster than cpu
beforeAll(() => useBackend('wasm'));

describe('trellis dynamic-depth --resume', () => {
  it('an interrupted study resumes after its last finished seed and ends with the uninterrupted run\'s accuracies', async () => {
    const params = { dataset: 'mnist', trainLimit: 600, testLimit: 300, width: 16, blocks: 2, depths: '1,2', epochs: 1, timedRuns: 2 };
    const { whole, resumed, resumedLog, metrics, cleanup } = await interruptAndResume(experiment, { mode: 'quick', seed: 1, seeds: [1, 2], params });
    onTestFinished(cleanup); // the runs' temporary directory
    expect(resumedLog.join('\n')).toContain('1 finished seeds are replayed');
    // accuracy, the saved model's reload and the bad-input checks are the same (latency is measured anew for the second seed)
    const timed = new Set(['latency-falls-with-depth', 'switching-is-free', 'bad-input-errors']);
    const claims = (r: typeof whole) => claimFigures(r, (id) => timed.has(id));
    expect(claims(resumed)).toHaveLength(5);
    expect(claims(resumed)).toEqual(claims(whole));
    expect(resumed.claims.find((c) => c.id === 'bad-input-errors')!.measured).toBe(3);
    const accuracies = async (r: typeof whole) => (JSON.parse(await readFile(r.summaryPath, 'utf8')) as { perDepth: Array<Record<string, unknown>> }).perDepth
      .map((d) => Object.entries(d).map(([k, v]) => [k, (v as { accuracy?: unknown }).accuracy ?? v]));
    expect(await accuracies(resumed)).toEqual(await accuracies(whole));
    expect(metrics.resumed).toHaveLength(metrics.whole.length);
  }, 300_000);
});
