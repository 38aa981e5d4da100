import type { Rng } from '@trellis-ml/core';
import { convolveSeparable, gaussianKernel, plasmaFractal, poisson, bilinear, type CorruptionParams, type ImageDims } from './imageOps.js';

// Per-image noise, blur and intensity transforms. Each writes raw values; the caller clips/quantises.

/** Additive Gaussian noise `x + σ·ε`, one normal draw per value. @internal */
export function gaussianNoise(src: Float32Array, dst: Float32Array, _d: ImageDims, p: CorruptionParams, rng: Rng): void {
  const sigma = p.sigma!;
  for (let i = 0; i < src.length; i++) dst[i] = src[i]! + sigma * rng.normal();
}

/** Shot noise `Poisson(λx)/λ`, one uniform per value. @internal */
export function shotNoise(src: Float32Array, dst: Float32Array, _d: ImageDims, p: CorruptionParams, rng: Rng): void {
  const lambda = p.lambda!;
  for (let i = 0; i < src.length; i++) dst[i] = poisson(lambda * src[i]!, rng) / lambda;
}

/** Impulse noise: each pixel, with probability p, becomes 0 or 1 (equal odds) in every channel. @internal */
export function impulseNoise(src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams, rng: Rng): void {
  const prob = p.p!;
  const { c } = d;
  for (let px = 0; px < src.length / c; px++) {
    const hit = rng.next() < prob;
    const value = rng.next() < 0.5 ? 0 : 1;
    for (let ch = 0; ch < c; ch++) dst[px * c + ch] = hit ? value : src[px * c + ch]!;
  }
}

/** Speckle noise `x + x·σ·ε`. @internal */
export function speckleNoise(src: Float32Array, dst: Float32Array, _d: ImageDims, p: CorruptionParams, rng: Rng): void {
  const sigma = p.sigma!;
  for (let i = 0; i < src.length; i++) dst[i] = src[i]! * (1 + sigma * rng.normal());
}

/**
 * Salt and pepper (retrain-cost reference): two independent masks over pixels, each with probability
 * amount/2; the first sets 0, the second sets 1 and wins on overlap; one mask for all channels.
 * @internal
 */
export function saltPepper(src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams, rng: Rng): void {
  const half = p.amount! / 2;
  const { c } = d;
  for (let px = 0; px < src.length / c; px++) {
    const pepper = rng.next() < half;
    const salt = rng.next() < half;
    for (let ch = 0; ch < c; ch++) dst[px * c + ch] = salt ? 1 : pepper ? 0 : src[px * c + ch]!;
  }
}

/** Gaussian blur, separable, reflect boundary, radius ⌈3σ⌉ (uda-calibration table). @internal */
export function gaussianBlur(src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams): void {
  const sigma = p.sigma!;
  convolveSeparable(src, dst, d, gaussianKernel(sigma, Math.ceil(3 * sigma)));
}

/** Gaussian blur with SciPy's kernel size: radius ⌊truncate·σ + 0.5⌋ (truncate 4), reflect boundary. @internal */
export function scipyBlur(src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams): void {
  const sigma = p.sigma!;
  const truncate = p.truncate ?? 4;
  convolveSeparable(src, dst, d, gaussianKernel(sigma, Math.floor(truncate * sigma + 0.5)));
}

/**
 * Motion blur: the mean of L bilinear samples spaced one pixel apart on a line through the pixel at a
 * random angle in [−45°, 45°] (edge pixels repeat beyond the border).
 * @internal
 */
export function motionBlur(src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams, rng: Rng): void {
  const length = Math.max(1, Math.round(p.length!));
  const angle = rng.uniform(-Math.PI / 4, Math.PI / 4);
  const dx = Math.cos(angle);
  const dy = Math.sin(angle);
  const { h, w, c } = d;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let k = 0; k < length; k++) {
          const t = k - (length - 1) / 2;
          s += bilinear(src, d, y + t * dy, x + t * dx, ch, 'clamp');
        }
        dst[(y * w + x) * c + ch] = s / length;
      }
    }
  }
}

/** Contrast `(x − mean)·c + mean`, mean over the whole image. @internal */
export function contrast(src: Float32Array, dst: Float32Array, _d: ImageDims, p: CorruptionParams): void {
  const factor = p.c!;
  let mean = 0;
  for (let i = 0; i < src.length; i++) mean += src[i]!;
  mean /= src.length;
  for (let i = 0; i < src.length; i++) dst[i] = (src[i]! - mean) * factor + mean;
}

/** Brightness `x + b`. @internal */
export function brightness(src: Float32Array, dst: Float32Array, _d: ImageDims, p: CorruptionParams): void {
  const b = p.b!;
  for (let i = 0; i < src.length; i++) dst[i] = src[i]! + b;
}

/**
 * Fog: `c0·x + c1·F` with F a random crop of a plasma fractal in [0, 1] (the same overlay on every
 * channel).
 * @internal
 */
export function fog(src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams, rng: Rng): void {
  const { h, w, c } = d;
  let size = 1;
  while (size < Math.max(h, w)) size *= 2;
  const field = plasmaFractal(size, rng);
  const n = size + 1;
  const oy = rng.int(n - h + 1);
  const ox = rng.int(n - w + 1);
  const c0 = p.c0!;
  const c1 = p.c1!;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const f = field[(oy + y) * n + ox + x]!;
      for (let ch = 0; ch < c; ch++) dst[(y * w + x) * c + ch] = c0 * src[(y * w + x) * c + ch]! + c1 * f;
    }
  }
}
