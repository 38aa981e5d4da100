import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { TrellisError } from '@trellis-ml/core';
import { loadIdxDataset, readIdx, readIdxFile } from '@trellis-ml/datasets';
import { trellisErrorOf } from '@trellis-ml/testkit';

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
    expect(trellisErrorOf(() => readIdx(gzipSync(images).subarray(0, 20))).code).toBe('IDX_BAD_GZIP');
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
    expect(trellisErrorOf(() => readIdx(images.subarray(0, 9))).code).toBe('IDX_TRUNCATED'); // inside the header
    expect(trellisErrorOf(() => readIdx(new Uint8Array(2))).code).toBe('IDX_TRUNCATED');
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
    expect(trellisErrorOf(() => readIdx(idx(0x07, [1], new Uint8Array(1)))).code).toBe('IDX_BAD_DTYPE');
    expect(trellisErrorOf(() => readIdx(idx(0x08, [], new Uint8Array(0)))).code).toBe('IDX_BAD_MAGIC');
    const extra = new Uint8Array(images.length + 3);
    extra.set(images);
    expect(trellisErrorOf(() => readIdx(extra)).code).toBe('IDX_TRAILING_BYTES');
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
    expect(trellisErrorOf(() => loadIdxDataset(lab, img)).code).toBe('IDX_BAD_DIMS');
    expect(trellisErrorOf(() => loadIdxDataset(img, img)).code).toBe('IDX_BAD_DIMS');
    expect(trellisErrorOf(() => loadIdxDataset(img, write('labf', idx(0x0d, [3], new Uint8Array(12))))).code).toBe('IDX_BAD_LABELS');
    expect(trellisErrorOf(() => loadIdxDataset(img, lab, { numClasses: 2 })).code).toBe('LABEL_OUT_OF_RANGE');
    expect(trellisErrorOf(() => readIdxFile(join(dir, 'nope'))).code).toBe('FILE_NOT_FOUND');
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

describe('readIdx and loadIdxDataset given the wrong kind of input', () => {
  it('readIdx refuses anything but a Uint8Array with IDX_BAD_INPUT (a path, an ArrayBuffer, an array: raw TypeError or a nonsense magic number)', () => {
    const cases: Array<[unknown, string, string]> = [
      ['train-images-idx3-ubyte', 'readIdx was given a string ("train-images-idx3-ubyte")', 'readIdxFile(path)'],
      [images.slice().buffer, 'a value of type ArrayBuffer', 'new Uint8Array(arrayBuffer)'],
      [Array.from(images), 'readIdx was given an array', 'readIdxFile(path)'],
      [undefined, 'readIdx was given undefined', 'readIdxFile(path)'],
    ];
    for (const [input, problem, fix] of cases) {
      try {
        readIdx(input as Uint8Array);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(TrellisError);
        const err = e as TrellisError;
        expect(err.code).toBe('IDX_BAD_INPUT');
        expect(err.problem).toContain(problem);
        expect(err.fix).toContain(fix);
      }
    }
    expect(readIdx(Buffer.from(images)).dims).toEqual([3, 2, 2]); // a Node Buffer is a Uint8Array
  });

  it('loadIdxDataset: null or unknown options, and numClasses that is not a positive integer', () => {
    const img = write('img-opts', images);
    const lab = write('lab-opts', labels);
    expect(trellisErrorOf(() => loadIdxDataset(img, lab, null as unknown as object)).code).toBe('BAD_OPTIONS');
    expect(trellisErrorOf(() => loadIdxDataset(img, lab, { shape: [4] } as unknown as object)).code).toBe('BAD_OPTION');
    try {
      loadIdxDataset(img, lab, { numClasses: 0 });
      expect.unreachable();
    } catch (e) {
      expect((e as TrellisError).code).toBe('BAD_CLASSES'); // was LABEL_OUT_OF_RANGE "raise numClasses above 0"
      expect((e as TrellisError).problem).toBe('numClasses 0 is not a positive integer');
    }
  });

  it('int32 labels written little-endian are IDX_BAD_LABELS naming the byte order (they became 150,994,945 classes)', () => {
    const img = write('img-le', idx(0x08, [4, 2, 2], new Uint8Array(16).fill(9)));
    const le = new Uint8Array(16);
    [3, 1, 0, 9].forEach((l, i) => new DataView(le.buffer).setInt32(4 * i, l, true));
    const lab = write('lab-le', idx(0x0c, [4], le));
    for (const options of [{}, { numClasses: 10 }]) {
      try {
        loadIdxDataset(img, lab, options);
        expect.unreachable();
      } catch (e) {
        const err = e as TrellisError;
        expect(err.code).toBe('IDX_BAD_LABELS');
        expect(err.problem).toContain('byte-swapped they read 3, 1, 0, 9');
        expect(err.fix).toContain('big-endian');
      }
    }
    // int16 too (1 → 256)
    const le16 = new Uint8Array(8);
    [3, 1, 0, 9].forEach((l, i) => new DataView(le16.buffer).setInt16(2 * i, l, true));
    expect(trellisErrorOf(() => loadIdxDataset(img, write('lab-le16', idx(0x0b, [4], le16)))).code).toBe('IDX_BAD_LABELS');
    // big-endian int32 labels load, and labels that fit an explicit numClasses are trusted
    const be = new Uint8Array(16);
    [3, 1, 0, 9].forEach((l, i) => new DataView(be.buffer).setInt32(4 * i, l, false));
    expect(Array.from(loadIdxDataset(img, write('lab-be', idx(0x0c, [4], be))).labels!)).toEqual([3, 1, 0, 9]);
    const mult = new Uint8Array(8);
    [0, 256, 512, 256].forEach((l, i) => new DataView(mult.buffer).setInt16(2 * i, l, false));
    expect(loadIdxDataset(img, write('lab-mult', idx(0x0b, [4], mult)), { numClasses: 600 }).numClasses).toBe(600);
  });

  it('a huge label does not become a default class count in the millions', () => {
    const img = write('img-huge', images);
    const big = new Uint8Array(12);
    [1, 2e9 + 1, 0].forEach((l, i) => new DataView(big.buffer).setInt32(4 * i, l, false));
    const lab = write('lab-huge', idx(0x0c, [3], big));
    try {
      loadIdxDataset(img, lab);
      expect.unreachable();
    } catch (e) {
      const err = e as TrellisError;
      expect(err.code).toBe('IDX_BAD_LABELS');
      expect(err.problem).toContain('has label 2000000001, so the default class count');
      expect(err.fix).toContain('pass numClasses');
    }
    expect(loadIdxDataset(img, lab, { numClasses: 2e9 + 2 }).numClasses).toBe(2e9 + 2); // asked for explicitly
  });

  it('an images file with no images, or an empty dimension, names the file (not "pass the shape of one example")', () => {
    try {
      loadIdxDataset(write('img-empty-dim', idx(0x08, [3, 0, 2], new Uint8Array(0))), null);
      expect.unreachable();
    } catch (e) {
      const err = e as TrellisError;
      expect(err.code).toBe('IDX_BAD_DIMS');
      expect(err.problem).toContain('img-empty-dim declares dims [3, 0, 2]');
    }
    try {
      loadIdxDataset(write('img-none', idx(0x08, [0, 2, 2], new Uint8Array(0))), null);
      expect.unreachable();
    } catch (e) {
      const err = e as TrellisError;
      expect(err.code).toBe('EMPTY_DATASET');
      expect(err.problem).toContain('img-none holds no images');
    }
  });

  it('NaN, infinite and float32-overflowing values name the file and the image', () => {
    const f64 = new Uint8Array(24);
    new DataView(f64.buffer).setFloat64(8, 1e300, false);
    try {
      loadIdxDataset(write('img-f64', idx(0x0e, [3, 1, 1], f64)), null);
      expect.unreachable();
    } catch (e) {
      const err = e as TrellisError;
      expect(err.code).toBe('IDX_NON_FINITE');
      expect(err.problem).toContain('img-f64: value 1e+300 of image 1 (index 0) overflows float32');
    }
    const f32 = new Uint8Array(12);
    new DataView(f32.buffer).setFloat32(8, NaN, false);
    expect(trellisErrorOf(() => loadIdxDataset(write('img-f32', idx(0x0d, [3, 1, 1], f32)), null)).code).toBe('IDX_NON_FINITE');
  });
});

describe('readIdx on a file gzipped twice', () => {
  it('says to remove one layer (it said "not an IDX file ... (optionally gzipped)" about a gzipped file)', () => {
    try {
      readIdx(gzipSync(gzipSync(images)), 'train-images-idx3-ubyte.gz');
      expect.unreachable();
    } catch (e) {
      const err = e as TrellisError;
      expect(err.code).toBe('IDX_BAD_GZIP');
      expect(err.problem).toBe('train-images-idx3-ubyte.gz is gzipped twice: once decompressed, it starts with the gzip magic number again');
      expect(err.fix).toContain('decompress it once');
    }
  });
});

describe('readIdx caps what a gzipped file may inflate to (a small .gz of zeros could inflate to gigabytes before any size check)', () => {
  const zeros = gzipSync(new Uint8Array(1 << 20)); // 1 MiB of zeros in about 1 KB

  it('stops at maxInflatedBytes with IDX_TOO_LARGE saying what to do', () => {
    try {
      readIdx(zeros, 'zeros.gz', { maxInflatedBytes: 65536 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(TrellisError);
      const err = e as TrellisError;
      expect(err.code).toBe('IDX_TOO_LARGE');
      expect(err.problem).toBe('zeros.gz inflates to more than 65,536 bytes once decompressed, the limit set by maxInflatedBytes');
      expect(err.fix).toContain('split it into several IDX files');
      expect(err.fix).toContain('maxInflatedBytes');
    }
  });

  it('a file that inflates to exactly the limit reads as before; one byte less is refused', () => {
    const gz = gzipSync(images);
    expect(readIdx(gz, 'images.gz', { maxInflatedBytes: images.length }).dims).toEqual([3, 2, 2]);
    expect(trellisErrorOf(() => readIdx(gz, 'images.gz', { maxInflatedBytes: images.length - 1 })).code).toBe('IDX_TOO_LARGE');
    expect(readIdxFile(write('capped.gz', gz), { maxInflatedBytes: images.length }).dims).toEqual([3, 2, 2]);
    expect(trellisErrorOf(() => readIdxFile(write('capped2.gz', gz), { maxInflatedBytes: 20 })).code).toBe('IDX_TOO_LARGE');
    // plain (not gzipped) bytes are already in memory: the cap is about decompression only
    expect(readIdx(images, 'images', { maxInflatedBytes: 1 }).dims).toEqual([3, 2, 2]);
  });

  it('refuses a maxInflatedBytes that is not a whole number of bytes zlib can produce, unknown options, and options in place of the name', () => {
    for (const maxInflatedBytes of [0, -1, 1.5, Number.NaN, 2 ** 60, '1000' as unknown as number]) {
      expect(trellisErrorOf(() => readIdx(zeros, 'zeros.gz', { maxInflatedBytes })).code, String(maxInflatedBytes)).toBe('BAD_OPTION');
    }
    expect(trellisErrorOf(() => readIdx(zeros, 'zeros.gz', { maxBytes: 10 } as never)).code).toBe('BAD_OPTION');
    expect(trellisErrorOf(() => readIdx(zeros, { maxInflatedBytes: 10 } as unknown as string)).code).toBe('IDX_BAD_INPUT');
  });
});
