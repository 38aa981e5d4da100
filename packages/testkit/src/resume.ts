import { cp, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
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
}

/**
 * Runs `experiment` with `options` in a fresh directory, copies the run as a kill during unit
 * `keep + 1` would leave it (the first `keep` journal lines, half of the next one, `metrics.jsonl` and the
 * other append-only files with that unit's lines, no summary or report), runs it again with `resume: true` and returns both runs.
 * A resumable study should end with the same claims and tables (apart from wall-clock figures).
 *
 * ```ts
 * const r = await interruptAndResume(experiment, { mode: 'quick', seed: 1, seeds: [1, 2], params });
 * expect(r.resumed.claims).toEqual(r.whole.claims);
 * ```
 */
export async function interruptAndResume(
  experiment: TechniqueExperiment,
  options: Omit<ExperimentOptions, 'out' | 'resume' | 'log'>,
  { keep = 1 }: { keep?: number } = {},
): Promise<InterruptAndResumeResult> {
  // checked before the (long) whole run: either mistake used to surface only after it, as a raw SyntaxError or ENOENT
  check(experiment?.resumable === true, 'CANNOT_RESUME', `experiment "${String(experiment?.name)}" is not resumable (its study does not journal its units)`,
    'journal the study\'s units (core\'s StudyJournal) and set `resumable: true` on the experiment before checking that it resumes');
  check(Number.isInteger(keep) && keep >= 0, 'BAD_OPTION', `keep ${String(keep)} is not an integer ≥ 0`, 'pass how many finished units the interrupted run keeps, e.g. { keep: 1 } (the default)');
  const whole = await experiment.run({ ...options, out: await mkdtemp(join(tmpdir(), `${experiment.name}-whole-`)), log: () => undefined });
  const lines = (await readFile(join(whole.runDir, 'journal.jsonl'), 'utf8')).split('\n').filter(Boolean);
  check(lines.length > keep, 'BAD_OPTION', `${experiment.name}: the run journaled ${lines.length} unit(s); interrupting after ${keep} needs more`, 'add a seed, or lower `keep`');
  const out = await mkdtemp(join(tmpdir(), `${experiment.name}-cut-`));
  const dir = join(out, experiment.name, 'interrupted');
  await cp(whole.runDir, dir, { recursive: true });
  for (const f of await readdir(dir)) if (f === 'summary.json' || f.startsWith('report') || f.endsWith('.svg')) await rm(join(dir, f), { recursive: true });
  // the append-only files (metrics.jsonl, …) as they were when the killed unit had written everything but its journal line
  const killed = JSON.parse(lines[keep]!) as { sizes: Record<string, number> };
  await writeFile(join(dir, 'journal.jsonl'), [...lines.slice(0, keep), lines[keep]!.slice(0, Math.floor(lines[keep]!.length / 2))].join('\n'));
  for (const [file, size] of Object.entries(killed.sizes)) await truncate(join(dir, file), size).catch(() => undefined);
  const resumedLog: string[] = [];
  const resumed = await experiment.run({ ...options, out, resume: true, log: (l) => resumedLog.push(l) });
  const read = async (d: string) => (await readFile(join(d, 'metrics.jsonl'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  return { whole, resumed, resumedLog, metrics: { whole: await read(whole.runDir), resumed: await read(resumed.runDir) }, units: { total: lines.length, kept: keep } };
}

/**
 * What a resume check compares of a run's claims: `[id, measured, holds]` of each claim, leaving out
 * those `skip` names (e.g. claims on measured wall-clock). Example:
 * `expect(claimFigures(r.resumed, (id) => id.startsWith('benchmark'))).toEqual(claimFigures(r.whole, …))`.
 */
export function claimFigures(result: ExperimentResult, skip: (id: string) => boolean = () => false): Array<[string, number, boolean]> {
  return result.claims.filter((c) => !skip(c.id)).map((c) => [c.id, c.measured, c.holds]);
}
