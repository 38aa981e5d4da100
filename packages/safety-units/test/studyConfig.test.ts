import { describe, expect, it } from 'vitest';
import { TrellisError } from '@trellis-ml/core';
import { studyConfig } from '../src/studyConfig.js';

describe('study presets', () => {
  it('--full sweeps the RU alignment budget over 5–40 % beside the claimed 20 % (spec §10.3 step 7); --quick does not', () => {
    const full = studyConfig('full');
    expect(full.budgetFraction).toBe(0.2);
    expect(full.budgetSweep).toEqual([0.05, 0.1, 0.3, 0.4]);
    expect(studyConfig('quick').budgetSweep).toEqual([]);
    expect(studyConfig('full', { budgetSweep: '0.15, 0.25' }).budgetSweep).toEqual([0.15, 0.25]);
    expect(studyConfig('full', { budgetSweep: '' }).budgetSweep).toEqual([]);
  });
  it('rejects a sweep fraction outside (0, 1) before any training, saying what to pass', () => {
    let err: unknown;
    try {
      studyConfig('full', { budgetSweep: '0.1,1.5' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TrellisError);
    expect((err as TrellisError).code).toBe('BAD_PARAM');
    expect((err as Error).message).toMatch(/--set budgetSweep=0.1,1.5: 1.5 is out of range — pass a comma list of values, each a number > 0 and < 1/);
  });
  it('rejects keys it does not have and values outside their range before any training (they used to be ignored or fail minutes in)', () => {
    expect(() => studyConfig('quick', { seeds: '0' })).toThrowError(/safety-units has no parameter "seeds"/);
    expect(() => studyConfig('quick', { freezeTotal: '2' })).toThrowError(/--set freezeTotal=2: 2 is out of range — pass a number > 0 and < 1/);
    expect(() => studyConfig('quick', { budgetFraction: '0' })).toThrowError(/out of range/);
    expect(() => studyConfig('quick', { finetuneLr: '-1e-3' })).toThrowError(/out of range/);
    expect(() => studyConfig('quick', { layers: '1.5' })).toThrowError(/not a whole number/);
    expect(() => studyConfig('quick', { normalize: 'zscore' })).toThrowError(/"zscore" is not allowed — pass one of zscore-module, rank-global, none/);
    expect(() => studyConfig('quick', { probe: 'no' })).toThrowError(/probe=no is not true or false/);
    expect(studyConfig('quick', { freezeTotal: '0.05', normalize: 'none' })).toMatchObject({ freezeTotal: 0.05, normalize: 'none' });
  });

  it('sensitivity and probe options: 3 scoring seeds and probe steps 0, 1, 2 by default; bad values are clear errors', () => {
    for (const mode of ['quick', 'full'] as const) {
      const c = studyConfig(mode);
      expect(c.scoringSeeds).toBe(3);
      expect(c.probe).toBe(true);
      expect(c.probeSteps).toEqual([0, 1, 2]);
    }
    expect(studyConfig('quick', { probe: 'false' }).probe).toBe(false);
    expect(() => studyConfig('quick', { scoringSeeds: 1 })).toThrowError(/scoringSeeds 1 is not an integer ≥ 2/);
    expect(() => studyConfig('quick', { probeSteps: '0,-1' })).toThrowError(/probe step -1/);
  });
});
