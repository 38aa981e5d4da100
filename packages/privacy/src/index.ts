/**
 * `@trellis-ml/privacy`: membership-inference defenses (CRL, RelaxLoss, SRCM, label-smoothing control)
 * as Trainer plugins and model wrappers, and the attacks that measure them (threshold attacks, the
 * shadow-model NN attack, LiRA) with AUC, balanced accuracy and TPR at low FPR.
 * @packageDocumentation
 */
export { relaxLoss, crl, labelSmoothing, confidencePenalty, srcm, coupledWeightDecay, stepLearningRate } from './plugin.js';
export type { LossReplacingPlugin, RelaxLossOptions, RelaxState, CRLOptions, CRLState, EpochBase } from './plugin.js';
export { logNormSquash, relaxBranch, relaxedCrossEntropy, relaxedCenterLoss } from './relaxedLosses.js';
export type { RelaxBranch, RelaxedCrossEntropyOptions, RelaxedCenterLossOptions, RelaxedLossValue } from './relaxedLosses.js';
export { SRCMAdapter, withSRCM, saturnRing, ringMagnitude, normalizedLogits, ringOccupancy, resolveSRCMConfig, SRCM_TAPS } from './srcm.js';
export type { SRCMConfig, ResolvedSRCMConfig, RingMode } from './srcm.js';
export { signalsFromLogits, computeSignals, concatSignals } from './signals.js';
export type { Signals, ComputeSignalsOptions } from './signals.js';
export { metricScores, bestThreshold, fitThresholds, METRIC_ATTACKS } from './thresholdAttack.js';
export type { MetricAttackName, ThresholdAttack } from './thresholdAttack.js';
export { ShadowModelAttack, attackFeatures } from './shadowAttack.js';
export type { ShadowAttackOptions } from './shadowAttack.js';
export { liraScores, liraLeaveOneOut } from './lira.js';
export type { LiraMode, LiraOptions, LiraReference, PooledLira } from './lira.js';
export { RMIA_OFFLINE_A_GRID, rmiaLeaveOneOut, rmiaScores, tuneRmiaOfflineA } from './rmia.js';
export type { PooledRmia, RmiaLeaveOneOutOptions, RmiaMode, RmiaOptions, RmiaReference } from './rmia.js';
export { rocCurve, auc, tprAtFpr, balancedAccuracy, oracleBalancedAccuracy, advantage, checkScores, minNonMembersFor, thinRoc } from './rocMetrics.js';
export type { RocCurve, PoolSize, TprAtFprOptions } from './rocMetrics.js';
export { scoreAttack, metricAttackSuite, featureNormDisparity, membershipLabels, pooledMetricScores } from './audit.js';
export type { AttackResult, MetricSuiteOptions, FeatureNormDisparity } from './audit.js';
export { makeMIASplit, checkSplit, checkDisjoint, liraKeepMasks } from './split.js';
export type { MIASplit, MIASplitOptions } from './split.js';
export { trainClassifier, SPEC_RECIPE } from './recipe.js';
export type { TrainingRecipe, TrainClassifierOptions, TrainedClassifier } from './recipe.js';
export { dedupeExamples, checkNoSharedExamples, fashionMnistPool } from './data.js';
export { experiment, runPrivacyStudy, privacyClaims, resolvePrivacyConfig, studyMethods, QUICK_CONFIG, FULL_CONFIG } from './experiment.js';
export type { PrivacyStudyConfig, StudyMethod, MethodRun, LiraRun, LiraBenchmark } from './experiment.js';
export { trainingWork, pairOrder, timePair, median, summarizeTimingPairs } from './benchmark.js';
export type { TrainingWork, PairOrder, TimingPair, TimingSummary } from './benchmark.js';
