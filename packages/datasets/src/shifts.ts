import type { Rng } from '@trellis-ml/core';
import { convolveSeparable, gaussianKernel, warp, type CorruptionParams, type ImageDims } from './imageOps.js';

// Per-image geometric and structural shifts. Each writes raw values into dst; the caller clips/quantises.

/** Rotation about the image centre by ±degrees (random sign), bilinear, zero fill. @internal */
export function rotate(src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams, rng: Rng): void {
  const sign = rng.next() < 0.5 ? -1 : 1;
  const theta = (sign * p.degrees! * Math.PI) / 180;
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const cy = (d.h - 1) / 2;
  const cx = (d.w - 1) / 2;
  warp(src, dst, d, (y, x, out) => {
    const dy = y - cy;
    const dx = x - cx;
    out[0] = cy - dx * sin + dy * cos;
    out[1] = cx + dx * cos + dy * sin;
  }, 'zero');
}

/**
 * Translation by `pixels` in a random direction φ (uniform): the image moves by
 * (round(s·sin φ), round(s·cos φ)) whole pixels, so it stays sharp; zero fill.
 * @internal
 */
export function translate(src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams, rng: Rng): void {
  const phi = rng.uniform(0, 2 * Math.PI);
  const sy = Math.round(p.pixels! * Math.sin(phi));
  const sx = Math.round(p.pixels! * Math.cos(phi));
  const { h, w, c } = d;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const yy = y - sy;
      const xx = x - sx;
      const inside = yy >= 0 && yy < h && xx >= 0 && xx < w;
      for (let ch = 0; ch < c; ch++) dst[(y * w + x) * c + ch] = inside ? src[(yy * w + xx) * c + ch]! : 0;
    }
  }
}

/** Zoom out: bilinear rescale by `scale` (< 1 shrinks) about the centre, zero fill. @internal */
export function zoomOut(src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams): void {
  const scale = p.scale!;
  const cy = (d.h - 1) / 2;
  const cx = (d.w - 1) / 2;
  warp(src, dst, d, (y, x, out) => {
    out[0] = cy + (y - cy) / scale;
    out[1] = cx + (x - cx) / scale;
  }, 'zero');
}

/** Area weights of resampling n pixels into m equal cells: weights[i] lists [pixel, weight] pairs of cell i. */
function areaWeights(n: number, m: number): Array<Array<[number, number]>> {
  const cells: Array<Array<[number, number]>> = [];
  const width = n / m;
  for (let i = 0; i < m; i++) {
    const lo = i * width;
    const hi = (i + 1) * width;
    const list: Array<[number, number]> = [];
    for (let px = Math.floor(lo); px < Math.ceil(hi) && px < n; px++) {
      const overlap = Math.min(hi, px + 1) - Math.max(lo, px);
      if (overlap > 1e-12) list.push([px, overlap / width]);
    }
    cells.push(list);
  }
  return cells;
}

/**
 * Pixelate: area-average down to r × r cells, then nearest-neighbour back up. `resolution` is given
 * for 28 × 28 images; other sizes scale it proportionally.
 * @internal
 */
export function pixelate(src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams): void {
  const { h, w, c } = d;
  const rh = Math.min(h, Math.max(1, Math.round((p.resolution! * h) / 28)));
  const rw = Math.min(w, Math.max(1, Math.round((p.resolution! * w) / 28)));
  const wy = areaWeights(h, rh);
  const wx = areaWeights(w, rw);
  const cells = new Float64Array(rh * rw * c);
  for (let i = 0; i < rh; i++) {
    for (let j = 0; j < rw; j++) {
      for (const [py, ay] of wy[i]!) {
        for (const [px, ax] of wx[j]!) {
          for (let ch = 0; ch < c; ch++) cells[(i * rw + j) * c + ch] = cells[(i * rw + j) * c + ch]! + ay * ax * src[(py * w + px) * c + ch]!;
        }
      }
    }
  }
  for (let y = 0; y < h; y++) {
    const i = Math.min(rh - 1, Math.floor(((y + 0.5) * rh) / h));
    for (let x = 0; x < w; x++) {
      const j = Math.min(rw - 1, Math.floor(((x + 0.5) * rw) / w));
      for (let ch = 0; ch < c; ch++) dst[(y * w + x) * c + ch] = cells[(i * rw + j) * c + ch]!;
    }
  }
}

/**
 * Elastic distortion: a displacement field of uniform noise in [−1, 1] per pixel and axis, smoothed by
 * a Gaussian of σ_s (radius ⌈3σ_s⌉, reflect) and scaled by α; bilinear resampling, zero fill.
 * @internal
 */
export function elastic(src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams, rng: Rng): void {
  const { h, w } = d;
  const plane = { h, w, c: 1 };
  const raw = new Float64Array(h * w);
  const kernel = gaussianKernel(p.sigma!, Math.ceil(3 * p.sigma!));
  const fields: Float64Array[] = [];
  for (let axis = 0; axis < 2; axis++) {
    for (let i = 0; i < raw.length; i++) raw[i] = rng.uniform(-1, 1);
    const smooth = new Float64Array(h * w);
    convolveSeparable(raw, smooth, plane, kernel);
    fields.push(smooth);
  }
  const alpha = p.alpha!;
  const [fy, fx] = fields as [Float64Array, Float64Array];
  warp(src, dst, d, (y, x, out) => {
    out[0] = y + alpha * fy[y * w + x]!;
    out[1] = x + alpha * fx[y * w + x]!;
  }, 'zero');
}

/**
 * Grayscale dilation (max) or erosion (min) over a disk of the given radius, in-image neighbours only.
 * Offsets of h or more rows (w or more columns) never land in the image, so they are not listed: a disk
 * wider than the image costs no more than one that just covers it, with the same values.
 */
function morph(src: Float32Array, d: ImageDims, radius: number, op: 'dilate' | 'erode'): Float32Array {
  const { h, w, c } = d;
  const offsets: Array<[number, number]> = [];
  const r = Math.max(0, Math.floor(radius));
  const ry = Math.min(r, h - 1);
  const rx = Math.min(r, w - 1);
  for (let dy = -ry; dy <= ry; dy++) for (let dx = -rx; dx <= rx; dx++) if (dy * dy + dx * dx <= radius * radius) offsets.push([dy, dx]);
  const out = new Float32Array(src.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let v = op === 'dilate' ? -Infinity : Infinity;
        for (const [dy, dx] of offsets) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
          const s = src[(yy * w + xx) * c + ch]!;
          v = op === 'dilate' ? Math.max(v, s) : Math.min(v, s);
        }
        out[(y * w + x) * c + ch] = v;
      }
    }
  }
  return out;
}

/** Thicker strokes: `(1 − a)·x + a·dilate(x)` with a disk of radius r. @internal */
export function strokeThicken(src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams): void {
  const m = morph(src, d, p.radius!, 'dilate');
  const a = p.amount!;
  for (let i = 0; i < src.length; i++) dst[i] = (1 - a) * src[i]! + a * m[i]!;
}

/** Thinner strokes: `(1 − a)·x + a·erode(x)` with a disk of radius r. @internal */
export function strokeThin(src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams): void {
  const m = morph(src, d, p.radius!, 'erode');
  const a = p.amount!;
  for (let i = 0; i < src.length; i++) dst[i] = (1 - a) * src[i]! + a * m[i]!;
}

/**
 * Inversion of a random axis-aligned rectangle covering a fraction f of the image (`x → 1 − x`):
 * width uniform in [⌈f·h·w/h⌉, w], height ≈ f·h·w / width, position uniform. f = 1 inverts the
 * whole image.
 * @internal
 */
export function invertRegion(src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams, rng: Rng): void {
  const { h, w, c } = d;
  const u1 = rng.next();
  const u2 = rng.next();
  const u3 = rng.next();
  dst.set(src);
  const f = Math.min(1, p.fraction!);
  if (!(f > 0)) return;
  const area = f * h * w;
  const minW = Math.min(w, Math.max(1, Math.ceil(area / h - 1e-9)));
  const rw = minW + Math.floor(u1 * (w - minW + 1));
  const rh = Math.min(h, Math.max(1, Math.round(area / rw)));
  const y0 = Math.floor(u2 * (h - rh + 1));
  const x0 = Math.floor(u3 * (w - rw + 1));
  for (let y = y0; y < y0 + rh; y++) {
    for (let x = x0; x < x0 + rw; x++) {
      for (let ch = 0; ch < c; ch++) dst[(y * w + x) * c + ch] = 1 - src[(y * w + x) * c + ch]!;
    }
  }
}

/** Occlusion: zero a random square of side s (inside the image). @internal */
export function occlude(src: Float32Array, dst: Float32Array, d: ImageDims, p: CorruptionParams, rng: Rng): void {
  const { h, w, c } = d;
  const u1 = rng.next();
  const u2 = rng.next();
  dst.set(src);
  const s = Math.min(h, w, Math.max(0, Math.round(p.side!)));
  if (s === 0) return;
  const y0 = Math.floor(u1 * (h - s + 1));
  const x0 = Math.floor(u2 * (w - s + 1));
  for (let y = y0; y < y0 + s; y++) for (let x = x0; x < x0 + s; x++) for (let ch = 0; ch < c; ch++) dst[(y * w + x) * c + ch] = 0;
}
