import * as tf from '@tensorflow/tfjs-core';
import { appendFile, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeBackend } from './backend/useBackend.js';
import { ensureDirectory } from './directories.js';
import type { Claim } from './claims.js';
import { TrellisError } from './errors.js';
import type { ModelAdapter } from './model.js';
import { renderReport, type Report } from './report.js';
import { StudyJournal } from './studyJournal.js';

/**
 * Name and version of the package a module belongs to, read from the nearest `package.json` above the
 * module (pass `import.meta.url`), so a run records the version that actually ran.
 * @throws TrellisError `PACKAGE_JSON_NOT_FOUND` when no `package.json` with a name and version is above it.
 */
export async function packageOf(moduleUrl: string): Promise<{ name: string; version: string }> {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    try {
      const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (typeof pkg.name === 'string' && typeof pkg.version === 'string') return { name: pkg.name, version: pkg.version };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new TrellisError('PACKAGE_JSON_NOT_FOUND', `no package.json with a name and version above ${moduleUrl}`, 'run the module from its installed package (its package.json names the package and its version)');
}

/** The core package's version (read from its package.json). */
export async function coreVersion(): Promise<string> {
  return (await packageOf(import.meta.url)).version;
}

/**
 * Versions and environment recorded with every run: Node, platform, tfjs and core versions, and the
 * backend with its threads, its kernels and (where it reports them) its native libraries.
 */
export async function environmentInfo(): Promise<Record<string, string | number | boolean>> {
  const backend = describeBackend();
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    tfjsCore: tf.version_core,
    trellisCore: await coreVersion(),
    backend: tf.getBackend(),
    backendThreads: backend.threads,
    backendKernels: backend.kernels,
    ...(backend.libraries ? { backendLibraries: backend.libraries } : {}),
  };
}

/** Options of {@link RunRecord.create}. */
export interface RunRecordOptions {
  /** Root directory (default `runs`). The record goes to `<out>/<name>/<timestamp>/`. */
  out?: string;
  /** Run name, e.g. `train` or `privacy`. */
  name: string;
  /** The run's seed. */
  seed: number;
  /** The run's arguments and settings. */
  config?: Record<string, unknown>;
  /**
   * A module of the technique's package (its `import.meta.url`): that package's name and version
   * (from its package.json) go into `versions`.
   */
  packageOf?: string;
  /** Extra versions to record (other packages the run used). */
  versions?: Record<string, string>;
  /** Use this directory instead of a new timestamped one (e.g. to resume). */
  dir?: string;
  /**
   * Resume the newest unfinished run of this name under `out` (one with a `journal.jsonl` and no
   * `summary.json`) instead of starting a new one; its seed and `config` must equal these. The
   * study then replays the units its journal holds ({@link RunRecord.openJournal}).
   * @throws TrellisError `NOTHING_TO_RESUME` when there is no such run, `RESUME_CONFIG_MISMATCH` when
   * its settings differ.
   */
  resume?: boolean;
  /**
   * What marks a run as resumable for `resume` (default `['journal.jsonl']`, a journaled study); e.g.
   * `['checkpoint', 'checkpoint-prev']` for a Trainer run that checkpoints every epoch.
   */
  resumeMarkers?: readonly string[];
}

/** Summary written to `summary.json`; techniques add their figures and `claims`. */
export interface RunSummary {
  [key: string]: unknown;
  claims?: Claim[];
}

/**
 * The one run-record writer: `config.json` (arguments, versions, backend, seed), `metrics.jsonl`,
 * `summary.json`, the model, and `report.md` / `report.html` with plots.
 */
export class RunRecord {
  /** The journal {@link RunRecord.openJournal} opened (its replay count goes into a resumed run's summary). */
  private journal: StudyJournal | null = null;

  private constructor(readonly dir: string, readonly seed: number, readonly resumed: boolean) {}

  /** Creates the run directory and writes `config.json` (or, with `resume`, reopens an interrupted run). */
  static async create(options: RunRecordOptions): Promise<RunRecord> {
    const own = options.packageOf ? await packageOf(options.packageOf) : undefined;
    const versions = { ...(own ? { [own.name]: own.version } : {}), ...options.versions };
    if (options.resume) return RunRecord.reopen(options, versions);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const dir = resolve(options.dir ?? join(options.out ?? 'runs', options.name, stamp));
    await ensureDirectory(dir, 'the run directory', 'pass --out (or `out`) a directory you can write, e.g. runs');
    const config = {
      name: options.name,
      seed: options.seed,
      createdAt: new Date().toISOString(),
      ...(await environmentInfo()),
      versions,
      config: options.config ?? {},
    };
    await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
    return new RunRecord(dir, options.seed, false);
  }

  /**
   * The interrupted run `create({ resume: true })` continues: the newest unfinished run of this name whose
   * seed and config equal these (so interrupted runs of other settings under the same `out` are passed
   * over); its `config.json` gains a `resumes` entry.
   */
  private static async reopen(options: RunRecordOptions, versions: Record<string, string>): Promise<RunRecord> {
    const { dir, stored } = await RunRecord.findResumable(options);
    const resumes = Array.isArray(stored.resumes) ? stored.resumes : [];
    const env = await environmentInfo();
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...stored, resumes: [...resumes, { at: new Date().toISOString(), ...env, versions }] }, null, 2));
    return new RunRecord(dir, options.seed, true);
  }

  /**
   * Finds, without writing anything, the run `create({ resume: true })` with these options would continue
   * (its directory and stored `config.json`), e.g. to hand it to data-parallel workers first.
   * @throws TrellisError `NOTHING_TO_RESUME`, `RESUME_CONFIG_MISMATCH` as {@link RunRecordOptions.resume}.
   */
  static async findResumable(options: RunRecordOptions): Promise<{ dir: string; stored: Record<string, unknown> }> {
    const root = resolve(options.out ?? 'runs', options.name);
    const markers = options.resumeMarkers ?? ['journal.jsonl'];
    const candidates = options.dir ? [resolve(options.dir)] : await findUnfinishedRuns(root, markers);
    if (!candidates.length) {
      throw new TrellisError('NOTHING_TO_RESUME', `no unfinished ${options.name} run under ${root} (one with a ${markers.join(' or ')} and no summary.json)`,
        'start the run without --resume (or point --out at the interrupted run\'s root)');
    }
    const wanted = JSON.parse(JSON.stringify(options.config ?? {})) as Record<string, unknown>;
    const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v).slice(0, 80));
    const mismatches: string[] = [];
    for (const dir of candidates) {
      const path = join(dir, 'config.json');
      let stored: Record<string, unknown>;
      try {
        stored = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
      } catch (e) {
        mismatches.push(`${dir}: its config.json cannot be read (${(e as Error).message})`);
        continue;
      }
      const had = (stored.config ?? {}) as Record<string, unknown>;
      const differ = [...new Set([...Object.keys(wanted), ...Object.keys(had)])].filter((k) => JSON.stringify(wanted[k]) !== JSON.stringify(had[k]));
      if (stored.seed !== options.seed) differ.unshift('seed');
      if (differ.length) {
        mismatches.push(`${dir} has other settings: ${differ.map((k) => k === 'seed' ? `seed ${show(stored.seed)} (now ${show(options.seed)})` : `${k} ${show(had[k])} (now ${show(wanted[k])})`).join('; ')}`);
        continue;
      }
      return { dir, stored };
    }
    throw new TrellisError('RESUME_CONFIG_MISMATCH',
      `no unfinished ${options.name} run under ${root} has these settings — the interrupted run ${mismatches[0]}${mismatches.length > 1 ? ` (and ${mismatches.length - 1} other unfinished run(s) differ too)` : ''}`,
      'resume with the same settings (--seed, the command\'s flags, --seeds and --set values), or start a new run without --resume');
  }

  /**
   * The run's {@link StudyJournal} (replaying the finished units when the run was resumed); `appendOnly`
   * names other files of the run the study appends to inside its units.
   */
  async openJournal(options: { appendOnly?: readonly string[] } = {}): Promise<StudyJournal> {
    this.journal = await StudyJournal.open(this.dir, { resume: this.resumed, ...options });
    return this.journal;
  }

  /** Appends one line to `metrics.jsonl`. */
  async logMetrics(metrics: Record<string, unknown>): Promise<void> {
    await appendFile(join(this.dir, 'metrics.jsonl'), JSON.stringify({ time: new Date().toISOString(), ...metrics }) + '\n');
  }

  /**
   * Writes `summary.json` (always with the backend and seed; a resumed run also with `resumed`: how many
   * units it replayed from the journal, so its wall-clock figures are known to cover only this session).
   */
  async writeSummary(summary: RunSummary): Promise<string> {
    const path = join(this.dir, 'summary.json');
    const resumed = this.resumed ? { resumed: { replayedUnits: this.journal?.replayed ?? 0, note: 'wall-clock figures cover only the units this session ran' } } : {};
    await writeFile(path, JSON.stringify({ backend: tf.getBackend(), seed: this.seed, ...resumed, ...summary }, null, 2));
    return path;
  }

  /** Saves a model under `model/`. */
  async saveModel(model: ModelAdapter, name = 'model'): Promise<string> {
    const dir = join(this.dir, name);
    await model.save(dir);
    return dir;
  }

  /** Writes `report.md` (+ SVG plots) and `report.html`; returns the HTML path. */
  async writeReport(report: Report): Promise<string> {
    const { markdown, html, svgs } = await renderReport(report);
    for (const [file, svg] of Object.entries(svgs)) await writeFile(join(this.dir, file), svg);
    await writeFile(join(this.dir, 'report.md'), markdown);
    const path = join(this.dir, 'report.html');
    await writeFile(path, html);
    return path;
  }
}

/**
 * The run directories under `root` that hold one of `markers` (e.g. `journal.jsonl`, `checkpoint`) and no
 * `summary.json`, newest first (names sort by their timestamps).
 */
export async function findUnfinishedRuns(root: string, markers: readonly string[]): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch {
    return [];
  }
  const has = async (dir: string, p: string) => stat(join(dir, p)).then(() => true, () => false);
  const found: string[] = [];
  for (const e of entries.sort().reverse()) {
    const dir = join(root, e);
    if (await has(dir, 'summary.json')) continue;
    for (const m of markers) {
      if (await has(dir, m)) {
        found.push(dir);
        break;
      }
    }
  }
  return found;
}

/** The newest of {@link findUnfinishedRuns}, or null. */
export async function findUnfinishedRun(root: string, markers: readonly string[]): Promise<string | null> {
  return (await findUnfinishedRuns(root, markers))[0] ?? null;
}
