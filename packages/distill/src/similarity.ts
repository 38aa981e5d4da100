import { Rng, TrellisError, check, checkClassLabels } from '@trellis-ml/core';

/** The clamp of each code's norm in the cosine (PyTorch's `cosine_similarity` eps). */
const COSINE_EPS = 1e-8;

/** A dense row-major matrix as nested arrays (`m[row][col]`). */
export type Matrix = number[][];

function checkCodes(codes: ArrayLike<number>, dim: number, classes: ArrayLike<number>, numClasses: number): number {
  check(Number.isInteger(dim) && dim > 0, 'BAD_OPTION', `code size ${dim} is not a positive integer`, 'pass the length of one code vector');
  check(Number.isInteger(numClasses) && numClasses >= 1, 'BAD_CLASSES', `numClasses ${numClasses} is not a positive integer`, 'pass the number of classes of the task');
  check(codes.length % dim === 0, 'BAD_SHAPE', `${codes.length} code values do not divide into codes of ${dim}`, 'pass `n × dim` values, row-major');
  const n = codes.length / dim;
  check(classes.length === n, 'LABEL_COUNT', `${classes.length} class ids for ${n} codes`, 'give one class id per code');
  checkClassLabels(classes, numClasses, { label: 'class id', item: 'code' });
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < n; i++) counts[classes[i]!]!++;
  for (let i = 0; i < codes.length; i++) {
    if (!Number.isFinite(codes[i]!)) {
      throw new TrellisError('NON_FINITE_INPUT', `code value ${codes[i]} of code ${Math.floor(i / dim)} (class ${classes[Math.floor(i / dim)]}) is not finite`,
        'encode finite inputs with a finite encoder: check the data and the autoencoder\'s training (a diverged AE gives NaN codes)', { index: Math.floor(i / dim) });
    }
  }
  counts.forEach((k, c) => check(k >= 2, 'TOO_FEW_SAMPLES', `class ${c} has ${k} code(s); a mean within-class similarity needs at least 2`,
    'sample at least 2 examples of every class (the default is 40 per class)'));
  return n;
}

/**
 * The class-similarity matrix `S` of ReffAKD (§2.3), vectorised and exact: `S[a][b]` is the mean
 * cosine similarity over all pairs of codes of classes `a` and `b`, self-pairs excluded on the
 * diagonal. With unit-normalised codes `ê`, the block sums are `(Σ_{i∈a} ê_i)·(Σ_{j∈b} ê_j)`; the
 * diagonal subtracts each code's self-similarity (1, or 0 for an all-zero code) and divides by
 * `K(K−1)`. Cosine is `⟨e_i,e_j⟩ / (max(‖e_i‖, 1e-8)·max(‖e_j‖, 1e-8))`, each norm clamped on its own
(PyTorch's `cosine_similarity` since 1.12); a zero code has similarity 0 with everything. The spec's
`max(‖e_i‖‖e_j‖, 1e-8)` clamps the product instead, which shrinks the cosines of codes shorter than
about 1e-4 towards 0; for codes of ordinary length the two are the same.
 *
 * @param codes `n × dim` codes, row-major (e.g. post-ReLU encoder outputs).
 * @param classes the class of each code.
 */
export function classSimilarityMatrix(codes: ArrayLike<number>, dim: number, classes: ArrayLike<number>, numClasses: number): Matrix {
  const n = checkCodes(codes, dim, classes, numClasses);
  const sums = Array.from({ length: numClasses }, () => new Float64Array(dim));
  const self = new Float64Array(numClasses);
  const counts = new Float64Array(numClasses);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += codes[i * dim + d]! ** 2;
    norm = Math.sqrt(norm);
    const c = classes[i]!;
    counts[c]!++;
    const scale = Math.max(norm, COSINE_EPS);
    self[c]! += (norm / scale) ** 2; // 1, or less for a code shorter than the clamp (0 for a zero code)
    const s = sums[c]!;
    for (let d = 0; d < dim; d++) s[d]! += codes[i * dim + d]! / scale;
  }
  const S: Matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let a = 0; a < numClasses; a++) {
    for (let b = a; b < numClasses; b++) {
      let dot = 0;
      const sa = sums[a]!;
      const sb = sums[b]!;
      for (let d = 0; d < dim; d++) dot += sa[d]! * sb[d]!;
      if (a === b) S[a]![a] = (dot - self[a]!) / (counts[a]! * (counts[a]! - 1));
      else S[a]![b] = S[b]![a] = dot / (counts[a]! * counts[b]!);
    }
  }
  return S;
}

/**
 * The brute-force loop of the ReffAKD notebooks (§2.3): every unordered pair of distinct codes adds
 * its cosine to `(a,b)` and `(b,a)` (or once to `(a,a)`), then each cell is averaged. O(n²·dim);
 * the reference {@link classSimilarityMatrix} is checked against.
 */
export function classSimilarityMatrixLoop(codes: ArrayLike<number>, dim: number, classes: ArrayLike<number>, numClasses: number): Matrix {
  const n = checkCodes(codes, dim, classes, numClasses);
  const sum: Matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  const cnt: Matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += codes[i * dim + d]! ** 2;
    norms[i] = Math.sqrt(s);
  }
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += codes[i * dim + d]! * codes[j * dim + d]!;
      const cos = dot / (Math.max(norms[i]!, COSINE_EPS) * Math.max(norms[j]!, COSINE_EPS));
      const a = classes[i]!;
      const b = classes[j]!;
      sum[a]![b]! += cos;
      cnt[a]![b]!++;
      if (a !== b) {
        sum[b]![a]! += cos;
        cnt[b]![a]!++;
      }
    }
  }
  return sum.map((row, a) => row.map((v, b) => v / cnt[a]![b]!));
}

/**
 * Throws `MATRIX_SIZE_MISMATCH` unless `M` has at least one row and every row has `M.length` entries
 * (`square`), or the same number of entries as the first (otherwise).
 */
function checkMatrixShape(M: Matrix, what: string, square: boolean): void {
  check(Array.isArray(M) && M.length >= 1, 'MATRIX_SIZE_MISMATCH', () => `${what}: the matrix has no rows`, 'pass a C × C class matrix (one row per class)');
  const cols = square ? M.length : M[0]?.length ?? 0;
  const bad = M.findIndex((r) => !Array.isArray(r) || r.length !== cols || cols === 0);
  check(bad < 0, 'MATRIX_SIZE_MISMATCH', () => `${what}: row ${bad} has ${M[bad]?.length ?? 'no'} entries, not ${cols}${square ? ` (the matrix has ${M.length} rows)` : ''}`,
    square ? 'pass a C × C class matrix (one row and one column per class)' : 'pass a matrix whose rows all have the same length');
}

/**
 * The `'auto'` diagonal boost (§2.3, our reconstruction): `δ = max(0, max_{a≠b}(S[a][b] − S[a][a])) + margin`,
 * the smallest boost that makes every row's argmax its diagonal, plus a margin (default 0.002).
 */
export function autoDiagBoost(S: Matrix, margin = 0.002): number {
  checkMatrixShape(S, 'autoDiagBoost', true);
  check(Number.isFinite(margin) && margin >= 0, 'BAD_OPTION', () => `diagonal-boost margin ${String(margin)} is not a number ≥ 0`, 'pass a margin such as 0.002 (the default)');
  let worst = 0;
  S.forEach((row, a) => row.forEach((v, b) => {
    if (a !== b) worst = Math.max(worst, v - row[a]!);
  }));
  return worst + margin;
}

/** `S + δ·I` (a copy). */
export function boostDiagonal(S: Matrix, delta: number): Matrix {
  checkMatrixShape(S, 'boostDiagonal', true);
  check(Number.isFinite(delta), 'BAD_OPTION', () => `diagonal boost ${String(delta)} is not a finite number`, "pass a boost such as 0.01, or diagBoost: 'auto' to the generator");
  return S.map((row, a) => row.map((v, b) => (a === b ? v + delta : v)));
}

/** Row-wise softmax of `M / temperature` (a copy; numerically stable). */
export function rowSoftmax(M: Matrix, temperature = 1): Matrix {
  check(temperature > 0 && Number.isFinite(temperature), 'BAD_TEMPERATURE', `row temperature ${temperature} must be positive`, 'pass a temperature > 0 (the paper uses 1)');
  checkMatrixShape(M, 'rowSoftmax', false);
  // −Infinity (a log of 0) is a valid logit as long as the row has a finite one; NaN and +Infinity are not
  M.forEach((row, a) => row.forEach((v, b) => {
    if (Number.isNaN(v) || v === Infinity || (b === 0 && row.length > 0 && row.every((u) => u === -Infinity))) {
      throw new TrellisError('NON_FINITE_INPUT', `entry [${a}][${b}] of the matrix is ${v}; a row-wise softmax needs finite logits / similarities`,
        'pass a finite matrix (a NaN similarity usually comes from NaN codes or a NaN diagonal boost)', { row: a, col: b });
    }
  }));
  return M.map((row) => {
    const z = row.map((v) => v / temperature);
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((p, v) => p + v, 0);
    return e.map((v) => v / s);
  });
}

/** How many rows of `M` have their largest entry on the diagonal (ties count as not). */
export function diagArgmaxCount(M: Matrix): number {
  checkMatrixShape(M, 'diagArgmaxCount', true);
  return M.filter((row, a) => row.every((v, b) => b === a || v < row[a]!)).length;
}

/** One off-diagonal class pair and its similarity. */
export interface ClassPair {
  a: number;
  b: number;
  value: number;
  /** `"nameA↔nameB"` when class names were given. */
  label: string;
}

/** The `k` most similar unordered class pairs of a symmetric matrix (off-diagonal), largest first. */
export function topPairs(S: Matrix, k = 5, classNames?: readonly string[]): ClassPair[] {
  checkMatrixShape(S, 'topPairs', true);
  check(Number.isInteger(k) && k >= 1, 'BAD_OPTION', () => `topPairs k ${String(k)} is not a whole number ≥ 1`, 'pass how many pairs to list, e.g. 5');
  const pairs: ClassPair[] = [];
  for (let a = 0; a < S.length; a++) {
    for (let b = a + 1; b < S.length; b++) {
      const value = (S[a]![b]! + S[b]![a]!) / 2;
      pairs.push({ a, b, value, label: `${classNames?.[a] ?? a}↔${classNames?.[b] ?? b}` });
    }
  }
  return pairs.sort((x, y) => y.value - x.value || x.a - y.a || x.b - y.b).slice(0, k);
}

/**
 * Checks a soft-label matrix: `C × C` (when `numClasses` is given), finite, non-negative, every row
 * summing to 1 within `tolerance` (default 1e-4). Throws `MATRIX_SIZE_MISMATCH`,
 * `SOFT_LABELS_NOT_NORMALIZED` or `BAD_SOFT_LABELS` otherwise.
 */
export function validateSoftLabelMatrix(P: Matrix, numClasses?: number, tolerance = 1e-4): void {
  const C = numClasses ?? P.length;
  const rows = P.length;
  const wrongRow = P.findIndex((r) => !Array.isArray(r) || r.length !== C);
  if (rows !== C || wrongRow >= 0) {
    throw new TrellisError('MATRIX_SIZE_MISMATCH',
      `the soft-label / similarity matrix is ${rows} × ${wrongRow >= 0 ? (P[wrongRow]?.length ?? '?') : C}${wrongRow >= 0 ? ` (row ${wrongRow})` : ''}, but the task has ${C} classes`,
      `pass a ${C} × ${C} matrix: one row per class, one column per class`, { rows, numClasses: C });
  }
  P.forEach((row, a) => {
    row.forEach((v, b) => {
      if (!Number.isFinite(v) || v < 0) {
        throw new TrellisError('BAD_SOFT_LABELS', `soft label [${a}][${b}] is ${v}; soft labels must be finite probabilities ≥ 0`,
          'pass probabilities (e.g. the row-wise softmax of a similarity matrix: matrixGenerator(S, { isLogits: true }))', { row: a, col: b });
      }
    });
    const sum = row.reduce((p, v) => p + v, 0);
    if (Math.abs(sum - 1) > tolerance) {
      throw new TrellisError('SOFT_LABELS_NOT_NORMALIZED', `soft-label row ${a} sums to ${sum.toFixed(6)}, not 1 (tolerance ${tolerance})`,
        'normalise each row to sum to 1, or pass logits / similarities with { isLogits: true } so a row-wise softmax is applied', { row: a, sum });
    }
  });
}

/**
 * The shuffled-matrix control: permutes each row's off-diagonal entries (seeded), keeping the
 * diagonal and the row sums. Same smoothing strength, no class structure.
 */
export function shuffleOffDiagonal(P: Matrix, rng: Rng): Matrix {
  checkMatrixShape(P, 'shuffleOffDiagonal', true);
  return P.map((row, a) => {
    const off = row.filter((_, b) => b !== a);
    rng.shuffle(off);
    let k = 0;
    return row.map((v, b) => (b === a ? v : off[k++]!));
  });
}

/**
 * Picks `perClass` distinct example indices of every class (seeded), in class order. A class with
 * fewer examples contributes all of them, and a warning names it.
 */
export function samplePerClass(labels: ArrayLike<number>, numClasses: number, perClass: number, rng: Rng): { indices: Int32Array; warnings: string[] } {
  check(Number.isInteger(perClass) && perClass >= 2, 'BAD_OPTION', `samplesPerClass ${perClass} must be an integer ≥ 2`, 'pass e.g. 40 (the paper)');
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]!]?.push(i);
  const out: number[] = [];
  const warnings: string[] = [];
  byClass.forEach((idx, c) => {
    if (idx.length < perClass) {
      warnings.push(`class ${c} has only ${idx.length} examples (< samplesPerClass ${perClass}); using all of them`);
      out.push(...idx);
    } else {
      const pick = rng.sample(idx.length, perClass);
      for (const p of pick) out.push(idx[p]!);
    }
  });
  return { indices: Int32Array.from(out), warnings };
}
