import { Dataset, MAX_SEED, Rng } from '@trellis-ml/core';
import { applyCorruption } from '@trellis-ml/datasets';
import { describe, expect, it } from 'vitest';
import { shiftedData, testSubsetSeed } from '../src/experimentCell.js';

// The reproduction's blur comes from @trellis-ml/datasets; check it against this spec's golden values (§12).
describe('the blur family matches SciPy (spec §12 golden values)', () => {
  it('delta at the centre of a 9×9 image, σ = 1', () => {
    const x = new Float32Array(81);
    x[4 * 9 + 4] = 1;
    const y = applyCorruption(x, [9, 9, 1], 'blur', { sigma: 1 }, new Rng(0), { quantize: 'none' });
    const row = Array.from(y.subarray(36, 45));
    [5.3e-5, 1.768e-3, 0.021539, 0.096533, 0.159156, 0.096533, 0.021539, 1.768e-3, 5.3e-5].forEach((v, i) => expect(row[i]).toBeCloseTo(v, 5));
  });
  it('delta at the corner of a 5×5 image with reflect boundary keeps the sum', () => {
    const x = new Float32Array(25);
    x[0] = 1;
    const y = applyCorruption(x, [5, 5, 1], 'blur', { sigma: 1 }, new Rng(0), { quantize: 'none' });
    [0.410772, 0.189687, 0.037444, 0.002926, 0.000086].forEach((v, i) => expect(y[i]).toBeCloseTo(v, 5));
    expect(y.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
  });
});

// The salt & pepper family (spec §7.3, §10.3): the corrupted pixels of a severity stay corrupted at every
// higher severity (one seed shares its random draws), and the corrupted fraction is 1 − (1 − a/2)².
describe('the salt & pepper family grows with severity', () => {
  it('nested masks, fraction 1 − (1 − a/2)² on a mid-grey image', () => {
    const x = new Float32Array(100 * 100).fill(0.5);
    const amounts = [0.02, 0.05, 0.1, 0.2, 0.3];
    let prev: Float32Array | null = null;
    for (const a of amounts) {
      const y = applyCorruption(x, [100, 100, 1], 'salt_pepper', { amount: a }, Rng.derive(1, 'sp'), { quantize: 'none' });
      let changed = 0;
      let lost = 0;
      let other = 0;
      for (let i = 0; i < y.length; i++) {
        if (y[i] !== 0.5) changed++;
        if (prev && prev[i] !== 0.5 && y[i] === 0.5) lost++;
        if (y[i] !== 0 && y[i] !== 0.5 && y[i] !== 1) other++;
      }
      expect(lost).toBe(0);
      expect(other).toBe(0);
      expect(changed / y.length).toBeCloseTo(1 - (1 - a / 2) ** 2, 1);
      prev = y;
    }
  });
});

// The test subset is shifted with the run seed + 1000; corrupt() refuses seeds above 2^32 − 1 (MAX_SEED).
describe('the test subset\'s shift seed stays a seed corrupt() accepts', () => {
  it('is run seed + 1000 below 2^32 − 1000 and wraps past MAX_SEED as core\'s 32-bit generator did (run seed 2^32 − 1 → 999)', () => {
    expect([0, 1, 42, MAX_SEED - 1000].map(testSubsetSeed)).toEqual([1000, 1001, 1042, MAX_SEED]);
    expect(testSubsetSeed(MAX_SEED - 999)).toBe(0);
    expect(testSubsetSeed(MAX_SEED)).toBe(999);
  });

  it('run seed 2^32 − 1 shifts its test subset (it would be refused as seed 2^32 + 999), with the values the wrapped seed gave', () => {
    const rng = new Rng(3);
    const raw = Dataset.fromArrays({ x: Float32Array.from({ length: 2 * 784 }, () => rng.next()), shape: [28, 28, 1], labels: Int32Array.from([1, 7]), numClasses: 10 });
    const shifted = shiftedData(raw, 'gauss', 3, testSubsetSeed(MAX_SEED));
    expect(Array.from(shifted.x)).toEqual(Array.from(shiftedData(raw, 'gauss', 3, 999).x));
    expect(() => shiftedData(raw, 'gauss', 3, MAX_SEED + 1000)).toThrow(/BAD_SEED|is not a seed from 0 to 4294967295/);
  });
});
