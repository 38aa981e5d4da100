import type { Rng } from '@trellis-ml/core';
import { TrellisError } from '@trellis-ml/core';

/** Height, width and channels of one image stored row-major as `[h, w, c]`. @internal */
export interface ImageDims {
  h: number;
  w: number;
  c: number;
}

/**
 * Reads an example shape as an image: `[h, w, c]`, `[h, w]` (one channel), or `[d]` with `d` a
 * perfect square (a flattened square one-channel image, e.g. `[784]` → 28 × 28).
 * @internal
 */
export function imageDims(shape: readonly number[]): ImageDims {
  const dims = parseImageShape(shape);
  if (dims) return dims;
  throw new TrellisError('BAD_IMAGE_SHAPE',
    `example shape [${shape.join(', ')}] is not an image shape`,
    'corruptions need images: shape [h, w, c], [h, w], or a flat [d] with d a perfect square (e.g. [784] = 28 × 28); reshape the dataset first',
    { shape: [...shape] });
}

/** {@link imageDims} without the error: `null` when the shape is not an image shape. */
function parseImageShape(shape: readonly number[]): ImageDims | null {
  const ok = shape.length > 0 && shape.every((d) => Number.isInteger(d) && d > 0);
  if (ok && shape.length === 3) return { h: shape[0]!, w: shape[1]!, c: shape[2]! };
  if (ok && shape.length === 2) return { h: shape[0]!, w: shape[1]!, c: 1 };
  if (ok && shape.length === 1) {
    const side = Math.round(Math.sqrt(shape[0]!));
    if (side * side === shape[0]) return { h: side, w: side, c: 1 };
  }
  return null;
}

/**
 * Whether the corruptions (and the `rotate` / `translate` shifts) can read an example shape as an
 * image: `[h, w, c]`, `[h, w]`, or a flat `[d]` with `d` a perfect square.
 */
export function isImageShape(shape: readonly number[]): boolean {
  return parseImageShape(shape) !== null;
}

/** Half-sample symmetric reflection of an index into [0, n) (`d c b a | a b c d | d c b a`). @internal */
export function reflectIndex(i: number, n: number): number {
  const period = 2 * n;
  let k = i % period;
  if (k < 0) k += period;
  return k < n ? k : period - 1 - k;
}

/** A normalised 1-D Gaussian kernel of the given radius (length 2·radius + 1). @internal */
export function gaussianKernel(sigma: number, radius: number): Float64Array {
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = sigma > 0 ? Math.exp(-(i * i) / (2 * sigma * sigma)) : i === 0 ? 1 : 0;
    k[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i] = k[i]! / sum;
  return k;
}

/**
 * Separable convolution of every channel with the same symmetric 1-D kernel along rows and columns,
 * half-sample symmetric ("reflect") boundary. Writes into `dst` (which may not alias `src`).
 * @internal
 */
export function convolveSeparable(src: ArrayLike<number>, dst: Float32Array | Float64Array, d: ImageDims, kernel: Float64Array): void {
  const { h, w, c } = d;
  const r = (kernel.length - 1) / 2;
  const tmp = new Float64Array(h * w * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let k = -r; k <= r; k++) s += kernel[k + r]! * src[(y * w + reflectIndex(x + k, w)) * c + ch]!;
        tmp[(y * w + x) * c + ch] = s;
      }
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let k = -r; k <= r; k++) s += kernel[k + r]! * tmp[(reflectIndex(y + k, h) * w + x) * c + ch]!;
        dst[(y * w + x) * c + ch] = s;
      }
    }
  }
}

/**
 * Bilinear sample of channel `ch` at the real position (y, x). Outside the image, pixels count as 0
 * (`'zero'`) or as the nearest edge pixel (`'clamp'`).
 * @internal
 */
export function bilinear(src: Float32Array, d: ImageDims, y: number, x: number, ch: number, fill: 'zero' | 'clamp'): number {
  const { h, w, c } = d;
  if (fill === 'clamp') {
    y = Math.min(Math.max(y, 0), h - 1);
    x = Math.min(Math.max(x, 0), w - 1);
  }
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const fy = y - y0;
  const fx = x - x0;
  const at = (yy: number, xx: number): number => (yy < 0 || yy >= h || xx < 0 || xx >= w ? 0 : src[(yy * w + xx) * c + ch]!);
  const top = fx === 0 ? at(y0, x0) : (1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1);
  if (fy === 0) return top;
  const bottom = fx === 0 ? at(y0 + 1, x0) : (1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1);
  return (1 - fy) * top + fy * bottom;
}

/**
 * Resamples every channel through an inverse map: output pixel (y, x) takes the bilinear sample at
 * `map(y, x)` of the source. `map` writes the source position into `out` as [y, x].
 * @internal
 */
export function warp(src: Float32Array, dst: Float32Array, d: ImageDims, map: (y: number, x: number, out: number[]) => void, fill: 'zero' | 'clamp'): void {
  const { h, w, c } = d;
  const p = [0, 0];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      map(y, x, p);
      for (let ch = 0; ch < c; ch++) dst[(y * w + x) * c + ch] = bilinear(src, d, p[0]!, p[1]!, ch, fill);
    }
  }
}

/**
 * A Poisson draw with the given mean by inversion of one uniform, so that one uniform is consumed
 * per call whatever the mean (draws at different means stay coupled). Means above 500 use the
 * normal approximation, inverting the same uniform (`rng.normal()` there took one to three more
 * draws and shifted every later value of the image).
 * @internal
 */
export function poisson(mean: number, rng: Rng): number {
  const u = rng.next();
  if (!(mean > 0)) return 0;
  // u + 2^-33: the middle of the uniform's 2^-32 cell, so that u = 0 is not −∞
  if (mean > 500) return Math.max(0, Math.round(mean + Math.sqrt(mean) * standardNormalQuantile(u + 2 ** -33)));
  let k = 0;
  let p = Math.exp(-mean);
  let cdf = p;
  while (u > cdf && p > 0) {
    k++;
    p *= mean / k;
    cdf += p;
  }
  return k;
}

const QA = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690, -30.66479806614716, 2.506628277459239];
const QB = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
const QC = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const QD = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];

/** Tail of {@link standardNormalQuantile}: `p` < 0.02425, q = √(−2 ln p). */
function normalTail(q: number): number {
  return (((((QC[0]! * q + QC[1]!) * q + QC[2]!) * q + QC[3]!) * q + QC[4]!) * q + QC[5]!) / ((((QD[0]! * q + QD[1]!) * q + QD[2]!) * q + QD[3]!) * q + 1);
}

/**
 * Φ⁻¹(p), the standard normal quantile, for p in (0, 1): Acklam's rational approximation (relative error
 * below 1.2e-9), central region |p − ½| ≤ 0.47575, tails from √(−2 ln p).
 * @internal
 */
export function standardNormalQuantile(p: number): number {
  if (p < 0.02425) return normalTail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -normalTail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((QA[0]! * r + QA[1]!) * r + QA[2]!) * r + QA[3]!) * r + QA[4]!) * r + QA[5]!) * q) /
    (((((QB[0]! * r + QB[1]!) * r + QB[2]!) * r + QB[3]!) * r + QB[4]!) * r + 1);
}

/**
 * A plasma fractal on a `(size + 1) × (size + 1)` grid (`size` a power of two) by midpoint
 * displacement (diamond-square): each level adds uniform noise whose amplitude shrinks by
 * `roughness`. Values are rescaled to [0, 1]. Consumes a fixed number of draws for a given size.
 * @internal
 */
export function plasmaFractal(size: number, rng: Rng, roughness = 0.5): Float64Array {
  const n = size + 1;
  const g = new Float64Array(n * n);
  g[0] = rng.uniform(-1, 1);
  g[size] = rng.uniform(-1, 1);
  g[size * n] = rng.uniform(-1, 1);
  g[size * n + size] = rng.uniform(-1, 1);
  let amp = 1;
  for (let step = size; step > 1; step /= 2) {
    const half = step / 2;
    for (let y = half; y < size; y += step) {
      for (let x = half; x < size; x += step) {
        const avg = (g[(y - half) * n + x - half]! + g[(y - half) * n + x + half]! + g[(y + half) * n + x - half]! + g[(y + half) * n + x + half]!) / 4;
        g[y * n + x] = avg + amp * rng.uniform(-1, 1);
      }
    }
    for (let y = 0; y <= size; y += half) {
      for (let x = (y / half) % 2 === 0 ? half : 0; x <= size; x += step) {
        let sum = 0;
        let cnt = 0;
        if (y - half >= 0) { sum += g[(y - half) * n + x]!; cnt++; }
        if (y + half <= size) { sum += g[(y + half) * n + x]!; cnt++; }
        if (x - half >= 0) { sum += g[y * n + x - half]!; cnt++; }
        if (x + half <= size) { sum += g[y * n + x + half]!; cnt++; }
        g[y * n + x] = sum / cnt + amp * rng.uniform(-1, 1);
      }
    }
    amp *= roughness;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of g) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi - lo || 1;
  for (let i = 0; i < g.length; i++) g[i] = (g[i]! - lo) / span;
  return g;
}

/** Named numeric parameters of one corruption at one intensity, e.g. `{ sigma: 0.1 }`. */
export type CorruptionParams = Readonly<Record<string, number>>;

/**
 * One per-image transform: reads the image `src`, writes the raw (not yet clipped) result into `dst`.
 * Every op consumes the same number of random draws for a given image size whatever its parameters,
 * so severities of one seed share their random numbers.
 * @internal
 */
export type ImageOp = (src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams, rng: Rng) => void;
