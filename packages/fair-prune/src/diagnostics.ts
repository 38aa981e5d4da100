import * as tf from '@tensorflow/tfjs-core';
import { Rng, check, checkChoice, checkClassLabels, disposeBatch, predictLogits, softmaxRows, type Batch, type Dataset, type ModelAdapter } from '@trellis-ml/core';
import { checkGroupIds, checkNoEmptyGroup, groupCounts } from './groups.js';
import { perSampleCrossEntropy } from './groupLoss.js';
import { checkLogitRows, perExampleLoss } from './groupMetrics.js';

/**
 * The per-group indicators of the theory (spec §4): group gradient norm `‖∇J(θ; D_a)‖`, the mean
 * residual `‖p − e_y‖`, the top Hessian eigenvalue `λ_max(H_a)` (power iteration on Hessian-vector
 * products), distance to the decision boundary (probability space `1 − Σp²`, probability margin,
 * and optionally a first-order input-space distance), and the Taylor estimate of the excess loss.
 */

type Vars = Array<[string, tf.Variable]>;

function varList(model: ModelAdapter): Vars {
  return Object.entries(model.trainableVariables());
}

/** The model's trainable parameters as one flat vector (variable order). */
export function flatParameters(model: ModelAdapter): Float64Array {
  const vars = varList(model);
  const out = new Float64Array(vars.reduce((s, [, v]) => s + v.size, 0));
  let o = 0;
  for (const [, v] of vars) {
    out.set(v.dataSync() as Float32Array, o);
    o += v.size;
  }
  return out;
}

/** `values[offset … offset + length)` rounded to float32 (a plain loop: `Float32Array.from` with a callback is ~10× slower). */
function float32Slice(values: ArrayLike<number>, offset: number, length: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = values[offset + i]!;
  return out;
}

/**
 * Writes a flat vector back into the model's trainable variables.
 * @throws TrellisError `MODEL_MISMATCH` when `flat` does not hold exactly one value per parameter.
 */
export function setFlatParameters(model: ModelAdapter, flat: ArrayLike<number>): void {
  const vars = varList(model);
  const total = vars.reduce((s, [, v]) => s + v.size, 0);
  check(flat.length === total, 'MODEL_MISMATCH', `${flat.length} values for a model with ${total} parameters`, 'pass flatParameters() of a model of the same architecture');
  let o = 0;
  for (const [, v] of vars) {
    const part = float32Slice(flat, o, v.size);
    tf.tidy(() => v.assign(tf.tensor(part, v.shape, 'float32')));
    o += v.size;
  }
}

/**
 * Throws `UNLABELED` without labels and `LABEL_OUT_OF_RANGE` for a label outside the model's classes
 * (its one-hot row would be all zero: a zero loss and a zero gradient, silently).
 */
function checkGradientLabels(model: ModelAdapter, data: Dataset): void {
  check(data.labels, 'UNLABELED', 'gradients need labels', 'use a labeled dataset');
  checkClassLabels(data.labels, model.numClasses, { fix: `labels must be integers 0..${model.numClasses - 1}, the model's classes (is it the right dataset?)` });
}

/** `data.batches(batchSize)`, each batch disposed once the loop body is done with it, also when the body throws. */
function* ownedBatches(data: Dataset, batchSize: number): Generator<Batch> {
  for (const batch of data.batches(batchSize)) {
    try {
      yield batch;
    } finally {
      disposeBatch(batch);
    }
  }
}

/** Throws `EMPTY_DATASET` for a dataset without examples (a mean over none is 0/0: NaN everywhere). */
function checkNotEmpty(data: Dataset): void {
  check(data.size >= 1, 'EMPTY_DATASET', 'the dataset has no examples, so the mean loss and its derivatives are undefined',
    'pass a dataset with at least one example (for a group: one that has members)');
}

/**
 * The gradient of the *mean* cross-entropy over `data` with respect to the trainable variables,
 * flattened (accumulates per-batch gradients of the summed loss, so it is exact for any batch size).
 * @throws TrellisError `UNLABELED`, `LABEL_OUT_OF_RANGE`, `EMPTY_DATASET`.
 */
export function meanLossGradient(model: ModelAdapter, data: Dataset, batchSize = 256): Float64Array {
  checkGradientLabels(model, data);
  checkNotEmpty(data);
  const vars = varList(model);
  const total = new Float64Array(vars.reduce((s, [, v]) => s + v.size, 0));
  for (const batch of ownedBatches(data, batchSize)) {
    const grads = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(perSampleCrossEntropy(model.apply(batch.x, { training: false }).logits, batch.y!, model.numClasses)) as tf.Scalar,
        vars.map(([, v]) => v));
      value.dispose();
      return grads;
    });
    let o = 0;
    for (const [, v] of vars) {
      const g = grads[v.name];
      if (g) {
        const d = g.dataSync();
        for (let i = 0; i < d.length; i++) total[o + i]! += d[i]!;
      }
      o += v.size;
    }
    tf.dispose(Object.values(grads));
  }
  for (let i = 0; i < total.length; i++) total[i]! /= data.size;
  return total;
}

/**
 * Per-example gradient norms `‖∇_θ ℓ(θ; x_i, y_i)‖₂` over all trainable variables, one gradient call per
 * example (spec §4.4 "mean per-sample gradient norm"). Their group mean bounds the group gradient norm from
 * above (triangle inequality); its cheap proxy is the mean residual `‖p − e_y‖` (§4.2).
 */
export function perSampleGradientNorms(model: ModelAdapter, data: Dataset, batchSize = 64): Float64Array {
  checkGradientLabels(model, data);
  const vars = varList(model).map(([, v]) => v);
  const out = new Float64Array(data.size);
  let offset = 0;
  for (const batch of ownedBatches(data, batchSize)) {
    for (let i = 0; i < batch.size; i++) {
      const norm = tf.tidy(() => {
        const x = tf.slice(batch.x, [i], [1]);
        const y = tf.slice(batch.y!, [i], [1]) as tf.Tensor1D;
        const { grads } = tf.variableGrads(() => tf.sum(perSampleCrossEntropy(model.apply(x, { training: false }).logits, y, model.numClasses)) as tf.Scalar, vars);
        return tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))));
      });
      out[offset + i] = norm.dataSync()[0]!;
      norm.dispose();
    }
    offset += batch.size;
  }
  return out;
}

/** How a Hessian-vector product is computed. */
export type HvpMethod = 'finite-difference' | 'gauss-newton';

/**
 * Hessian-vector product `H v` of the mean loss over `data`. `finite-difference` (default):
 * `[∇J(θ+εv) − ∇J(θ−εv)]/(2ε)` with `ε = epsilon·max(1, ‖θ‖)/‖v‖` (weights restored exactly);
 * `gauss-newton`: the exact generalised Gauss-Newton product `(1/n)Σ J_zᵀ (diag p − ppᵀ) J_z v` — the
 * curvature part of §4.3 that peaks at the decision boundary; it equals the Hessian product for
 * linear models and drops the `Σ(p−y)∇²z` term otherwise. (Double back-prop `∇(∇J·v)` does not work
 * in tfjs 4.22: nested gradients through saved activations are disconnected.)
 */
export function hessianVectorProduct(model: ModelAdapter, data: Dataset, v: Float64Array, options: { method?: HvpMethod; epsilon?: number; batchSize?: number } = {}): Float64Array {
  const method = options.method ?? 'finite-difference';
  checkChoice(method, ['finite-difference', 'gauss-newton'] as const, 'Hessian-vector method', { fix: "pass method 'finite-difference' (the default) or 'gauss-newton'" });
  const size = Object.values(model.trainableVariables()).reduce((s, x) => s + x.size, 0);
  check(v.length === size, 'MODEL_MISMATCH', `a vector of ${v.length} values for a model with ${size} parameters`, 'pass one value per trainable parameter (the layout of flatParameters(model))');
  const bad = v.findIndex((x) => !Number.isFinite(x));
  check(bad < 0, 'BAD_VECTOR', () => `entry ${bad} of the vector is ${v[bad]}`, 'pass a finite direction vector (NaN or infinite entries make every product NaN)');
  checkNotEmpty(data);
  if (method === 'gauss-newton') return hvpGaussNewton(model, data, v, options.batchSize ?? 256);
  const theta = flatParameters(model);
  const vNorm = Math.sqrt(dot(v, v));
  if (vNorm === 0) return new Float64Array(v.length);
  const thetaNorm = Math.sqrt(dot(theta, theta));
  const epsilon = options.epsilon ?? 1e-3;
  check(epsilon > 0 && Number.isFinite(epsilon), 'BAD_OPTION', `finite-difference epsilon ${epsilon} must be a finite number > 0`, 'pass a relative step such as 1e-3 (the default)');
  const eps = epsilon * Math.max(1, thetaNorm) / vNorm;
  const shifted = new Float64Array(theta.length);
  try {
    for (let i = 0; i < theta.length; i++) shifted[i] = theta[i]! + eps * v[i]!;
    setFlatParameters(model, shifted);
    const gPlus = meanLossGradient(model, data, options.batchSize);
    for (let i = 0; i < theta.length; i++) shifted[i] = theta[i]! - eps * v[i]!;
    setFlatParameters(model, shifted);
    const gMinus = meanLossGradient(model, data, options.batchSize);
    const out = new Float64Array(theta.length);
    for (let i = 0; i < out.length; i++) out[i] = (gPlus[i]! - gMinus[i]!) / (2 * eps);
    return out;
  } finally {
    setFlatParameters(model, theta);
  }
}

function hvpGaussNewton(model: ModelAdapter, data: Dataset, v: Float64Array, batchSize: number): Float64Array {
  checkGradientLabels(model, data);
  const vars = varList(model);
  const list = vars.map(([, x]) => x);
  const out = new Float64Array(v.length);
  const vTensors: tf.Tensor[] = [];
  let o = 0;
  for (const [, variable] of vars) {
    vTensors.push(tf.tensor(float32Slice(v, o, variable.size), variable.shape, 'float32'));
    o += variable.size;
  }
  const k = model.numClasses;
  try {
    for (const batch of ownedBatches(data, batchSize)) {
      const grads = tf.tidy(() => {
        const p = tf.softmax(model.apply(batch.x, { training: false }).logits);
        // J v by the double-VJP trick: u ↦ (Jᵀu)·v is linear in u and its gradient is J v. tfjs records
        // the backward pass's ops on dy = u, so this derivative is exact (nested gradients through
        // saved activations are not: tfjs saves clones that are off the tape).
        const jv = tf.grad((u: tf.Tensor) => {
          const { grads } = tf.engine().gradients(() => model.apply(batch.x, { training: false }).logits, list, u, true);
          return tf.addN(grads.map((g, i) => (g ? tf.sum(tf.mul(g, vTensors[i]!)) : tf.scalar(0)))) as tf.Scalar;
        })(tf.zeros([batch.size, k]));
        const c = tf.sub(tf.mul(p, jv), tf.mul(p, tf.sum(tf.mul(p, jv), -1, true)));
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(model.apply(batch.x, { training: false }).logits, c)) as tf.Scalar, list);
        value.dispose();
        return grads;
      });
      o = 0;
      for (const [, x] of vars) {
        const g = grads[x.name];
        if (g) {
          const d = g.dataSync();
          for (let i = 0; i < d.length; i++) out[o + i]! += d[i]!;
        }
        o += x.size;
      }
      tf.dispose(Object.values(grads));
    }
  } finally {
    tf.dispose(vTensors);
  }
  for (let i = 0; i < out.length; i++) out[i]! /= data.size;
  return out;
}

/** Throws `BAD_OPTION` unless an operator returned one value per dimension. */
function checkApplied(av: ArrayLike<number>, dim: number): void {
  check(av.length === dim, 'BAD_OPTION', () => `the operator returned ${av.length} values for a vector of ${dim}`, 'pass an operator that maps a vector of dim values to one of dim values (e.g. a Hessian-vector product)');
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Largest-magnitude eigenvalue of a symmetric operator by power iteration from a seeded random unit
 * vector; returns the Rayleigh quotient `vᵀAv` of the last iterate.
 */
export function powerIteration(apply: (v: Float64Array) => Float64Array, dim: number, options: { iterations?: number; seed?: number } = {}): number {
  const iterations = options.iterations ?? 20;
  check(Number.isInteger(dim) && dim >= 1, 'BAD_OPTION', () => `power iteration over ${String(dim)} dimensions`, 'pass the number of parameters (a whole number ≥ 1)');
  check(Number.isInteger(iterations) && iterations >= 1, 'BAD_OPTION', () => `${String(iterations)} power iterations is not a positive integer`, 'pass iterations such as 20 (the default)');
  const rng = Rng.derive(options.seed ?? 0, 'power-iteration');
  let v: Float64Array = Float64Array.from(rng.normalArray(dim));
  const normalize = (x: Float64Array): Float64Array => {
    const n = Math.sqrt(dot(x, x));
    return n > 0 ? x.map((y) => y / n) : x;
  };
  v = normalize(v);
  let lambda = 0;
  for (let it = 0; it < iterations; it++) {
    const av = apply(v);
    checkApplied(av, dim);
    lambda = dot(v, av);
    const n = Math.sqrt(dot(av, av));
    if (n === 0) return 0;
    v = av.map((y) => y / n);
  }
  return lambda;
}

/**
 * Largest (algebraic) eigenvalue λ_max of a symmetric operator: {@link powerIteration} finds the
 * eigenvalue of largest magnitude λ₁; when λ₁ < 0 a second power iteration on `A − λ₁I` (whose
 * eigenvalues λ − λ₁ are ≥ 0, the largest λ_max − λ₁) recovers λ_max. A loss Hessian away from a
 * minimum can have a negative eigenvalue of larger magnitude than its top one; the indicator is λ_max.
 */
export function topEigenvalue(apply: (v: Float64Array) => Float64Array, dim: number, options: { iterations?: number; seed?: number } = {}): number {
  const first = powerIteration(apply, dim, options);
  if (!(first < 0)) return first;
  const shifted = (v: Float64Array): Float64Array => {
    const av = apply(v);
    return av.map((y, i) => y - first * v[i]!);
  };
  return powerIteration(shifted, dim, { ...options, seed: (options.seed ?? 0) + 1 }) + first;
}

/** Hutchinson trace estimate `mean vᵀAv` over Rademacher vectors. */
export function hutchinsonTrace(apply: (v: Float64Array) => Float64Array, dim: number, options: { samples?: number; seed?: number } = {}): number {
  check(Number.isInteger(dim) && dim >= 1, 'BAD_OPTION', () => `Hutchinson trace over ${String(dim)} dimensions`, 'pass the number of parameters (a whole number ≥ 1)');
  const rng = Rng.derive(options.seed ?? 0, 'hutchinson');
  let s = 0;
  const k = options.samples ?? 20;
  check(Number.isInteger(k) && k >= 1, 'BAD_OPTION', `${k} Hutchinson samples is not a positive integer`, 'pass samples such as 20 (the default)');
  for (let t = 0; t < k; t++) {
    const v = new Float64Array(dim);
    for (let i = 0; i < dim; i++) v[i] = rng.next() < 0.5 ? -1 : 1;
    const av = apply(v);
    checkApplied(av, dim);
    s += dot(v, av);
  }
  return s / k;
}

/**
 * Per-example boundary indicators from logits: `b = 1 − Σp²`, margin `p_y − max_{k≠y} p_k`, residual `‖p − e_y‖`.
 * @throws TrellisError `BAD_MODEL` for fewer than 2 classes (no runner-up: the margin would be +Infinity), and see {@link perExampleLoss}.
 */
export function boundaryIndicators(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number): { proximity: Float64Array; margin: Float64Array; residual: Float64Array } {
  check(k >= 2, 'BAD_MODEL', () => `${k} class${k === 1 ? '' : 'es'}: the margin to the runner-up class needs at least 2`, 'pass the logits of a classifier with 2 or more classes');
  checkLogitRows(logits, labels, k);
  const p = softmaxRows(logits, k);
  const n = labels.length;
  const proximity = new Float64Array(n);
  const margin = new Float64Array(n);
  const residual = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sq = 0;
    let other = -Infinity;
    let res = 0;
    const y = labels[i]!;
    for (let j = 0; j < k; j++) {
      const q = p[i * k + j]!;
      sq += q * q;
      if (j !== y) other = Math.max(other, q);
      res += (q - (j === y ? 1 : 0)) ** 2;
    }
    proximity[i] = 1 - sq;
    margin[i] = p[i * k + y]! - other;
    residual[i] = Math.sqrt(res);
  }
  return { proximity, margin, residual };
}

/**
 * First-order (DeepFool-style) input-space distance to the boundary between the top two classes:
 * `(z_top − z_second) / ‖∇_x(z_top − z_second)‖`, all examples of a batch in one gradient call.
 * @throws TrellisError `BAD_MODEL` for a model with fewer than 2 classes.
 */
export function inputSpaceDistance(model: ModelAdapter, data: Dataset, batchSize = 256): Float64Array {
  const k = model.numClasses;
  check(Number.isInteger(k) && k >= 2, 'BAD_MODEL', () => `the model has ${k} class${k === 1 ? '' : 'es'}; a distance to the boundary between the top two classes needs at least 2`,
    'use a classifier with 2 or more classes');
  const out = new Float64Array(data.size);
  let offset = 0;
  for (const batch of ownedBatches(data, batchSize)) {
    const logits = tf.tidy(() => model.apply(batch.x, { training: false }).logits);
    const z = logits.dataSync();
    logits.dispose();
    const sel = new Float32Array(batch.size * k);
    const gap = new Float64Array(batch.size);
    for (let i = 0; i < batch.size; i++) {
      let a = 0;
      for (let j = 1; j < k; j++) if (z[i * k + j]! > z[i * k + a]!) a = j;
      let b = a === 0 ? 1 : 0;
      for (let j = 0; j < k; j++) if (j !== a && z[i * k + j]! > z[i * k + b]!) b = j;
      sel[i * k + a] = 1;
      sel[i * k + b] = -1;
      gap[i] = z[i * k + a]! - z[i * k + b]!;
    }
    const norms = tf.tidy(() => {
      const s = tf.tensor(sel, [batch.size, k]);
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(model.apply(x, { training: false }).logits, s)))(batch.x);
      return tf.sqrt(tf.sum(tf.square(tf.reshape(g, [batch.size, -1])), 1));
    });
    const nv = norms.dataSync();
    norms.dispose();
    for (let i = 0; i < batch.size; i++) out[offset + i] = gap[i]! / Math.max(nv[i]!, 1e-12);
    offset += batch.size;
  }
  return out;
}

/** Options of {@link groupDiagnostics}. */
export interface DiagnosticsOptions {
  /** Samples per group for the gradient norm (default 1000; the exact group gradient when the group is smaller; `Infinity`: every example). */
  maxPerGroup?: number;
  /** Samples per group for Hessian estimates (default 256; `Infinity`: every example). */
  hessianPerGroup?: number;
  /** Power iterations (default 20; 0 skips λ_max). */
  powerIterations?: number;
  /** Hessian-vector products (default finite differences). */
  hvp?: HvpMethod;
  /** Also estimate tr(H_a) with this many Hutchinson vectors (default 0: off). */
  traceSamples?: number;
  /** Also compute the input-space boundary distance (default false). */
  inputDistance?: boolean;
  /** Also compute the mean per-example gradient norm on this many examples per group (default 0: off; the spec caps it at 256). */
  sampleGradPerGroup?: number;
  seed?: number;
}

/** Per-group indicators (one entry per group). */
export interface GroupDiagnostics {
  /** Examples of each group in `data`. */
  size: number[];
  /** `‖∇_θ J(θ; D_a)‖₂`. */
  gradNorm: number[];
  /** Mean per-example gradient norm `mean_i ‖∇_θ ℓ_i‖₂` (when asked; ≥ `gradNorm` on the same examples). */
  meanSampleGradNorm?: number[];
  /** Mean `‖p − e_y‖` (the per-example gradient-norm factor of §4.2). */
  residualNorm: number[];
  /** `λ_max(H_a)`, the largest (algebraic) eigenvalue, by power iteration ({@link topEigenvalue}; NaN when skipped). */
  hessianTopEig: number[];
  /** Hutchinson `tr(H_a)` (when asked). */
  hessianTrace?: number[];
  /** Mean `1 − Σ_k p_k²` (higher = closer to a boundary). */
  boundaryProximity: number[];
  /** Mean `p_y − max_{k≠y} p_k`. */
  probMargin: number[];
  /** Mean first-order input-space distance to the boundary (when asked). */
  inputDistance?: number[];
  /** Mean loss of each group. */
  loss: number[];
}

function groupIndices(groups: Int32Array, numGroups: number): number[][] {
  const out: number[][] = Array.from({ length: numGroups }, () => []);
  groups.forEach((g, i) => out[g]!.push(i));
  return out;
}

/** Throws `BAD_OPTION` unless a per-group example cap is a whole number ≥ 1 (0 would average nothing: a NaN indicator). */
/** A per-group sample cap is a whole number ≥ 1, or `Infinity` (every example of the group: the full study's `maxPerGroup`). */
function checkCap(value: number | undefined, name: string): void {
  if (value === undefined || value === Number.POSITIVE_INFINITY) return;
  check(Number.isInteger(value) && value >= 1, 'BAD_OPTION', () => `${name} ${String(value)} is not a whole number ≥ 1 or Infinity`,
    `pass ${name} ≥ 1 (examples per group), Infinity for every example, or leave it unset for the default`);
}

function capped(indices: number[], cap: number, rng: Rng): number[] {
  if (indices.length <= cap) return indices;
  return Array.from(rng.sample(indices.length, cap), (j) => indices[j]!).sort((a, b) => a - b);
}

/**
 * Computes the per-group indicators of `model` on `data` (usually the training set at θ*).
 * @throws TrellisError `GROUP_IDS_MISSING`, `EMPTY_GROUP`, `BAD_OPTION` for a bad cap, count or `hvp`.
 */
export function groupDiagnostics(model: ModelAdapter, data: Dataset, numGroups: number, options: DiagnosticsOptions = {}): GroupDiagnostics {
  check(data.labels, 'UNLABELED', 'diagnostics need labels', 'use a labeled dataset');
  for (const key of ['maxPerGroup', 'hessianPerGroup'] as const) checkCap(options[key], key);
  for (const key of ['powerIterations', 'traceSamples', 'sampleGradPerGroup'] as const) {
    const value = options[key];
    check(value === undefined || (Number.isInteger(value) && value >= 0), 'BAD_OPTION', () => `${key} ${String(value)} is not a whole number ≥ 0`,
      `pass ${key} as a whole number (0 turns it off), or leave it unset for the default`);
  }
  checkChoice(options.hvp ?? 'finite-difference', ['finite-difference', 'gauss-newton'] as const, 'Hessian-vector method',
    { fix: "pass hvp 'finite-difference' (the default) or 'gauss-newton'" });
  const groups = checkGroupIds(data, numGroups);
  checkNoEmptyGroup(groups, numGroups, 'the diagnostics set');
  const seed = options.seed ?? 0;
  const members = groupIndices(groups, numGroups);
  const logits = predictLogits(model, data);
  const ind = boundaryIndicators(logits, data.labels, model.numClasses);
  const losses = perExampleLoss(logits, data.labels, model.numClasses);
  const mean = (arr: Float64Array, idx: number[]): number => idx.reduce((s, i) => s + arr[i]!, 0) / idx.length;
  const out: GroupDiagnostics = {
    size: groupCounts(groups, numGroups),
    gradNorm: [], residualNorm: [], hessianTopEig: [], boundaryProximity: [], probMargin: [], loss: [],
  };
  if (options.traceSamples) out.hessianTrace = [];
  const distance = options.inputDistance ? inputSpaceDistance(model, data) : null;
  if (distance) out.inputDistance = [];
  if (options.sampleGradPerGroup) out.meanSampleGradNorm = [];
  for (let a = 0; a < numGroups; a++) {
    const idx = members[a]!;
    out.residualNorm.push(mean(ind.residual, idx));
    out.boundaryProximity.push(mean(ind.proximity, idx));
    out.probMargin.push(mean(ind.margin, idx));
    out.loss.push(mean(losses, idx));
    if (distance) out.inputDistance!.push(mean(distance, idx));
    const gSet = data.subset(capped(idx, options.maxPerGroup ?? 1000, Rng.derive(seed, 'grad', a)));
    const g = meanLossGradient(model, gSet);
    out.gradNorm.push(Math.sqrt(dot(g, g)));
    const iters = options.powerIterations ?? 20;
    const hSet = data.subset(capped(idx, options.hessianPerGroup ?? 256, Rng.derive(seed, 'hessian', a)));
    const hv = (v: Float64Array): Float64Array => hessianVectorProduct(model, hSet, v, { method: options.hvp ?? 'finite-difference' });
    out.hessianTopEig.push(iters > 0 ? topEigenvalue(hv, g.length, { iterations: iters, seed: seed + a }) : NaN);
    if (out.hessianTrace) out.hessianTrace.push(hutchinsonTrace(hv, g.length, { samples: options.traceSamples!, seed: seed + a }));
    if (out.meanSampleGradNorm) {
      const norms = perSampleGradientNorms(model, data.subset(capped(idx, options.sampleGradPerGroup!, Rng.derive(seed, 'sample-grad', a))));
      out.meanSampleGradNorm.push(norms.reduce((s, x) => s + x, 0) / norms.length);
    }
  }
  return out;
}

/** The second-order Taylor estimate of each group's excess loss and its terms. */
export interface TaylorEstimate {
  /** `g_aᵀδ`. */
  firstOrder: number[];
  /** `½ δᵀH_aδ`. */
  secondOrder: number[];
  /** Their sum. */
  estimate: number[];
  /** `‖δ‖ = ‖θ̄ − θ*‖`. */
  deltaNorm: number;
}

/**
 * The Taylor estimate `R(a) ≈ g_aᵀδ + ½ δᵀH_aδ` with `δ = θ̄ − θ*` (spec §4.1), at the dense
 * model's weights. `pruned` must have the same variables as `dense`.
 */
export function taylorExcessLoss(dense: ModelAdapter, pruned: ModelAdapter, data: Dataset, numGroups: number, options: { maxPerGroup?: number; seed?: number } = {}): TaylorEstimate {
  checkCap(options.maxPerGroup, 'maxPerGroup');
  const groups = checkGroupIds(data, numGroups);
  checkNoEmptyGroup(groups, numGroups, 'the Taylor-estimate set');
  const theta = flatParameters(dense);
  const thetaBar = flatParameters(pruned);
  check(theta.length === thetaBar.length, 'MODEL_MISMATCH', `the dense model has ${theta.length} parameters and the pruned one ${thetaBar.length}`, 'pass the pruned copy of the same architecture');
  const delta = thetaBar.map((x, i) => x - theta[i]!);
  const members = groupIndices(groups, numGroups);
  const first: number[] = [];
  const second: number[] = [];
  for (let a = 0; a < numGroups; a++) {
    const set = data.subset(capped(members[a]!, options.maxPerGroup ?? 1000, Rng.derive(options.seed ?? 0, 'taylor', a)));
    first.push(dot(meanLossGradient(dense, set), delta));
    second.push(0.5 * dot(delta, hessianVectorProduct(dense, set, delta)));
  }
  return { firstOrder: first, secondOrder: second, estimate: first.map((f, a) => f + second[a]!), deltaNorm: Math.sqrt(dot(delta, delta)) };
}
