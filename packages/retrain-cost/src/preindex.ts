/**
 * PreIndex (Sangarya, Bradford, Kim, AIES 2024): per-sample histogram distances between the
 * representations of each clean example and its shifted copy, averaged over tapped layers and
 * samples (the term p), plus the clustering term 1 − ARI of k-means on the shifted embeddings
 * started from the clean class centroids (spec §4). One forward pass over each dataset.
 */
import type { Dataset, ModelAdapter } from '@trellis-ml/core';
import { checkChoice, TrellisError } from '@trellis-ml/core';
import { adjustedRandIndex, kmeans } from './clustering.js';
import { checkBins, checkKlEpsilon, DISTANCE_NAMES, distances as distanceFns, histogramPmfInto, histogramRange, klDivergence, WASSERSTEIN_FIX, WASSERSTEIN_MODES, wassersteinBinCdf, type DistanceName, type WassersteinMode } from './histogram.js';
import { checkLabeled, checkPaired, checkSameShape, stratifiedRows } from './inputs.js';
import { describeLayers, extractRepresentations, resolveTaps, type Representations, type TapOptions } from './taps.js';

/** The clustering part's five ARIs (spec §4.2 table). */
export interface AriFamily {
  /** Clean embeddings, k-means from clean centroids — the unchanged-data baseline. */
  clean: number;
  /** Shifted embeddings, k-means from their own centroids. */
  newOwn: number;
  /** Shifted embeddings, k-means from the *clean* centroids — the shift-sensitive one (inv_ari = 1 − this). */
  newFromClean: number;
  /** Clean embeddings, k-means++ (seeded). */
  cleanKpp: number;
  /** Shifted embeddings, k-means++ (seeded). */
  newKpp: number;
}

/** Everything PreIndex computes, so any combination can be evaluated without recomputing. */
export interface PreIndexComponents {
  /** The representation term: `distances[primary.bins][primary.metric]`. */
  p: number;
  /** `1 − ARI.newFromClean`. */
  invAri: number;
  ari: AriFamily;
  /** bins → metric → D̄ (mean over layers and samples). */
  distances: Record<number, Record<DistanceName, number>>;
  /** layer → bins → metric → mean over samples. */
  perLayer: Record<string, Record<number, Record<DistanceName, number>>>;
  layers: string[];
  /** Tapped layers with a fused activation (taps are post-activation there, unlike the reference). */
  postActivationLayers: string[];
  embeddingLayer: string;
  /** Paired examples compared. */
  n: number;
  /** Examples the clustering used (after subsampling). */
  clusteringN: number;
  primary: { metric: DistanceName; bins: number };
}

/** How the components combine into one number (spec §4.3). */
export type PreIndexCombine =
  | { s?: number; sBar?: number; baselineCorrect?: boolean }
  | ((c: PreIndexComponents) => number);

/** Options of {@link preIndex}. */
export interface PreIndexOptions extends TapOptions {
  /** Bin counts (default [16, 32, 64]). */
  bins?: number[];
  /** Which D̄ is p (default W with 32 bins; chosen before any grid, never tuned on it). */
  primary?: { metric: DistanceName; bins: number };
  /** W semantics: the reference's `value-sort` (default) or `bin-cdf` on a shared per-sample grid. */
  wasserstein?: WassersteinMode;
  /** KL smoothing; undefined keeps the reference ∞→0 rule. */
  klEpsilon?: number;
  /** Layer whose raw output is clustered (default: last tapped conv layer, else last tapped layer). */
  embeddingLayer?: string;
  /**
   * The clustering term's k-means: `maxIter` Lloyd iterations (default 300, scikit-learn's, as the reference;
   * 0 = each embedding goes to its nearest starting centre, i.e. the nearest clean class centroid for
   * `newFromClean`), `tol` (1e-4), `subsample` (class-stratified rows, default 10,000: about that many, each class
   * rounded to its share, see {@link stratifiedRows}; all rows when there are fewer) and `seed`
   * (subsample and k-means++).
   */
  clustering?: { maxIter?: number; tol?: number; subsample?: number; seed?: number };
  /** Default `{ s: 0, sBar: 0 }`: PreIndex = p + inv_ari. */
  combine?: PreIndexCombine;
  /**
   * What to compute. `'all'` (default): every D̄ (each metric × each of `bins`) and all five ARIs, so any
   * combination and every diagnostic can be read from one call. `'index'`: only what the value and its
   * baseline-corrected form need — the primary D̄ and the ARIs `clean` and `newFromClean` (two k-means
   * runs instead of five); the other distances and ARIs are `NaN`. Same `value` and `corrected` as
   * `'all'` (the default `combine`; a custom function sees the `NaN`s). This is the index's own cost
   * (spec §13.2).
   */
  components?: 'all' | 'index';
}

/** PreIndex's value with its components and cost. */
export interface PreIndexResult extends PreIndexComponents {
  value: number;
  /** `value` minus its unchanged-data value (p = 0, inv_ari = 1 − ARI.clean): 0 for an unchanged set. */
  corrected: number;
  wallMs: number;
}

/**
 * Combines components: `u / (1 + u·s) − s̄` with `u = p + inv_ari` (the summary's formula, defaults
 * s = s̄ = 0), optionally minus the same expression at the unchanged-data point.
 * @throws TrellisError `BAD_OPTION` when `s` or `sBar` is not a finite number.
 */
export function combinePreIndex(c: PreIndexComponents, combine: PreIndexCombine = {}): number {
  if (typeof combine === 'function') return combine(c);
  checkCombine(combine);
  const s = combine.s ?? 0;
  const sBar = combine.sBar ?? 0;
  const g = (u: number): number => u / (1 + u * s) - sBar;
  const v = g(c.p + c.invAri);
  return combine.baselineCorrect ? v - g(1 - c.ari.clean) : v;
}

/**
 * Per-sample distances between two representation matrices (pure; exported for tests).
 * @throws TrellisError `BAD_BINS`, `BAD_SHAPE` for matrices that do not hold `n` rows of `width`, `BAD_OPTION`
 * for an unknown metric name or a `klEpsilon` that is not a finite number ≥ 0.
 */
export function representationDistances(
  a: Float32Array, b: Float32Array, n: number, width: number, bins: readonly number[],
  options: { wasserstein?: WassersteinMode; klEpsilon?: number; metrics?: readonly DistanceName[] } = {},
): Record<number, Record<DistanceName, number>> {
  for (const bc of bins) checkBins(bc, 'PreIndex');
  if (!(Number.isInteger(n) && n >= 1 && Number.isInteger(width) && width >= 1 && a.length >= n * width && b.length >= n * width)) {
    throw new TrellisError('BAD_SHAPE', `representations of ${a.length} and ${b.length} values do not hold ${n} rows of width ${width}`,
      'pass two n × width row-major matrices of the same examples (clean and shifted), n ≥ 1');
  }
  const metrics = options.metrics ?? DISTANCE_NAMES;
  for (const m of metrics) checkChoice(m, DISTANCE_NAMES, 'distance name');
  checkKlEpsilon(options.klEpsilon);
  const out: Record<number, Record<DistanceName, number>> = {};
  for (const bcount of bins) {
    const sums: Record<DistanceName, number> = { W: 0, JS: 0, BH: 0, KL: 0 };
    // one set of pmf buffers per bin count, refilled for every row; the rows' own-range pmfs only when a metric reads them
    const ownRange = metrics.some((m) => !(m === 'W' && options.wasserstein === 'bin-cdf'));
    const p = new Float64Array(bcount);
    const q = new Float64Array(bcount);
    const pShared = new Float64Array(bcount);
    const qShared = new Float64Array(bcount);
    for (let i = 0; i < n; i++) {
      if (ownRange) {
        histogramPmfInto(a, i * width, width, p);
        histogramPmfInto(b, i * width, width, q);
      }
      for (const m of metrics) {
        if (m === 'W' && options.wasserstein === 'bin-cdf') {
          const [lo1, hi1] = histogramRange(a, i * width, width);
          const [lo2, hi2] = histogramRange(b, i * width, width);
          const range: [number, number] = [Math.min(lo1, lo2), Math.max(hi1, hi2)];
          sums.W += wassersteinBinCdf(histogramPmfInto(a, i * width, width, pShared, range), histogramPmfInto(b, i * width, width, qShared, range));
        } else if (m === 'KL') sums.KL += klDivergence(p, q, options.klEpsilon);
        else sums[m] += distanceFns[m](p, q);
      }
    }
    const r = {} as Record<DistanceName, number>;
    for (const m of metrics) r[m] = sums[m] / n;
    out[bcount] = r;
  }
  return out;
}

/**
 * Class centroids of `n × d` row-major embeddings: row `i` of the result is the mean of the rows labelled
 * `classes[i]` (the k-means initialisation of PreIndex's clustering term, spec §4.2).
 */
export function classCentroids(z: Float32Array, labels: Int32Array, d: number, classes: readonly number[]): Float32Array {
  const c = new Float64Array(classes.length * d);
  const counts = new Float64Array(classes.length);
  const slot = new Map(classes.map((k, i) => [k, i]));
  for (let i = 0; i < labels.length; i++) {
    const s = slot.get(labels[i]!)!;
    counts[s] = counts[s]! + 1;
    for (let t = 0; t < d; t++) c[s * d + t] = c[s * d + t]! + z[i * d + t]!;
  }
  for (let s = 0; s < classes.length; s++) for (let t = 0; t < d; t++) c[s * d + t] = c[s * d + t]! / counts[s]!;
  return Float32Array.from(c);
}

/** The clean side of the clustering term: the class centroids μ and the ARIs of the clean embeddings. */
export interface CleanClustering {
  /** Sorted class ids; row `i` of `centroids` belongs to `classes[i]`. */
  classes: number[];
  /** `k × d` clean class centroids, the starting centres of `clean` and `newFromClean`. */
  centroids: Float32Array;
  /** ARI of k-means on the clean embeddings from μ. */
  clean: number;
  /** ARI of k-means++ on the clean embeddings (`NaN` with `only: 'index'`). */
  cleanKpp: number;
}

/** Options of the clustering term's k-means runs. */
export interface ClusteringRunOptions {
  maxIter?: number;
  tol?: number;
  seed?: number;
  /** `'index'`: only the runs the value and its baseline correction need. */
  only?: 'all' | 'index';
}

/** The clean half of {@link clusteringAris} (pure): computed once per model and clean set. */
export function cleanClustering(zOld: Float32Array, labels: Int32Array, d: number, o: ClusteringRunOptions = {}): CleanClustering {
  const n = labels.length;
  const classes = [...new Set(labels)].sort((x, y) => x - y);
  const centroids = classCentroids(zOld, labels, d, classes);
  const km = { maxIter: o.maxIter, tol: o.tol, seed: o.seed ?? 0 };
  const clean = adjustedRandIndex(labels, kmeans(zOld, n, d, centroids, km).labels);
  const cleanKpp = o.only === 'index' ? NaN : adjustedRandIndex(labels, kmeans(zOld, n, d, { kmeansPlusPlus: classes.length }, km).labels);
  return { classes, centroids, clean, cleanKpp };
}

/** The shifted half of {@link clusteringAris} (pure): the three ARIs of the shifted embeddings of the same rows. */
export function shiftedClustering(zNew: Float32Array, labels: Int32Array, d: number, clean: CleanClustering,
  o: ClusteringRunOptions = {}): Pick<AriFamily, 'newOwn' | 'newFromClean' | 'newKpp'> {
  const n = labels.length;
  const km = { maxIter: o.maxIter, tol: o.tol, seed: o.seed ?? 0 };
  const newFromClean = adjustedRandIndex(labels, kmeans(zNew, n, d, clean.centroids, km).labels);
  if (o.only === 'index') return { newOwn: NaN, newFromClean, newKpp: NaN };
  const muNew = classCentroids(zNew, labels, d, clean.classes);
  return {
    newOwn: adjustedRandIndex(labels, kmeans(zNew, n, d, muNew, km).labels),
    newFromClean,
    newKpp: adjustedRandIndex(labels, kmeans(zNew, n, d, { kmeansPlusPlus: clean.classes.length }, km).labels),
  };
}

/**
 * The five ARIs of the clustering term from clean and shifted embeddings of the same rows (pure). With
 * `only: 'index'` just `clean` and `newFromClean` (what PreIndex and its baseline correction use); the
 * other three are `NaN`.
 */
export function clusteringAris(zOld: Float32Array, zNew: Float32Array, labels: Int32Array, d: number, o: ClusteringRunOptions = {}): AriFamily {
  const c = cleanClustering(zOld, labels, d, o);
  return { clean: c.clean, cleanKpp: c.cleanKpp, ...shiftedClustering(zNew, labels, d, c, o) };
}

/**
 * The clean side of PreIndex for one model and its clean (old) data — the tapped layers' per-sample
 * representations, the clean embeddings' class centroids and the clean ARIs — computed once by
 * {@link preIndexReference} and reused by {@link preIndexAgainst} for every shifted set.
 */
export interface PreIndexReference {
  readonly model: ModelAdapter;
  readonly oldData: Dataset;
  /** The options it was built with; every evaluation against it uses them. */
  readonly options: Readonly<PreIndexOptions>;
  readonly layers: string[];
  readonly postActivationLayers: string[];
  readonly embeddingLayer: string;
  /** Rows of the clustering subsample (sorted) and their labels. */
  readonly rows: Int32Array;
  readonly rowLabels: Int32Array;
  /** The clean data's representations (per layer, and the embedding rows). */
  readonly representations: Representations;
  readonly clustering: CleanClustering;
  /** Wall time of building it. */
  readonly wallMs: number;
}

/** A reference's reusable buffer for the shifted embeddings (never part of a result). */
const embeddingScratch = new WeakMap<PreIndexReference, Float32Array>();

/** A value as an error message shows it (strings quoted, so `"0.5"` is not mistaken for the number 0.5). */
const shown = (v: unknown): string => (typeof v === 'string' ? `"${v}"` : String(v));

/**
 * Throws `BAD_OPTION` unless an object `combine`'s `s` and `sBar` are finite numbers (or left out): a NaN
 * or a string used to give a NaN index.
 */
function checkCombine(combine: PreIndexCombine | undefined): void {
  if (combine === undefined || typeof combine === 'function') return;
  if (combine === null || typeof combine !== 'object') {
    throw new TrellisError('BAD_OPTION', `combine ${shown(combine)} is neither an object nor a function`, 'pass combine: { s, sBar, baselineCorrect } or a function of the components');
  }
  for (const [name, v] of [['s', combine.s], ['sBar', combine.sBar]] as const) {
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v))) {
      throw new TrellisError('BAD_OPTION', `combine.${name} ${shown(v)} is not a finite number`, `pass combine.${name} as a number (default 0), or leave it out`);
    }
  }
}

function resolvedPrimary(options: PreIndexOptions): { bins: number[]; primary: { metric: DistanceName; bins: number }; indexOnly: boolean } {
  const bins = options.bins ?? [16, 32, 64];
  for (const b of bins) checkBins(b, 'PreIndex');
  const primary = options.primary ?? { metric: 'W', bins: 32 };
  if (primary === null || typeof primary !== 'object') {
    throw new TrellisError('BAD_OPTION', `primary ${shown(primary)} is not an object`, "pass primary: { metric: 'W', bins: 32 } (the default), or leave it out");
  }
  checkChoice(primary.metric, DISTANCE_NAMES, 'primary metric', { fix: (c) => `use primary.metric ${c} (the distance that is p; default 'W')` });
  if (!bins.includes(primary.bins)) {
    throw new TrellisError('BAD_OPTION', `the primary bin count ${primary.bins} is not among bins [${bins.join(', ')}]`, 'add it to `bins` or pick one of them');
  }
  if (options.wasserstein !== undefined) checkChoice(options.wasserstein, WASSERSTEIN_MODES, 'wasserstein mode', { fix: WASSERSTEIN_FIX });
  const only = options.components ?? 'all';
  if (only !== 'all' && only !== 'index') {
    throw new TrellisError('BAD_OPTION', `components "${String(only)}" is not what preIndex can compute`, "use components: 'all' (every distance and ARI, the default) or 'index' (only what the value needs)");
  }
  checkKlEpsilon(options.klEpsilon);
  checkCombine(options.combine);
  const sub = options.clustering?.subsample;
  if (sub !== undefined && !(Number.isInteger(sub) && sub >= 1)) {
    throw new TrellisError('BAD_OPTION', `clustering.subsample ${shown(sub)} is not a whole number ≥ 1`, 'pass the most rows the clustering term may use, e.g. 10000 (the default)');
  }
  return { bins, primary, indexOnly: only === 'index' };
}

/**
 * Builds the clean side of PreIndex once (one forward pass over `oldData` and the clean k-means runs), so
 * that each shifted set then costs one forward pass, its histogram distances and its own k-means runs:
 * `const ref = await preIndexReference(model, clean, options); const r = await preIndexAgainst(ref, shifted)`
 * gives the same result as `preIndex(model, clean, shifted, options)`.
 * @throws TrellisError `BAD_BINS` / `BAD_OPTION` for bad options before any forward pass (a bin count, an unknown
 * `primary.metric` or `wasserstein` mode, `components`, a `klEpsilon` that is not a finite number ≥ 0, a non-finite
 * `combine.s` / `combine.sBar`, a `clustering.subsample` that is not a whole number ≥ 1, an empty `layers` list),
 * `UNLABELED` for clean data without labels, `UNKNOWN_LAYER` / `NO_TAPPABLE_LAYERS` for the taps,
 * `NON_FINITE_VALUES` when an activation is NaN/±Infinity.
 */
export async function preIndexReference(model: ModelAdapter, oldData: Dataset, options: PreIndexOptions = {}): Promise<PreIndexReference> {
  const t0 = Date.now();
  const { indexOnly } = resolvedPrimary(options);
  const k = model.numClasses;
  const { layers, postActivation } = resolveTaps(model, options.layers, k);
  const info = describeLayers(model);
  const convs = info.filter((l) => layers.includes(l.name) && l.className !== 'Dense');
  const embeddingLayer = options.embeddingLayer ?? (convs.length ? convs[convs.length - 1]!.name : layers[layers.length - 1]!);
  const labels = checkLabeled(oldData, 'old', 'PreIndex'); // its clustering term needs the classes (used to be a TypeError)
  const rows = stratifiedRows(labels, oldData.size, options.clustering?.subsample ?? 10000, options.clustering?.seed ?? 0);
  const representations = extractRepresentations(model, oldData, { layers, preprocess: options.preprocess, batchSize: options.batchSize ?? 32, embedding: { layer: embeddingLayer, rows } });
  const rowLabels = Int32Array.from(rows, (r) => labels[r]!);
  const clustering = cleanClustering(representations.embedding!.values, rowLabels, representations.embedding!.dim, { ...options.clustering, only: indexOnly ? 'index' : 'all' });
  return { model, oldData, options: { ...options }, layers, postActivationLayers: postActivation, embeddingLayer, rows, rowLabels, representations, clustering, wallMs: Date.now() - t0 };
}

/**
 * PreIndex of `newData` against a {@link preIndexReference}: `newData` must be paired with the reference's
 * clean data (`newData[i]` is the shifted `oldData[i]`, same labels), otherwise it throws `UNPAIRED_DATA`.
 * `wallMs` is this evaluation's own time (the reference's is its `wallMs`).
 * @throws TrellisError `SHAPE_MISMATCH`, `UNPAIRED_DATA` / `UNLABELED` for data not paired with the reference's,
 * `NON_FINITE_VALUES` when an activation is NaN/±Infinity.
 */
export async function preIndexAgainst(reference: PreIndexReference, newData: Dataset): Promise<PreIndexResult> {
  const t0 = Date.now();
  const { model, oldData, options, layers, embeddingLayer, rows, rowLabels, clustering } = reference;
  checkSameShape(oldData, newData, model);
  checkPaired(oldData, newData);
  const { bins, primary, indexOnly } = resolvedPrimary(options);
  const repOld = reference.representations;
  const repNew = extractRepresentations(model, newData, {
    layers, preprocess: options.preprocess, batchSize: options.batchSize ?? 32, embedding: { layer: embeddingLayer, rows, into: embeddingScratch.get(reference) },
  });
  embeddingScratch.set(reference, repNew.embedding!.values);
  const n = oldData.size;
  const binsComputed = indexOnly ? [primary.bins] : bins;
  const metrics: readonly DistanceName[] = indexOnly ? [primary.metric] : DISTANCE_NAMES;
  const perLayer: PreIndexComponents['perLayer'] = {};
  const dist: PreIndexComponents['distances'] = {};
  for (const b of bins) dist[b] = { W: NaN, JS: NaN, BH: NaN, KL: NaN };
  for (const b of binsComputed) for (const m of metrics) dist[b]![m] = 0;
  for (const l of layers) {
    const a = repOld.perLayer[l]!;
    const b = repNew.perLayer[l]!;
    perLayer[l] = representationDistances(a.values, b.values, n, a.width, binsComputed, { wasserstein: options.wasserstein, klEpsilon: options.klEpsilon, metrics });
    for (const bc of binsComputed) for (const m of metrics) dist[bc]![m] += perLayer[l]![bc]![m] / layers.length;
  }
  const shifted = shiftedClustering(repNew.embedding!.values, rowLabels, repNew.embedding!.dim, clustering, { ...options.clustering, only: indexOnly ? 'index' : 'all' });
  const ari: AriFamily = { clean: clustering.clean, cleanKpp: clustering.cleanKpp, ...shifted };
  const components: PreIndexComponents = {
    p: dist[primary.bins]![primary.metric], invAri: 1 - ari.newFromClean, ari, distances: dist, perLayer, layers,
    postActivationLayers: reference.postActivationLayers, embeddingLayer, n, clusteringN: rows.length, primary,
  };
  const combine = options.combine ?? {};
  const value = combinePreIndex(components, combine);
  const corrected = typeof combine === 'function' ? value : combinePreIndex(components, { ...combine, baselineCorrect: true });
  return { ...components, value, corrected, wallMs: Date.now() - t0 };
}

/**
 * PreIndex of `model` for the shift from `oldData` to `newData`, which must be **paired**
 * (`newData[i]` is the shifted `oldData[i]`, same labels); otherwise it throws `UNPAIRED_DATA`
 * and points to {@link arm} / {@link resqueShift}. One call computes both sides; for many shifted sets
 * of the same clean data, build a {@link preIndexReference} once and call {@link preIndexAgainst}.
 * @throws TrellisError `SHAPE_MISMATCH` / `CLASS_COUNT_MISMATCH`, `UNPAIRED_DATA` / `UNLABELED` for the data;
 * `BAD_BINS` / `BAD_OPTION` for bad options before any forward pass (a bin count, an unknown
 * `primary.metric` or `wasserstein` mode, `components`, a `klEpsilon` that is not a finite number ≥ 0, a non-finite
 * `combine.s` / `combine.sBar`, a `clustering.subsample` that is not a whole number ≥ 1, an empty `layers` list),
 * `UNKNOWN_LAYER` / `NO_TAPPABLE_LAYERS` for the taps, `NON_FINITE_VALUES` when an activation is NaN/±Infinity.
 */
export async function preIndex(model: ModelAdapter, oldData: Dataset, newData: Dataset, options: PreIndexOptions = {}): Promise<PreIndexResult> {
  const t0 = Date.now();
  checkSameShape(oldData, newData, model);
  checkPaired(oldData, newData);
  const reference = await preIndexReference(model, oldData, options);
  // This reference is used once, and its clean clustering is done: the shifted embeddings may take the
  // clean ones' buffer (a fresh one of that size costs page faults alone: ≈ 0.4 s for 125 MB on the build machine).
  embeddingScratch.set(reference, reference.representations.embedding!.values);
  const result = await preIndexAgainst(reference, newData);
  return { ...result, wallMs: Date.now() - t0 };
}
