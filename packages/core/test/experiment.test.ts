import { describe, expect, it } from 'vitest';
import { applyParams, TrellisError } from '@trellis-ml/core';

const preset = { epochs: 5, lr: 0.05, augment: false, tier: 'mlp', grid: [1, 4] };

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof TrellisError ? e.code : String(e);
  }
  return 'no error';
}

describe('applyParams (--set overrides of a preset)', () => {
  it('reads each value as the type of the preset field and leaves the preset itself alone', () => {
    const out = applyParams(preset, { epochs: '8', lr: 0.1, augment: 'true', tier: 'conv', grid: '1, 10 20' }, { technique: 't' });
    expect(out).toEqual({ epochs: 8, lr: 0.1, augment: true, tier: 'conv', grid: [1, 10, 20] });
    expect(preset).toEqual({ epochs: 5, lr: 0.05, augment: false, tier: 'mlp', grid: [1, 4] });
    expect(applyParams(preset, { augment: 'yes' }, { technique: 't' }).augment).toBe(false);
    expect(applyParams(preset, undefined, { technique: 't' })).toEqual(preset);
  });
  it('rejects numbers that are not numbers, and unknown keys unless told to ignore them', () => {
    expect(codeOf(() => applyParams(preset, { epochs: 'many' }, { technique: 't' }))).toBe('BAD_PARAM');
    expect(codeOf(() => applyParams(preset, { epochs: '' }, { technique: 't' }))).toBe('BAD_PARAM');
    expect(codeOf(() => applyParams(preset, { grid: '1,x' }, { technique: 't' }))).toBe('BAD_PARAM');
    expect(() => applyParams(preset, { epoch: '3' }, { technique: 'distill' })).toThrow(/distill has no parameter "epoch"/);
    expect(applyParams(preset, { epoch: '3' }, { technique: 't', unknownKeys: 'ignore' })).toEqual(preset);
  });
});
