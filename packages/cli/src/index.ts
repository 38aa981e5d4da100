export { main, helpText, techniqueHelpText, versionText } from './cli.js';
export { intFlag, numberFlag, parseArgs, seedsFlag, type ParsedArgs } from './args.js';
export { checkTrainOptions, runTrain, baselineModel, loadNamedDataset, type TrainCommandOptions, type TrainCommandResult } from './train.js';
export { checkTourOptions, runTour, type TourOptions, type TourStep } from './tour.js';
export { checkCanResume, runTechnique } from './technique.js';
export { TECHNIQUES, type TechniqueEntry } from './techniques.js';
