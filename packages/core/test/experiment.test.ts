import { describe, expect, it } from 'vitest';
import { applyParams, checkRunSeed, describeParams, experimentSeeds, MAX_SEED, TrellisError } from '@trellis-ml/core';
import { codeOf } from './helpers.js';

const preset = { epochs: 5, lr: 0.05, augment: false, tier: 'mlp', grid: [1, 4] };


describe('applyParams (--set overrides of a preset)', () => {
  it('reads each value as the type of the preset field and leaves the preset itself alone', () => {
    const out = applyParams(preset, { epochs: '8', lr: 0.1, augment: 'true', tier: 'conv', grid: '1, 10 20' }, { technique: 't' });
    expect(out).toEqual({ epochs: 8, lr: 0.1, augment: true, tier: 'conv', grid: [1, 10, 20] });
    expect(preset).toEqual({ epochs: 5, lr: 0.05, augment: false, tier: 'mlp', grid: [1, 4] });
    expect(applyParams(preset, { augment: '0' }, { technique: 't' }).augment).toBe(false);
    expect(applyParams(preset, undefined, { technique: 't' })).toEqual(preset);
  });
  it('rejects numbers that are not numbers, and unknown keys unless told to ignore them', () => {
    expect(codeOf(() => applyParams(preset, { epochs: 'many' }, { technique: 't' }))).toBe('BAD_PARAM');
    expect(codeOf(() => applyParams(preset, { epochs: '' }, { technique: 't' }))).toBe('BAD_PARAM');
    expect(codeOf(() => applyParams(preset, { grid: '1,x' }, { technique: 't' }))).toBe('BAD_PARAM');
    expect(() => applyParams(preset, { epoch: '3' }, { technique: 'distill' })).toThrow(/distill has no parameter "epoch"/);
    expect(applyParams(preset, { epoch: '3' }, { technique: 't', unknownKeys: 'ignore' })).toEqual(preset);
    // names an object inherits are no parameters (`--set constructor=1` was taken, with Object as its rule)
    for (const key of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(() => applyParams(preset, JSON.parse(`{"${key}": "1"}`) as Record<string, string>, { technique: 't', rules: { epochs: { min: 1 } } }), key)
        .toThrow(`t has no parameter "${key}"`);
    }
  });
  it('rejects a boolean that is neither true nor false (a typo must not silently mean false)', () => {
    expect(() => applyParams(preset, { augment: 'yes' }, { technique: 't' })).toThrow(/--set augment=yes is not true or false/);
    expect(applyParams(preset, { augment: false }, { technique: 't' }).augment).toBe(false);
  });
  it('reads a list of strings as strings and checks each against its choices', () => {
    const p = { datasets: ['mnist', 'fashion'], seeds: [] as number[] };
    const rules = { datasets: { choices: ['mnist', 'fashion'], minLength: 1 } };
    expect(applyParams(p, { datasets: 'fashion' }, { technique: 't', rules }).datasets).toEqual(['fashion']);
    expect(applyParams(p, { seeds: '4 5' }, { technique: 't' }).seeds).toEqual([4, 5]);
    expect(() => applyParams(p, { datasets: 'mnist,cifar' }, { technique: 't', rules })).toThrow(/--set datasets=mnist,cifar: "cifar" is not allowed/);
    expect(() => applyParams(p, { datasets: '' }, { technique: 't', rules })).toThrow(/needs at least 1 value/);
  });
  it('checks ranges and whole numbers, naming the allowed values in the fix', () => {
    const rules = { epochs: { integer: true, min: 1 }, lr: { above: 0 }, grid: { min: 1, max: 20 } };
    expect(applyParams(preset, { epochs: '1', lr: '1e-4', grid: '1,20' }, { technique: 't', rules })).toMatchObject({ epochs: 1, lr: 1e-4, grid: [1, 20] });
    const err = (params: Record<string, string>): TrellisError => {
      try {
        applyParams(preset, params, { technique: 't', rules });
      } catch (e) {
        return e as TrellisError;
      }
      throw new Error('no error');
    };
    expect(err({ epochs: '0' }).problem).toBe('t: --set epochs=0: 0 is out of range');
    expect(err({ epochs: '0' }).fix).toBe('pass a whole number ≥ 1');
    expect(err({ grid: '0' }).fix).toBe('pass a comma list of values, each a number ≥ 1 and ≤ 20');
    expect(err({ epochs: '2.5' }).message).toMatch(/2.5 is not a whole number/);
    expect(err({ lr: '0' }).code).toBe('BAD_PARAM');
    expect(err({ lr: '-1' }).code).toBe('BAD_PARAM');
    expect(err({ grid: '1,21' }).message).toMatch(/21 is out of range/);
  });
  it('reads another spelling in a rule\'s aliases as the choice it names, in strings and in lists', () => {
    const p = { dataset: 'fashion', datasets: ['mnist'] };
    const aliases = { 'fashion-mnist': 'fashion' };
    const rules = { dataset: { choices: ['fashion', 'mnist'], aliases }, datasets: { choices: ['fashion', 'mnist'], aliases } };
    expect(applyParams(p, { dataset: 'fashion-mnist', datasets: 'mnist,fashion-mnist' }, { technique: 't', rules })).toEqual({ dataset: 'fashion', datasets: ['mnist', 'fashion'] });
    expect(() => applyParams(p, { dataset: 'fashion-mnist' }, { technique: 't', rules: { dataset: { choices: ['fashion', 'mnist'] } } })).toThrow(/"fashion-mnist" is not allowed/);
    // a name Object.prototype holds is no alias: it read as a function (Object, toString) and slipped past the choices
    expect(() => applyParams(p, { dataset: 'constructor' }, { technique: 't', rules })).toThrow(/--set dataset=constructor: "constructor" is not allowed/);
    expect(() => applyParams(p, { datasets: 'mnist,toString' }, { technique: 't', rules })).toThrow(/"toString" is not allowed/);
  });
  it('accepts keys the preset leaves out or holds as null when a rule gives their type', () => {
    const p = { pilot: null as number | null, tier: 'mlp' };
    const rules = { pilot: { type: 'number' as const, integer: true }, retrainN: { type: 'number' as const, min: 1 }, tier: { choices: ['mlp', 'conv'] } };
    expect(applyParams(p, { pilot: '3', retrainN: '500' }, { technique: 't', rules })).toEqual({ pilot: 3, tier: 'mlp', retrainN: 500 });
    expect(() => applyParams(p, { tier: 'cnn' }, { technique: 't', rules })).toThrow(/"cnn" is not allowed/);
    expect(() => applyParams(p, { other: '1' }, { technique: 't', rules })).toThrow(/use one of: pilot, tier, retrainN/);
  });
});

describe('experimentSeeds', () => {
  it('defaults to one seed in quick mode and three in full mode, and refuses repeated or fractional seeds', () => {
    expect(experimentSeeds({ mode: 'quick', seed: 4, out: '' })).toEqual([4]);
    expect(experimentSeeds({ mode: 'full', seed: 4, out: '' })).toEqual([4, 5, 6]);
    expect(experimentSeeds({ mode: 'full', seed: 4, out: '', seeds: [7, 1] })).toEqual([7, 1]);
    expect(() => experimentSeeds({ mode: 'full', seed: 1, out: '', seeds: [1, 2, 1] })).toThrow(/seeds 1,2,1 repeat 1: a repeated seed reruns the same run/);
    expect(codeOf(() => experimentSeeds({ mode: 'full', seed: 1, out: '', seeds: [1.5] }))).toBe('BAD_SEEDS');
    // core's Rng keeps 32 bits: 2^32 + 1 would silently rerun seed 1, and −1 seed 2^32 − 1
    expect(() => experimentSeeds({ mode: 'full', seed: 1, out: '', seeds: [1, 2, 2 ** 32 + 1] }))
      .toThrow(/seeds 1,2,4294967297 name one generator seed twice \(seeds are 32-bit: 4294967297 runs as 1\)/);
    expect(() => experimentSeeds({ mode: 'full', seed: 1, out: '', seeds: [2 ** 32 - 1, -1] })).toThrow(/-1 runs as 4294967295/);
    expect(experimentSeeds({ mode: 'full', seed: 1, out: '', seeds: [0, 2 ** 32 - 1, 7] })).toEqual([0, 2 ** 32 - 1, 7]);
  });

  it('refuses a seed the 32-bit Rng would run as another (it ran truncated and was recorded as given)', () => {
    expect(MAX_SEED).toBe(4294967295);
    expect(() => experimentSeeds({ mode: 'quick', seed: 2 ** 32 + 1, out: '' })).toThrow(/seed 4294967297 is not a seed from 0 to 4294967295 \(.*would use seed 1 while its record says 4294967297\)/);
    expect(() => experimentSeeds({ mode: 'quick', seed: -1, out: '' })).toThrow(/would use seed 4294967295/);
    expect(() => experimentSeeds({ mode: 'full', seed: 1, out: '', seeds: [3, -(2 ** 31)] })).toThrow(/seed -2147483648 of seeds 3,-2147483648 is not a seed from 0 to 4294967295/);
    // full mode's seed + 1 and + 2 too
    expect(experimentSeeds({ mode: 'full', seed: MAX_SEED - 2, out: '' })).toEqual([MAX_SEED - 2, MAX_SEED - 1, MAX_SEED]);
    expect(codeOf(() => experimentSeeds({ mode: 'full', seed: MAX_SEED - 1, out: '' }))).toBe('BAD_SEED');
    expect(() => checkRunSeed(2.5, '--seed 2.5')).toThrow(/--seed 2.5 is not a seed from 0 to 4294967295/);
    expect(() => checkRunSeed(NaN)).toThrow(/seed NaN is not a seed from 0 to 4294967295 — pass a whole number/);
  });
});

describe('describeParams (the rows of `trellis <technique> --help`)', () => {
  it('lists each key with its quick and full defaults and what it accepts, keys only the rules name last', () => {
    const rules = { epochs: { integer: true, min: 1 }, tier: { choices: ['mlp', 'conv'] }, grid: { above: 0, minLength: 1 }, pilotSeed: { type: 'number' as const, integer: true } };
    const rows = describeParams(
      { defaults: { epochs: 3, tier: 'mlp', grid: [1, 4], augment: false, names: ['a'], lr: 0.1, extra: [] as number[] }, rules },
      { defaults: { epochs: 15, tier: 'mlp', grid: [1, 4, 10], augment: true, names: ['a', 'b'], lr: 0.1, extra: [] as number[] }, rules },
    );
    expect(rows).toEqual([
      ['epochs', '3', '15', 'a whole number ≥ 1'],
      ['tier', 'mlp', 'mlp', 'one of mlp, conv'],
      ['grid', '1,4', '1,4,10', 'a comma list, each a number > 0'],
      ['augment', 'false', 'true', 'true or false'],
      ['names', 'a', 'a,b', 'a comma list, each text'],
      ['lr', '0.1', '0.1', 'a number'],
      ['extra', '(empty)', '(empty)', 'a comma list, each a number'],
      ['pilotSeed', '–', '–', 'a whole number'],
    ]);
  });
});
