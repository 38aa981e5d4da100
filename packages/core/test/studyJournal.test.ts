import { describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunRecord, StudyJournal, TrellisError, decodeJournalValue, encodeJournalValue } from '../src/index.js';

async function code(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
  } catch (e) {
    if (e instanceof TrellisError) return e.code;
    throw e;
  }
  return 'no error';
}

describe('journal values', () => {
  it('keep non-finite numbers and typed arrays, which plain JSON loses', () => {
    const value = { a: NaN, b: [Infinity, -Infinity, 1.5], f: Float32Array.from([0.1, -2]), i: Int32Array.from([3, -4]), s: 'x', n: null };
    const text = encodeJournalValue(value);
    expect(text).toContain('{"$number":"NaN"}');
    const back = decodeJournalValue(text) as typeof value;
    expect(back.a).toBeNaN();
    expect(back.b).toEqual([Infinity, -Infinity, 1.5]);
    expect(back.f).toBeInstanceOf(Float32Array);
    expect(Array.from(back.f)).toEqual(Array.from(Float32Array.from([0.1, -2])));
    expect(back.i).toBeInstanceOf(Int32Array);
    expect(back.s).toBe('x');
    expect(back.n).toBeNull();
  });

  it('refuse a value the journal cannot store', () => {
    expect(() => encodeJournalValue({ v: new BigInt64Array(1) })).toThrow(/BigInt64Array/);
  });

  it('a name Object.prototype holds (constructor, toString) is not a typed array: plain objects round-trip, such a subclass is refused', () => {
    // `in` used to find these on Object.prototype: decoding threw a TypeError (and a resumed run called the line damaged)
    for (const name of ['constructor', 'toString', '__proto__']) {
      const value = { $typed: name, values: [1, 2] };
      expect(decodeJournalValue(JSON.stringify(value)), name).toEqual(value);
      expect(decodeJournalValue(encodeJournalValue([value])), name).toEqual([value]);
    }
    const Odd = { constructor: class extends Float32Array {} }.constructor; // a Float32Array subclass whose name is "constructor"
    expect(Odd.name).toBe('constructor');
    expect(() => encodeJournalValue({ v: new Odd(2) })).toThrow(expect.objectContaining({ code: 'BAD_JOURNAL_VALUE' }));
  });
});

describe('StudyJournal', () => {
  it('replays the finished units in order, runs the rest, and cuts back what a kill left', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-journal-'));
    const runs: string[] = [];
    const unit = (j: StudyJournal, key: string, value: unknown) => j.unit(key, async () => {
      runs.push(key);
      await appendFile(join(dir, 'metrics.jsonl'), `{"unit":"${key}"}\n`);
      return value;
    });
    const first = await StudyJournal.open(dir);
    expect(await unit(first, 'a', { x: 1 })).toEqual({ x: 1 });
    expect(await unit(first, 'b', [NaN])).toEqual([NaN]);
    // killed during unit c: its metrics line and half a journal line are on disk
    await appendFile(join(dir, 'metrics.jsonl'), '{"unit":"c"}\n');
    await appendFile(join(dir, 'journal.jsonl'), '{"key":"c","metr');
    const resumed = await StudyJournal.open(dir, { resume: true });
    expect(resumed.finished).toBe(2);
    expect(await readFile(join(dir, 'metrics.jsonl'), 'utf8')).toBe('{"unit":"a"}\n{"unit":"b"}\n');
    expect(await unit(resumed, 'a', 'other')).toEqual({ x: 1 });
    expect(await unit(resumed, 'b', 'other')).toEqual([NaN]);
    expect(await unit(resumed, 'c', 3)).toBe(3);
    expect(resumed.replayed).toBe(2);
    expect(runs).toEqual(['a', 'b', 'c']);
    expect(await readFile(join(dir, 'metrics.jsonl'), 'utf8')).toBe('{"unit":"a"}\n{"unit":"b"}\n{"unit":"c"}\n');
    const again = await StudyJournal.open(dir, { resume: true });
    expect(again.finished).toBe(3);
    // a unit in another order: the settings or the code changed
    expect(await code(() => again.unit('b', async () => 0))).toBe('RESUME_MISMATCH');
  });

  it('cuts the other append-only files it was told of back to the last finished unit too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-journal-'));
    const energy = join(dir, 'energy.jsonl');
    const first = await StudyJournal.open(dir, { appendOnly: ['energy.jsonl'] });
    await first.unit('a', async () => appendFile(energy, 'a1\na2\n'));
    await appendFile(energy, 'b1\n'); // unit b was killed after this sample
    const resumed = await StudyJournal.open(dir, { resume: true, appendOnly: ['energy.jsonl'] });
    expect(await readFile(energy, 'utf8')).toBe('a1\na2\n');
    await resumed.unit('a', async () => appendFile(energy, 'never\n'));
    await resumed.unit('b', async () => appendFile(energy, 'b1\nb2\n'));
    expect(await readFile(energy, 'utf8')).toBe('a1\na2\nb1\nb2\n');
  });

  it('refuses a damaged journal and a new run over an old journal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-journal-'));
    await writeFile(join(dir, 'journal.jsonl'), '{"key":"a","sizes":{},"seconds":1,"value":1}\nnot json\n{"key":"b","sizes":{},"seconds":1,"value":2}\n');
    expect(await code(() => StudyJournal.open(dir, { resume: true }))).toBe('JOURNAL_DAMAGED');
    expect(await code(() => StudyJournal.open(dir))).toBe('JOURNAL_EXISTS');
  });

  it('collect: the arrays end with the stored copies of what the unit pushed, run now or replayed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-journal-'));
    const study = async (j: StudyJournal, stopAfter = Infinity) => {
      const rows: Array<{ u: number; v: number }> = [];
      const notes: string[] = [];
      const returned: unknown[] = [];
      for (let u = 0; u < 3 && u < stopAfter; u++) {
        returned.push(await j.collect(`unit ${u}`, { rows, notes }, async () => {
          rows.push({ u, v: u === 1 ? NaN : u / 3 });
          if (u === 2) notes.push('last');
          return u === 0 ? { first: true } : undefined;
        }));
      }
      return { rows, notes, returned };
    };
    await study(await StudyJournal.open(dir), 2);
    const resumed = await study(await StudyJournal.open(dir, { resume: true }));
    const fresh = await study(await StudyJournal.open(await mkdtemp(join(tmpdir(), 'trellis-journal-'))));
    expect(resumed).toEqual(fresh);
    expect(fresh.rows.map((r) => r.u)).toEqual([0, 1, 2]);
    expect(fresh.rows[1]!.v).toBeNaN();
    expect(fresh.notes).toEqual(['last']);
    expect(fresh.returned).toEqual([{ first: true }, null, null]);
  });
});

describe('RunRecord resume', () => {
  it('reopens the newest unfinished run with the same settings, and says what differs otherwise', async () => {
    const out = await mkdtemp(join(tmpdir(), 'trellis-resume-'));
    const opts = { out, name: 'study', seed: 3, config: { mode: 'full', seeds: [3, 4], epochs: 5 } };
    expect(await code(() => RunRecord.create({ ...opts, resume: true }))).toBe('NOTHING_TO_RESUME');
    const done = await RunRecord.create({ ...opts, dir: join(out, 'study', '2026-01-01') });
    await (await done.openJournal()).unit('u', async () => 1);
    await done.writeSummary({});
    // killed during its first unit: nothing to replay, but it is the run to resume
    const early = await RunRecord.create({ ...opts, dir: join(out, 'study', '2026-01-02') });
    await early.openJournal();
    expect((await RunRecord.create({ ...opts, resume: true })).dir).toBe(early.dir);
    const cut = await RunRecord.create({ ...opts, dir: join(out, 'study', '2026-01-03') });
    await (await cut.openJournal()).unit('u', async () => 2);
    const record = await RunRecord.create({ ...opts, resume: true });
    expect(record.dir).toBe(cut.dir);
    expect(record.resumed).toBe(true);
    const journal = await record.openJournal();
    expect(await journal.unit('u', async () => 9)).toBe(2);
    const config = JSON.parse(await readFile(join(cut.dir, 'config.json'), 'utf8')) as { resumes: unknown[]; config: unknown };
    expect(config.resumes).toHaveLength(1);
    expect(JSON.parse(await readFile(join(early.dir, 'config.json'), 'utf8')).resumes).toHaveLength(1);
    expect(config.config).toEqual(opts.config);
    let err: unknown;
    try {
      await RunRecord.create({ ...opts, seed: 4, config: { ...opts.config, epochs: 6 }, resume: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TrellisError);
    expect((err as TrellisError).code).toBe('RESUME_CONFIG_MISMATCH');
    expect((err as TrellisError).problem).toContain('seed 3 (now 4)');
    expect((err as TrellisError).problem).toContain('epochs 5 (now 6)');
    expect((err as TrellisError).problem).toContain('and 1 other unfinished run(s) differ too');
    // a resumed run's summary says so (its wall-clock figures cover only this session's units)
    const summary = JSON.parse(await readFile(await record.writeSummary({ x: 1 }), 'utf8')) as { resumed: { replayedUnits: number }; x: number };
    expect(summary.resumed.replayedUnits).toBe(1);
    expect(summary.x).toBe(1);
    expect(JSON.parse(await readFile(await done.writeSummary({}), 'utf8'))).not.toHaveProperty('resumed');
  });

  it('passes over a newer interrupted run of other settings to the one with these', async () => {
    const out = await mkdtemp(join(tmpdir(), 'trellis-resume-'));
    const mnist = { out, name: 'study', seed: 1, config: { dataset: 'mnist' } };
    const older = await RunRecord.create({ ...mnist, dir: join(out, 'study', '2026-01-01') });
    await (await older.openJournal()).unit('u', async () => 'mnist');
    const newer = await RunRecord.create({ ...mnist, config: { dataset: 'fashion' }, dir: join(out, 'study', '2026-01-02') });
    await (await newer.openJournal()).unit('u', async () => 'fashion');
    const record = await RunRecord.create({ ...mnist, resume: true });
    expect(record.dir).toBe(older.dir);
    expect(await (await record.openJournal()).unit('u', async () => 'recomputed')).toBe('mnist');
  });
});
