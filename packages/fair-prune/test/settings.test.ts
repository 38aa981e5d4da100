import { describe, expect, it } from 'vitest';
import { DEFAULT_MITIGATION, FULL_DUAL_LR, FULL_TRAIN_SIZE, RECOVERED_FINE_TUNE, settingsFor } from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';

describe('reproduction settings', () => {
  it('--full uses the spec size (60,000 − 5,000 validation) and the validation-chosen dual step; --quick keeps its pilot', () => {
    const full = settingsFor('full');
    expect(FULL_TRAIN_SIZE).toBe(55000);
    expect(full.trainSize).toBe(55000);
    expect(full.mitigation).toEqual({ ...DEFAULT_MITIGATION, dualLr: 1e-3 });
    expect(FULL_DUAL_LR).toBe(1e-3);
    expect(full.designs).toEqual(['classes', 'minority-classes', 'rotated-minority']);
    const quick = settingsFor('quick');
    expect(quick.trainSize).toBe(4000);
    expect(quick.mitigation).toEqual(DEFAULT_MITIGATION);
    expect(settingsFor('full', { trainSize: 12000, dualLr: 0.01 })).toMatchObject({ trainSize: 12000, mitigation: { dualLr: 0.01 } });
  });

  it('--full trains the dense model 15 epochs on Fashion and 10 on MNIST (spec §7.3) unless --set denseEpochs says otherwise', () => {
    expect(settingsFor('full').denseEpochs).toBe(15);
    expect(settingsFor('full', { dataset: 'mnist' })).toMatchObject({ dataset: 'mnist', denseEpochs: 10 });
    expect(settingsFor('full', { dataset: 'mnist', denseEpochs: 12 }).denseEpochs).toBe(12);
    expect(settingsFor('quick', { dataset: 'mnist' }).denseEpochs).toBe(10);
  });

  it('--set designs / baselineSparsities select a targeted run, in the canonical design order', () => {
    const s = settingsFor('full', { designs: 'rotated-minority, classes', baselineSparsities: '' });
    expect(s.designs).toEqual(['classes', 'rotated-minority']);
    expect(s.baselineSparsities).toEqual([]);
    expect(settingsFor('full', { baselineSparsities: '0.95,0.99' }).baselineSparsities).toEqual([0.95, 0.99]);
    expect(trellisErrorOf(() => settingsFor('full', { designs: 'classes,majority' })).code).toBe('BAD_PARAM');
  });

  it('--full fine-tunes on the spec §7.3 schedule; fineTune=recovered is the validation-chosen 12 epochs at 1e-3', () => {
    expect(settingsFor('full')).toMatchObject({ fineTuneEpochs: 3, fineTuneLr: 3e-4 });
    expect(RECOVERED_FINE_TUNE).toEqual({ epochs: 12, lr: 1e-3 });
    expect(settingsFor('full', { fineTune: 'recovered' })).toMatchObject({ fineTuneEpochs: 12, fineTuneLr: 1e-3 });
    expect(settingsFor('quick', { fineTune: 'spec' })).toMatchObject({ fineTuneEpochs: 3, fineTuneLr: 3e-4 });
    // explicit epochs / lr still win over the preset
    expect(settingsFor('full', { fineTune: 'recovered', fineTuneEpochs: 5 })).toMatchObject({ fineTuneEpochs: 5, fineTuneLr: 1e-3 });
    expect(trellisErrorOf(() => settingsFor('full', { fineTune: 'long' })).code).toBe('BAD_PARAM');
  });
});

describe('--set validation (before anything trains)', () => {
  it('rejects unknown keys, out-of-range sparsities and bad mitigation options with the allowed values', () => {
    expect(() => settingsFor('quick', { epochs: '0' })).toThrow(/fair-prune has no parameter "epochs" — use one of: dataset, trainSize/);
    expect(() => settingsFor('quick', { sparsities: '0.5,1.5' })).toThrow(/sparsities=0.5,1.5: 1.5 is out of range — pass a comma list of one or more values, each a number ≥ 0 and < 1/);
    expect(() => settingsFor('quick', { trainSize: 'abc' })).toThrow(/trainSize=abc is not a number/);
    expect(() => settingsFor('quick', { dataset: 'cifar' })).toThrow(/"cifar" is not allowed — pass one of fashion, mnist/);
    expect(() => settingsFor('quick', { hidden: '128,0' })).toThrow(/0 is out of range/);
    // 0 fine-tune epochs used to pass here and fail only after the dense model had trained
    expect(() => settingsFor('quick', { fineTuneEpochs: '0' })).toThrow(/fineTuneEpochs=0: 0 is out of range/);
    expect(() => settingsFor('quick', { violation: 'two-sided' })).toThrow(/"two-sided" is not allowed/);
    expect(() => settingsFor('quick', { dualLr: '0' })).toThrow(/dualLr=0: 0 is out of range/);
    expect(settingsFor('quick', { violation: 'abs', target: 'loss', hidden: '64,32' })).toMatchObject({ hidden: [64, 32], mitigation: { violation: 'abs', target: 'loss' } });
  });
});

describe('G3 gradient-norm ratio (spec §7.2: ≈ n_0/n_1 at a stationary point)', () => {
  it('is the rotated group norm over the upright one, and needs exactly the two G3 groups', async () => {
    const { minorityGradientRatio } = await import('../src/experiment.js');
    // stationary point with n_0 = 19 n_1: 19·g_0 + g_1 = 0 → ‖g_1‖ = 19‖g_0‖
    expect(minorityGradientRatio([0.05, 0.95])).toBeCloseTo(19, 12);
    expect(minorityGradientRatio([0.2, 0.1])).toBe(0.5);
    expect(() => minorityGradientRatio([1, 2, 3])).toThrow(/needs the 2 groups of the rotated-minority design, got 3/);
  });
});
