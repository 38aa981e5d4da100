import * as tf from '@tensorflow/tfjs-core';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Claim } from './claims.js';
import type { ModelAdapter } from './model.js';
import { renderReport, type Report } from './report.js';

/** The core package's version (read from its package.json). */
export async function coreVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { version: string };
  return pkg.version;
}

/** Versions and environment recorded with every run. */
export async function environmentInfo(): Promise<Record<string, string | number | boolean>> {
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    tfjsCore: tf.version_core,
    trellisCore: await coreVersion(),
    backend: tf.getBackend(),
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
  /** Extra versions to record (packages of the technique). */
  versions?: Record<string, string>;
  /** Use this directory instead of a new timestamped one (e.g. to resume). */
  dir?: string;
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
  private constructor(readonly dir: string, readonly seed: number) {}

  /** Creates the run directory and writes `config.json`. */
  static async create(options: RunRecordOptions): Promise<RunRecord> {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const dir = resolve(options.dir ?? join(options.out ?? 'runs', options.name, stamp));
    await mkdir(dir, { recursive: true });
    const config = {
      name: options.name,
      seed: options.seed,
      createdAt: new Date().toISOString(),
      ...(await environmentInfo()),
      versions: options.versions ?? {},
      config: options.config ?? {},
    };
    await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
    return new RunRecord(dir, options.seed);
  }

  /** Appends one line to `metrics.jsonl`. */
  async logMetrics(metrics: Record<string, unknown>): Promise<void> {
    await appendFile(join(this.dir, 'metrics.jsonl'), JSON.stringify({ time: new Date().toISOString(), ...metrics }) + '\n');
  }

  /** Writes `summary.json` (always with the backend and seed). */
  async writeSummary(summary: RunSummary): Promise<string> {
    const path = join(this.dir, 'summary.json');
    await writeFile(path, JSON.stringify({ backend: tf.getBackend(), seed: this.seed, ...summary }, null, 2));
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
