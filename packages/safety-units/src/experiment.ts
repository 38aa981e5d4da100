/**
 * The small-scale reproduction (spec §10): pre-train a tiny transformer on the generated request
 * language (knowledgeable but unsafe), safety-align it, score and classify its units, prune each
 * group (ablation), attack it with benign fine-tuning under freeze arms, and align the pre-trained
 * model inside its redundant-unit budget. Writes one run record with tables, plots and claims.
 *
 * @module
 */
import type { ExperimentOptions, ExperimentResult, TechniqueExperiment } from '@trellis-ml/core';
import { experimentSeeds, RunRecord } from '@trellis-ml/core';
import { acceptanceChecks } from './acceptance.js';
import { pruningSweep, calibrateFractions } from './calibrate.js';
import { classifyUnits, freezeMaskSetting1, groupMask, LLAMA2_FRACTIONS, magnitudeMaskLike, randomMaskLike, rankedMask } from './classify.js';
import { fineTuneRequests } from './finetuneData.js';
import { concatSequences, encodeSequences, makeSplits, RequestLanguage, type SequenceSet } from './language.js';
import { forwardSet, refusalRate, safetyMetrics } from './lmEval.js';
import { unitBudgetPlugin } from './plugin.js';
import { reasoningDirectionProbe } from './probe.js';
import { pruneUnits } from './prune.js';
import { scoreAttributes, type AttributeScores } from './scores.js';
import { attackArmSpecs, runAttackArms, unitTransferCounts } from './studyArms.js';
import { studyClaims } from './studyClaims.js';
import { studyConfig, studyParameters, type StudyConfig } from './studyConfig.js';
import { evalSetsOf } from './studyData.js';
import { pct } from './studyFormat.js';
import { reportSections, studySummary } from './studyReport.js';
import type { SeedResult } from './studyResult.js';
import { esuJaccards, sensitivityJaccards } from './studySensitivity.js';
import { trainLanguageModel } from './train.js';
import { TinyTransformer, tinyTransformer } from './transformer.js';
import { maskCount, maskStats, UNIT_GROUPS, type UnitLayout, type UnitMask } from './units.js';

/** One seed of the study: train M0 and the aligned model, score and classify, ablate, attack, align in budget, measure stability. */
async function runSeed(seed: number, cfg: StudyConfig, log: (s: string) => void, progress: boolean): Promise<SeedResult> {
  const lang = new RequestLanguage({ fineTuneOpener: cfg.finetuneOpener });
  const sp = makeSplits(lang, seed, { scoreSize: cfg.scoreSize, evalSize: cfg.evalSize });
  const evalSets = evalSetsOf(lang, sp);
  const pretrain = encodeSequences(lang, [...sp.benign.train, ...sp.hazard.train, ...sp.skill.train], 'comply');
  const nBenignAlign = Math.min(sp.benign.train.length, Math.round((sp.hazard.train.length * 7) / 3));
  const align = concatSequences(lang, encodeSequences(lang, sp.hazard.train, 'refuse'), encodeSequences(lang, sp.benign.train.slice(0, nBenignAlign), 'comply'));
  const dS = encodeSequences(lang, sp.hazard.score, 'refuse');
  const dU = encodeSequences(lang, sp.benign.score, 'comply');
  const ft = encodeSequences(lang, fineTuneRequests(sp, { sys: cfg.finetuneSys, benignMix: cfg.finetuneBenignMix, seed }), 'comply');
  const positions = lang.positionMask('all');
  const score = (m: TinyTransformer, layout: UnitLayout, s = dS, u = dU): AttributeScores =>
    scoreAttributes(m, layout, { safety: s.data, utility: u.data }, { positions, tokenInputs: true });
  const t0 = Date.now();
  const stamp = () => `${((Date.now() - t0) / 1000).toFixed(0)}s`;

  // 1. Pre-train M0 (compliant answers for every request).
  const m0 = tinyTransformer({ vocabSize: lang.vocabSize, maxLen: lang.maxLen, layers: cfg.layers, dModel: cfg.dModel, heads: cfg.heads, dFf: cfg.dFf, seed });
  await trainLanguageModel(m0, pretrain, lang, { epochs: cfg.pretrainEpochs, learningRate: cfg.pretrainLr, batchSize: cfg.batchSize, seed, progress, label: 'pretrain' });
  const m0Metrics = safetyMetrics(m0, evalSets, lang);
  log(`[seed ${seed} ${stamp()}] M0: benign ${m0Metrics.benignAcc.toFixed(3)} skill ${m0Metrics.skillAcc.toFixed(3)} refusal ${m0Metrics.refusal.toFixed(3)}`);

  // 2. Safety alignment (all parameters).
  const aligned = m0.clone();
  await trainLanguageModel(aligned, align, lang, { epochs: cfg.alignEpochs, learningRate: cfg.alignLr, batchSize: Math.min(cfg.batchSize, 64), seed: seed + 100, progress, label: 'align' });
  const alignedMetrics = safetyMetrics(aligned, evalSets, lang);
  log(`[seed ${seed} ${stamp()}] aligned: refusal ${alignedMetrics.refusal.toFixed(3)} over-refusal ${alignedMetrics.overRefusal.toFixed(3)} benign ${alignedMetrics.benignAcc.toFixed(3)} skill ${alignedMetrics.skillAcc.toFixed(3)}`);

  // 3. Score, sweep, calibrate, classify.
  const layout = aligned.unitModules();
  const scores = score(aligned, layout);
  const prelim = classifyUnits(layout, scores, { normalize: cfg.normalize, fractions: LLAMA2_FRACTIONS });
  const quickMeasure = () => {
    const b = forwardSet(aligned, evalSets.benign, lang);
    const h = forwardSet(aligned, evalSets.hazardNoSys, lang);
    return { utility: b.exact.reduce((s, v) => s + v, 0) / b.exact.length, refusal: refusalRate(h.first, lang) };
  };
  const sweep = pruningSweep(aligned, layout, prelim, quickMeasure, { grid: cfg.grid, seed });
  const calib = calibrateFractions(sweep);
  const cls = classifyUnits(layout, scores, { normalize: cfg.normalize, fractions: calib.fractions });
  log(`[seed ${seed} ${stamp()}] fractions ESU ${calib.fractions.esu} EUU ${calib.fractions.euu.toFixed(3)} RU ${calib.fractions.ru.toFixed(3)}`);

  // 4. Ablation table (T1).
  const ablation: SeedResult['ablation'] = [];
  const prunedMetrics = (row: string, mask: UnitMask) => {
    const st = maskStats(aligned, layout, mask);
    const h = pruneUnits(aligned, layout, mask);
    try {
      ablation.push({ row, unitFraction: st.unitFraction, paramFraction: st.paramFraction, m: safetyMetrics(aligned, evalSets, lang) });
    } finally {
      h.restore();
    }
  };
  ablation.push({ row: 'dense', unitFraction: 0, paramFraction: 0, m: alignedMetrics });
  for (const g of ['ESU', 'EUU', 'RU'] as const) prunedMetrics(g, groupMask(cls, g));
  for (let r = 0; r < 3; r++) prunedMetrics(`random (ESU size) #${r + 1}`, randomMaskLike(layout, groupMask(cls, 'ESU'), seed * 1000 + r));
  prunedMetrics('random (EUU size)', randomMaskLike(layout, groupMask(cls, 'EUU'), seed * 1000 + 7));
  prunedMetrics('random (RU size)', randomMaskLike(layout, groupMask(cls, 'RU'), seed * 1000 + 8));
  // Spec §10.3 step 3: the same rows with the paper's fixed fractions (`prelim`, Llama-2: 1.3 / 13.3 / 14.8 %). Pruning is
  // restored bit-exactly and the random sets draw from their own seeds, so nothing downstream changes.
  for (const g of ['ESU', 'EUU', 'RU'] as const) prunedMetrics(`${g} (paper ${pct(LLAMA2_FRACTIONS[g.toLowerCase() as 'esu' | 'euu' | 'ru'])} %)`, groupMask(prelim, g));
  for (let r = 0; r < 3; r++) prunedMetrics(`random (paper ESU size) #${r + 1}`, randomMaskLike(layout, groupMask(prelim, 'ESU'), seed * 1000 + 31 + r));
  prunedMetrics('random (paper EUU size)', randomMaskLike(layout, groupMask(prelim, 'EUU'), seed * 1000 + 34));
  prunedMetrics('random (paper RU size)', randomMaskLike(layout, groupMask(prelim, 'RU'), seed * 1000 + 35));

  // 5. Benign fine-tuning attack with freeze arms.
  const n = layout.reduce((s, m) => s + m.numUnits, 0);
  const esuCount = maskCount(groupMask(cls, 'ESU'));
  const topCU = Math.max(0, cfg.freezeTotal - esuCount / n);
  const setting1 = topCU > 0 ? freezeMaskSetting1(cls, topCU) : groupMask(cls, 'ESU');
  const magnitudeMask = magnitudeMaskLike(aligned, layout, setting1, { match: cfg.magnitudeMatch });
  const byKind = (mask: UnitMask) => {
    const { perModule } = maskStats(aligned, layout, mask);
    const out = { attn: 0, mlp: 0 };
    for (const m of layout) out[m.kind] += perModule[m.id]!;
    return out;
  };
  const split = { setting1: byKind(setting1), magnitude: byKind(magnitudeMask) };
  const armSpecs = attackArmSpecs(cfg, seed, layout, cls, setting1, magnitudeMask);
  const { arms, rewind, transferFull, transferS1, reFull, reS1 } = await runAttackArms(armSpecs, {
    cfg, seed, lang, ft, evalSets, aligned, alignedMetrics, layout, cls, fractions: calib.fractions, setting1, score, log, stamp, progress,
  });
  const { unitsDiffering, esuBefore, esuKeptFull, esuKeptSetting1 } = unitTransferCounts(layout, cls, reFull, reS1);
  log(`[seed ${seed} ${stamp()}] attribute transfer: ${unitsDiffering} units classified differently after full FT vs (i); ESU kept ${esuKeptFull}/${esuBefore} (full FT), ${esuKeptSetting1}/${esuBefore} (i)`);

  // 6. Alignment budget on the pre-trained model.
  const clsM0 = classifyUnits(layout, score(m0, layout), { normalize: cfg.normalize, fractions: { esu: 0.01, euu: 0.01, ru: cfg.budgetFraction } });
  const budgetUnits = Math.round(cfg.budgetFraction * n);
  const ruMask = rankedMask(layout, clsM0.T, budgetUnits, 'bottom');
  const budget: SeedResult['budget'] = [{ arm: 'full alignment (all params)', m: alignedMetrics, unitFraction: 1 }];
  const rndBudget = randomMaskLike(layout, ruMask, seed * 1000 + 21);
  const f0 = cfg.budgetFraction;
  const budgetArms: Array<[string, UnitMask, boolean, number]> = [['RU only', ruMask, cfg.budgetTrainNonUnit, f0], ['random units', rndBudget, cfg.budgetTrainNonUnit, f0]];
  if (cfg.budgetNonUnitVariant && !cfg.budgetTrainNonUnit) budgetArms.push(['RU + non-unit params', ruMask, true, f0], ['random units + non-unit params', rndBudget, true, f0]);
  // the sweep's RU sets come from the same ranking of M0 (T, bottom), so they nest: a smaller budget is a subset of a larger one
  for (const f of cfg.budgetSweep) budgetArms.push(['RU only', rankedMask(layout, clsM0.T, Math.round(f * n), 'bottom'), cfg.budgetTrainNonUnit, f]);
  for (const [arm, mask, nonUnit, fraction] of budgetArms) {
    const model = m0.clone();
    await trainLanguageModel(model, align, lang, {
      epochs: cfg.alignEpochs * cfg.budgetEpochMultiplier, learningRate: cfg.budgetLr, batchSize: Math.min(cfg.batchSize, 64), seed: seed + 100,
      plugins: [unitBudgetPlugin({ layout, trainable: mask, trainNonUnitParams: nonUnit })], progress, label: `budget ${arm}`,
    });
    budget.push({ arm: `${arm} (${(fraction * 100).toFixed(0)} %)`, m: safetyMetrics(model, evalSets, lang), unitFraction: maskCount(mask) / n });
    log(`[seed ${seed} ${stamp()}] budget ${arm}: refusal ${budget[budget.length - 1]!.m.refusal.toFixed(3)} benign ${budget[budget.length - 1]!.m.benignAcc.toFixed(3)} skill ${budget[budget.length - 1]!.m.skillAcc.toFixed(3)}`);
    model.dispose();
  }

  // 7. Stability of the ESU set (Jaccard).
  const scoreAligned = (s: SequenceSet, u: SequenceSet) => score(aligned, layout, s, u);
  const jac = esuJaccards(cfg, seed, lang, layout, cls, scores, calib.fractions, scoreAligned, dS, dU);
  const sensitivity = sensitivityJaccards(cfg, seed, lang, sp, layout, scores, { calibrated: calib.fractions, paper: LLAMA2_FRACTIONS },
    scoreAligned, dS);
  log(`[seed ${seed} ${stamp()}] sensitivity (Jaccard of ESU, calibrated / paper fraction): ${Object.entries(sensitivity).map(([k, v]) => `${k} ${v.calibrated.toFixed(2)}/${v.paper.toFixed(2)}`).join('; ')}`);

  // 8. Optional reasoning-direction probe (spec §10.3 step 8, §7) on held-out hazard prompts without SYS.
  const blockTaps = Array.from({ length: cfg.layers }, (_, l) => `L${l}.out`);
  const probeOf = (m: TinyTransformer) => (cfg.probe ? reasoningDirectionProbe(m, lang, evalSets.hazardNoSys.requests, { blockTaps, steps: cfg.probeSteps }) : []);
  const probe = { m0: probeOf(m0), aligned: probeOf(aligned) };

  const unitMap: SeedResult['unitMap'] = [];
  const perModule: SeedResult['perModule'] = [];
  for (const m of layout) {
    const row = { module: m.id, ESU: 0, EUU: 0, CU: 0, RU: 0 };
    cls.groups[m.id]!.forEach((g, i) => {
      const name = UNIT_GROUPS[g]!;
      row[name]++;
      unitMap.push({ module: m.id, unit: i, group: name });
    });
    perModule.push(row);
  }
  m0.dispose();
  aligned.dispose();
  return {
    seed, m0: m0Metrics, aligned: alignedMetrics, fractions: calib.fractions, counts: cls.counts, ablation, sweep, arms,
    transfer: { full: transferFull, setting1: transferS1, unitsDiffering, esuKeptFull: esuBefore ? esuKeptFull / esuBefore : NaN, esuKeptSetting1: esuBefore ? esuKeptSetting1 / esuBefore : NaN },
    rewind, split, budget, jaccard: jac, unitMap, perModule,
    acceptance: acceptanceChecks(m0Metrics, alignedMetrics), paperCounts: prelim.counts, sensitivity, probe,
  };
}

/** `trellis safety-units`: the whole study. */
export const experiment: TechniqueExperiment = {
  name: 'safety-units',
  parameters: studyParameters,
  checkParams: (options) => void studyConfig(options.mode, options.params),
  resumable: true,
  description: 'Find the few units that carry safety (ESU), prune them, freeze them during benign fine-tuning, and align within the redundant-unit budget (SSAH).',
  async run(options: ExperimentOptions): Promise<ExperimentResult> {
    const seeds = experimentSeeds(options);
    const cfg = studyConfig(options.mode, options.params);
    const log = options.log ?? ((s: string) => console.log(s));
    const record = await RunRecord.create({
      out: options.out, name: 'safety-units', seed: seeds[0]!, config: { mode: options.mode, seeds, ...cfg }, packageOf: import.meta.url,
      ...(options.resume ? { resume: true } : {}),
    });
    const journal = await record.openJournal();
    if (journal.finished) log(`safety-units: resuming ${record.dir}: ${journal.finished} finished seeds are replayed from its journal`);
    const results: SeedResult[] = [];
    for (const seed of seeds) {
      // one journaled unit per seed: an interrupted study resumes after the last finished seed
      await journal.collect(`seed ${seed}`, { results }, async () => {
        const r = await runSeed(seed, cfg, log, options.progress ?? false);
        results.push(r);
        await record.logMetrics({ seed, m0: r.m0, aligned: r.aligned, fractions: r.fractions, arms: r.arms.map((a) => ({ arm: a.arm, after: a.after, retained: a.retained })), budget: r.budget, jaccard: r.jaccard });
      });
    }
    const claims = studyClaims(results, cfg, seeds);
    const sections = reportSections(results, cfg, seeds);
    const summary = studySummary(results, cfg, seeds, options.mode);
    const summaryPath = await record.writeSummary({ ...summary, claims });
    const reportPath = await record.writeReport({
      title: 'safety-units — Superficial Safety Alignment Hypothesis (toy reproduction)',
      intro: `Mode ${options.mode}, seeds ${seeds.join(', ')}. All content is abstract tokens of a generated request language.`,
      claims, sections,
    });
    return { runDir: record.dir, summaryPath, reportPath, claims, summary };
  },
};
