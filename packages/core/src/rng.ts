/**
 * The one seeded random number generator of Trellis (xoshiro128**, seeded through splitmix32).
 * Library code never calls `Math.random`: every random draw comes from an `Rng` derived from the
 * run's seed, so two runs with one seed give the same numbers.
 */
import { check } from './errors.js';

/** Throws unless `seed` is a finite number (NaN, a string or undefined would all become seed 0, silently). */
function checkSeed(seed: unknown): void {
  check(typeof seed === 'number' && Number.isFinite(seed), 'BAD_SEED', () => `seed ${String(seed)} (${typeof seed}) is not a finite number`,
    'pass an integer seed, e.g. 1 (two runs with one seed give the same numbers; NaN or a string would silently act as 0)');
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | null = null;

  /**
   * Creates a generator from an integer seed (any 32-bit value; non-integers are truncated).
   * @throws TrellisError `BAD_SEED` when `seed` is not a finite number.
   */
  constructor(seed: number) {
    checkSeed(seed);
    let x = (Math.trunc(seed) >>> 0) ^ 0x9e3779b9;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /**
   * A new independent generator derived from this seed material and a label (does not advance this one).
   * @throws TrellisError `BAD_SEED` when `seed` is not a finite number.
   */
  static derive(seed: number, ...labels: Array<string | number>): Rng {
    checkSeed(seed);
    let h = Math.trunc(seed) >>> 0;
    for (const label of labels) {
      const s = String(label);
      for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
      h = Math.imul(h ^ 0xff, 0x01000193) >>> 0;
    }
    return new Rng(h);
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    this.s3 >>>= 0;
    return result;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniform float in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    if (!(n > 0)) throw new RangeError(`Rng.int needs n > 0, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** A standard normal draw (Box–Muller, caching the spare value). */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return mean + std * v;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles `array` in place (Fisher–Yates) and returns it. */
  shuffle<T>(array: T[] | Int32Array | Float32Array | Uint32Array): typeof array {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i]!;
      array[i] = array[j]!;
      array[j] = tmp;
    }
    return array;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    this.shuffle(p);
    return p;
  }

  /**
   * `k` distinct indices from [0, n), in random order.
   * @throws TrellisError `BAD_COUNT` unless n and k are whole numbers with 0 ≤ k ≤ n.
   */
  sample(n: number, k: number): Int32Array {
    check(Number.isInteger(n) && Number.isInteger(k) && k >= 0 && k <= n, 'BAD_COUNT', () => `Rng.sample cannot take ${k} distinct indices of ${n}`,
      'pass whole numbers with 0 ≤ k ≤ n (k at most the number of items to draw from)');
    return this.permutation(n).slice(0, k);
  }

  /** Fills a new Float32Array with normal draws. */
  normalArray(length: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = this.normal(mean, std);
    return out;
  }

  /** Fills a new Float32Array with uniform draws in [lo, hi). */
  uniformArray(length: number, lo = 0, hi = 1): Float32Array {
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = this.uniform(lo, hi);
    return out;
  }

  /** The generator state, for checkpoints. */
  getState(): RngState {
    return { s: [this.s0, this.s1, this.s2, this.s3], spare: this.spareNormal };
  }

  /** Restores a state from {@link Rng.getState}. */
  setState(state: RngState): void {
    [this.s0, this.s1, this.s2, this.s3] = state.s;
    this.spareNormal = state.spare;
  }
}

/** Serializable state of an {@link Rng}. */
export interface RngState {
  s: [number, number, number, number];
  spare: number | null;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
