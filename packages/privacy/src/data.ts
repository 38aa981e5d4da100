import { Dataset } from '@trellis-ml/core';
import { loadFashionMnist } from '@trellis-ml/datasets';

/**
 * Removes exact duplicate examples (same values, same label or not), keeping the first. A
 * membership audit needs it: a duplicated image could be a member and a non-member at once.
 */
export function dedupeExamples(dataset: Dataset): { dataset: Dataset; removed: number } {
  const per = dataset.exampleSize;
  const buckets = new Map<number, number[]>();
  const keep: number[] = [];
  for (let i = 0; i < dataset.size; i++) {
    let h = 0x811c9dc5;
    const off = i * per;
    for (let j = 0; j < per; j++) {
      h = Math.imul(h ^ Math.round(dataset.x[off + j]! * 255), 0x01000193) >>> 0;
    }
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
