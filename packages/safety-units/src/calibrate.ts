/**
 * Pruning sweeps and fraction calibration (spec §3.4 `calibrateFractions`, §10.5 curve F1): prune
 * growing unit sets taken in a given order (top by D, bottom by D, bottom by T, random), measure
 * utility and refusal, and pick each group's fraction from the degradation.
 *
 * @module
 */
import type { ModelAdapter } from '@trellis-ml/core';
import { check, checkChoice, meanStd } from '@trellis-ml/core';
import { randomMask, rankedMask, type GroupFractions, type UnitClassification } from './classify.js';
import { pruneUnits } from './prune.js';
import { checkFraction, totalUnits, type UnitLayout, type UnitMask } from './units.js';

/** What a sweep measures after each pruning: utility (e.g. accuracy) and refusal rate, both in [0, 1]. */
export interface SweepMeasure {
  utility: number;
  refusal: number;
}

/** Orders of a sweep: top by D (safety-leaning), bottom by D (utility-leaning), bottom by T (least important), random. */
export type SweepOrder = 'top-D' | 'bottom-D' | 'bottom-T' | 'random';

const SWEEP_ORDERS: readonly SweepOrder[] = ['top-D', 'bottom-D', 'bottom-T', 'random'];

/** One point of a sweep. */
export interface SweepPoint extends SweepMeasure {
  order: SweepOrder;
  fraction: number;
  units: number;
}

/** Checks what a sweep's `measure` returned: utility and refusal, both numbers in [0, 1]. */
function checkMeasure(m: SweepMeasure, when: string): void {
  const ok = (v: unknown) => typeof v === 'number' && v >= 0 && v <= 1;
  check(ok(m?.utility) && ok(m?.refusal), 'BAD_OPTION', `the sweep's measure ${when} returned utility ${String(m?.utility)}, refusal ${String(m?.refusal)}`,
    'return { utility, refusal }, both rates in [0, 1] (e.g. benign exact match and refusal rate from safetyMetrics)');
}

/** The spec's fraction grid (0.25 % … 30 %). */
export const DEFAULT_GRID = [0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3];

/** The unit set of `count` units in a sweep order. */
export function sweepMask(layout: UnitLayout, cls: UnitClassification, order: SweepOrder, count: number, seed = 0): UnitMask {
  checkChoice(order, SWEEP_ORDERS, 'sweep order');
  if (order === 'top-D') return rankedMask(layout, cls.D, count, 'top');
  if (order === 'bottom-D') return rankedMask(layout, cls.D, count, 'bottom');
  if (order === 'bottom-T') return rankedMask(layout, cls.T, count, 'bottom');
  return randomMask(layout, count, seed);
}

/**
 * Prunes `round(fraction × N)` units (at least one) in each order, measures, restores; returns every
 * point plus the dense baseline (fraction 0).
 */
export function pruningSweep(adapter: ModelAdapter, layout: UnitLayout, cls: UnitClassification, measure: () => SweepMeasure,
  options: { grid?: number[]; orders?: SweepOrder[]; seed?: number } = {}): { dense: SweepMeasure; points: SweepPoint[] } {
  const grid = options.grid ?? DEFAULT_GRID;
  for (const p of grid) checkFraction(p, 'sweep fraction');
  const n = totalUnits(layout);
  const dense = measure();
  checkMeasure(dense, 'of the dense model');
  const points: SweepPoint[] = [];
  for (const order of options.orders ?? ['top-D', 'bottom-D', 'bottom-T', 'random']) {
    for (const fraction of grid) {
      const units = Math.max(1, Math.round(fraction * n));
      const handle = pruneUnits(adapter, layout, sweepMask(layout, cls, order, units, options.seed ?? 0));
      try {
        const m = measure();
        checkMeasure(m, `after pruning ${units} units (${order})`);
        points.push({ order, fraction, units, ...m });
      } finally {
        handle.restore();
      }
    }
  }
  return { dense, points };
}

/** Tolerances of {@link calibrateFractions} (spec §3.4 defaults: 3 utility points, 20 / 5 refusal points). */
export interface CalibrationOptions {
  /** Utility drop allowed for ESU and RU (default 0.03). */
  tolUtility?: number;
  /** Refusal drop allowed for EUU (default 0.20). */
  tolRefusalEuu?: number;
  /** Refusal drop allowed for RU (default 0.05). */
  tolRefusalRu?: number;
  /** Largest ESU fraction considered (default 0.05: keeps the freeze set near the paper's 7.5 %). */
  esuMax?: number;
}

/** The calibrated fractions and the sweep they came from. */
export interface CalibrationReport {
  fractions: GroupFractions;
  dense: SweepMeasure;
  points: SweepPoint[];
  /** Refusal drop at the chosen ESU fraction. */
  esuRefusalDrop: number;
}

/**
 * Picks group fractions from a sweep (spec §3.4, reconstructed): ESU = largest p (≤ `esuMax`) whose
 * top-D pruning keeps the utility drop ≤ `tolUtility`; EUU = largest p whose bottom-D pruning keeps the
 * refusal drop ≤ `tolRefusalEuu`; RU = largest p whose bottom-T pruning keeps utility drop ≤
 * `tolUtility` and refusal drop ≤ `tolRefusalRu`. The smallest grid value is the floor of each. When
 * the three sum to 0.95 or more, EUU and RU are shrunk by one common factor so that ESU + EUU + RU =
 * 0.95 (at least 5 % complex units); the returned EUU and RU then lie between grid values.
 * @throws TrellisError `BAD_OPTION` for a tolerance below 0 or a sweep whose measures are not rates in
 * [0, 1], `BAD_FRACTION` for a point outside (0, 1) or an `esuMax` outside (0, 1), `BAD_SWEEP` when an
 * order is missing or no top-D point is ≤ `esuMax`.
 */
export function calibrateFractions(sweep: { dense: SweepMeasure; points: SweepPoint[] }, options: CalibrationOptions = {}): CalibrationReport {
  const tolU = options.tolUtility ?? 0.03;
  const tolE = options.tolRefusalEuu ?? 0.2;
  const tolR = options.tolRefusalRu ?? 0.05;
  const esuMax = options.esuMax ?? 0.05;
  for (const [k, v] of [['tolUtility', tolU], ['tolRefusalEuu', tolE], ['tolRefusalRu', tolR]] as const) {
    check(Number.isFinite(v) && v >= 0, 'BAD_OPTION', `calibration tolerance ${k} ${String(v)} is not a number ≥ 0`, `pass ${k} as a drop in [0, 1], e.g. 0.03 for 3 points`);
  }
  checkFraction(esuMax, 'esuMax');
  // A NaN or out-of-range measure (a hand-built sweep) used to pick fractions as if nothing had changed.
  check(Array.isArray(sweep?.points), 'BAD_SWEEP', 'the sweep has no `points`', 'pass what pruningSweep returns ({ dense, points })');
  checkMeasure(sweep.dense, 'of the dense model');
  for (const p of sweep.points) {
    checkChoice(p?.order, SWEEP_ORDERS, 'sweep order');
    checkFraction(p.fraction, 'sweep fraction');
    checkMeasure(p, `after pruning ${p.fraction} of the units (${p.order})`);
  }
  const d = sweep.dense;
  const of = (o: SweepOrder) => sweep.points.filter((p) => p.order === o).sort((a, b) => a.fraction - b.fraction);
  const largest = (pts: SweepPoint[], ok: (p: SweepPoint) => boolean) => {
    check(pts.length > 0, 'BAD_SWEEP', 'the sweep has no points for an order calibration needs', "sweep the orders 'top-D', 'bottom-D' and 'bottom-T'");
    let best = pts[0]!;
    for (const p of pts) if (ok(p)) best = p;
    return best;
  };
  const topD = of('top-D');
  check(topD.length === 0 || topD[0]!.fraction <= esuMax, 'BAD_SWEEP', () => `no top-D point of the sweep is at or below esuMax ${esuMax} (the smallest is ${topD[0]!.fraction})`,
    `raise esuMax to at least ${topD[0]!.fraction}, or sweep smaller fractions (the default grid starts at 0.0025)`);
  const esu = largest(topD.filter((p) => p.fraction <= esuMax), (p) => d.utility - p.utility <= tolU);
  const euu = largest(of('bottom-D'), (p) => d.refusal - p.refusal <= tolE);
  const ru = largest(of('bottom-T'), (p) => d.utility - p.utility <= tolU && d.refusal - p.refusal <= tolR);
  let fractions = { esu: esu.fraction, euu: euu.fraction, ru: ru.fraction };
  const sum = fractions.esu + fractions.euu + fractions.ru;
  if (sum >= 0.95) {
    // Leave at least 5 % complex units: shrink EUU and RU proportionally.
    const f = (0.95 - fractions.esu) / (fractions.euu + fractions.ru);
    fractions = { esu: fractions.esu, euu: fractions.euu * f, ru: fractions.ru * f };
  }
  return { fractions, dense: d, points: sweep.points, esuRefusalDrop: d.refusal - esu.refusal };
}

/** One point of curve F1 (spec §10.5 item 2): a metric's mean ± sd over seeds after pruning `fraction` of the units in `order`. */
export interface SweepCurvePoint {
  order: SweepOrder;
  fraction: number;
  /** `asr` = 1 − refusal rate of the sweep's measure; `utility` = its utility (benign exact match in the study). */
  metric: 'asr' | 'utility';
  mean: number;
  sd: number;
  seeds: number;
}

/**
 * Curve F1's data from one sweep per seed: for every order and fraction (the dense model as fraction 0
 * of every order) the mean and sample sd over seeds of ASR (= 1 − refusal) and utility. Sweeps may
 * differ in grid; each point averages the seeds that measured it.
 */
export function sweepCurves(sweeps: ReadonlyArray<{ dense: SweepMeasure; points: readonly SweepPoint[] }>): SweepCurvePoint[] {
  check(sweeps.length > 0, 'BAD_SWEEP', 'no sweeps to average', 'pass one pruningSweep result per seed');
  const cells = new Map<string, { order: SweepOrder; fraction: number; asr: number[]; utility: number[] }>();
  const add = (order: SweepOrder, fraction: number, m: SweepMeasure) => {
    const key = `${order}|${fraction}`;
    const c = cells.get(key) ?? { order, fraction, asr: [], utility: [] };
    c.asr.push(1 - m.refusal);
    c.utility.push(m.utility);
    cells.set(key, c);
  };
  for (const s of sweeps) {
    const orders = [...new Set(s.points.map((p) => p.order))];
    for (const o of orders) add(o, 0, s.dense);
    for (const p of s.points) add(p.order, p.fraction, p);
  }
  const stats = (v: number[]) => {
    const { mean, std } = meanStd(v);
    return { mean, sd: std };
  };
  const out: SweepCurvePoint[] = [];
  for (const c of [...cells.values()].sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : a.fraction - b.fraction))) {
    out.push({ order: c.order, fraction: c.fraction, metric: 'asr', ...stats(c.asr), seeds: c.asr.length });
    out.push({ order: c.order, fraction: c.fraction, metric: 'utility', ...stats(c.utility), seeds: c.utility.length });
  }
  return out;
}
