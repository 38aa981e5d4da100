/**
 * @trellis-ml/distill — teacher-free soft labels from a compact autoencoder (ReffAKD) and the
 * logit-KD baselines (KD, DKD, DIST, logit standardisation, label smoothing, Tf-KD), as pure
 * functions and Trainer plugins, with cost accounting and a small-scale reproduction.
 *
 * @packageDocumentation
 */
export * from './losses.js';
export * from './similarity.js';
export * from './cost.js';
export * from './diagnostics.js';
export * from './autoencoder.js';
export * from './models.js';
export * from './imageResize.js';
export * from './generators.js';
export * from './plugin.js';
export { experiment } from './experiment.js';
