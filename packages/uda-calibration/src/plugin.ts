/**
 * Test-time adaptation methods as core Trainer plugins, one module each (this file only gathers
 * them). Each adapts on an unlabeled target stream: run them in a `Trainer` with
 * `baseLoss: 'none'` on `target.withoutLabels()` (no plugin here ever reads `batch.y`; in a Trainer that
 * adds its base cross-entropy they throw `BASE_LOSS_ACTIVE`, which would train on target labels, and on a batch
 * that carries labels `TARGET_LABELS_PRESENT`, which another plugin could train on). One method per Trainer: a
 * second adaptation plugin throws `TTA_CONFLICT` at setup. Pair
 * TENT, ETA/EATA, SHOT-IM, pseudo-labelling or DEC with {@link onlinePredictions} to record the prediction
 * made on each batch before its update (the online TTA protocol). MEMO and CoTTA predict with something
 * other than the step's forward pass (the un-augmented points after the update; the EMA teacher): take their
 * predictions with their own `takePrediction()`.
 */
export { tent, type TentOptions } from './tentPlugin.js';
export { eta, type EtaOptions, type EtaState } from './etaPlugin.js';
export { checkLabelNormalization, checkShotBeta, shotIm, type ShotImControls, type ShotImOptions, type ShotImState, type ShotPseudoLabelMode } from './shotImPlugin.js';
export { pseudoLabel, type PseudoLabelOptions, type PseudoLabelState } from './pseudoLabelPlugin.js';
export {
  certaintyDistillation,
  type CertaintyDiagnostics,
  type CertaintyDistillationOptions,
  type CertaintyDistillationState,
  type TrainableSubset,
} from './certaintyDistillationPlugin.js';
export { cotta, type CottaAugmentationAverage, type CottaControls, type CottaOptions, type CottaState } from './cottaPlugin.js';
export { memo, type MemoControls, type MemoOptions, type MemoState } from './memoPlugin.js';
export { onlinePredictions, type OnlineRecord } from './onlinePredictions.js';
