import { Rng } from '@trellis-ml/core';
import { applyCorruption } from '@trellis-ml/datasets';
import { describe, expect, it } from 'vitest';

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
