import { check } from '@trellis-ml/core';
import { checkViolationKind } from './groupLoss.js';

/** Dual ascent on the Lagrange multipliers of per-group constraints (pure host functions). */

/** Options of {@link dualAscentStep}. */
export interface DualStepOptions {
  /** Dual step size `η_λ`. */
  lr: number;
  /** Upper bound on `|λ_a|`. */
  lambdaMax: number;
  /** Equality constraints: `λ_a ∈ [−λmax, λmax]`; otherwise `λ_a ∈ [0, λmax]`. */
  signed?: boolean;
}

/**
 * One projected dual step `λ_a ← clip(λ_a + η·v̂_a)`; groups with `present[a] = false` keep their
 * multiplier ("indexed" multipliers: a batch without the group says nothing about it).
 */
export function dualAscentStep(lambdas: readonly number[], violations: readonly number[], present: readonly boolean[], options: DualStepOptions): number[] {
  check(lambdas.length === violations.length && violations.length === present.length, 'LENGTH_MISMATCH',
    `dual step with ${lambdas.length} multipliers, ${violations.length} violations and ${present.length} presence flags`, 'pass one entry per group');
  check(Number.isFinite(options?.lr) && options.lr >= 0, 'BAD_OPTION', () => `dual step size ${String(options?.lr)} is not a number ≥ 0`, 'pass lr (η_λ) such as 0.01');
  check(options.lambdaMax > 0, 'BAD_OPTION', () => `lambdaMax ${String(options.lambdaMax)} is not a number > 0`, 'pass lambdaMax such as 10 (Infinity for no bound)');
  const bad = lambdas.findIndex((l) => !Number.isFinite(l));
  check(bad < 0, 'BAD_OPTION', () => `multiplier ${bad} is ${String(lambdas[bad])}, not a finite number`,
    'pass finite multipliers (start from zeros, or restore them from a saved plugin state that was not damaged)');
  const lo = options.signed ? -options.lambdaMax : 0;
  return lambdas.map((l, a) => (present[a] && Number.isFinite(violations[a]!) ? Math.min(options.lambdaMax, Math.max(lo, l + options.lr * violations[a]!)) : l));
}

/** A fixed-size ring buffer of per-example values per group (to smooth noisy batch estimates). */
export class GroupBuffer {
  private readonly values: Float64Array[];
  private readonly filled: number[];
  private readonly next: number[];

  /** `size` values per group, `numGroups` groups. */
  constructor(readonly numGroups: number, readonly size: number) {
    check(Number.isInteger(numGroups) && numGroups >= 1, 'BAD_GROUP_COUNT', `numGroups ${numGroups} is not a positive integer`, 'pass the number of groups (e.g. 10 for classes as groups)');
    check(Number.isInteger(size) && size >= 1, 'BAD_OPTION', `buffer size ${size} is not a positive integer`, 'pass a buffer size such as 64');
    this.values = Array.from({ length: numGroups }, () => new Float64Array(size));
    this.filled = new Array<number>(numGroups).fill(0);
    this.next = new Array<number>(numGroups).fill(0);
  }

  /** Throws `GROUP_ID_OUT_OF_RANGE` unless `g` is a group of this buffer. */
  private checkGroup(g: number, what: string): void {
    check(Number.isInteger(g) && g >= 0 && g < this.numGroups, 'GROUP_ID_OUT_OF_RANGE', () => `group id ${g} is outside [0, ${this.numGroups})`,
      `${what} of groups 0..${this.numGroups - 1} (validate ids first with checkGroupIds)`);
  }

  /**
   * Adds one value for group `g`, overwriting the oldest when full.
   * @throws TrellisError `GROUP_ID_OUT_OF_RANGE` when `g` is not a group of this buffer.
   */
  push(g: number, value: number): void {
    this.checkGroup(g, 'push values');
    this.values[g]![this.next[g]!] = value;
    this.next[g] = (this.next[g]! + 1) % this.size;
    this.filled[g] = Math.min(this.size, this.filled[g]! + 1);
  }

  /**
   * Mean of group `g`'s values (NaN when empty).
   * @throws TrellisError `GROUP_ID_OUT_OF_RANGE` when `g` is not a group of this buffer (it used to give NaN, as if empty).
   */
  mean(g: number): number {
    this.checkGroup(g, 'ask for the mean');
    const n = this.filled[g]!;
    if (n === 0) return NaN;
    let s = 0;
    for (let i = 0; i < n; i++) s += this.values[g]![i]!;
    return s / n;
  }

  /**
   * Number of stored values of group `g`.
   * @throws TrellisError `GROUP_ID_OUT_OF_RANGE` when `g` is not a group of this buffer (it used to return undefined).
   */
  count(g: number): number {
    this.checkGroup(g, 'ask for the count');
    return this.filled[g]!;
  }

  /** JSON state. */
  getState(): { values: number[][]; filled: number[]; next: number[] } {
    return { values: this.values.map((v) => Array.from(v)), filled: [...this.filled], next: [...this.next] };
  }

  /**
   * Restores {@link GroupBuffer.getState}. The state must come from a buffer of the same shape: `values`
   * holds `numGroups` rows of `size` numbers, `filled` a count in `[0, size]` per group and `next` a slot in
   * `[0, size)` per group (equal to `filled` while the group is not full). Checked before anything is
   * restored, so a refused state leaves the buffer as it was.
   * @throws TrellisError `BAD_STATE` when the state is of another group count or buffer size (a checkpoint of
   * another `numGroups` or `bufferSize` used to load silently: cut short, or with stale values, and every later
   * mean wrong), or is damaged.
   */
  setState(s: { values: number[][]; filled: number[]; next: number[] }): void {
    const fix = `restore a state saved by a buffer with the same numGroups and buffer size (${this.numGroups} × ${this.size}): resume with the settings of the run that saved it (numGroups, bufferSize), or start without restoring; otherwise the saved file may be damaged`;
    check(s !== null && typeof s === 'object', 'BAD_STATE', () => `the saved group buffer is ${String(s)}, not a buffer state`, fix);
    for (const key of ['values', 'filled', 'next'] as const) {
      const v: unknown = s[key];
      check(Array.isArray(v), 'BAD_STATE', `the saved group buffer has no ${key} array`, fix);
      check(v.length === this.numGroups, 'BAD_STATE', () => `the saved group buffer's ${key} is for ${v.length} groups, this buffer has ${this.numGroups}`, fix,
        { key, savedGroups: v.length, numGroups: this.numGroups });
    }
    s.values.forEach((row: unknown, g) => {
      check(Array.isArray(row), 'BAD_STATE', () => `the saved group buffer's values of group ${g} are ${String(row)}, not an array`, fix);
      check(row.length === this.size, 'BAD_STATE', () => `the saved group buffer holds ${row.length} values per group (group ${g}), this buffer holds ${this.size}`, fix,
        { group: g, savedSize: row.length, size: this.size });
      const bad = row.findIndex((x) => typeof x !== 'number');
      check(bad < 0, 'BAD_STATE', () => `the saved group buffer's value ${bad} of group ${g} is ${JSON.stringify(row[bad])}, not a number`, fix);
    });
    s.filled.forEach((f, g) => {
      check(Number.isInteger(f) && f >= 0 && f <= this.size, 'BAD_STATE', () => `the saved group buffer counts ${String(f)} values in group ${g}, not a whole number in [0, ${this.size}]`, fix);
      const n = s.next[g];
      check(Number.isInteger(n) && n! >= 0 && n! < this.size && (f === this.size || n === f), 'BAD_STATE',
        () => `the saved group buffer's next slot of group ${g} is ${String(n)} with ${f} of ${this.size} values filled (expected ${f === this.size ? `a whole number in [0, ${this.size})` : f})`, fix);
    });
    s.values.forEach((v, g) => this.values[g]!.set(v));
    s.filled.forEach((f, g) => (this.filled[g] = f));
    s.next.forEach((n, g) => (this.next[g] = n));
  }
}

/** Options of {@link hostViolations}. */
export interface HostViolationOptions {
  violation?: 'abs' | 'signed' | 'one-sided';
  denseGroupLoss?: readonly number[];
  denseLoss?: number;
}

/**
 * The host twin of `groupViolations`: violations from group losses (NaN for absent groups → 0 with
 * `present = false`). Used for the dual step, so the multipliers see the same numbers as the tape.
 */
export function hostViolations(groupLoss: readonly number[], overall: number, options: HostViolationOptions = {}): { violations: number[]; present: boolean[] } {
  const kind = options.violation ?? 'abs';
  checkViolationKind(kind);
  const dense = options.denseGroupLoss;
  check(!dense || dense.length === groupLoss.length, 'BAD_OPTION', () => `denseGroupLoss has ${dense!.length} values for ${groupLoss.length} groups`,
    'pass the dense model\'s loss of every group (denseReference(dense, train, numGroups).groupLoss)');
  const present = groupLoss.map((l) => Number.isFinite(l));
  const violations = groupLoss.map((l, a) => {
    if (!present[a]) return 0;
    let gap = l - overall;
    if (dense) gap -= dense[a]! - (options.denseLoss ?? 0);
    return kind === 'abs' ? Math.abs(gap) : kind === 'one-sided' ? Math.max(0, gap) : gap;
  });
  return { violations, present };
}
