export { main, commandNames, helpText, techniqueHelpText, versionText } from './cli.js';
export { commandFlags, COMMON_FLAGS, intFlag, numberFlag, parseArgs, seedFlag, seedsFlag, type ParsedArgs } from './args.js';
export { checkTrainOptions, runTrain, baselineModel, loadNamedDataset, type TrainCommandOptions, type TrainCommandResult } from './train.js';
export { checkTourOptions, runTour, type TourOptions, type TourStep } from './tour.js';
export { checkCanResume, checkTechniqueParams, runTechnique } from './technique.js';
export { hasResumableProgress, interruptMessage } from './interrupt.js';
export { TECHNIQUES, type TechniqueEntry } from './techniques.js';
