import { cp, mkdir, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check, type ExperimentOptions, type ExperimentResult, type TechniqueExperiment } from '@trellis-ml/core';

/**
 * The resume check for a journaled study (`TechniqueExperiment.resumable`): run it whole, make the
 * state a kill during a later unit leaves, resume, and hand back both runs for the caller to compare.
 *
 * @module
 */

/** What {@link interruptAndResume} ran. */
export interface InterruptAndResumeResult {
  /** The uninterrupted run. */
  whole: ExperimentResult;
  /** The resumed run (its `runDir` is the interrupted copy's). */
  resumed: ExperimentResult;
  /** Lines the resumed run logged. */
  resumedLog: string[];
  /** `metrics.jsonl` lines of each run. */
  metrics: { whole: string[]; resumed: string[] };
  /** Units the journal of the whole run held, and how many the interrupted copy kept. */
  units: { total: number; kept: number };
  /** The directory both runs are in: the caller's `dir`, or the temporary directory made for them. */
  dir: string;
  /**
   * Removes the temporary directory both runs were written to (their `runDir`s and files are gone
   * afterwards: call it once you have read them, e.g. in a `finally` or `afterAll`). Does nothing when the
   * caller passed its own `dir`, which stays the caller's; calling it again does nothing.
   */
  cleanup(): Promise<void>;
}

/** Options of {@link interruptAndResume}. */
export interface InterruptAndResumeOptions {
  /** Finished units the interrupted copy keeps (default 1): the kill happens during unit `keep + 1`. */
  keep?: number;
  /**
   * Write both runs under this directory (`<dir>/whole` and `<dir>/resumed`; it is made when missing and must
   * be empty) and leave them there. Without it they go to a temporary directory, which is removed when
   * the check throws and by the result's `cleanup()` otherwise.
   */
  dir?: string;
}

/**
 * Runs `experiment` with `options` in a fresh directory, copies the run as a kill during unit
 * `keep + 1` would leave it (the first `keep` journal lines, half of the next one, `metrics.jsonl` and the
 * other append-only files with that unit's lines, no summary or report), runs it again with `resume: true` and returns both runs.
 * A resumable study should end with the same claims and tables (apart from wall-clock figures).
 *
 * The runs are written to a temporary directory unless you pass your own `dir`. The temporary directory is
 * removed when the check throws (a failed run, a bad option), and by the result's `cleanup()` once you have
 * read the runs; a `dir` of your own is never removed.
 *
 * ```ts
 * const r = await interruptAndResume(experiment, { mode: 'quick', seed: 1, seeds: [1, 2], params });
 * try {
 *   expect(r.resumed.claims).toEqual(r.whole.claims);
 * } finally {
 *   await r.cleanup();
 * }
 * ```
 *
 * @throws TrellisError `CANNOT_RESUME` (a study that does not journal its units), `BAD_OPTION` (a bad `keep`
 *   or `dir`, or a run that journaled no more than `keep` units); and whatever the experiment's runs throw.
 */
export async function interruptAndResume(
  experiment: TechniqueExperiment,
  options: Omit<ExperimentOptions, 'out' | 'resume' | 'log'>,
  { keep = 1, dir }: InterruptAndResumeOptions = {},
): Promise<InterruptAndResumeResult> {
  // checked before the (long) whole run: either mistake used to surface only after it, as a raw SyntaxError or ENOENT
  check(experiment?.resumable === true, 'CANNOT_RESUME', `experiment "${String(experiment?.name)}" is not resumable (its study does not journal its units)`,
    'journal the study\'s units (core\'s StudyJournal) and set `resumable: true` on the experiment before checking that it resumes');
  check(Number.isInteger(keep) && keep >= 0, 'BAD_OPTION', `keep ${String(keep)} is not an integer ≥ 0`, 'pass how many finished units the interrupted run keeps, e.g. { keep: 1 } (the default)');
  check(dir === undefined || (typeof dir === 'string' && dir.length > 0), 'BAD_OPTION', `dir ${typeof dir === 'string' ? '""' : String(dir)} is not a directory path`,
    'pass the path of an empty or new directory to keep both runs in, or leave dir out for a temporary one');
  if (dir !== undefined) {
    const entries = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
      check(e.code !== 'ENOTDIR', 'BAD_OPTION', `dir ${dir} is a file, not a directory`, 'pass the path of an empty or new directory to keep both runs in');
      return e.code === 'ENOENT' ? [] : Promise.reject(e);
    });
    check(entries.length === 0, 'BAD_OPTION', `dir ${dir} is not empty (it holds ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''})`,
      'pass an empty or new directory: the resumed run continues the newest run it finds there, so an earlier run would be resumed instead');
  }
  const root = dir ?? await mkdtemp(join(tmpdir(), `trellis-resume-${experiment.name}-`));
  let removed = false;
  const cleanup = async (): Promise<void> => {
    if (dir !== undefined || removed) return;
    removed = true;
    await rm(root, { recursive: true, force: true });
  };
  try {
    const wholeOut = join(root, 'whole');
    const out = join(root, 'resumed');
    await mkdir(wholeOut, { recursive: true });
    const whole = await experiment.run({ ...options, out: wholeOut, log: () => undefined });
    const lines = (await readFile(join(whole.runDir, 'journal.jsonl'), 'utf8')).split('\n').filter(Boolean);
    check(lines.length > keep, 'BAD_OPTION', `${experiment.name}: the run journaled ${lines.length} unit(s); interrupting after ${keep} needs more`, 'add a seed, or lower `keep`');
    const cut = join(out, experiment.name, 'interrupted');
    await cp(whole.runDir, cut, { recursive: true });
    for (const f of await readdir(cut)) if (f === 'summary.json' || f.startsWith('report') || f.endsWith('.svg')) await rm(join(cut, f), { recursive: true });
    // the append-only files (metrics.jsonl, …) as they were when the killed unit had written everything but its journal line
    const killed = JSON.parse(lines[keep]!) as { sizes: Record<string, number> };
    await writeFile(join(cut, 'journal.jsonl'), [...lines.slice(0, keep), lines[keep]!.slice(0, Math.floor(lines[keep]!.length / 2))].join('\n'));
    for (const [file, size] of Object.entries(killed.sizes)) await truncate(join(cut, file), size).catch(() => undefined);
    const resumedLog: string[] = [];
    const resumed = await experiment.run({ ...options, out, resume: true, log: (l) => resumedLog.push(l) });
    const read = async (d: string) => (await readFile(join(d, 'metrics.jsonl'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
    return {
      whole, resumed, resumedLog, metrics: { whole: await read(whole.runDir), resumed: await read(resumed.runDir) }, units: { total: lines.length, kept: keep },
      dir: root, cleanup,
    };
  } catch (e) {
    // nobody can read the runs of a check that threw: its temporary directory goes with it
    await cleanup().catch(() => undefined);
    throw e;
  }
}

/**
 * What a resume check compares of a run's claims: `[id, measured, holds, seeds]` of each claim, leaving out
 * those `skip` names (e.g. claims on measured wall-clock). The seeds are part of it: a resumed run that
 * measured a claim on fewer seeds (say, only those it ran again) must not pass as the whole run. Example:
 * `expect(claimFigures(r.resumed, (id) => id.startsWith('benchmark'))).toEqual(claimFigures(r.whole, …))`.
 */
export function claimFigures(result: ExperimentResult, skip: (id: string) => boolean = () => false): Array<[string, number, boolean, number[]]> {
  return result.claims.filter((c) => !skip(c.id)).map((c) => [c.id, c.measured, c.holds, [...c.seeds]]);
}
