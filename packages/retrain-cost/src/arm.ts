/**
 * ARM, the Aggregate Representation Measure (Sangarya, Bradford, Kim, 2023): the mean over tapped
 * layers of the Wasserstein distance between per-layer activation distributions on old and new
 * data (spec §6). Needs neither labels nor pairing — the index for real, unpaired shifts.
 */
import { checkChoice, TrellisError, type Dataset, type ModelAdapter } from '@trellis-ml/core';
import { checkBins, histogramPmfSlice, histogramRange, wassersteinBinCdf, wassersteinValueSort, WASSERSTEIN_FIX, WASSERSTEIN_MODES, type WassersteinMode } from './histogram.js';
import { checkSameShape } from './inputs.js';
import { extractRepresentations, resolveTaps, type TapOptions } from './taps.js';

/** How P_l is built: average of per-unit pmfs (default) or one pmf of all the layer's values. */
export type ArmConstruction = 'perUnitAverage' | 'pooled';

/** Options of {@link arm}. */
export interface ArmOptions extends TapOptions {
  /** Bins (default 32). */
  bins?: number;
  construction?: ArmConstruction;
  wasserstein?: WassersteinMode;
}

/** ARM's value and per-layer distances. */
export interface ArmResult {
  value: number;
  perLayer: Record<string, number>;
  layers: string[];
  postActivationLayers: string[];
}

/** Units read per pass over the rows: one 64-byte cache line of float32 columns. */
const COLUMN_BLOCK = 16;

/**
 * Columns `first … first + count − 1` of an `n × width` matrix, copied into `out` (column `j` at
 * `out[j·n … (j + 1)·n)`) in one pass over the rows, so each row's cache line is read once.
 */
function columns(a: Float32Array, n: number, width: number, first: number, count: number, out: Float32Array): void {
  for (let i = 0; i < n; i++) {
    const row = i * width + first;
    for (let j = 0; j < count; j++) out[j * n + i] = a[row + j]!;
  }
}

/**
 * ARM's distance for one layer from `units × samples` activations laid out as `n × width`
 * matrices (pure; `nOld` and `nNew` may differ).
 * @throws TrellisError `BAD_BINS` / `BAD_OPTION` for the options, `BAD_SHAPE` for activations of the wrong size,
 * `TOO_FEW_SAMPLES` for fewer than 2 rows in a set with the default per-unit, value-sort reading (a one-value
 * histogram is the same spike for any value), `NON_FINITE_VALUES` for a NaN/±Infinity activation.
 */
export function armLayerDistance(a: Float32Array, nOld: number, b: Float32Array, nNew: number, width: number,
  o: { bins?: number; construction?: ArmConstruction; wasserstein?: WassersteinMode } = {}): number {
  const bins = o.bins ?? 32;
  checkBins(bins, 'ARM');
  const mode = o.wasserstein ?? 'value-sort';
  checkChoice(mode, WASSERSTEIN_MODES, 'wasserstein mode', { fix: WASSERSTEIN_FIX });
  const construction = o.construction ?? 'perUnitAverage';
  checkChoice(construction, ['perUnitAverage', 'pooled'] as const, 'ARM construction', { fix: "use construction: 'perUnitAverage' (default) or 'pooled'" });
  if (!(Number.isInteger(width) && width >= 1 && Number.isInteger(nOld) && nOld >= 1 && Number.isInteger(nNew) && nNew >= 1
    && a.length === nOld * width && b.length === nNew * width)) {
    throw new TrellisError('BAD_SHAPE', `ARM got ${a.length} old and ${b.length} new values for ${nOld} and ${nNew} rows of width ${width}`,
      'pass nOld × width and nNew × width row-major activations of one layer');
  }
  if (construction === 'perUnitAverage' && mode === 'value-sort' && (nOld < 2 || nNew < 2)) {
    // each unit's histogram of one value is one spike in the middle bin whatever the value, so ARM was 0 for any shift
    throw new TrellisError('TOO_FEW_SAMPLES', `ARM's per-unit histograms need at least 2 samples per set, got ${nOld} old and ${nNew} new`,
      "pass more samples (ARM compares activation distributions), or use construction: 'pooled' or wasserstein: 'bin-cdf'");
  }
  if (construction === 'pooled') {
    if (mode === 'bin-cdf') {
      const [l1, h1] = histogramRange(a);
      const [l2, h2] = histogramRange(b);
      const r: [number, number] = [Math.min(l1, l2), Math.max(h1, h2)];
      return wassersteinBinCdf(histogramPmfSlice(a, 0, a.length, bins, r), histogramPmfSlice(b, 0, b.length, bins, r));
    }
    return wassersteinValueSort(histogramPmfSlice(a, 0, a.length, bins), histogramPmfSlice(b, 0, b.length, bins));
  }
  const pa = new Float64Array(bins);
  const pb = new Float64Array(bins);
  const blockA = new Float32Array(COLUMN_BLOCK * nOld);
  const blockB = new Float32Array(COLUMN_BLOCK * nNew);
  for (let u = 0; u < width; u++) {
    const j = u % COLUMN_BLOCK;
    if (j === 0) {
      const count = Math.min(COLUMN_BLOCK, width - u);
      columns(a, nOld, width, u, count, blockA);
      columns(b, nNew, width, u, count, blockB);
    }
    const ca = blockA.subarray(j * nOld, (j + 1) * nOld);
    const cb = blockB.subarray(j * nNew, (j + 1) * nNew);
    let range: [number, number] | undefined;
    if (mode === 'bin-cdf') {
      const [l1, h1] = histogramRange(ca);
      const [l2, h2] = histogramRange(cb);
      range = [Math.min(l1, l2), Math.max(h1, h2)];
    }
    const ha = histogramPmfSlice(ca, 0, nOld, bins, range);
    const hb = histogramPmfSlice(cb, 0, nNew, bins, range);
    for (let i = 0; i < bins; i++) {
      pa[i] = pa[i]! + ha[i]! / width;
      pb[i] = pb[i]! + hb[i]! / width;
    }
  }
  return mode === 'bin-cdf' ? wassersteinBinCdf(pa, pb) : wassersteinValueSort(pa, pb);
}

/**
 * ARM of `model` between `oldData` and `newData` (any sizes, labels optional).
 * @throws TrellisError `SHAPE_MISMATCH` / `CLASS_COUNT_MISMATCH` for data that do not match each other or the
 * model, `UNKNOWN_LAYER` / `BAD_OPTION` (an empty `layers` list) / `NO_TAPPABLE_LAYERS` for the taps,
 * `NON_FINITE_VALUES` when an activation is NaN/±Infinity, `BAD_BINS` / `BAD_OPTION` for the options,
 * `TOO_FEW_SAMPLES` for a single sample in a set with the default per-unit, value-sort reading.
 */
export async function arm(model: ModelAdapter, oldData: Dataset, newData: Dataset, options: ArmOptions = {}): Promise<ArmResult> {
  checkSameShape(oldData, newData, model);
  const { layers, postActivation } = resolveTaps(model, options.layers, model.numClasses);
  const ex = { layers, preprocess: options.preprocess, batchSize: options.batchSize ?? 32 };
  const ro = extractRepresentations(model, oldData, ex);
  const rn = extractRepresentations(model, newData, ex);
  return armFromRepresentations(ro.perLayer, ro.n, rn.perLayer, rn.n, layers, postActivation, options);
}

/**
 * ARM from already-extracted representations (lets one forward pass serve several variants).
 * @throws TrellisError `BAD_OPTION` for an empty `layers` list (the mean over no layer), `BAD_SHAPE` for
 * activations of the wrong size, `BAD_BINS` / `BAD_OPTION` for the options.
 */
export function armFromRepresentations(
  oldRep: Record<string, { values: Float32Array; width: number }>, nOld: number,
  newRep: Record<string, { values: Float32Array; width: number }>, nNew: number,
  layers: string[], postActivation: string[], options: Omit<ArmOptions, keyof TapOptions> = {},
): ArmResult {
  if (layers.length === 0) {
    throw new TrellisError('BAD_OPTION', 'ARM got an empty list of layers: its value, the mean over layers, is undefined', "pass at least one tapped layer (arm's layers: 'auto' picks them)");
  }
  const perLayer: Record<string, number> = {};
  let sum = 0;
  for (const l of layers) {
    const a = oldRep[l]!;
    const b = newRep[l]!;
    perLayer[l] = armLayerDistance(a.values, nOld, b.values, nNew, a.width, options);
    sum += perLayer[l]!;
  }
  return { value: sum / layers.length, perLayer, layers, postActivationLayers: postActivation };
}
