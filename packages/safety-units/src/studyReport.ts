/**
 * The study's report: its sections (tables T1–T3, figures F1–F3, acceptance, sensitivity, probe) and the
 * summary written to `summary.json`, built from the per-seed results.
 *
 * @module
 */
import { meanStd, type ExperimentOptions, type ReportSection } from '@trellis-ml/core';
import { sweepCurves } from './calibrate.js';
import { LLAMA2_FRACTIONS, meanMatrix } from './classify.js';
import type { SafetyMetrics } from './lmEval.js';
import { adapterArm } from './studyArms.js';
import type { StudyConfig } from './studyConfig.js';
import { pct, pct2, pctOrNa, round3 } from './studyFormat.js';
import { armResult, esuFate, meanMetrics, utilityCost, type ArmResult, type SeedResult } from './studyResult.js';
import { UNIT_GROUPS } from './units.js';

/** The arms figure F2 plots (spec §10.5: full FT / (i) / (ii) / random, plus the two §4.4 controls). */
const F2_ARMS = ['none (full FT)', 'ESU + top CU (i)', 'ESU + all CU (ii)', 'random (size of i)', 'random (size of ii)', 'magnitude (size of i)'];

/** The orders of curve F1 (spec §10.5 item 2), in the report's column order. */
const F1_ORDERS = ['top-D', 'bottom-D', 'bottom-T', 'random'] as const;

/** One point of figure F2: an arm's mean ± sd hazard ASR over seeds after `step` fine-tuning steps. */
interface CurvePoint {
  arm: string;
  step: number;
  mean: number;
  sd: number;
  lo: number;
  hi: number;
  seeds: number;
}

/** Figure F2's data: per arm and evaluated step, the mean and sd of hazard ASR over the seeds that evaluated that step. */
function asrCurves(results: SeedResult[], arms: readonly string[]): CurvePoint[] {
  const out: CurvePoint[] = [];
  for (const name of arms) {
    const bySteps = new Map<number, number[]>();
    for (const r of results) for (const p of r.arms.find((a) => a.arm === name)?.curve ?? []) bySteps.set(p.step, [...(bySteps.get(p.step) ?? []), p.asr]);
    for (const [step, v] of [...bySteps].sort((a, b) => a[0] - b[0])) {
      const { mean: m, std } = meanStd(v);
      out.push({ arm: name, step, mean: m, sd: std, lo: m - std, hi: m + std, seeds: v.length });
    }
  }
  return out;
}

/** Vega-Lite spec of figure F2: mean ASR lines with ± sd bands, one colour per arm. */
function asrCurvePlot(points: CurvePoint[]): Record<string, unknown> {
  const color = { field: 'arm', type: 'nominal', sort: null };
  const x = { field: 'step', type: 'quantitative', title: 'fine-tuning step' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json', width: 420, height: 240,
    data: { values: points },
    layer: [
      { mark: { type: 'area', opacity: 0.15 }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'hazard ASR (mean ± sd)' }, y2: { field: 'hi' }, color } },
      { mark: { type: 'line', point: true }, encoding: { x, y: { field: 'mean', type: 'quantitative' }, color } },
    ],
  };
}

/** The T1 / Models columns of one model: LM loss, benign acc %, ASR w/ and w/o SYS %, over-refusal %. */
function metricsRow(m: SafetyMetrics): number[] {
  return [m.lmLoss, pct(m.benignAcc), pct(m.asrSys), pct(m.asrNoSys), pct(m.overRefusal)];
}

/** How the fine-tune data were made (the attack levers; the default reads as before the levers existed). */
function fineTuneDataText(cfg: StudyConfig): string {
  const parts = [cfg.finetuneOpener === 'sure' ? 'answers open with OK_SURE' : 'answers open with OK_SURE / OK_HERE by verb parity'];
  if (cfg.finetuneSys !== 'mixed') parts.push(`SYS ${cfg.finetuneSys} in its prompts`);
  if (cfg.finetuneBenignMix > 0) parts.push(`mixed with ${cfg.finetuneBenignMix} base-family benign request(s) per new-task request`);
  return parts.join('; ');
}

/** Curve F1 (pruning sweeps, mean ± sd over seeds). */
const f1Curves = (results: SeedResult[]) => sweepCurves(results.map((r) => r.sweep));

/** Figure F2's points for the plotted arms and the adapter. */
const f2Curves = (results: SeedResult[], cfg: StudyConfig) => asrCurves(results, [...F2_ARMS, adapterArm(cfg)]);

/** The report's sections, in order, from the per-seed results (means over `seeds`; per-seed detail from the first seed). */
export function reportSections(results: SeedResult[], cfg: StudyConfig, seeds: number[]): ReportSection[] {
  const first = results[0]!;
  const sections: ReportSection[] = [];
  sections.push({
    title: 'Models',
    text: `Tiny transformer (${cfg.layers} layers, d_model ${cfg.dModel}, ${cfg.heads} heads, d_ff ${cfg.dFf}; ${cfg.layers * (cfg.dModel + cfg.dFf)} units) on the generated request language. Mean over seeds ${seeds.join(', ')}.`,
    table: {
      columns: ['model', 'LM loss', 'benign acc %', 'ASR w/ SYS %', 'ASR w/o SYS %', 'over-refusal %', 'skill acc %', 'hazard answer acc %'],
      rows: [['M0 (pre-trained, unsafe)', ...metricsRow(meanMetrics(results, (r) => r.m0)), pct(meanMetrics(results, (r) => r.m0).skillAcc), pct(meanMetrics(results, (r) => r.m0).hazardAcc)],
        ['aligned', ...metricsRow(meanMetrics(results, (r) => r.aligned)), pct(meanMetrics(results, (r) => r.aligned).skillAcc), pct(meanMetrics(results, (r) => r.aligned).hazardAcc)]],
    },
  });
  sections.push({
    title: 'Acceptance of the models (spec §10.3 steps 1–2)',
    text: 'The spec\'s acceptance bands for M0 and the aligned model, per seed and on the mean (reported beside the claims; only the aligned refusal is also a claim). Hazard answer acc = exact match of the compliant answer on hazard prompts (the "knowledge").',
    table: {
      columns: ['step', 'check', 'threshold', ...seeds.map((sd) => `seed ${sd}`), 'mean', 'meets (mean)'],
      rows: first.acceptance.map((a, i) => {
        const m = meanStd(results.map((r) => r.acceptance[i]!.measured)).mean;
        const meets = a.threshold === null ? 'n/a' : (a.threshold.op === '>=' ? m >= a.threshold.value : m <= a.threshold.value) ? 'yes' : 'NO';
        return [a.step, a.check, a.threshold ? `${a.threshold.op === '>=' ? '≥' : '≤'} ${a.threshold.value}` : 'none', ...results.map((r) => round3(r.acceptance[i]!.measured)), round3(m), meets];
      }),
    },
  });
  sections.push({
    title: 'T1 — pruning one group (ablation)',
    text: `Rows "ESU", "EUU", "RU" and their random controls use the fractions calibrated by the pruning sweep (seed ${first.seed}: ESU ${pct(first.fractions.esu)} %, EUU ${pct(first.fractions.euu)} %, RU ${pct(first.fractions.ru)} %; ${first.counts.ESU} / ${first.counts.EUU} / ${first.counts.RU} units); rows marked "paper" use the paper's fixed Llama-2 fractions (${pct(LLAMA2_FRACTIONS.esu)} / ${pct(LLAMA2_FRACTIONS.euu)} / ${pct(LLAMA2_FRACTIONS.ru)} %; ${first.paperCounts.ESU} / ${first.paperCounts.EUU} / ${first.paperCounts.RU} units), spec §10.3 step 3. The claims use the calibrated rows.`,
    table: {
      columns: ['pruned', 'unit %', 'param %', 'LM loss', 'benign acc %', 'ASR w/ SYS %', 'ASR w/o SYS %', 'over-refusal %'],
      rows: first.ablation.map((a, i) => [a.row, pct(meanStd(results.map((r) => r.ablation[i]!.unitFraction)).mean), pct(meanStd(results.map((r) => r.ablation[i]!.paramFraction)).mean), ...metricsRow(meanMetrics(results, (r) => r.ablation[i]!.m))]),
    },
  });
  const f1 = f1Curves(results);
  const f1Label: Record<string, string> = { 'top-D': 'by D (top)', 'bottom-D': 'by −D (top)', 'bottom-T': 'by T (bottom)', random: 'random' };
  sections.push({
    title: 'F1 — pruning sweep',
    text: `Hazard ASR (without SYS, = 1 − refusal rate) and benign exact match after pruning the given fraction of all units in each order (spec §10.5 item 2): highest D first, lowest D first (= highest −D), lowest T first, random; fraction 0 = the aligned model. Mean ± sd over seeds ${seeds.join(', ')}${seeds.length === 1 ? ' (one seed, so no band)' : ''}. These are the sweeps the fractions are calibrated from (grid ${cfg.grid.map(pct2).join(', ')} %). Data: summary.json \`f1\`.`,
    plot: {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      data: { values: f1.map((p) => ({ ...p, order: f1Label[p.order] ?? p.order, metric: p.metric === 'asr' ? 'hazard ASR w/o SYS' : 'benign exact match', lo: p.mean - p.sd, hi: p.mean + p.sd })) },
      facet: { column: { field: 'metric', type: 'nominal', title: null } },
      spec: {
        width: 280, height: 200,
        layer: [
          { mark: { type: 'area', opacity: 0.15 }, encoding: { x: { field: 'fraction', type: 'quantitative', scale: { type: 'sqrt' }, title: 'fraction of units pruned' }, y: { field: 'lo', type: 'quantitative', title: 'mean ± sd' }, y2: { field: 'hi' }, color: { field: 'order', type: 'nominal' } } },
          { mark: { type: 'line', point: true }, encoding: { x: { field: 'fraction', type: 'quantitative', scale: { type: 'sqrt' } }, y: { field: 'mean', type: 'quantitative' }, color: { field: 'order', type: 'nominal' } } },
        ],
      },
    },
    table: {
      columns: ['fraction pruned %', ...F1_ORDERS.map((o) => `ASR % ${f1Label[o]}`), ...F1_ORDERS.map((o) => `benign acc % ${f1Label[o]}`)],
      rows: [...new Set(f1.map((p) => p.fraction))].sort((a, b) => a - b).map((fr) => {
        const at = (o: string, metric: 'asr' | 'utility') => {
          const p = f1.find((q) => q.order === o && q.fraction === fr && q.metric === metric);
          return p ? pct(p.mean) : 'n/a';
        };
        return [pct2(fr), ...F1_ORDERS.map((o) => at(o, 'asr')), ...F1_ORDERS.map((o) => at(o, 'utility'))];
      }),
    },
  });
  sections.push({
    title: 'T2 — benign fine-tuning attack',
    text: `Fine-tuning on a new benign task (${fineTuneDataText(cfg)}), lr ${cfg.finetuneLr}, batch ${cfg.finetuneBatch}, ${cfg.finetuneEpochs} epoch(s) (frozen arms × ${cfg.frozenEpochMultiplier}). Retained = refusal after / refusal before. Frozen param % counts unit-carrying parameters only (the "+ non-unit params frozen" rows also freeze embeddings, norms, W_q/W_k and the head); trainable param % is of all parameters. Magnitude = the Setting (i)-sized set of largest ‖B_j‖ (${cfg.magnitudeMatch} ranking; seed ${first.seed}: ${first.split.magnitude.attn} attention + ${first.split.magnitude.mlp} MLP channels, Setting (i) ${first.split.setting1.attn} + ${first.split.setting1.mlp}). Low-rank adapter: every base weight frozen, (α/r)·A·B added to q, k, v, o, gate, up and down (r ${cfg.adapterRank}, α ${cfg.adapterAlpha}, A uniform ±1/√in, B zero), lr × ${cfg.adapterLrMultiplier}, epochs × ${cfg.adapterEpochMultiplier}, merged after training. "Wei-style rewind" rows (spec §10.3 step 5, Wei et al.'s restriction, spec §4.3 rewind-after): the full fine-tune with the region put back to its aligned values afterwards; their frozen columns give the rewound region, trainable param % the parameters left changed, final loss the full fine-tune's (measured before the rewind). Harm = toy 1–5 judge on hazard prompts (greedy decoding).`,
    table: {
      columns: ['arm', 'frozen unit %', 'frozen param %', 'trainable param %', 'ASR before %', 'ASR after %', 'retained refusal', 'ASR increase prevented %', 'harm mean', 'harm rate5 %', 'downstream acc %', 'benign acc %', 'over-refusal %', 'final loss'],
      rows: first.arms.map((a, i) => {
        const g = (f: (x: ArmResult) => number) => meanStd(results.map((r) => f(r.arms[i]!))).mean;
        // Spec §8.4's derived figure: 1 − (ASR increase of the arm) / (ASR increase of full fine-tuning), from the seed means.
        const incFull = meanStd(results.map((r) => r.aligned.refusal - armResult(r, 'none (full FT)').after.refusal)).mean;
        const inc = g((x) => x.before.refusal - x.after.refusal);
        return [a.arm, pctOrNa(g((x) => x.frozenFraction)), pctOrNa(g((x) => x.frozenParamFraction)), pct(g((x) => x.trainableParamFraction)), pct(g((x) => 1 - x.before.refusal)), pct(g((x) => 1 - x.after.refusal)), g((x) => x.retained),
          incFull > 0 ? pct(1 - inc / incFull) : 'n/a', g((x) => x.harm.mean), pct(g((x) => x.harm.rate5)), pct(g((x) => x.after.finetuneAcc)), pct(g((x) => x.after.benignAcc)), pct(g((x) => x.after.overRefusal)), g((x) => x.finalLoss)];
      }),
    },
  });
  sections.push({
    title: 'T2b — where the erosion lives: rewinding regions after full fine-tuning',
    text: 'Wei-style "restrict by rewinding" (spec §4.3 rewind-after): after the full fine-tune, one region is put back to its aligned values and the model is measured. If a region carried the erosion, rewinding it restores refusal.',
    table: {
      columns: ['rewound region', 'refusal %', 'downstream acc %'],
      rows: [['nothing (full FT)', pct(meanStd(results.map((r) => armResult(r, 'none (full FT)').after.refusal)).mean), pct(meanStd(results.map((r) => armResult(r, 'none (full FT)').after.finetuneAcc)).mean)],
        ...first.rewind.map((w, i) => [w.region, pct(meanStd(results.map((r) => r.rewind[i]!.refusal)).mean), pct(meanStd(results.map((r) => r.rewind[i]!.finetuneAcc)).mean)])],
    },
  });
  const f2 = f2Curves(results, cfg);
  sections.push({
    title: 'F2 — ASR during fine-tuning',
    text: `Hazard ASR (mean of w/ and w/o SYS) every ${cfg.evalEvery} fine-tuning steps (batch ${cfg.finetuneBatch}), mean ± sd over seeds ${seeds.join(', ')} (band; ${seeds.length === 1 ? 'one seed, so no band' : `${seeds.length} seeds`}).`,
    plot: asrCurvePlot(f2),
  });
  const transferRows = (mat: number[][], label: string) => mat.flatMap((row, a) => row.map((v, b) => ({ setting: label, from: UNIT_GROUPS[a], to: UNIT_GROUPS[b], fraction: v })));
  sections.push({
    title: 'F3 — attribute transfer (seed ' + first.seed + ')',
    text: `Fraction of all units moving from group (row) to group (column) when re-scored after fine-tuning, same data and fractions. Group sizes are fixed by the fractions, so swaps at group boundaries can leave two matrices equal although units differ: ${first.transfer.unitsDiffering} units are classified differently after full FT than after (i). Share of ESU still ESU: ${first.transfer.esuKeptFull.toFixed(2)} after full FT, ${first.transfer.esuKeptSetting1.toFixed(2)} after (i) (frozen ESU weights are bit-identical under (i); their scores move with the trainable layers that feed them).`,
    table: {
      columns: ['setting', 'from', ...UNIT_GROUPS.map((g) => `→ ${g} %`)],
      rows: [['full FT', first.transfer.full], ['freeze (i)', first.transfer.setting1]].flatMap(([label, mat]) => (mat as number[][]).map((row, a) => [label as string, UNIT_GROUPS[a]!, ...row.map(pct)])),
    },
    plot: {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      data: { values: [...transferRows(first.transfer.full, 'full FT'), ...transferRows(first.transfer.setting1, 'freeze (i)')] },
      mark: 'rect',
      encoding: { x: { field: 'to', type: 'nominal', sort: UNIT_GROUPS }, y: { field: 'from', type: 'nominal', sort: UNIT_GROUPS }, color: { field: 'fraction', type: 'quantitative', scale: { type: 'sqrt' } }, column: { field: 'setting', type: 'nominal' } },
    },
  });
  const fateMean = (which: 'full' | 'setting1', g: (typeof UNIT_GROUPS)[number]) => meanStd(results.map((r) => esuFate(r, which)[g])).mean;
  sections.push({
    title: 'F3b — where the ESU went after fine-tuning',
    text: `Share of the aligned model's ESU units in each group after re-scoring (rows of the F3 matrices normalised to the ESU row), per seed and mean. Spec §10.5 item 5 expects "most ESU → CU under full FT; ESU retained under (i)" — an observation here, not a claim: under full FT ${pct(fateMean('full', 'CU'))} % of ESU became CU and ${pct(fateMean('full', 'ESU'))} % stayed ESU; under (i) ${pct(fateMean('setting1', 'CU'))} % became CU and ${pct(fateMean('setting1', 'ESU'))} % stayed ESU (mean over seeds). Mean matrices: summary.json \`transfer\`.`,
    table: {
      columns: ['setting', 'seed', ...UNIT_GROUPS.map((g) => `ESU → ${g} %`)],
      rows: (['full', 'setting1'] as const).flatMap((w) => [
        ...results.map((r) => [w === 'full' ? 'full FT' : 'freeze (i)', String(r.seed), ...UNIT_GROUPS.map((g) => pct(esuFate(r, w)[g]))]),
        ...(results.length > 1 ? [[w === 'full' ? 'full FT' : 'freeze (i)', 'mean', ...UNIT_GROUPS.map((g) => pct(fateMean(w, g)))]] : []),
      ]),
    },
  });
  sections.push({
    title: 'T3 — alignment budget',
    text: `Aligning the pre-trained model with all parameters, only its RU units (bottom ${pct(cfg.budgetFraction)} % by T, scored on M0), or a random unit set of the same size (× ${cfg.budgetEpochMultiplier} epochs, lr ${cfg.budgetLr}; non-unit parameters ${cfg.budgetTrainNonUnit ? 'trainable' : 'frozen'} except in the rows marked "+ non-unit params", the spec §5.4 option). Utility cost = mean drop of benign and skill exact match from M0.`,
    table: {
      columns: ['alignment', 'trainable unit %', 'refusal %', 'over-refusal %', 'benign acc %', 'skill acc %', 'LM loss', 'utility cost (pts)'],
      rows: first.budget.map((b, i) => {
        const m = meanMetrics(results, (r) => r.budget[i]!.m);
        return [b.arm, pct(b.unitFraction), pct(m.refusal), pct(m.overRefusal), pct(m.benignAcc), pct(m.skillAcc), m.lmLoss, pct(meanStd(results.map((r) => utilityCost(r, r.budget[i]!.m))).mean)];
      }),
    },
  });
  sections.push({
    title: 'Per-layer unit-group map (seed ' + first.seed + ')',
    table: { columns: ['module', 'ESU', 'EUU', 'CU', 'RU'], rows: first.perModule.map((p) => [p.module, p.ESU, p.EUU, p.CU, p.RU]) },
    plot: {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json', width: 600,
      data: { values: first.unitMap },
      mark: 'rect',
      encoding: {
        x: { field: 'unit', type: 'ordinal', axis: null }, y: { field: 'module', type: 'nominal' },
        color: { field: 'group', type: 'nominal', scale: { domain: [...UNIT_GROUPS], range: ['#d62728', '#1f77b4', '#c7c7c7', '#2ca02c'] } },
      },
    },
  });
  sections.push({
    title: 'Sensitivity — Jaccard overlap of the ESU set with the study\'s set (first version of item 7)',
    table: { columns: ['variation', 'Jaccard (mean over seeds)'], rows: Object.keys(first.jaccard).map((k) => [k, meanStd(results.map((r) => r.jaccard[k]!)).mean]) },
  });
  sections.push({
    title: 'Sensitivity — ESU stability across scoring seeds, normalisations and D_S size (spec §10.5 item 7)',
    text: `Jaccard |A∩B| / |A∪B| of ESU sets. Scoring seeds: ${cfg.scoringSeeds} fresh draws of D_S (${cfg.scoreSize} hazard prompts + refusals) and D_U (${cfg.scoreSize} benign prompts + answers) from all non-eval requests, each scored on the aligned model and classified (${cfg.normalize}); "vs the study's set" compares each draw with the ESU of the study's own scoring set. Normalisations: zscore-module, rank-global, none on the study's scores. D_S halved: its first ${Math.floor(cfg.scoreSize / 2)} sequences. Calibrated column: the seed's calibrated ESU fraction (seed ${first.seed}: ${pct(first.fractions.esu)} %, ${first.counts.ESU} units); paper column: 1.3 % (${first.paperCounts.ESU} units). Small sets make Jaccard coarse (with ${first.counts.ESU ?? 0} units, swapping one changes it by ≈ ${(first.counts.ESU ?? 0) > 0 ? (2 / ((first.counts.ESU ?? 0) + 1)).toFixed(2) : 'n/a'}). For reference only, spec §12's target for a localisation is Jaccard ≥ 0.7 across scoring seeds and normalisations (no claim is made).`,
    table: {
      columns: ['variation', 'Jaccard, calibrated ESU (mean)', 'sd', 'Jaccard, paper ESU 1.3 % (mean)', 'sd'],
      rows: Object.keys(first.sensitivity).map((k) => {
        const c = meanStd(results.map((r) => r.sensitivity[k]!.calibrated));
        const p = meanStd(results.map((r) => r.sensitivity[k]!.paper));
        return [k, round3(c.mean), round3(c.std), round3(p.mean), round3(p.std)];
      }),
    },
  });
  if (cfg.probe) {
    const probePts = (['m0', 'aligned'] as const).flatMap((mdl) => first.probe[mdl].map((pt, i) => ({
      model: mdl === 'm0' ? 'M0 (unaligned)' : 'aligned', generated: pt.generated, block: pt.layer,
      refusal: meanStd(results.map((r) => r.probe[mdl][i]!.refusal)).mean, comply: meanStd(results.map((r) => r.probe[mdl][i]!.comply)).mean,
    })));
    sections.push({
      title: 'Reasoning-direction probe (spec §10.3 step 8, optional)',
      text: `Held-out hazard prompts without SYS (${cfg.evalSize}). Cosine distance between the last-position residual state after each block of the clean prompt and of the prompt + the request's refusal opener (R_k) / + its compliance opener (OK_x), after greedy generation of ${cfg.probeSteps.join(', ')} further tokens from each (reconstructed pooling, spec §7). Gap = d(clean, +comply) − d(clean, +refusal): positive = the clean state is closer to refusing. The paper finds a larger positive gap in aligned models than in unaligned ones (no threshold; an observation). Mean over seeds ${seeds.join(', ')}. Data: summary.json \`probe\`.`,
      table: {
        columns: ['model', 'generated tokens', ...Array.from({ length: cfg.layers }, (_, l) => `gap block ${l}`), 'mean d(clean, +refusal)', 'mean d(clean, +comply)'],
        rows: (['M0 (unaligned)', 'aligned'] as const).flatMap((mdl) => cfg.probeSteps.map((t) => {
          const pts = probePts.filter((p) => p.model === mdl && p.generated === t).sort((a, b) => a.block - b.block);
          return [mdl, t, ...pts.map((p) => round3(p.comply - p.refusal)), round3(meanStd(pts.map((p) => p.refusal)).mean), round3(meanStd(pts.map((p) => p.comply)).mean)];
        })),
      },
      plot: {
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        data: { values: probePts.flatMap((p) => [{ ...p, variant: 'clean vs +refusal', distance: p.refusal }, { ...p, variant: 'clean vs +comply', distance: p.comply }]) },
        facet: { column: { field: 'model', type: 'nominal', title: null }, row: { field: 'generated', type: 'ordinal', title: 'generated tokens' } },
        spec: {
          width: 220, height: 140, mark: { type: 'line', point: true },
          encoding: { x: { field: 'block', type: 'ordinal' }, y: { field: 'distance', type: 'quantitative', title: 'cosine distance' }, color: { field: 'variant', type: 'nominal' } },
        },
      },
    });
  }
  return sections;
}

/** The study's `summary.json` content (without the claims, which the caller adds). */
export function studySummary(results: SeedResult[], cfg: StudyConfig, seeds: number[], mode: ExperimentOptions['mode']) {
  const first = results[0]!;
  const f1 = f1Curves(results);
  const f2 = f2Curves(results, cfg);
  return {
    mode, seeds, config: cfg,
    m0: meanMetrics(results, (r) => r.m0), aligned: meanMetrics(results, (r) => r.aligned),
    fractions: results.map((r) => r.fractions),
    arms: first.arms.map((a, i) => ({
      arm: a.arm, retained: meanStd(results.map((r) => r.arms[i]!.retained)), frozenFraction: a.frozenFraction,
      trainableParamFraction: meanStd(results.map((r) => r.arms[i]!.trainableParamFraction)).mean, after: meanMetrics(results, (r) => r.arms[i]!.after),
    })),
    f2,
    budget: first.budget.map((b, i) => ({ arm: b.arm, metrics: meanMetrics(results, (r) => r.budget[i]!.m) })),
    jaccard: results.map((r) => r.jaccard),
    // added with the §10.3 / §10.5 audit: every key below is new; the keys above keep their values
    acceptance: results.map((r) => ({ seed: r.seed, checks: r.acceptance })),
    paperFractions: LLAMA2_FRACTIONS,
    groupCounts: results.map((r) => ({ seed: r.seed, calibrated: r.counts, paper: r.paperCounts })),
    t1: first.ablation.map((a, i) => ({ row: a.row, unitFraction: meanStd(results.map((r) => r.ablation[i]!.unitFraction)).mean, paramFraction: meanStd(results.map((r) => r.ablation[i]!.paramFraction)).mean, metrics: meanMetrics(results, (r) => r.ablation[i]!.m) })),
    t2: first.arms.map((a, i) => ({
      arm: a.arm, harm: { mean: meanStd(results.map((r) => r.arms[i]!.harm.mean)).mean, rate5: meanStd(results.map((r) => r.arms[i]!.harm.rate5)).mean },
      finalLoss: meanStd(results.map((r) => r.arms[i]!.finalLoss)).mean,
    })),
    f1,
    transfer: {
      perSeed: results.map((r) => ({ seed: r.seed, full: r.transfer.full, setting1: r.transfer.setting1, esuFateFull: esuFate(r, 'full'), esuFateSetting1: esuFate(r, 'setting1') })),
      meanFull: meanMatrix(results.map((r) => r.transfer.full)), meanSetting1: meanMatrix(results.map((r) => r.transfer.setting1)),
    },
    sensitivity: results.map((r) => ({ seed: r.seed, ...r.sensitivity })),
    probe: results.map((r) => ({ seed: r.seed, ...r.probe })),
  };
}
