import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Trainer, useBackend } from '@trellis-ml/core';
import { corrupt, loadMnist } from '@trellis-ml/datasets';
import { calibrationReport, createAdaptation, experiment, mlpBn, runStream, type MethodSpec } from '../src/index.js';

beforeAll(async () => {
  // real-data training runs on core's wasm backend (several times faster than cpu)
  await useBackend('wasm');
});

describe('end to end on MNIST (smoke profile, wasm backend)', () => {
  it('source, BN-adapt, TENT and DEC on gaussian_noise s5: finite reports, TENT lowers entropy', async () => {
    const all = loadMnist({ split: 'train', limit: 1500 });
    const [train, validation] = all.split(0.8, 1);
    const test = loadMnist({ split: 'test', limit: 300 });
    const source = mlpBn({ inputShape: [28, 28, 1], numClasses: 10, hidden: [64, 32], seed: 1 });
    const trainer = new Trainer({ model: source, seed: 1, batchSize: 64 });
    await trainer.fit(train, { epochs: 2 });
    trainer.dispose();
    const target = corrupt(test, 'gaussian_noise', 5, 1);
    const reports: Record<string, ReturnType<typeof calibrationReport>> = {};
    const specs: MethodSpec[] = [{ kind: 'source' }, { kind: 'bn-adapt' }, { kind: 'tent' }, { kind: 'dec' }];
    for (const spec of specs) {
      const m = await createAdaptation(spec, source, { seed: 1, validation });
      const r = await runStream(m, target, { seed: 1 });
      m.dispose();
      reports[spec.kind] = calibrationReport(r.online[0]!, test.labels!, 10);
      const post = calibrationReport(r.post, test.labels!, 10);
      for (const rep of [reports[spec.kind]!, post]) for (const v of [rep.accuracy, rep.ece, rep.nll, rep.brier, rep.meanEntropyBits]) expect(Number.isFinite(v)).toBe(true);
    }
    expect(reports.tent!.meanEntropyNats).toBeLessThan(reports.source!.meanEntropyNats);
    expect(reports['bn-adapt']!.accuracy).toBeGreaterThan(reports.source!.accuracy);
    source.dispose();
  });

  it('the experiment writes a summary with claims and a report', async () => {
    const out = await mkdtemp(join(tmpdir(), 'uda-'));
    const result = await experiment.run({
      mode: 'quick', seed: 1, out, log: () => undefined,
      params: { datasets: 'mnist', trainSize: 300, valSize: 100, epochs: 1, targetSize: 100, shifts: 'gaussian_noise', severities: '5', methods: 'source,tent,dec,t3a', trajectoryPasses: 2 },
    });
    const summary = JSON.parse(await readFile(result.summaryPath, 'utf8')) as { claims: Array<{ id: string; holds: boolean; measured: number }> };
    const ids = summary.claims.map((c) => c.id);
    expect(ids).toEqual(expect.arrayContaining(['tent-raises-accuracy', 'dec-accuracy-parity', 'dec-ece-half-of-tent', 'no-target-labels', 'bad-input-errors', 'tent-ece-rises-over-passes', 't3a-over-certain']));
    expect(summary.claims.find((c) => c.id === 'no-target-labels')!.holds).toBe(true);
    expect(summary.claims.find((c) => c.id === 'bad-input-errors')!.measured).toBe(3);
    const report = await readFile(join(result.runDir, 'report.md'), 'utf8');
    expect(report).toContain('Reliability diagrams');
    expect(report).toContain('| claim |');
  });
});
