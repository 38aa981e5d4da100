import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claim, type ExperimentOptions, type ExperimentResult, type TechniqueExperiment } from '@trellis-ml/core';
import { claimFigures, interruptAndResume } from '@trellis-ml/testkit/check';

/**
 * A tiny journaled study: `units` units, each appending one line to `metrics.jsonl` and then its journal line
 * (with the sizes of the append-only files, as core's StudyJournal writes them); `resume` continues the run
 * under `<out>/fake/` from its complete journal lines. `fail` makes the given run throw.
 */
function fakeStudy(units: number, fail: { whole?: boolean; resumed?: boolean } = {}): TechniqueExperiment & { runs: number } {
  const study = {
    name: 'fake', description: 'a journaled fake study', resumable: true, runs: 0,
    async run(o: ExperimentOptions): Promise<ExperimentResult> {
      study.runs++;
      if (o.resume ? fail.resumed : fail.whole) throw new Error(`the ${o.resume ? 'resumed' : 'whole'} run failed`);
      let runDir = join(o.out, 'fake', `run-${study.runs}`);
      let done = 0;
      if (o.resume) {
        runDir = join(o.out, 'fake', (await readdir(join(o.out, 'fake')))[0]!);
        const lines = (await readFile(join(runDir, 'journal.jsonl'), 'utf8')).split('\n');
        const finished = lines.flatMap((l) => { try { return [JSON.parse(l) as { sizes: Record<string, number> }]; } catch { return []; } });
        done = finished.length;
        // as core's StudyJournal: the append-only files go back to where the last finished unit left them
        await truncate(join(runDir, 'metrics.jsonl'), finished.at(-1)?.sizes['metrics.jsonl'] ?? 0);
        await writeFile(join(runDir, 'journal.jsonl'), finished.map((j) => `${JSON.stringify(j)}\n`).join(''));
        o.log?.(`${done} finished unit(s) replayed`);
      } else {
        await mkdir(runDir, { recursive: true });
      }
      for (let u = done; u < units; u++) {
        await writeFile(join(runDir, 'metrics.jsonl'), `${JSON.stringify({ unit: u, loss: 1 / (u + 1) })}\n`, { flag: 'a' });
        const size = (await stat(join(runDir, 'metrics.jsonl'))).size;
        await writeFile(join(runDir, 'journal.jsonl'), `${JSON.stringify({ unit: u, sizes: { 'metrics.jsonl': size } })}\n`, { flag: 'a' });
      }
      const summaryPath = join(runDir, 'summary.json');
      await writeFile(summaryPath, JSON.stringify({ units }));
      return { runDir, summaryPath, reportPath: join(runDir, 'report.html'), claims: [claim('units', 'every unit ran', units, '>=', units, [o.seed])], summary: { units } };
    },
  };
  return study;
}

const options = { mode: 'quick' as const, seed: 1 };

describe('interruptAndResume leaves no temporary directory behind', () => {
  // os.tmpdir() reads TMPDIR on every call: point it at an empty directory of this test's own
  let tmp: string;
  let saved: string | undefined;
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'testkit-resume-cleanup-'));
    saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
  });
  afterEach(async () => {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    await rm(tmp, { recursive: true, force: true });
  });

  it('the runs stay readable until cleanup(), which removes the one temporary directory they are in', async () => {
    const r = await interruptAndResume(fakeStudy(3), options);
    expect(r.units).toEqual({ total: 3, kept: 1 });
    expect(r.resumedLog).toEqual(['1 finished unit(s) replayed']);
    // the resumed run re-wrote units 1 and 2 after the cut: the same three metrics lines as the whole run
    expect(r.metrics.resumed).toEqual(r.metrics.whole);
    expect(r.metrics.whole).toHaveLength(3);
    expect(await readdir(tmp)).toEqual([r.dir.slice(tmp.length + 1)]);
    expect(r.dir).toMatch(/\/trellis-resume-fake-[^/]+$/);
    expect(JSON.parse(await readFile(r.resumed.summaryPath, 'utf8'))).toEqual({ units: 3 });
    expect(r.whole.runDir.startsWith(join(r.dir, 'whole'))).toBe(true);
    expect(r.resumed.runDir).toBe(join(r.dir, 'resumed', 'fake', 'interrupted'));
    await r.cleanup();
    expect(await readdir(tmp)).toEqual([]);
    await r.cleanup(); // again: nothing to do
  });

  it('a run that throws takes its temporary directory with it (the whole run, the resumed run, too few units)', async () => {
    await expect(interruptAndResume(fakeStudy(3, { resumed: true }), options)).rejects.toThrow('the resumed run failed');
    expect(await readdir(tmp)).toEqual([]);
    await expect(interruptAndResume(fakeStudy(3, { whole: true }), options)).rejects.toThrow('the whole run failed');
    expect(await readdir(tmp)).toEqual([]);
    await expect(interruptAndResume(fakeStudy(1), options)).rejects.toMatchObject({ code: 'BAD_OPTION', message: expect.stringMatching(/journaled 1 unit\(s\); interrupting after 1 needs more/) });
    expect(await readdir(tmp)).toEqual([]);
  });

  it('a dir of the caller\'s own holds both runs and is never removed (no temporary directory is made)', async () => {
    const own = join(tmp, 'mine', 'resume-check');
    const r = await interruptAndResume(fakeStudy(3), options, { dir: own, keep: 2 });
    expect(r.units).toEqual({ total: 3, kept: 2 });
    expect(r.dir).toBe(own);
    expect(await readdir(tmp)).toEqual(['mine']);
    expect((await readdir(own)).sort()).toEqual(['resumed', 'whole']);
    await r.cleanup();
    expect(existsSync(r.resumed.summaryPath) && existsSync(r.whole.summaryPath)).toBe(true);
    // a failed check leaves the caller's directory as it was too
    const failing = join(tmp, 'failing');
    await expect(interruptAndResume(fakeStudy(3, { resumed: true }), options, { dir: failing })).rejects.toThrow('the resumed run failed');
    expect((await readdir(failing)).sort()).toEqual(['resumed', 'whole']);
  });

  it('a dir that is not empty, not a path or a file is refused before the study runs', async () => {
    const study = fakeStudy(3);
    const used = join(tmp, 'used');
    await mkdir(used);
    await writeFile(join(used, 'old.txt'), '');
    await expect(interruptAndResume(study, options, { dir: used })).rejects.toMatchObject({ code: 'BAD_OPTION', message: expect.stringMatching(/dir .*used is not empty \(it holds old\.txt\)/) });
    await expect(interruptAndResume(study, options, { dir: '' })).rejects.toMatchObject({ code: 'BAD_OPTION', message: expect.stringMatching(/dir "" is not a directory path/) });
    await expect(interruptAndResume(study, options, { dir: join(used, 'old.txt') })).rejects.toMatchObject({ code: 'BAD_OPTION', message: expect.stringMatching(/old\.txt is a file, not a directory/) });
    expect(study.runs).toBe(0);
    expect((await readdir(tmp)).sort()).toEqual(['used']);
  });
});

describe('claimFigures', () => {
  const result = (seeds: number[], measured = 0.9): ExperimentResult => ({
    runDir: '', summaryPath: '', reportPath: '', summary: {},
    claims: [claim('acc', 'accuracy ≥ 0.8', measured, '>=', 0.8, seeds), claim('benchmark-time', 'fast', 3, '<=', 5, seeds)],
  });

  it('gives [id, measured, holds, seeds] of each claim, leaving out those skip names', () => {
    expect(claimFigures(result([1, 2]))).toEqual([['acc', 0.9, true, [1, 2]], ['benchmark-time', 3, true, [1, 2]]]);
    expect(claimFigures(result([1, 2]), (id) => id.startsWith('benchmark'))).toEqual([['acc', 0.9, true, [1, 2]]]);
  });

  it('tells apart a run that measured the same figures on fewer seeds (a resume that reported only what it ran again)', () => {
    expect(claimFigures(result([2]))).not.toEqual(claimFigures(result([1, 2])));
    expect(claimFigures(result([1, 2], 0.85))).not.toEqual(claimFigures(result([1, 2])));
  });
});
