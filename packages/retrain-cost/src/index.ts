/**
 * `@trellis-ml/retrain-cost`: predict the cost of retraining a deployed model under a distribution
 * shift from one forward pass (PreIndex, ARM, RESQUE and baselines), measure that cost with a
 * CodeCarbon-equivalent energy/carbon tracker, and calibrate index → epochs / kWh / CO2e.
 * @packageDocumentation
 */
export { preIndex, preIndexReference, preIndexAgainst, combinePreIndex, representationDistances, clusteringAris, cleanClustering, shiftedClustering, classCentroids } from './preindex.js';
export type { PreIndexOptions, PreIndexResult, PreIndexComponents, PreIndexCombine, PreIndexReference, AriFamily, CleanClustering, ClusteringRunOptions } from './preindex.js';
export { arm, armLayerDistance, armFromRepresentations } from './arm.js';
export type { ArmOptions, ArmResult, ArmConstruction } from './arm.js';
export { resqueShift, resqueFromSums, classSums, angleFraction } from './resque.js';
export type { ResqueResult } from './resque.js';
export {
  histogramPmf, histogramPmfSlice, histogramPmfInto, histogramRange, distances, DISTANCE_NAMES,
  wassersteinValueSort, wassersteinBinCdf, jensenShannon, bhattacharyya, klDivergence,
} from './histogram.js';
export type { DistanceName, WassersteinMode } from './histogram.js';
export { kmeans, adjustedRandIndex } from './clustering.js';
export type { KMeansOptions, KMeansResult } from './clustering.js';
export { extractRepresentations, resolveTaps, describeLayers, checkLayerNames } from './taps.js';
export type { TapOptions, Preprocess, Representations, ExtractOptions, TapLayerInfo } from './taps.js';
export { checkPaired, checkSameShape, stratifiedRows } from './inputs.js';
export { baselines, accuracyDrop, accuracyOf, mmd2, bbsdKS, ksStatistic, ksPValue, logme, leep, hScore, gaussianOtdd } from './baselines.js';
export type { LogmeOptions, MmdOptions } from './baselines.js';
export { symmetricEigen } from './linalg.js';
export {
  cpuPowerCubic, cpuPowerLinear, cpuPowerProcess, cpuPowerConstant, estimateDimmCount, ramPowerDimm, joulesToKWh, kgCO2e,
  resolveCarbonIntensity, parseNvidiaSmi, COUNTRY_CARBON_INTENSITY, SOURCE_CARBON_INTENSITY, WORLD_CARBON_INTENSITY, DEFAULT_TDP_WATTS,
} from './carbon.js';
export type { CarbonIntensitySource } from './carbon.js';
export { nodeProbes, findRaplZones, readRapl, readMachineCpu } from './probes.js';
export type { EnergyProbes, RaplReading } from './probes.js';
export { EnergyTracker, trackEnergy } from './tracker.js';
export type { TrackerOptions, EnergyReport, EnergySample, CpuMethod } from './tracker.js';
export { energyTrackerPlugin } from './plugin.js';
export type { EnergyPluginOptions, EnergyPluginState, EnergyTrackerPlugin } from './plugin.js';
export { retrainToTarget, addReports } from './retrain.js';
export type { RetrainOptions, RetrainCost } from './retrain.js';
export { CostPredictor, isotonicFit, leastSquares, conformalQuantile, usableForFit } from './predictor.js';
export type { CalibrationPoint, DroppedRuns, Interval, PredictorOptions, PredictOptions, PredictorEvaluation } from './predictor.js';
export { pearson, spearman, spearmanTieCap, kendall, ranks, median, quantile, bootstrapCI } from './stats.js';
export type { BootstrapInterval } from './stats.js';
export { correlationsWithIntervals, epochEquivalents, orderingAgreement } from './costAnalysis.js';
export type { CorrelationWithIntervals, ModelPair } from './costAnalysis.js';
export { energyByHand, intervalCpuWatts, energyStatement, workedEnergyExample, relativeError } from './energyAudit.js';
export type { EnergyInputs } from './energyAudit.js';
export { buildReproModel, copyWeights, REPRO_MODEL_INFO } from './models.js';
export type { ReproModel, ReproModelInfo } from './models.js';
export { experiment } from './experiment.js';
