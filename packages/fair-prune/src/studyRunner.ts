import * as tf from '@tensorflow/tfjs-core';
import { Trainer, mlp, type ModelAdapter, type RunRecord, type StudyJournal } from '@trellis-ml/core';
import { badInputChecks } from './badInputChecks.js';
import { flatParameters, groupDiagnostics, setFlatParameters, taylorExcessLoss } from './diagnostics.js';
import { fineTunePruned, type Mitigation } from './finetune.js';
import { disparity, evaluateGroups, type GroupReport } from './groupMetrics.js';
import { applyMasks, computeMasks, parameterCounts } from './masks.js';
import { denseReference, type DenseReference } from './plugin.js';
import { TAYLOR_MAX_SPARSITY, isHighSparsity, type FairPruneSettings, type GroupDesign } from './settings.js';
import { buildDesign, stratifiedSubset, type DesignData, type StudyData } from './studyDesigns.js';
import { afterFineTuneRow, pp, type AfterFineTuneRow, type GridRow, type StudyDesignRun, type StudyRow, type Variant } from './studyReport.js';

/**
 * The runs of the `trellis fair-prune` reproduction: per seed and group design, a dense model trained and
 * measured at θ*, then at each sparsity a one-shot magnitude mask and the fine-tuning variants (none, plain,
 * the mitigation, the two baselines), and the mitigation's dual-step grid.
 */

/** Everything the runs of the reproduction measured. @internal */
export interface StudyResults {
  rows: StudyRow[];
  runs: StudyDesignRun[];
  grid: GridRow[];
  after: AfterFineTuneRow[];
  /** Which error each bad input raised (first seed, classes design; empty when that design did not run). */
  badInputs: Record<string, string>;
}

/**
 * Where the runs report: the run record (metrics), its journal (one unit per seed × design, so an
 * interrupted study resumes), the progress log, and the start time of its elapsed seconds. @internal
 */
export interface StudyRunContext {
  record: RunRecord;
  journal: StudyJournal;
  log: (line: string) => void;
  /** `Date.now()` at the start of the experiment. */
  t0: number;
}

/** The dense model of one (seed, design) and what the fine-tunes need of it. */
interface DenseRun {
  seed: number;
  design: GroupDesign;
  d: DesignData;
  dense: ModelAdapter;
  denseReport: GroupReport;
  denseTrain: GroupReport | null;
  reference: DenseReference;
}

/** Runs every seed and design of the settings on the loaded data. @internal */
export async function runStudy(st: FairPruneSettings, seeds: number[], data: StudyData, ctx: StudyRunContext): Promise<StudyResults> {
  const out: StudyResults = { rows: [], runs: [], grid: [], after: [], badInputs: {} };
  for (const seed of seeds) {
    const base = stratifiedSubset(data.train, st.trainSize, seed);
    for (const design of st.designs) {
      const { rows, runs, grid, after } = out;
      const badInputs = await ctx.journal.collect(`seed ${seed} ${design}`, { rows, runs, grid, after }, async () => {
        const d = buildDesign(design, base, data.test, data.classNames, seed);
        return runDesign(st, seed, design, d, design === 'classes' && seed === seeds[0], out, ctx);
      });
      if (badInputs) out.badInputs = badInputs;
    }
  }
  return out;
}

/** Trains and measures the dense model of one (seed, design), then runs each sparsity on it; returns the bad-input checks' errors when it ran them. */
async function runDesign(st: FairPruneSettings, seed: number, design: GroupDesign, d: DesignData, checkBadInputs: boolean, out: StudyResults, ctx: StudyRunContext): Promise<Record<string, string> | null> {
  const dense = mlp({ inputShape: [784], hidden: st.hidden, numClasses: 10, seed });
  const trainer = new Trainer({ model: dense, seed, batchSize: 128, optimizer: tf.train.adam(1e-3) });
  await trainer.fit(d.train, { epochs: st.denseEpochs });
  trainer.dispose();
  const denseReport = evaluateGroups(dense, d.test, d.numGroups, { seed });
  const reference = denseReference(dense, d.train, d.numGroups);
  const badInputs = checkBadInputs ? badInputChecks(dense, d.train, d.test) : null;
  const withDiagnostics = st.diagnosticDesigns.includes(design);
  const diagnostics = withDiagnostics ? groupDiagnostics(dense, d.train, d.numGroups, { ...st.diagnostics, seed }) : null;
  const denseTrain = withDiagnostics ? evaluateGroups(dense, d.train, d.numGroups, { bootstrapBelow: 0 }) : null;
  const run: StudyDesignRun = { seed, design, groupNames: d.groupNames, dense: denseReport, focus: d.focusGroups(denseReport), diagnostics, denseTrain };
  out.runs.push(run);
  ctx.log(`[fair-prune] seed ${seed} ${design}: dense accuracy ${pp(denseReport.overall.accuracy)}% (groups ${denseReport.perGroup.map((g) => pp(g.accuracy)).join(' / ')}) ${((Date.now() - ctx.t0) / 1000).toFixed(0)}s`);
  for (const s of st.sparsities) await runSparsity(st, { seed, design, d, dense, denseReport, denseTrain, reference }, s, out, ctx);
  dense.dispose();
  return badInputs;
}

/** Prunes the dense model to sparsity `s` and runs the fine-tuning variants and the dual-step grid. */
async function runSparsity(st: FairPruneSettings, base: DenseRun, s: number, out: StudyResults, ctx: StudyRunContext): Promise<void> {
  const { seed, design, d, dense, denseReport, denseTrain, reference } = base;
  const { rows, grid, after } = out;
  const masks = computeMasks(dense, { sparsity: s });
  const variants: Array<[Variant, Mitigation | null]> = [['no-finetune', null], ['plain', { kind: 'none' }], ['mitigated', st.mitigation]];
  if (st.baselineSparsities.includes(s)) {
    variants.push(['equalized-loss', { kind: 'equalized-loss', dualLr: (st.mitigation as { dualLr?: number }).dualLr ?? 0.01 }]);
    variants.push(['ceag', { kind: 'accuracy-gap', tolerance: 0.01, dualLr: (st.mitigation as { dualLr?: number }).dualLr ?? 0.01, bufferSize: 64 }]);
  }
  for (const [variant, mitigation] of variants) {
    const m = cloneModel(dense, st.hidden, seed);
    let lambdas: number[] = [];
    if (mitigation) {
      const r = await fineTunePruned(m, masks, d.train, { epochs: st.fineTuneEpochs, numGroups: d.numGroups, seed, lr: st.fineTuneLr, mitigation, dense, reference });
      lambdas = r.lambdas;
    } else applyMasks(m, masks);
    const report = evaluateGroups(m, d.test, d.numGroups, { seed });
    // spec §7.4: the diagnostics after mitigation (group gradient norms and losses on the training set, s ≥ 0.95)
    if ((variant === 'plain' || variant === 'mitigated') && isHighSparsity(s)) {
      after.push(afterFineTuneRow(seed, design, s, variant, groupDiagnostics(m, d.train, d.numGroups, { maxPerGroup: st.diagnostics.maxPerGroup, powerIterations: 0, seed })));
    }
    const counts = parameterCounts(m, masks);
    const dis = disparity(denseReport, report);
    const trainExcessLoss = denseTrain ? disparity(denseTrain, evaluateGroups(m, d.train, d.numGroups, { bootstrapBelow: 0 })).excessLoss : null;
    // Spec §7.4 "Theory: bound": with no fine-tune and s ≤ 0.5 the second-order estimate should rank the groups by R(a).
    const taylorEstimate = denseTrain && variant === 'no-finetune' && s <= TAYLOR_MAX_SPARSITY
      ? taylorExcessLoss(dense, m, d.train, d.numGroups, { maxPerGroup: st.diagnostics.maxPerGroup, seed }).estimate : undefined;
    const perGroupCi95 = report.perGroup.some((g) => g.ci95) ? report.perGroup.map((g) => g.ci95 ?? null) : null;
    rows.push({ seed, design, sparsity: s, variant, measuredSparsity: counts.sparsity, nonzeroParams: counts.nonzero, totalParams: counts.total, disparity: dis, perGroupAccuracy: report.perGroup.map((g) => g.accuracy), trainExcessLoss, lambdas, ...(taylorEstimate ? { taylorEstimate } : {}), ...(perGroupCi95 ? { perGroupCi95 } : {}) });
    await ctx.record.logMetrics({ seed, design, sparsity: s, variant, accuracy: report.overall.accuracy, accuracyDropSpread: dis.accuracyDropSpread, excessLossSpread: dis.excessLossSpread, worstGroupAccuracy: dis.worstGroupAccuracy, measuredSparsity: counts.sparsity, nonzeroParams: counts.nonzero, lambdas });
    m.dispose();
  }
  const at = (v: Variant) => rows.find((r) => r.seed === seed && r.design === design && r.sparsity === s && r.variant === v)!;
  // figure 5: the mitigation with each dual step of the grid (after the claims' variants; the claims' own step is reused)
  if (st.baselineSparsities.includes(s) && st.mitigation.kind === 'group-loss') {
    for (const dualLr of st.dualLrGrid) {
      const own = st.mitigation.dualLr === dualLr;
      let dis = at('mitigated').disparity;
      if (!own) {
        const m = cloneModel(dense, st.hidden, seed);
        await fineTunePruned(m, masks, d.train, { epochs: st.fineTuneEpochs, numGroups: d.numGroups, seed, lr: st.fineTuneLr, mitigation: { ...st.mitigation, dualLr }, dense, reference });
        dis = disparity(denseReport, evaluateGroups(m, d.test, d.numGroups, { seed }));
        m.dispose();
      }
      grid.push({ seed, design, sparsity: s, dualLr, accuracy: dis.prunedAccuracy, accuracyDropSpread: dis.accuracyDropSpread, excessLossSpread: dis.excessLossSpread, worstGroupAccuracy: dis.worstGroupAccuracy, reused: own });
    }
  }
  ctx.log(`[fair-prune]   s=${s}: acc plain ${pp(at('plain').disparity.prunedAccuracy)} / mitigated ${pp(at('mitigated').disparity.prunedAccuracy)}; ξ_acc plain ${pp(at('plain').disparity.accuracyDropSpread)} / mitigated ${pp(at('mitigated').disparity.accuracyDropSpread)} pp ${((Date.now() - ctx.t0) / 1000).toFixed(0)}s`);
}

/** A fresh model of the dense model's architecture holding its weights (the copy a variant prunes and fine-tunes). */
function cloneModel(dense: ModelAdapter, hidden: number[], seed: number): ModelAdapter {
  const m = mlp({ inputShape: [...dense.inputShape], hidden, numClasses: dense.numClasses, seed });
  setFlatParameters(m, flatParameters(dense));
  return m;
}
