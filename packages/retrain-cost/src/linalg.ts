/** Small dense linear algebra on host arrays (symmetric eigendecomposition and friends) for the baselines. */
import { check } from '@trellis-ml/core';

/**
 * Eigendecomposition of a symmetric `d × d` matrix (row-major) by cyclic Jacobi rotations.
 * @throws TrellisError `BAD_SHAPE` unless `a` holds `d × d` values, `NON_FINITE_VALUES` for a NaN/±Infinity entry
 * (a NaN used to come out as a NaN eigenvalue next to finite ones).
 */
export function symmetricEigen(a: ArrayLike<number>, d: number, o: { maxSweeps?: number; tol?: number } = {}): { values: Float64Array; vectors: Float64Array } {
  check(Number.isInteger(d) && d >= 1 && a.length === d * d, 'BAD_SHAPE', () => `an eigendecomposition of ${a.length} values as a ${d} × ${d} matrix`, 'pass a d × d row-major symmetric matrix and its d');
  for (let i = 0; i < a.length; i++) {
    check(Number.isFinite(a[i]), 'NON_FINITE_VALUES', () => `an eigendecomposition of a matrix with ${String(a[i])} at row ${Math.floor(i / d)}, column ${i % d}`,
      'pass a finite matrix (check the features it was computed from for NaN/Inf or overflow)');
  }
  const m = Float64Array.from(a as ArrayLike<number>);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  const maxSweeps = o.maxSweeps ?? 60;
  let scale = 0;
  for (let i = 0; i < d * d; i++) scale += m[i]! * m[i]!;
  const tol = (o.tol ?? 1e-22) * Math.max(scale, 1e-300);
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += m[p * d + q]! ** 2;
    if (off <= tol) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = m[p * d + q]!;
        if (apq === 0) continue;
        const app = m[p * d + p]!;
        const aqq = m[q * d + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const mkp = m[k * d + p]!;
          const mkq = m[k * d + q]!;
          m[k * d + p] = c * mkp - s * mkq;
          m[k * d + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < d; k++) {
          const mpk = m[p * d + k]!;
          const mqk = m[q * d + k]!;
          m[p * d + k] = c * mpk - s * mqk;
          m[q * d + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p]!;
          const vkq = v[k * d + q]!;
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(d);
  for (let i = 0; i < d; i++) values[i] = m[i * d + i]!;
  return { values, vectors: v };
}

/** `f(A)` for symmetric A via its eigendecomposition: `V diag(f(λ)) Vᵀ`. */
export function symmetricFunction(a: ArrayLike<number>, d: number, f: (lambda: number) => number): Float64Array {
  const { values, vectors } = symmetricEigen(a, d);
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const fl = f(values[k]!);
    if (fl === 0) continue;
    for (let i = 0; i < d; i++) {
      const vik = vectors[i * d + k]! * fl;
      for (let j = 0; j < d; j++) out[i * d + j] = out[i * d + j]! + vik * vectors[j * d + k]!;
    }
  }
  return out;
}

/** `A B` for square `d × d` matrices. */
export function matmul(a: ArrayLike<number>, b: ArrayLike<number>, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) {
    const aik = a[i * d + k]!;
    if (aik === 0) continue;
    for (let j = 0; j < d; j++) out[i * d + j] = out[i * d + j]! + aik * b[k * d + j]!;
  }
  return out;
}

/** Column means and the (population, 1/n) covariance of `n × d` rows. */
export function meanCov(x: ArrayLike<number>, n: number, d: number, rows?: ArrayLike<number>): { mean: Float64Array; cov: Float64Array } {
  const idx = rows ?? Array.from({ length: n }, (_, i) => i);
  const m = idx.length;
  const mean = new Float64Array(d);
  for (let r = 0; r < m; r++) {
    const i = idx[r]!;
    for (let t = 0; t < d; t++) mean[t] = mean[t]! + x[i * d + t]!;
  }
  for (let t = 0; t < d; t++) mean[t] = mean[t]! / Math.max(1, m);
  const cov = new Float64Array(d * d);
  const c = new Float64Array(d);
  for (let r = 0; r < m; r++) {
    const i = idx[r]!;
    for (let t = 0; t < d; t++) c[t] = x[i * d + t]! - mean[t]!;
    for (let a = 0; a < d; a++) {
      const ca = c[a]!;
      if (ca === 0) continue;
      for (let b = a; b < d; b++) cov[a * d + b] = cov[a * d + b]! + ca * c[b]!;
    }
  }
  for (let a = 0; a < d; a++) for (let b = a; b < d; b++) {
    const v = cov[a * d + b]! / Math.max(1, m);
    cov[a * d + b] = v;
    cov[b * d + a] = v;
  }
  return { mean, cov };
}
