import { describe, expect, it } from 'vitest';
import { fullConfig, quickConfig, resolveStudyConfig, STUDY_METHODS } from '../src/experiment.js';

describe('uda-calibration --set overrides (resolveStudyConfig)', () => {
  it('is the preset without overrides, and maps method ids to their specs', () => {
    expect(resolveStudyConfig('quick', undefined)).toEqual(quickConfig());
    expect(resolveStudyConfig('full', {})).toEqual(fullConfig());
    const c = resolveStudyConfig('quick', { datasets: 'mnist', shifts: 'contrast', severities: '3,4,5', methods: 'tent,dec', ablations: 'decBce', trainSize: '1000' });
    expect(c).toMatchObject({ datasets: ['mnist'], shifts: ['contrast'], severities: [3, 4, 5], trainSize: 1000 });
    expect(c.methods).toEqual([STUDY_METHODS.tent, STUDY_METHODS.dec]);
    expect(c.ablations).toEqual([STUDY_METHODS.decBce]);
  });
  it('rejects unknown keys, shifts, methods and out-of-range values before any data is loaded', () => {
    expect(() => resolveStudyConfig('quick', { shift: 'contrast' })).toThrow(/uda-calibration has no parameter "shift"/);
    expect(() => resolveStudyConfig('quick', { shifts: 'contrast,fog2' })).toThrow(/"fog2" is not allowed/);
    expect(() => resolveStudyConfig('quick', { datasets: 'cifar' })).toThrow(/"cifar" is not allowed — pass a comma list of one or more values, each one of mnist, fashion/);
    expect(() => resolveStudyConfig('quick', { models: 'mlp' })).toThrow(/"mlp" is not allowed/);
    expect(() => resolveStudyConfig('quick', { methods: 'tent,dek' })).toThrow(/"dek"/);
    expect(() => resolveStudyConfig('quick', { severities: '9' })).toThrow(/9 is out of range/);
    expect(() => resolveStudyConfig('quick', { targetSize: '0' })).toThrow(/--set targetSize=0: 0 is out of range/);
    expect(() => resolveStudyConfig('quick', { batchSize: '12.5' })).toThrow(/not a whole number/);
    expect(resolveStudyConfig('quick', { ablations: '' }).ablations).toEqual([]);
  });
});
