/**
 * Test-time augmentations for CoTTA's augmentation-averaged teacher and MEMO's marginal, made for
 * small grayscale images such as 28 × 28 MNIST digits (the reference repositories' augmentations
 * are for CIFAR / ImageNet colour photographs: colour jitter, horizontal flips and AugMix do not fit
 * digits). Per image, in this order: a rotation by an angle uniform in ±`maxRotationDegrees`
 * (bilinear, zero fill), a whole-pixel shift by a distance uniform in [0, `maxShiftPixels`] in a
 * uniformly random direction (zero fill) — both through `@trellis-ml/datasets`' `rotate` and
 * `translate` shifts — then Gaussian pixel noise of standard deviation `noiseStd`, clipped to
 * `clipRange`. Every draw comes from the caller's seeded `Rng`.
 */
import { check, type Rng } from '@trellis-ml/core';
import { applyCorruption, isImageShape } from '@trellis-ml/datasets';

/** Settings of {@link augmentImages} (defaults in brackets). */
export interface AugmentationOptions {
  /** Largest rotation in degrees; the angle is uniform in ±this [10]. 0 disables rotation. */
  maxRotationDegrees?: number;
  /** Largest shift in pixels; the distance is uniform in [0, this], rounded per axis [2]. 0 disables shifts. */
  maxShiftPixels?: number;
  /** Standard deviation of the additive Gaussian pixel noise [0.02]. 0 disables noise. */
  noiseStd?: number;
  /**
   * Range the noisy values are clipped to [`[0, 1]`, the image range]; `null` leaves them unclipped
   * (for inputs that are not images scaled to [0, 1]; rotation and shift need such images).
   */
  clipRange?: [number, number] | null;
}

/** {@link AugmentationOptions} with every default filled in. */
export interface ResolvedAugmentation {
  maxRotationDegrees: number;
  maxShiftPixels: number;
  noiseStd: number;
  clipRange: [number, number] | null;
}

/** The defaults of {@link AugmentationOptions}: ±10°, up to 2 px, noise σ 0.02, clipped to [0, 1]. */
export const DEFAULT_AUGMENTATION: Readonly<ResolvedAugmentation> = Object.freeze({ maxRotationDegrees: 10, maxShiftPixels: 2, noiseStd: 0.02, clipRange: [0, 1] as [number, number] });

/**
 * Fills in the defaults and checks the settings against the model's example shape (`null`: the
 * settings alone, before the model is known). Throws
 * `BAD_AUGMENTATION` for a negative or non-finite setting (or a rotation above 180°, a clip range
 * whose low end is above its high end), `AUGMENTATION_NEEDS_IMAGES` when a rotation or shift is asked
 * for on examples that are not images.
 */
export function resolveAugmentation(options: AugmentationOptions | undefined, exampleShape: readonly number[] | null, method: string): ResolvedAugmentation {
  check(options === undefined || (typeof options === 'object' && options !== null), 'BAD_AUGMENTATION', () => `${method}'s augmentation is ${String(options)}, not an options object`,
    'pass e.g. augmentation: { maxRotationDegrees: 10, maxShiftPixels: 2, noiseStd: 0.02 }, or leave it out for the defaults');
  // a misspelt key would leave the default it meant to change in force
  // (own keys only: `in` also found Object.prototype's, so `constructor` passed as a setting)
  const unknown = Object.keys(options ?? {}).filter((k) => !Object.hasOwn(DEFAULT_AUGMENTATION, k));
  check(unknown.length === 0, 'BAD_AUGMENTATION', `${method}'s augmentation has no setting ${unknown.map((k) => `"${k}"`).join(', ')}`,
    `use ${Object.keys(DEFAULT_AUGMENTATION).join(', ')}`);
  const out: ResolvedAugmentation = { ...DEFAULT_AUGMENTATION, ...(options ?? {}) };
  const bad = (v: number, max = Infinity) => !(typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= max);
  check(!bad(out.maxRotationDegrees, 180) && !bad(out.maxShiftPixels) && !bad(out.noiseStd), 'BAD_AUGMENTATION',
    `${method}'s augmentation needs finite settings ≥ 0 (rotation ≤ 180°), got rotation ${out.maxRotationDegrees}°, shift ${out.maxShiftPixels} px, noise σ ${out.noiseStd}`,
    'pass e.g. augmentation: { maxRotationDegrees: 10, maxShiftPixels: 2, noiseStd: 0.02 } (the defaults), or 0 to switch one off');
  const c = out.clipRange;
  check(c === null || (Array.isArray(c) && c.length === 2 && Number.isFinite(c[0]) && Number.isFinite(c[1]) && c[0] <= c[1]), 'BAD_AUGMENTATION',
    `${method}'s augmentation clipRange must be [low, high] with low ≤ high, or null, got ${JSON.stringify(c)}`, 'pass clipRange: [0, 1] for images scaled to [0, 1], or null for no clipping');
  const geometric = out.maxRotationDegrees > 0 || out.maxShiftPixels > 0;
  check(!geometric || exampleShape === null || isImageShape(exampleShape), 'AUGMENTATION_NEEDS_IMAGES',
    `${method} rotates and shifts its inputs, but examples of shape [${exampleShape?.join(', ')}] are not images`,
    'use image inputs ([h, w, c], [h, w] or a flat square such as [784]) scaled to [0, 1], or pass augmentation: { maxRotationDegrees: 0, maxShiftPixels: 0, clipRange: null } (noise only)');
  return out;
}

/**
 * `copies` augmented versions of each of the `n` examples in `x` (row-major, `exampleShape` each):
 * returns `n · copies` examples, copy-major (`[copy 0 of every example, copy 1 of every example, …]`),
 * each one drawn independently (its own angle, shift and noise) from `rng`, example by example.
 * Rotation and shift need images in [0, 1] (they throw `IMAGE_OUT_OF_RANGE` otherwise).
 */
export function augmentImages(x: Float32Array, exampleShape: readonly number[], n: number, copies: number, settings: ResolvedAugmentation, rng: Rng): Float32Array {
  const per = exampleShape.reduce((a, b) => a * b, 1);
  // a fractional or negative count gave a Float32Array length error or a silently short output
  check(Number.isInteger(copies) && copies >= 1, 'BAD_OPTION', `${copies} augmented copies is not a positive integer`, 'pass copies ≥ 1, e.g. CoTTA\'s nAug or MEMO\'s batch of augmentations');
  check(x.length === n * per, 'SHAPE_MISMATCH', `${x.length} values are not ${n} examples of shape [${exampleShape.join(', ')}]`, 'pass the batch\'s values, its example shape and its size');
  const out = new Float32Array(n * copies * per);
  for (let c = 0; c < copies; c++) {
    for (let i = 0; i < n; i++) {
      let img = x.subarray(i * per, (i + 1) * per);
      if (settings.maxRotationDegrees > 0) {
        // The datasets' rotate draws the sign; the magnitude is uniform in [0, max].
        img = applyCorruption(img, exampleShape, 'rotate', { degrees: rng.uniform(0, settings.maxRotationDegrees) }, rng);
      }
      if (settings.maxShiftPixels > 0) img = applyCorruption(img, exampleShape, 'translate', { pixels: rng.uniform(0, settings.maxShiftPixels) }, rng);
      const dst = out.subarray((c * n + i) * per, (c * n + i + 1) * per);
      const [lo, hi] = settings.clipRange ?? [-Infinity, Infinity];
      for (let j = 0; j < per; j++) {
        const v = settings.noiseStd > 0 ? img[j]! + settings.noiseStd * rng.normal() : img[j]!;
        dst[j] = v < lo ? lo : v > hi ? hi : v;
      }
    }
  }
  return out;
}
