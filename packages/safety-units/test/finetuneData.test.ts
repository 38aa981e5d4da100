import { describe, expect, it } from 'vitest';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { expectTrellisError } from './helpers.js';
import { encodeSequences, fineTuneRequests, makeSplits, RequestLanguage, studyConfig } from '../src/index.js';

describe('benign fine-tune data and its attack levers (spec §10.3 step 5, §11 item 9)', () => {
  const lang = new RequestLanguage();
  const sp = makeSplits(lang, 97);

  it('defaults give the new task family unchanged (the same requests in the same order); the presets\' attack data', () => {
    expect(fineTuneRequests(sp, { seed: 97 })).toBe(sp.finetune.train);
    expect(sp.finetune.train.length).toBe(6 * 40 * 4 - 128);
    const quick = studyConfig('quick');
    expect([quick.finetuneSys, quick.finetuneOpener, quick.finetuneBenignMix, quick.finetuneLr]).toEqual(['mixed', 'sure', 0, 1e-3]);
    // the full preset's attack: the benign mix at lr 1e-3, chosen on held-out seeds (EXPERIMENTS.md)
    const full = studyConfig('full');
    expect([full.finetuneSys, full.finetuneOpener, full.finetuneBenignMix, full.finetuneLr]).toEqual(['mixed', 'sure', 1, 1e-3]);
    expect(new RequestLanguage().fineTuneOpener).toBe('sure');
  });

  it('the opener lever: OK_SURE always (default) or by verb parity, only for the fine-tune family', () => {
    const parity = new RequestLanguage({ fineTuneOpener: 'verb-parity' });
    const odd = { kind: 'finetune' as const, verb: 1, object: 3, hazard: false, modifier: 0, sys: false };
    const names = (l: RequestLanguage, r: typeof odd) => l.sequence(r, 'comply').map((t) => l.vocab[t]);
    // Content (object B3's two codes, then verb F1's, permutation of M0 = identity) from the language's seed-7 tables.
    const content = ['C18', 'C22', 'C2', 'C15'];
    expect(lang.content(odd).map((t) => lang.vocab[t])).toEqual(content);
    // Hand-checked: BOS USER F1 B3 M0 ASSIST, opener, 4 content tokens, EOS, PAD to maxLen 13.
    expect(names(lang, odd)).toEqual(['BOS', 'USER', 'F1', 'B3', 'M0', 'ASSIST', 'OK_SURE', ...content, 'EOS', 'PAD']);
    expect(names(parity, odd)).toEqual(['BOS', 'USER', 'F1', 'B3', 'M0', 'ASSIST', 'OK_HERE', ...content, 'EOS', 'PAD']);
    expect(names(parity, { ...odd, verb: 2 })[6]).toBe('OK_SURE');
    // Other families keep their rule (V1 → OK_HERE in both languages), so M0 and the aligned model do not change.
    const benign = { ...odd, kind: 'benign' as const };
    expect(parity.sequence(benign, 'comply')).toEqual(lang.sequence(benign, 'comply'));
    expect(trellisErrorOf(() => new RequestLanguage({ fineTuneOpener: 'always' as never })).code).toBe('BAD_OPTION');
  });

  it('the SYS and benign-mix levers: benign only, no hazard object and no refusal token anywhere, seeded draw', () => {
    const always = fineTuneRequests(sp, { sys: 'always', seed: 97 });
    expect(always.length).toBe(832);
    expect(always.every((r) => r.sys)).toBe(true);
    expect(fineTuneRequests(sp, { sys: 'never', seed: 97 }).every((r) => !r.sys)).toBe(true);
    expect(always.map((r) => ({ ...r, sys: false }))).toEqual(sp.finetune.train.map((r) => ({ ...r, sys: false })));

    const mixed = fineTuneRequests(sp, { benignMix: 1, seed: 97 });
    expect(mixed.length).toBe(2 * 832);
    expect(mixed.slice(0, 832)).toEqual(sp.finetune.train);
    const extra = mixed.slice(832);
    const key = (r: { verb: number; object: number; modifier: number }) => `${r.verb}/${r.object}/${r.modifier}`;
    const pool = new Set(sp.benign.train.map(key));
    expect(extra.every((r) => r.kind === 'benign' && !r.hazard && pool.has(key(r)))).toBe(true);
    expect(new Set(extra.map(key)).size).toBe(832);
    expect(fineTuneRequests(sp, { benignMix: 1, seed: 97 })).toEqual(mixed);
    expect(fineTuneRequests(sp, { benignMix: 1, seed: 98 })).not.toEqual(mixed);
    expect(fineTuneRequests(sp, { benignMix: 0.5, seed: 97 }).length).toBe(832 + 416);

    // Token sets of every lever's encoded data: no H*, no refusal opener or tail; openers only OK_SURE / OK_HERE.
    const parity = new RequestLanguage({ fineTuneOpener: 'verb-parity' });
    for (const [l, rs] of [[lang, always], [lang, mixed], [parity, fineTuneRequests(sp, { sys: 'never', benignMix: 1, seed: 97 })]] as const) {
      const set = encodeSequences(l, rs, 'comply');
      const used = new Set(Array.from(set.data.x, (t) => l.vocab[t]!));
      expect([...used].filter((n) => /^(H\d+|R_|RT\d)/.test(n))).toEqual([]);
      const openers = new Set(Array.from(set.assistAt, (a, i) => l.vocab[set.data.x[i * l.maxLen + a + 1]!]));
      expect([...openers].sort()).toEqual(l === lang && rs === always ? ['OK_SURE'] : ['OK_HERE', 'OK_SURE']);
    }
  });

  it('bad lever values are TrellisErrors before any training', () => {
    expect(trellisErrorOf(() => fineTuneRequests(sp, { sys: 'sometimes' as never, seed: 1 })).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => fineTuneRequests(sp, { benignMix: -1, seed: 1 })).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => fineTuneRequests(sp, { benignMix: 2, seed: 1 })).code).toBe('BAD_OPTION'); // 1,664 > 1,344 benign train requests
    expect(trellisErrorOf(() => studyConfig('quick', { finetuneSys: 'half' })).code).toBe('BAD_PARAM'); // the --set rule, before the plugin's own check
    expect(trellisErrorOf(() => studyConfig('quick', { finetuneOpener: 'here' })).code).toBe('BAD_PARAM'); // the --set rule, before the plugin's own check
    expect(trellisErrorOf(() => studyConfig('quick', { finetuneBenignMix: -0.5 })).code).toBe('BAD_PARAM'); // the --set rule, before the plugin's own check
    expect(studyConfig('quick', { finetuneSys: 'always', finetuneOpener: 'verb-parity', finetuneBenignMix: '1' })).toMatchObject({ finetuneSys: 'always', finetuneOpener: 'verb-parity', finetuneBenignMix: 1 });
    // no options used to be a raw TypeError; an unknown mode used to fall back to the quick preset
    expectTrellisError(() => fineTuneRequests(sp, undefined as never), 'NO_SEED', /fineTuneRequests needs a numeric seed/);
    expectTrellisError(() => studyConfig('fast' as never), 'BAD_OPTION', /unknown study mode "fast"/);
  });
});
