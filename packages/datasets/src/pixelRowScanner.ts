/**
 * A byte-level reader for the compact JSON the Fashion-MNIST class files are written in —
 * `{"data":[[0,12,255,…],[],…]}`, no whitespace, integers 0–255 without leading zeros — straight
 * into bytes. `JSON.parse` builds 5.5 million JavaScript numbers per file and the text decode copies
 * it first; this reads the file's bytes once. It accepts only that exact layout and returns null for
 * anything else (other spacing, keys, number forms, out-of-range values, rows of another length), so
 * the caller's `JSON.parse` path stays the one that reads unusual files and words every error.
 *
 * @module
 */

/** Rows read from a class file. */
export interface ScannedPixelRows {
  /** Entries in the file's `data` array. */
  rows: number;
  /** Indices of blank entries: empty arrays or all-zero rows (not kept). */
  blankRows: number[];
  /** Non-blank rows, `count × rowLength` bytes. */
  pixels: Uint8Array;
  /** File index of each non-blank row (first `count` entries; one slot per entry, as `JSON.parse`'s path). */
  fileIndex: Int32Array;
  /** Non-blank rows kept. */
  count: number;
}

const OPEN = 0x5b; // [
const CLOSE = 0x5d; // ]
const COMMA = 0x2c;
const ZERO = 0x30;
const PREFIX = Buffer.from('{"data":[', 'latin1');
const SUFFIX = 0x7d; // }

/**
 * Reads `{"data":[row,row,…]}` where each row is `[]` or exactly `rowLength` integers 0–255, or
 * returns null when the bytes are not in that compact form (one trailing newline is allowed).
 */
export function scanPixelRows(bytes: Uint8Array, rowLength: number): ScannedPixelRows | null {
  const n = bytes.length;
  if (n < PREFIX.length + 2) return null;
  for (let i = 0; i < PREFIX.length; i++) if (bytes[i] !== PREFIX[i]) return null;
  // A row takes at least 2·rowLength bytes ("0,"), so this bounds the rows the file can hold.
  let pixels = new Uint8Array(Math.min(Math.ceil(n / (2 * rowLength)) + 1, 1 << 16) * rowLength);
  const fileIndex: number[] = [];
  const blankRows: number[] = [];
  let count = 0;
  let rows = 0;
  let p = PREFIX.length;
  if (bytes[p] === CLOSE) {
    p++;
  } else {
    for (;;) {
      if (bytes[p] !== OPEN) return null;
      p++;
      if (bytes[p] === CLOSE) {
        blankRows.push(rows);
        p++;
      } else {
        if ((count + 1) * rowLength > pixels.length) {
          const grown = new Uint8Array(pixels.length * 2);
          grown.set(pixels);
          pixels = grown;
        }
        const base = count * rowLength;
        let any = 0;
        for (let k = 0; k < rowLength; k++) {
          let c = bytes[p]!;
          let v = c - ZERO;
          if (v < 0 || v > 9) return null;
          p++;
          if (v !== 0) {
            c = bytes[p]!;
            if (c >= ZERO && c <= ZERO + 9) {
              v = v * 10 + (c - ZERO);
              p++;
              c = bytes[p]!;
              if (c >= ZERO && c <= ZERO + 9) {
                v = v * 10 + (c - ZERO);
                p++;
                if (v > 255) return null;
              }
            }
          }
          pixels[base + k] = v;
          any |= v;
          const sep = bytes[p];
          p++;
          if (k < rowLength - 1 ? sep !== COMMA : sep !== CLOSE) return null;
        }
        if (any === 0) {
          blankRows.push(rows);
        } else {
          fileIndex.push(rows);
          count++;
        }
      }
      rows++;
      const next = bytes[p];
      p++;
      if (next === CLOSE) break;
      if (next !== COMMA) return null;
    }
  }
  if (bytes[p] !== SUFFIX) return null;
  p++;
  if (p < n && !(p === n - 1 && bytes[p] === 0x0a)) return null;
  // Sized as the JSON.parse path sizes it (one slot per entry), so both paths give the same arrays.
  const kept = new Uint8Array(rows * rowLength);
  kept.set(pixels.subarray(0, count * rowLength));
  const index = new Int32Array(rows);
  index.set(fileIndex);
  return { rows, blankRows, pixels: kept, fileIndex: index, count };
}
