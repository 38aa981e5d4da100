import { existsSync, statSync } from 'node:fs';
import { Dataset, TrellisError } from '@trellis-ml/core';
import { checkPathArgument, readFileOrThrow } from './packageData.js';

/** Options of {@link loadCsvDataset} and {@link parseCsvDataset}. */
export interface CsvDatasetOptions {
  /**
   * The column holding integer class labels: a 0-based index, or a header name (needs a header row).
   * `null` for an unlabeled dataset (every column is a feature).
   */
  labelColumn: number | string | null;
  /** Shape of one example, e.g. `[28, 28, 1]`; its product must equal the number of feature columns. Default `[features]`. */
  shape?: number[];
  /** Number of classes; default: the largest label + 1. */
  numClasses?: number;
  /** Whether the first row is a header. Default `'auto'`: a header when any cell of the first row is not a number. */
  hasHeader?: boolean | 'auto';
  /** Divide every feature value by this, e.g. 255 for 0–255 pixels. Default 1. */
  scale?: number;
  /** Cell separator. Default `','`. */
  delimiter?: string;
}

/** A trimmed cell with one pair of surrounding double quotes removed. */
function clean(cell: string): string {
  const t = cell.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1).trim() : t;
}

/** Parses a numeric cell the strict way: the whole cell must be a finite number. */
function toNumber(cell: string): number {
  if (cell === '') return Number.NaN;
  const v = Number(cell);
  return Number.isFinite(v) ? v : Number.NaN;
}

function columnName(header: string[] | null, c: number): string {
  const name = header?.[c];
  return name !== undefined && name !== '' ? `column ${c + 1} ("${name}")` : `column ${c + 1}`;
}

/**
 * Throws unless `options` is an object with a `labelColumn` (index, name or `null`): from JavaScript a
 * left-out `labelColumn` would otherwise load the label column as a feature, silently.
 */
function checkCsvOptions(options: CsvDatasetOptions | undefined): void {
  if (options === null || typeof options !== 'object' || !('labelColumn' in options) || options.labelColumn === undefined) {
    throw new TrellisError('CSV_BAD_LABEL_COLUMN', 'the CSV options do not say which column holds the labels',
      "pass { labelColumn: 0 } (a 0-based index), { labelColumn: 'label' } (a header name), or { labelColumn: null } for an unlabeled dataset");
  }
}

/**
 * Builds a {@link Dataset} from CSV text: one example per line, numeric feature cells, an optional
 * integer label column and an optional header row. Blank lines are skipped; cells may be quoted.
 *
 * Malformed input throws a {@link TrellisError} that names the line and column and says what to do:
 * `CSV_EMPTY` (no data rows), `CSV_RAGGED` (a row with a different number of cells than the first),
 * `CSV_NOT_NUMERIC` (a feature cell that is not a finite number), `CSV_BAD_LABEL` (a label that is
 * not a non-negative integer), `CSV_BAD_LABEL_COLUMN`, `CSV_BAD_SHAPE`.
 *
 * @param text The CSV text.
 * @param options Label column, shape, classes, header, scaling.
 * @param source How to name the data in error messages (a path, or "the CSV text").
 */
export function parseCsvDataset(text: string, options: CsvDatasetOptions, source = 'the CSV text'): Dataset {
  checkCsvOptions(options);
  const delimiter = options.delimiter ?? ',';
  const lines: Array<{ line: number; cells: string[] }> = [];
  const rawLines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  for (let i = 0; i < rawLines.length; i++) {
    const raw = rawLines[i]!;
    if (raw.trim() === '') continue;
    lines.push({ line: i + 1, cells: raw.split(delimiter).map(clean) });
  }
  if (lines.length === 0) {
    throw new TrellisError('CSV_EMPTY', `${source} has no rows (it is empty or only blank lines)`,
      'check the path and that the export wrote data; a dataset needs at least one row', { source });
  }
  const first = lines[0]!;
  const firstHasText = first.cells.some((c) => Number.isNaN(toNumber(c)));
  const hasHeader = options.hasHeader === undefined || options.hasHeader === 'auto' ? firstHasText : options.hasHeader;
  const header = hasHeader ? first.cells : null;
  const rows = hasHeader ? lines.slice(1) : lines;
  if (rows.length === 0) {
    throw new TrellisError('CSV_EMPTY', `${source} has a header row (line ${first.line}) but no data rows`,
      'export the data rows too, or pass hasHeader: false if the first row is data', { source });
  }
  const width = first.cells.length;
  let labelIndex = -1;
  const lc = options.labelColumn;
  if (typeof lc === 'string') {
    if (!header) {
      throw new TrellisError('CSV_BAD_LABEL_COLUMN', `labelColumn "${lc}" is a name, but ${source} has no header row`,
        'pass the label column as a 0-based index, or add a header row (or pass hasHeader: true)', { source });
    }
    labelIndex = header.indexOf(lc);
    if (labelIndex < 0) {
      throw new TrellisError('CSV_BAD_LABEL_COLUMN', `${source} has no column named "${lc}" (its header is: ${header.join(', ')})`,
        'pass one of the header names, or a 0-based column index', { source, header });
    }
  } else if (typeof lc === 'number') {
    if (!(Number.isInteger(lc) && lc >= 0 && lc < width)) {
      throw new TrellisError('CSV_BAD_LABEL_COLUMN', `labelColumn ${lc} is not a column of ${source} (it has ${width} columns, indices 0-${width - 1})`,
        'pass a 0-based column index, or a header name', { source, width });
    }
    labelIndex = lc;
  }
  const features = width - (labelIndex >= 0 ? 1 : 0);
  if (features < 1) {
    throw new TrellisError('CSV_NO_FEATURES', `${source} has only the label column, no feature columns`, 'export the feature columns too', { source });
  }
  const shape = options.shape ?? [features];
  const per = shape.reduce((p, d) => p * d, 1);
  if (!(shape.length > 0 && shape.every((d) => Number.isInteger(d) && d > 0)) || per !== features) {
    throw new TrellisError('CSV_BAD_SHAPE',
      `shape [${shape.join(', ')}] has ${per} values per example, but ${source} has ${features} feature columns per row`,
      `pass a shape whose product is ${features} (e.g. [${features}]), or check the label column`, { source, features, shape });
  }
  const scale = options.scale ?? 1;
  if (!(Number.isFinite(scale) && scale > 0)) {
    throw new TrellisError('BAD_SCALE', `scale ${scale} is not a positive number`, 'pass a divisor such as 255, or leave scale out', { scale });
  }
  const n = rows.length;
  const x = new Float32Array(n * features);
  const labels = labelIndex >= 0 ? new Int32Array(n) : null;
  let maxLabel = 0;
  for (let r = 0; r < n; r++) {
    const { line, cells } = rows[r]!;
    if (cells.length !== width) {
      throw new TrellisError('CSV_RAGGED',
        `${source} line ${line} has ${cells.length} cells, but line ${first.line} has ${width}: the rows are ragged`,
        `every row needs ${width} cells: fix line ${line} (a missing value, an extra delimiter, or a delimiter inside an unquoted cell)`,
        { source, line, cells: cells.length, expected: width });
    }
    let f = 0;
    for (let c = 0; c < width; c++) {
      const cell = cells[c]!;
      const v = toNumber(cell);
      if (c === labelIndex) {
        if (!(Number.isInteger(v) && v >= 0)) {
          throw new TrellisError('CSV_BAD_LABEL',
            `${source} line ${line}, ${columnName(header, c)}: label ${JSON.stringify(cell)} is not a non-negative integer`,
            'labels must be class ids 0..K-1: map class names to integers before loading, or choose the right labelColumn', { source, line, column: c + 1, cell });
        }
        labels![r] = v;
        if (v > maxLabel) maxLabel = v;
        continue;
      }
      if (Number.isNaN(v)) {
        throw new TrellisError('CSV_NOT_NUMERIC',
          `${source} line ${line}, ${columnName(header, c)}: ${cell === '' ? 'the cell is empty' : `${JSON.stringify(cell)} is not a number`}`,
          r === 0 && !hasHeader
            ? 'if the first row is a header, pass hasHeader: true; otherwise fill or drop the cell'
            : 'every feature cell must be a finite number: fill missing values (impute) or drop the row before loading',
          { source, line, column: c + 1, cell });
      }
      x[r * features + f] = v / scale;
      f++;
    }
  }
  const numClasses = options.numClasses ?? maxLabel + 1;
  if (labels && maxLabel >= numClasses) {
    const r = labels.findIndex((l) => l >= numClasses);
    throw new TrellisError('LABEL_OUT_OF_RANGE', `${source} line ${rows[r]!.line}: label ${labels[r]} is outside [0, ${numClasses})`,
      `raise numClasses above ${labels[r]}, or leave it out to use the largest label + 1`, { source, line: rows[r]!.line });
  }
  return Dataset.fromArrays({ x, shape, labels, numClasses });
}

/**
 * Loads a CSV file (or CSV text) into a {@link Dataset}; see {@link parseCsvDataset} for the format
 * and the errors. `pathOrText` is read as a file when a file of that name exists; otherwise, when it
 * contains a newline or the delimiter it is parsed as CSV text, and else it is reported as a missing file.
 *
 * @example
 * ```ts
 * const ds = loadCsvDataset('digits.csv', { labelColumn: 'label', shape: [28, 28, 1], scale: 255 });
 * ```
 */
export function loadCsvDataset(pathOrText: string, options: CsvDatasetOptions): Dataset {
  checkPathArgument(pathOrText, 'CSV file', 'the path of a .csv file or the CSV text itself', true);
  checkCsvOptions(options);
  const delimiter = options.delimiter ?? ',';
  if (pathOrText.trim() === '') return parseCsvDataset(pathOrText, options);
  let isFile = false;
  let isDirectory = false;
  try {
    const stats = existsSync(pathOrText) ? statSync(pathOrText) : null;
    isFile = stats?.isFile() ?? false;
    isDirectory = stats?.isDirectory() ?? false;
  } catch {
    isFile = false;
  }
  if (isDirectory) {
    throw new TrellisError('FILE_UNREADABLE', `CSV file ${pathOrText} is a directory`,
      'pass the path of the .csv file inside it', { path: pathOrText });
  }
  if (isFile) return parseCsvDataset(readFileOrThrow(pathOrText, 'CSV file').toString('utf8'), options, pathOrText);
  if (/[\r\n]/.test(pathOrText) || pathOrText.includes(delimiter)) return parseCsvDataset(pathOrText, options);
  throw new TrellisError('FILE_NOT_FOUND', `CSV file ${pathOrText} does not exist`,
    'check the path (relative paths are resolved from the current working directory), or pass the CSV text itself', { path: pathOrText });
}
