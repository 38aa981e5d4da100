import { relative } from 'node:path';
import { check, RunRecord, type Claim } from '@trellis-ml/core';
import { runTrain } from './train.js';
import { runTechnique } from './technique.js';
import { TECHNIQUES } from './techniques.js';

/** Options of {@link runTour}. */
export interface TourOptions {
  seed: number;
  out: string;
  epochs: number;
  progress?: boolean;
  /** Only these techniques (default all). */
  only?: string[];
  log?: (line: string) => void;
}

/** Per-step outcome of the tour. */
export interface TourStep {
  name: string;
  ok: boolean;
  seconds: number;
  reportPath?: string;
  claims?: Claim[];
  error?: string;
}

/** What a failed step threw, as one line: an Error's message (a TrellisError's says what to do), or the value itself. */
function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Throws `BAD_ARGS` for tour options that cannot run: a technique name in `only` that does not exist, or
 * fewer than one baseline epoch. {@link runTour} calls it; the CLI calls it before the backend starts.
 */
export function checkTourOptions(o: Pick<TourOptions, 'epochs' | 'only'>): void {
  const unknown = (o.only ?? []).filter((name) => !TECHNIQUES.some((t) => t.name === name));
  check(unknown.length === 0, 'BAD_ARGS', `--only names ${unknown.map((n) => `"${n}"`).join(', ')}, which ${unknown.length > 1 ? 'are not techniques' : 'is not a technique'}`,
    `pass a comma list of: ${TECHNIQUES.map((t) => t.name).join(', ')}`);
  check(Number.isInteger(o.epochs) && o.epochs >= 1, 'BAD_ARGS', `--epochs ${o.epochs} is not a positive whole number of epochs`,
    "pass --epochs 1 or more (the tour's default is 3)");
}

/**
 * The tour (`npm start`): an MNIST baseline on the current backend, then every technique subcommand
 * in quick mode, ending with one report that links them. A failing step is reported, not hidden.
 */
export async function runTour(o: TourOptions): Promise<{ reportPath: string; steps: TourStep[] }> {
  const log = o.log ?? ((l: string) => console.log(l));
  checkTourOptions(o);
  const steps: TourStep[] = [];
  const record = await RunRecord.create({ out: o.out, name: 'tour', seed: o.seed, config: { epochs: o.epochs, only: o.only ?? null }, packageOf: import.meta.url });
  log(`== baseline: MLP on MNIST, ${o.epochs} epochs`);
  let t0 = Date.now();
  try {
    const r = await runTrain({ dataset: 'mnist', model: 'mlp', epochs: o.epochs, batchSize: 128, learningRate: 1e-3, seed: o.seed, out: o.out, progress: o.progress ?? false, log });
    steps.push({
      name: 'train (MNIST baseline)', ok: true, seconds: (Date.now() - t0) / 1000, reportPath: r.reportPath,
      claims: [{ id: 'baseline-97', statement: 'MNIST baseline reaches ≥ 97% test accuracy', measured: r.testAccuracy, threshold: 0.97, comparator: '>=', holds: r.testAccuracy >= 0.97, seeds: [o.seed] }],
    });
  } catch (e) {
    // logged like a technique's failure (it used to appear only in the tour's report)
    log(`baseline (train, MNIST MLP) failed: ${messageOf(e)}`);
    steps.push({ name: 'train (MNIST baseline)', ok: false, seconds: (Date.now() - t0) / 1000, error: messageOf(e) });
  }
  for (const t of TECHNIQUES) {
    if (o.only && !o.only.includes(t.name)) continue;
    log(`== ${t.name} (quick)`);
    t0 = Date.now();
    try {
      const r = await runTechnique(t.name, { mode: 'quick', seed: o.seed, out: o.out, progress: o.progress ?? false, log });
      steps.push({ name: t.name, ok: true, seconds: (Date.now() - t0) / 1000, reportPath: r.reportPath, claims: r.claims });
    } catch (e) {
      log(`${t.name} failed: ${messageOf(e)}`);
      steps.push({ name: t.name, ok: false, seconds: (Date.now() - t0) / 1000, error: messageOf(e) });
    }
  }
  const claims = steps.flatMap((s) => (s.claims ?? []).map((c) => ({ ...c, id: `${s.name.split(' ')[0]}: ${c.id}` })));
  await record.writeSummary({ steps: steps.map(({ claims: _c, ...rest }) => rest), claims });
  const reportPath = await record.writeReport({
    title: 'Trellis tour',
    intro: 'A baseline on MNIST, then every technique in quick mode (small runs: see each package README for the full reproductions).',
    claims,
    links: steps.filter((s) => s.reportPath).map((s) => ({ label: s.name, href: relative(record.dir, s.reportPath!) })),
    sections: [{
      title: 'Steps',
      table: { columns: ['step', 'ok', 'seconds', 'claims holding', 'error'], rows: steps.map((s) => [s.name, s.ok ? 'yes' : 'NO', s.seconds, s.claims ? `${s.claims.filter((c) => c.holds).length}/${s.claims.length}` : '—', s.error ?? '']) },
    }],
  });
  log(`tour report: ${reportPath}`);
  return { reportPath, steps };
}
