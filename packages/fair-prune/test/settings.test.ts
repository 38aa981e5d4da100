import { describe, expect, it } from 'vitest';
import { DEFAULT_MITIGATION, FULL_DUAL_LR, FULL_TRAIN_SIZE, RECOVERED_FINE_TUNE, settingsFor } from '../src/index.js';
import { codeOf } from './setup.js';

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
    expect(codeOf(() => settingsFor('full', { designs: 'classes,majority' }))).toBe('BAD_SETTING');
  });

  it('--full fine-tunes on the spec §7.3 schedule; fineTune=recovered is the validation-chosen 12 epochs at 1e-3', () => {
    expect(settingsFor('full')).toMatchObject({ fineTuneEpochs: 3, fineTuneLr: 3e-4 });
    expect(RECOVERED_FINE_TUNE).toEqual({ epochs: 12, lr: 1e-3 });
    expect(settingsFor('full', { fineTune: 'recovered' })).toMatchObject({ fineTuneEpochs: 12, fineTuneLr: 1e-3 });
    expect(settingsFor('quick', { fineTune: 'spec' })).toMatchObject({ fineTuneEpochs: 3, fineTuneLr: 3e-4 });
    // explicit epochs / lr still win over the preset
    expect(settingsFor('full', { fineTune: 'recovered', fineTuneEpochs: 5 })).toMatchObject({ fineTuneEpochs: 5, fineTuneLr: 1e-3 });
    expect(codeOf(() => settingsFor('full', { fineTune: 'long' }))).toBe('BAD_SETTING');
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
