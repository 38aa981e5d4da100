/**
 * Sequence sets the study builds from a seed's request splits: the held-out evaluation sets and subsets of a
 * scoring set.
 *
 * @module
 */
import { encodeSequences, type makeSplits, type Request, type RequestLanguage, type SequenceSet } from './language.js';
import type { EvalSets } from './lmEval.js';

/** The held-out evaluation sets of a split (hazard with and without SYS, benign, skill, new task), all with compliant answers. */
export function evalSetsOf(lang: RequestLanguage, sp: ReturnType<typeof makeSplits>): EvalSets {
  const sys = (rs: Request[], v: boolean) => rs.map((r) => ({ ...r, sys: v }));
  return {
    hazardSys: encodeSequences(lang, sys(sp.hazard.eval, true), 'comply'),
    hazardNoSys: encodeSequences(lang, sys(sp.hazard.eval, false), 'comply'),
    benign: encodeSequences(lang, sp.benign.eval, 'comply'),
    skill: encodeSequences(lang, sp.skill.eval, 'comply'),
    finetune: encodeSequences(lang, sp.finetune.eval, 'comply'),
  };
}

/** The sequences of `set` at indices `idx`, re-encoded. */
export function subsetSeq(lang: RequestLanguage, set: SequenceSet, idx: ArrayLike<number>): SequenceSet {
  return encodeSequences(lang, Array.from(idx, (i) => set.requests[i]!), Array.from(idx, (i) => set.responses[i]!));
}
