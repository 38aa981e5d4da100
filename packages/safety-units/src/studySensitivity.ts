/**
 * Stability of the ESU set (Jaccard overlaps): the study's first version (other normalisations, D_S halved,
 * scoring subsets) and spec §10.5 item 7's sensitivity (scoring seeds, normalisations, D_S halved, with the
 * calibrated and with the paper's ESU fraction). Scoring and classification only; no training.
 *
 * @module
 */
import { meanStd, Rng } from '@trellis-ml/core';
import { classifyUnits, groupMask, type Normalization, type UnitClassification } from './classify.js';
import { encodeSequences, type makeSplits, type Request, type RequestLanguage, type SequenceSet } from './language.js';
import type { AttributeScores } from './scores.js';
import type { StudyConfig } from './studyConfig.js';
import { subsetSeq } from './studyData.js';
import { jaccard, pairwiseJaccard, type UnitLayout } from './units.js';

/** Group fractions of a classification (ESU, EUU, RU). */
type Fractions = { esu: number; euu: number; ru: number };

/**
 * Jaccard overlap of the study's ESU set (`cls`) with the ESU set classified (at `fractions`) under each other
 * normalisation, from D_S halved (its first half), and from three random 75 % subsets of D_S and D_U (mean).
 * `scoreWith` scores the aligned model on a D_S / D_U pair.
 */
export function esuJaccards(cfg: StudyConfig, seed: number, lang: RequestLanguage, layout: UnitLayout, cls: UnitClassification, scores: AttributeScores,
  fractions: Fractions, scoreWith: (s: SequenceSet, u: SequenceSet) => AttributeScores, dS: SequenceSet, dU: SequenceSet): Record<string, number> {
  const esuOf = (c: UnitClassification) => groupMask(c, 'ESU');
  const base = esuOf(cls);
  const jac: Record<string, number> = {};
  for (const norm of ['rank-global', 'none'] as const) jac[`normalize=${norm}`] = jaccard(base, esuOf(classifyUnits(layout, scores, { normalize: norm, fractions })));
  const half = Math.floor(dS.data.size / 2);
  jac['D_S halved'] = jaccard(base, esuOf(classifyUnits(layout, scoreWith(subsetSeq(lang, dS, Array.from({ length: half }, (_, i) => i)), dU), { normalize: cfg.normalize, fractions })));
  const subs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const pick = (s: SequenceSet) => subsetSeq(lang, s, Rng.derive(seed, 'scoring-subset', r).permutation(s.data.size).slice(0, Math.floor(s.data.size * 0.75)));
    subs.push(jaccard(base, esuOf(classifyUnits(layout, scoreWith(pick(dS), pick(dU)), { normalize: cfg.normalize, fractions }))));
  }
  jac['scoring subsets (3 × 75 %)'] = meanStd(subs).mean;
  return jac;
}

/**
 * Spec §10.5 item 7: Jaccard overlaps of the ESU set, for the calibrated and for the paper's ESU fraction,
 * (a) across `cfg.scoringSeeds` fresh scoring draws (pairwise, and each against the study's set), (b) across
 * the three normalisations (pairwise), (c) with D_S halved (first half). Scoring only; no training.
 */
export function sensitivityJaccards(cfg: StudyConfig, seed: number, lang: RequestLanguage, sp: ReturnType<typeof makeSplits>, layout: UnitLayout, scores: AttributeScores,
  fractions: { calibrated: Fractions; paper: Fractions },
  scoreWith: (s: SequenceSet, u: SequenceSet) => AttributeScores, dS: SequenceSet): Record<string, { calibrated: number; paper: number }> {
  const esu = (sc: AttributeScores, which: 'calibrated' | 'paper', normalize: Normalization = cfg.normalize) =>
    groupMask(classifyUnits(layout, sc, { normalize, fractions: fractions[which] }), 'ESU');
  // (a) fresh draws of D_S and D_U from every non-eval request (scoring ∪ training requests; eval stays disjoint, spec §3.1)
  const draw = (pool: Request[], r: number, label: string) => Array.from(Rng.derive(seed, 'scoring-seed', label, r).sample(pool.length, Math.min(cfg.scoreSize, pool.length)), (i) => pool[i]!);
  const drawn = Array.from({ length: cfg.scoringSeeds }, (_, r) => scoreWith(
    encodeSequences(lang, draw([...sp.hazard.score, ...sp.hazard.train], r, 'hazard'), 'refuse'),
    encodeSequences(lang, draw([...sp.benign.score, ...sp.benign.train], r, 'benign'), 'comply')));
  const half = subsetSeq(lang, dS, Array.from({ length: Math.floor(dS.data.size / 2) }, (_, i) => i));
  const halved = scoreWith(half, encodeSequences(lang, sp.benign.score, 'comply'));
  const out: Record<string, { calibrated: number; paper: number }> = {};
  const both = (f: (w: 'calibrated' | 'paper') => number) => ({ calibrated: f('calibrated'), paper: f('paper') });
  out[`scoring seeds (${cfg.scoringSeeds} draws): mean pairwise`] = both((w) => pairwiseJaccard(drawn.map((d) => esu(d, w))).mean);
  out[`scoring seeds (${cfg.scoringSeeds} draws): min pairwise`] = both((w) => pairwiseJaccard(drawn.map((d) => esu(d, w))).min);
  out[`scoring seeds (${cfg.scoringSeeds} draws): mean vs the study's set`] = both((w) => meanStd(drawn.map((d) => jaccard(esu(scores, w), esu(d, w)))).mean);
  const norms: Normalization[] = ['zscore-module', 'rank-global', 'none'];
  out['normalisations (3): mean pairwise'] = both((w) => pairwiseJaccard(norms.map((n) => esu(scores, w, n))).mean);
  out['normalisations (3): min pairwise'] = both((w) => pairwiseJaccard(norms.map((n) => esu(scores, w, n))).min);
  out['normalize=rank-global vs none'] = both((w) => jaccard(esu(scores, w, 'rank-global'), esu(scores, w, 'none')));
  out['D_S halved (first half)'] = both((w) => jaccard(esu(scores, w), esu(halved, w)));
  return out;
}
