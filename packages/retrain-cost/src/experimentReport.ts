/**
 * The `trellis retrain-cost` report and summary: the tables and figures of every section (scatter plots,
 * correlation tables and pivots, cost proxies, variants, index cost, runs, predictor, tracker audit) and
 * the `summary.json` object, assembled from the grid's rows, its analysis and its claims.
 */
import type { Claim, ExperimentOptions, Report } from '@trellis-ml/core';
import type { PilotOutcome } from './experimentCell.js';
import { cellOf, type GridAnalysis } from './experimentAnalysis.js';
import { INDEX_NAMES, type GridOutcome } from './experimentGrid.js';
import type { Plan } from './experimentPlan.js';
import { correlationBarsPlot, costScatterPlot, predictionIntervalPlot, type CostScatterPoint } from './reportFigures.js';

/** A statistic rounded to 4 decimals for tables and the summary; null (shown —) when not finite. */
const fmt = (v: number) => (Number.isFinite(v) ? Number(v.toFixed(4)) : null);
/** A count-like value to 2 decimals as text; ∞ or — when not finite. */
const fmtNum = (v: number) => (Number.isFinite(v) ? String(Number(v.toFixed(2))) : v === Infinity ? '∞' : '—');
/** A small quantity (kWh, kg CO2e) in exponent notation with 3 decimals; ∞ or — when not finite. */
const expNum = (v: number) => (Number.isFinite(v) ? v.toExponential(3) : v === Infinity ? '∞' : '—');
/** A bootstrap interval as `[lo, hi]` to 3 decimals; null when undefined. */
const ciText = (c: { lo: number; hi: number }) => (Number.isFinite(c.lo) ? `[${c.lo.toFixed(3)}, ${c.hi.toFixed(3)}]` : null);

/**
 * `summary.json` of a run (before the claims and what the run record adds): the mode, seeds, plan, wall
 * time, backend, every analysis table and every run. @internal
 */
export function gridSummary(mode: ExperimentOptions['mode'], seeds: number[], plan: Plan, wallS: number, backend: string, grid: GridOutcome, pilot: PilotOutcome | null, analysis: GridAnalysis) {
  const { rows, skipped, badInputs } = grid;
  const { pooled, withinFamily, mono, predictorEval, predictions, relErr, statement, workedExample, energyAudit, costProxies, indexCost, variants, crossArchitecture } = analysis;
  return {
    mode, seeds, plan, wallS, backend, rows: rows.length,
    pooled: pooled.map((p) => ({ ...p, spearman: fmt(p.spearman), pearson: fmt(p.pearson), spearmanUncensored: fmt(p.spearmanUncensored) })),
    withinFamily,
    pilot, skipped, monotonicity: mono, predictor: predictorEval, predictions, badInputs, trackerRelErr: Math.max(...relErr), energyNote: statement.text,
    tracker: { energyKind: statement.kind, statement: statement.text, workedExample, runs: energyAudit },
    costProxies, indexCost, variants, crossArchitecture: plan.models.length >= 2 ? crossArchitecture : null,
    runs: rows,
  };
}

/**
 * The report of a run: title, intro (plan, backend, cost definition, energy statement, tracker settings), the
 * claims, and every section with its table or figure. @internal
 */
export function gridReport(mode: ExperimentOptions['mode'], plan: Plan, backend: string, grid: GridOutcome, pilot: PilotOutcome | null, analysis: GridAnalysis, claims: Claim[]): Report {
  const { rows, skipped } = grid;
  const { pooled, withinFamily, costProxies, variants, variantKeys, cells, crossArchitecture, indexCost, predictions, predictorEval, energyAudit, rowsByRun, workedExample, statement } = analysis;
  const cell = cellOf;
  const pivotGroups = [...pooled.map((p) => ({ label: `${p.group} (pooled)`, e: p })), ...withinFamily.map((w) => ({ label: w.group, e: w }))];
  const pivot = (stat: 'spearman' | 'pearson') => ({
    columns: ['group', 'n', 'tie cap', ...INDEX_NAMES],
    rows: [...new Set(pivotGroups.map((g) => g.label))].map((label) => {
      const es = pivotGroups.filter((g) => g.label === label).map((g) => g.e);
      return [label, es[0]!.n, fmt(es[0]!.tieCap), ...INDEX_NAMES.map((name) => fmt(es.find((e) => e.index === name)?.[stat] ?? NaN))];
    }),
  });
  const scatter: CostScatterPoint[] = rows.map((r) => ({ cell: `${r.dataset}/${r.model}`, family: r.family, level: r.level, preIndex: r.indices.preIndex, arm: r.indices.arm, resque: r.indices.resque, accuracyDrop: r.indices.accuracyDrop, steps: r.steps, kWh: r.kWh, censored: r.censored ? 'censored' : 'reached' }));
  const scatterPlot = (x: string, title: string, y?: string, yTitle?: string) => costScatterPlot(scatter, x, title, y, yTitle);
  return {
    title: `retrain-cost reproduction (${mode})`,
    intro: `Datasets ${plan.datasets.join(', ')}; models ${plan.models.join(', ')}; families ${plan.families.join(', ')} at severities ${plan.severities.join(', ')} plus a clean control; ${rows.length} retraining runs on backend ${backend}. Cost = optimiser steps until the shifted-test accuracy reaches the clean accuracy − ${plan.datasets.includes('fashion') ? '2 (MNIST) / 3 (Fashion)' : '2'} points, evaluated every ¼ epoch. ${statement.text} Tracker settings: CPU ${plan.cpuMethod}, TDP ${plan.tdpWatts} W, RAM DIMM model, PUE 1, 475 g/kWh.`,
    claims,
    sections: [
      ...(skipped.length ? [{ title: 'Skipped cells', text: skipped.join('\n') }] : []),
      ...(pilot ? [{
        title: 'Pilot (spec §10.3)',
        text: `Before the grid, ${pilot.dataset}/${pilot.model} (seed ${pilot.seed}, not a grid seed) was retrained at every family × severity with the grid's protocol; every intensity it censored is dropped from the whole grid: ${pilot.dropped.length ? pilot.dropped.join(', ') : 'none'} (${pilot.wallS.toFixed(0)} s).`,
        table: { columns: ['family', 'severity', 'intensity', 'steps', 'stop', 'dropped'], rows: pilot.runs.map((r) => [r.family, r.severity, r.level, r.steps, r.stopReason, r.censored ? 'yes' : 'no']) },
      }] : []),
      { title: 'PreIndex vs measured cost', text: 'Each point is one retraining run; squares (if any) are censored runs (cap or plateau cutoff).', plot: scatterPlot('preIndex', 'PreIndex (baseline-corrected) vs steps to target') },
      { title: 'ARM vs measured cost', plot: scatterPlot('arm', 'ARM vs steps to target') },
      { title: 'Accuracy drop (baseline) vs measured cost', plot: scatterPlot('accuracyDrop', 'Accuracy drop vs steps to target') },
      { title: 'RESQUE vs measured cost', plot: scatterPlot('resque', 'RESQUE vs steps to target') },
      { title: 'PreIndex vs measured energy', text: `Training energy as the tracker reports it (${statement.kind}).`, plot: scatterPlot('preIndex', 'PreIndex vs kWh of the training passes', 'kWh', 'kWh (training passes)') },
      {
        title: 'Pooled correlations with steps to target', text: 'Spearman ρ over all runs of a dataset × model × seed (control included); Pearson r against log(1 + steps); Kendall τ-b. Brackets: 95% percentile-bootstrap intervals (1,000 resamples of the runs; resamples with constant costs or indices skipped). LogME, LEEP and H-score are negated (lower score = harder).',
        table: { columns: ['cell', 'index', 'n', 'Spearman', 'Spearman 95% CI', 'Pearson', 'Pearson 95% CI', 'Kendall', 'Kendall 95% CI', 'Spearman (uncensored)', 'n uncensored'], rows: pooled.map((p) => [p.group, p.index, p.n, fmt(p.spearman), ciText(p.spearmanCI), fmt(p.pearson), ciText(p.pearsonCI), fmt(p.kendall), ciText(p.kendallCI), fmt(p.spearmanUncensored), p.nUncensored]) },
      },
      { title: 'Pooled Spearman ρ with bootstrap intervals', plot: correlationBarsPlot(pooled.map((p) => ({ group: p.group, index: p.index, value: fmt(p.spearman), lo: fmt(p.spearmanCI.lo), hi: fmt(p.spearmanCI.hi) })), 'Pooled Spearman ρ(index, steps), 95% bootstrap CI') },
      {
        title: 'Within-family correlations', text: 'Every index and baseline per family (control counted as intensity 0 in every family). Tie cap: the largest ρ an index with distinct values can reach given the tied costs (runs that need 0 steps, or stop at the same cap). Brackets as above.',
        table: { columns: ['family', 'index', 'n', 'Spearman', 'Spearman 95% CI', 'tie cap', 'Pearson', 'Pearson 95% CI', 'Kendall', 'Spearman (uncensored)', 'n uncensored'], rows: withinFamily.map((w) => [w.group, w.index, w.n, fmt(w.spearman), ciText(w.spearmanCI), fmt(w.tieCap), fmt(w.pearson), ciText(w.pearsonCI), fmt(w.kendall), fmt(w.spearmanUncensored), w.nUncensored]) },
      },
      { title: 'Spearman ρ per family and pooled: PreIndex beside the baselines', text: 'ρ(index, steps to target); rows ending in "(pooled)" pool the families of a cell.', table: pivot('spearman') },
      { title: 'Pearson r per family and pooled: PreIndex beside the baselines', text: 'r(index, log(1 + steps to target)).', table: pivot('pearson') },
      {
        title: 'Other costs (spec §10.7)', text: 'Spearman ρ of each index with the other measured costs, pooled per cell. With a constant grid intensity, CO2e ranks exactly as kWh; modelled kWh follows CPU time. Σ grad norm: the global gradient norm at each epoch end, summed; param change: mean over tensors of ‖θ − θ₀‖/√n at the end.',
        table: { columns: ['cell', 'index', 'n', 'ρ steps', 'ρ kWh', 'ρ CO2e', 'ρ Σ grad norm', 'ρ param change', 'ρ CPU-s'], rows: costProxies.map((p) => [p.cell, p.index, p.n, fmt(p.steps), fmt(p.kWh), fmt(p.kgCO2e), fmt(p.gradNormSum), fmt(p.paramChange), fmt(p.cpuS)]) },
      },
      {
        title: 'Index variants (spec §4.1, §10.5)', text: `Pooled Spearman ρ with steps of every PreIndex distance D̄ (metric-bins), the clustering term and every ARM variant (construction/W mode/bins). The claims use the defaults chosen before any run (PreIndex p = W-32, ARM perUnitAverage/value-sort/32); this table is for reading, not for tuning.`,
        table: { columns: ['variant', ...cells], rows: variantKeys.map((v) => [v.key, ...cells.map((c) => fmt(variants.find((x) => x.variant === v.key && x.cell === c)!.spearman))]) },
      },
      ...(plan.models.length >= 2 ? [{
        title: 'Cross-architecture ordering (spec §13.3)', text: `Fraction of dataset × shift settings (costs not tied) where the index orders ${plan.models[0]} vs ${plan.models[1]} retraining steps correctly; the claim reads ARM.`,
        table: { columns: ['index', 'agreement'], rows: crossArchitecture.map((x) => [x.index, fmt(x.agreement)]) },
      }] : []),
      {
        title: 'Index cost (spec §13.2)', text: "PreIndex's wall time against the training time of one epoch of the same cell (training passes only, as the tracker's segments measure them): value only = both forward passes, the primary distance and the two k-means runs its baseline-corrected value needs (`components: 'index'`, the claim's figure); with every diagnostic component = also the other 11 distances and three more k-means runs (what the report's tables read); per shift with a reference = the same value from `preIndexAgainst` once the cell's clean side (`preIndexReference`: the clean forward pass and the clean k-means, built once, its seconds beside it) exists — one forward pass, the distance and one k-means per shift (reported, not what the claim reads).",
        table: {
          columns: ['cell', 'PreIndex s (median; value only)', 'epoch equivalents', 'with every diagnostic component: s', 'epoch equivalents', 'per shift with a reference: s (median)', 'epoch equivalents', 'reference, once: s', 'training s per epoch', `on the ${Math.round(plan.preIndexSubsample * 100)} % subsample (value only): s (median)`, 'epoch equivalents', 'pooled ρ with steps, full data', 'pooled ρ, subsample'],
          rows: indexCost.map((c) => [c.cell, fmt(c.preIndexOnlyS), fmt(c.onlyEpochEquivalents), fmt(c.preIndexS), fmt(c.epochEquivalents), fmt(c.perShiftS), fmt(c.perShiftEpochEquivalents), fmt(c.referenceS), fmt(c.trainSPerEpoch), fmt(c.preIndexSubS), fmt(c.subEpochEquivalents), fmt(c.rhoFull), fmt(c.rhoSub)]),
        },
      },
      {
        title: 'Runs', table: {
          columns: ['cell', 'family', 'level', 'PreIndex', 'p (W-32)', 'inv ARI', 'ARM', 'RESQUE', 'acc drop', 'MMD² p', 'steps', 'epochs', 'stop', 'acc before→after', 'kWh (train)', 'index ms', 'PreIndex ms', 'retrain s'],
          rows: rows.map((r) => [cell(r), r.family, r.level, fmt(r.indices.preIndex), fmt(r.indices.preIndexP), fmt(r.indices.invAri), fmt(r.indices.arm), fmt(r.indices.resque), fmt(r.indices.accuracyDrop), fmt(r.mmdPValue), r.steps, r.epochs, r.stopReason,
            `${(r.initialAcc * 100).toFixed(1)}→${(r.finalAcc * 100).toFixed(1)}`, r.kWh.toExponential(3), r.indexMs, r.preIndexMs, Number(r.wallS.toFixed(1))]),
        },
      },
      {
        title: 'Predictor', text: 'log(epochs + 1) = a + b·PreIndex fitted on the measured runs; 80% split-conformal intervals on leave-one-out log residuals. Each prediction below was made with that run left out of the fit — i.e. before its retraining.',
        table: { columns: ['run', 'PreIndex', 'predicted epochs', 'interval', 'measured epochs', 'predicted kWh', 'measured kWh'], rows: predictions.map((p) => [String(p.run), fmt(Number(p.index)), fmt(Number(p.predEpochs)), `${Number(p.lo).toFixed(2)}–${Number(p.hi).toFixed(2)}`, Number(p.measuredEpochs), Number(p.predKWh).toExponential(3), Number(p.measuredKWh).toExponential(3)]) },
      },
      {
        title: 'Predictor: held-out error', text: `Per cell: the fit on all runs (log(epochs + 1) = a + b·PreIndex; interval half-width q in log space, ∞ when too few runs for the 80% level), then its held-out error — leave-one-out (every run predicted from the others) and, with several families, leave-one-family-out (the claims read ${plan.families.length > 1 ? 'leave-one-family-out' : 'leave-one-out'}). MdAPE / MAPE over uncensored runs; coverage counts a censored run as covered unless its observed lower bound is above the interval. The last column counts the runs left out of the fit for a non-finite PreIndex or cost (summary.json predictor[].dropped names them).`,
        table: {
          columns: ['cell', 'a', 'b', 'q (log)', 'LOO n', 'LOO MdAPE', 'LOO MAPE', 'LOO coverage', 'LOFO n', 'LOFO MdAPE', 'LOFO MAPE', 'LOFO coverage', 'censored above interval', 'left out (index / cost)'],
          rows: predictorEval.map((p) => [p.cell, fmt(p.a), fmt(p.b), Number.isFinite(p.halfWidth) ? fmt(p.halfWidth) : '∞', p.loo.n, fmt(p.loo.mdape), fmt(p.loo.mape), fmt(p.loo.coverage),
            p.lofo?.n ?? null, p.lofo ? fmt(p.lofo.mdape) : null, p.lofo ? fmt(p.lofo.mape) : null, p.lofo ? fmt(p.lofo.coverage) : null, p.censoredAbove,
            p.dropped.total ? `${p.dropped.total} (${p.dropped.index} / ${p.dropped.cost})` : 0]),
        },
      },
      {
        title: 'Predictor: intervals before retraining', text: 'The leave-one-out predictions above with their 80% intervals for epochs, kWh and kg CO2e (kWh per epoch from the other runs, as a profiling run would give it; kWh and CO2e intervals are the epoch interval times that constant). |error| is for uncensored runs.',
        table: {
          columns: ['run', 'predicted epochs [80%]', 'measured epochs', '|error|', 'covered', 'predicted kWh [80%]', 'measured kWh', 'predicted kg CO2e [80%]', 'measured kg CO2e'],
          rows: predictions.map((p) => [String(p.run), `${fmtNum(Number(p.predEpochs))} [${fmtNum(Number(p.lo))}, ${fmtNum(Number(p.hi))}]`, Number(p.measuredEpochs) + (p.censored ? ' (censored)' : ''),
            Number.isFinite(Number(p.absPctError)) ? `${(Number(p.absPctError) * 100).toFixed(0)}%` : null, p.covered ? 'yes' : 'no',
            `${expNum(Number(p.predKWh))} [${expNum(Number(p.kWhLo))}, ${expNum(Number(p.kWhHi))}]`, expNum(Number(p.measuredKWh)),
            `${expNum(Number(p.predKgCO2e))} [${expNum(Number(p.kgCO2eLo))}, ${expNum(Number(p.kgCO2eHi))}]`, expNum(Number(p.measuredKgCO2e))]),
        },
      },
      {
        title: 'Predictor: predicted vs measured epochs',
        plot: predictionIntervalPlot(predictions.map((p) => ({ cell: String(p.cell), index: Number(p.index), predicted: Number(p.predEpochs), lo: Number(p.lo), hi: Number(p.hi), measured: Number(p.measuredEpochs), censored: Boolean(p.censored) })), 'Held-out predictions: 80% interval (rule), prediction (tick), measured (point)'),
      },
      {
        title: 'Tracker: metered or modelled, and by hand',
        text: `${statement.text} Every run's energy below is recomputed from the tracker's per-interval log (energy-samples.jsonl in this folder) with the README's formulas: kWh = PUE · Σ (cpuW + ramW + gpuW) · Δt / 3.6e6, kg CO2e = kWh · CI / 1000.${workedExample ? ` Worked example, the longest logged interval of ${workedExample.run}: ${workedExample.interval}; ${workedExample.total}.` : ''} The kWh here cover the whole retraining call (evaluations included); the grid's cost columns use the training passes only. Per-epoch training kWh are in summary.json (runs[].kWhPerEpoch).`,
        table: {
          columns: ['run', 'energy', 'CPU method', 'TDP W', 'cores', 'PUE', 'g CO2e/kWh', 'intervals', 'CPU-s', 'kWh (tracker)', 'kWh (by hand)', 'relative error', 'kg CO2e (tracker)', 'kg CO2e (by hand)', 'training kWh per epoch'],
          rows: energyAudit.map((a) => [a.run, a.energyKind, a.cpuMethod, a.tdpWatts, a.logicalCores, a.pue, a.carbonIntensity, a.samples, fmt(a.cpuS), expNum(a.kWh), expNum(a.kWhByHand), a.relErr.toExponential(1), expNum(a.kgCO2e), expNum(a.kgCO2eByHand),
            (rowsByRun.get(a.run)?.kWhPerEpoch ?? []).map(expNum).join(' / ') || '—']),
        },
      },
    ],
  };
}
