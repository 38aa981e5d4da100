import { argmaxRows, check, checkClassLabels, softmaxRows64 } from '@trellis-ml/core';
import { rowSoftmax, topPairs, type ClassPair, type Matrix } from './similarity.js';

/**
 * Pure functions behind the reproduction's diagnostic figures (spec §10.4, figures 4 and 5): the
 * student's true-class probability against the §3.1 prediction `softmax(T·S'[y])`, the student's most
 * confused class pairs against the similarity matrix's top pairs, and cumulative cost series.
 *
 * @module
 */

/**
 * The true-class probability spec §3.1 predicts for a ReffAKD student at inference: the minimiser of the
 * KD term puts the logits at `T·S'[y]`, so the implied distribution is `softmax(T·S'[y])` and its
 * true-class entry `softmax(T·S'[y])[y]`. Returned as the mean over `labels` (each example counts once,
 * e.g. the test labels) or, without labels, the plain mean over the classes. `Sprime` is the boosted
 * similarity matrix `S + δI` (C × C); `T > 0`.
 */
export function impliedTrueClassProb(Sprime: Matrix, T: number, labels?: ArrayLike<number>): number {
  check(T > 0 && Number.isFinite(T), 'BAD_TEMPERATURE', `temperature ${T} must be positive`, 'pass T > 0 (the temperatures of the ReffAKD runs)');
  const C = Sprime.length;
  check(C > 0 && Sprime.every((r) => r.length === C), 'MATRIX_SIZE_MISMATCH', () => `S' must be square (C × C), got ${C} rows of lengths ${Sprime.map((r) => r.length).join(', ')}`,
    'pass the boosted C × C similarity matrix S + δI');
  // softmax(T·S') = softmax(S' / (1/T)) row-wise
  const implied = rowSoftmax(Sprime, 1 / T).map((row, c) => row[c]!);
  if (!labels) return implied.reduce((s, v) => s + v, 0) / C;
  check(labels.length > 0, 'EMPTY_DATASET', 'no labels to average the implied true-class probability over', 'pass the test labels, or no labels for the mean over classes');
  checkClassLabels(labels, C);
  let sum = 0;
  for (let i = 0; i < labels.length; i++) sum += implied[labels[i]!]!;
  return sum / labels.length;
}

/**
 * The mean probability a model gives the true class, `mean_i softmax(z_i)[y_i]`, from `n × C` row-major
 * logits (T = 1, the student at inference).
 */
export function meanTrueClassProb(logits: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): number {
  check(labels.length > 0 && logits.length === labels.length * numClasses, 'SHAPE_MISMATCH',
    `${logits.length} logits do not make ${labels.length} rows of ${numClasses} classes`, 'pass n × C row-major logits and n labels (n > 0)');
  checkClassLabels(labels, numClasses);
  const p = softmaxRows64(logits, numClasses);
  let sum = 0;
  for (let i = 0; i < labels.length; i++) sum += p[i * numClasses + labels[i]!]!;
  return sum / labels.length;
}

/** Confusion counts `M[true][predicted]` (C × C) of integer labels and predictions. */
export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>, numClasses: number): Matrix {
  check(labels.length === predictions.length, 'SHAPE_MISMATCH', `${labels.length} labels but ${predictions.length} predictions`, 'pass one prediction per label');
  checkClassLabels(labels, numClasses);
  checkClassLabels(predictions, numClasses, { label: 'prediction' });
  const M: Matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < labels.length; i++) M[labels[i]!]![predictions[i]!]! += 1;
  return M;
}

/** {@link confusionMatrix} of the argmax predictions of `n × C` row-major logits. */
export function confusionFromLogits(logits: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): Matrix {
  check(logits.length === labels.length * numClasses, 'SHAPE_MISMATCH', `${logits.length} logits do not make ${labels.length} rows of ${numClasses} classes`, 'pass n × C row-major logits');
  return confusionMatrix(labels, argmaxRows(logits, numClasses), numClasses);
}

/** Element-wise sum of equally sized matrices (e.g. the confusion matrices of several seeds). */
export function sumMatrices(matrices: readonly Matrix[]): Matrix {
  check(matrices.length > 0, 'EMPTY_DATASET', 'no matrices to add', 'pass at least one matrix');
  const [first] = matrices;
  matrices.forEach((M, k) => check(M.length === first!.length && M.every((row, a) => row.length === first![a]!.length), 'SHAPE_MISMATCH',
    () => `matrix ${k} is ${M.length} × ${M[0]?.length ?? 0}, matrix 0 is ${first!.length} × ${first![0]?.length ?? 0}`,
    'add matrices of the same size (e.g. confusion matrices of the same classes)'));
  return first!.map((row, a) => row.map((_, b) => matrices.reduce((s, M) => s + M[a]![b]!, 0)));
}

/** A class pair the model confuses, with the confusions in both directions. */
export interface ConfusedPair extends ClassPair {
  /** `M[a][b] + M[b][a]`: examples of either class predicted as the other. */
  count: number;
}

/**
 * The `k` most confused unordered class pairs of a confusion matrix (off-diagonal, both directions
 * added), most first; pairs with no confusion are left out, ties are broken by class index (as
 * {@link topPairs}). `value` is the mean of the two directions, `count` their sum.
 */
export function topConfusedPairs(confusion: Matrix, k = 5, classNames?: readonly string[]): ConfusedPair[] {
  const C = confusion.length;
  return topPairs(confusion, (C * (C - 1)) / 2, classNames)
    .map((p) => ({ ...p, count: confusion[p.a]![p.b]! + confusion[p.b]![p.a]! }))
    .filter((p) => p.count > 0)
    .slice(0, k);
}

/** How many unordered pairs of `a` are also in `b` (`{x, y}` equals `{y, x}`). */
export function pairOverlap(a: ReadonlyArray<Pick<ClassPair, 'a' | 'b'>>, b: ReadonlyArray<Pick<ClassPair, 'a' | 'b'>>): number {
  const key = (p: Pick<ClassPair, 'a' | 'b'>): string => `${Math.min(p.a, p.b)}-${Math.max(p.a, p.b)}`;
  const inB = new Set(b.map(key));
  return new Set(a.map(key).filter((k) => inB.has(k))).size;
}
