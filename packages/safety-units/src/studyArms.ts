/**
 * The benign fine-tuning attack of one seed (spec §10.3 step 5, table T2): the arms (freeze masks, the
 * low-rank adapter), training and measuring each, the Wei-style rewinds after full fine-tuning, the
 * re-classification behind the attribute-transfer figure, and the parameter counts the table reports.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { attributeTransfer, classifyUnits, freezeMaskSetting2, groupMask, randomMaskLike, type UnitClassification } from './classify.js';
import type { RequestLanguage, SequenceSet } from './language.js';
import { forwardSet, harmfulnessScore, refusalRate, safetyMetrics, type EvalSets, type SafetyMetrics } from './lmEval.js';
import { lowRankParamCount } from './lowRank.js';
import { lowRankAdapterPlugin, unitFreezePlugin } from './plugin.js';
import { rewindUnits, snapshotVariables } from './prune.js';
import type { AttributeScores } from './scores.js';
import type { StudyConfig } from './studyConfig.js';
import type { ArmResult, SeedResult } from './studyResult.js';
import { trainLanguageModel } from './train.js';
import type { TinyTransformer } from './transformer.js';
import { maskCount, maskStats, type UnitLayout, type UnitMask } from './units.js';

/** One arm of the fine-tuning attack: a freeze mask (or none), or the low-rank adapter. */
export interface ArmSpec {
  arm: string;
  mask: UnitMask | null;
  nonUnit: boolean;
  adapter?: boolean;
}

/** Arm name of the low-rank adapter. */
export const adapterArm = (cfg: StudyConfig) => `low-rank adapter (r = ${cfg.adapterRank}, all projections)`;

/**
 * Trainable parameters of a freeze arm: all minus the `frozen` unit-slice parameters (from
 * {@link maskStats}), and minus the non-unit parameters when they are frozen too.
 */
export function trainableParams(model: TinyTransformer, layout: UnitLayout, frozen: number, nonUnit: boolean): { trainable: number; total: number } {
  const vars = model.trainableVariables();
  const total = Object.values(vars).reduce((s, v) => s + v.size, 0);
  if (!nonUnit) return { trainable: total - frozen, total };
  const unitVars = new Set(layout.flatMap((m) => [...m.aSide, m.bSide].map((x) => x.variable)));
  const unitTotal = [...unitVars].reduce((s, k) => s + vars[k]!.size, 0);
  return { trainable: unitTotal - frozen, total };
}

/**
 * Wei-style "restrict by rewinding" (spec §4.3 `rewind-after`) as a diagnostic of where erosion lives:
 * after full fine-tuning, put one region back to its aligned values (a unit set, all units (`null`), or
 * every non-unit parameter), measure, and undo.
 */
export function rewindRegions<R>(model: TinyTransformer, aligned: TinyTransformer, layout: UnitLayout, regions: Array<[string, UnitMask | null | 'non-unit']>,
  measure: (m: TinyTransformer) => R): Array<{ region: string } & R> {
  const unitVars = new Set(layout.flatMap((m) => [...m.aSide, m.bSide].map((s) => s.variable)));
  const all = Object.keys(model.trainableVariables());
  const out: Array<{ region: string } & R> = [];
  for (const [region, what] of regions) {
    const names = what === 'non-unit' ? all.filter((k) => !unitVars.has(k)) : [...unitVars];
    const saved = snapshotVariables(model, names);
    const before = snapshotVariables(aligned, names);
    try {
      if (what === null || what === 'non-unit') {
        const vars = model.trainableVariables();
        for (const k of names) vars[k]!.assign(before[k]!);
      } else {
        rewindUnits(model, layout, what, before);
      }
      out.push({ region, ...measure(model) });
    } finally {
      const vars = model.trainableVariables();
      for (const k of names) vars[k]!.assign(saved[k]!);
      tf.dispose([...Object.values(saved), ...Object.values(before)]);
    }
  }
  return out;
}

/**
 * The arms of the attack, in the table's order: full fine-tuning, ESU, Setting (i), its random and magnitude
 * controls, (i) and random with the non-unit parameters frozen too, Setting (ii) and its random control when
 * `cfg.setting2`, and the low-rank adapter.
 */
export function attackArmSpecs(cfg: StudyConfig, seed: number, layout: UnitLayout, cls: UnitClassification, setting1: UnitMask, magnitudeMask: UnitMask): ArmSpec[] {
  const armSpecs: ArmSpec[] = [
    { arm: 'none (full FT)', mask: null, nonUnit: false },
    { arm: 'ESU', mask: groupMask(cls, 'ESU'), nonUnit: false },
    { arm: 'ESU + top CU (i)', mask: setting1, nonUnit: false },
    { arm: 'random (size of i)', mask: randomMaskLike(layout, setting1, seed * 1000 + 11), nonUnit: false },
    { arm: 'magnitude (size of i)', mask: magnitudeMask, nonUnit: false },
    { arm: '(i) + non-unit params frozen', mask: setting1, nonUnit: true },
    { arm: 'random (size of i) + non-unit params frozen', mask: randomMaskLike(layout, setting1, seed * 1000 + 11), nonUnit: true },
  ];
  if (cfg.setting2) {
    // spec §10.3 step 5: a random freeze of the same size as (i) and as (ii)
    const setting2 = freezeMaskSetting2(cls);
    armSpecs.push({ arm: 'ESU + all CU (ii)', mask: setting2, nonUnit: false }, { arm: 'random (size of ii)', mask: randomMaskLike(layout, setting2, seed * 1000 + 12), nonUnit: false });
  }
  armSpecs.push({ arm: adapterArm(cfg), mask: null, nonUnit: false, adapter: true });
  return armSpecs;
}

/** What one seed's attack needs: the aligned model and its metrics, the data, the classification and how to log. */
export interface AttackSetup {
  cfg: StudyConfig;
  seed: number;
  lang: RequestLanguage;
  /** The fine-tuning set (the new benign task). */
  ft: SequenceSet;
  evalSets: EvalSets;
  aligned: TinyTransformer;
  alignedMetrics: SafetyMetrics;
  layout: UnitLayout;
  /** The aligned model's classification at the calibrated `fractions`. */
  cls: UnitClassification;
  fractions: { esu: number; euu: number; ru: number };
  /** Setting (i): ESU + top CU. */
  setting1: UnitMask;
  /** Attribute scores of a model on the study's scoring sets. */
  score: (m: TinyTransformer, layout: UnitLayout) => AttributeScores;
  log: (s: string) => void;
  /** Elapsed time for log lines. */
  stamp: () => string;
  progress: boolean;
}

/** What the attack measured: one result per arm (Wei-style rewind arms last), the rewind diagnostic, and the re-classifications. */
export interface AttackOutcome {
  arms: ArmResult[];
  rewind: SeedResult['rewind'];
  /** Attribute-transfer matrices from the aligned model's classification after full fine-tuning and under (i). */
  transferFull: number[][];
  transferS1: number[][];
  /** Re-classification after full fine-tuning and under (i). */
  reFull: UnitClassification;
  reS1: UnitClassification;
}

/**
 * Fine-tunes a clone of the aligned model under each arm of `armSpecs` and measures it; after full fine-tuning
 * also rewinds regions (spec §4.3 rewind-after, reported as T2b and as the Wei-style T2 arms), and re-classifies
 * after full fine-tuning and under (i) for the attribute transfer.
 */
export async function runAttackArms(armSpecs: ArmSpec[], setup: AttackSetup): Promise<AttackOutcome> {
  const { cfg, seed, lang, ft, evalSets, aligned, alignedMetrics, layout, cls, fractions, setting1, score, log, stamp, progress } = setup;
  const arms: ArmResult[] = [];
  let transferFull: number[][] = [];
  let transferS1: number[][] = [];
  let reFull: UnitClassification | undefined;
  let reS1: UnitClassification | undefined;
  const rewind: SeedResult['rewind'] = [];
  // Spec §10.3 step 5 "Wei-style rewind of the ESU region" as T2 arms: full fine-tune, then put the region back to its aligned
  // values (Wei et al.'s restriction, spec §4.3 rewind-after), measured like every arm. Appended after the trained arms.
  const weiArms: ArmResult[] = [];
  const weiRegions: Array<[string, string, UnitMask]> = [['ESU (Wei-style rewind)', 'Wei-style rewind of ESU after full FT', groupMask(cls, 'ESU')],
    ['ESU + top CU (i)', 'Wei-style rewind of (i) region after full FT', setting1]];
  for (const { arm, mask, nonUnit, adapter } of armSpecs) {
    const model = aligned.clone();
    const curve: ArmResult['curve'] = [];
    const plugins = adapter ? [lowRankAdapterPlugin({ rank: cfg.adapterRank, alpha: cfg.adapterAlpha, seed: seed + 300 })]
      : mask ? [unitFreezePlugin({ layout, frozen: mask, freezeNonUnitParams: nonUnit })] : [];
    const epochs = cfg.finetuneEpochs * (adapter ? cfg.adapterEpochMultiplier : mask ? cfg.frozenEpochMultiplier : 1);
    const finalLoss = await trainLanguageModel(model, ft, lang, {
      epochs, learningRate: cfg.finetuneLr * (adapter ? cfg.adapterLrMultiplier : 1), batchSize: cfg.finetuneBatch, seed: seed + 200, plugins, progress, label: `finetune ${arm}`,
      evalEvery: cfg.evalEvery,
      onSteps: (step, m) => {
        const hs = forwardSet(m, evalSets.hazardSys, lang);
        const hn = forwardSet(m, evalSets.hazardNoSys, lang);
        curve.push({ step, asr: 1 - (refusalRate(hs.first, lang) + refusalRate(hn.first, lang)) / 2 });
      },
    });
    const after = safetyMetrics(model, evalSets, lang);
    const st = mask ? maskStats(model, layout, mask) : adapter ? { units: NaN, unitFraction: NaN, params: 0, paramFraction: NaN } : { units: 0, unitFraction: 0, params: 0, paramFraction: 0 };
    const tp = trainableParams(model, layout, st.params, nonUnit);
    const trainable = adapter ? lowRankParamCount(model.projectionVariables().map((k) => model.trainableVariables()[k]!.shape), cfg.adapterRank) : tp.trainable;
    arms.push({
      arm, frozenUnits: st.units, frozenFraction: st.unitFraction, frozenParamFraction: st.paramFraction, trainableParamFraction: trainable / tp.total, before: alignedMetrics, after,
      harm: harmfulnessScore(model, evalSets.hazardNoSys, lang), finalLoss,
      retained: alignedMetrics.refusal > 0 ? after.refusal / alignedMetrics.refusal : NaN, curve,
    });
    if (arm.startsWith('none') || arm.startsWith('ESU + top')) {
      const re = classifyUnits(layout, score(model, layout), { normalize: cfg.normalize, fractions });
      if (arm.startsWith('none')) {
        transferFull = attributeTransfer(cls, re);
        reFull = re;
      } else {
        transferS1 = attributeTransfer(cls, re);
        reS1 = re;
      }
    }
    if (arm.startsWith('none')) {
      const regions = rewindRegions(model, aligned, layout, [
        ['ESU (Wei-style rewind)', groupMask(cls, 'ESU')], ['ESU + top CU (i)', setting1], ['random (size of i)', randomMaskLike(layout, setting1, seed * 1000 + 11)],
        ['all units', null], ['all non-unit params', 'non-unit'],
      ], (m) => ({ m: safetyMetrics(m, evalSets, lang), harm: harmfulnessScore(m, evalSets.hazardNoSys, lang) }));
      rewind.push(...regions.map((w) => ({ region: w.region, refusal: w.m.refusal, finetuneAcc: w.m.finetuneAcc })));
      for (const [region, name, regionMask] of weiRegions) {
        const w = regions.find((x) => x.region === region)!;
        const rst = maskStats(model, layout, regionMask);
        const rtp = trainableParams(model, layout, rst.params, false);
        weiArms.push({
          arm: name, frozenUnits: rst.units, frozenFraction: rst.unitFraction, frozenParamFraction: rst.paramFraction,
          // the parameters that may differ from the aligned model after the rewind
          trainableParamFraction: rtp.trainable / rtp.total, before: alignedMetrics, after: w.m, harm: w.harm,
          finalLoss, retained: alignedMetrics.refusal > 0 ? w.m.refusal / alignedMetrics.refusal : NaN, curve: [],
        });
      }
    }
    log(`[seed ${seed} ${stamp()}] FT ${arm}: refusal ${after.refusal.toFixed(3)} (retained ${(arms[arms.length - 1]!.retained).toFixed(3)}) downstream ${after.finetuneAcc.toFixed(3)} ${adapter ? '' : `frozen ${(st.unitFraction * 100).toFixed(1)}% `}trainable params ${(trainable / tp.total * 100).toFixed(1)}% loss ${finalLoss.toFixed(3)}`);
    model.dispose();
  }
  arms.push(...weiArms);
  for (const w of weiArms) log(`[seed ${seed} ${stamp()}] FT ${w.arm}: refusal ${w.after.refusal.toFixed(3)} (retained ${w.retained.toFixed(3)}) downstream ${w.after.finetuneAcc.toFixed(3)} rewound ${(w.frozenFraction * 100).toFixed(1)}% of units`);
  return { arms, rewind, transferFull, transferS1, reFull: reFull!, reS1: reS1! };
}

/**
 * Unit counts behind the attribute-transfer text: units classified differently after full fine-tuning than
 * under (i), the aligned model's ESU count, and how many of those stayed ESU in each re-classification.
 */
export function unitTransferCounts(layout: UnitLayout, cls: UnitClassification, reFull: UnitClassification, reS1: UnitClassification):
  { unitsDiffering: number; esuBefore: number; esuKeptFull: number; esuKeptSetting1: number } {
  let unitsDiffering = 0;
  let esuKeptFull = 0;
  let esuKeptSetting1 = 0;
  const esuBefore = maskCount(groupMask(cls, 'ESU'));
  for (const m of layout) {
    const a = cls.groups[m.id]!;
    const f = reFull.groups[m.id]!;
    const s1 = reS1.groups[m.id]!;
    for (let i = 0; i < m.numUnits; i++) {
      unitsDiffering += f[i] !== s1[i] ? 1 : 0;
      if (a[i] === 0) {
        esuKeptFull += f[i] === 0 ? 1 : 0;
        esuKeptSetting1 += s1[i] === 0 ? 1 : 0;
      }
    }
  }
  return { unitsDiffering, esuBefore, esuKeptFull, esuKeptSetting1 };
}
