import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '@trellis-ml/core';
import { scanPixelRows, type ScannedPixelRows } from '../src/pixelRowScanner.js';

/** What the JSON.parse path of the Fashion-MNIST loader makes of a valid file, written out here. */
function viaJsonParse(text: string, rowLength: number): ScannedPixelRows {
  const data = (JSON.parse(text) as { data: number[][] }).data;
  const pixels = new Uint8Array(data.length * rowLength);
  const fileIndex = new Int32Array(data.length);
  const blankRows: number[] = [];
  let count = 0;
  data.forEach((row, r) => {
    if (row.length === 0 || row.every((v) => v === 0)) {
      blankRows.push(r);
      return;
    }
    pixels.set(row, count * rowLength);
    fileIndex[count] = r;
    count++;
  });
  return { rows: data.length, blankRows, pixels, fileIndex, count };
}

const bytes = (text: string): Uint8Array => Buffer.from(text, 'latin1');

describe('scanPixelRows', () => {
  it('reads compact files exactly as JSON.parse does: blank and all-zero rows, every digit count, 0 and 255', () => {
    const rng = new Rng(4);
    for (let trial = 0; trial < 40; trial++) {
      const rowLength = 1 + rng.int(6);
      const data = Array.from({ length: rng.int(30) }, () => {
        const kind = rng.int(6);
        if (kind === 0) return [];
        if (kind === 1) return new Array(rowLength).fill(0);
        return Array.from({ length: rowLength }, () => [0, 255, 9, 10, 99, 100, rng.int(256)][rng.int(7)]!);
      });
      const text = JSON.stringify({ data });
      const scanned = scanPixelRows(bytes(text), rowLength);
      expect(scanned, text).not.toBeNull();
      expect(scanned).toEqual(viaJsonParse(text, rowLength));
      expect(scanPixelRows(bytes(`${text}\n`), rowLength)).toEqual(scanned); // one trailing newline
    }
  });

  it('grows its buffer past the first guess (many short rows)', () => {
    const data = Array.from({ length: 5000 }, (_, i) => [i % 256, 1]);
    const text = JSON.stringify({ data });
    expect(scanPixelRows(bytes(text), 2)).toEqual(viaJsonParse(text, 2));
  });

  it('returns null for anything but the compact layout, so JSON.parse reads it or words the error', () => {
    const cases = [
      '{"data": [[1,2]]}', // spacing
      '{"data":[[1, 2]]}',
      '{"data":[[1.0,2]]}', // another number form
      '{"data":[[1e1,2]]}',
      '{"data":[[-0,2]]}',
      '{"data":[[01,2]]}', // a leading zero (invalid JSON)
      '{"data":[[256,2]]}', // out of range
      '{"data":[[1000,2]]}',
      '{"data":[[1,2,3]]}', // another row length
      '{"data":[[1]]}',
      '{"data":[[1,2]],"labels":[]}', // another key
      '{"rows":[[1,2]]}',
      '{"data":[[1,2]]', // truncated
      '{"data":[[1,2],',
      '{"data":[[1,2]]}x', // trailing bytes
      '{"data":[[1,2]]}\n\n',
      '',
    ];
    for (const text of cases) expect(scanPixelRows(bytes(text), 2), text).toBeNull();
    expect(scanPixelRows(bytes('{"data":[]}'), 2)).toEqual({ rows: 0, blankRows: [], pixels: new Uint8Array(0), fileIndex: new Int32Array(0), count: 0 });
  });

  it('reads a class file of the installed fashion-mnist package exactly as JSON.parse does', () => {
    const dir = join(dirname(createRequire(import.meta.url).resolve('fashion-mnist/package.json')), 'src', 'clothes');
    const file = readFileSync(join(dir, '0.json'));
    const scanned = scanPixelRows(file, 784);
    expect(scanned).not.toBeNull();
    const reference = viaJsonParse(file.toString('utf8'), 784);
    expect(scanned!.rows).toBe(reference.rows);
    expect(scanned!.count).toBe(reference.count);
    expect(scanned!.blankRows).toEqual(reference.blankRows);
    expect(Buffer.compare(Buffer.from(scanned!.pixels), Buffer.from(reference.pixels))).toBe(0);
    expect(Buffer.compare(Buffer.from(scanned!.fileIndex.buffer), Buffer.from(reference.fileIndex.buffer))).toBe(0);
  });
});
