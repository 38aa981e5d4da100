import { check, spearman } from '@trellis-ml/core';

/**
 * Pure helpers for the spec's §7.4 expectations that the reproduction reports beside its claims: the
 * accuracy bands of the dense and plainly fine-tuned models, the growth of disparity with sparsity, the
 * spread of a per-group quantity, and the sampling noise of an accuracy difference. Accuracies are
 * fractions in [0, 1]; drops and spreads are fractions too (1 pp = 0.01).
 */

/** `max − min` of a list (the spread used for ξ_acc, ξ_R and the diagnostics after mitigation). NaN when empty. */
export function spread(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  return Math.max(...values) - Math.min(...values);
}

/** Whether `x` lies in the closed band `[lo, hi]`; `null` leaves that end open (NaN is never in a band). */
export function inBand(x: number, lo: number | null, hi: number | null): boolean {
  return Number.isFinite(x) && (lo === null || x >= lo) && (hi === null || x <= hi);
}

/** One checked band of spec §7.4. */
export interface BandCheck {
  /** What is checked, in words. */
  what: string;
  /** The measured value (a fraction). */
  measured: number;
  /** Lower end of the band (a fraction; null when open). */
  lo: number | null;
  /** Upper end of the band (a fraction; null when open). */
  hi: number | null;
  holds: boolean;
}

function band(what: string, measured: number, lo: number | null, hi: number | null): BandCheck {
  return { what, measured, lo, hi, holds: inBand(measured, lo, hi) };
}

/** The two datasets of the reproduction. */
export type StudyDataset = 'fashion' | 'mnist';

/**
 * Spec §7.4 bands of the dense LeNet-300-100: MNIST overall 98.0–98.5% and every class ≥ 96.5%;
 * Fashion-MNIST overall 88.5–90.0%, Shirt (class 6) 60–72%, Trouser (1), Sandal (5) and Bag (8) ≥ 96%.
 * @param overall overall test accuracy; @param perClass test accuracy of each of the 10 classes.
 */
export function denseBandChecks(dataset: StudyDataset, overall: number, perClass: readonly number[]): BandCheck[] {
  check(perClass.length === 10, 'BAD_GROUPS', `the dense bands need the 10 class accuracies, got ${perClass.length}`, 'pass the per-class accuracies of the classes design');
  if (dataset === 'mnist') {
    return [band('dense overall accuracy', overall, 0.98, 0.985), band('dense lowest class accuracy (every class ≥ 96.5%)', Math.min(...perClass), 0.965, null)];
  }
  return [
    band('dense overall accuracy', overall, 0.885, 0.9),
    band('dense Shirt accuracy', perClass[6]!, 0.6, 0.72),
    band('dense Trouser accuracy', perClass[1]!, 0.96, null),
    band('dense Sandal accuracy', perClass[5]!, 0.96, null),
    band('dense Bag accuracy', perClass[8]!, 0.96, null),
  ];
}

/** One sparsity of the plainly fine-tuned classes design (seed means). */
export interface PlainAtSparsity {
  sparsity: number;
  /** Overall accuracy drop `Δ` (fraction). */
  overallDrop: number;
  /** `ξ_acc` (fraction). */
  accuracyDropSpread: number;
}

/**
 * Spec §7.4 bands of the plain fine-tune on the classes design, split by range. `low`: MNIST at s ≤ 0.9,
 * overall Δ ≤ 0.2 pp and ξ_acc ≤ 0.6 pp (Fashion states none). `high`: MNIST at s = 0.98–0.99, Δ in 0.5–3 pp;
 * Fashion at s = 0.95–0.99, Δ in 1–4 pp. Sparsities that did not run give no check.
 */
export function plainDropBandChecks(dataset: StudyDataset, points: readonly PlainAtSparsity[]): { low: BandCheck[]; high: BandCheck[] } {
  const low: BandCheck[] = [];
  const high: BandCheck[] = [];
  for (const p of [...points].sort((a, b) => a.sparsity - b.sparsity)) {
    if (dataset === 'mnist' && p.sparsity <= 0.9) {
      low.push(band(`overall drop Δ at s = ${p.sparsity}`, p.overallDrop, null, 0.002));
      low.push(band(`ξ_acc at s = ${p.sparsity}`, p.accuracyDropSpread, null, 0.006));
    }
    if (dataset === 'mnist' && p.sparsity >= 0.98 && p.sparsity <= 0.99) high.push(band(`overall drop Δ at s = ${p.sparsity}`, p.overallDrop, 0.005, 0.03));
    if (dataset === 'fashion' && p.sparsity >= 0.95 && p.sparsity <= 0.99) high.push(band(`overall drop Δ at s = ${p.sparsity}`, p.overallDrop, 0.01, 0.04));
  }
  return { low, high };
}

/**
 * Sampling noise of the difference of two accuracies `p1`, `p2` measured on `n` examples each:
 * `z·√((p1(1−p1) + p2(1−p2))/n)` (independent binomials; default z = 1.96, a 95% band). Two models
 * scored on the same test set are positively correlated, so this overstates the test-set noise a little; it
 * ignores training-seed noise.
 * @throws TrellisError `BAD_FRACTION` for an accuracy outside [0, 1], `EMPTY_GROUP` for n ≤ 0, `BAD_OPTION` for a z
 * that is not a finite number > 0.
 */
export function accuracyDiffNoise(p1: number, p2: number, n: number, z = 1.96): number {
  // a NaN or infinite z made every difference "within noise", a negative one every drop "worse"
  check(Number.isFinite(z) && z > 0, 'BAD_OPTION', () => `z ${String(z)} is not a finite number > 0`, 'pass the normal quantile of the band, e.g. 1.96 for 95% (the default) or 2.58 for 99%');
  for (const p of [p1, p2]) {
    check(p >= 0 && p <= 1, 'BAD_FRACTION', `accuracy ${p} is not a fraction in [0, 1]`, 'pass accuracies as fractions (0.85 for 85%)');
  }
  check(n > 0, 'EMPTY_GROUP', 'the noise of an accuracy difference needs at least one example', 'pass the number of test examples of the group');
  return z * Math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / n);
}

/** How a variant compares with a reference model on the same test set, group by group. */
export interface NoiseComparison {
  /** Overall accuracy, variant − reference (fraction). */
  accuracyDiff: number;
  /** {@link accuracyDiffNoise} of the overall accuracies. */
  accuracyNoise: number;
  /** Worst-group accuracy, variant − reference. */
  worstGroupDiff: number;
  /** Noise of the worst-group difference (on the smaller of the two worst groups' sizes). */
  worstGroupNoise: number;
  /** Groups whose accuracy is lower in the variant by more than their noise. */
  groupsWorse: number[];
}

/**
 * Compares a variant's accuracies with a reference's on one test set ("nothing gets worse by more than
 * noise", spec §7.4 mitigation at low sparsity). Accuracies are fractions; `groupCounts` are the test
 * examples of each group and `total` of the whole set (whole numbers).
 * @throws TrellisError `GROUP_COUNT_MISMATCH` when the two models and `groupCounts` have different numbers of
 * groups, `BAD_GROUPS` for no groups at all (the worst group is undefined) or a size that is not a whole
 * number, `EMPTY_GROUP` for a group or set of 0 examples, `BAD_FRACTION` for an accuracy outside [0, 1], `BAD_OPTION`
 * for a z that is not a finite number > 0.
 */
export function compareWithinNoise(reference: { overall: number; perGroup: readonly number[] }, variant: { overall: number; perGroup: readonly number[] },
  groupCounts: readonly number[], total: number, z = 1.96): NoiseComparison {
  check(reference.perGroup.length === variant.perGroup.length && variant.perGroup.length === groupCounts.length, 'GROUP_COUNT_MISMATCH',
    `${reference.perGroup.length} reference groups, ${variant.perGroup.length} variant groups and ${groupCounts.length} group sizes`, 'compare models evaluated on the same set and group design');
  // with no groups the worst group is undefined (this used to fail with "accuracy undefined is not a fraction")
  check(groupCounts.length >= 1, 'BAD_GROUPS', 'compareWithinNoise got no groups, so there is no worst group and no group to compare',
    'pass the per-group test accuracies of both models and the test examples of each group (one entry per group of the design, e.g. 10 for classes)');
  const sizeFix = 'pass the number of test examples of each group and of the whole set (e.g. groupReport(...).perGroup[a].count and .overall.count)';
  groupCounts.forEach((n, a) => check(Number.isInteger(n), 'BAD_GROUPS', () => `test-set size ${String(n)} of group ${a} is not a whole number`, sizeFix));
  check(Number.isInteger(total), 'BAD_GROUPS', () => `test-set size ${String(total)} is not a whole number`, sizeFix);
  const argmin = (xs: readonly number[]) => xs.reduce((best, x, i) => (x < xs[best]! ? i : best), 0);
  const wr = argmin(reference.perGroup);
  const wv = argmin(variant.perGroup);
  const groupsWorse: number[] = [];
  variant.perGroup.forEach((p, a) => {
    const q = reference.perGroup[a]!;
    if (q - p > accuracyDiffNoise(p, q, groupCounts[a]!, z)) groupsWorse.push(a);
  });
  return {
    accuracyDiff: variant.overall - reference.overall,
    accuracyNoise: accuracyDiffNoise(variant.overall, reference.overall, total, z),
    worstGroupDiff: variant.perGroup[wv]! - reference.perGroup[wr]!,
    worstGroupNoise: accuracyDiffNoise(variant.perGroup[wv]!, reference.perGroup[wr]!, Math.min(groupCounts[wv]!, groupCounts[wr]!), z),
    groupsWorse,
  };
}

/**
 * Does a disparity measure grow with sparsity? Spearman ρ between the sparsities and the values (1 when
 * the values rise with every step); NaN with fewer than two sparsities or constant values.
 */
export function sparsityTrend(sparsities: readonly number[], values: readonly number[]): number {
  return spearman(sparsities, values);
}
