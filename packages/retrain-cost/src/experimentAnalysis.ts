/**
 * The analysis of the `trellis retrain-cost` grid (spec §7.1, §10.5–10.7, §13): correlations of every index
 * with the measured cost (pooled and within family, with bootstrap intervals), monotonicity in the shift
 * intensity, the cost predictor's held-out error and intervals, the tracker's energy recomputed by hand,
 * the other cost proxies, the index's own cost and every index variant. Pure functions of the grid's rows
 * (and the energy log's lines); the claims and the report read their results.
 */
import { CostPredictor, droppedReasons, usableForFit, type CalibrationPoint, type DroppedRuns, type PredictorEvaluation } from './predictor.js';
import { correlationsWithIntervals, epochEquivalents, orderingAgreement, type CorrelationWithIntervals, type ModelPair } from './costAnalysis.js';
import { energyByHand, energyStatement, relativeError, workedEnergyExample } from './energyAudit.js';
import type { Plan } from './experimentPlan.js';
import { INDEX_NAMES, type EnergyLogLine, type GridRow, type IndexName } from './experimentGrid.js';
import { DISTANCE_NAMES } from './histogram.js';
import { median, pearson, spearman, spearmanTieCap } from './stats.js';

/** The cell a run belongs to: `dataset/model/s<seed>`. @internal */
export const cellOf = (r: GridRow): string => `${r.dataset}/${r.model}/s${r.seed}`;
const steps = (r: GridRow) => r.steps;
/** The smallest of `xs`; NaN for none. @internal */
export const minOf = (xs: number[]): number => (xs.length ? Math.min(...xs) : NaN);

/** One index in one group of runs: ρ (all runs and uncensored only), r against log(1 + cost), τ, the tie cap and 95% bootstrap intervals. @internal */
export interface CorrelationEntry extends Pick<CorrelationWithIntervals, 'kendall' | 'spearmanCI' | 'pearsonCI' | 'kendallCI'> {
  group: string; n: number; index: IndexName; spearman: number; pearson: number; spearmanUncensored: number; tieCap: number; nUncensored: number;
}

/**
 * Per group of runs and per index: Spearman ρ (all runs and uncensored only), Pearson r against
 * log(1 + cost), Kendall τ, the tie cap, and 95% bootstrap intervals of ρ, r and τ (resampling stream
 * derived from `seed` and `tag`, apart from the grid's streams). @internal
 */
export function correlationTable(rows: GridRow[], groupKey: (r: GridRow) => string, cost: (r: GridRow) => number, names: readonly IndexName[], seed: number, tag: string): CorrelationEntry[] {
  const groups = new Map<string, GridRow[]>();
  for (const r of rows) {
    const k = groupKey(r);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  const out: CorrelationEntry[] = [];
  for (const [g, rs] of groups) {
    const unc = rs.filter((r) => !r.censored);
    const tieCap = spearmanTieCap(rs.map(cost));
    for (const name of names) {
      out.push({
        group: g, n: rs.length, index: name, tieCap,
        spearman: spearman(rs.map((r) => r.indices[name]), rs.map(cost)),
        pearson: pearson(rs.map((r) => r.indices[name]), rs.map((r) => Math.log1p(cost(r)))),
        spearmanUncensored: spearman(unc.map((r) => r.indices[name]), unc.map(cost)), nUncensored: unc.length,
        ...pickIntervals(correlationsWithIntervals(rs.map((r) => r.indices[name]), rs.map(cost), seed, [tag, g, name], { pearsonCost: Math.log1p })),
      });
    }
  }
  return out;
}

function pickIntervals(c: CorrelationWithIntervals): Pick<CorrelationWithIntervals, 'kendall' | 'spearmanCI' | 'pearsonCI' | 'kendallCI'> {
  return { kendall: c.kendall, spearmanCI: c.spearmanCI, pearsonCI: c.pearsonCI, kendallCI: c.kendallCI };
}

/** ρ(index, intensity) of one index in one cell × family (key `cell/family`), control at intensity 0. @internal */
export interface MonotonicityEntry {
  key: string;
  index: string;
  rho: number;
}

/** Monotonicity: Spearman(index, intensity) within each family of each cell, control at intensity 0, for PreIndex, ARM, RESQUE and p (W-32). @internal */
export function monotonicity(rows: GridRow[], families: Plan['families']): MonotonicityEntry[] {
  const cell = cellOf;
  const mono: MonotonicityEntry[] = [];
  const controlRows = rows.filter((r) => r.family === 'control');
  for (const f of families) {
    for (const c of new Set(rows.map(cell))) {
      const rs = [...controlRows.filter((r) => cell(r) === c), ...rows.filter((r) => r.family === f && cell(r) === c)];
      for (const name of ['preIndex', 'arm', 'resque', 'preIndexP'] as const) mono.push({ key: `${c}/${f}`, index: name, rho: spearman(rs.map((r) => r.level), rs.map((r) => r.indices[name])) });
    }
  }
  return mono;
}

/** The largest |value| on the clean control of PreIndex (corrected and all 12 distances), ARM (3 variants) and RESQUE; 0 without control runs. @internal */
export function controlMaxOf(rows: GridRow[]): number {
  const controlRows = rows.filter((r) => r.family === 'control');
  return Math.max(0, ...controlRows.flatMap((r) => [
    Math.abs(r.indices.preIndex), Math.abs(r.indices.arm), Math.abs(r.indices.resque), Math.abs(r.indices.armPooled), Math.abs(r.indices.armBinCdf),
    ...Object.values(r.distances).flatMap((m) => Object.values(m).map(Math.abs)),
  ]));
}

/**
 * The cost predictor's fit on one cell's runs and its held-out error (the plan's scheme, and leave-one-out), with
 * the runs the fit left out for a non-finite PreIndex or cost ({@link DroppedRuns}, by run id). @internal
 */
export interface PredictorCellEvaluation {
  cell: string; mdape: number; coverage: number; n: number; censoredAbove: number; a: number; b: number; halfWidth: number;
  leaveOut: 'group' | 'one'; loo: PredictorEvaluation; lofo: PredictorEvaluation | null;
  dropped: Omit<DroppedRuns, 'runs'> & { runs: string[] };
}

/**
 * The predictor per cell (log(epochs + 1) = a + b·PreIndex): leave-one-family-out when the plan has several
 * families, leave-one-out otherwise; and each run's prediction with that run left out of the fit (before its
 * retraining), with kWh and CO2e intervals from the other runs' energy per epoch. A cell whose fit fails is logged, and
 * so are the runs a fit left out for a non-finite PreIndex or cost (also in `dropped`). @internal
 */
export function evaluatePredictor(rows: GridRow[], families: Plan['families'], log: (s: string) => void): { predictorEval: PredictorCellEvaluation[]; predictions: Array<Record<string, number | string | boolean>> } {
  const cell = cellOf;
  const predictorEval: PredictorCellEvaluation[] = [];
  const predictions: Array<Record<string, number | string | boolean>> = [];
  for (const c of new Set(rows.map(cell))) {
    const rs = rows.filter((r) => cell(r) === c);
    const pts: CalibrationPoint[] = rs.map((r) => ({ index: r.indices.preIndex, epochs: r.epochs, kWh: r.kWh, kgCO2e: r.kgCO2e, censored: r.censored, group: r.family }));
    try {
      const pred = CostPredictor.fit(pts);
      const leaveOut = families.length > 1 ? 'group' : 'one';
      const ev = pred.evaluate({ leaveOut });
      // both held-out schemes are reported; the claims read the plan's one (`ev`)
      const loo = leaveOut === 'one' ? ev : pred.evaluate({ leaveOut: 'one' });
      const d = pred.dropped;
      const dropped = { ...d, runs: d.runs.map((i) => `${c}/${rs[i]!.family}-${rs[i]!.severity}`) };
      if (d.total) log(`  predictor for ${c}: left ${d.total} run${d.total === 1 ? '' : 's'} out of the fit (${droppedReasons(d)}): ${dropped.runs.join(', ')}`);
      predictorEval.push({ cell: c, mdape: ev.mdape, coverage: ev.coverage, n: ev.n, censoredAbove: ev.censoredAboveInterval, a: pred.coefficients.a, b: pred.coefficients.b, halfWidth: pred.logHalfWidth,
        leaveOut, loo, lofo: leaveOut === 'group' ? ev : null, dropped });
      // prediction for each shift before its own retraining: fit without that run (none for a run without a
      // finite index, or when the other runs leave fewer than 2 the fit can use)
      rs.forEach((r, i) => {
        const others = pts.filter((_, j) => j !== i);
        if (!Number.isFinite(pts[i]!.index) || others.filter(usableForFit).length < 2) return;
        // kWh per epoch as a profiling run would give it: energy per optimiser step of the other runs × steps per epoch
        const trained = rs.filter((o, j) => j !== i && o.steps > 0);
        const kWhPerEpoch = trained.length ? trained.reduce((s2, o) => s2 + o.kWh, 0) / trained.reduce((s2, o) => s2 + o.epochsFractional, 0) : undefined;
        const pr = CostPredictor.fit(others).predict(r.indices.preIndex, { kWhPerEpoch });
        const inside = r.censored ? r.epochs <= pr.epochs.hi : r.epochs >= pr.epochs.lo && r.epochs <= pr.epochs.hi;
        predictions.push({ run: `${c}/${r.family}-${r.severity}`, cell: c, index: r.indices.preIndex, predEpochs: pr.epochs.mean, lo: pr.epochs.lo, hi: pr.epochs.hi,
          measuredEpochs: r.epochs, censored: r.censored, covered: inside, absPctError: !r.censored && r.epochs > 0 ? Math.abs(pr.epochs.mean - r.epochs) / r.epochs : NaN,
          predKWh: pr.kWh?.mean ?? NaN, kWhLo: pr.kWh?.lo ?? NaN, kWhHi: pr.kWh?.hi ?? NaN, measuredKWh: r.kWh,
          predKgCO2e: pr.kgCO2e?.mean ?? NaN, kgCO2eLo: pr.kgCO2e?.lo ?? NaN, kgCO2eHi: pr.kgCO2e?.hi ?? NaN, measuredKgCO2e: r.kgCO2e });
      });
    } catch (e) {
      log(`  predictor for ${c}: ${(e as Error).message}`);
    }
  }
  return { predictorEval, predictions };
}

/**
 * The tracker checked by hand (spec §13.4–13.5): every logged run's energy and CO2e recomputed from its
 * per-interval log, the relative errors, the metered-or-modelled statement, and a worked example (the longest
 * interval of the first run that trained). @internal
 */
export function auditEnergy(rows: GridRow[], lines: EnergyLogLine[]) {
  const cell = cellOf;
  const rowsByRun = new Map(rows.map((r) => [`${cell(r)}/${r.family}-${r.severity}`, r]));
  const energyAudit = lines.map((l) => {
    const hand = energyByHand(l.samples, l.inputs);
    return {
      run: l.run, energyKind: l.report.energyKind, cpuMethod: l.inputs.cpuMethod, tdpWatts: l.inputs.tdpWatts, logicalCores: l.inputs.logicalCores, pue: l.inputs.pue,
      carbonIntensity: l.inputs.carbonIntensity, samples: l.samples.length, cpuS: l.report.cpuS, kWh: l.report.kWh, kWhByHand: hand.kWh, relErr: relativeError(hand.kWh, l.report.kWh),
      kgCO2e: l.report.kgCO2e, kgCO2eByHand: hand.kgCO2e, kgCO2eRelErr: relativeError(hand.kgCO2e, l.report.kgCO2e),
    };
  });
  const relErr = energyAudit.map((a) => a.relErr);
  const statement = energyStatement(rows.map((r) => ({ energyKind: r.energyKind, cpuMethod: r.cpuMethod })));
  const example = lines.find((l) => (rowsByRun.get(l.run)?.steps ?? 0) > 0 && l.samples.length > 0) ?? lines.find((l) => l.samples.length > 0);
  const exampleSample = example?.samples.reduce((a, b) => (b.dtS > a.dtS ? b : a));
  const workedExample = example && exampleSample ? {
    run: example.run, interval: workedEnergyExample(exampleSample, example.inputs),
    total: `PUE ${example.inputs.pue} × Σ over its ${example.samples.length} intervals / 3.6e6 = ${energyByHand(example.samples, example.inputs).kWh.toExponential(6)} kWh (tracker: ${example.report.kWh.toExponential(6)} kWh); × ${example.inputs.carbonIntensity} g/kWh / 1000 = ${energyByHand(example.samples, example.inputs).kgCO2e.toExponential(6)} kg CO2e (tracker: ${example.report.kgCO2e.toExponential(6)})`,
  } : null;
  return { rowsByRun, energyAudit, relErr, statement, workedExample };
}

/**
 * The fraction of dataset × shift settings (costs not tied) where `name` orders the retraining steps of the
 * plan's first two models correctly (spec §13.3, ARM's claim); NaN with fewer than two models. @internal
 */
export function crossArchitectureOf(shifted: GridRow[], models: Plan['models'], name: IndexName): number {
  if (models.length < 2) return NaN;
  const pairs: ModelPair[] = [];
  for (const r of shifted.filter((x) => x.model === models[0])) {
    const o = shifted.find((x) => x.model === models[1] && x.dataset === r.dataset && x.family === r.family && x.severity === r.severity);
    if (o) pairs.push({ indexA: r.indices[name], indexB: o.indices[name], costA: r.steps, costB: o.steps });
  }
  return orderingAgreement(pairs);
}

/** Spec §10.7's other expected correlations: per cell, ρ of PreIndex, ARM, RESQUE and accuracy drop with steps, kWh, CO2e, Σ grad norm, param change and CPU-s. @internal */
export function costProxiesOf(rows: GridRow[], cells: string[]) {
  const cell = cellOf;
  const PROXIES = { steps: (r: GridRow) => r.steps, kWh: (r: GridRow) => r.kWh, kgCO2e: (r: GridRow) => r.kgCO2e, gradNormSum: (r: GridRow) => r.gradNormSum, paramChange: (r: GridRow) => r.paramChange, cpuS: (r: GridRow) => r.cpuS } as const;
  const PROXY_INDICES: IndexName[] = ['preIndex', 'arm', 'resque', 'accuracyDrop'];
  return cells.flatMap((c) => {
    const rs = rows.filter((r) => cell(r) === c);
    return PROXY_INDICES.map((name) => ({
      cell: c, index: name, n: rs.length,
      ...Object.fromEntries(Object.entries(PROXIES).map(([k, f]) => [k, spearman(rs.map((r) => r.indices[name]), rs.map(f))])) as Record<keyof typeof PROXIES, number>,
    }));
  });
}

/**
 * Spec §13.2: PreIndex's cost per cell, in seconds (median over settings) and training-epoch equivalents, on the
 * full data and on the subsample, with the pooled ρ with steps of each (`pooled` gives the full data's). @internal
 */
export function indexCostOf(rows: GridRow[], cells: string[], pooled: CorrelationEntry[]) {
  const cell = cellOf;
  return cells.map((c) => {
    const rs = rows.filter((r) => cell(r) === c);
    const trained = rs.filter((r) => r.steps > 0);
    return {
      cell: c, preIndexS: median(rs.map((r) => r.preIndexMs / 1000)), trainSPerEpoch: trained.reduce((s2, r) => s2 + r.trainS, 0) / trained.reduce((s2, r) => s2 + r.epochsFractional, 0),
      epochEquivalents: epochEquivalents(rs.map((r) => r.preIndexMs / 1000), trained.map((r) => r.trainS), trained.map((r) => r.epochsFractional)),
      // the index's own cost: only what its value needs (components 'index'; same value, checked per row)
      preIndexOnlyS: median(rs.map((r) => r.preIndexOnlyMs / 1000)),
      onlyEpochEquivalents: epochEquivalents(rs.map((r) => r.preIndexOnlyMs / 1000), trained.map((r) => r.trainS), trained.map((r) => r.epochsFractional)),
      onlyValueMismatches: rs.filter((r) => r.preIndexOnly !== r.indices.preIndex).length,
      // per further shift once the cell's clean-side reference is built (its one-time cost beside it); reported, not claimed
      perShiftS: median(rs.map((r) => r.preIndexPerShiftMs / 1000)),
      perShiftEpochEquivalents: epochEquivalents(rs.map((r) => r.preIndexPerShiftMs / 1000), trained.map((r) => r.trainS), trained.map((r) => r.epochsFractional)),
      referenceS: (rs[0]?.preIndexReferenceMs ?? NaN) / 1000,
      perShiftValueMismatches: rs.filter((r) => r.preIndexPerShift !== r.indices.preIndex).length,
      // the same on the §13.2 subsample, and how much its pooled ρ with steps falls short of the full data's
      preIndexSubS: median(rs.map((r) => r.preIndexSubMs / 1000)),
      subEpochEquivalents: epochEquivalents(rs.map((r) => r.preIndexSubMs / 1000), trained.map((r) => r.trainS), trained.map((r) => r.epochsFractional)),
      rhoFull: pooled.find((p) => p.group === c && p.index === 'preIndex')!.spearman, rhoSub: spearman(rs.map((r) => r.preIndexSub), rs.map(steps)),
    };
  });
}

/** Every PreIndex distance (metric × bins), the clustering term and every ARM variant with its pooled ρ and r with steps per cell (spec §4.1, §10.5: report all, tune none). @internal */
export function indexVariantsOf(rows: GridRow[], cells: string[]) {
  const cell = cellOf;
  const variantKeys = [
    ...[16, 32, 64].flatMap((b) => DISTANCE_NAMES.map((m) => ({ key: `PreIndex D̄ ${m}-${b}`, value: (r: GridRow) => r.distances[b]?.[m] ?? NaN }))),
    { key: 'PreIndex inv ARI', value: (r: GridRow) => r.indices.invAri },
    ...Object.keys(rows[0]?.armVariants ?? {}).map((k) => ({ key: `ARM ${k}`, value: (r: GridRow) => r.armVariants[k] ?? NaN })),
  ];
  const variants = variantKeys.flatMap((v) => cells.map((c) => {
    const rs = rows.filter((r) => cell(r) === c);
    return { variant: v.key, cell: c, spearman: spearman(rs.map(v.value), rs.map(steps)), pearson: pearson(rs.map(v.value), rs.map((r) => Math.log1p(r.steps))) };
  }));
  return { variantKeys, variants };
}

/** Pooled Spearman ρ of one index, one value per cell. @internal */
export function pooledSpearman(pooled: CorrelationEntry[], name: IndexName): number[] {
  return pooled.filter((p) => p.index === name).map((p) => p.spearman);
}

/**
 * The whole analysis of the grid's rows: pooled (per cell) and within-family (control counted in every family)
 * correlation tables, monotonicity, the control's largest index, the predictor, the energy audit of the energy
 * log's `lines`, ρ(PreIndex, kWh) against ρ(PreIndex, steps), cross-architecture ordering, the cost proxies, the
 * index cost and the variants. `seed` seeds the bootstrap streams. @internal
 */
export function analyseGrid(rows: GridRow[], plan: Plan, seed: number, lines: EnergyLogLine[], log: (s: string) => void) {
  const cell = cellOf;
  const famKey = (r: GridRow) => `${cell(r)}/${r.family}`;
  const pooled = correlationTable(rows, cell, steps, INDEX_NAMES, seed, 'pooled');
  const shifted = rows.filter((r) => r.family !== 'control');
  const withinFamily = correlationTable(shifted.concat(rows.filter((r) => r.family === 'control').flatMap((c) => plan.families.map((f) => ({ ...c, family: f })))), famKey, steps, INDEX_NAMES, seed, 'within-family');
  const mono = monotonicity(rows, plan.families);
  const monoClaimed = mono.filter((m) => m.index !== 'preIndexP');
  const controlMax = controlMaxOf(rows);
  const { predictorEval, predictions } = evaluatePredictor(rows, plan.families, log);
  const { rowsByRun, energyAudit, relErr, statement, workedExample } = auditEnergy(rows, lines);
  const rhoKWh = minOf([...new Set(rows.map(cell))].map((c) => {
    const rs = rows.filter((r) => cell(r) === c);
    return Math.abs(spearman(rs.map((r) => r.indices.preIndex), rs.map((r) => r.kWh)) - spearman(rs.map((r) => r.indices.preIndex), rs.map(steps)));
  }).map((v) => -v));
  const crossArch = crossArchitectureOf(shifted, plan.models, 'arm');
  const crossArchitecture = INDEX_NAMES.map((name) => ({ index: name, agreement: crossArchitectureOf(shifted, plan.models, name) }));
  const cells = [...new Set(rows.map(cell))];
  const costProxies = costProxiesOf(rows, cells);
  const preProxies = costProxies.filter((p) => p.index === 'preIndex');
  const proxyMin = minOf(preProxies.flatMap((p) => [p.gradNormSum, p.paramChange]));
  const carbonGap = preProxies.length ? Math.max(...preProxies.map((p) => Math.abs(p.kgCO2e - p.kWh))) : NaN;
  const indexCost = indexCostOf(rows, cells, pooled);
  const { variantKeys, variants } = indexVariantsOf(rows, cells);
  return {
    pooled, withinFamily, mono, monoClaimed, controlMax, predictorEval, predictions, rowsByRun, energyAudit, relErr, statement, workedExample,
    rhoKWh, crossArch, crossArchitecture, cells, costProxies, preProxies, proxyMin, carbonGap, indexCost, variantKeys, variants,
  };
}

/** What {@link analyseGrid} returns. @internal */
export type GridAnalysis = ReturnType<typeof analyseGrid>;
