export { main, commandNames, helpText, techniqueHelpText, versionText } from './cli.js';
export { checkSeedRange, commandFlags, COMMON_FLAGS, intFlag, MAX_SEED, numberFlag, parseArgs, seedFlag, seedsFlag, type ParsedArgs } from './args.js';
export { checkTrainOptions, runTrain, baselineModel, loadNamedDataset, type TrainCommandOptions, type TrainCommandResult } from './train.js';
export { checkTourOptions, runTour, type TourOptions, type TourStep } from './tour.js';
export { checkCanResume, checkTechniqueParams, runTechnique, studySeeds } from './technique.js';
export { hasResumableProgress, interruptMessage } from './interrupt.js';
export { TECHNIQUES, type TechniqueEntry } from './techniques.js';
