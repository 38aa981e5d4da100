/**
 * @trellis-ml/fair-prune — measure and mitigate the disparate impact of pruning (Tran et al.,
 * NeurIPS 2022): magnitude pruning with fixed masks, per-group disparity metrics, the gradient-norm
 * and Hessian / boundary-distance indicators, and group-constrained fine-tuning by dual ascent.
 */
export {
  checkGroupIds, checkGroupArray, checkNoEmptyGroup, groupCounts, classGroups, classSetGroups, imbalanceByClass,
  rotate90, invert, transformedMinority, pairedTransformedSet, type ImageTransform,
} from './groups.js';
export {
  checkSparsity, defaultPrunable, prunableNames, magnitudeMasks, summarizeMasks, readWeights, computeMasks, checkMasksFit,
  applyMasks, parameterCounts, cubicSparsity, isPruningEpoch, encodeMasks, decodeMasks,
  type PruneOptions, type HostWeight, type MaskSet, type ParameterCounts, type GradualSchedule, type SparsitySchedule,
} from './masks.js';
export {
  perExampleLoss, groupReport, bootstrapCi, evaluateGroups, disparity, meanRankCorrelation,
  type GroupStats, type GroupReport, type GroupReportOptions, type Disparity,
} from './groupMetrics.js';
/** Rank correlations, re-exported from core (one implementation). */
export { ranks, pearson, spearman } from '@trellis-ml/core';
export { perSampleCrossEntropy, groupMeans, groupViolations, distillationLoss, type GroupMeans, type ViolationKind, type ViolationOptions } from './groupLoss.js';
export { dualAscentStep, hostViolations, GroupBuffer, type DualStepOptions, type HostViolationOptions } from './dual.js';
export {
  flatParameters, setFlatParameters, meanLossGradient, perSampleGradientNorms, hessianVectorProduct, powerIteration, topEigenvalue, hutchinsonTrace, boundaryIndicators,
  inputSpaceDistance, groupDiagnostics, taylorExcessLoss, type HvpMethod, type DiagnosticsOptions, type GroupDiagnostics, type TaylorEstimate,
} from './diagnostics.js';
export {
  pruning, groupConstraints, equalizedLoss, accuracyGapConstraints, denseReference, checkDenseReference,
  type PruningOptions, type PruningState, type PruningPlugin, type DenseReference, type GroupConstraintOptions,
  type ConstraintState, type ConstraintPlugin, type AccuracyGapOptions,
} from './plugin.js';
export { sweep, type SweepOptions, type SweepRow, type SweepTable } from './sweep.js';
export { fineTunePruned, mitigationPlugin, type Mitigation, type FineTuneOptions, type FineTuneResult } from './finetune.js';
export {
  spread, inBand, denseBandChecks, plainDropBandChecks, accuracyDiffNoise, compareWithinNoise, sparsityTrend,
  type BandCheck, type StudyDataset, type PlainAtSparsity, type NoiseComparison,
} from './studyChecks.js';
export { experiment, settingsFor, badInputChecks, DUAL_LR_GRID, DEFAULT_MITIGATION, FULL_TRAIN_SIZE, FULL_DUAL_LR, RECOVERED_FINE_TUNE, SPEC_FINE_TUNE, type FairPruneSettings, type GroupDesign } from './experiment.js';
