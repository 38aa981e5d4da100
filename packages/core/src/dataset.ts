import * as tf from '@tensorflow/tfjs-core';
import { check, TrellisError } from './errors.js';
import { checkClassLabels } from './labels.js';
import { Rng } from './rng.js';
import { requireBackend } from './backend/useBackend.js';

/** Plain arrays a {@link Dataset} is built from: images (or features) flattened row-major. */
export interface LabeledArrays {
  /** `size × prod(shape)` values, row-major. */
  x: Float32Array;
  /** Shape of one example, e.g. `[28, 28, 1]` or `[784]`. */
  shape: number[];
  /** Integer class labels in [0, numClasses), or `null` for an unlabeled set. */
  labels: Int32Array | null;
  /** Number of classes. */
  numClasses: number;
  /** Optional integer group ids (one per example), for per-group metrics. */
  groups?: Int32Array | null;
}

/** One batch: tensors owned by the caller of {@link Dataset.batches} (dispose them, or let the Trainer do it). */
export interface Batch {
  /** Inputs `[b, ...shape]`. */
  x: tf.Tensor;
  /** Integer labels `[b]` (int32), absent for unlabeled data. */
  y?: tf.Tensor1D;
  /** Group ids `[b]` (int32), when the dataset has groups. */
  groups?: tf.Tensor1D;
  /** Indices of the batch's examples in the dataset. */
  indices: Int32Array;
  /** Number of examples. */
  size: number;
}

/** Options of {@link Dataset.batches}. */
export interface BatchOptions {
  /** Shuffle with this generator; unshuffled when absent. */
  rng?: Rng;
  /** Drop a final partial batch (default false). */
  dropRemainder?: boolean;
}

/**
 * Throws `BAD_BATCH_SIZE` unless `batchSize` is a positive integer (a loop stepping by 0 would never
 * end). {@link Dataset.batches} calls it; so should any loop that batches by hand.
 */
export function checkBatchSize(batchSize: number): void {
  check(Number.isInteger(batchSize) && batchSize > 0, 'BAD_BATCH_SIZE', () => `batch size ${String(batchSize)} is not a positive integer`, 'pass a batch size such as 128');
}

/** Label buffers a {@link Dataset} built for a batch, with the class count its labels were checked against. */
const checkedLabels = new WeakMap<object, number>();

/**
 * Whether `labels` are a batch's labels built by a {@link Dataset} (or a reshape or clone of them: the same buffer)
 * whose class ids were checked to lie in `[0, C)` for some `C ≤ numClasses` when it was built: such labels need no
 * host read to check them again. False for any other tensor (a hand-made batch, a plugin's new labels), which a
 * caller that must be sure reads and checks.
 *
 * @example labelsChecked(data.batchAt([0, 1]).y!, data.numClasses) // true
 */
export function labelsChecked(labels: tf.Tensor, numClasses: number): boolean {
  const k = checkedLabels.get(labels.dataId);
  return k !== undefined && k <= numClasses;
}

/**
 * A finite in-memory dataset: examples live in host memory as a Float32Array and become tensors one
 * batch at a time. Build it with {@link Dataset.fromArrays}; it validates labels and shapes up front.
 */
export class Dataset {
  /** Number of examples. */
  readonly size: number;
  /** Shape of one example. */
  readonly shape: readonly number[];
  /** Number of classes. */
  readonly numClasses: number;
  /** Values per example. */
  readonly exampleSize: number;
  readonly x: Float32Array;
  readonly labels: Int32Array | null;
  readonly groups: Int32Array | null;

  private constructor(a: LabeledArrays) {
    this.shape = [...a.shape];
    this.exampleSize = a.shape.reduce((p, d) => p * d, 1);
    this.size = this.exampleSize > 0 ? a.x.length / this.exampleSize : 0;
    this.numClasses = a.numClasses;
    this.x = a.x;
    this.labels = a.labels;
    this.groups = a.groups ?? null;
  }

  /** Builds and validates a dataset (labels in range, lengths consistent, non-empty, finite values). */
  static fromArrays(a: LabeledArrays): Dataset {
    check(a.shape.length > 0 && a.shape.every((d) => Number.isInteger(d) && d > 0), 'BAD_SHAPE',
      `example shape [${a.shape.join(', ')}] is not a list of positive integers`, 'pass the shape of one example, e.g. [28, 28, 1]');
    const per = a.shape.reduce((p, d) => p * d, 1);
    check(a.x.length > 0, 'EMPTY_DATASET', 'the dataset has no examples', 'check the file or filter that produced it; a dataset needs at least one example');
    check(a.x.length % per === 0, 'BAD_SHAPE',
      `${a.x.length} values do not divide into examples of shape [${a.shape.join(', ')}] (${per} values each)`,
      'pass the example shape that matches the data');
    const n = a.x.length / per;
    check(Number.isInteger(a.numClasses) && a.numClasses >= 1, 'BAD_CLASSES', `numClasses ${a.numClasses} is not a positive integer`, 'pass the number of classes');
    if (a.labels) {
      check(a.labels.length === n, 'LABEL_COUNT', `${a.labels.length} labels for ${n} examples`, 'give exactly one label per example');
      checkClassLabels(a.labels, a.numClasses, { fix: `labels must be integers 0..${a.numClasses - 1}: remap them or raise numClasses` });
    }
    if (a.groups) check(a.groups.length === n, 'GROUP_COUNT', `${a.groups.length} group ids for ${n} examples`, 'give exactly one group id per example (every example needs a group)');
    for (let i = 0; i < a.x.length; i++) {
      if (!Number.isFinite(a.x[i]!)) {
        throw new TrellisError('NON_FINITE_INPUT', `input value ${a.x[i]} at example ${Math.floor(i / per)} is not finite`, 'clean or impute the data before training');
      }
    }
    return new Dataset(a);
  }

  /** The label of example `i` (throws on an unlabeled set). */
  label(i: number): number {
    check(this.labels, 'UNLABELED', 'this dataset has no labels', 'use a labeled dataset for this operation');
    return this.labels[i]!;
  }

  /** A new dataset of the examples at `indices` (copies). */
  subset(indices: ArrayLike<number>): Dataset {
    const per = this.exampleSize;
    const x = new Float32Array(indices.length * per);
    const labels = this.labels ? new Int32Array(indices.length) : null;
    const groups = this.groups ? new Int32Array(indices.length) : null;
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k]!;
      check(Number.isInteger(i) && i >= 0 && i < this.size, 'INDEX_OUT_OF_RANGE', () => `index ${i} is not a whole number in [0, ${this.size})`, 'pass indices of existing examples');
      x.set(this.x.subarray(i * per, (i + 1) * per), k * per);
      if (labels) labels[k] = this.labels![i]!;
      if (groups) groups[k] = this.groups![i]!;
    }
    return new Dataset({ x, shape: [...this.shape], labels, numClasses: this.numClasses, groups });
  }

  /** The first `n` examples (or all, when fewer). */
  take(n: number): Dataset {
    check(Number.isInteger(n) && n >= 0, 'BAD_COUNT', () => `take(${String(n)}): the count is not a whole number ≥ 0`, 'pass how many examples to keep, e.g. take(1000)');
    return this.subset(range(Math.min(n, this.size)));
  }

  /**
   * A seeded random split into two datasets of `round(fraction × size)` and the rest examples.
   * @throws TrellisError `BAD_FRACTION` for a fraction outside (0, 1), or one that leaves a side empty
   * (e.g. 0.01 of 10 examples).
   */
  split(fraction: number, seed: number): [Dataset, Dataset] {
    check(fraction > 0 && fraction < 1, 'BAD_FRACTION', `split fraction ${fraction} is outside (0, 1)`, 'pass a fraction such as 0.8');
    const perm = new Rng(seed).permutation(this.size);
    const k = Math.round(fraction * this.size);
    check(k > 0 && k < this.size, 'BAD_FRACTION', () => `split fraction ${fraction} of ${this.size} examples leaves one side empty (${k} and ${this.size - k} examples)`,
      this.size < 2 ? 'split a dataset of at least 2 examples' : `pass a fraction that keeps an example on each side: for ${this.size} examples, from 1/${this.size} to ${this.size - 1}/${this.size}`);
    return [this.subset(perm.subarray(0, k)), this.subset(perm.subarray(k))];
  }

  /** A copy with new inputs (same labels/groups), e.g. a shifted or corrupted version. */
  withInputs(x: Float32Array, shape: number[] = [...this.shape]): Dataset {
    return Dataset.fromArrays({ x, shape, labels: this.labels, numClasses: this.numClasses, groups: this.groups });
  }

  /** A copy with new group ids. */
  withGroups(groups: Int32Array): Dataset {
    return Dataset.fromArrays({ x: this.x, shape: [...this.shape], labels: this.labels, numClasses: this.numClasses, groups });
  }

  /** A copy without labels (for unlabeled adaptation: proves no target label is used). */
  withoutLabels(): Dataset {
    return new Dataset({ x: this.x, shape: [...this.shape], labels: null, numClasses: this.numClasses, groups: this.groups });
  }

  /** A copy whose examples have a new shape with the same number of values (e.g. [784] ↔ [28, 28, 1]). */
  reshape(shape: number[]): Dataset {
    // [-1, -8] or [0.5, 16] multiply to 8 too, and failed only when a batch became a tensor
    check(shape.length > 0 && shape.every((d) => Number.isInteger(d) && d > 0), 'BAD_SHAPE',
      () => `cannot reshape examples to [${shape.join(', ')}], which is not a list of positive integers`, `pass the shape of one example, e.g. [${this.exampleSize}]`);
    const per = shape.reduce((p, d) => p * d, 1);
    check(per === this.exampleSize, 'BAD_SHAPE', `cannot reshape examples of ${this.exampleSize} values to [${shape.join(', ')}]`, 'pass a shape with the same number of values');
    return new Dataset({ x: this.x, shape, labels: this.labels, numClasses: this.numClasses, groups: this.groups });
  }

  /** The number of batches {@link Dataset.batches} yields. */
  numBatches(batchSize: number, dropRemainder = false): number {
    checkBatchSize(batchSize);
    return dropRemainder ? Math.floor(this.size / batchSize) : Math.ceil(this.size / batchSize);
  }

  /**
   * The one batch iterator of Trellis: yields batches of `batchSize` in dataset order, or shuffled
   * by `rng`. Each yielded batch owns new tensors.
   */
  *batches(batchSize: number, options: BatchOptions = {}): Generator<Batch> {
    checkBatchSize(batchSize);
    const order = options.rng ? options.rng.permutation(this.size) : Int32Array.from(range(this.size));
    const count = this.numBatches(batchSize, options.dropRemainder);
    for (let b = 0; b < count; b++) {
      const idx = order.subarray(b * batchSize, Math.min((b + 1) * batchSize, this.size));
      yield this.batchAt(idx);
    }
  }

  /**
   * Materialises the examples at `indices` as one batch.
   * @throws TrellisError `INDEX_OUT_OF_RANGE` for an index outside [0, size).
   */
  batchAt(indices: Int32Array): Batch {
    requireBackend('Dataset.batchAt()');
    const per = this.exampleSize;
    const n = indices.length;
    // an index past the end read as an example of zeros with label 0
    for (let k = 0; k < n; k++) {
      const i = indices[k]!;
      if (!(Number.isInteger(i) && i >= 0 && i < this.size)) {
        throw new TrellisError('INDEX_OUT_OF_RANGE', `batchAt: index ${i} (entry ${k}) is not a whole number in [0, ${this.size})`, 'pass indices of existing examples');
      }
    }
    const x = new Float32Array(n * per);
    let contiguous = true;
    for (let k = 1; k < n && contiguous; k++) contiguous = indices[k] === indices[k - 1]! + 1;
    if (contiguous && n > 0) x.set(this.x.subarray(indices[0]! * per, (indices[0]! + n) * per));
    else for (let k = 0; k < n; k++) x.set(this.x.subarray(indices[k]! * per, (indices[k]! + 1) * per), k * per);
    const batch: Batch = { x: tf.tensor(x, [n, ...this.shape], 'float32'), indices: Int32Array.from(indices), size: n };
    if (this.labels) {
      const y = new Int32Array(n);
      for (let k = 0; k < n; k++) y[k] = this.labels[indices[k]!]!;
      batch.y = tf.tensor1d(y, 'int32');
      checkedLabels.set(batch.y.dataId, this.numClasses);
    }
    if (this.groups) {
      const g = new Int32Array(n);
      for (let k = 0; k < n; k++) g[k] = this.groups[indices[k]!]!;
      batch.groups = tf.tensor1d(g, 'int32');
    }
    return batch;
  }

  /** Counts of each label (length numClasses). */
  classCounts(): number[] {
    const counts = new Array<number>(this.numClasses).fill(0);
    if (this.labels) for (const l of this.labels) counts[l] = counts[l]! + 1;
    return counts;
  }
}

/** Disposes the tensors of a batch. */
export function disposeBatch(batch: Batch): void {
  batch.x.dispose();
  batch.y?.dispose();
  batch.groups?.dispose();
}

/** [0, 1, ..., n-1] as an Int32Array. */
export function range(n: number): Int32Array {
  const r = new Int32Array(n);
  for (let i = 0; i < n; i++) r[i] = i;
  return r;
}
