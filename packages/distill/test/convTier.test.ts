import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useBackend } from '@trellis-ml/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPERIMENT_CONFIGS, experiment, readParams } from '../src/experiment.js';

// The pure-JS cpu backend's conv back-prop takes ≈ 1 s per 8-image LeNet step (44 s for CNN-T), so this
// smoke run uses the embedded default, wasm with core's conv training kernels (≈ 80× faster).
let out = '';
beforeAll(async () => {
  await useBackend('wasm');
  out = await mkdtemp(join(tmpdir(), 'distill-conv-'));
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

const TINY = {
  tier: 'conv', trainSize: 120, valSize: 40, testSize: 40, batchSize: 40, teacherEpochs: 1, teacherMilestones: '9', studentEpochs: 1,
  studentMilestones: '9', aeEpochs: 1, samplesPerClass: 3, temperatureSweepAlpha: '',
};

describe('conv tier (spec Tier B): tiny smoke run of the reproduction', () => {
  it('trains LeNet-5+BN students, the CNN-T teacher and the ConvAE generator; every claim is computed and finite', async () => {
    const before = tf.memory().numTensors;
    const result = await experiment.run({ mode: 'quick', seed: 1, out, log: () => undefined, params: TINY });
    const summary = JSON.parse(await readFile(result.summaryPath, 'utf8')) as {
      tier: string; inputs: { padded28to32: boolean; resize28: string };
      models: { student: { trainableParams: number; forwardMacs: number }; teacher: { trainableParams: number; forwardMacs: number }; autoencoder: { params: number; forwardMacs: number } };
      claims: Array<{ id: string; measured: number }>; accuracy: Record<string, { finalTestMean: number }>;
    };
    expect(summary.tier).toBe('conv');
    expect(summary.inputs).toMatchObject({ padded28to32: true, resize28: 'pad' });
    expect(summary.models.student).toMatchObject({ trainableParams: 61750, forwardMacs: 416520 });
    expect(summary.models.teacher).toMatchObject({ trainableParams: 140778, forwardMacs: 28607744 });
    expect(summary.models.autoencoder).toMatchObject({ params: 46585, forwardMacs: 1277952 });
    // the same claim ids as the MLP tier, plus Tier B's forward-MAC ratio
    const ids = summary.claims.map((c) => c.id);
    expect(ids).toEqual(['reffakd-ge-ce', 'reffakd-near-kd', 'generator-macs-fraction', 'generator-time-fraction', 'pipeline-macs-fraction', 'cost-ratios-track-macs', 'shuffled-control',
      'reffakd-beats-ls', 'matrix-diagonal', 'matrix-structure', 'loss-test-vectors', 'bad-input-errors', 'convae-teacher-forward-macs']);
    for (const c of summary.claims) expect(Number.isFinite(c.measured), c.id).toBe(true);
    expect(result.claims.find((c) => c.id === 'convae-teacher-forward-macs')!.holds).toBe(true);
    expect(Object.keys(summary.accuracy)).toEqual(['CE', 'LS', 'Tf-KD_reg', 'KD (teacher)', 'ReffAKD-AE', 'ReffAKD-pixels', 'ReffAKD-random-encoder', 'ReffAKD-shuffled', 'ReffAKD+DKD', 'ReffAKD+DIST']);
    const report = await readFile(join(result.runDir, 'report.md'), 'utf8');
    expect(report).toContain('LeNet-5+BN');
    expect(report).toContain('CNN-T 32-32-64-64-128');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('tier defaults to mlp (quick and full unchanged); bad tier / augment values are rejected', () => {
    expect(EXPERIMENT_CONFIGS.quick.tier).toBe('mlp');
    expect(EXPERIMENT_CONFIGS.full.tier).toBe('mlp');
    expect(EXPERIMENT_CONFIGS.full.augment).toBe(false);
    expect(readParams({ mode: 'full', seed: 1, out, params: { tier: 'conv', teacherChannels: '8,8,16,16,32' } })).toMatchObject({ tier: 'conv', teacherChannels: [8, 8, 16, 16, 32], studentEpochs: 15 });
    expect(() => readParams({ mode: 'quick', seed: 1, out, params: { tier: 'lenet' } })).toThrow(/--set tier=lenet: "lenet" is not allowed — pass one of mlp, conv \(mlp is Tier A; conv is Tier B/);
    expect(() => readParams({ mode: 'quick', seed: 1, out, params: { augment: true } })).toThrow(/conv tier only/);
  });
});
