import { claim, meanStd, type Claim, type ReportSection } from '@trellis-ml/core';
import type { GroupDiagnostics } from './diagnostics.js';
import { meanRankCorrelation, type Disparity, type GroupReport } from './groupMetrics.js';
import { GROUP_DESIGNS, isHighSparsity, type FairPruneSettings, type GroupDesign } from './settings.js';
import {
  compareWithinNoise, denseBandChecks, inBand, plainDropBandChecks, sparsityTrend, spread, type BandCheck,
} from './studyChecks.js';

/**
 * The reproduction's spec §7.4 checks and §7.4 figures that sit beside its claims: the accuracy bands,
 * the growth of disparity with sparsity, every §4.4 diagnostic per group, the diagnostics after
 * mitigation, mitigation at low sparsity against noise, and the η_λ trade-off (figures 2, 4 and 5).
 * @internal used by the `trellis fair-prune` experiment.
 */

/** The fine-tuning variants of one (seed, design, sparsity). @internal */
export type Variant = 'no-finetune' | 'plain' | 'mitigated' | 'equalized-loss' | 'ceag';

/** One (seed, design, sparsity, variant) result of the reproduction. @internal */
export interface StudyRow {
  seed: number;
  design: GroupDesign;
  sparsity: number;
  variant: Variant;
  measuredSparsity: number;
  nonzeroParams: number;
  totalParams: number;
  disparity: Disparity;
  perGroupAccuracy: number[];
  /** `R(a)` on the training set (the `D_a` of Theorem 1, where the indicators are measured); designs with diagnostics only. */
  trainExcessLoss: number[] | null;
  /** The Taylor estimate g_aᵀδ + ½δᵀH_aδ of the training-set excess loss (no fine-tune, s ≤ 0.5, designs with diagnostics). */
  taylorEstimate?: number[];
  lambdas: number[];
  /** Bootstrap 95% intervals of the group accuracies (only when a test group has fewer than 200 examples). */
  perGroupCi95?: Array<[number, number] | null>;
}

/** The dense model of one (seed, design). @internal */
export interface StudyDesignRun {
  seed: number;
  design: GroupDesign;
  groupNames: string[];
  dense: GroupReport;
  focus: number[];
  diagnostics: GroupDiagnostics | null;
  /** The dense model on the training set (designs with diagnostics only). */
  denseTrain: GroupReport | null;
}

/** One fine-tune of the mitigation's dual-step grid (spec §5.1 grid, figure 5). @internal */
export interface GridRow {
  seed: number;
  design: GroupDesign;
  sparsity: number;
  dualLr: number;
  accuracy: number;
  accuracyDropSpread: number;
  excessLossSpread: number;
  worstGroupAccuracy: number;
  /** True when the run is the claims' `mitigated` row (same dual step), not a new fine-tune. */
  reused: boolean;
}

/** Group gradient norms and group losses on the training set after a fine-tune (spec §7.4 mitigation row). @internal */
export interface AfterFineTuneRow {
  seed: number;
  design: GroupDesign;
  sparsity: number;
  variant: 'plain' | 'mitigated';
  gradNorm: number[];
  loss: number[];
}

/** Everything the study checks computed (written to `summary.json` as `studyChecks`). @internal */
export interface StudyChecks {
  /** True when the run is at the spec's scale (LeNet-300-100 on ≥ 55,000 examples): the bands are then also claims. */
  specScale: boolean;
  bands: Array<BandCheck & { part: 'dense' | 'plain-low' | 'plain-high' | 'approximate' }>;
  trends: Array<{ design: GroupDesign; variant: Variant; sparsities: number[]; accuracyDropSpread: number[]; excessLossSpread: number[]; rhoAccuracyDropSpread: number; rhoExcessLossSpread: number }>;
  perClassDrops: { groups: string[]; denseAccuracy: number[]; bySparsity: Array<{ sparsity: number; drop: number[] }> } | null;
  indicatorCorrelations: Array<{ indicator: string; expectedSign: '+' | '−'; trainExcessNoFineTune: number; trainExcessPlain: number; accuracyDropPlain: number }>;
  afterFineTune: Array<{ design: GroupDesign; sparsity: number; gradNormSpreadPlain: number; gradNormSpreadMitigated: number; lossSpreadPlain: number; lossSpreadMitigated: number; seeds: number }>;
  lowSparsity: Array<{ design: GroupDesign; sparsity: number; denseGap: number; gapPlain: number; gapMitigated: number; spreadPlain: number; spreadMitigated: number; accuracyDiff: number; accuracyNoise: number; worstGroupDiff: number; worstGroupNoise: number; groupsWorse: string[]; seeds: number }>;
  dualLrGrid: Array<{ design: GroupDesign; sparsity: number; dualLr: number; accuracy: number; accuracyDropSpread: number; excessLossSpread: number; worstGroupAccuracy: number; seeds: number }>;
  bootstrap: { below: number; smallestTestGroup: number; intervals: Array<{ seed: number; design: GroupDesign; sparsity: number | null; variant: Variant | 'dense'; group: string; ci95: [number, number] }> };
}

const mean = (xs: readonly number[]): number => meanStd([...xs]).mean;
const uniqSorted = (xs: number[]): number[] => [...new Set(xs)].sort((a, b) => a - b);
/** The z of the noise band (a 95% two-sided band). */
const NOISE_Z = 1.96;

/** Indicators of §4.4 and the sign of their expected link with harm (larger value → more harm is '+'). */
const INDICATORS: Array<[keyof GroupDiagnostics, string, '+' | '−']> = [
  ['gradNorm', 'group gradient norm ‖g_a‖', '+'],
  ['meanSampleGradNorm', 'mean per-sample gradient norm', '+'],
  ['residualNorm', 'mean ‖p − e_y‖', '+'],
  ['hessianTopEig', 'λ_max(H_a)', '+'],
  ['hessianTrace', 'tr(H_a) (Hutchinson)', '+'],
  ['boundaryProximity', 'boundary proximity 1 − Σp²', '+'],
  ['probMargin', 'probability margin p_y − max_{k≠y} p_k', '−'],
  ['inputDistance', 'input-space distance (first order)', '−'],
  ['loss', 'group loss J(θ*; D_a)', '+'],
];

/** Computes the study checks from the reproduction's rows. @internal */
export function studyChecks(rows: StudyRow[], runs: StudyDesignRun[], grid: GridRow[], after: AfterFineTuneRow[], st: FairPruneSettings, seeds: number[], bootstrapBelow = 200): StudyChecks {
  const ran = GROUP_DESIGNS.filter((d) => runs.some((r) => r.design === d));
  const specScale = st.hidden.length === 2 && st.hidden[0] === 300 && st.hidden[1] === 100 && st.trainSize >= 55000;
  const at = (seed: number, design: GroupDesign, s: number, v: Variant) => rows.find((r) => r.seed === seed && r.design === design && r.sparsity === s && r.variant === v);
  const sparsities = uniqSorted(rows.map((r) => r.sparsity));

  // bands (classes design; seed means)
  const bands: StudyChecks['bands'] = [];
  const classRuns = runs.filter((r) => r.design === 'classes');
  if (classRuns.length) {
    const overall = mean(classRuns.map((r) => r.dense.overall.accuracy));
    const perClass = classRuns[0]!.dense.perGroup.map((_, a) => mean(classRuns.map((r) => r.dense.perGroup[a]!.accuracy)));
    bands.push(...denseBandChecks(st.dataset, overall, perClass).map((b) => ({ ...b, part: 'dense' as const })));
    const points = sparsities.flatMap((s) => {
      const rs = seeds.map((seed) => at(seed, 'classes', s, 'plain')).filter((r): r is StudyRow => !!r);
      return rs.length ? [{ sparsity: s, overallDrop: mean(rs.map((r) => r.disparity.overallDrop)), accuracyDropSpread: mean(rs.map((r) => r.disparity.accuracyDropSpread)) }] : [];
    });
    const { low, high } = plainDropBandChecks(st.dataset, points);
    bands.push(...low.map((b) => ({ ...b, part: 'plain-low' as const })), ...high.map((b) => ({ ...b, part: 'plain-high' as const })));
  }
  const rotated = runs.filter((r) => r.design === 'rotated-minority');
  if (st.dataset === 'mnist' && rotated.length) {
    const acc = mean(rotated.map((r) => r.dense.perGroup[1]!.accuracy));
    bands.push({ what: 'dense rotated-group accuracy (G3, "~93–97%")', measured: acc, lo: 0.93, hi: 0.97, holds: inBand(acc, 0.93, 0.97), part: 'approximate' });
  }

  // disparity against sparsity
  const trends: StudyChecks['trends'] = [];
  for (const design of ran) {
    for (const variant of ['no-finetune', 'plain', 'mitigated'] as const) {
      const ss = sparsities.filter((s) => seeds.some((seed) => at(seed, design, s, variant)));
      const seedMean = (key: 'accuracyDropSpread' | 'excessLossSpread') => ss.map((s) => mean(seeds.map((seed) => at(seed, design, s, variant)?.disparity[key]).filter((x): x is number => x !== undefined)));
      const rho = (key: 'accuracyDropSpread' | 'excessLossSpread') => mean(seeds.map((seed) => {
        const mine = ss.map((s) => at(seed, design, s, variant)).filter((r): r is StudyRow => !!r);
        return sparsityTrend(mine.map((r) => r.sparsity), mine.map((r) => r.disparity[key]));
      }).filter(Number.isFinite));
      trends.push({ design, variant, sparsities: ss, accuracyDropSpread: seedMean('accuracyDropSpread'), excessLossSpread: seedMean('excessLossSpread'), rhoAccuracyDropSpread: rho('accuracyDropSpread'), rhoExcessLossSpread: rho('excessLossSpread') });
    }
  }

  // per-class drops (classes design, plain, s ≥ 0.95)
  let perClassDrops: StudyChecks['perClassDrops'] = null;
  if (classRuns.length) {
    const high = sparsities.filter(isHighSparsity);
    perClassDrops = {
      groups: classRuns[0]!.groupNames,
      denseAccuracy: classRuns[0]!.dense.perGroup.map((_, a) => mean(classRuns.map((r) => r.dense.perGroup[a]!.accuracy))),
      bySparsity: high.map((s) => {
        const rs = seeds.map((seed) => at(seed, 'classes', s, 'plain')).filter((r): r is StudyRow => !!r);
        return { sparsity: s, drop: classRuns[0]!.groupNames.map((_, a) => mean(rs.map((r) => r.disparity.accuracyDrop[a]!))) };
      }).filter((x) => x.drop.every(Number.isFinite)),
    };
  }

  // every indicator against the outcomes (classes design; ρ over classes per run, mean over s ≥ 0.95 and seeds)
  const indicatorCorrelations: StudyChecks['indicatorCorrelations'] = [];
  if (classRuns.some((r) => r.diagnostics)) {
    for (const [key, label, sign] of INDICATORS) {
      if (!classRuns.every((r) => Array.isArray(r.diagnostics?.[key]))) continue;
      const rho = (variant: Variant, outcome: (r: StudyRow) => number[] | null) => mean(seeds.map((seed) => {
        const run = classRuns.find((r) => r.seed === seed)!;
        const outs = rows.filter((r) => r.seed === seed && r.design === 'classes' && r.variant === variant && isHighSparsity(r.sparsity)).map(outcome).filter((o): o is number[] => o !== null);
        return meanRankCorrelation(run.diagnostics![key] as number[], outs);
      }).filter(Number.isFinite));
      indicatorCorrelations.push({
        indicator: label, expectedSign: sign,
        trainExcessNoFineTune: rho('no-finetune', (r) => r.trainExcessLoss),
        trainExcessPlain: rho('plain', (r) => r.trainExcessLoss),
        accuracyDropPlain: rho('plain', (r) => r.disparity.accuracyDrop),
      });
    }
  }

  // diagnostics after mitigation (spreads of group gradient norms and group losses on the training set)
  const afterFineTune: StudyChecks['afterFineTune'] = [];
  for (const design of ran) {
    for (const s of uniqSorted(after.filter((a) => a.design === design).map((a) => a.sparsity))) {
      const pairs = seeds.map((seed) => [after.find((a) => a.seed === seed && a.design === design && a.sparsity === s && a.variant === 'plain'), after.find((a) => a.seed === seed && a.design === design && a.sparsity === s && a.variant === 'mitigated')] as const)
        .filter((p): p is readonly [AfterFineTuneRow, AfterFineTuneRow] => !!p[0] && !!p[1]);
      if (!pairs.length) continue;
      afterFineTune.push({
        design, sparsity: s, seeds: pairs.length,
        gradNormSpreadPlain: mean(pairs.map(([p]) => spread(p.gradNorm))), gradNormSpreadMitigated: mean(pairs.map(([, m]) => spread(m.gradNorm))),
        lossSpreadPlain: mean(pairs.map(([p]) => spread(p.loss))), lossSpreadMitigated: mean(pairs.map(([, m]) => spread(m.loss))),
      });
    }
  }

  // mitigation at low sparsity, against test-set noise
  const lowSparsity: StudyChecks['lowSparsity'] = [];
  for (const design of ran) {
    for (const s of sparsities.filter((x) => !isHighSparsity(x))) {
      const cmp = seeds.flatMap((seed) => {
        const p = at(seed, design, s, 'plain');
        const m = at(seed, design, s, 'mitigated');
        const run = runs.find((r) => r.seed === seed && r.design === design);
        if (!p || !m || !run) return [];
        const c = compareWithinNoise({ overall: p.disparity.prunedAccuracy, perGroup: p.perGroupAccuracy }, { overall: m.disparity.prunedAccuracy, perGroup: m.perGroupAccuracy },
          run.dense.perGroup.map((g) => g.count), run.dense.overall.count, NOISE_Z);
        return [{ p, m, c, run }];
      });
      if (!cmp.length) continue;
      lowSparsity.push({
        design, sparsity: s, seeds: cmp.length,
        denseGap: mean(cmp.map((x) => x.p.disparity.accuracyGapDense)),
        gapPlain: mean(cmp.map((x) => x.p.disparity.accuracyGapPruned)), gapMitigated: mean(cmp.map((x) => x.m.disparity.accuracyGapPruned)),
        spreadPlain: mean(cmp.map((x) => x.p.disparity.accuracyDropSpread)), spreadMitigated: mean(cmp.map((x) => x.m.disparity.accuracyDropSpread)),
        accuracyDiff: mean(cmp.map((x) => x.c.accuracyDiff)), accuracyNoise: mean(cmp.map((x) => x.c.accuracyNoise)),
        worstGroupDiff: mean(cmp.map((x) => x.c.worstGroupDiff)), worstGroupNoise: mean(cmp.map((x) => x.c.worstGroupNoise)),
        groupsWorse: cmp.flatMap((x) => x.c.groupsWorse.map((a) => `${x.run.groupNames[a]} (seed ${x.run.seed})`)),
      });
    }
  }

  // the η_λ grid (seed means)
  const dualLrGrid: StudyChecks['dualLrGrid'] = [];
  for (const design of ran) {
    for (const s of uniqSorted(grid.filter((g) => g.design === design).map((g) => g.sparsity))) {
      for (const lr of uniqSorted(grid.filter((g) => g.design === design && g.sparsity === s).map((g) => g.dualLr))) {
        const gs = grid.filter((g) => g.design === design && g.sparsity === s && g.dualLr === lr);
        dualLrGrid.push({ design, sparsity: s, dualLr: lr, seeds: gs.length, accuracy: mean(gs.map((g) => g.accuracy)), accuracyDropSpread: mean(gs.map((g) => g.accuracyDropSpread)), excessLossSpread: mean(gs.map((g) => g.excessLossSpread)), worstGroupAccuracy: mean(gs.map((g) => g.worstGroupAccuracy)) });
      }
    }
  }

  // bootstrap intervals (groups with fewer than `bootstrapBelow` test examples)
  const intervals: StudyChecks['bootstrap']['intervals'] = [];
  for (const run of runs) run.dense.perGroup.forEach((g, a) => { if (g.ci95) intervals.push({ seed: run.seed, design: run.design, sparsity: null, variant: 'dense', group: run.groupNames[a]!, ci95: g.ci95 }); });
  for (const r of rows) {
    const names = runs.find((x) => x.seed === r.seed && x.design === r.design)!.groupNames;
    r.perGroupCi95?.forEach((ci, a) => { if (ci) intervals.push({ seed: r.seed, design: r.design, sparsity: r.sparsity, variant: r.variant, group: names[a]!, ci95: ci }); });
  }
  const smallestTestGroup = Math.min(...runs.flatMap((r) => r.dense.perGroup.map((g) => g.count)));

  return { specScale, bands, trends, perClassDrops, indicatorCorrelations, afterFineTune, lowSparsity, dualLrGrid, bootstrap: { below: bootstrapBelow, smallestTestGroup, intervals } };
}

/**
 * The spec §7.4 bands as claims, only at the spec's scale (LeNet-300-100 on ≥ 55,000 examples — the setting
 * the bands describe): each claim counts the band checks that hold and needs all of them. @internal
 */
export function studyClaims(checks: StudyChecks, seeds: number[]): Claim[] {
  if (!checks.specScale) return [];
  const out: Claim[] = [];
  const parts: Array<['dense' | 'plain-low' | 'plain-high', string, string]> = [
    ['dense', 'dense-accuracy-band', 'Spec §7.4: the dense LeNet-300-100 lies in the spec\'s accuracy bands (MNIST: overall 98.0–98.5%, every class ≥ 96.5%; Fashion: overall 88.5–90.0%, Shirt 60–72%, Trouser/Sandal/Bag ≥ 96%), seed means (count of the band checks that hold)'],
    ['plain-low', 'plain-drop-band-low-sparsity', 'Spec §7.4: MNIST, s ≤ 0.9, plain fine-tune: overall drop Δ ≤ 0.2 pp and ξ_acc ≤ 0.6 pp at every such sparsity, seed means (count of the band checks that hold)'],
    ['plain-high', 'plain-drop-band-high-sparsity', 'Spec §7.4: plain fine-tune at high sparsity: overall drop Δ in 0.5–3 pp (MNIST, s = 0.98–0.99) or 1–4 pp (Fashion G1, s = 0.95–0.99) at every such sparsity, seed means (count of the band checks that hold)'],
  ];
  for (const [part, id, statement] of parts) {
    const bs = checks.bands.filter((b) => b.part === part);
    if (!bs.length) continue;
    out.push(claim(id, statement, bs.filter((b) => b.holds).length, '>=', bs.length, seeds,
      bs.map((b) => `${b.what} ${bandValue(b)} (band ${bandText(b)}) ${b.holds ? 'in' : 'OUT'}`).join('; ')));
  }
  return out;
}

const pct = (x: number): string => (100 * x).toFixed(2);
/** A fraction in percent (or percentage points), rounded to 2 decimals, as a number (report cells and log lines). @internal */
export const pp = (x: number): number => Math.round(x * 10000) / 100;
const unitOf = (b: BandCheck): string => (b.what.startsWith('dense') ? '%' : ' pp');
function bandText(b: BandCheck): string {
  if (b.lo === null) return `≤ ${pct(b.hi!)}${unitOf(b)}`;
  if (b.hi === null) return `≥ ${pct(b.lo)}${unitOf(b)}`;
  return `${pct(b.lo)}–${pct(b.hi)}${unitOf(b)}`;
}
function bandValue(b: BandCheck): string {
  return `${pct(b.measured)}${unitOf(b)}`;
}

/** The `$schema` of the report's Vega-Lite plots. @internal */
export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
/** 4 significant digits; NaN (undefined, e.g. a rank correlation over one point) prints as —. */
const r4 = (x: number): number | null => (Number.isFinite(x) ? Number(x.toPrecision(4)) : null);

/** The report sections of the study checks and the remaining §7.4 figures (appended after the existing sections). @internal */
export function studySections(checks: StudyChecks, rows: StudyRow[], runs: StudyDesignRun[], st: FairPruneSettings): ReportSection[] {
  const out: ReportSection[] = [];
  const agg = aggregateSpreads(rows);
  out.push({
    title: 'Figure 2 (excess loss): ξ_R against sparsity, with and without mitigation',
    text: 'Excess-loss spread ξ_R = max_a R(a) − min_a R(a) on the test split for each group design; lines are the fine-tuning variants (no fine-tune, plain, the mitigation, the equalised-loss and CEAG baselines where they ran; mean over seeds). The ξ_acc panel is the first figure of the report.',
    plot: {
      $schema: VEGA_LITE_SCHEMA, data: { values: agg.map((a) => ({ design: a.design, sparsity: a.sparsity, variant: a.variant, value: a.excessLossSpread })) },
      facet: { column: { field: 'design', type: 'nominal' } },
      spec: { width: 220, height: 180, mark: { type: 'line', point: true }, encoding: { x: { field: 'sparsity', type: 'quantitative', scale: { domain: [0.5, 1] } }, y: { field: 'value', type: 'quantitative', title: 'ξ_R' }, color: { field: 'variant', type: 'nominal' } } },
    },
  });
  out.push({
    title: 'Disparity against sparsity (spec §4.4 claim 4, §6.2 finding 1)',
    text: 'ξ_acc (pp) and ξ_R at each sparsity (mean over seeds), and the Spearman ρ between sparsity and each spread (per seed, then averaged; 1 = the spread rises at every step). With two sparsities ρ is ±1; with one it is undefined (—). No threshold in the spec: reported, not claimed.',
    table: {
      columns: ['design', 'variant', 'ξ_acc pp by sparsity', 'ξ_R by sparsity', 'ρ(s, ξ_acc)', 'ρ(s, ξ_R)'],
      rows: checks.trends.map((t) => [t.design, t.variant, t.sparsities.map((s, i) => `${s}: ${(100 * t.accuracyDropSpread[i]!).toFixed(2)}`).join(', '), t.sparsities.map((s, i) => `${s}: ${r4(t.excessLossSpread[i]!) ?? '—'}`).join(', '), r4(t.rhoAccuracyDropSpread), r4(t.rhoExcessLossSpread)]),
    },
  });
  const first = runs.find((r) => r.design === 'classes' && r.diagnostics) ?? null;
  if (first) {
    const diag = first.diagnostics!;
    const seed0 = first.seed;
    const dropValues = rows.filter((r) => r.seed === seed0 && r.design === 'classes' && r.variant === 'plain' && isHighSparsity(r.sparsity))
      .flatMap((r) => r.disparity.accuracyDrop.map((d, a) => ({ sparsity: String(r.sparsity), group: first.groupNames[a]!, gradNorm: diag.gradNorm[a]!, drop: 100 * d })));
    out.push({
      title: 'Figure 4: accuracy drop against the group gradient norm at θ* (G1, plain fine-tune, first seed)',
      text: 'Test accuracy drop Δ_a after the plain fine-tune at each sparsity ≥ 0.95 against the group gradient norm ‖g_a‖ at the dense weights (training set).',
      plot: { $schema: VEGA_LITE_SCHEMA, data: { values: dropValues }, width: 420, height: 260, mark: { type: 'point', filled: true }, encoding: { x: { field: 'gradNorm', type: 'quantitative', title: 'group gradient norm ‖g_a‖ at θ*' }, y: { field: 'drop', type: 'quantitative', title: 'accuracy drop Δ_a (pp)' }, color: { field: 'sparsity', type: 'nominal' }, tooltip: [{ field: 'group' }] } },
    });
    out.push({
      title: 'Figure 4: Hessian top eigenvalue against boundary proximity at θ* (G1, first seed)',
      plot: { $schema: VEGA_LITE_SCHEMA, data: { values: diag.hessianTopEig.map((h, a) => ({ group: first.groupNames[a]!, hessianTopEig: h, boundaryProximity: diag.boundaryProximity[a]! })) }, width: 420, height: 260, mark: { type: 'point', filled: true }, encoding: { x: { field: 'boundaryProximity', type: 'quantitative', title: 'mean boundary proximity 1 − Σp²' }, y: { field: 'hessianTopEig', type: 'quantitative', title: 'λ_max(H_a)' }, tooltip: [{ field: 'group' }] } },
    });
  }
  for (const run of runs.filter((r) => r.diagnostics && r.seed === runs[0]!.seed)) {
    const d = run.diagnostics!;
    const col = (xs: number[] | undefined, a: number): number | null => (xs ? r4(xs[a]!) : null);
    out.push({
      title: `Spec §4.4 diagnostics per group at θ* (${run.design}, seed ${run.seed}, training set)`,
      text: `Gradient norms on ≤ ${st.diagnostics.maxPerGroup} examples per group; mean per-sample gradient norm (one gradient call per example) on ≤ ${st.diagnostics.sampleGradPerGroup}; λ_max(H_a) by ${st.diagnostics.powerIterations} power iterations and tr(H_a) by ${st.diagnostics.traceSamples} Hutchinson (Rademacher) vectors, both with finite-difference Hessian-vector products on ≤ ${st.diagnostics.hessianPerGroup} examples; boundary proximity, margin, input-space distance and loss on the whole group. — = not computed.`,
      table: {
        columns: ['group', 'n_a', '‖g_a‖', 'mean ‖∇ℓ_i‖', 'mean ‖p − e_y‖', 'λ_max(H_a)', 'tr(H_a)', '1 − Σp²', 'margin p_y − max p_k', 'input distance', 'loss J(θ*; D_a)'],
        rows: run.groupNames.map((g, a) => [g, d.size[a]!, r4(d.gradNorm[a]!), col(d.meanSampleGradNorm, a), r4(d.residualNorm[a]!), r4(d.hessianTopEig[a]!), col(d.hessianTrace, a), r4(d.boundaryProximity[a]!), r4(d.probMargin[a]!), col(d.inputDistance, a), r4(d.loss[a]!)]),
      },
    });
  }
  if (checks.indicatorCorrelations.length) {
    out.push({
      title: 'Every §4.4 indicator against the excess loss and the accuracy drop (G1)',
      text: 'Spearman ρ over the classes between each indicator at θ* and the outcome of one (seed, sparsity ≥ 0.95) run, averaged over runs (the claims\' method; their three indicators appear here with the same values). Expected sign: + when a larger value should mean more harm (margin and input distance: −). Reported, not claimed.',
      table: {
        columns: ['indicator', 'expected sign', 'ρ with training R(a), no fine-tune', 'ρ with training R(a), plain fine-tune', 'ρ with test Δ_a, plain fine-tune'],
        rows: checks.indicatorCorrelations.map((c) => [c.indicator, c.expectedSign, r4(c.trainExcessNoFineTune), r4(c.trainExcessPlain), r4(c.accuracyDropPlain)]),
      },
    });
  }
  if (checks.dualLrGrid.length) {
    const plainPts = rows.filter((r) => r.variant === 'plain' && checks.dualLrGrid.some((g) => g.design === r.design && g.sparsity === r.sparsity));
    const plainAgg = aggregateSpreads(plainPts);
    const values = [
      ...checks.dualLrGrid.map((g) => ({ design: g.design, sparsity: String(g.sparsity), run: `η_λ = ${g.dualLr}`, accuracy: 100 * g.accuracy, spread: 100 * g.accuracyDropSpread })),
      ...plainAgg.map((p) => ({ design: p.design, sparsity: String(p.sparsity), run: 'plain', accuracy: 100 * p.accuracy, spread: 100 * p.accuracyDropSpread })),
    ];
    out.push({
      title: 'Figure 5: overall accuracy against ξ_acc for the η_λ grid',
      text: `The mitigation (${JSON.stringify({ ...st.mitigation, dualLr: undefined })}) fine-tuned with each dual step of the grid {${st.dualLrGrid.join(', ')}} at sparsities ${uniqSorted(checks.dualLrGrid.map((g) => g.sparsity)).join(', ')} (the baselines' sparsities), on the test split (mean over seeds); the step the claims use (${(st.mitigation as { dualLr?: number }).dualLr}) was chosen on a validation split beforehand (see the README) — this figure shows the trade-off, it does not choose.`,
      table: {
        columns: ['design', 'sparsity', 'η_λ', 'accuracy %', 'ξ_acc pp', 'ξ_R', 'worst-group acc %', 'seeds'],
        rows: [...checks.dualLrGrid.map((g) => [g.design, g.sparsity, g.dualLr, r4(100 * g.accuracy), r4(100 * g.accuracyDropSpread), r4(g.excessLossSpread), r4(100 * g.worstGroupAccuracy), g.seeds]),
          ...plainAgg.map((p) => [p.design, p.sparsity, 'plain', r4(100 * p.accuracy), r4(100 * p.accuracyDropSpread), r4(p.excessLossSpread), r4(100 * p.worstGroupAccuracy), p.n])],
      },
      plot: {
        $schema: VEGA_LITE_SCHEMA, data: { values }, facet: { column: { field: 'design', type: 'nominal' } },
        resolve: { scale: { x: 'independent', y: 'independent' } },
        spec: { width: 220, height: 200, mark: { type: 'point', filled: true, size: 60 }, encoding: { x: { field: 'spread', type: 'quantitative', title: 'ξ_acc (pp)', scale: { zero: false } }, y: { field: 'accuracy', type: 'quantitative', title: 'overall accuracy (%)', scale: { zero: false } }, color: { field: 'run', type: 'nominal' }, shape: { field: 'sparsity', type: 'nominal' } } },
      },
    });
  }
  if (checks.afterFineTune.length) {
    out.push({
      title: 'Diagnostics after mitigation: spreads of group gradient norms and group losses (spec §7.4)',
      text: `max_a − min_a of the group gradient norm ‖∇J(θ̄; D_a)‖ (≤ ${st.diagnostics.maxPerGroup} training examples per group) and of the group training loss J(θ̄; D_a), after the plain fine-tune and after the mitigation, at sparsities ≥ 0.95 (mean over seeds). The spec expects smaller spreads after mitigation; it gives no threshold, so this is reported, not claimed.`,
      table: {
        columns: ['design', 'sparsity', '‖g_a‖ spread, plain', '‖g_a‖ spread, mitigated', 'smaller', 'loss spread, plain', 'loss spread, mitigated', 'smaller', 'seeds'],
        rows: checks.afterFineTune.map((a) => [a.design, a.sparsity, r4(a.gradNormSpreadPlain), r4(a.gradNormSpreadMitigated), a.gradNormSpreadMitigated < a.gradNormSpreadPlain ? 'yes' : 'no', r4(a.lossSpreadPlain), r4(a.lossSpreadMitigated), a.lossSpreadMitigated < a.lossSpreadPlain ? 'yes' : 'no', a.seeds]),
      },
    });
  }
  if (checks.lowSparsity.length) {
    out.push({
      title: 'Mitigation at low sparsity: does anything get worse by more than noise? (spec §7.4)',
      text: `Sparsities below 0.95, mitigated − plain (mean over seeds). Noise = ${NOISE_Z}·√((p₁(1−p₁) + p₂(1−p₂))/n) on the n test examples of the set or group (a 95% band for two independent accuracy estimates; training-seed noise is not in it). "Groups worse" lists the groups whose test accuracy under the mitigation is lower than under plain fine-tuning by more than their noise. The accuracy gap G(θ) = max_a acc_a − min_a acc_a is shown beside the dense gap. Reported, not claimed (the spec gives no number).`,
      table: {
        columns: ['design', 'sparsity', 'dense gap G(θ*) pp', 'gap plain pp', 'gap mitigated pp', 'ξ_acc plain → mitigated pp', 'accuracy diff pp (noise)', 'worst-group diff pp (noise)', 'groups worse beyond noise', 'seeds'],
        rows: checks.lowSparsity.map((l) => [l.design, l.sparsity, pct(l.denseGap), pct(l.gapPlain), pct(l.gapMitigated), `${pct(l.spreadPlain)} → ${pct(l.spreadMitigated)}`, `${pct(l.accuracyDiff)} (±${pct(l.accuracyNoise)})`, `${pct(l.worstGroupDiff)} (±${pct(l.worstGroupNoise)})`, l.groupsWorse.length ? l.groupsWorse.join(', ') : 'none', l.seeds]),
      },
    });
  }
  if (checks.bands.length) {
    out.push({
      title: 'Spec §7.4 accuracy bands (classes design, seed means)',
      text: checks.specScale
        ? 'The run is at the spec\'s scale (LeNet-300-100 on ≥ 55,000 examples), so the numeric bands are also claims (dense-accuracy-band, plain-drop-band-*); the approximate one ("~") is reported only.'
        : `The bands describe the spec's LeNet-300-100 trained on the full training set; this run (MLP ${[784, ...st.hidden, 10].join('-')}, ${st.trainSize} examples) is not at that scale, so they are reported, not claimed.`,
      table: { columns: ['check', 'measured', 'band', 'in band', 'part'], rows: checks.bands.map((b) => [b.what, bandValue(b), bandText(b), b.holds ? 'yes' : 'no', b.part]) },
    });
  }
  if (checks.perClassDrops && checks.perClassDrops.bySparsity.length) {
    const pc = checks.perClassDrops;
    const order = pc.groups.map((_, a) => a).sort((x, y) => mean(pc.bySparsity.map((b) => b.drop[y]!)) - mean(pc.bySparsity.map((b) => b.drop[x]!)));
    out.push({
      title: 'Per-class accuracy drop at sparsity ≥ 0.95 (G1, plain fine-tune, mean over seeds)',
      text: 'Classes sorted by their mean drop (largest first). Spec §7.4 expects the hardest classes to lose the most (MNIST typically 8, 9, 5, 2, 7; Fashion Shirt / Pullover / Coat) and Trouser / Bag ≈ 0 on Fashion.',
      table: { columns: ['class', 'dense accuracy %', ...pc.bySparsity.map((b) => `Δ_a pp at s = ${b.sparsity}`)], rows: order.map((a) => [pc.groups[a]!, pct(pc.denseAccuracy[a]!), ...pc.bySparsity.map((b) => pct(b.drop[a]!))]) },
    });
  }
  const bs = checks.bootstrap;
  out.push({
    title: 'Bootstrap intervals for small groups (spec §3)',
    text: `Groups with fewer than ${bs.below} test examples get a percentile-bootstrap 95% interval of their accuracy (1,000 resamples). The smallest test group of this run has ${bs.smallestTestGroup} examples, so ${bs.intervals.length ? `${bs.intervals.length} intervals were attached (listed below and in summary.json)` : 'no interval applies'}.`,
    ...(bs.intervals.length ? { table: { columns: ['seed', 'design', 'sparsity', 'variant', 'group', '95% CI %'], rows: bs.intervals.map((i) => [i.seed, i.design, i.sparsity, i.variant, i.group, `${pct(i.ci95[0])}–${pct(i.ci95[1])}`]) } } : {}),
  });
  return out;
}

/** The seed mean of one (design, sparsity, variant) of the rows. @internal */
export interface AggregateRow {
  design: GroupDesign;
  sparsity: number;
  variant: Variant;
  accuracy: number;
  accuracyDropSpread: number;
  excessLossSpread: number;
  worstGroupAccuracy: number;
  measuredSparsity: number;
  nonzeroParams: number;
  /** How many rows (seeds) the means are over. */
  n: number;
}

/**
 * Means over seeds of each (design, sparsity, variant) of the rows, in the order each first appears (the
 * results table of `summary.json` and the report). @internal
 */
export function aggregateRows(rows: StudyRow[]): AggregateRow[] {
  const keys = new Map<string, StudyRow[]>();
  for (const r of rows) {
    const k = `${r.design}|${r.sparsity}|${r.variant}`;
    keys.set(k, [...(keys.get(k) ?? []), r]);
  }
  return [...keys.values()].map((rs) => {
    const m = (f: (r: StudyRow) => number) => mean(rs.map(f));
    return {
      design: rs[0]!.design, sparsity: rs[0]!.sparsity, variant: rs[0]!.variant,
      accuracy: m((r) => r.disparity.prunedAccuracy), accuracyDropSpread: m((r) => r.disparity.accuracyDropSpread),
      excessLossSpread: m((r) => r.disparity.excessLossSpread), worstGroupAccuracy: m((r) => r.disparity.worstGroupAccuracy),
      measuredSparsity: m((r) => r.measuredSparsity), nonzeroParams: m((r) => r.nonzeroParams), n: rs.length,
    };
  });
}

/** {@link aggregateRows} sorted by design, then sparsity (variants in the order they first appear). */
function aggregateSpreads(rows: StudyRow[]): AggregateRow[] {
  return aggregateRows(rows).sort((a, b) => GROUP_DESIGNS.indexOf(a.design) - GROUP_DESIGNS.indexOf(b.design) || a.sparsity - b.sparsity);
}

/** Group gradient norms and losses of a fine-tuned model (the diagnostics after mitigation). @internal */
export function afterFineTuneRow(seed: number, design: GroupDesign, sparsity: number, variant: 'plain' | 'mitigated', d: GroupDiagnostics): AfterFineTuneRow {
  return { seed, design, sparsity, variant, gradNorm: d.gradNorm, loss: d.loss };
}
