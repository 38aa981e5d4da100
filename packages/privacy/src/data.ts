import { Dataset, TrellisError } from '@trellis-ml/core';
import { loadFashionMnist } from '@trellis-ml/datasets';

/** FNV-1a hash of one example's values quantised to 1/255 (equal examples hash equally; collisions are checked exactly by the callers). */
export function exampleHash(x: Float32Array, offset: number, size: number): number {
  let h = 0x811c9dc5;
  for (let j = 0; j < size; j++) h = Math.imul(h ^ Math.round(x[offset + j]! * 255), 0x01000193) >>> 0;
  return h;
}

/**
 * Removes exact duplicate examples (same values, same label or not), keeping the first. A
 * membership audit needs it: a duplicated image could be a member and a non-member at once.
 */
export function dedupeExamples(dataset: Dataset): { dataset: Dataset; removed: number } {
  const per = dataset.exampleSize;
  const buckets = new Map<number, number[]>();
  const keep: number[] = [];
  for (let i = 0; i < dataset.size; i++) {
    const off = i * per;
    const h = exampleHash(dataset.x, off, per);
    const same = buckets.get(h);
    let dup = false;
    if (same) {
      for (const k of same) {
        let eq = true;
        for (let j = 0; j < per && eq; j++) eq = dataset.x[k * per + j] === dataset.x[off + j];
        if (eq) {
          dup = true;
          break;
        }
      }
      if (!dup) same.push(i);
    } else buckets.set(h, [i]);
    if (!dup) keep.push(i);
  }
  return { dataset: keep.length === dataset.size ? dataset : dataset.subset(keep), removed: dataset.size - keep.length };
}

/**
 * Throws `MEMBERS_OVERLAP` when an example of `nonMembers` has exactly the values of an example of
 * `members` (a duplicated image on both sides of the audit: the "non-member" was in effect trained
 * on), and `SHAPE_MISMATCH` when the two datasets' examples differ in shape. Index-level checks
 * (`checkDisjoint`) cannot see this; deduplicate the pool first ({@link dedupeExamples}).
 */
export function checkNoSharedExamples(members: Dataset, nonMembers: Dataset): void {
  const per = members.exampleSize;
  if (nonMembers.exampleSize !== per) {
    throw new TrellisError('SHAPE_MISMATCH', `members have ${per} values per example, non-members ${nonMembers.exampleSize}`, 'pass members and non-members drawn from the same pool');
  }
  const buckets = new Map<number, number[]>();
  for (let i = 0; i < members.size; i++) {
    const h = exampleHash(members.x, i * per, per);
    const b = buckets.get(h);
    if (b) b.push(i);
    else buckets.set(h, [i]);
  }
  const shared: Array<[number, number]> = [];
  for (let k = 0; k < nonMembers.size; k++) {
    const off = k * per;
    for (const i of buckets.get(exampleHash(nonMembers.x, off, per)) ?? []) {
      let eq = true;
      for (let j = 0; j < per && eq; j++) eq = members.x[i * per + j] === nonMembers.x[off + j];
      if (eq) {
        shared.push([i, k]);
        break;
      }
    }
  }
  if (shared.length > 0) {
    throw new TrellisError('MEMBERS_OVERLAP',
      `${shared.length} non-member example(s) are identical to a member example (first: non-member ${shared[0]![1]} = member ${shared[0]![0]})`,
      'deduplicate the pool before splitting it (dedupeExamples, or fashionMnistPool which does it): a duplicated image cannot be both trained on and held out',
      { count: shared.length, pairs: shared.slice(0, 20).map(([m, n]) => ({ member: m, nonMember: n })) });
  }
}

/**
 * The whole labelled Fashion-MNIST pool (training and test splits of `@trellis-ml/datasets`
 * together, as the CRL protocol pools all labelled data), flattened to `[784]` and deduplicated.
 */
export function fashionMnistPool(): { dataset: Dataset; removed: number } {
  const train = loadFashionMnist({ split: 'train', flatten: true });
  const test = loadFashionMnist({ split: 'test', flatten: true });
  const x = new Float32Array(train.x.length + test.x.length);
  x.set(train.x);
  x.set(test.x, train.x.length);
  const labels = new Int32Array(train.size + test.size);
  labels.set(train.labels!);
  labels.set(test.labels!, train.size);
  return dedupeExamples(Dataset.fromArrays({ x, shape: [784], labels, numClasses: 10 }));
}
