import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { TrellisError } from './errors.js';

const REASONS: Record<string, string> = {
  ENOTDIR: 'a part of the path is a file, not a directory',
  EEXIST: 'a file of that name is in the way',
  EACCES: 'permission denied',
  EPERM: 'the operation is not permitted there',
  EROFS: 'the file system is read-only',
  ENOSPC: 'the disk is full',
  ENOENT: 'the file system does not allow creating it',
};

function failure(dir: string, purpose: string, fix: string, e: unknown): TrellisError {
  const code = (e as NodeJS.ErrnoException).code ?? 'UNKNOWN';
  return new TrellisError('DIRECTORY_UNWRITABLE', `cannot create or write ${purpose} ${dir}: ${REASONS[code] ?? (e as Error).message} (${code})`, fix, { dir, errno: code });
}

/**
 * Creates `dir` and its missing parents one level at a time and checks that it can be written,
 * turning any failure into a `DIRECTORY_UNWRITABLE` {@link TrellisError} that names the path, the
 * reason and what to do (`purpose`, e.g. "the run directory"; `fix`, e.g. "pass --out a directory you
 * can write"). Node's own `mkdir(…, { recursive: true })` never returns under `/proc`; this does.
 */
export async function ensureDirectory(dir: string, purpose: string, fix: string): Promise<void> {
  const target = resolve(dir);
  const missing: string[] = [];
  for (let p = target; ; p = dirname(p)) {
    try {
      if (!(await stat(p)).isDirectory()) throw Object.assign(new Error(`${p} is a file`), { code: p === target ? 'EEXIST' : 'ENOTDIR' });
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || dirname(p) === p) throw failure(target, purpose, fix, e);
      missing.push(p);
    }
  }
  for (const p of missing.reverse()) {
    try {
      await mkdir(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw failure(target, purpose, fix, e);
    }
  }
  try {
    await access(target, constants.W_OK);
  } catch (e) {
    throw failure(target, purpose, fix, e);
  }
}
