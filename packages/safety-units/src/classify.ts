/**
 * Classification of units into ESU / EUU / CU / RU (spec §3.3–3.4) and the unit sets built from it:
 * freeze sets (§4.1), the alignment budget (§5), random and magnitude controls (§4.4), and the
 * attribute-transfer matrix (§6).
 *
 * @module
 */
import type { ModelAdapter } from '@trellis-ml/core';
import { check, checkChoice, Rng } from '@trellis-ml/core';
import { outgoingNormsSq, type AttributeScores } from './scores.js';
import { checkFraction, checkMask, emptyMask, maskCount, maskStats, totalUnits, UNIT_GROUPS, type UnitGroup, type UnitLayout, type UnitMask } from './units.js';

/**
 * How I_S and I_U are made comparable across modules and data sets (spec §3.3, **reconstructed**):
 * `zscore-module` (default; FLAP's per-(layer, module) standardisation), `rank-global` (percentile
 * ranks over all units), `none` (raw scores).
 */
export type Normalization = 'zscore-module' | 'rank-global' | 'none';

/** Group fractions, each of *all* units. */
export interface GroupFractions {
  esu: number;
  euu: number;
  ru: number;
}

/** The paper's Llama-2-7B-Chat fractions (Table 1): ESU 1.3 %, EUU 13.3 %, RU 14.8 %. */
export const LLAMA2_FRACTIONS: GroupFractions = { esu: 0.013, euu: 0.133, ru: 0.148 };

/** Options of {@link classifyUnits}. */
export interface ClassifyOptions {
  normalize?: Normalization;
  fractions?: GroupFractions;
  /** Score attention per channel (default) or per head (channels of a head share their head's summed score). */
  attentionGranularity?: 'channel' | 'head';
}

/** Group code per unit: index into {@link UNIT_GROUPS}. */
export const GROUP_CODE: Record<UnitGroup, number> = { ESU: 0, EUU: 1, CU: 2, RU: 3 };

const NORMALIZATIONS: readonly Normalization[] = ['zscore-module', 'rank-global', 'none'];

/** Checks unit-group names (a typo such as 'esu' would otherwise select no unit). */
function checkGroups(groups: readonly UnitGroup[]): void {
  for (const g of groups) checkChoice(g, UNIT_GROUPS, 'unit group', { fix: `use one of ${UNIT_GROUPS.join(', ')} (upper case)` });
}

/** Checks a unit count for a layout of `n` units. */
function checkCount(count: number, n: number, what: string): void {
  check(Number.isInteger(count) && count >= 0 && count <= n, 'BAD_OPTION', `${what} ${typeof count === 'string' ? `"${count}"` : String(count)} is not an integer in [0, ${n}] (the layout has ${n} units)`,
    `pass a whole number of units between 0 and ${n}, e.g. Math.round(fraction × ${n})`);
}

/** The result of {@link classifyUnits}. */
export interface UnitClassification {
  /** Module ids and unit counts, in layout order. */
  modules: Array<{ id: string; layer: number; kind: 'mlp' | 'attn'; numUnits: number }>;
  /** Group code per unit ({@link GROUP_CODE}), by module id. */
  groups: Record<string, Uint8Array>;
  /** Normalised safety score S, utility score U, D = S − U and T = S + U, by module id. */
  S: Record<string, Float64Array>;
  U: Record<string, Float64Array>;
  D: Record<string, Float64Array>;
  T: Record<string, Float64Array>;
  fractions: GroupFractions;
  normalize: Normalization;
  /** Units per group. */
  counts: Record<UnitGroup, number>;
}

/** Standardises each module's scores (mean 0, std 1; a constant vector becomes 0). */
export function zscore(values: Float64Array): Float64Array {
  const n = values.length;
  let mean = 0;
  for (const v of values) mean += v;
  mean /= n;
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  const std = Math.sqrt(ss / n);
  return values.map((v) => (std > 0 ? (v - mean) / std : 0));
}

/** Percentile ranks in [0, 1] over the concatenation of all modules (ties share the mean rank). */
export function globalRanks(perModule: Record<string, Float64Array>, order: readonly string[]): Record<string, Float64Array> {
  const flat: Array<{ v: number; m: string; i: number }> = [];
  for (const id of order) perModule[id]!.forEach((v, i) => flat.push({ v, m: id, i }));
  flat.sort((a, b) => a.v - b.v);
  const out: Record<string, Float64Array> = {};
  for (const id of order) out[id] = new Float64Array(perModule[id]!.length);
  const n = flat.length;
  for (let a = 0; a < n;) {
    let b = a;
    while (b + 1 < n && flat[b + 1]!.v === flat[a]!.v) b++;
    const r = n > 1 ? (a + b) / 2 / (n - 1) : 0.5;
    for (let k = a; k <= b; k++) out[flat[k]!.m]![flat[k]!.i] = r;
    a = b + 1;
  }
  return out;
}

/**
 * Sums channel scores within each head of attention modules (for `attentionGranularity: 'head'`); MLP
 * modules keep their scores.
 * @throws TrellisError `BAD_LAYOUT` for an attention module without a `headDim` that divides its units.
 */
export function headScores(layout: UnitLayout, scores: Record<string, Float64Array>): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = {};
  for (const m of layout) {
    const s = scores[m.id]!;
    if (m.kind !== 'attn') {
      out[m.id] = s;
      continue;
    }
    // an attention module without a head size used to keep its channel scores silently
    check(m.headDim !== undefined, 'BAD_LAYOUT', `attention module "${m.id}" has no headDim, so its channels cannot be grouped into heads`,
      "give attention modules headDim = dModel / heads, or use attentionGranularity 'channel'");
    const h = m.headDim;
    check(Number.isInteger(h) && h > 0 && s.length % h === 0, 'BAD_LAYOUT', () => `module "${m.id}" has headDim ${h}, which does not split its ${s.length} units into whole heads`,
      'pass headDim = dModel / heads (a divisor of numUnits)');
    const o = new Float64Array(s.length);
    for (let start = 0; start < s.length; start += h) {
      let sum = 0;
      for (let j = start; j < start + h; j++) sum += s[j]!;
      for (let j = start; j < start + h; j++) o[j] = sum;
    }
    out[m.id] = o;
  }
  return out;
}

/** Normalises one data set's scores with the given scheme. */
export function normalizeScores(layout: UnitLayout, scores: Record<string, Float64Array>, mode: Normalization): Record<string, Float64Array> {
  if (mode === 'none') return Object.fromEntries(layout.map((m) => [m.id, Float64Array.from(scores[m.id]!)]));
  if (mode === 'rank-global') return globalRanks(scores, layout.map((m) => m.id));
  return Object.fromEntries(layout.map((m) => [m.id, zscore(scores[m.id]!)]));
}

/** Global unit references sorted by a key (stable: ties keep layout order). */
function sortedUnits(layout: UnitLayout, key: Record<string, Float64Array>, descending: boolean, filter?: (m: string, i: number) => boolean): Array<[string, number]> {
  const all: Array<[string, number, number, number]> = [];
  let g = 0;
  for (const m of layout) {
    const k = key[m.id]!;
    for (let i = 0; i < m.numUnits; i++, g++) if (!filter || filter(m.id, i)) all.push([m.id, i, k[i]!, g]);
  }
  all.sort((a, b) => (descending ? b[2] - a[2] : a[2] - b[2]) || a[3] - b[3]);
  return all.map(([m, i]) => [m, i]);
}

/**
 * Sorts units into ESU / EUU / CU / RU (spec §3.4): ESU = top ρ_ESU of all units by D = S − U; EUU =
 * bottom ρ_EUU of the rest by D; RU = bottom ρ_RU of the rest by T = S + U; CU = the rest. Counts are
 * `round(ρ · N)`, so fractions are respected exactly; groups are disjoint and cover every unit.
 *
 * @throws TrellisError `BAD_FRACTION` (a fraction outside (0, 1), or fractions whose rounded counts leave
 * no complex unit), `BAD_OPTION`, `BAD_SCORES` (missing or of the wrong length),
 * `NON_FINITE_SCORES` (a NaN or infinite raw score), `BAD_LAYOUT` (a `headDim` that does not divide a module).
 */
export function classifyUnits(layout: UnitLayout, scores: AttributeScores, options: ClassifyOptions = {}): UnitClassification {
  const fractions = options.fractions ?? LLAMA2_FRACTIONS;
  checkFraction(fractions.esu, 'ESU fraction');
  checkFraction(fractions.euu, 'EUU fraction');
  checkFraction(fractions.ru, 'RU fraction');
  check(fractions.esu + fractions.euu + fractions.ru < 1, 'BAD_FRACTION',
    `the ESU, EUU and RU fractions sum to ${fractions.esu + fractions.euu + fractions.ru}, leaving no complex units`, 'pass fractions that sum to less than 1');
  const normalize = options.normalize ?? 'zscore-module';
  checkChoice(normalize, NORMALIZATIONS, 'normalization', { fix: (choices) => `use normalize ${choices}` });
  const granularity = options.attentionGranularity ?? 'channel';
  checkChoice(granularity, ['channel', 'head'] as const, 'attention granularity', { fix: "use attentionGranularity 'channel' or 'head'" });
  check(scores?.safety?.scores && scores.utility?.scores, 'BAD_SCORES', 'the scores lack `safety` or `utility` unit scores', 'pass what scoreAttributes returns ({ safety, utility })');
  const head = granularity === 'head';
  const rawS = head ? headScores(layout, scores.safety.scores) : scores.safety.scores;
  const rawU = head ? headScores(layout, scores.utility.scores) : scores.utility.scores;
  for (const m of layout) {
    check(rawS[m.id]?.length === m.numUnits && rawU[m.id]?.length === m.numUnits, 'BAD_SCORES',
      `scores for module "${m.id}" are missing or have the wrong length`, 'score units with the same layout you classify with');
    for (const [which, raw] of [['safety', rawS], ['utility', rawU]] as const) {
      const bad = raw[m.id]!.findIndex((v) => !Number.isFinite(v));
      // one NaN made the module's std NaN, so z-scoring zeroed every score and the groups followed the layout order
      check(bad < 0, 'NON_FINITE_SCORES', () => `the ${which} score of unit ${bad} of module "${m.id}" is ${raw[m.id]![bad]}`,
        'score a model whose weights and activations are finite: a NaN or infinite score usually means a diverged model (restore a checkpoint or lower the learning rate)');
    }
  }
  const S = normalizeScores(layout, rawS, normalize);
  const U = normalizeScores(layout, rawU, normalize);
  const D: Record<string, Float64Array> = {};
  const T: Record<string, Float64Array> = {};
  for (const m of layout) {
    D[m.id] = S[m.id]!.map((s, i) => s - U[m.id]![i]!);
    T[m.id] = S[m.id]!.map((s, i) => s + U[m.id]![i]!);
  }
  const n = totalUnits(layout);
  const want = { esu: Math.round(fractions.esu * n), euu: Math.round(fractions.euu * n), ru: Math.round(fractions.ru * n) };
  // Rounding each fraction can ask for more units than a small layout has (N = 2 at 0.3 each: 1 + 1 + 1):
  // RU then came out short of round(ρ·N) and no complex unit was left.
  check(want.esu + want.euu + want.ru < n, 'BAD_FRACTION',
    () => `the ESU, EUU and RU fractions ask for ${want.esu} + ${want.euu} + ${want.ru} of the layout's ${n} units, leaving no complex units`,
    'pass smaller fractions, or classify a layout with more units');
  const groups: Record<string, Uint8Array> = {};
  for (const m of layout) groups[m.id] = new Uint8Array(m.numUnits).fill(GROUP_CODE.CU);
  const assigned = new Set<string>();
  const take = (list: Array<[string, number]>, count: number, code: number) => {
    for (const [m, i] of list.slice(0, count)) {
      groups[m]![i] = code;
      assigned.add(`${m}#${i}`);
    }
  };
  const free = (m: string, i: number) => !assigned.has(`${m}#${i}`);
  take(sortedUnits(layout, D, true), want.esu, GROUP_CODE.ESU);
  take(sortedUnits(layout, D, false, free), want.euu, GROUP_CODE.EUU);
  take(sortedUnits(layout, T, false, free), want.ru, GROUP_CODE.RU);
  const counts = { ESU: 0, EUU: 0, CU: 0, RU: 0 } as Record<UnitGroup, number>;
  for (const a of Object.values(groups)) for (const c of a) counts[UNIT_GROUPS[c]!]++;
  return {
    modules: layout.map((m) => ({ id: m.id, layer: m.layer, kind: m.kind, numUnits: m.numUnits })),
    groups, S, U, D, T, fractions, normalize, counts,
  };
}

/** The units of one group (or several). */
export function groupMask(cls: UnitClassification, ...groups: UnitGroup[]): UnitMask {
  checkGroups(groups);
  const codes = new Set(groups.map((g) => GROUP_CODE[g]));
  const out: UnitMask = {};
  for (const m of cls.modules) out[m.id] = cls.groups[m.id]!.map((c) => (codes.has(c) ? 1 : 0));
  return out;
}

/** Options of {@link selectUnits}. */
export interface SelectSpec {
  groups: UnitGroup[];
  /** Also take this fraction of *all* units from CU, highest first (spec §4.1: 0.06 → "7.5 %" with ESU). */
  topCU?: number;
  /** Ranking of CU for `topCU`: by D (default, reconstructed) or by S. */
  cuRanking?: 'D' | 'S';
  /** Keep only units of these layers. */
  restrictToLayers?: number[];
}

/**
 * Builds a unit set from groups, a top slice of CU, and a layer restriction (spec §9 `selectUnits`).
 * @throws TrellisError `BAD_OPTION` when `groups` is not a list of group names or `restrictToLayers`
 * names a layer the classification does not have, `BAD_FRACTION` for `topCU` outside [0, 1).
 */
export function selectUnits(cls: UnitClassification, spec: SelectSpec): UnitMask {
  check(Array.isArray(spec?.groups), 'BAD_OPTION', `selectUnits needs \`groups\` as a list of unit groups, got ${String(spec?.groups)}`,
    "pass e.g. { groups: ['ESU'], topCU: 0.06 } (a list, even for one group)");
  if (spec.restrictToLayers !== undefined) {
    const layers = [...new Set(cls.modules.map((m) => m.layer))];
    check(Array.isArray(spec.restrictToLayers) && spec.restrictToLayers.every((l) => layers.includes(l)), 'BAD_OPTION',
      () => `restrictToLayers ${JSON.stringify(spec.restrictToLayers)} names a layer the classification does not have (it has layers ${layers.join(', ')})`,
      `pass a list of layer indices from ${layers.join(', ')} (an unknown layer would select no unit)`);
  }
  const out = groupMask(cls, ...spec.groups);
  // 0 (no CU) is allowed; a negative or NaN fraction would otherwise be skipped silently
  if (spec.topCU !== undefined && !(spec.topCU > 0)) checkFraction(spec.topCU, 'top-CU fraction', true);
  if (spec.cuRanking !== undefined) checkChoice(spec.cuRanking, ['D', 'S'] as const, 'CU ranking', { fix: "use cuRanking 'D' or 'S'" });
  if (spec.topCU !== undefined && spec.topCU > 0) {
    checkFraction(spec.topCU, 'top-CU fraction');
    const n = cls.modules.reduce((s, m) => s + m.numUnits, 0);
    const key = spec.cuRanking === 'S' ? cls.S : cls.D;
    const layout = cls.modules.map((m) => ({ ...m, tap: '', aSide: [], bSide: { variable: '', axis: 0 as const } }));
    const cu = sortedUnits(layout, key, true, (m, i) => cls.groups[m]![i] === GROUP_CODE.CU);
    for (const [m, i] of cu.slice(0, Math.round(spec.topCU * n))) out[m]![i] = 1;
  }
  if (spec.restrictToLayers) {
    const keep = new Set(spec.restrictToLayers);
    for (const m of cls.modules) if (!keep.has(m.layer)) out[m.id]!.fill(0);
  }
  return out;
}

/** Setting (i) of the paper: ESU + the top `topCU` of all units taken from CU by D (≈ 7.5 % with ESU 1.3 %). */
export function freezeMaskSetting1(cls: UnitClassification, topCU = 0.06): UnitMask {
  return selectUnits(cls, { groups: ['ESU'], topCU });
}

/** Setting (ii) of the paper: ESU + all CU. */
export function freezeMaskSetting2(cls: UnitClassification): UnitMask {
  return groupMask(cls, 'ESU', 'CU');
}

/** The alignment budget (spec §5): the RU units, i.e. the trainable set. */
export function budgetMask(cls: UnitClassification): UnitMask {
  return groupMask(cls, 'RU');
}

/**
 * A random unit set of the same size as `mask`, with the same number of units in every module (the
 * spec's random-freeze control, §4.4), drawn from `seed`.
 */
export function randomMaskLike(layout: UnitLayout, mask: UnitMask, seed: number): UnitMask {
  checkMask(layout, mask);
  const out = emptyMask(layout);
  for (const m of layout) {
    let k = 0;
    for (const v of mask[m.id] ?? []) k += v ? 1 : 0;
    const pick = Rng.derive(seed, 'random-mask', m.id).sample(m.numUnits, k);
    for (const i of pick) out[m.id]![i] = 1;
  }
  return out;
}

/**
 * How {@link magnitudeMaskLike} sizes its set: `global` (default; the spec's wording, §4.4 "freeze by
 * magnitude (largest ‖B_j‖) of the same size") ranks all units of all modules together and takes as
 * many as the reference set has; `per-module` takes, in every module, as many of that module's
 * largest-norm units as the reference set has there (the same layer distribution, like
 * {@link randomMaskLike}).
 */
export type MagnitudeMatch = 'global' | 'per-module';

/** ‖B_j‖₂ of every unit: the L2 norm of its outgoing weights (row j of the module's B kernel), by module id. */
export function outgoingNorms(adapter: ModelAdapter, layout: UnitLayout): Record<string, Float64Array> {
  const vars = adapter.trainableVariables();
  const out: Record<string, Float64Array> = {};
  for (const m of layout) {
    const v = vars[m.bSide.variable];
    check(v, 'BAD_LAYOUT', `module "${m.id}" names variable "${m.bSide.variable}", which the model does not have`, 'build the layout from the same model');
    out[m.id] = outgoingNormsSq(v, m.bSide.axis).map(Math.sqrt);
  }
  return out;
}

/**
 * The magnitude-freeze control (spec §4.4): the units with the largest outgoing-weight norm ‖B_j‖,
 * as many as in `mask` (e.g. Setting (i)), ranked over all units (`match: 'global'`, default) or within
 * each module with `mask`'s per-module counts (`'per-module'`). Ties keep layout order.
 */
export function magnitudeMaskLike(adapter: ModelAdapter, layout: UnitLayout, mask: UnitMask, options: { match?: MagnitudeMatch } = {}): UnitMask {
  checkMask(layout, mask);
  const match = options.match ?? 'global';
  check(match === 'global' || match === 'per-module', 'BAD_OPTION', `magnitude match "${String(match)}" is not a ranking`, "use match 'global' or 'per-module'");
  const norms = outgoingNorms(adapter, layout);
  if (match === 'global') return rankedMask(layout, norms, maskCount(mask), 'top');
  const { perModule } = maskStats(adapter, layout, mask);
  const out = emptyMask(layout);
  for (const m of layout) out[m.id] = rankedMask([m], norms, perModule[m.id]!, 'top')[m.id]!;
  return out;
}

/**
 * The `count` units with the highest (`top`) or lowest (`bottom`) value of `key`, over all modules (ties
 * keep layout order).
 * @throws TrellisError `BAD_OPTION` for a count that is not a whole number in [0, N], `BAD_SCORES` for a
 * key that lacks a module or has the wrong length, `NON_FINITE_SCORES` for a NaN or infinite key value.
 */
export function rankedMask(layout: UnitLayout, key: Record<string, Float64Array>, count: number, end: 'top' | 'bottom'): UnitMask {
  checkCount(count, totalUnits(layout), 'unit count');
  checkChoice(end, ['top', 'bottom'] as const, 'end');
  for (const m of layout) {
    const k = key?.[m.id];
    check(k?.length === m.numUnits, 'BAD_SCORES', `the ranking key has ${k ? k.length : 'no'} values for module "${m.id}", which has ${m.numUnits} units`,
      'rank by a key of the same layout (e.g. cls.D or cls.T of classifyUnits with this layout)');
    const bad = Array.prototype.findIndex.call(k, (v: number) => !Number.isFinite(v));
    check(bad < 0, 'NON_FINITE_SCORES', () => `the ranking key of unit ${bad} of module "${m.id}" is ${k[bad]}`,
      'rank by finite scores: a NaN or infinite value usually means a diverged model (restore a checkpoint or lower the learning rate)');
  }
  const out = emptyMask(layout);
  for (const [m, i] of sortedUnits(layout, key, end === 'top').slice(0, count)) out[m]![i] = 1;
  return out;
}

/** A uniformly random set of `count` units over all modules. */
export function randomMask(layout: UnitLayout, count: number, seed: number): UnitMask {
  checkCount(count, totalUnits(layout), 'unit count');
  const out = emptyMask(layout);
  const refs: Array<[string, number]> = [];
  for (const m of layout) for (let i = 0; i < m.numUnits; i++) refs.push([m.id, i]);
  for (const k of Rng.derive(seed, 'random-units').sample(refs.length, count)) out[refs[k]![0]]![refs[k]![1]] = 1;
  return out;
}

/**
 * 4×4 matrix of the fraction of all units moving from group a (row) to group b (column), spec §6.
 * @throws TrellisError `BAD_CLASSIFICATION` unless both classifications cover the same modules with the
 * same unit counts (and at least one unit).
 */
export function attributeTransfer(before: UnitClassification, after: UnitClassification): number[][] {
  const ids = (c: UnitClassification) => (c?.modules ?? []).map((m) => `${m.id}:${m.numUnits}`).sort().join(', ');
  // a module only `after` had was left out silently, so the fractions were of part of the model; no module gave NaN
  check(before?.modules?.length > 0, 'BAD_CLASSIFICATION', 'the classification before covers no unit', 'pass what classifyUnits returns for a layout with units');
  check(ids(before) === ids(after), 'BAD_CLASSIFICATION',
    () => `the classifications cover different modules: [${ids(before)}] before, [${ids(after)}] after`, 'compare classifications of the same architecture and layout');
  const m = UNIT_GROUPS.map(() => UNIT_GROUPS.map(() => 0));
  let n = 0;
  for (const mod of before.modules) {
    const a = before.groups[mod.id]!;
    const b = after.groups[mod.id];
    check(b && b.length === a.length, 'BAD_CLASSIFICATION', `the two classifications differ on module "${mod.id}"`, 'compare classifications of the same architecture');
    for (let i = 0; i < a.length; i++) {
      m[a[i]!]![b[i]!]!++;
      n++;
    }
  }
  return m.map((row) => row.map((c) => c / n));
}

/**
 * Where the units of one group went (a row of an {@link attributeTransfer} matrix, normalised to its
 * sum): the share of `from`'s units that ended in each group. An empty group gives NaN shares.
 * Spec §10.5 F3's expectation reads off it: under full fine-tuning most ESU → CU; under Setting (i) ESU → ESU.
 */
export function transferShares(matrix: readonly (readonly number[])[], from: UnitGroup): Record<UnitGroup, number> {
  check(matrix.length === UNIT_GROUPS.length && matrix.every((r) => r.length === UNIT_GROUPS.length), 'BAD_CLASSIFICATION',
    `a transfer matrix is ${UNIT_GROUPS.length}×${UNIT_GROUPS.length}, got ${matrix.length} rows`, 'pass the matrix attributeTransfer returns');
  checkGroups([from]);
  const row = matrix[GROUP_CODE[from]]!;
  const sum = row.reduce((s, v) => s + v, 0);
  return Object.fromEntries(UNIT_GROUPS.map((g, j) => [g, sum > 0 ? row[j]! / sum : NaN])) as Record<UnitGroup, number>;
}

/** Element-wise mean of equally shaped matrices (e.g. transfer matrices of several seeds). */
export function meanMatrix(matrices: readonly (readonly number[])[][]): number[][] {
  check(matrices.length > 0, 'BAD_OPTION', 'no matrices to average', 'pass at least one matrix');
  const first = matrices[0]!;
  for (const m of matrices) {
    check(m.length === first.length && m.every((r, i) => r.length === first[i]!.length), 'BAD_OPTION', 'the matrices to average differ in shape', 'pass matrices of one shape');
  }
  return first.map((r, i) => r.map((_, j) => matrices.reduce((s, m) => s + m[i]![j]!, 0) / matrices.length));
}
