/**
 * `@trellis-ml/datasets`: MNIST, Fashion-MNIST, IDX and CSV loaders returning core `Dataset`s, and
 * seeded shift and corruption generators at five severities.
 * @packageDocumentation
 */
export { loadMnist, MNIST_CLASSES } from './mnist.js';
export type { ImageLoaderOptions } from './mnist.js';
export {
  loadFashionMnist,
  describeFashionMnistSource,
  DATASET_NAME_ALIASES,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_TEST_PER_CLASS,
  FASHION_MNIST_TRAIN_PER_CLASS,
} from './fashionMnist.js';
export type { FashionMnistOptions, FashionMnistSourceReport, FashionMnistClassReport } from './fashionMnist.js';
export { readIdx, readIdxFile, loadIdxDataset } from './idx.js';
export type { IdxArray, IdxData, IdxDtype, IdxDatasetOptions, ReadIdxOptions } from './idx.js';
export { loadCsvDataset, parseCsvDataset } from './csv.js';
export type { CsvDatasetOptions } from './csv.js';
export {
  corrupt,
  corruptImages,
  applyCorruption,
  CORRUPTIONS,
  CORRUPTION_NAMES,
  CORE_CORRUPTIONS,
} from './corruptions.js';
export type { CorruptionName, CorruptionInfo, CorruptionOptions, CorruptionParams, Quantize, Severity } from './corruptions.js';
export { isImageShape } from './imageOps.js';
