import { check, checkRunSeed, Dataset, largeFloat32Array, Rng, TrellisError } from '@trellis-ml/core';
import { imageDims, type CorruptionParams, type ImageOp } from './imageOps.js';
import {
  brightness, contrast, fog, gaussianBlur, gaussianNoise, impulseNoise, motionBlur, saltPepper, scipyBlur, shotNoise, speckleNoise,
} from './photometric.js';
import { elastic, invertRegion, occlude, pixelate, rotate, strokeThicken, strokeThin, translate, zoomOut } from './shifts.js';

export type { CorruptionParams } from './imageOps.js';

/**
 * Names of the registered corruptions and shifts. The first seventeen are the shift table of the
 * uda-calibration spec (§7.3); `gauss`, `salt_pepper`, `blur` and `fog` are the retrain-cost
 * families (§10.3); `clean` is the identity control.
 */
export type CorruptionName =
  | 'clean'
  | 'gaussian_noise' | 'shot_noise' | 'impulse_noise' | 'speckle_noise'
  | 'gaussian_blur' | 'motion_blur' | 'contrast' | 'brightness'
  | 'rotate' | 'translate' | 'zoom_out' | 'pixelate' | 'elastic'
  | 'stroke_thicken' | 'stroke_thin' | 'invert' | 'occlude'
  | 'gauss' | 'salt_pepper' | 'blur' | 'fog';

/** Severity level: 0 (unchanged) or 1 (mild) … 5 (strongest). */
export type Severity = 0 | 1 | 2 | 3 | 4 | 5;

/**
 * How corrupted values become the output:
 * - `'none'` (default): clip to [0, 1];
 * - `'round'`: clip to [0, 1], then round to the 8-bit grid (k / 255);
 * - `'wrap'`: cast to 8 bits the way the retrain-cost reference pipeline does, without clipping first:
 *   `((trunc(255·v) mod 256) + 256) mod 256 / 255`, so −0.1 becomes 231/255 and 1.1 becomes 24/255. As
 *   in that pipeline, `fog` (its frost) is clipped first, then cast (`trunc(255·v) / 255`).
 */
export type Quantize = 'none' | 'round' | 'wrap';

/** Options of the corruption functions. */
export interface CorruptionOptions {
  /** Output quantisation; default `'none'` (clip only). Every mode gives values in [0, 1]. */
  quantize?: Quantize;
}

/** Description of one registered corruption: what it does and its parameters at severities 1–5. */
export interface CorruptionInfo {
  /** Registry name. */
  readonly name: CorruptionName;
  /** The transform, in words and formula. */
  readonly transform: string;
  /** The spec table it comes from. */
  readonly source: 'uda-calibration' | 'retrain-cost' | 'control';
  /** In the uda-calibration core set used for headline averages. */
  readonly core: boolean;
  /** Parameters at severity 1…5 (index 0 is severity 1); empty for `clean`. */
  readonly severities: readonly CorruptionParams[];
}

interface Entry extends CorruptionInfo {
  readonly op: ImageOp | null;
  readonly required: readonly string[];
  /** Parameters it reads when given (checked like the required ones). */
  readonly optional?: readonly string[];
  /** `quantize: 'wrap'` clips this one before the 8-bit cast (the reference pipeline's frost, our fog). */
  readonly clipBeforeWrap?: boolean;
}

function levels<K extends string>(key: K, values: readonly number[]): CorruptionParams[] {
  return values.map((v) => Object.freeze({ [key]: v }));
}

function pairs<A extends string, B extends string>(a: A, b: B, values: ReadonlyArray<readonly [number, number]>): CorruptionParams[] {
  return values.map(([x, y]) => Object.freeze({ [a]: x, [b]: y }));
}

const STROKE_THICKEN: ReadonlyArray<readonly [number, number]> = [[1, 0.5], [1, 1], [2, 0.6], [2, 1], [3, 1]];
/**
 * The spec gives thinning the thickening table, but erosion with (r 2, a 0.6) changes digits less than
 * (r 1, a 1) (mean |Δ| 0.068 vs 0.081 on 200 MNIST test images), which breaks the spec's own
 * "non-decreasing in severity" invariant; severity 3 therefore uses a = 0.8.
 */
const STROKE_THIN: ReadonlyArray<readonly [number, number]> = [[1, 0.5], [1, 1], [2, 0.8], [2, 1], [3, 1]];

const ENTRIES: readonly Entry[] = [
  { name: 'clean', transform: 'identity (control)', source: 'control', core: false, severities: [], op: null, required: [] },
  { name: 'gaussian_noise', transform: 'x + N(0, σ²) per value', source: 'uda-calibration', core: true, severities: levels('sigma', [0.1, 0.18, 0.26, 0.38, 0.5]), op: gaussianNoise, required: ['sigma'] },
  { name: 'shot_noise', transform: 'Poisson(λ·x) / λ per value', source: 'uda-calibration', core: true, severities: levels('lambda', [60, 25, 12, 5, 3]), op: shotNoise, required: ['lambda'] },
  { name: 'impulse_noise', transform: 'a fraction p of pixels set to 0 or 1 (equal odds)', source: 'uda-calibration', core: true, severities: levels('p', [0.03, 0.06, 0.1, 0.17, 0.27]), op: impulseNoise, required: ['p'] },
  { name: 'speckle_noise', transform: 'x + x·N(0, σ²) per value', source: 'uda-calibration', core: false, severities: levels('sigma', [0.2, 0.35, 0.5, 0.7, 0.9]), op: speckleNoise, required: ['sigma'] },
  { name: 'gaussian_blur', transform: 'separable Gaussian, radius ⌈3σ⌉, reflect padding', source: 'uda-calibration', core: true, severities: levels('sigma', [0.7, 1.0, 1.3, 1.7, 2.2]), op: gaussianBlur, required: ['sigma'] },
  { name: 'motion_blur', transform: 'mean along a line of L px at a random angle in [−45°, 45°]', source: 'uda-calibration', core: false, severities: levels('length', [3, 5, 7, 9, 11]), op: motionBlur, required: ['length'] },
  { name: 'contrast', transform: '(x − mean(x))·c + mean(x) per image', source: 'uda-calibration', core: true, severities: levels('c', [0.5, 0.35, 0.25, 0.15, 0.08]), op: contrast, required: ['c'] },
  { name: 'brightness', transform: 'x + b', source: 'uda-calibration', core: false, severities: levels('b', [0.1, 0.2, 0.3, 0.4, 0.5]), op: brightness, required: ['b'] },
  { name: 'rotate', transform: 'bilinear rotation about the centre by ±degrees (random sign), zero fill', source: 'uda-calibration', core: true, severities: levels('degrees', [15, 30, 45, 60, 75]), op: rotate, required: ['degrees'] },
  { name: 'translate', transform: 'shift by s px in a random direction (rounded to whole pixels), zero fill', source: 'uda-calibration', core: false, severities: levels('pixels', [2, 3, 4, 5, 6]), op: translate, required: ['pixels'] },
  { name: 'zoom_out', transform: 'bilinear rescale about the centre by a scale < 1, zero fill', source: 'uda-calibration', core: false, severities: levels('scale', [0.85, 0.75, 0.65, 0.55, 0.45]), op: zoomOut, required: ['scale'] },
  { name: 'pixelate', transform: 'area-average to r×r cells, nearest-neighbour back to full size', source: 'uda-calibration', core: true, severities: levels('resolution', [20, 16, 12, 10, 8]), op: pixelate, required: ['resolution'] },
  { name: 'elastic', transform: 'displacement = α·Gaussian-smoothed (σ_s) uniform noise in [−1, 1], bilinear, zero fill', source: 'uda-calibration', core: false, severities: pairs('alpha', 'sigma', [[4, 4], [6, 4], [8, 3.5], [10, 3], [12, 3]]), op: elastic, required: ['alpha', 'sigma'] },
  { name: 'stroke_thicken', transform: '(1 − a)·x + a·dilate(x) with a disk of radius r', source: 'uda-calibration', core: false, severities: pairs('radius', 'amount', STROKE_THICKEN), op: strokeThicken, required: ['radius', 'amount'] },
  { name: 'stroke_thin', transform: '(1 − a)·x + a·erode(x) with a disk of radius r', source: 'uda-calibration', core: false, severities: pairs('radius', 'amount', STROKE_THIN), op: strokeThin, required: ['radius', 'amount'] },
  { name: 'invert', transform: 'x → 1 − x on a random axis-aligned rectangle covering a fraction f of the image', source: 'uda-calibration', core: true, severities: levels('fraction', [0.2, 0.4, 0.6, 0.8, 1.0]), op: invertRegion, required: ['fraction'] },
  { name: 'occlude', transform: 'zero a random square of side s px', source: 'uda-calibration', core: false, severities: levels('side', [6, 9, 12, 15, 18]), op: occlude, required: ['side'] },
  { name: 'gauss', transform: 'x + N(0, σ²) per value', source: 'retrain-cost', core: false, severities: levels('sigma', [0.1, 0.2, 0.35, 0.5, 0.8]), op: gaussianNoise, required: ['sigma'] },
  { name: 'salt_pepper', transform: 'two pixel masks of probability a/2 each: first → 0, second → 1 (wins)', source: 'retrain-cost', core: false, severities: levels('amount', [0.02, 0.05, 0.1, 0.2, 0.3]), op: saltPepper, required: ['amount'] },
  { name: 'blur', transform: 'SciPy-style Gaussian: radius ⌊4σ + 0.5⌋, reflect boundary', source: 'retrain-cost', core: false, severities: levels('sigma', [0.5, 0.8, 1.2, 1.6, 2.0]), op: scipyBlur, required: ['sigma'], optional: ['truncate'] },
  { name: 'fog', transform: 'c0·x + c1·F, F a random crop of a plasma fractal in [0, 1]', source: 'retrain-cost', core: false, severities: pairs('c0', 'c1', [[0.98, 0.2], [0.96, 0.22], [0.94, 0.24], [0.9, 0.26], [0.88, 0.27]]), op: fog, required: ['c0', 'c1'], clipBeforeWrap: true },
];

const BY_NAME = new Map<string, Entry>(ENTRIES.map((e) => [e.name, e]));

/** Every registered corruption by name: its transform, source spec and per-severity parameters. */
export const CORRUPTIONS: Readonly<Record<CorruptionName, CorruptionInfo>> = Object.freeze(
  Object.fromEntries(ENTRIES.map(({ name, transform, source, core, severities }) =>
    [name, Object.freeze({ name, transform, source, core, severities: Object.freeze([...severities]) })])) as Record<CorruptionName, CorruptionInfo>,
);

/** All registered names, `clean` first. */
export const CORRUPTION_NAMES: readonly CorruptionName[] = Object.freeze(ENTRIES.map((e) => e.name));

/** The uda-calibration core set used for headline averages. */
export const CORE_CORRUPTIONS: readonly CorruptionName[] = Object.freeze(ENTRIES.filter((e) => e.core).map((e) => e.name));

function entry(name: string): Entry {
  const e = BY_NAME.get(name);
  if (!e) {
    throw new TrellisError('UNKNOWN_CORRUPTION', `there is no corruption named ${JSON.stringify(name)}`,
      `use one of: ${CORRUPTION_NAMES.join(', ')}`, { name });
  }
  return e;
}

/** Ranges of the corruption parameters that would otherwise give NaN images or a raw RangeError (a noise rate of 0, a zoom scale of 0, a negative σ). */
const PARAM_RANGES: Readonly<Record<string, { ok: (v: number) => boolean; text: string }>> = {
  lambda: { ok: (v) => v > 0, text: 'above 0' },
  scale: { ok: (v) => v > 0, text: 'above 0' },
  sigma: { ok: (v) => v >= 0, text: '0 or more' },
  truncate: { ok: (v) => v >= 0, text: '0 or more' },
  p: { ok: (v) => v >= 0 && v <= 1, text: 'in [0, 1]' },
  amount: { ok: (v) => v >= 0 && v <= 1, text: 'in [0, 1]' },
  fraction: { ok: (v) => v >= 0 && v <= 1, text: 'in [0, 1]' },
};

/** The largest value a parameter takes, and why no image needs more. */
interface ParamBound {
  readonly max: number;
  readonly why: string;
}

const STROKE_RADIUS: ParamBound = { max: 320, why: 'a disk of radius 320 px covers all of a 224 × 224 image (diagonal 316 px) from every pixel' };

/**
 * Upper bounds of the parameters that size a kernel, a loop or an allocation (a σ of 1e9 was a raw RangeError,
 * a motion-blur length of 1e8 ran for seconds an image). Each is far beyond what a 28 × 28 to 224 × 224 image can
 * show; the work still grows with the parameter, up to seconds an image for a 224 × 224 × 3 image at the bound.
 */
const PARAM_BOUNDS: Readonly<Partial<Record<CorruptionName, Readonly<Record<string, ParamBound>>>>> = {
  gaussian_blur: { sigma: { max: 250, why: 'its kernel (radius ⌈3σ⌉ = 750 px at σ 250) spans a 224 × 224 image three times over' } },
  elastic: { sigma: { max: 250, why: 'the displacement field is smoothed by a kernel of radius ⌈3σ⌉ = 750 px at σ 250, three times the side of a 224 × 224 image' } },
  blur: {
    sigma: { max: 250, why: 'its kernel (radius ⌊4σ + 0.5⌋ = 1000 px at σ 250) spans a 224 × 224 image four times over' },
    truncate: { max: 10, why: 'kernel weights past 8.5σ are below 1e-16 of the centre weight (SciPy\'s default is 4)' },
  },
  motion_blur: { length: { max: 1000, why: 'a line of 1000 px is over four times the side of a 224 × 224 image' } },
  stroke_thicken: { radius: STROKE_RADIUS },
  stroke_thin: { radius: STROKE_RADIUS },
};

/** Throws `BAD_CORRUPTION_PARAMS` unless parameter `key` is a finite number in its range and within its bound. */
function checkParam(e: Entry, params: CorruptionParams, key: string): void {
  const value = params[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TrellisError('BAD_CORRUPTION_PARAMS', `corruption ${e.name} needs a finite number for "${key}", got ${JSON.stringify(value)}`,
      `pass parameters like ${JSON.stringify(e.severities[0])}`, { name: e.name, params });
  }
  const range = PARAM_RANGES[key];
  if (range && !range.ok(value)) {
    throw new TrellisError('BAD_CORRUPTION_PARAMS', `corruption ${e.name}: "${key}" ${value} is not ${range.text}`,
      `pass parameters like ${JSON.stringify(e.severities[0])}`, { name: e.name, params });
  }
  const bound = PARAM_BOUNDS[e.name]?.[key];
  if (bound && value > bound.max) {
    throw new TrellisError('BAD_CORRUPTION_PARAMS', `corruption ${e.name}: "${key}" ${value} is above ${bound.max}, the largest it takes: ${bound.why}`,
      `pass "${key}" ${bound.max} or less (parameters like ${JSON.stringify(e.severities[0])})`, { name: e.name, params, max: bound.max });
  }
}

function checkSeverity(severity: number): asserts severity is Severity {
  if (!(Number.isInteger(severity) && severity >= 0 && severity <= 5)) {
    throw new TrellisError('BAD_SEVERITY', `severity ${String(severity)} is not one of 0, 1, 2, 3, 4, 5`,
      'pass 0 (unchanged) or 1 (mild) to 5 (strongest)', { severity });
  }
}

/** Validates the images: a whole number of images of `shape`, every value in [0, 1]. */
function checkImages(x: Float32Array, shape: readonly number[]): ReturnType<typeof imageDims> {
  check(Object.prototype.toString.call(x) === '[object Float32Array]', 'BAD_IMAGES',
    () => `the images are ${x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x === 'object' ? `a value of type ${Object.prototype.toString.call(x).slice(8, -1)}` : typeof x}, not a Float32Array`,
    'pass the images as a Float32Array of values in [0, 1] (Float32Array.from(values)), or a Dataset to corrupt()');
  check(Array.isArray(shape) || ArrayBuffer.isView(shape), 'BAD_IMAGE_SHAPE', () => `the image shape is ${shape === null ? 'null' : typeof shape}, not an array`,
    'pass the shape of one image, e.g. [28, 28, 1]');
  const d = imageDims(shape);
  const per = d.h * d.w * d.c;
  if (x.length === 0 || x.length % per !== 0) {
    throw new TrellisError('BAD_SHAPE', `${x.length} values are not a whole number of [${d.h}, ${d.w}, ${d.c}] images (${per} values each)`,
      'pass the example shape that matches the data', { length: x.length, shape: [...shape] });
  }
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (!(v >= 0 && v <= 1)) {
      throw new TrellisError('IMAGE_OUT_OF_RANGE',
        `value ${v} of image ${Math.floor(i / per)} is outside [0, 1]; the corruptions are defined on images scaled to [0, 1]`,
        'corrupt the images before normalising them (the Trellis loaders return [0, 1]), or divide 0-255 pixels by 255 first',
        { index: i, value: v });
    }
  }
  return d;
}

function finish(out: Float32Array, quantize: Quantize, clipBeforeWrap: boolean): void {
  for (let i = 0; i < out.length; i++) {
    const v = out[i]!;
    if (quantize === 'wrap' && !clipBeforeWrap) {
      const byte = ((Math.trunc(255 * v) % 256) + 256) % 256;
      out[i] = byte / 255;
    } else {
      const clipped = v < 0 ? 0 : v > 1 ? 1 : v;
      // 'wrap' after clipping: the same 8-bit cast (truncation), which can no longer wrap
      out[i] = quantize === 'round' ? Math.round(clipped * 255) / 255 : quantize === 'wrap' ? Math.trunc(clipped * 255) / 255 : clipped;
    }
  }
}

function run(x: Float32Array, shape: readonly number[], e: Entry, params: CorruptionParams, rng: Rng, options: CorruptionOptions): Float32Array {
  check(typeof (rng as { next?: unknown } | null)?.next === 'function', 'BAD_RNG',
    () => `the random generator argument is ${rng === null ? 'null' : typeof rng}, not an Rng`,
    "pass a seeded generator from @trellis-ml/core, e.g. new Rng(1), or use corrupt(dataset, name, severity, seed)");
  check(typeof options === 'object' && options !== null, 'BAD_OPTIONS', () => `the options argument is ${options === null ? 'null' : typeof options}, not an object`,
    "pass { quantize: 'none' | 'round' | 'wrap' }, or leave it out");
  check(typeof params === 'object' && params !== null, 'BAD_CORRUPTION_PARAMS', () => `corruption ${e.name}: the parameters are ${params === null ? 'null' : typeof params}, not an object`,
    `pass parameters like ${JSON.stringify(e.severities[0] ?? {})}`, { name: e.name });
  const quantize = options.quantize ?? 'none';
  if (quantize !== 'none' && quantize !== 'round' && quantize !== 'wrap') {
    throw new TrellisError('BAD_QUANTIZE', `quantize ${JSON.stringify(quantize)} is not 'none', 'round' or 'wrap'`, "pass quantize: 'none' (default), 'round' or 'wrap'");
  }
  const d = checkImages(x, shape);
  if (!e.op) return x.slice();
  for (const key of e.required) checkParam(e, params, key);
  for (const key of e.optional ?? []) if (params[key] !== undefined) checkParam(e, params, key);
  const per = d.h * d.w * d.c;
  const out = largeFloat32Array(x.length);
  for (let i = 0; i < x.length / per; i++) e.op(x.subarray(i * per, (i + 1) * per), out.subarray(i * per, (i + 1) * per), d, params, rng);
  // a backstop for parameters no range above excludes: the outputs are promised in [0, 1]
  for (let i = 0; i < out.length; i++) {
    if (Number.isNaN(out[i]!)) {
      throw new TrellisError('BAD_CORRUPTION_PARAMS', `corruption ${e.name} with ${JSON.stringify(params)} gives NaN values (image ${Math.floor(i / per)})`,
        `pass parameters like ${JSON.stringify(e.severities[0])}`, { name: e.name, params });
    }
  }
  finish(out, quantize, e.clipBeforeWrap === true);
  return out;
}

/**
 * Applies a registered corruption at a severity to a batch of images and returns new values.
 *
 * `x` holds `n` images of `shape` (`[h, w, c]`, `[h, w]`, or a flat square `[d]` such as `[784]`),
 * row-major, values in [0, 1]. Severity 0, or the `clean` control, returns an unchanged copy.
 * Outputs are clipped to [0, 1] (see {@link CorruptionOptions.quantize}). All randomness (noise,
 * angles, positions) comes from `rng`, consumed image by image, so the same generator state gives
 * identical output; each corruption draws the same random numbers at every severity.
 *
 * @param x Images in [0, 1].
 * @param shape Shape of one image.
 * @param name A name from {@link CORRUPTIONS}.
 * @param severity 0 (unchanged) to 5.
 * @param rng The seeded generator to draw from (advanced by the call).
 */
export function corruptImages(x: Float32Array, shape: readonly number[], name: CorruptionName, severity: Severity, rng: Rng, options: CorruptionOptions = {}): Float32Array {
  const e = entry(name);
  checkSeverity(severity);
  if (severity === 0 || !e.op) {
    checkImages(x, shape);
    return x.slice();
  }
  return run(x, shape, e, e.severities[severity - 1]!, rng, options);
}

/**
 * Like {@link corruptImages}, with explicit parameters instead of a severity, for intensities outside
 * the table (e.g. `applyCorruption(x, [28, 28, 1], 'gauss', { sigma: 0.05 }, rng)`). The parameter
 * names are those of `CORRUPTIONS[name].severities`; `blur` also takes SciPy's `truncate` (default 4).
 * Throws `BAD_CORRUPTION_PARAMS` for a parameter that is not finite or out of its range (`lambda`,
 * `scale` > 0; `sigma`, `truncate` ≥ 0; `p`, `amount`, `fraction` in [0, 1]), or above the bound of a
 * parameter that sizes a kernel or a loop: `sigma` ≤ 250 for `gaussian_blur`, `blur` and `elastic`
 * (kernels of radius 750–1000 px, several times the side of a 224 × 224 image), `truncate` ≤ 10,
 * `length` ≤ 1000 for `motion_blur`, and `radius` ≤ 320 for `stroke_thicken` / `stroke_thin` (a disk
 * that covers a 224 × 224 image from every pixel). The work grows with these parameters: near the
 * bounds a 224 × 224 × 3 image takes seconds.
 */
export function applyCorruption(x: Float32Array, shape: readonly number[], name: CorruptionName, params: CorruptionParams, rng: Rng, options: CorruptionOptions = {}): Float32Array {
  return run(x, shape, entry(name), params, rng, options);
}

/**
 * A corrupted copy of an image dataset: same labels, groups, order and shape; inputs corrupted by
 * {@link corruptImages} with a generator derived from `seed` and the corruption name (not the
 * severity, so severities of one seed share their random numbers). Same seed → identical output.
 * The seed must be a whole number (`BAD_SEED`: 1.5 would act as 1) from 0 to 2^32 − 1
 * (core's `MAX_SEED`: the generator keeps the low 32 bits, so 2^32 would corrupt exactly as 0).
 *
 * @example
 * ```ts
 * const test = loadMnist({ split: 'test' });
 * const noisy = corrupt(test, 'gaussian_noise', 3, 42);
 * ```
 */
export function corrupt(dataset: Dataset, name: CorruptionName, severity: Severity, seed: number, options: CorruptionOptions = {}): Dataset {
  const ds = dataset as Partial<Dataset> | null | undefined;
  check(ds != null && typeof ds === 'object' && ds.x instanceof Float32Array && Array.isArray(ds.shape) && typeof ds.withInputs === 'function', 'BAD_DATASET',
    () => `corrupt needs a Dataset, but got ${dataset === null ? 'null' : ds instanceof Float32Array ? 'a Float32Array' : typeof dataset}`,
    'pass a Dataset (e.g. from loadMnist); for a Float32Array of images use corruptImages(x, shape, name, severity, rng)');
  check(!Number.isFinite(seed) || Number.isInteger(seed), 'BAD_SEED',
    () => `seed ${seed} is not a whole number: the generator keeps its integer part, so it would corrupt exactly as seed ${Math.trunc(seed)}`,
    'pass a whole-number seed, e.g. 1', { seed });
  checkRunSeed(seed, `corrupt's seed ${seed}`);
  const x = corruptImages(dataset.x, dataset.shape, name, severity, Rng.derive(seed, 'corruption', name), options);
  return dataset.withInputs(x, [...dataset.shape]);
}
