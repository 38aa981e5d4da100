import { describe, expect, it } from 'vitest';
import { Dataset, Rng, TrellisError } from '@trellis-ml/core';
import {
  applyCorruption, CORE_CORRUPTIONS, corrupt, corruptImages, CORRUPTION_NAMES, CORRUPTIONS, loadMnist,
  type CorruptionName, type Severity,
} from '@trellis-ml/datasets';
import { standardNormalQuantile } from '../src/imageOps.js';
import { trellisErrorOf } from '@trellis-ml/testkit';

const SHAPE = [28, 28, 1];
const sample = loadMnist({ split: 'test', limit: 200 });
const NAMES = CORRUPTION_NAMES.filter((n) => n !== 'clean');
const SEVERITIES: Severity[] = [1, 2, 3, 4, 5];

function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

/** True when two arrays hold the same values (a fast stand-in for toEqual on large typed arrays). */
function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function inUnitRange(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!(a[i]! >= 0 && a[i]! <= 1)) return false;
  return true;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function tiny(values: number[], h: number, w: number): Float32Array {
  expect(values.length).toBe(h * w);
  return Float32Array.from(values);
}

describe('corruption registry', () => {
  it('lists the uda-calibration table, the retrain-cost families and the clean control, five severities each', () => {
    expect([...CORRUPTION_NAMES].sort()).toEqual([
      'blur', 'brightness', 'clean', 'contrast', 'elastic', 'fog', 'gauss', 'gaussian_blur', 'gaussian_noise', 'impulse_noise',
      'invert', 'motion_blur', 'occlude', 'pixelate', 'rotate', 'salt_pepper', 'shot_noise', 'speckle_noise', 'stroke_thicken',
      'stroke_thin', 'translate', 'zoom_out',
    ]);
    for (const name of NAMES) expect(CORRUPTIONS[name].severities).toHaveLength(5);
    expect(CORRUPTIONS.clean.severities).toHaveLength(0);
    expect([...CORE_CORRUPTIONS].sort()).toEqual(['contrast', 'gaussian_blur', 'gaussian_noise', 'impulse_noise', 'invert', 'pixelate', 'rotate', 'shot_noise']);
    expect(CORRUPTIONS.gaussian_noise.severities.map((p) => p.sigma)).toEqual([0.1, 0.18, 0.26, 0.38, 0.5]);
    expect(CORRUPTIONS.gauss.severities.map((p) => p.sigma)).toEqual([0.1, 0.2, 0.35, 0.5, 0.8]);
    expect(CORRUPTIONS.fog.severities[4]).toEqual({ c0: 0.88, c1: 0.27 });
    expect(Object.isFrozen(CORRUPTIONS.rotate.severities)).toBe(true);
  });
});

describe('every corruption', () => {
  const base: Record<string, Float32Array[]> = {};
  for (const name of NAMES) base[name] = SEVERITIES.map((s) => corrupt(sample, name, s, 11).x);

  it.each(NAMES)('%s is deterministic per seed, differs across seeds, and stays in [0, 1]', (name) => {
    for (const s of [1, 3, 5] as const) {
      expect(same(corrupt(sample, name, s, 11).x, base[name]![s - 1]!)).toBe(true);
      expect(inUnitRange(base[name]![s - 1]!)).toBe(true);
    }
    // Transforms without randomness give the same output for any seed; the others differ.
    const deterministicOps = new Set<CorruptionName>(['gaussian_blur', 'blur', 'contrast', 'brightness', 'zoom_out', 'pixelate', 'stroke_thicken', 'stroke_thin']);
    expect(same(corrupt(sample, name, 3, 12).x, base[name]![2]!)).toBe(deterministicOps.has(name));
  });

  it.each(NAMES)('%s changes images more (mean |x′ − x|) as severity rises, over 200 MNIST test images', (name) => {
    const diffs = base[name]!.map((x) => meanAbsDiff(x, sample.x));
    expect(diffs[0]!).toBeGreaterThan(0);
    for (let s = 1; s < 5; s++) expect(diffs[s]!).toBeGreaterThanOrEqual(diffs[s - 1]!);
  });

  it('severity 0 and the clean control return the data unchanged, labels kept, input untouched', () => {
    const before = sample.x.slice();
    for (const name of CORRUPTION_NAMES) {
      const out = corrupt(sample, name, 0, 3);
      expect(same(out.x, sample.x)).toBe(true);
      expect(out.x === sample.x).toBe(false); // a copy (toBe would deep-compare on failure paths)
    }
    expect(same(corrupt(sample, 'clean', 5, 3).x, sample.x)).toBe(true);
    const noisy = corrupt(sample, 'gaussian_noise', 5, 3);
    expect(same(noisy.labels!, sample.labels!)).toBe(true);
    expect(noisy.shape).toEqual(sample.shape);
    expect(same(sample.x, before)).toBe(true);
  });
});

describe('hand-checked values', () => {
  const rng = (): Rng => new Rng(5);

  it('full inversion is 1 − x, and applying it twice is the identity', () => {
    const x = sample.x.subarray(0, 784 * 3);
    const once = corruptImages(x, SHAPE, 'invert', 5, rng());
    expect(maxAbsDiff(once, Float32Array.from(x, (v) => 1 - v))).toBeLessThan(1e-6);
    const twice = corruptImages(once, SHAPE, 'invert', 5, rng());
    expect(maxAbsDiff(twice, x)).toBeLessThan(1e-6);
    // partial inversion flips a rectangle of about f·h·w pixels
    const zeros = new Float32Array(784);
    const part = corruptImages(zeros, SHAPE, 'invert', 2, rng());
    expect(part.filter((v) => v === 1).length / 784).toBeCloseTo(0.4, 1);
  });

  it('contrast: (x − mean)·c + mean on a 2 × 2 image', () => {
    const x = tiny([0, 0.5, 1, 0.5], 2, 2); // mean 0.5
    const out = corruptImages(x, [2, 2, 1], 'contrast', 1, rng()); // c = 0.5
    expect(Array.from(out)).toEqual([0.25, 0.5, 0.75, 0.5]);
    const five = corruptImages(x, [2, 2], 'contrast', 5, rng()); // c = 0.08
    expect(five[0]).toBeCloseTo(0.5 - 0.5 * 0.08, 6);
  });

  it('brightness adds b and clips at 1', () => {
    const out = corruptImages(tiny([0, 0.3, 0.95, 1], 2, 2), [2, 2, 1], 'brightness', 1, rng()); // b = 0.1
    expect(Array.from(out).map((v) => +v.toFixed(6))).toEqual([0.1, 0.4, 1, 1]);
  });

  it('rotate by 0°, translate by 0 and zoom 1 are identities; translate moves whole pixels', () => {
    const x = sample.x.subarray(0, 784 * 2);
    expect(same(applyCorruption(x, SHAPE, 'rotate', { degrees: 0 }, rng()), x)).toBe(true);
    expect(same(applyCorruption(x, SHAPE, 'translate', { pixels: 0 }, rng()), x)).toBe(true);
    expect(same(applyCorruption(x, SHAPE, 'zoom_out', { scale: 1 }, rng()), x)).toBe(true);
    const dot = new Float32Array(25);
    dot[12] = 1; // centre of 5 × 5
    const moved = applyCorruption(dot, [5, 5, 1], 'translate', { pixels: 2 }, rng());
    expect(moved.filter((v) => v === 1)).toHaveLength(1);
    const at = moved.indexOf(1);
    const [dy, dx] = [Math.floor(at / 5) - 2, (at % 5) - 2];
    expect(Math.hypot(dy, dx)).toBeGreaterThanOrEqual(1.4);
    expect(Math.hypot(dy, dx)).toBeLessThanOrEqual(2.9);
  });

  it('rotating by 90° maps a pixel a quarter turn about the centre', () => {
    const x = new Float32Array(9);
    x[1] = 1; // top middle of 3 × 3
    const out = applyCorruption(x, [3, 3, 1], 'rotate', { degrees: 90 }, rng());
    expect(out[1]).toBeCloseTo(0, 6);
    expect(Math.max(out[3]!, out[5]!)).toBeCloseTo(1, 6); // moved to the left or right middle
  });

  it('pixelate at 14 (on 28 × 28) averages 2 × 2 blocks', () => {
    const x = sample.x.subarray(0, 784);
    const out = applyCorruption(x, SHAPE, 'pixelate', { resolution: 14 }, rng());
    for (const [y, xx] of [[10, 10], [12, 15], [20, 7]] as const) {
      const by = y - (y % 2);
      const bx = xx - (xx % 2);
      const mean = (x[by * 28 + bx]! + x[by * 28 + bx + 1]! + x[(by + 1) * 28 + bx]! + x[(by + 1) * 28 + bx + 1]!) / 4;
      expect(out[y * 28 + xx]).toBeCloseTo(mean, 5);
    }
  });

  it('Gaussian blurs keep constant images constant and spread an impulse symmetrically with unit mass', () => {
    const flat = new Float32Array(49).fill(0.4);
    for (const name of ['gaussian_blur', 'blur'] as const) {
      expect(maxAbsDiff(corruptImages(flat, [7, 7, 1], name, 3, rng()), flat)).toBeLessThan(1e-6);
      const impulse = new Float32Array(81);
      impulse[40] = 1;
      const out = applyCorruption(impulse, [9, 9, 1], name, { sigma: 1 }, rng());
      expect(out.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(out[39]).toBeCloseTo(out[41]!, 7);
      expect(out[31]).toBeCloseTo(out[49]!, 7);
      expect(out[40]! / out[41]!).toBeCloseTo(Math.exp(0.5), 4); // exp(-0²/2) / exp(-1²/2)
    }
  });

  it('stroke thickening with (r 1, a 1) is a 3 × 3 cross dilation', () => {
    const x = new Float32Array(25);
    x[12] = 0.8;
    const out = corruptImages(x, [5, 5, 1], 'stroke_thicken', 2, rng());
    expect([7, 11, 12, 13, 17].map((i) => out[i])).toEqual([0.8, 0.8, 0.8, 0.8, 0.8].map(Math.fround));
    expect(out[6]).toBe(0);
    const thin = corruptImages(out, [5, 5, 1], 'stroke_thin', 2, rng());
    expect(thin[12]).toBeCloseTo(0.8, 6);
    expect(thin[7]).toBe(0);
  });

  it('noise levels match their parameters', () => {
    const grey = new Float32Array(200 * 784).fill(0.5);
    const g = applyCorruption(grey, SHAPE, 'gaussian_noise', { sigma: 0.1 }, rng());
    const sd = Math.sqrt(g.reduce((s, v) => s + (v - 0.5) ** 2, 0) / g.length);
    expect(sd).toBeCloseTo(0.1, 2);
    const sp = applyCorruption(grey, SHAPE, 'salt_pepper', { amount: 0.2 }, rng());
    expect(sp.filter((v) => v === 0 || v === 1).length / sp.length).toBeCloseTo(0.2 - 0.01, 1.5); // a − a²/4
    const imp = applyCorruption(grey, SHAPE, 'impulse_noise', { p: 0.1 }, rng());
    expect(imp.filter((v) => v === 0 || v === 1).length / imp.length).toBeCloseTo(0.1, 2);
    const shot = applyCorruption(grey, SHAPE, 'shot_noise', { lambda: 20 }, rng());
    expect(shot.reduce((s, v) => s + v, 0) / shot.length).toBeCloseTo(0.5, 2); // Poisson(λx)/λ has mean x
    expect(maxAbsDiff(shot.map((v) => v * 20), shot.map((v) => Math.round(v * 20)))).toBeLessThan(1e-5);
  });

  it('the normal quantile that approximation inverts matches Python statistics.NormalDist().inv_cdf to 1e-8', () => {
    const ref: Array<[number, number]> = [
      [1e-10, -6.361340902404056], [0.001, -3.090232306167813], [0.02425, -1.9729610513118845], [0.3, -0.5244005127080407],
      [0.5, 0], [0.9, 1.2815515655446008], [0.975, 1.9599639845400536], [0.999, 3.090232306167813],
    ];
    for (const [p, z] of ref) expect(Math.abs(standardNormalQuantile(p) - z), `p = ${p}`).toBeLessThan(1e-8 * Math.max(1, Math.abs(z)));
  });

  it('shot noise takes one uniform per value at any mean, the normal approximation above 500 included', () => {
    // λx = 600 on every value but the first; the first at λx = 60 (inversion) or 900 (approximation)
    const grey = new Float32Array(784).fill(0.6);
    const ref = applyCorruption(grey, SHAPE, 'shot_noise', { lambda: 1000 }, new Rng(4));
    for (const first of [0.06, 0.9]) {
      const x = grey.slice();
      x[0] = first;
      const out = applyCorruption(x, SHAPE, 'shot_noise', { lambda: 1000 }, new Rng(4));
      expect(same(out.subarray(1), ref.subarray(1)), `first value ${first}`).toBe(true); // later values keep their draws
    }
    // Poisson(600)/1000: mean 0.6, sd √600/1000 = 0.0245, on the 1/1000 grid
    const mean = ref.reduce((s, v) => s + v, 0) / ref.length;
    const sd = Math.sqrt(ref.reduce((s, v) => s + (v - mean) ** 2, 0) / ref.length);
    expect(Math.abs(mean - 0.6)).toBeLessThan(0.0035); // 4 standard errors
    expect(sd).toBeGreaterThan(0.0215);
    expect(sd).toBeLessThan(0.0275);
    expect(maxAbsDiff(ref.map((v) => v * 1000), ref.map((v) => Math.round(v * 1000)))).toBeLessThan(1e-3);
  });

  it('quantize: round gives the 8-bit grid; wrap wraps negative noise to bright values', () => {
    const x = sample.x.subarray(0, 784 * 5);
    const r = corruptImages(x, SHAPE, 'gauss', 3, rng(), { quantize: 'round' });
    expect(maxAbsDiff(r.map((v) => v * 255), r.map((v) => Math.round(v * 255)))).toBeLessThan(1e-3);
    const w = applyCorruption(new Float32Array(784), SHAPE, 'gauss', { sigma: 0.3 }, rng(), { quantize: 'wrap' });
    const plain = applyCorruption(new Float32Array(784), SHAPE, 'gauss', { sigma: 0.3 }, rng());
    const mean = (a: Float32Array): number => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(w)).toBeGreaterThan(mean(plain) + 0.2); // half the background became ≈ 1 − |noise|
    expect(inUnitRange(w)).toBe(true);
    // fog (the reference's frost) is clipped before the cast: bright strokes above 1 used to wrap to dark,
    // and fog's change stopped growing with severity
    const fogged = (s: Severity, quantize: 'wrap' | 'none') => corruptImages(x, SHAPE, 'fog', s, new Rng(3), { quantize });
    for (const s of SEVERITIES) {
      const w5 = fogged(s, 'wrap');
      expect(maxAbsDiff(w5, fogged(s, 'none').map((v) => Math.trunc(v * 255) / 255))).toBe(0);
    }
    const diffs = SEVERITIES.map((s) => meanAbsDiff(fogged(s, 'wrap'), x));
    for (let s = 1; s < 5; s++) expect(diffs[s]!).toBeGreaterThanOrEqual(diffs[s - 1]!);
  });

  it('flat [784] examples are treated as 28 × 28 images, and colour channels are supported', () => {
    const flat = loadMnist({ split: 'test', limit: 3, flatten: true });
    const a = corrupt(flat, 'rotate', 3, 9);
    const b = corrupt(sample.take(3), 'rotate', 3, 9);
    expect(a.shape).toEqual([784]);
    expect(same(a.x, b.x)).toBe(true);
    const rgb = new Float32Array(4 * 4 * 3).fill(0.5);
    expect(corruptImages(rgb, [4, 4, 3], 'fog', 2, rng())).toHaveLength(48);
  });
});

describe('corruption errors', () => {
  it('unknown names, bad severities, bad shapes, out-of-range inputs and bad parameters throw TrellisError', () => {
    const x = sample.x.subarray(0, 784);
    expect(trellisErrorOf(() => corruptImages(x, SHAPE, 'fisheye' as CorruptionName, 1, new Rng(1))).code).toBe('UNKNOWN_CORRUPTION');
    expect(trellisErrorOf(() => corruptImages(x, SHAPE, 'rotate', 6 as Severity, new Rng(1))).code).toBe('BAD_SEVERITY');
    expect(trellisErrorOf(() => corruptImages(x, [27, 28, 1], 'rotate', 1, new Rng(1))).code).toBe('BAD_SHAPE');
    expect(trellisErrorOf(() => corruptImages(x, [783], 'rotate', 1, new Rng(1))).code).toBe('BAD_IMAGE_SHAPE');
    const scaled = Float32Array.from(x, (v) => v * 255);
    scaled[300] = 255;
    expect(trellisErrorOf(() => corruptImages(scaled, SHAPE, 'rotate', 1, new Rng(1))).code).toBe('IMAGE_OUT_OF_RANGE');
    expect(trellisErrorOf(() => applyCorruption(x, SHAPE, 'rotate', { angle: 3 }, new Rng(1))).code).toBe('BAD_CORRUPTION_PARAMS');
    // these used to give all-NaN images (a Poisson rate or zoom scale of 0) or a raw RangeError (a negative σ)
    for (const [name, params] of [['shot_noise', { lambda: 0 }], ['zoom_out', { scale: 0 }], ['gaussian_blur', { sigma: -1 }], ['elastic', { alpha: 4, sigma: -1 }],
      ['impulse_noise', { p: 1.5 }], ['salt_pepper', { amount: -0.1 }], ['invert', { fraction: 2 }]] as const) {
      expect(trellisErrorOf(() => applyCorruption(x, SHAPE, name, params, new Rng(1))).code, name).toBe('BAD_CORRUPTION_PARAMS');
    }
    expect(() => applyCorruption(x, SHAPE, 'shot_noise', { lambda: 0 }, new Rng(1))).toThrow(/corruption shot_noise: "lambda" 0 is not above 0/);
    expect(inUnitRange(applyCorruption(x, SHAPE, 'gaussian_blur', { sigma: 0 }, new Rng(1)))).toBe(true);
    const features = Dataset.fromArrays({ x: new Float32Array(6).fill(0.5), shape: [2, 3], labels: null, numClasses: 1 });
    expect(() => corrupt(features, 'rotate', 1, 1)).not.toThrow(); // [2, 3] is a 2 × 3 one-channel image
  });
});

describe('corruption arguments of the wrong kind (calls from JavaScript)', () => {
  const one = sample.x.slice(0, 784);

  it('corrupt() of something that is not a Dataset is BAD_DATASET pointing at corruptImages (it was a raw TypeError)', () => {
    const err = trellisErrorOf(() => corrupt(one as unknown as Dataset, 'rotate', 3, 1));
    expect(err.code).toBe('BAD_DATASET');
    expect(err.problem).toBe('corrupt needs a Dataset, but got a Float32Array');
    expect(err.fix).toContain('corruptImages(x, shape, name, severity, rng)');
    expect(trellisErrorOf(() => corrupt(undefined as unknown as Dataset, 'rotate', 3, 1)).code).toBe('BAD_DATASET');
  });

  it('corrupt() refuses a fractional seed (1.5 gave exactly the corruption of seed 1)', () => {
    const ds = sample.take(2);
    const err = trellisErrorOf(() => corrupt(ds, 'gaussian_noise', 3, 1.5));
    expect(err.code).toBe('BAD_SEED');
    expect(err.problem).toBe('seed 1.5 is not a whole number: the generator keeps its integer part, so it would corrupt exactly as seed 1');
    expect(corrupt(ds, 'gaussian_noise', 3, 2).x).not.toEqual(corrupt(ds, 'gaussian_noise', 3, 1).x);
  });

  it('corruptImages / applyCorruption: images, shape, generator, options and parameters of the wrong type are named', () => {
    const rng = new Rng(1);
    const cases: Array<[() => unknown, string, string]> = [
      [() => corruptImages(Array.from(one) as unknown as Float32Array, SHAPE, 'rotate', 3, rng), 'BAD_IMAGES', 'the images are an array, not a Float32Array'],
      [() => corruptImages(one, undefined as unknown as number[], 'rotate', 3, rng), 'BAD_IMAGE_SHAPE', 'the image shape is undefined, not an array'],
      [() => corruptImages(one, SHAPE, 'rotate', 3, undefined as unknown as Rng), 'BAD_RNG', 'the random generator argument is undefined, not an Rng'],
      [() => corruptImages(one, SHAPE, 'rotate', 3, 1 as unknown as Rng), 'BAD_RNG', 'the random generator argument is number, not an Rng'],
      [() => corruptImages(one, SHAPE, 'rotate', 3, rng, null as unknown as object), 'BAD_OPTIONS', 'the options argument is null, not an object'],
      [() => applyCorruption(one, SHAPE, 'rotate', null as unknown as { degrees: number }, rng), 'BAD_CORRUPTION_PARAMS', 'corruption rotate: the parameters are null, not an object'],
    ];
    for (const [call, code, problem] of cases) {
      const err = trellisErrorOf(call);
      expect(err.code).toBe(code);
      expect(err.problem).toBe(problem);
    }
  });
});

describe('parameters that size a kernel, a loop or an allocation have an upper bound', () => {
  const pixel = Float32Array.from([0.25, 0.5, 0.75, 1]);
  const TINY = [2, 2, 1];

  it('above its bound a parameter is BAD_CORRUPTION_PARAMS naming the bound (σ 1e9 was a raw RangeError, a length of 1e8 ran for seconds an image)', () => {
    const cases: Array<[CorruptionName, Record<string, number>, string]> = [
      ['gaussian_blur', { sigma: 1e9 }, 'corruption gaussian_blur: "sigma" 1000000000 is above 250, the largest it takes'],
      ['gaussian_blur', { sigma: 250.5 }, 'corruption gaussian_blur: "sigma" 250.5 is above 250, the largest it takes'],
      ['blur', { sigma: 251 }, 'corruption blur: "sigma" 251 is above 250, the largest it takes'],
      ['blur', { sigma: 1, truncate: 11 }, 'corruption blur: "truncate" 11 is above 10, the largest it takes'],
      ['elastic', { alpha: 4, sigma: 1e6 }, 'corruption elastic: "sigma" 1000000 is above 250, the largest it takes'],
      ['motion_blur', { length: 1e8 }, 'corruption motion_blur: "length" 100000000 is above 1000, the largest it takes'],
      ['stroke_thicken', { radius: 321, amount: 1 }, 'corruption stroke_thicken: "radius" 321 is above 320, the largest it takes'],
      ['stroke_thin', { radius: 1000, amount: 1 }, 'corruption stroke_thin: "radius" 1000 is above 320, the largest it takes'],
    ];
    for (const [name, params, problem] of cases) {
      const err = trellisErrorOf(() => applyCorruption(pixel, TINY, name, params, new Rng(1)));
      expect(err.code, name).toBe('BAD_CORRUPTION_PARAMS');
      expect(err.problem.startsWith(problem), err.problem).toBe(true);
      expect(err.fix).toMatch(/ or less/);
    }
  });

  it('blur\'s optional truncate is checked like the others (−1 was a raw RangeError, NaN an all-black image)', () => {
    for (const truncate of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(trellisErrorOf(() => applyCorruption(pixel, TINY, 'blur', { sigma: 1, truncate }, new Rng(1))).code, String(truncate)).toBe('BAD_CORRUPTION_PARAMS');
    }
  });

  it('every bound itself is accepted', () => {
    const atBound: Array<[CorruptionName, Record<string, number>]> = [
      ['gaussian_blur', { sigma: 250 }], ['blur', { sigma: 250, truncate: 10 }], ['elastic', { alpha: 4, sigma: 250 }],
      ['motion_blur', { length: 1000 }], ['stroke_thicken', { radius: 320, amount: 1 }], ['stroke_thin', { radius: 320, amount: 1 }],
    ];
    for (const [name, params] of atBound) expect(inUnitRange(applyCorruption(pixel, TINY, name, params, new Rng(1))), name).toBe(true);
    // a disk that covers the image dilates to its maximum and erodes to its minimum
    expect(Array.from(applyCorruption(pixel, TINY, 'stroke_thicken', { radius: 320, amount: 1 }, new Rng(1)))).toEqual([1, 1, 1, 1]);
    expect(Array.from(applyCorruption(pixel, TINY, 'stroke_thin', { radius: 320, amount: 1 }, new Rng(1)))).toEqual([0.25, 0.25, 0.25, 0.25]);
  });

  it('stroke radii larger than the image give the same values as before the loop was cut to the image', () => {
    // the reference: dilation over every offset of the disk, out-of-image neighbours skipped
    const img = Float32Array.from({ length: 5 * 7 }, (_, i) => ((i * 37) % 11) / 10);
    for (const radius of [2.5, 6, 9.9, 40]) {
      const y = applyCorruption(img, [5, 7, 1], 'stroke_thicken', { radius, amount: 1 }, new Rng(1));
      for (let py = 0; py < 5; py++) {
        for (let px = 0; px < 7; px++) {
          let m = -Infinity;
          for (let qy = 0; qy < 5; qy++) for (let qx = 0; qx < 7; qx++) if ((qy - py) ** 2 + (qx - px) ** 2 <= radius * radius) m = Math.max(m, img[qy * 7 + qx]!);
          expect(y[py * 7 + px], `r ${radius} at ${py},${px}`).toBe(m);
        }
      }
    }
  });
});

describe('corrupt() seeds are 0 to 2^32 − 1 (core\'s checkRunSeed)', () => {
  it('refuses 2^32, negative and non-finite seeds (2^32 corrupted exactly as seed 0, −1 as 2^32 − 1)', () => {
    const ds = sample.take(2);
    for (const seed of [2 ** 32, 2 ** 32 + 1, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const err = trellisErrorOf(() => corrupt(ds, 'gaussian_noise', 3, seed));
      expect(err.code, String(seed)).toBe('BAD_SEED');
      expect(err.problem, String(seed)).toContain(`seed ${seed} is not a seed from 0 to 4294967295`);
    }
    expect(trellisErrorOf(() => corrupt(ds, 'gaussian_noise', 3, 2 ** 32)).problem).toContain('would use seed 0');
    expect(corrupt(ds, 'gaussian_noise', 3, 2 ** 32 - 1).x).not.toEqual(corrupt(ds, 'gaussian_noise', 3, 0).x);
    expect(corrupt(ds, 'gaussian_noise', 3, 0).size).toBe(2);
  });
});
