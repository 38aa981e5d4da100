import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { TrellisError } from '@trellis-ml/core';
import { loadIdxDataset, readIdx, readIdxFile } from '@trellis-ml/datasets';

/** Builds IDX bytes: magic 00 00 type ndims, big-endian u32 dims, then the payload. */
function idx(type: number, dims: number[], payload: Uint8Array): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(header.buffer);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(header.length + payload.length);
  out.set(header);
  out.set(payload, header.length);
  return out;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TrellisError);
    return (e as TrellisError).code;
  }
  throw new Error('expected a TrellisError');
}

const dir = mkdtempSync(join(tmpdir(), 'trellis-idx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// 3 images of 2 × 2 pixels, values 0, 51, ..., and 3 labels.
const pixels = Uint8Array.from({ length: 12 }, (_, i) => (i * 51) % 256);
const images = idx(0x08, [3, 2, 2], pixels);
const labels = idx(0x08, [3], Uint8Array.from([2, 0, 1]));
const write = (name: string, bytes: Uint8Array): string => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};

describe('readIdx', () => {
  it('decodes uint8, int16 (big-endian) and float32 files', () => {
    const a = readIdx(images);
    expect(a.dtype).toBe('uint8');
    expect(a.dims).toEqual([3, 2, 2]);
    expect(Array.from(a.data)).toEqual(Array.from(pixels));
    const i16 = readIdx(idx(0x0b, [2], Uint8Array.from([0xff, 0xfe, 0x01, 0x00])));
    expect(Array.from(i16.data)).toEqual([-2, 256]);
    const f = new Uint8Array(4);
    new DataView(f.buffer).setFloat32(0, 1.5, false);
    expect(Array.from(readIdx(idx(0x0d, [1], f)).data)).toEqual([1.5]);
  });

  it('reads gzipped files transparently', () => {
    expect(readIdx(gzipSync(images)).dims).toEqual([3, 2, 2]);
    expect(codeOf(() => readIdx(gzipSync(images).subarray(0, 20)))).toBe('IDX_BAD_GZIP');
  });

  it('reports a truncated file with the expected and actual byte counts', () => {
    const cut = images.subarray(0, images.length - 5);
    try {
      readIdx(cut, 'train-images-idx3-ubyte');
      expect.unreachable();
    } catch (e) {
      const err = e as TrellisError;
      expect(err.code).toBe('IDX_TRUNCATED');
      expect(err.message).toContain('train-images-idx3-ubyte is truncated');
      expect(err.message).toContain(`take ${images.length} bytes, but the file has ${cut.length} bytes (5 missing)`);
      expect(err.fix).toMatch(/re-download or re-export/);
      expect(err.details).toMatchObject({ expectedBytes: images.length, actualBytes: cut.length });
    }
    expect(codeOf(() => readIdx(images.subarray(0, 9)))).toBe('IDX_TRUNCATED'); // inside the header
    expect(codeOf(() => readIdx(new Uint8Array(2)))).toBe('IDX_TRUNCATED');
  });

  it('rejects a bad magic number, an unknown dtype and trailing bytes', () => {
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]);
    try {
      readIdx(png);
      expect.unreachable();
    } catch (e) {
      expect((e as TrellisError).code).toBe('IDX_BAD_MAGIC');
      expect((e as TrellisError).message).toContain('0x89504e47');
    }
    expect(codeOf(() => readIdx(idx(0x07, [1], new Uint8Array(1))))).toBe('IDX_BAD_DTYPE');
    expect(codeOf(() => readIdx(idx(0x08, [], new Uint8Array(0))))).toBe('IDX_BAD_MAGIC');
    const extra = new Uint8Array(images.length + 3);
    extra.set(images);
    expect(codeOf(() => readIdx(extra))).toBe('IDX_TRAILING_BYTES');
  });
});

describe('loadIdxDataset', () => {
  it('builds a [h, w, 1] dataset scaled to [0, 1], from plain or gzipped files', () => {
    const ds = loadIdxDataset(write('img', images), write('lab', labels));
    expect(ds.size).toBe(3);
    expect(ds.shape).toEqual([2, 2, 1]);
    expect(ds.numClasses).toBe(3);
    expect(Array.from(ds.labels!)).toEqual([2, 0, 1]);
    expect(ds.x[1]).toBeCloseTo(51 / 255, 7);
    const gz = loadIdxDataset(write('img.gz', gzipSync(images)), write('lab.gz', gzipSync(labels)), { numClasses: 10, flatten: true });
    expect(gz.shape).toEqual([4]);
    expect(gz.numClasses).toBe(10);
    expect(Buffer.compare(Buffer.from(gz.x.buffer), Buffer.from(ds.x.buffer))).toBe(0);
  });

  it('rejects a mismatched (mislabelled) pair of files', () => {
    const fewer = write('lab2', idx(0x08, [2], Uint8Array.from([0, 1])));
    try {
      loadIdxDataset(write('img2', images), fewer);
      expect.unreachable();
    } catch (e) {
      const err = e as TrellisError;
      expect(err.code).toBe('IDX_LABEL_COUNT');
      expect(err.message).toContain('holds 2 labels but');
      expect(err.message).toContain('holds 3 images');
      expect(err.message).toMatch(/not a matching pair/);
    }
  });

  it('detects swapped files, float labels, labels above numClasses and missing files', () => {
    const img = write('img3', images);
    const lab = write('lab3', labels);
    expect(codeOf(() => loadIdxDataset(lab, img))).toBe('IDX_BAD_DIMS');
    expect(codeOf(() => loadIdxDataset(img, img))).toBe('IDX_BAD_DIMS');
    expect(codeOf(() => loadIdxDataset(img, write('labf', idx(0x0d, [3], new Uint8Array(12)))))).toBe('IDX_BAD_LABELS');
    expect(codeOf(() => loadIdxDataset(img, lab, { numClasses: 2 }))).toBe('LABEL_OUT_OF_RANGE');
    expect(codeOf(() => readIdxFile(join(dir, 'nope')))).toBe('FILE_NOT_FOUND');
    expect(loadIdxDataset(img, null).labels).toBeNull();
  });

  it('an unlabeled set has 1 class unless built with the model\'s count (core\'s Trainer then says which numClasses to pass)', () => {
    const img = write('img-unlabeled', images);
    expect(loadIdxDataset(img, null).numClasses).toBe(1);
    expect(loadIdxDataset(img, null, { numClasses: 3 }).numClasses).toBe(3);
  });

  it('says how to call it when given an options object or no labels path (calls from JavaScript)', () => {
    const img = write('img4', images);
    for (const [call, names] of [
      [() => loadIdxDataset({ images: img, labels: img } as unknown as string, null), 'images file argument is an object'],
      [() => loadIdxDataset(img, undefined as unknown as null), 'labels file argument is undefined'],
      [() => readIdxFile('' as string), 'argument is an empty string'],
    ] as const) {
      try {
        call();
        expect.unreachable();
      } catch (e) {
        expect((e as TrellisError).code).toBe('BAD_PATH');
        expect((e as TrellisError).message).toContain(names);
      }
    }
  });
});
