export { buildConfigs, resolveConfig, spreadIndices, validateConfig, type BlockLayout, type BlockSelection, type DepthConfig } from './depthConfig.js';
export {
  architectureDiff,
  DepthNet,
  readDepthNetMeta,
  type ArchitectureSpec,
  type BnMode,
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
export { buildFromArchitecture, leaderArchitecture, loadDepthNet } from './architectures.js';
export { kdLoss, memberLoss, stopGradient, type Teacher } from './distillation.js';
export { sampleLayerDrop, sampleSubnets, type SubnetSampling } from './sampling.js';
export { selectDepth, type Budget, type DepthChoice, type DepthRow, type DepthTable } from './depthTable.js';
export { depthAccuracy, evaluateAllDepths, measureLatency, measureSwitchCost, recalibrateBatchNorm, type EvaluateDepthsOptions } from './evaluateDepths.js';
export {
  coopDepth,
  cosineDecay,
  layerDrop,
  type CoopDepthOptions,
  type CoopDepthPlugin,
  type CoopDepthState,
  type CoopWeights,
  type CosineDecayOptions,
  type LayerDropOptions,
  type LeaderOptions,
} from './plugin.js';
export { trainCoopDepth, trainFixedDepth, trainLayerDrop, type BaseTrainOptions, type CoopDepthResult, type TrainReport } from './train.js';
export { buildExperimentNet, dynamicDepthSetup, experiment, type DynamicDepthSetup } from './experiment.js';
