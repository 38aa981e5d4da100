/**
 * The report of the uda-calibration study: claims computed from the measured cells, the tables
 * (main, per shift, cost) and the Vega-Lite figures (reliability diagrams, severity curves,
 * over-certainty plane, shift diagnostics, online trajectories). Internal to the experiment.
 */
import * as tf from '@tensorflow/tfjs-core';
import { claim, meanStd, type Claim, type ExperimentOptions, type ExperimentResult, type ReportSection, type RunRecord } from '@trellis-ml/core';
import { CORE_CORRUPTIONS } from '@trellis-ml/datasets';
import { methodLabel, type MethodSpec } from './adaptation.js';
import { relativeToSource, type CalibrationBin, type CalibrationReport } from './calibration.js';
import type { StudyConfig } from './experiment.js';

/** Scored metrics of one (seed, dataset, model, shift, severity, method, protocol). */
export interface CellRow {
  seed: number;
  dataset: string;
  model: string;
  shift: string;
  severity: number;
  method: string;
  protocol: 'online' | 'post';
  accuracy: number;
  ece: number;
  mce: number;
  ace: number;
  nll: number;
  brier: number;
  entropyBits: number;
  gap: number;
  logitNorm: number;
  msPerBatch: number;
  peakTensors: number;
  tau?: number;
}

/** Mean of a list (NaN when empty). */
export function mean(xs: number[]): number {
  return xs.length ? xs.reduce((s, v) => s + v, 0) / xs.length : NaN;
}

/** Scores of one online pass (the whole pass) in the multi-pass trajectory study. */
export interface PassEnd {
  cell: string;
  method: string;
  pass: number;
  ece: number;
  accuracy: number;
}

/** Means of the headline metrics over a set of cells. */
export interface Aggregate {
  accuracy: number; ece: number; mce: number; nll: number; brier: number; entropyBits: number; gap: number;
}

/** Averages cells into an {@link Aggregate}. */
export function aggregate(rows: CellRow[]): Aggregate {
  return {
    accuracy: mean(rows.map((r) => r.accuracy)), ece: mean(rows.map((r) => r.ece)), mce: mean(rows.map((r) => r.mce)), nll: mean(rows.map((r) => r.nll)),
    brier: mean(rows.map((r) => r.brier)), entropyBits: mean(rows.map((r) => r.entropyBits)), gap: mean(rows.map((r) => r.gap)),
  };
}

/** A metric rounded to 4 decimals for the report's tables. */
const f4 = (v: number): number => Number(v.toFixed(4));

/** The columns of {@link headlineTable} (`withTau` appends `'mean τ'`). */
const HEADLINE_COLUMNS = ['dataset/model', 'protocol', 'method', 'accuracy', 'ECE', 'MCE', 'NLL', 'Brier', 'entropy (bits)', 'conf − acc'] as const;

/** Which cells and rows {@link headlineTable} builds. */
export interface HeadlineTableOptions {
  datasets: readonly string[];
  models: readonly string[];
  protocols: ReadonlyArray<'online' | 'post'>;
  /** Methods in row order (labels as in {@link CellRow.method}). */
  methods: readonly string[];
  /** The cells to average (the study passes core shifts at severities ≥ 3, and for one seed's table that seed). */
  keep: (row: CellRow) => boolean;
  /** Append the mean pseudo-label temperature τ a DEC method logged (blank for methods that log none). */
  withTau?: boolean;
}

/**
 * One row per dataset/model × protocol × method, each metric the mean over the kept cells, rounded to 4
 * decimals; combinations without a kept cell are left out.
 */
export function headlineTable(rows: readonly CellRow[], options: HeadlineTableOptions): { columns: string[]; rows: Array<Array<string | number>> } {
  const table = { columns: [...HEADLINE_COLUMNS, ...(options.withTau ? ['mean τ'] : [])], rows: [] as Array<Array<string | number>> };
  for (const d of options.datasets) for (const m of options.models) for (const protocol of options.protocols) for (const method of options.methods) {
    const cells = rows.filter((r) => r.dataset === d && r.model === m && r.method === method && r.protocol === protocol && options.keep(r));
    if (!cells.length) continue;
    const a = aggregate(cells);
    const taus = cells.flatMap((r) => (r.tau === undefined ? [] : [r.tau]));
    table.rows.push([`${d}/${m}`, protocol, method, f4(a.accuracy), f4(a.ece), f4(a.mce), f4(a.nll), f4(a.brier), f4(a.entropyBits), f4(a.gap),
      ...(options.withTau ? [taus.length ? f4(mean(taus)) : ''] : [])]);
  }
  return table;
}

/**
 * Spec §7.7 E4 on seed-mean aggregates (core shifts, severities ≥ 3): how many of its five conditions hold —
 * DEC's ECE ≤ 0.6 × TENT's, DEC's NLL < TENT's, DEC's accuracy > source's, DEC's accuracy ≥ TENT's − 2 points,
 * |DEC's confidence − accuracy| < |TENT's| — with a line saying which.
 */
export function specE4(perSeed: Array<{ dec: Aggregate; tent: Aggregate; source: Aggregate }>): { met: number; detail: string } {
  const seedMean = (role: 'dec' | 'tent' | 'source') => {
    const m = (k: 'accuracy' | 'ece' | 'nll' | 'gap') => mean(perSeed.map((x) => x[role][k]));
    return { accuracy: m('accuracy'), ece: m('ece'), nll: m('nll'), gap: m('gap') };
  };
  const [dec, tent, source] = [seedMean('dec'), seedMean('tent'), seedMean('source')];
  const checks: Array<[string, boolean, string]> = [
    ['ECE ≤ 0.6 × TENT', dec.ece <= 0.6 * tent.ece, `ECE ratio ${(dec.ece / tent.ece).toFixed(3)}`],
    ['NLL < TENT', dec.nll < tent.nll, `NLL ${dec.nll.toFixed(4)} vs ${tent.nll.toFixed(4)}`],
    ['acc > source', dec.accuracy > source.accuracy, `acc ${(100 * dec.accuracy).toFixed(2)} vs source ${(100 * source.accuracy).toFixed(2)}`],
    ['acc ≥ TENT − 2 pts', dec.accuracy >= tent.accuracy - 0.02, `TENT ${(100 * tent.accuracy).toFixed(2)}`],
    ['|gap| < TENT', Math.abs(dec.gap) < Math.abs(tent.gap), `conf − acc ${dec.gap.toFixed(4)} vs ${tent.gap.toFixed(4)}`],
  ];
  return { met: checks.filter((c) => c[1]).length, detail: checks.map(([name, ok, v]) => `${name}: ${ok ? 'yes' : 'no'} (${v})`).join('; ') };
}

/** What {@link specE3} measured: the seed-mean differences T3A − source and how many of the two conditions hold. */
export interface SpecE3Result {
  /** Conditions met, of 2: entropy below source's, NLL above source's. */
  met: number;
  /** Seed means of T3A − source: mean entropy (bits) and NLL. */
  dEntropyBits: number;
  dNll: number;
  /** The same as fractions of the source's value. */
  dEntropyRel: number;
  dNllRel: number;
  detail: string;
}

/**
 * Spec §7.7 E3 on seed-mean aggregates (core shifts, severities ≥ 3): T3A lowers the mean entropy
 * and raises the NLL relative to the source model — both must hold.
 */
export function specE3(perSeed: Array<{ t3a: Aggregate; source: Aggregate }>): SpecE3Result {
  const m = (role: 't3a' | 'source', k: 'entropyBits' | 'nll') => mean(perSeed.map((x) => x[role][k]));
  const dEntropyBits = m('t3a', 'entropyBits') - m('source', 'entropyBits');
  const dNll = m('t3a', 'nll') - m('source', 'nll');
  const dEntropyRel = dEntropyBits / m('source', 'entropyBits');
  const dNllRel = dNll / m('source', 'nll');
  const pct = (v: number) => `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)} %`;
  const lower = dEntropyBits < 0;
  const higher = dNll > 0;
  return {
    met: Number(lower) + Number(higher), dEntropyBits, dNll, dEntropyRel, dNllRel,
    detail: `entropy lower: ${lower ? 'yes' : 'no'} (Δ ${dEntropyBits.toFixed(4)} bits, ${pct(dEntropyRel)}); NLL higher: ${higher ? 'yes' : 'no'} (Δ ${dNll.toFixed(4)}, ${pct(dNllRel)})`,
  };
}

/** Computes the claims, writes `summary.json` and the report, and returns the experiment result. */
export async function finish(
  record: RunRecord, options: ExperimentOptions, cfg: StudyConfig, seeds: number[], rows: CellRow[],
  reliability: Array<{ cell: string; method: string; bins: CalibrationBin[] }>,
  trajectories: Array<{ method: string; batch: number; ece: number; accuracy: number; entropyBits: number }>,
  passEnds: PassEnd[],
  labelChecks: number[], badInputs: number[], sourceInfo: Array<Record<string, number | string>>, seconds: number,
): Promise<ExperimentResult> {
  const core = new Set<string>(CORE_CORRUPTIONS);
  const headline = (r: CellRow) => core.has(r.shift) && r.severity >= 3;
  const methods = [...new Set(rows.map((r) => r.method))];
  const pick = (method: string, protocol: 'online' | 'post', seed?: number) =>
    rows.filter((r) => r.method === method && r.protocol === protocol && headline(r) && (seed === undefined || r.seed === seed));
  const perSeed = (method: string, protocol: 'online' | 'post', f: (a: Aggregate) => number) => seeds.map((s) => f(aggregate(pick(method, protocol, s))));
  const ms = (xs: number[]) => meanStd(xs);
  const fmtStd = (xs: number[]) => `std ${ms(xs).std.toFixed(4)} over seeds`;

  // ---- claims (online protocol, core shifts, severities ≥ 3, mean over seeds)
  const P = 'online' as const;
  const has = (m: string) => methods.includes(m);
  const claims: Claim[] = [];
  if (has('TENT') && has('source')) {
    const dAcc = seeds.map((_, i) => 100 * (perSeed('TENT', P, (a) => a.accuracy)[i]! - perSeed('source', P, (a) => a.accuracy)[i]!));
    claims.push(claim('tent-raises-accuracy', 'TENT raises accuracy over the source model (points, core shifts s3–5, online)', ms(dAcc).mean, '>', 0, seeds, fmtStd(dAcc)));
    const excess = seeds.map((s) => {
      const src = aggregate(pick('source', P, s));
      const t = aggregate(pick('TENT', P, s));
      const dH = (src.entropyBits - t.entropyBits) / src.entropyBits;
      const dErr = ((1 - src.accuracy) - (1 - t.accuracy)) / (1 - src.accuracy);
      return dH - dErr;
    });
    claims.push(claim('tent-entropy-outpaces-error', "TENT's relative entropy reduction exceeds its relative error reduction vs source (over-certainty; difference of fractions)", ms(excess).mean, '>', 0, seeds, fmtStd(excess)));
    const gap = perSeed('TENT', P, (a) => a.gap);
    claims.push(claim('tent-overconfident', "TENT is over-confident: mean confidence − accuracy > 0", ms(gap).mean, '>', 0, seeds, fmtStd(gap)));
    if (has('BN-adapt')) {
      const d = seeds.map((_, i) => perSeed('TENT', P, (a) => a.ece)[i]! - perSeed('BN-adapt', P, (a) => a.ece)[i]!);
      claims.push(claim('tent-ece-above-bn-adapt', "TENT's ECE is at least BN-adapt's, whose accuracy it shares (ECE difference)", ms(d).mean, '>=', 0, seeds, fmtStd(d)));
    }
  }
  if (has('DEC') && has('TENT')) {
    const decClaims = (protocol: 'online' | 'post') => {
      const best = seeds.map((s) => Math.max(aggregate(pick('TENT', protocol, s)).accuracy, has('ETA') ? aggregate(pick('ETA', protocol, s)).accuracy : -1));
      return {
        dAcc: seeds.map((s, i) => 100 * (aggregate(pick('DEC', protocol, s)).accuracy - best[i]!)),
        ratio: seeds.map((s) => aggregate(pick('DEC', protocol, s)).ece / aggregate(pick('TENT', protocol, s)).ece),
        dNll: seeds.map((s) => aggregate(pick('DEC', protocol, s)).nll - aggregate(pick('TENT', protocol, s)).nll),
      };
    };
    const on = decClaims(P);
    const post = decClaims('post');
    const postNote = (xs: number[]) => `${fmtStd(xs)}; second pass: ${ms(xs).mean.toFixed(4)}`;
    claims.push(claim('dec-accuracy-parity', 'DEC accuracy minus the best of TENT/ETA, points (within 0.5)', ms(on.dAcc).mean, '>=', -0.5, seeds, postNote(post.dAcc)));
    claims.push(claim('dec-ece-half-of-tent', "DEC's ECE divided by TENT's (at most half)", ms(on.ratio).mean, '<=', 0.5, seeds, postNote(post.ratio)));
    claims.push(claim('dec-nll-below-tent', "DEC's NLL minus TENT's (spec E4: below)", ms(on.dNll).mean, '<', 0, seeds, postNote(post.dNll)));
    if (has('source')) {
      const dSrc = seeds.map((s) => 100 * (aggregate(pick('DEC', P, s)).accuracy - aggregate(pick('source', P, s)).accuracy));
      claims.push(claim('dec-raises-accuracy', 'DEC raises accuracy over the source model (points)', ms(dSrc).mean, '>', 0, seeds, fmtStd(dSrc)));
      const e4 = specE4(seeds.map((s) => ({ dec: aggregate(pick('DEC', P, s)), tent: aggregate(pick('TENT', P, s)), source: aggregate(pick('source', P, s)) })));
      claims.push(claim('dec-spec-e4', "Spec §7.7 E4, the spec's own DEC hypothesis (ECE ≤ 0.6 × TENT's, NLL below TENT's, accuracy above source and within 2 points of TENT, |conf − acc| below TENT's): conditions met, of 5",
        e4.met, '>=', 5, seeds, e4.detail));
    }
  }
  if (has('T3A') && has('source')) {
    const e3 = (protocol: 'online' | 'post') => specE3(seeds.map((s) => ({ t3a: aggregate(pick('T3A', protocol, s)), source: aggregate(pick('source', protocol, s)) })));
    const on = e3(P);
    claims.push(claim('t3a-over-certain', "Spec §7.7 E3: T3A lowers the mean entropy and raises the NLL versus the source model (T3A − source on seed means; conditions met, of 2)",
      on.met, '>=', 2, seeds, `${on.detail}; second pass: ${e3('post').detail}`));
  }
  if (passEnds.length) {
    const drift = (method: string, key: 'ece' | 'accuracy') => {
      const cells = [...new Set(passEnds.filter((p) => p.method === method).map((p) => p.cell))];
      return mean(cells.map((c) => {
        const ps = passEnds.filter((p) => p.method === method && p.cell === c).sort((a, b) => a.pass - b.pass);
        return ps[ps.length - 1]![key] - ps[0]![key];
      }));
    };
    if (passEnds.some((p) => p.method === 'TENT')) {
      claims.push(claim('tent-ece-rises-over-passes', `TENT's online ECE on the last of ${cfg.trajectoryPasses} passes minus on the first (gaussian_noise, top severity; spec E2)`, drift('TENT', 'ece'), '>', 0, [seeds[0]!],
        `accuracy change ${(100 * drift('TENT', 'accuracy')).toFixed(2)} points${passEnds.some((p) => p.method === 'DEC') ? `; DEC's ECE change ${drift('DEC', 'ece').toFixed(4)}, accuracy ${(100 * drift('DEC', 'accuracy')).toFixed(2)} points` : ''}`));
    }
  }
  if (labelChecks.length) {
    claims.push(claim('no-target-labels', 'Adapting on the same target inputs with permuted labels changes no prediction (max |Δ logit|, online and post-pass)', Math.max(...labelChecks), '<=', 0, seeds,
      'runStream strips labels with withoutLabels(); the tests also adapt on a dataset whose label access throws'));
  }
  if (badInputs.length) {
    claims.push(claim('bad-input-errors', 'Bad inputs (target batch of another shape, source model without BatchNorm for TENT, NaN logits) raise a TrellisError naming the problem (count of 3)', badInputs[0]!, '>=', 3, [seeds[0]!]));
  }
  const srcRows = rows.filter((r) => r.method === 'source' && r.protocol === 'online' && r.seed === seeds[0]);
  const normDrops = cfg.datasets.flatMap((d) => cfg.models.flatMap((m) => {
    const cleanNorm = Number(sourceInfo.find((x) => x.seed === seeds[0] && x.dataset === d && x.model === m)?.cleanLogitNorm);
    return cfg.shifts.map((s) => {
      const top = srcRows.filter((r) => r.dataset === d && r.model === m && r.shift === s).sort((a, b) => b.severity - a.severity)[0];
      return top && top.severity > 0 && top.logitNorm < cleanNorm ? 1 : (0 as number);
    });
  }));
  if (normDrops.length) {
    claims.push(claim('source-logit-norm-falls', "The source model's mean logit norm at the highest severity is below its clean-test norm, fraction of (dataset, shift) pairs (spec E1: ≥ 6 of 8)",
      mean(normDrops), '>=', 0.75, [seeds[0]!], `${normDrops.reduce((a, v) => a + v, 0)} of ${normDrops.length}`));
  }

  // ---- tables
  const mainTable = headlineTable(rows, { datasets: cfg.datasets, models: cfg.models, protocols: ['online', 'post'], methods, keep: headline });
  // The ablations run on the first seed only: beside them, every method on that seed alone, with DEC's τ.
  const firstSeedTable = cfg.ablations.length && seeds.length > 1
    ? headlineTable(rows, { datasets: cfg.datasets, models: cfg.models, protocols: ['online'], methods, keep: (r) => headline(r) && r.seed === seeds[0], withTau: true })
    : null;
  const shiftTable = { columns: ['dataset/model', 'shift', 'severity', 'method', 'acc online', 'ECE online', 'NLL online', 'acc post', 'ECE post', 'NLL post'], rows: [] as Array<Array<string | number>> };
  for (const d of cfg.datasets) for (const m of cfg.models) for (const s of cfg.shifts) for (const sev of [...new Set(rows.map((r) => r.severity))].sort()) for (const method of methods) {
    const sel = (p: 'online' | 'post') => aggregate(rows.filter((r) => r.dataset === d && r.model === m && r.shift === s && r.severity === sev && r.method === method && r.protocol === p));
    const on = sel('online');
    const po = sel('post');
    if (!Number.isFinite(on.accuracy)) continue;
    shiftTable.rows.push([`${d}/${m}`, s, sev, method, f4(on.accuracy), f4(on.ece), f4(on.nll), f4(po.accuracy), f4(po.ece), f4(po.nll)]);
  }
  const costTable = { columns: ['method', 'ms per batch', 'peak tensors'], rows: methods.filter((m) => m !== 'source+TS').map((m) => {
    const rs = rows.filter((r) => r.method === m && r.protocol === 'online');
    return [m, Number(mean(rs.map((r) => r.msPerBatch)).toFixed(1)), Math.max(...rs.map((r) => r.peakTensors))];
  }) };

  // ---- plots
  const relData = reliability.flatMap(({ cell, method, bins }) => bins.filter((b) => b.count > 0).flatMap((b) => [
    { cell, method, series: 'measured', confidence: b.meanConfidence, accuracy: b.accuracy, count: b.count },
  ]).concat([{ cell, method, series: 'perfect', confidence: 0, accuracy: 0, count: 0 }, { cell, method, series: 'perfect', confidence: 1, accuracy: 1, count: 0 }]));
  const reliabilityPlot = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values: relData },
    facet: { row: { field: 'cell', type: 'nominal' }, column: { field: 'method', type: 'nominal' } },
    spec: {
      width: 110, height: 110,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'confidence', type: 'quantitative', scale: { domain: [0, 1] } },
        y: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] } },
        color: { field: 'series', type: 'nominal' },
      },
    },
  };
  const sevData: Array<Record<string, number | string>> = [];
  for (const d of cfg.datasets) for (const method of methods) for (const sev of [...new Set(rows.map((r) => r.severity))]) {
    const a = aggregate(rows.filter((r) => r.dataset === d && r.method === method && r.protocol === 'online' && r.severity === sev && core.has(r.shift)));
    if (!Number.isFinite(a.accuracy)) continue;
    for (const [metric, value] of [['accuracy', a.accuracy], ['ECE', a.ece], ['NLL', a.nll], ['entropy (bits)', a.entropyBits]] as const) sevData.push({ dataset: d, method, severity: sev, metric, value });
  }
  const severityPlot = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values: sevData },
    facet: { row: { field: 'dataset', type: 'nominal' }, column: { field: 'metric', type: 'nominal' } },
    resolve: { scale: { y: 'independent' } },
    spec: { width: 150, height: 120, mark: { type: 'line', point: true }, encoding: { x: { field: 'severity', type: 'ordinal' }, y: { field: 'value', type: 'quantitative' }, color: { field: 'method', type: 'nominal' } } },
  };
  const planeData: Array<Record<string, number | string>> = [];
  for (const r of rows.filter((x) => x.protocol === 'online' && x.severity >= 3 && x.method !== 'source' && x.seed === seeds[0])) {
    const src = rows.find((x) => x.protocol === 'online' && x.method === 'source' && x.seed === r.seed && x.dataset === r.dataset && x.model === r.model && x.shift === r.shift && x.severity === r.severity);
    if (!src) continue;
    const rel = relativeToSource({ meanEntropyNats: r.entropyBits, ece: r.ece, nll: r.nll, accuracy: r.accuracy, overconfidenceGap: r.gap } as CalibrationReport,
      { meanEntropyNats: src.entropyBits, ece: src.ece, nll: src.nll, accuracy: src.accuracy, overconfidenceGap: src.gap } as CalibrationReport);
    planeData.push({ method: r.method, dEntropyPct: 100 * rel.dEntropy, dEcePct: 100 * rel.dEce, cell: `${r.dataset} ${r.shift} s${r.severity}` });
  }
  const planePlot = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values: planeData }, width: 420, height: 300,
    mark: { type: 'point', filled: true },
    encoding: { x: { field: 'dEntropyPct', type: 'quantitative', title: 'Δ entropy vs source (%)' }, y: { field: 'dEcePct', type: 'quantitative', title: 'Δ ECE vs source (%)' }, color: { field: 'method', type: 'nominal' } },
  };
  const diagData = rows.filter((r) => r.method === 'source' && r.protocol === 'online' && r.seed === seeds[0]).flatMap((r) => [
    { cell: `${r.dataset}/${r.model}`, shift: r.shift, severity: r.severity, metric: 'mean logit norm', value: r.logitNorm },
    { cell: `${r.dataset}/${r.model}`, shift: r.shift, severity: r.severity, metric: 'mean entropy (bits)', value: r.entropyBits },
  ]);
  const diagPlot = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values: diagData },
    facet: { row: { field: 'cell', type: 'nominal' }, column: { field: 'metric', type: 'nominal' } },
    resolve: { scale: { y: 'independent' } },
    spec: { width: 180, height: 120, mark: { type: 'line', point: true }, encoding: { x: { field: 'severity', type: 'ordinal' }, y: { field: 'value', type: 'quantitative' }, color: { field: 'shift', type: 'nominal' } } },
  };
  const specs = [...cfg.methods, ...cfg.ablations];
  const isOffline = (m: MethodSpec): m is Extract<MethodSpec, { kind: 'shot-im' }> => m.kind === 'shot-im' && m.protocol === 'offline';
  const protocolNote = [
    ...specs.filter(isOffline).map((m) => `${methodLabel(m)} is not an online method: it adapts offline (${m.epochs ?? 3} epochs over the target set at batch ${m.batchSize ?? 64}, spec §7.5); its "online" rows are its first epoch's predictions before each of its updates, and its own result is its post row (after the last epoch).`),
    ...(['predict-then-add', 'add-then-predict'] as const).map((order) => {
      const t3a = specs.filter((m) => m.kind === 't3a' && (m.onlineOrder ?? 'predict-then-add') === order).map(methodLabel);
      return t3a.length ? `${t3a.join(', ')} (gradient-free): online rows predict each batch ${order === 'add-then-predict' ? 'after it joined' : 'before it joins'} the support memory; post rows predict with the final supports.` : '';
    }),
  ].filter(Boolean).join(' ');
  const sections: ReportSection[] = [
    {
      title: 'Setup',
      text: `${options.mode} run, seeds ${seeds.join(', ')}, backend ${tf.getBackend()}, ${seconds.toFixed(0)} s. Source models: ${cfg.models.join(', ')} trained on ${cfg.trainSize} training images (${cfg.epochs} epochs, Adam 1e-3, batch 128, plain cross-entropy); ${cfg.valSize} clean validation images give the temperature-scaling T (labels) and DEC's h0/κ (inputs only). Targets: ${cfg.targetSize} test images per cell, corruptions ${cfg.shifts.join(', ')} at severities ${cfg.severities.join(', ')}, stream batch ${cfg.batchSize}, one pass, each cell starting from the source model. Online = prediction of each batch before its update; post = second pass with the adapted model. ${protocolNote} Headline averages: core shifts, severities ≥ 3. Source models: ${sourceInfo.map((s) => `${s.dataset}/${s.model} seed ${s.seed}: clean acc ${Number(s.cleanAccuracy).toFixed(4)}, ECE ${Number(s.cleanEce).toFixed(4)}, T ${Number(s.temperature).toFixed(3)}, h0 ${Number(s.h0Bits).toFixed(3)} bits, κ ${Number(s.kappa).toFixed(3)}`).join('; ')}.`,
    },
    { title: 'Main table (core shifts, severities ≥ 3, mean over seeds)', text: [cfg.ablations.length ? `Ablations (${cfg.ablations.map(methodLabel).join(', ')}) ran on the first seed only.` : '', protocolNote].filter(Boolean).join(' '), table: mainTable },
    ...(firstSeedTable ? [{
      title: `Ablations beside the methods, seed ${seeds[0]} only (online, core shifts, severities ≥ 3)`,
      text: 'The main table averages the methods over every seed but the ablations over the first seed; here every method and ablation is on that seed alone, so the rows compare directly. Mean τ is the temperature of the pseudo-labels DEC logged per batch (τ = T·γ in the paper, T in the released code, 1 when fixed).',
      table: firstSeedTable,
    }] : []),
    { title: 'Per shift and severity (mean over seeds)', ...(protocolNote ? { text: protocolNote } : {}), table: shiftTable },
    { title: `Reliability diagrams (online, severity ${Math.max(...cfg.severities)}, first seed)`, text: 'Per-bin accuracy against mean confidence (equal-width 15 bins); the diagonal is perfect calibration.', plot: reliabilityPlot },
    { title: 'Severity curves (online, core shifts averaged)', plot: severityPlot },
    { title: 'Over-certainty plane (online, severities ≥ 3, first seed)', text: 'Entropy minimisers are expected in the "entropy down, ECE up" quadrant.', plot: planePlot },
    { title: 'Shift diagnostics of the source model', text: 'Mean logit L2 norm and entropy against severity — the empirical basis of the norm factor γ.', plot: diagPlot },
    { title: 'Cost per method (this machine)', table: costTable },
  ];
  if (trajectories.length) {
    sections.push({
      title: `Online trajectories (${cfg.trajectoryPasses} passes, sliding window of 1000 predictions)`,
      plot: {
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        data: { values: trajectories.flatMap((t) => [{ method: t.method, batch: t.batch, metric: 'ECE', value: t.ece }, { method: t.method, batch: t.batch, metric: 'accuracy', value: t.accuracy }, { method: t.method, batch: t.batch, metric: 'entropy (bits)', value: t.entropyBits }]) },
        facet: { column: { field: 'metric', type: 'nominal' } }, resolve: { scale: { y: 'independent' } },
        spec: { width: 180, height: 140, mark: 'line', encoding: { x: { field: 'batch', type: 'quantitative' }, y: { field: 'value', type: 'quantitative' }, color: { field: 'method', type: 'nominal' } } },
      },
    });
  }
  const summary = {
    mode: options.mode, seeds, seconds, config: { ...cfg, methods: cfg.methods.map(methodLabel), ablations: cfg.ablations.map(methodLabel) }, sourceModels: sourceInfo,
    headline: Object.fromEntries(methods.map((m) => [m, { online: aggregate(pick(m, 'online')), post: aggregate(pick(m, 'post')) }])),
    cells: rows,
    claims,
  };
  const summaryPath = await record.writeSummary(summary);
  const reportPath = await record.writeReport({
    title: 'uda-calibration: adapting to an unlabeled shifted domain without becoming over-certain',
    intro: 'Certainty distillation (Dynamic Entropy Control) against entropy-minimising test-time adaptation, on corrupted MNIST / Fashion-MNIST. Every figure below was measured by this run.',
    claims, sections,
  });
  return { runDir: record.dir, summaryPath, reportPath, claims, summary: { headline: summary.headline, seconds } };
}
