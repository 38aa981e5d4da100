import { Dataset, Rng } from '@trellis-ml/core';
import type { AugmentationOptions } from '../src/index.js';

/** Width and classes of {@link shiftedFeatures}. */
export const FEATURE_DIM = 6;
export const FEATURE_CLASSES = 3;

/**
 * A seeded 3-class, 6-feature problem (class-dependent means plus noise); `shift` moves every feature
 * by `shift · (j + 1) · 0.3`, a covariate shift for the adaptation tests.
 */
export function shiftedFeatures(n: number, seed: number, shift: number): Dataset {
  const D = FEATURE_DIM;
  const K = FEATURE_CLASSES;
  const rng = new Rng(seed);
  const x = new Float32Array(n * D);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = rng.int(K);
    labels[i] = y;
    for (let j = 0; j < D; j++) x[i * D + j] = (j % K === y ? 1.5 : 0) + rng.normal() * 0.7 + shift * (j + 1) * 0.3;
  }
  return Dataset.fromArrays({ x, shape: [D], labels, numClasses: K });
}

/** Noise-only augmentation for the feature-vector fixture (CoTTA and MEMO's rotation and shift need images). */
export const NOISE_AUGMENTATION: AugmentationOptions = { maxRotationDegrees: 0, maxShiftPixels: 0, noiseStd: 0.3, clipRange: null };
