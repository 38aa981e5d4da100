import { existsSync, statSync } from 'node:fs';
import { Dataset, TrellisError } from '@trellis-ml/core';
import { checkDefaultClassCount, checkPathArgument, readFileOrThrow } from './packageData.js';

/** Options of {@link loadCsvDataset} and {@link parseCsvDataset}. */
export interface CsvDatasetOptions {
  /**
   * The column holding integer class labels: a 0-based index, or a header name (needs a header row).
   * `null` for an unlabeled dataset (every column is a feature).
   */
  labelColumn: number | string | null;
  /** Shape of one example, e.g. `[28, 28, 1]`; its product must equal the number of feature columns. Default `[features]`. */
  shape?: number[];
  /** Number of classes; default: the largest label + 1 (1 with `labelColumn: null`: pass the model's class count to train or adapt on unlabeled rows). */
  numClasses?: number;
  /**
   * Whether the first row is a header. Default `'auto'`: a header when a non-empty cell of the first row is
   * not a number and not a missing-value marker (`NaN`, `NA`, `n/a`, `null`, `none`, `inf`, `?`, any case).
   */
  hasHeader?: boolean | 'auto';
  /** Divide every feature value by this, e.g. 255 for 0–255 pixels. Default 1. */
  scale?: number;
  /** Cell separator. Default `','`. */
  delimiter?: string;
}

/** One CSV record: the line it starts on (1-based) and its cells. */
interface CsvRecord {
  line: number;
  cells: string[];
}

const isBlank = (c: string | undefined): boolean => c === ' ' || c === '\t';

/**
 * Splits CSV text into records the RFC 4180 way: a cell in double quotes may hold the delimiter, line
 * breaks and `""` (one quote); cells are trimmed (inside their quotes too); blank lines are skipped.
 * Example: `csvRecords('a,"b, c"\n1,"say ""hi"""', ',')` gives the records `a | b, c` (line 1) and
 * `1 | say "hi"` (line 2).
 * @throws TrellisError `CSV_BAD_QUOTE` for text after a closing quote, or a quote that is never closed.
 */
function csvRecords(text: string, delimiter: string, source: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  const t = text.replace(/^\uFEFF/, '');
  const isDelimiter = (j: number): boolean => t.startsWith(delimiter, j);
  const isBreak = (j: number): boolean => t[j] === '\n' || t[j] === '\r';
  const lineBreak = /\r\n|\n|\r/g;
  let line = 1;
  let i = 0;
  while (i <= t.length) {
    const start = line;
    // fast path: a physical line without quotes is one record, its cells split at the delimiter
    lineBreak.lastIndex = i;
    const found = lineBreak.exec(t);
    const end = found ? found.index : t.length;
    const physical = t.slice(i, end);
    if (!physical.includes('"')) {
      if (physical.trim() !== '') records.push({ line, cells: physical.split(delimiter).map((c) => c.trim()) });
      i = end + (found ? found[0].length : 1);
      line++;
      continue;
    }
    const cells: string[] = [];
    let blank = true;
    for (;;) {
      let j = i;
      while (isBlank(t[j]) && !isDelimiter(j)) j++;
      let cell: string;
      if (t[j] === '"') {
        // a quoted cell: up to the closing quote, `""` read as one quote
        blank = false;
        const open = line;
        cell = '';
        for (j++; ; j++) {
          if (j >= t.length) {
            throw new TrellisError('CSV_BAD_QUOTE', `${source} line ${open}: a quoted cell is never closed`,
              'close the cell with a double quote, and write a quote inside a quoted cell as two ("")', { source, line: open });
          }
          if (t[j] === '"') {
            if (t[j + 1] !== '"') break;
            j++;
          } else if (t[j] === '\n' || (t[j] === '\r' && t[j + 1] !== '\n')) line++;
          cell += t[j];
        }
        j++;
        while (isBlank(t[j]) && !isDelimiter(j)) j++;
        if (j < t.length && !isDelimiter(j) && !isBreak(j)) {
          throw new TrellisError('CSV_BAD_QUOTE', `${source} line ${line}: text after the closing quote of a cell`,
            'quote the whole cell, and write a quote inside a quoted cell as two ("")', { source, line });
        }
        cell = cell.trim();
      } else {
        let k = j;
        while (k < t.length && !isDelimiter(k) && !isBreak(k)) k++;
        cell = t.slice(j, k).trim();
        if (cell !== '') blank = false;
        j = k;
      }
      cells.push(cell);
      if (j < t.length && isDelimiter(j)) {
        blank = false;
        i = j + delimiter.length;
        continue;
      }
      // the end of the record: a line break (\r\n, \n or \r) or the end of the text
      i = j + (t[j] === '\r' && t[j + 1] === '\n' ? 2 : 1);
      break;
    }
    if (!blank) records.push({ line: start, cells });
    line++;
  }
  return records;
}

/** A decimal number as CSV exports write it (`Number` alone would also read `0x10`, `0b11` and `0o7`). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Parses a numeric cell the strict way: the whole cell must be a finite decimal number. */
function toNumber(cell: string): number {
  if (!DECIMAL.test(cell)) return Number.NaN;
  const v = Number(cell);
  return Number.isFinite(v) ? v : Number.NaN;
}

/**
 * Cells that are not decimal numbers but not column names either: missing-value markers and hex, binary or
 * octal literals. A first row holding one is data (and fails as not numeric), not a header that is dropped.
 */
const NOT_A_NAME = /^(nan|na|n\/a|null|none|inf|[+-]inf|[+-]?infinity|\?|[+-]?0[xbo][0-9a-f]+)$/i;

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
 * integer label column and an optional header row. Blank lines are skipped; cells may be quoted
 * (RFC 4180: a quoted cell may hold the delimiter, line breaks, and `""` for one quote).
 *
 * Malformed input throws a {@link TrellisError} that names the line and column and says what to do:
 * `CSV_EMPTY` (no data rows), `CSV_RAGGED` (a row with a different number of cells than the first),
 * `CSV_NOT_NUMERIC` (a feature cell that is not a finite number), `CSV_BAD_LABEL` (a label that is
 * not a non-negative integer), `CSV_BAD_QUOTE` (a quote never closed, or text after a closing quote),
 * `CSV_BAD_LABEL_COLUMN`, `CSV_BAD_SHAPE`.
 *
 * @param text The CSV text.
 * @param options Label column, shape, classes, header, scaling.
 * @param source How to name the data in error messages (a path, or "the CSV text").
 */
export function parseCsvDataset(text: string, options: CsvDatasetOptions, source = 'the CSV text'): Dataset {
  checkCsvOptions(options);
  const delimiter = options.delimiter ?? ',';
  if (!(typeof delimiter === 'string' && delimiter !== '' && !/["\r\n]/.test(delimiter))) {
    throw new TrellisError('CSV_BAD_DELIMITER', `delimiter ${JSON.stringify(delimiter)} cannot separate CSV cells`,
      "pass a non-empty delimiter without quotes or line breaks, e.g. ',' (the default), ';' or '\\t'", { delimiter });
  }
  const lines = csvRecords(text, delimiter, source);
  if (lines.length === 0) {
    throw new TrellisError('CSV_EMPTY', `${source} has no rows (it is empty or only blank lines)`,
      'check the path and that the export wrote data; a dataset needs at least one row', { source });
  }
  const first = lines[0]!;
  // a header names its columns: some cell is text (an empty cell is a missing value, not a name)
  const firstHasText = first.cells.some((c) => c !== '' && !NOT_A_NAME.test(c) && Number.isNaN(toNumber(c)));
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
        `every row needs ${width} cells: fix line ${line} (a missing value, an extra delimiter, or a delimiter inside a cell that needs quotes)`,
        { source, line, cells: cells.length, expected: width });
    }
    let f = 0;
    for (let c = 0; c < width; c++) {
      const cell = cells[c]!;
      const v = toNumber(cell);
      if (c === labelIndex) {
        // below 2^31: the labels are stored as Int32 (2^32 + 1 used to become 1)
        if (!(Number.isInteger(v) && v >= 0 && v < 2 ** 31)) {
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
  if (labels && options.numClasses === undefined) {
    const r = labels.indexOf(maxLabel);
    checkDefaultClassCount(maxLabel, `${source} line ${rows[r]!.line}`, 'CSV_BAD_LABEL', { source, line: rows[r]!.line }, 'the labelColumn and that line');
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
 * and the errors. `pathOrText` is read as a file when a file of that name exists; otherwise it is parsed
 * as CSV text when it holds a line break, or the delimiter and nothing that makes it look like a path
 * (a slash or backslash, or a `.csv`, `.tsv` or `.txt` ending); else it is reported as a missing file.
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
  const looksLikePath = /[/\\]|\.(csv|tsv|txt)$/i.test(pathOrText.trim());
  if (/[\r\n]/.test(pathOrText) || (pathOrText.includes(delimiter) && !looksLikePath)) return parseCsvDataset(pathOrText, options);
  throw new TrellisError('FILE_NOT_FOUND', `CSV file ${pathOrText} does not exist`,
    'check the path (relative paths are resolved from the current working directory), or pass the CSV text itself', { path: pathOrText });
}
