import { describe, expect, it } from 'vitest';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { FULL_CONFIG, QUICK_CONFIG, resolvePrivacyConfig, runPrivacyStudy } from '../src/experiment.js';

/** `CODE: problem` of the TrellisError `f` throws. */
function codeOf(f: () => unknown): string {
  const e = trellisErrorOf(f);
  return `${e.code}: ${e.problem}`;
}

describe('privacy --set overrides (resolvePrivacyConfig)', () => {
  it('is the preset without overrides, and puts the recipe keys into the recipe', () => {
    expect(resolvePrivacyConfig('quick', undefined)).toEqual(QUICK_CONFIG);
    expect(resolvePrivacyConfig('full', {})).toEqual(FULL_CONFIG);
    const c = resolvePrivacyConfig('quick', { epochs: '5', lr: '0.01', batchSize: '64', weightDecay: '0', members: '100', methods: 'vanilla,crl', liraMethods: '' });
    expect(c.recipe).toEqual({ ...QUICK_CONFIG.recipe, epochs: 5, lr: 0.01, batchSize: 64, weightDecay: 0 });
    expect(c).toMatchObject({ members: 100, methods: ['vanilla', 'crl'], liraMethods: [], shadows: QUICK_CONFIG.shadows });
  });
  it('rejects unknown keys, unknown methods and out-of-range values before anything trains', () => {
    expect(codeOf(() => resolvePrivacyConfig('quick', { epoch: '5' }))).toMatch(/^UNKNOWN_PARAM: privacy has no parameter "epoch"/);
    expect(codeOf(() => resolvePrivacyConfig('quick', { methods: 'vanila' }))).toMatch(/^BAD_PARAM: .*"vanila" is not allowed/);
    expect(codeOf(() => resolvePrivacyConfig('quick', { liraMethods: 'crl,nope' }))).toMatch(/^BAD_PARAM: .*"nope"/);
    expect(codeOf(() => resolvePrivacyConfig('quick', { lr: '-1' }))).toMatch(/^BAD_PARAM: privacy: --set lr=-1: -1 is out of range/);
    expect(codeOf(() => resolvePrivacyConfig('quick', { lr: 'abc' }))).toMatch(/^BAD_PARAM: .*not a number/);
    expect(codeOf(() => resolvePrivacyConfig('quick', { members: '0' }))).toMatch(/^BAD_PARAM/);
    expect(codeOf(() => resolvePrivacyConfig('quick', { epochs: '2.5' }))).toMatch(/^BAD_PARAM: .*not a whole number/);
    expect(codeOf(() => resolvePrivacyConfig('quick', { liraModels: '1' }))).toMatch(/^BAD_PARAM: .*no reference model/);
    expect(() => resolvePrivacyConfig('quick', { liraModels: '0' })).not.toThrow();
    expect(resolvePrivacyConfig('full', { rmiaPopulation: '0' }).rmiaPopulation).toBe(0);
    expect(codeOf(() => resolvePrivacyConfig('quick', { rmiaPopulation: '-1' }))).toMatch(/^BAD_PARAM: /);
  });

  it('an RMIA population larger than the pool left outside the target and shadow halves is refused before anything trains', async () => {
    const log: string[] = [];
    const config = { ...QUICK_CONFIG, rmiaPopulation: 100_000 };
    await expect(runPrivacyStudy(config, [1], { log: (l) => log.push(l), progress: false })).rejects.toMatchObject({ code: 'BAD_PARAM', problem: expect.stringMatching(/rmiaPopulation=100000 .* 67946 left/) });
    expect(log.some((l) => /train/.test(l))).toBe(false);
  });
});
