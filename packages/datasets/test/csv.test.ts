import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TrellisError } from '@trellis-ml/core';
import { loadCsvDataset, parseCsvDataset, readIdxFile } from '@trellis-ml/datasets';
import { trellisErrorOf } from '@trellis-ml/testkit';

const dir = mkdtempSync(join(tmpdir(), 'trellis-csv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadCsvDataset', () => {
  it('reads a file with a header, a named label column, a shape and a scale', () => {
    const path = join(dir, 'ok.csv');
    writeFileSync(path, 'p0,p1,label,p2,p3\n0,255,1,51,102\r\n255,0,0,0,0\n\n');
    const ds = loadCsvDataset(path, { labelColumn: 'label', shape: [2, 2, 1], scale: 255 });
    expect(ds.size).toBe(2);
    expect(ds.shape).toEqual([2, 2, 1]);
    expect(ds.numClasses).toBe(2);
    expect(Array.from(ds.labels!)).toEqual([1, 0]);
    expect(Array.from(ds.x)).toEqual([0, 1, 0.2, 0.4, 1, 0, 0, 0].map((v) => Math.fround(v)));
  });

  it('parses CSV text without a header, by column index, quoted cells, other delimiters, unlabeled', () => {
    const ds = loadCsvDataset('"1";0.5;2\n0;0.25;4', { labelColumn: 0, delimiter: ';', numClasses: 3 });
    expect(ds.shape).toEqual([2]);
    expect(Array.from(ds.labels!)).toEqual([1, 0]);
    expect(ds.numClasses).toBe(3);
    const unlabeled = parseCsvDataset('1,2\n3,4\n', { labelColumn: null });
    expect(unlabeled.labels).toBeNull();
    expect(unlabeled.shape).toEqual([2]);
  });

  it('ragged rows name the line and both cell counts', () => {
    const e = trellisErrorOf(() => loadCsvDataset('a,b,label\n1,2,0\n3,4\n', { labelColumn: 'label' }));
    expect(e.code).toBe('CSV_RAGGED');
    expect(e.message).toContain('line 3 has 2 cells, but line 1 has 3');
    expect(e.fix).toContain('fix line 3');
  });

  it('non-numeric and empty cells name the line and column', () => {
    const e = trellisErrorOf(() => loadCsvDataset('x,y,label\n1,2,0\n1,abc,1\n', { labelColumn: 'label' }));
    expect(e.code).toBe('CSV_NOT_NUMERIC');
    expect(e.message).toContain('line 3, column 2 ("y"): "abc" is not a number');
    const empty = trellisErrorOf(() => loadCsvDataset('1,,0\n', { labelColumn: 2, hasHeader: false }));
    expect(empty.message).toContain('line 1, column 2: the cell is empty');
    expect(empty.fix).toMatch(/hasHeader: true/);
    expect(trellisErrorOf(() => loadCsvDataset('1,NaN,0\n', { labelColumn: 2, hasHeader: false })).code).toBe('CSV_NOT_NUMERIC');
  });

  it('bad labels, a missing label column and a wrong shape are explained', () => {
    const bad = trellisErrorOf(() => loadCsvDataset('x,label\n1,cat\n', { labelColumn: 'label' }));
    expect(bad.code).toBe('CSV_BAD_LABEL');
    expect(bad.message).toContain('line 2, column 2 ("label"): label "cat" is not a non-negative integer');
    expect(trellisErrorOf(() => loadCsvDataset('x,y\n1,2\n', { labelColumn: 'label' })).message).toContain('no column named "label"');
    expect(trellisErrorOf(() => loadCsvDataset('1,2\n', { labelColumn: 'label' })).code).toBe('CSV_BAD_LABEL_COLUMN');
    expect(trellisErrorOf(() => loadCsvDataset('1,2\n', { labelColumn: 5 })).code).toBe('CSV_BAD_LABEL_COLUMN');
    expect(trellisErrorOf(() => loadCsvDataset('1,2,3\n', { labelColumn: 0, shape: [3] })).code).toBe('CSV_BAD_SHAPE');
    expect(trellisErrorOf(() => loadCsvDataset('1,2,3\n', { labelColumn: 0, numClasses: 1 })).code).toBe('LABEL_OUT_OF_RANGE');
  });

  it('reads quoted cells the RFC 4180 way: the delimiter, "" and a line break inside quotes (they used to split the cell)', () => {
    const ds = parseCsvDataset('label,"width, cm","say ""hi"""\n1,"2.5", 3\n0,4,"5"\n', { labelColumn: 'label' });
    expect(ds.shape).toEqual([2]);
    expect(Array.from(ds.labels!)).toEqual([1, 0]);
    expect(Array.from(ds.x)).toEqual([2.5, 3, 4, 5]);
    const named = parseCsvDataset('"x, y","the ""label"""\n1,0\n', { labelColumn: 'the "label"' });
    expect(Array.from(named.labels!)).toEqual([0]);
    // a quoted header cell across two lines: the data rows keep their own line numbers in errors
    const e = trellisErrorOf(() => parseCsvDataset('"a\nb",label\n1,0\n2,x\n', { labelColumn: 'label' }));
    expect(e.code).toBe('CSV_BAD_LABEL');
    expect(e.message).toContain('line 4, column 2 ("label")');
    expect(trellisErrorOf(() => parseCsvDataset('a,"b\n1,2\n', { labelColumn: null })).message).toContain('line 1: a quoted cell is never closed');
    expect(trellisErrorOf(() => parseCsvDataset('a,"b"c\n1,2\n', { labelColumn: null })).code).toBe('CSV_BAD_QUOTE');
    expect(trellisErrorOf(() => parseCsvDataset('1,2\n', { labelColumn: null, delimiter: '' })).code).toBe('CSV_BAD_DELIMITER');
  });

  it('a missing value in the first row is an error, not a header row that drops it', () => {
    const e = trellisErrorOf(() => parseCsvDataset('1,2,\n0,4,5\n1,6,7\n', { labelColumn: 0 }));
    expect(e.code).toBe('CSV_NOT_NUMERIC');
    expect(e.message).toContain('line 1, column 3: the cell is empty');
    // a header with an unnamed index column (as pandas writes it) is still a header
    const ds = parseCsvDataset(',x,label\n0,0.5,1\n1,0.25,0\n', { labelColumn: 'label' });
    expect(ds.size).toBe(2);
    expect(Array.from(ds.x)).toEqual([0, 0.5, 1, 0.25]);
  });

  it('a missing-value marker or a hex literal in the first row is an error too, not a header; huge labels and non-decimal numbers are refused', () => {
    // `NaN`, `NA`, `?` … used to make the first data row a header, dropped without a word
    for (const marker of ['NaN', 'nan', 'NA', 'n/a', 'null', 'inf', '-Infinity', '?']) {
      const e = trellisErrorOf(() => parseCsvDataset(`1,${marker}\n0,4\n`, { labelColumn: 0 }));
      expect(e.code, marker).toBe('CSV_NOT_NUMERIC');
      expect(e.message, marker).toContain(`line 1, column 2: ${JSON.stringify(marker)} is not a number`);
    }
    // `Number` reads 0x10 as 16 and 0b11 as 3: the cells are refused, in the first row and later
    expect(trellisErrorOf(() => parseCsvDataset('1,0x10\n0,4\n', { labelColumn: 0 })).message).toContain('line 1, column 2: "0x10" is not a number');
    expect(trellisErrorOf(() => parseCsvDataset('0,2\n1,0b11\n', { labelColumn: 0 })).message).toContain('line 2, column 2: "0b11" is not a number');
    expect(Array.from(parseCsvDataset('0,2.5e-1\n1,-.5\n1,+3.\n', { labelColumn: 0 }).x)).toEqual([0.25, -0.5, 3]);
    // labels are Int32: 2^31 used to crash with a TypeError (numClasses given) and 2^32 + 1 to load as 1
    expect(trellisErrorOf(() => parseCsvDataset('2147483648,1\n0,2\n', { labelColumn: 0, numClasses: 3 })).code).toBe('CSV_BAD_LABEL');
    expect(trellisErrorOf(() => parseCsvDataset('4294967297,1\n0,2\n', { labelColumn: 0 })).code).toBe('CSV_BAD_LABEL');
    // a header with a real name is still a header
    expect(parseCsvDataset('label,NaN_count\n1,2\n', { labelColumn: 'label' }).size).toBe(1);
  });

  it('a missing file whose name holds the delimiter is a missing file, not CSV text', () => {
    expect(trellisErrorOf(() => loadCsvDataset(join(dir, 'no-such,file.csv'), { labelColumn: 0 })).code).toBe('FILE_NOT_FOUND');
    expect(trellisErrorOf(() => loadCsvDataset('runs,2024.csv', { labelColumn: 0 })).code).toBe('FILE_NOT_FOUND');
    // one line of CSV text without a line break is still text
    expect(loadCsvDataset('1,0.5,0.25', { labelColumn: 0 }).size).toBe(1);
  });

  it('an empty file, a header-only file and a missing file are reported', () => {
    const empty = join(dir, 'empty.csv');
    writeFileSync(empty, '');
    const e = trellisErrorOf(() => loadCsvDataset(empty, { labelColumn: 0 }));
    expect(e.code).toBe('CSV_EMPTY');
    expect(e.message).toContain('empty.csv has no rows');
    expect(trellisErrorOf(() => loadCsvDataset('', { labelColumn: 0 })).code).toBe('CSV_EMPTY');
    expect(trellisErrorOf(() => loadCsvDataset('a,b,label\n', { labelColumn: 'label' })).message).toContain('no data rows');
    expect(trellisErrorOf(() => loadCsvDataset(join(dir, 'missing.csv'), { labelColumn: 0 })).code).toBe('FILE_NOT_FOUND');
  });

  it('a directory, a non-string path and options without labelColumn are explained (calls from JavaScript)', () => {
    const d = trellisErrorOf(() => loadCsvDataset(dir, { labelColumn: 0 }));
    expect(d.code).toBe('FILE_UNREADABLE');
    expect(d.message).toContain('is a directory');
    const p = trellisErrorOf(() => loadCsvDataset({ path: 'x.csv' } as unknown as string, { labelColumn: 0 }));
    expect(p.code).toBe('BAD_PATH');
    expect(p.message).toContain('is an object, not a path');
    // Left out, the label column would load as a feature: 3 columns → 3 features, no labels.
    const noLabel = trellisErrorOf(() => loadCsvDataset('label,a,b\n1,0.1,0.2\n', { numClasses: 3 } as unknown as { labelColumn: null }));
    expect(noLabel.code).toBe('CSV_BAD_LABEL_COLUMN');
    expect(noLabel.fix).toContain('labelColumn: null');
    expect(trellisErrorOf(() => parseCsvDataset('1,2\n', undefined as unknown as { labelColumn: null })).code).toBe('CSV_BAD_LABEL_COLUMN');
    expect(trellisErrorOf(() => loadCsvDataset('1,2\n', { labelColumn: undefined } as unknown as { labelColumn: null })).code).toBe('CSV_BAD_LABEL_COLUMN');
  });
});

describe('labels and file sizes the loaders cannot use as they are', () => {
  it('one huge label does not become a default class count of 2e9 (it loaded, and classCounts() threw a raw RangeError)', () => {
    const err = trellisErrorOf(() => parseCsvDataset('x,y\n0.5,2000000000\n0.2,1\n', { labelColumn: 'y' }, 'runs.csv'));
    expect(err.code).toBe('CSV_BAD_LABEL');
    expect(err.problem).toBe('runs.csv line 2 has label 2000000000, so the default class count (largest label + 1) would be 2000000001');
    expect(err.fix).toContain('pass numClasses');
    expect(parseCsvDataset('x,y\n0.5,70000\n', { labelColumn: 'y', numClasses: 70001 }).numClasses).toBe(70001); // asked for explicitly
  });

  it('a file over 2 GiB is FILE_TOO_LARGE with what to do (it was FILE_UNREADABLE: "check that it is a file")', () => {
    const big = join(dir, 'big-idx');
    const fd = openSync(big, 'w');
    ftruncateSync(fd, 2 ** 31 + 10); // sparse: no disk space used
    closeSync(fd);
    try {
      const err = trellisErrorOf(() => readIdxFile(big));
      expect(err.code).toBe('FILE_TOO_LARGE');
      expect(err.fix).toContain('split the data into several files');
    } finally {
      rmSync(big, { force: true });
    }
  });
});
