export { buildConfigs, resolveConfig, spreadIndices, validateConfig, type BlockLayout, type BlockSelection, type DepthConfig } from './depthConfig.js';
export {
  architectureDiff,
  DepthNet,
  readDepthNetMeta,
  type ArchitectureSpec,
  type BnMode,
  type HeadMode,
  type DepthBlock,
  type DepthCost,
  type DepthNetDefinition,
  type DepthNetMeta,
  type DepthPart,
  type ForwardManyOptions,
} from './depthNet.js';
export type { ForwardContext, VariableStore } from './layers.js';
export { residualMLP, type ResidualMlpOptions } from './residualMlp.js';
export { resNetCNN, type ResNetCnnOptions } from './resnetCnn.js';
export { fromBlocks, type UserBackbone, type UserBlock } from './fromBlocks.js';
export { buildFromArchitecture, cloneDepthNet, leaderArchitecture, loadDepthNet } from './architectures.js';
export { kdLoss, memberLoss, stopGradient, type MemberLossOptions, type Teacher } from './distillation.js';
export { sampleDepths, sampleLayerDrop, sampleSubnets, type SubnetSampling } from './sampling.js';
export {
  checkOfaPhases,
  OFA_DEPTH_PHASES,
  ofaDepthSchedule,
  ofaLearningRate,
  ofaPhaseAt,
  ofaPhaseMenu,
  type OfaPhase,
  type OfaPhaseSpan,
} from './progressiveShrinking.js';
export { exitLoss } from './earlyExit.js';
export { selectDepth, type Budget, type DepthChoice, type DepthRow, type DepthTable, type OverBudgetOptions } from './depthTable.js';
export {
  chooseEntropyThreshold,
  entropyExit,
  entropyThresholdSweep,
  evaluateEntropyExit,
  exitOutputs,
  type EntropyExitPoint,
  type EntropyExitResult,
  type EntropyThreshold,
  type EntropyThresholdChoice,
  type ExitBudget,
  type ExitCost,
  type ExitOutputs,
  type ExitOutputsOptions,
} from './entropyExit.js';
export { depthAccuracy, evaluateAllDepths, measureLatency, measureSwitchCost, recalibrateBatchNorm, type EvaluateDepthsOptions } from './evaluateDepths.js';
export {
  coopDepth,
  cosineDecay,
  earlyExit,
  layerDrop,
  ofaDepth,
  type CoopDepthOptions,
  type EarlyExitOptions,
  type OfaDepthOptions,
  type OfaDepthPlugin,
  type OfaDepthState,
  type CoopDepthPlugin,
  type CoopDepthState,
  type CoopWeights,
  type CosineDecayOptions,
  type LayerDropOptions,
  type LeaderOptions,
} from './plugin.js';
export {
  trainCoopDepth,
  trainEarlyExit,
  trainFixedDepth,
  trainLayerDrop,
  trainOfaDepth,
  type BaseTrainOptions,
  type CoopDepthResult,
  type OfaDepthReport,
  type OfaDepthTrainOptions,
  type TrainReport,
} from './train.js';
export { buildExperimentNet, dynamicDepthSetup, experiment, EXPERIMENT_BASELINES, type DynamicDepthSetup, type ExperimentBaseline } from './experiment.js';
