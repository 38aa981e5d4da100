/**
 * @trellis-ml/uda-calibration — adapt a classifier to an unlabeled shifted domain without becoming
 * over-certain: certainty distillation (Dynamic Entropy Control) next to TENT, ETA/EATA, SHOT-IM / SHOT, T3A, PL,
 * BN re-estimation and temperature scaling (and the optional CoTTA and MEMO), with whole-set calibration metrics.
 */
export * from './calibration.js';
export * from './temperatureScaling.js';
export * from './certainty.js';
export * from './objectives.js';
export * from './augmentation.js';
export * from './cotta.js';
export * from './shotClustering.js';
export * from './learningRateSchedule.js';
export * from './models.js';
export * from './plugin.js';
export * from './adaptation.js';
export * from './t3a.js';
export * from './transCal.js';
export * from './transCalModel.js';
export type { T3ASettings } from './t3aAdapter.js';
export * from './experiment.js';
