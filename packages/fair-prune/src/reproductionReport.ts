import type { Claim, Report } from '@trellis-ml/core';
import { GROUP_DESIGNS, isHighSparsity, type FairPruneSettings } from './settings.js';
import {
  VEGA_LITE_SCHEMA, aggregateRows, pp, studySections,
  type StudyChecks, type StudyDesignRun, type StudyRow, type Variant,
} from './studyReport.js';
import type { StudyResults } from './studyRunner.js';

/**
 * The `summary.json` and the report of the `trellis fair-prune` reproduction: its own sections (disparity
 * against sparsity, the results table, per-class accuracy, rich get richer, the indicators, the dense models)
 * followed by the study sections of `studyReport.ts`.
 */

/**
 * The `summary.json` of the reproduction without its claims: the settings, the elapsed seconds, the bad-input
 * errors, the dense models, the diagnostics at θ*, the results table, every row, the study checks, the dual-step
 * grid and the diagnostics after fine-tuning. @internal
 */
export function reproductionSummary(results: StudyResults, checks: StudyChecks, st: FairPruneSettings, seconds: number): Record<string, unknown> {
  const { rows, runs, grid, after, badInputs } = results;
  return {
    settings: st,
    seconds,
    badInputs,
    dense: runs.map((r) => ({ seed: r.seed, design: r.design, accuracy: r.dense.overall.accuracy, perGroupAccuracy: r.dense.perGroup.map((g) => g.accuracy), focusGroups: r.focus })),
    diagnostics: runs.filter((r) => r.diagnostics).map((r) => ({ seed: r.seed, design: r.design, ...r.diagnostics })),
    table: aggregateRows(rows),
    rows,
    studyChecks: checks,
    dualLrGridRows: grid,
    afterFineTuneDiagnostics: after,
  };
}

/** The report of the reproduction: its claims, its own sections, then the study sections. @internal */
export function reproductionReport(results: StudyResults, checks: StudyChecks, claims: Claim[], st: FairPruneSettings, mode: string): Report {
  const report = buildReport(results.rows, results.runs, claims, st, mode);
  return { ...report, sections: [...report.sections, ...studySections(checks, results.rows, results.runs, st)] };
}

const VARIANT_ORDER: Variant[] = ['no-finetune', 'plain', 'mitigated', 'equalized-loss', 'ceag'];

function buildReport(rows: StudyRow[], runs: StudyDesignRun[], claims: Claim[], st: FairPruneSettings, mode: string) {
  const agg = aggregateRows(rows).sort((a, b) => GROUP_DESIGNS.indexOf(a.design) - GROUP_DESIGNS.indexOf(b.design) || a.sparsity - b.sparsity || VARIANT_ORDER.indexOf(a.variant) - VARIANT_ORDER.indexOf(b.variant));
  const first = runs.find((r) => r.design === 'classes') ?? runs[0]!;
  const seed0 = first.seed;
  const perGroupValues = rows.filter((r) => r.seed === seed0 && r.design === 'classes' && r.variant === 'plain').flatMap((r) => r.perGroupAccuracy.map((acc, a) => ({ sparsity: r.sparsity, group: first.groupNames[a]!, accuracy: 100 * acc })))
    .concat(first.dense.perGroup.map((g, a) => ({ sparsity: 0, group: first.groupNames[a]!, accuracy: 100 * g.accuracy })));
  const spreadValues = agg.map((a) => ({ design: a.design, sparsity: a.sparsity, variant: a.variant, metric: 'accuracy-drop spread ξ_acc (pp)', value: 100 * a.accuracyDropSpread }));
  const richValues = rows.filter((r) => r.seed === seed0 && r.design === 'classes' && r.variant === 'plain' && isHighSparsity(r.sparsity)).flatMap((r) => r.disparity.accuracyDrop.map((d, a) => ({ sparsity: String(r.sparsity), group: first.groupNames[a]!, denseAccuracy: 100 * first.dense.perGroup[a]!.accuracy, drop: 100 * d })));
  const diag = first.design === 'classes' ? first.diagnostics : null;
  const maxS = Math.max(...st.sparsities);
  const atMax = diag ? rows.find((x) => x.seed === seed0 && x.design === 'classes' && x.variant === 'plain' && x.sparsity === maxS)! : null;
  const excessAtMax = atMax ? atMax.trainExcessLoss ?? atMax.disparity.excessLoss : [];
  const gradValues = diag ? diag.gradNorm.map((g, a) => ({
    group: first.groupNames[a]!, gradNorm: g, hessianTopEig: diag.hessianTopEig[a]!, boundaryProximity: diag.boundaryProximity[a]!, excessLoss: excessAtMax[a]!,
  })) : [];
  return {
    title: 'fair-prune: the disparate impact of pruning and its mitigation',
    intro: `Magnitude pruning (global, one-shot) of an MLP ${[784, ...st.hidden, 10].join('-')} trained on ${st.dataset === 'mnist' ? 'MNIST' : 'Fashion-MNIST'} (${st.trainSize} training examples, ${st.denseEpochs} dense epochs), then ${st.fineTuneEpochs} fine-tune epochs with the mask fixed: plain, or with the mitigation (${JSON.stringify(st.mitigation)}); baselines equalised loss and CEAG at ${st.baselineSparsities.join(', ')}. Three group designs: classes; minority classes 5–9 cut to 10% of training data; a 5% rotated-by-90° minority attribute (test set paired upright/rotated). Mode ${mode}; all numbers are measured on the test split.`,
    claims,
    sections: [
      {
        title: 'Disparity against sparsity, with and without mitigation',
        text: 'Accuracy-drop spread ξ_acc = max_a Δ_a − min_a Δ_a (percentage points) for each group design; lines are the fine-tuning variants (mean over seeds).',
        plot: {
          $schema: VEGA_LITE_SCHEMA, data: { values: spreadValues },
          facet: { column: { field: 'design', type: 'nominal' } },
          spec: { width: 220, height: 180, mark: { type: 'line', point: true }, encoding: { x: { field: 'sparsity', type: 'quantitative', scale: { domain: [0.5, 1] } }, y: { field: 'value', type: 'quantitative', title: 'ξ_acc (pp)' }, color: { field: 'variant', type: 'nominal' } } },
        },
      },
      {
        title: 'Results table (mean over seeds)',
        table: {
          columns: ['design', 'sparsity', 'variant', 'measured sparsity', 'non-zero params', 'accuracy %', 'ξ_acc pp', 'ξ_R', 'worst-group acc %', 'seeds'],
          rows: agg.map((a) => [a.design, a.sparsity, a.variant, a.measuredSparsity, Math.round(a.nonzeroParams), pp(a.accuracy), pp(a.accuracyDropSpread), a.excessLossSpread, pp(a.worstGroupAccuracy), a.n]),
        },
      },
      {
        title: 'Per-class accuracy against sparsity (G1, plain fine-tune, first seed)',
        plot: { $schema: VEGA_LITE_SCHEMA, data: { values: perGroupValues }, width: 420, height: 260, mark: { type: 'line', point: true }, encoding: { x: { field: 'sparsity', type: 'quantitative' }, y: { field: 'accuracy', type: 'quantitative', title: 'accuracy (%)', scale: { zero: false } }, color: { field: 'group', type: 'nominal' } } },
      },
      {
        title: 'Rich get richer (G1, first seed): accuracy drop against dense accuracy',
        plot: { $schema: VEGA_LITE_SCHEMA, data: { values: richValues }, width: 420, height: 260, mark: { type: 'point', filled: true }, encoding: { x: { field: 'denseAccuracy', type: 'quantitative', title: 'dense group accuracy (%)', scale: { zero: false } }, y: { field: 'drop', type: 'quantitative', title: 'accuracy drop Δ_a (pp)' }, color: { field: 'sparsity', type: 'nominal' }, tooltip: [{ field: 'group' }] } },
      },
      ...(diag ? [{
        title: `Indicators at θ* against the training-set excess loss at sparsity ${maxS}, plain fine-tune (G1, first seed)`,
        table: { columns: ['group', '‖g_a‖', 'λ_max(H_a)', 'boundary 1−Σp²', 'excess loss R(a), training set'], rows: gradValues.map((g) => [g.group, g.gradNorm, g.hessianTopEig, g.boundaryProximity, g.excessLoss]) },
        plot: { $schema: VEGA_LITE_SCHEMA, data: { values: gradValues }, width: 420, height: 260, mark: { type: 'point', filled: true }, encoding: { x: { field: 'gradNorm', type: 'quantitative', title: 'group gradient norm at θ*' }, y: { field: 'excessLoss', type: 'quantitative', title: 'excess loss R(a)' }, tooltip: [{ field: 'group' }] } },
      }] : []),
      {
        title: 'Dense models',
        table: { columns: ['seed', 'design', 'accuracy %', 'per-group accuracy %'], rows: runs.map((r) => [r.seed, r.design, pp(r.dense.overall.accuracy), r.dense.perGroup.map((g, a) => `${r.groupNames[a]} ${pp(g.accuracy)}`).join(', ')]) },
      },
    ],
  };
}
