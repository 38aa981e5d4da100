import { Dataset, Rng, TrellisError, check } from '@trellis-ml/core';

/**
 * Group designs and group-id validation. A group id is an integer in `[0, numGroups)` carried by
 * core's `Dataset.groups` (one per example); batches then carry `batch.groups`.
 */

/** Throws `BAD_GROUP_COUNT` unless `numGroups` is a positive integer. */
function checkGroupCount(numGroups: number): void {
  check(Number.isInteger(numGroups) && numGroups >= 1, 'BAD_GROUP_COUNT', `numGroups ${numGroups} is not a positive integer`, 'pass the number of groups (e.g. 10 for classes as groups)');
}

/**
 * Checks that `dataset` has a valid group id for every example: ids present, integers in
 * `[0, numGroups)`. A negative id means "unknown" and is rejected like a missing one.
 * @throws TrellisError `GROUP_IDS_MISSING` when the dataset has no group ids or some are missing or negative,
 *   `GROUP_ID_OUT_OF_RANGE` when an id is ≥ numGroups.
 */
export function checkGroupIds(dataset: Dataset, numGroups: number, where = 'the dataset'): Int32Array {
  checkGroupCount(numGroups);
  const groups = dataset.groups;
  if (!groups) {
    throw new TrellisError('GROUP_IDS_MISSING', `${where} has no group ids`,
      'attach one group id per example with dataset.withGroups(ids) or a group design (classGroups, classSetGroups, transformedMinority)');
  }
  return checkGroupArray(groups, dataset.size, numGroups, where);
}

/**
 * Checks a raw group-id array against a dataset size: one id per example, each an integer in
 * `[0, numGroups)`. Returns the array.
 * @throws TrellisError `GROUP_IDS_MISSING` or `GROUP_ID_OUT_OF_RANGE`; `BAD_GROUP_COUNT` when numGroups is not a positive integer.
 */
export function checkGroupArray(groups: ArrayLike<number>, size: number, numGroups: number, where = 'the dataset'): Int32Array {
  checkGroupCount(numGroups);
  if (groups.length !== size) {
    throw new TrellisError('GROUP_IDS_MISSING', `${where} has ${groups.length} group ids for ${size} examples (${Math.max(0, size - groups.length)} examples have none)`,
      'give every example a group id (one id per example, in dataset order)', { ids: groups.length, examples: size });
  }
  const missing: number[] = [];
  let missingCount = 0;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (!Number.isInteger(g) || g < 0) {
      missingCount++;
      if (missing.length < 5) missing.push(i);
    } else if (g >= numGroups) {
      throw new TrellisError('GROUP_ID_OUT_OF_RANGE', `group id ${g} of example ${i} in ${where} is outside [0, ${numGroups})`,
        `remap group ids to 0..${numGroups - 1} or raise numGroups`, { index: i, group: g, numGroups });
    }
  }
  if (missingCount > 0) {
    throw new TrellisError('GROUP_IDS_MISSING', `${missingCount} examples of ${where} have no group id (negative or non-integer ids, first at indices ${missing.join(', ')})`,
      'give every example a group id in [0, numGroups), or drop the examples whose group is unknown', { count: missingCount, first: missing });
  }
  return groups instanceof Int32Array ? groups : Int32Array.from(groups);
}

/**
 * Number of examples of each group (length `numGroups`).
 * @throws TrellisError `GROUP_ID_OUT_OF_RANGE` or `GROUP_IDS_MISSING` for an id outside `[0, numGroups)` (they
 * were left out of the counts, so a mistyped id read as an empty group).
 */
export function groupCounts(groups: ArrayLike<number>, numGroups: number, where = 'the group ids'): number[] {
  const ids = checkGroupArray(groups, groups.length, numGroups, where);
  const counts = new Array<number>(numGroups).fill(0);
  for (const g of ids) counts[g] = counts[g]! + 1;
  return counts;
}

/**
 * Checks that every group has at least one example in an evaluation set (per-group accuracy of an
 * empty group is undefined).
 * @throws TrellisError `EMPTY_GROUP` naming the empty groups.
 */
export function checkNoEmptyGroup(groups: ArrayLike<number>, numGroups: number, where = 'the evaluation set'): number[] {
  const counts = groupCounts(groups, numGroups, where);
  const empty = counts.map((c, g) => (c === 0 ? g : -1)).filter((g) => g >= 0);
  if (empty.length > 0) {
    throw new TrellisError('EMPTY_GROUP', `group${empty.length > 1 ? 's' : ''} ${empty.join(', ')} ha${empty.length > 1 ? 've' : 's'} no samples in ${where}`,
      'evaluate on a set that contains every group (e.g. a stratified split), or merge/drop the empty group and lower numGroups', { empty, counts });
  }
  return counts;
}

/** G1: classes as groups. Returns a copy of `data` whose group id is the label. */
export function classGroups(data: Dataset): Dataset {
  check(data.labels, 'UNLABELED', 'classes-as-groups needs labels', 'use a labeled dataset');
  return data.withGroups(Int32Array.from(data.labels));
}

/**
 * Two groups by class: group 1 for the classes in `minorityClasses`, group 0 for the rest.
 * @throws TrellisError `LABEL_OUT_OF_RANGE` for a listed class outside the dataset's classes (it would leave group 1 silently empty).
 */
export function classSetGroups(data: Dataset, minorityClasses: readonly number[]): Dataset {
  check(data.labels, 'UNLABELED', 'class-set groups need labels', 'use a labeled dataset');
  for (const c of minorityClasses) {
    check(Number.isInteger(c) && c >= 0 && c < data.numClasses, 'LABEL_OUT_OF_RANGE', `minority class ${c} is outside the dataset's classes [0, ${data.numClasses})`,
      `list class ids 0..${data.numClasses - 1}`);
  }
  const set = new Set(minorityClasses);
  return data.withGroups(Int32Array.from(data.labels, (l) => (set.has(l) ? 1 : 0)));
}

/**
 * G2: keeps a seeded fraction of each class (`keepFraction[c]`, default 1), e.g. 10% of classes 5–9.
 * The kept examples stay in dataset order; groups, if any, are kept.
 */
export function imbalanceByClass(data: Dataset, keepFraction: Readonly<Record<number, number>>, seed: number): Dataset {
  check(data.labels, 'UNLABELED', 'imbalanceByClass needs labels', 'use a labeled dataset');
  for (const [c, f] of Object.entries(keepFraction)) {
    const cls = Number(c);
    check(Number.isInteger(cls) && cls >= 0 && cls < data.numClasses, 'LABEL_OUT_OF_RANGE', `keepFraction names class ${c}, outside the dataset's classes [0, ${data.numClasses})`,
      `key keepFraction by class ids 0..${data.numClasses - 1}`);
    check(f > 0 && f <= 1, 'BAD_FRACTION', `keep fraction ${f} of class ${c} is outside (0, 1]`, 'pass fractions such as 0.1');
  }
  const byClass: number[][] = Array.from({ length: data.numClasses }, () => []);
  data.labels.forEach((l, i) => byClass[l]!.push(i));
  const keep: number[] = [];
  byClass.forEach((idx, c) => {
    const f = keepFraction[c] ?? 1;
    if (f >= 1) {
      keep.push(...idx);
      return;
    }
    if (idx.length === 0) return; // a class the data lacks: nothing to thin (Rng.sample(0, 1) used to throw BAD_COUNT)
    const k = Math.max(1, Math.round(f * idx.length));
    const pick = Rng.derive(seed, 'imbalance', c).sample(idx.length, k);
    for (const j of pick) keep.push(idx[j]!);
  });
  keep.sort((a, b) => a - b);
  return data.subset(keep);
}

/** Rotates a square single-channel image 90° clockwise: `out[r][c] = in[side−1−c][r]`. */
export function rotate90(image: Float32Array): Float32Array {
  const side = Math.round(Math.sqrt(image.length));
  check(side * side === image.length, 'BAD_SHAPE', `an image of ${image.length} values is not square`, 'rotate square single-channel images (e.g. 28×28)');
  const out = new Float32Array(image.length);
  for (let r = 0; r < side; r++) for (let c = 0; c < side; c++) out[r * side + c] = image[(side - 1 - c) * side + r]!;
  return out;
}

/** Inverts an image with values in [0, 1]: `1 − x`. */
export function invert(image: Float32Array): Float32Array {
  return Float32Array.from(image, (v) => 1 - v);
}

/** A per-image transform naming the minority attribute. */
export type ImageTransform = 'rot90' | 'invert' | ((image: Float32Array) => Float32Array);

function transformFn(t: ImageTransform, size: number): (image: Float32Array) => Float32Array {
  const f = t === 'rot90' ? rotate90 : t === 'invert' ? invert : t;
  check(typeof f === 'function', 'BAD_OPTION', `unknown image transform ${JSON.stringify(t)}`, "pass 'rot90', 'invert' or a function (image: Float32Array) => Float32Array");
  return (image) => {
    const out = f(image);
    check(out && out.length === size, 'BAD_SHAPE', `the image transform returned ${out?.length} values for an image of ${size}`, 'return a transformed image of the same size as its input');
    return out;
  };
}

/**
 * G3: a transformed minority attribute that differs from the label. A seeded `fraction` of the
 * examples (uniform over the set) is transformed (default a 90° rotation) and gets group 1; the
 * rest get group 0. The task stays the label.
 */
export function transformedMinority(data: Dataset, options: { fraction: number; transform?: ImageTransform; seed: number }): Dataset {
  check(options.fraction > 0 && options.fraction < 1, 'BAD_FRACTION', `minority fraction ${options.fraction} is outside (0, 1)`, 'pass a fraction such as 0.05');
  const f = transformFn(options.transform ?? 'rot90', data.exampleSize);
  const n = data.size;
  const k = Math.max(1, Math.round(options.fraction * n));
  const pick = Rng.derive(options.seed, 'minority').sample(n, k);
  const x = Float32Array.from(data.x);
  const groups = new Int32Array(n);
  const per = data.exampleSize;
  for (const i of pick) {
    x.set(f(data.x.subarray(i * per, (i + 1) * per)), i * per);
    groups[i] = 1;
  }
  return Dataset.fromArrays({ x, shape: [...data.shape], labels: data.labels, numClasses: data.numClasses, groups });
}

/**
 * The G3 evaluation set: every example twice, once as is (group 0) and once transformed (group 1),
 * so both groups have the same size and tight confidence intervals.
 */
export function pairedTransformedSet(data: Dataset, transform: ImageTransform = 'rot90'): Dataset {
  check(data.labels, 'UNLABELED', 'the paired set needs labels', 'use a labeled dataset');
  const f = transformFn(transform, data.exampleSize);
  const n = data.size;
  const per = data.exampleSize;
  const x = new Float32Array(2 * n * per);
  x.set(data.x);
  for (let i = 0; i < n; i++) x.set(f(data.x.subarray(i * per, (i + 1) * per)), (n + i) * per);
  const labels = new Int32Array(2 * n);
  labels.set(data.labels);
  labels.set(data.labels, n);
  const groups = new Int32Array(2 * n);
  groups.fill(1, n);
  return Dataset.fromArrays({ x, shape: [...data.shape], labels, numClasses: data.numClasses, groups });
}
