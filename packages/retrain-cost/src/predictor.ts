/**
 * The cost predictor: fits index → epochs on measured retraining runs (log-linear least squares or
 * isotonic), with conformal prediction intervals, and turns a new shift's index into epochs, kWh
 * and kg CO2e — before any retraining (spec §11 "calibrated predictor").
 */
import { checkChoice, TrellisError } from '@trellis-ml/core';
import { checkSameLength } from './inputs.js';
import { median, pearson, spearman } from './stats.js';

/** A value as an error message shows it (strings quoted, so `"85"` is not mistaken for the number 85). */
const shown = (v: unknown): string => (typeof v === 'string' ? `"${v}"` : String(v));

/** One measured retraining run. */
export interface CalibrationPoint {
  /** The index computed before retraining. */
  index: number;
  /** Measured epochs to target (fractional allowed). */
  epochs: number;
  kWh?: number;
  kgCO2e?: number;
  /** The run hit a cap or cutoff: a lower bound, kept out of the fit. */
  censored?: boolean;
  /** Group for leave-one-group-out evaluation (e.g. the shift family). */
  group?: string;
}

/** A point prediction with its interval. */
export interface Interval {
  mean: number;
  lo: number;
  hi: number;
}

/** Options of {@link CostPredictor.fit}. */
export interface PredictorOptions {
  /** `'loglinear'` (default): log(epochs + 1) = a + b·index; `'isotonic'`: monotone non-decreasing fit of log(epochs + 1). */
  model?: 'loglinear' | 'isotonic';
  /** Miscoverage α (default 0.2 → 80% intervals). */
  alpha?: number;
}

/** Options of {@link CostPredictor.predict}. */
export interface PredictOptions {
  /** kWh per epoch (e.g. from a short profiling run with the tracker); default: median kWh/epoch of the calibration runs. */
  kWhPerEpoch?: number;
  /** g CO2e/kWh (default: the calibration runs' median kgCO2e/kWh, else 475). */
  carbonIntensity?: number;
  /** Extra PUE multiplier on kWh (default 1: tracker kWh already include the tracker's PUE). */
  pue?: number;
}

/**
 * The calibration runs {@link CostPredictor.fit} could not use because a figure was unusable (not an error: the
 * predictor is fitted on the rest). An uncensored run is left out of the fit when its index is not a finite
 * number or its epochs are not a finite number ≥ 0; a censored run (never in the fit, kept for
 * {@link CostPredictor.evaluate}) when its index or epochs are not finite, which leaves it out of the evaluation.
 */
export interface DroppedRuns {
  /** Runs left out (a run with both a bad index and a bad cost counts once). */
  total: number;
  /** Of these, the runs whose index is not a finite number (NaN, ±Infinity, null from JSON, a string). */
  index: number;
  /** Of these, the runs whose cost (epochs) is unusable: not a finite number ≥ 0 (censored runs: not finite). */
  cost: number;
  /** Their positions in the array given to {@link CostPredictor.fit}, ascending. */
  runs: number[];
}

/**
 * True when {@link CostPredictor.fit} fits on the run: uncensored, with a finite index and a finite epoch count ≥ 0.
 */
export function usableForFit(p: CalibrationPoint): boolean {
  return !p.censored && Number.isFinite(p.index) && Number.isFinite(p.epochs) && p.epochs >= 0;
}

/**
 * The runs of `points` with an unusable index or cost, as {@link DroppedRuns} defines them (pure).
 * Non-object entries are not counted (fit refuses them first).
 */
function droppedRuns(points: readonly CalibrationPoint[]): DroppedRuns {
  const out: DroppedRuns = { total: 0, index: 0, cost: 0, runs: [] };
  points.forEach((p, i) => {
    const badIndex = !Number.isFinite(p.index);
    const badCost = p.censored ? !Number.isFinite(p.epochs) : !(Number.isFinite(p.epochs) && p.epochs >= 0);
    if (badIndex) out.index++;
    if (badCost) out.cost++;
    if (badIndex || badCost) {
      out.total++;
      out.runs.push(i);
    }
  });
  return out;
}

/** `n with a non-finite index, m with epochs that are not a finite number ≥ 0` (the non-zero parts). @internal */
export function droppedReasons(d: DroppedRuns): string {
  return [d.index ? `${d.index} with a non-finite index` : '', d.cost ? `${d.cost} with epochs that are not a finite number ≥ 0` : ''].filter(Boolean).join(', ');
}

/** Leave-out evaluation of a predictor. */
export interface PredictorEvaluation {
  /** Spearman ρ between index and epochs over the uncensored points. */
  spearman: number;
  pearson: number;
  /** Median absolute % error of held-out epoch predictions (uncensored runs). */
  mdape: number;
  /** Mean absolute % error. */
  mape: number;
  /** Fraction of held-out runs consistent with their interval: inside it, or — for a censored run, whose true cost is at least the observed one — not above it. */
  coverage: number;
  /** Held-out runs evaluated (uncensored + censored). */
  n: number;
  /** Censored held-out runs whose observed lower bound exceeded the interval's upper end. */
  censoredAboveInterval: number;
}

interface Fitted {
  model: 'loglinear' | 'isotonic';
  alpha: number;
  a: number;
  b: number;
  /** isotonic knots (sorted x, fitted log values) */
  xs: number[];
  ys: number[];
  /** conformal half-width in log space */
  q: number;
  kWhPerEpoch: number | null;
  gPerKWh: number | null;
  points: CalibrationPoint[];
}

/**
 * Pool-adjacent-violators: the non-decreasing least-squares fit of y over x, one knot per distinct x.
 * Points with equal x are pooled into one block (their mean, weighted by their count) before PAV, as
 * scikit-learn's `IsotonicRegression` does, so the fit does not depend on the order of tied points.
 * Example: `isotonicFit([0, 0, 1], [0, 1, 0.2])` → `{ xs: [0, 1], ys: [0.4, 0.4] }`.
 * @throws TrellisError `LENGTH_MISMATCH` when x and y differ in length, `NON_FINITE_VALUES` for a NaN/±Infinity coordinate.
 */
export function isotonicFit(x: readonly number[], y: readonly number[]): { xs: number[]; ys: number[] } {
  checkSameLength(x, y, 'isotonicFit');
  checkFinitePoints(x, y, 'isotonicFit');
  // tied points in y order too, so even their sum is rounded the same whatever order they came in
  const order = x.map((_, i) => i).sort((i, j) => x[i]! - x[j]! || y[i]! - y[j]!);
  // first one block per distinct x (all its points: their sum and count), then PAV over these blocks
  const ties: Array<{ sum: number; n: number; xs: number[] }> = [];
  for (const i of order) {
    const last = ties[ties.length - 1];
    if (last && last.xs[0] === x[i]) {
      last.sum += y[i]!;
      last.n++;
    } else ties.push({ sum: y[i]!, n: 1, xs: [x[i]!] });
  }
  const blocks: Array<{ sum: number; n: number; xs: number[] }> = [];
  for (const t of ties) {
    blocks.push(t);
    while (blocks.length > 1 && blocks[blocks.length - 2]!.sum / blocks[blocks.length - 2]!.n > blocks[blocks.length - 1]!.sum / blocks[blocks.length - 1]!.n) {
      const top = blocks.pop()!;
      const prev = blocks[blocks.length - 1]!;
      prev.sum += top.sum;
      prev.n += top.n;
      prev.xs.push(...top.xs);
    }
  }
  const xs: number[] = [];
  const ys: number[] = [];
  for (const bl of blocks) for (const xv of bl.xs) {
    xs.push(xv);
    ys.push(bl.sum / bl.n);
  }
  return { xs, ys };
}

function interp(xs: number[], ys: number[], x: number): number {
  if (x <= xs[0]!) return ys[0]!;
  if (x >= xs[xs.length - 1]!) return ys[ys.length - 1]!;
  for (let i = 1; i < xs.length; i++) {
    if (x <= xs[i]!) {
      const span = xs[i]! - xs[i - 1]!;
      return span === 0 ? ys[i]! : ys[i - 1]! + ((ys[i]! - ys[i - 1]!) * (x - xs[i - 1]!)) / span;
    }
  }
  return ys[ys.length - 1]!;
}

function fitCurve(model: 'loglinear' | 'isotonic', x: number[], y: number[]): (v: number) => number {
  if (model === 'isotonic') {
    const { xs, ys } = isotonicFit(x, y);
    return (v) => interp(xs, ys, v);
  }
  const { a, b } = leastSquares(x, y);
  return (v) => a + b * v;
}

/**
 * Throws `NON_FINITE_VALUES` when a point of a fit has a NaN/±Infinity coordinate (a NaN x used to become a NaN
 * knot of the isotonic fit and a NaN intercept of the least-squares one).
 */
function checkFinitePoints(x: readonly number[], y: readonly number[], what: string): void {
  for (let i = 0; i < x.length; i++) {
    if (!(Number.isFinite(x[i]) && Number.isFinite(y[i]))) {
      throw new TrellisError('NON_FINITE_VALUES', `${what}: point ${i} is (${shown(x[i])}, ${shown(y[i])})`, 'pass finite (x, y) points: drop or re-measure the runs with a NaN index or cost');
    }
  }
}

/**
 * Ordinary least squares y = a + b·x (b = 0 when x is constant).
 * @throws TrellisError `LENGTH_MISMATCH` when x and y differ in length, `EMPTY_INPUT` for no points,
 * `NON_FINITE_VALUES` for a NaN/±Infinity coordinate.
 */
export function leastSquares(x: readonly number[], y: readonly number[]): { a: number; b: number } {
  checkSameLength(x, y, 'leastSquares');
  checkFinitePoints(x, y, 'leastSquares');
  const n = x.length;
  if (n === 0) throw new TrellisError('EMPTY_INPUT', 'a least-squares fit of no points', 'pass at least one (x, y) point');
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
  }
  const b = sxx > 0 ? sxy / sxx : 0;
  return { a: my - b * mx, b };
}

/**
 * The split-conformal quantile: the ⌈(n+1)(1−α)⌉-th smallest score (∞ when that exceeds n).
 * @throws TrellisError `BAD_ALPHA` when α is outside (0, 1), `NON_FINITE_VALUES` for a NaN score (NaN breaks the
 * sort, so the quantile used to be an arbitrary score).
 */
export function conformalQuantile(scores: readonly number[], alpha: number): number {
  if (!(alpha > 0 && alpha < 1)) throw new TrellisError('BAD_ALPHA', `alpha ${alpha} is outside (0, 1)`, 'pass e.g. alpha: 0.2 for 80% intervals');
  const bad = scores.findIndex((v) => typeof v !== 'number' || Number.isNaN(v));
  if (bad >= 0) throw new TrellisError('NON_FINITE_VALUES', `conformity score ${bad} is ${shown(scores[bad])}`, 'pass numeric scores (absolute residuals); drop the points whose prediction or cost is NaN');
  const s = [...scores].sort((p, q) => p - q);
  const k = Math.ceil((s.length + 1) * (1 - alpha));
  return k > s.length ? Infinity : s[k - 1]!;
}

/**
 * Predicts retraining epochs (and kWh, CO2e) from an index. Fit on measured runs with
 * {@link CostPredictor.fit}; intervals are conformal on leave-one-out absolute log residuals.
 */
export class CostPredictor {
  private constructor(private readonly f: Fitted) {}

  /**
   * Fits on measured runs (censored runs are kept for evaluation, not for the fit; runs with a non-finite index or
   * epochs, or negative epochs, are left out of the fit without an error — {@link CostPredictor.dropped} counts
   * them, by reason).
   * @throws TrellisError `TOO_FEW_RUNS` for fewer than 2 usable uncensored runs (the message says how many runs were
   * left out and why, and how many are censored), `BAD_OPTION` / `BAD_ALPHA` for the options, `BAD_CALIBRATION` for
   * a run that is not an object or a `kWh` or `kgCO2e` that is not a finite number ≥ 0.
   */
  static fit(points: CalibrationPoint[], options: PredictorOptions = {}): CostPredictor {
    if (!Array.isArray(points)) {
      throw new TrellisError('TOO_FEW_RUNS', `the predictor needs an array of measured runs, got ${String(points)}`,
        'pass [{ index, epochs }, …] from retrainToTarget runs at different shift intensities');
    }
    points.forEach((p, i) => {
      // a null or a number among the runs used to fail with a TypeError reading p.censored
      if (p === null || typeof p !== 'object') {
        throw new TrellisError('BAD_CALIBRATION', `calibration run ${i} is ${shown(p)}, not a run`,
          'pass one { index, epochs } object per measured retraining run (kWh, kgCO2e, censored and group optional)');
      }
      for (const key of ['kWh', 'kgCO2e'] as const) {
        const v = p?.[key];
        // absent (undefined, or null from JSON) is fine; a NaN, infinite or negative figure used to reach the medians
        // and make every predicted kWh / kg CO2e NaN, or negative with an interval that did not contain it
        if (v !== undefined && v !== null && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) {
          throw new TrellisError('BAD_CALIBRATION', `calibration run ${i} has ${key} ${shown(v)}, not a finite number ≥ 0`,
            `pass the run's measured ${key} (an EnergyReport's ${key}), or leave it out when it was not measured`);
        }
      }
    });
    const model = options.model ?? 'loglinear';
    checkChoice(model, ['loglinear', 'isotonic'] as const, 'predictor model', { fix: "use model: 'loglinear' (the default) or 'isotonic'" });
    const alpha = options.alpha ?? 0.2;
    if (!(alpha > 0 && alpha < 1)) throw new TrellisError('BAD_ALPHA', `alpha ${alpha} is outside (0, 1)`, 'pass e.g. alpha: 0.2 for 80% intervals');
    const used = points.filter(usableForFit);
    if (used.length < 2) {
      const d = droppedRuns(points);
      const censored = points.filter((p) => p.censored).length;
      const notes = [d.total ? `${d.total} more left out: ${droppedReasons(d)}` : '', censored ? `${censored} censored` : ''].filter(Boolean).join('; ');
      throw new TrellisError('TOO_FEW_RUNS', `the predictor needs at least 2 uncensored retraining runs, got ${used.length}${notes ? ` (${notes})` : ''}`,
        `measure more retraining runs (retrainToTarget) at different shift intensities${d.total ? ', or re-measure the runs whose index or epochs are NaN, infinite or negative' : ''}`,
        { used: used.length, dropped: d, censored });
    }
    const x = used.map((p) => p.index);
    const y = used.map((p) => Math.log(p.epochs + 1));
    const curve = fitCurve(model, x, y);
    // leave-one-out residuals (jackknife) as conformity scores
    const scores: number[] = [];
    for (let i = 0; i < used.length; i++) {
      const xi = x.filter((_, j) => j !== i);
      const yi = y.filter((_, j) => j !== i);
      const c = xi.length >= 2 ? fitCurve(model, xi, yi) : () => yi[0]!;
      scores.push(Math.abs(y[i]! - c(x[i]!)));
    }
    const q = conformalQuantile(scores, alpha);
    const ls = leastSquares(x, y);
    const iso = isotonicFit(x, y);
    // per-epoch energy from runs that actually trained (kWh > 0), censored ones included
    const perEpoch = points.filter((p) => p.kWh !== undefined && p.kWh > 0 && p.epochs > 0).map((p) => p.kWh! / p.epochs);
    const ci = used.filter((p) => p.kWh && p.kgCO2e !== undefined && p.kgCO2e !== null).map((p) => (p.kgCO2e! * 1000) / p.kWh!);
    void curve;
    return new CostPredictor({
      model, alpha, a: ls.a, b: ls.b, xs: iso.xs, ys: iso.ys, q,
      kWhPerEpoch: perEpoch.length ? median(perEpoch) : null, gPerKWh: ci.length ? median(ci) : null, points: points.map((p) => ({ ...p })),
    });
  }

  /** Log-linear coefficients (a, b) of log(epochs + 1) = a + b·index. */
  get coefficients(): { a: number; b: number } {
    return { a: this.f.a, b: this.f.b };
  }

  /**
   * The calibration runs left out because their index or cost was unusable (NaN, ±Infinity, negative epochs), by
   * reason and position — {@link DroppedRuns}. Censored runs with usable figures are not counted. Recomputed from
   * the stored runs, so a predictor restored with {@link CostPredictor.fromJSON} reports it too.
   */
  get dropped(): DroppedRuns {
    return droppedRuns(this.f.points);
  }

  /** Half-width of the interval in log(epochs + 1) space. */
  get logHalfWidth(): number {
    return this.f.q;
  }

  private logMean(index: number): number {
    return this.f.model === 'isotonic' ? interp(this.f.xs, this.f.ys, index) : this.f.a + this.f.b * index;
  }

  /** Predicted epochs (and kWh / kg CO2e when a per-epoch energy is known) with intervals. */
  predict(index: number, options: PredictOptions = {}): { epochs: Interval; kWh?: Interval; kgCO2e?: Interval } {
    if (!(typeof index === 'number' && Number.isFinite(index))) {
      throw new TrellisError('BAD_INDEX', `index ${shown(index)} is not a finite number`, 'pass the shift index (PreIndex, ARM or RESQUE value) computed for the new shift');
    }
    const nonNegative = (v: number | undefined): boolean => v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= 0);
    if (!nonNegative(options.kWhPerEpoch)) {
      throw new TrellisError('BAD_OPTION', `kWhPerEpoch ${shown(options.kWhPerEpoch)} is not a non-negative number`, 'pass the kWh of one training epoch (e.g. from a short tracked run), or leave it out for the calibration runs\' median');
    }
    if (!nonNegative(options.carbonIntensity)) {
      throw new TrellisError('BAD_CARBON_INTENSITY', `carbon intensity ${shown(options.carbonIntensity)} is not a non-negative number of g CO2e/kWh`, 'pass g/kWh, e.g. 475');
    }
    if (options.pue !== undefined && !(typeof options.pue === 'number' && Number.isFinite(options.pue) && options.pue >= 1)) {
      throw new TrellisError('BAD_PUE', `PUE ${shown(options.pue)} is not a finite number ≥ 1`, 'pass a PUE ≥ 1 (1.0 = no overhead, the default; on-premise ≈ 1.56–1.58)');
    }
    const m = this.logMean(index);
    const q = this.f.q;
    const epochs: Interval = { mean: Math.max(0, Math.exp(m) - 1), lo: Math.max(0, Math.exp(m - q) - 1), hi: Math.exp(m + q) - 1 };
    const per = options.kWhPerEpoch ?? this.f.kWhPerEpoch;
    if (per === null || per === undefined) return { epochs };
    const pue = options.pue ?? 1;
    const kWh: Interval = { mean: epochs.mean * per * pue, lo: epochs.lo * per * pue, hi: epochs.hi * per * pue };
    const g = options.carbonIntensity ?? this.f.gPerKWh ?? 475;
    const kg: Interval = { mean: (kWh.mean * g) / 1000, lo: (kWh.lo * g) / 1000, hi: (kWh.hi * g) / 1000 };
    return { epochs, kWh, kgCO2e: kg };
  }

  /** Held-out error and coverage: leave one run out, or one group (e.g. shift family) out. */
  evaluate(options: { leaveOut?: 'one' | 'group' } = {}): PredictorEvaluation {
    if (options.leaveOut !== undefined) {
      checkChoice(options.leaveOut, ['one', 'group'] as const, 'leaveOut', { fix: "use leaveOut: 'one' (the default, leave one run out) or 'group' (leave one group out)" });
    }
    const pts = this.f.points.filter((p) => Number.isFinite(p.index) && Number.isFinite(p.epochs));
    const unc = pts.filter((p) => !p.censored);
    const keys = options.leaveOut === 'group' ? [...new Set(pts.map((p) => p.group ?? ''))] : pts.map((_, i) => String(i));
    const apes: number[] = [];
    let covered = 0;
    let counted = 0;
    let above = 0;
    for (const key of keys) {
      const isHeld = (p: CalibrationPoint, i: number): boolean => (options.leaveOut === 'group' ? (p.group ?? '') === key : String(i) === key);
      const train = pts.filter((p, i) => !isHeld(p, i));
      const held = pts.filter((p, i) => isHeld(p, i));
      if (train.filter((p) => !p.censored).length < 2 || held.length === 0) continue;
      const pred = CostPredictor.fit(train, { model: this.f.model, alpha: this.f.alpha });
      for (const p of held) {
        const r = pred.predict(p.index).epochs;
        if (p.censored) {
          if (p.epochs <= r.hi) covered++;
          else above++;
        } else {
          if (p.epochs > 0) apes.push(Math.abs(r.mean - p.epochs) / p.epochs);
          if (p.epochs >= r.lo && p.epochs <= r.hi) covered++;
        }
        counted++;
      }
    }
    return {
      spearman: spearman(unc.map((p) => p.index), unc.map((p) => p.epochs)),
      pearson: pearson(unc.map((p) => p.index), unc.map((p) => Math.log(p.epochs + 1))),
      mdape: median(apes), mape: apes.length ? apes.reduce((s, v) => s + v, 0) / apes.length : NaN,
      coverage: counted ? covered / counted : NaN, n: counted, censoredAboveInterval: above,
    };
  }

  /** JSON form (refit-free reload with {@link CostPredictor.fromJSON}). */
  toJSON(): unknown {
    return { format: 'trellis-cost-predictor-1', ...this.f, q: Number.isFinite(this.f.q) ? this.f.q : 'Infinity' };
  }

  /**
   * Restores {@link CostPredictor.toJSON}'s value.
   * @throws TrellisError `BAD_PREDICTOR_JSON` when the value is not a saved predictor, or a fitted number in it is
   * missing or unusable (a damaged file used to restore, then predict NaN): the model, α, the coefficients a and b,
   * the isotonic knots, the half-width q, the per-epoch energy and carbon figures and the calibration runs.
   */
  static fromJSON(j: unknown): CostPredictor {
    const o = j as Omit<Fitted, 'q'> & { format?: string; q: number | string };
    if (!o || o.format !== 'trellis-cost-predictor-1') {
      throw new TrellisError('BAD_PREDICTOR_JSON', 'this JSON is not a saved CostPredictor', 'pass the value of predictor.toJSON()');
    }
    const fix = 'pass the unchanged value of predictor.toJSON() (the saved file may be damaged), or fit the predictor again';
    const bad = (what: string, v: unknown): never => {
      throw new TrellisError('BAD_PREDICTOR_JSON', `the saved predictor's ${what} is ${v === undefined ? 'undefined' : JSON.stringify(v)}`, fix);
    };
    const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
    if (o.model !== 'loglinear' && o.model !== 'isotonic') bad('model', o.model);
    if (!(finite(o.alpha) && o.alpha > 0 && o.alpha < 1)) bad('alpha', o.alpha);
    if (!finite(o.a)) bad('a', o.a);
    if (!finite(o.b)) bad('b', o.b);
    if (!(Array.isArray(o.xs) && o.xs.every(finite))) bad('xs', o.xs);
    if (!(Array.isArray(o.ys) && o.ys.every(finite) && o.ys.length === o.xs.length)) bad('ys', o.ys);
    if (o.model === 'isotonic' && o.xs.length === 0) bad('xs', o.xs);
    if (!(o.q === 'Infinity' || (finite(o.q) && o.q >= 0))) bad('q', o.q);
    for (const key of ['kWhPerEpoch', 'gPerKWh'] as const) if (!(o[key] === null || (finite(o[key]) && o[key] >= 0))) bad(key, o[key]);
    if (!Array.isArray(o.points)) bad('points', o.points);
    const { format: _f, ...rest } = o;
    void _f;
    return new CostPredictor({ ...(rest as Omit<Fitted, 'q'>), q: o.q === 'Infinity' ? Infinity : Number(o.q) });
  }
}
