import { constants as bufferConstants } from 'node:buffer';
import { gunzipSync } from 'node:zlib';
import { check, Dataset, largeFloat32Array, TrellisError } from '@trellis-ml/core';
import { checkBooleanOption, checkDefaultClassCount, checkOptionsObject, checkPathArgument, readFileOrThrow } from './packageData.js';

/** Element types an IDX file can declare (third byte of its magic number). */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** The typed array {@link readIdx} returns for each {@link IdxDtype}. */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX file: its element type, its dimensions (outermost first) and its values, row-major. */
export interface IdxArray {
  /** Element type declared in the header. */
  dtype: IdxDtype;
  /** Dimensions from the header, e.g. `[60000, 28, 28]` for MNIST training images. */
  dims: number[];
  /** `prod(dims)` values in row-major order, converted from big-endian. */
  data: IdxData;
}

interface DtypeInfo {
  dtype: IdxDtype;
  bytes: number;
}

const DTYPES: ReadonlyMap<number, DtypeInfo> = new Map([
  [0x08, { dtype: 'uint8', bytes: 1 }],
  [0x09, { dtype: 'int8', bytes: 1 }],
  [0x0b, { dtype: 'int16', bytes: 2 }],
  [0x0c, { dtype: 'int32', bytes: 4 }],
  [0x0d, { dtype: 'float32', bytes: 4 }],
  [0x0e, { dtype: 'float64', bytes: 8 }],
]);

/**
 * The most bytes a gzipped IDX file inflates to by default: 2 GiB − 1, the largest plain file Node reads
 * whole (`readIdxFile` refuses larger ones with `FILE_TOO_LARGE`), so gzip does not let in a larger file.
 */
const MAX_INFLATED_BYTES = 2 ** 31 - 1;

/** Options of {@link readIdx} and {@link readIdxFile}. */
export interface ReadIdxOptions {
  /**
   * The most bytes gzipped bytes may inflate to; decompression stops there with `IDX_TOO_LARGE`, so a small
   * corrupted or malicious `.gz` cannot exhaust memory before the size checks. Default 2,147,483,647
   * (2 GiB − 1, the largest plain file {@link readIdxFile} reads); at most Node's `buffer.constants.MAX_LENGTH`.
   * Plain (not gzipped) bytes are not limited.
   */
  maxInflatedBytes?: number;
}

const REDOWNLOAD = 're-download or re-export the file (a partial download or an interrupted write leaves a truncated file)';

/** True when the bytes start with the gzip magic number 1f 8b. */
function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function hex32(bytes: Uint8Array): string {
  let s = '0x';
  for (let i = 0; i < 4; i++) s += (bytes[i] ?? 0).toString(16).padStart(2, '0');
  return s;
}

/** What {@link readIdx} was given instead of bytes, and what to pass. */
function checkIdxBytes(buffer: unknown): asserts buffer is Uint8Array {
  if (Object.prototype.toString.call(buffer) === '[object Uint8Array]') return;
  const fix = typeof buffer === 'string'
    ? 'readIdx decodes bytes; to read a file, call readIdxFile(path)'
    : buffer instanceof ArrayBuffer || ArrayBuffer.isView(buffer)
      ? 'pass the bytes as a Uint8Array: readIdx(new Uint8Array(arrayBuffer)) (a Node Buffer is one)'
      : "pass the file's bytes as a Uint8Array, e.g. readIdx(readFileSync(path)), or call readIdxFile(path)";
  const got = buffer === null ? 'null' : typeof buffer === 'string' ? `a string (${JSON.stringify(buffer.slice(0, 60))})`
    : Array.isArray(buffer) ? 'an array' : typeof buffer === 'object' ? `a value of type ${Object.prototype.toString.call(buffer).slice(8, -1)}` : typeof buffer;
  check(false, 'IDX_BAD_INPUT', `readIdx was given ${got}, not the bytes of an IDX file (a Uint8Array)`, fix);
}

/** Checks readIdx's name and options arguments; returns the inflate limit. */
function inflateLimit(source: unknown, options: ReadIdxOptions): number {
  check(typeof source === 'string', 'IDX_BAD_INPUT', () => `readIdx's second argument names the data in messages, but got ${source === null ? 'null' : typeof source}, not a string`,
    "pass the options third: readIdx(bytes, 'train-images-idx3-ubyte.gz', { maxInflatedBytes })");
  checkOptionsObject(options, 'readIdx', ['maxInflatedBytes'], 'readIdx(bytes, source, { maxInflatedBytes: 4e9 }), or without options');
  const max = options.maxInflatedBytes ?? MAX_INFLATED_BYTES;
  check(Number.isInteger(max) && max >= 1 && max <= bufferConstants.MAX_LENGTH, 'BAD_OPTION',
    () => `maxInflatedBytes ${typeof max === 'string' ? JSON.stringify(max) : String(max)} is not a whole number of bytes from 1 to ${bufferConstants.MAX_LENGTH}`,
    `pass a byte count such as 4e9 (at most buffer.constants.MAX_LENGTH = ${bufferConstants.MAX_LENGTH}), or leave it out for 2 GiB`, { option: 'maxInflatedBytes' });
  return max;
}

/** Gunzips at most `limit` bytes: a larger output is `IDX_TOO_LARGE`, a corrupted stream `IDX_BAD_GZIP`. */
function gunzipIdx(bytes: Uint8Array, source: string, limit: number, limitSet: boolean): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: limit });
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new TrellisError('IDX_TOO_LARGE',
        `${source} inflates to more than ${limit.toLocaleString('en-US')} bytes once decompressed, the limit ${limitSet ? 'set by maxInflatedBytes' : 'for a gzipped IDX file (2 GiB, the largest plain file readIdxFile reads)'}`,
        `if the data really is that large, split it into several IDX files (e.g. one per million examples) or pass a larger { maxInflatedBytes } to readIdx / readIdxFile; otherwise the file is corrupted (or a gzip bomb): ${REDOWNLOAD}`,
        { source, maxInflatedBytes: limit });
    }
    throw new TrellisError('IDX_BAD_GZIP', `${source} starts with the gzip magic number but does not decompress (${(e as Error).message})`,
      `the compressed file is truncated or corrupted: ${REDOWNLOAD}`, { source });
  }
}

/**
 * Decodes an IDX file (the format of the original MNIST and Fashion-MNIST distributions) from its
 * bytes; gzip-compressed bytes (`*.gz`) are decompressed first.
 *
 * Validates the magic number (two zero bytes, a known element type, at least one dimension) and that
 * the byte length is exactly what the header declares, so a truncated or mislabelled file fails here
 * with a {@link TrellisError} (`IDX_TRUNCATED`, `IDX_TRAILING_BYTES`, `IDX_BAD_MAGIC`,
 * `IDX_BAD_DTYPE`, `IDX_BAD_GZIP`) instead of producing garbage images. Gzipped bytes inflate to at
 * most {@link ReadIdxOptions.maxInflatedBytes} (default 2 GiB − 1): beyond it, `IDX_TOO_LARGE`, before
 * the memory is spent.
 *
 * @param buffer The file's bytes.
 * @param source How to name the data in error messages (usually its path).
 * @param options The inflate limit for gzipped bytes.
 */
export function readIdx(buffer: Uint8Array, source = 'the IDX data', options: ReadIdxOptions = {}): IdxArray {
  checkIdxBytes(buffer);
  const limit = inflateLimit(source, options);
  let bytes = buffer;
  if (isGzip(bytes)) {
    bytes = gunzipIdx(bytes, source, limit, options.maxInflatedBytes !== undefined);
    check(!isGzip(bytes), 'IDX_BAD_GZIP', `${source} is gzipped twice: once decompressed, it starts with the gzip magic number again`,
      'decompress it once yourself (gunzip, or save the download without adding a .gz layer) and pass the result; readIdx removes one layer', { source });
  }
  if (bytes.length < 4) {
    throw new TrellisError('IDX_TRUNCATED', `${source} is truncated: it has ${bytes.length} bytes, fewer than the 4-byte IDX magic number`,
      REDOWNLOAD, { source, expectedBytes: 4, actualBytes: bytes.length });
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new TrellisError('IDX_BAD_MAGIC',
      `${source} is not an IDX file: its magic number is ${hex32(bytes)}, but IDX magic numbers start with two zero bytes (MNIST images: 0x00000803 = 2051, labels: 0x00000801 = 2049)`,
      'pass an IDX file such as train-images-idx3-ubyte (optionally gzipped); other formats (CSV, PNG, npy) need their own loader or a conversion',
      { source, magic: hex32(bytes) });
  }
  const info = DTYPES.get(bytes[2]!);
  if (!info) {
    throw new TrellisError('IDX_BAD_DTYPE',
      `${source} declares element type 0x${bytes[2]!.toString(16).padStart(2, '0')}, which is not an IDX type (0x08 uint8, 0x09 int8, 0x0b int16, 0x0c int32, 0x0d float32, 0x0e float64)`,
      `the file is corrupted or not an IDX file: ${REDOWNLOAD}`, { source, magic: hex32(bytes) });
  }
  const ndims = bytes[3]!;
  if (ndims === 0) {
    throw new TrellisError('IDX_BAD_MAGIC', `${source} declares 0 dimensions in its magic number ${hex32(bytes)}`,
      `an IDX file has at least one dimension: ${REDOWNLOAD}`, { source, magic: hex32(bytes) });
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new TrellisError('IDX_TRUNCATED',
      `${source} is truncated: its header alone needs ${headerBytes} bytes (${ndims} dimensions) but the file has ${bytes.length} bytes`,
      REDOWNLOAD, { source, expectedBytes: headerBytes, actualBytes: bytes.length });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const count = dims.reduce((p, d) => p * d, 1);
  const expectedBytes = headerBytes + count * info.bytes;
  if (bytes.length < expectedBytes) {
    throw new TrellisError('IDX_TRUNCATED',
      `${source} is truncated: its header declares ${info.dtype} dims [${dims.join(', ')}], which take ${expectedBytes} bytes, but the file has ${bytes.length} bytes (${expectedBytes - bytes.length} missing)`,
      REDOWNLOAD, { source, dims, expectedBytes, actualBytes: bytes.length });
  }
  if (bytes.length > expectedBytes) {
    throw new TrellisError('IDX_TRAILING_BYTES',
      `${source} has ${bytes.length - expectedBytes} bytes after the data its header declares (${info.dtype} dims [${dims.join(', ')}] take ${expectedBytes} bytes, the file has ${bytes.length})`,
      'the header does not describe the data (wrong dimensions, or two files concatenated): re-export the file with a header that matches its contents',
      { source, dims, expectedBytes, actualBytes: bytes.length });
  }
  return { dtype: info.dtype, dims, data: decode(view, headerBytes, count, info.dtype) };
}

function decode(view: DataView, offset: number, count: number, dtype: IdxDtype): IdxData {
  switch (dtype) {
    case 'uint8':
      return new Uint8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
    case 'int8':
      return new Int8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

/**
 * Reads and decodes an IDX file (plain or gzipped) from disk; see {@link readIdx} for the checks and
 * `options` (the inflate limit of a gzipped file, default 2 GiB − 1).
 * A missing file throws a {@link TrellisError} with code `FILE_NOT_FOUND`.
 */
export function readIdxFile(path: string, options: ReadIdxOptions = {}): IdxArray {
  return readIdx(readFileOrThrow(path, 'IDX file'), path, options);
}

/**
 * Multi-byte labels written little-endian behind an IDX header (numpy's `tofile` on x86) read as
 * multiples of 256 (int16) or 2^24 (int32): 1 → 16777216. Refused when they are not within an explicit
 * `numClasses` (otherwise they would become a class count in the hundreds of millions, or a fix that
 * says to raise numClasses above 16777216).
 */
function checkLabelByteOrder(labels: Int32Array, bytes: number, numClasses: number | undefined, path: string): void {
  const unit = 2 ** (8 * (bytes - 1));
  let max = 0;
  for (const l of labels) {
    if (l % unit !== 0) return;
    if (l > max) max = l;
  }
  if (max === 0 || (numClasses !== undefined && max < numClasses)) return;
  const sample = Array.from(labels.subarray(0, 5));
  throw new TrellisError('IDX_BAD_LABELS',
    `${path} holds int${8 * bytes} labels that are all multiples of ${unit} (first: ${sample.join(', ')}): they look written little-endian (byte-swapped they read ${sample.map((l) => l / unit).join(', ')})`,
    `IDX is big-endian: re-export the labels big-endian (numpy: labels.astype('>i${bytes}')), or as uint8 for up to 256 classes`,
    { path, labels: sample });
}

/** Options of {@link loadIdxDataset}. */
export interface IdxDatasetOptions {
  /** Number of classes; default: the largest label + 1 (1 without a labels file: pass the model's class count to train or adapt on unlabeled images). */
  numClasses?: number;
  /** Divide every input value by this; default 255 for uint8 images (giving [0, 1]) and 1 otherwise. */
  scale?: number;
  /** Give each example shape `[prod(dims)]` instead of `[h, w, 1]` / `[h, w, c]`. Default false. */
  flatten?: boolean;
}

/**
 * Builds a {@link Dataset} from a pair of IDX files: images `[n, h, w]` (or `[n, h, w, c]`, or
 * `[n, d]` feature vectors) and labels `[n]` (integer type). Both may be gzipped.
 *
 * Besides the per-file checks of {@link readIdx}, it checks that the two files are a matching pair:
 * the labels file holds one integer label per image (`IDX_LABEL_COUNT` names both counts), images
 * and labels are not swapped (`IDX_BAD_DIMS`), and labels are non-negative integers below `numClasses`.
 *
 * @param imagesPath Path of the images file, e.g. `train-images-idx3-ubyte` or `train-images-idx3-ubyte.gz`.
 * @param labelsPath Path of the labels file, or `null` for an unlabeled dataset.
 */
export function loadIdxDataset(imagesPath: string, labelsPath: string | null, options: IdxDatasetOptions = {}): Dataset {
  checkPathArgument(imagesPath, 'images file', "the images file's path: loadIdxDataset(imagesPath, labelsPath, options)");
  if (labelsPath !== null) {
    checkPathArgument(labelsPath, 'labels file', "the labels file's path, or null for an unlabeled dataset: loadIdxDataset(imagesPath, labelsPath, options)");
  }
  checkOptionsObject(options, 'loadIdxDataset', ['numClasses', 'scale', 'flatten'], 'loadIdxDataset(imagesPath, labelsPath, { numClasses: 10 }), or without options');
  check(options.numClasses === undefined || (Number.isInteger(options.numClasses) && options.numClasses > 0), 'BAD_CLASSES',
    () => `numClasses ${String(options.numClasses)} is not a positive integer`, 'pass the number of classes, or leave numClasses out to use the largest label + 1',
    { numClasses: options.numClasses });
  checkBooleanOption(options.flatten, 'flatten');
  const images = readIdxFile(imagesPath);
  if (images.dims.length < 2) {
    throw new TrellisError('IDX_BAD_DIMS',
      `${imagesPath} has dims [${images.dims.join(', ')}] (one dimension), which looks like a labels file, not images`,
      'check that the images and labels paths are not swapped: images are [n, h, w] (idx3), labels are [n] (idx1)',
      { path: imagesPath, dims: images.dims });
  }
  const n = images.dims[0]!;
  check(n > 0, 'EMPTY_DATASET', `${imagesPath} holds no images: its header declares dims [${images.dims.join(', ')}]`,
    'pass a file with at least one image (re-export it if the export wrote an empty array)', { path: imagesPath, dims: images.dims });
  check(images.dims.every((d) => d > 0), 'IDX_BAD_DIMS',
    `${imagesPath} declares dims [${images.dims.join(', ')}]: each of its ${n} images would hold no values`,
    `the header does not describe images (an empty dimension): ${REDOWNLOAD}`, { path: imagesPath, dims: images.dims });
  let labels: Int32Array | null = null;
  let labelBytes = 1;
  if (labelsPath !== null) {
    const raw = readIdxFile(labelsPath);
    if (raw.dims.length !== 1) {
      throw new TrellisError('IDX_BAD_DIMS',
        `${labelsPath} has dims [${raw.dims.join(', ')}], but a labels file has exactly one dimension`,
        'check that the images and labels paths are not swapped: labels are [n] (idx1), images are [n, h, w] (idx3)',
        { path: labelsPath, dims: raw.dims });
    }
    if (raw.dtype === 'float32' || raw.dtype === 'float64') {
      throw new TrellisError('IDX_BAD_LABELS', `${labelsPath} stores labels as ${raw.dtype}, but class labels are integers`,
        'export the labels with an integer IDX type (uint8 for up to 256 classes)', { path: labelsPath, dtype: raw.dtype });
    }
    if (raw.dims[0] !== n) {
      throw new TrellisError('IDX_LABEL_COUNT',
        `${labelsPath} holds ${raw.dims[0]} labels but ${imagesPath} holds ${n} images: the files are not a matching pair (mislabelled, truncated, or from different splits, e.g. train images with t10k labels)`,
        'pass the labels file that belongs to these images (same split, one label per image)',
        { imagesPath, labelsPath, images: n, labels: raw.dims[0] });
    }
    labels = Int32Array.from(raw.data as ArrayLike<number>);
    labelBytes = raw.data.BYTES_PER_ELEMENT;
    for (let i = 0; i < labels.length; i++) {
      if (labels[i]! < 0) {
        throw new TrellisError('IDX_BAD_LABELS', `${labelsPath} has label ${labels[i]} at index ${i}; class labels must be 0 or more`,
          'remap the labels to 0..K-1 before exporting', { path: labelsPath, index: i, label: labels[i] });
      }
    }
  }
  let numClasses = options.numClasses;
  if (labels && labelBytes > 1) checkLabelByteOrder(labels, labelBytes, numClasses, labelsPath!);
  if (numClasses === undefined) {
    let max = 0;
    if (labels) for (const l of labels) if (l > max) max = l;
    if (labels) checkDefaultClassCount(max, labelsPath!, 'IDX_BAD_LABELS', { path: labelsPath }, 'the export and its byte order (IDX is big-endian)');
    numClasses = max + 1;
  } else if (labels) {
    for (let i = 0; i < labels.length; i++) {
      if (labels[i]! >= numClasses) {
        throw new TrellisError('LABEL_OUT_OF_RANGE', `${labelsPath} has label ${labels[i]} at index ${i}, outside [0, ${numClasses})`,
          `raise numClasses above ${labels[i]} or leave it out to use the largest label + 1`, { path: labelsPath, index: i, label: labels[i] });
      }
    }
  }
  const scale = options.scale ?? (images.dtype === 'uint8' ? 255 : 1);
  if (!(Number.isFinite(scale) && scale > 0)) {
    throw new TrellisError('BAD_SCALE', `scale ${scale} is not a positive number`, 'pass a divisor such as 255, or leave scale out', { scale });
  }
  const x = largeFloat32Array(images.data.length);
  for (let i = 0; i < x.length; i++) {
    const v = images.data[i]! / scale;
    x[i] = v;
    if (!Number.isFinite(x[i]!)) {
      const per = x.length / n;
      throw new TrellisError('IDX_NON_FINITE', `${imagesPath}: value ${images.data[i]} of image ${Math.floor(i / per)} (index ${i % per}) ${Number.isFinite(v) ? 'overflows float32' : 'is not finite'}${scale !== 1 ? ` after dividing by ${scale}` : ''}`,
        'clean the data before exporting it (replace NaN and infinities), or pass a scale that brings the values into float32 range', { path: imagesPath, index: i });
    }
  }
  const per = images.dims.slice(1);
  const shape = options.flatten ? [per.reduce((p, d) => p * d, 1)] : per.length === 2 ? [per[0]!, per[1]!, 1] : per;
  return Dataset.fromArrays({ x, shape, labels, numClasses });
}
