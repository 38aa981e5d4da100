/**
 * Power and carbon formulas shared with CodeCarbon (spec §8): the CPU load models, the RAM DIMM
 * heuristic, the offline grid-intensity table and the kWh → CO2e rule. Pure functions.
 */
import { check, TrellisError } from '@trellis-ml/core';

/** World-average grid intensity, g CO2e/kWh (CodeCarbon's default, IEA 2019). */
export const WORLD_CARBON_INTENSITY = 475;

/** CodeCarbon's default TDP for an unknown CPU, watts. */
export const DEFAULT_TDP_WATTS = 85;

/** Offline grid intensities by ISO-3166 alpha-3 code, g CO2e/kWh (CodeCarbon's 2023 values, spec §8.5). */
export const COUNTRY_CARBON_INTENSITY: Readonly<Record<string, number>> = Object.freeze({
  USA: 369.5, CAN: 170.0, BRA: 98.3, FRA: 56.0, DEU: 381.0, GBR: 237.6, SWE: 40.7, NOR: 30.1,
  POL: 661.9, CHN: 582.3, IND: 713.4, JPN: 485.4, KOR: 430.6, AUS: 548.7, ZAF: 707.7,
});

/** Emission factors of generation sources, g CO2e/kWh, for the mix-based fallback. */
export const SOURCE_CARBON_INTENSITY: Readonly<Record<string, number>> = Object.freeze({
  coal: 995, petroleum: 816, naturalGas: 743, geothermal: 38, hydro: 26, nuclear: 29, solar: 48, wind: 26,
});

/** Where the grid intensity comes from. */
export type CarbonIntensitySource = number | { country: string } | { mix: Record<string, number> };

/**
 * Resolves a grid intensity in g CO2e/kWh: a number (≥ 0; 0 reports no carbon) as is; a country from the offline table; an
 * energy mix (shares by source, normalised) with the source factors; else the world average.
 * @throws TrellisError `BAD_CARBON_INTENSITY` for a number that is not finite and ≥ 0, a value of another shape,
 * an unknown source or a negative share in a mix.
 */
export function resolveCarbonIntensity(source: CarbonIntensitySource | undefined): { gPerKWh: number; source: string } {
  if (source === undefined) return { gPerKWh: WORLD_CARBON_INTENSITY, source: 'world average (475 g/kWh, CodeCarbon default)' };
  const shapeOk = typeof source === 'number' || (source !== null && typeof source === 'object'
    && (('country' in source && typeof source.country === 'string') || ('mix' in source && source.mix !== null && typeof source.mix === 'object')));
  if (!shapeOk) {
    throw new TrellisError('BAD_CARBON_INTENSITY', `carbon intensity ${typeof source === 'string' ? `"${source}"` : JSON.stringify(source) ?? String(source)} is not a number, { country } or { mix }`,
      "pass g CO2e/kWh as a number (e.g. 475), { country: 'FRA' } (ISO-3166 alpha-3) or { mix: { coal: 0.3, wind: 0.7 } }");
  }
  if (typeof source === 'number') {
    if (!(source >= 0 && Number.isFinite(source))) {
      throw new TrellisError('BAD_CARBON_INTENSITY', `carbon intensity ${source} is not a non-negative number of g CO2e/kWh`, 'pass g/kWh, e.g. 475');
    }
    return { gPerKWh: source, source: 'user value' };
  }
  if ('country' in source) {
    const v = COUNTRY_CARBON_INTENSITY[source.country.toUpperCase()];
    if (v !== undefined) return { gPerKWh: v, source: `country ${source.country.toUpperCase()} (offline table)` };
    return { gPerKWh: WORLD_CARBON_INTENSITY, source: `world average (no offline value for ${source.country})` };
  }
  let total = 0;
  let g = 0;
  for (const [k, share] of Object.entries(source.mix)) {
    const f = SOURCE_CARBON_INTENSITY[k];
    if (f === undefined) {
      throw new TrellisError('BAD_CARBON_INTENSITY', `unknown generation source "${k}" in the energy mix`, `use: ${Object.keys(SOURCE_CARBON_INTENSITY).join(', ')}`);
    }
    if (!(typeof share === 'number' && Number.isFinite(share) && share >= 0)) {
      throw new TrellisError('BAD_CARBON_INTENSITY', `the share ${typeof share === 'string' ? `"${share}"` : String(share)} of "${k}" in the energy mix is not a non-negative number`,
        'pass each source\'s share of generation as a number ≥ 0 (they are normalised, e.g. { coal: 0.3, wind: 0.7 })');
    }
    total += share;
    g += share * f;
  }
  if (total <= 0) return { gPerKWh: WORLD_CARBON_INTENSITY, source: 'world average (empty mix)' };
  return { gPerKWh: g / total, source: 'energy mix' };
}

/** Throws `BAD_OPTION` unless the TDP is a finite number of watts ≥ 0. */
function checkTdp(tdpW: number): void {
  check(Number.isFinite(tdpW) && tdpW >= 0, 'BAD_OPTION', () => `CPU TDP ${String(tdpW)} W is not a number ≥ 0`, 'pass the CPU\'s thermal design power in watts, e.g. 85');
}

/** Throws `BAD_OPTION` unless the utilisation is in [0, 1]. */
function checkUtilisation(u: number): void {
  check(u >= 0 && u <= 1, 'BAD_OPTION', () => `CPU utilisation ${String(u)} is outside [0, 1]`, 'pass the busy fraction of all cores (0 idle, 1 every core busy)');
}

/** CodeCarbon v3 machine-mode CPU power: `TDP × (0.1 + 0.9·u³)`, u in [0, 1]. */
export function cpuPowerCubic(tdpW: number, u: number): number {
  checkTdp(tdpW);
  checkUtilisation(u);
  return tdpW * (0.1 + 0.9 * u ** 3);
}

/** CodeCarbon's linear rule: `max(TDP·u, 0.1·TDP)`. */
export function cpuPowerLinear(tdpW: number, u: number): number {
  checkTdp(tdpW);
  checkUtilisation(u);
  return Math.max(tdpW * u, tdpW * 0.1);
}

/** Process-mode CPU power: `TDP × (Δ process CPU-seconds / Δ wall-seconds) / logical cores`. */
export function cpuPowerProcess(tdpW: number, cpuSeconds: number, wallSeconds: number, cores: number): number {
  checkTdp(tdpW);
  check(Number.isInteger(cores) && cores >= 1, 'BAD_OPTION', () => `logical core count ${String(cores)} is not a whole number ≥ 1`, 'pass os.availableParallelism() or the machine\'s logical core count');
  check(cpuSeconds >= 0 && wallSeconds >= 0, 'BAD_OPTION', () => `CPU seconds ${String(cpuSeconds)} and wall seconds ${String(wallSeconds)} must be numbers ≥ 0`, 'pass the differences of two readings taken in order');
  return wallSeconds > 0 ? (tdpW * (cpuSeconds / wallSeconds)) / cores : 0;
}

/** Constant mode (CodeCarbon and carbontracker fallback): `0.5 × TDP`. */
export function cpuPowerConstant(tdpW: number): number {
  checkTdp(tdpW);
  return 0.5 * tdpW;
}

/** CodeCarbon v3's DIMM-count estimate from total RAM in GiB. */
export function estimateDimmCount(totalGiB: number): number {
  check(Number.isFinite(totalGiB) && totalGiB >= 0, 'BAD_OPTION', () => `total RAM ${String(totalGiB)} GiB is not a number ≥ 0`, 'pass os.totalmem() / 2³⁰');
  if (totalGiB <= 2) return 1;
  if (totalGiB <= 16) return 2;
  if (totalGiB <= 32) return 4;
  if (totalGiB <= 64) return 4;
  if (totalGiB <= 128) return 8;
  for (const size of [128, 64, 32, 16, 8, 4]) {
    if (size <= totalGiB / 8) return Math.min(Math.ceil(totalGiB / size), 32);
  }
  return 8;
}

/**
 * CodeCarbon v3 RAM power: 5 W per DIMM on x86 (1.5 W on ARM); DIMMs 5–8 at 90%, 9–16 at 80%,
 * the rest at 70%; at least 10 W on x86 (3 W on ARM).
 */
export function ramPowerDimm(totalGiB: number, arm = false): number {
  const n = estimateDimmCount(totalGiB);
  const base = arm ? 1.5 : 5;
  const min = arm ? 3 : base * 2;
  let p: number;
  if (n <= 4) p = base * n;
  else if (n <= 8) p = base * 4 + base * 0.9 * (n - 4);
  else if (n <= 16) p = base * 4 + base * 0.9 * 4 + base * 0.8 * (n - 8);
  else p = base * 4 + base * 0.9 * 4 + base * 0.8 * 8 + base * 0.7 * (n - 16);
  return Math.max(min, p);
}

/**
 * Joules → kWh.
 * @throws TrellisError `BAD_OPTION` for an energy that is not a finite number ≥ 0 (it used to come out as NaN or a negative kWh).
 */
export function joulesToKWh(j: number): number {
  check(Number.isFinite(j) && j >= 0, 'BAD_OPTION', () => `energy ${String(j)} J is not a finite number ≥ 0`, 'pass the joules measured (power in W × seconds)');
  return j / 3.6e6;
}

/**
 * kg CO2e of `kWh` at `gPerKWh` (PUE already applied to kWh).
 * @throws TrellisError `BAD_OPTION` for an energy or an intensity that is not a finite number ≥ 0.
 */
export function kgCO2e(kWh: number, gPerKWh: number): number {
  check(Number.isFinite(kWh) && kWh >= 0, 'BAD_OPTION', () => `energy ${String(kWh)} kWh is not a finite number ≥ 0`, 'pass the kWh measured (e.g. an EnergyReport\'s kWh)');
  check(Number.isFinite(gPerKWh) && gPerKWh >= 0, 'BAD_OPTION', () => `carbon intensity ${String(gPerKWh)} g/kWh is not a number ≥ 0`, 'pass a grid intensity such as 475 (the world average)');
  return (kWh * gPerKWh) / 1000;
}

/** Parses `nvidia-smi --query-gpu=index,power.draw --format=csv,noheader,nounits` output. */
export function parseNvidiaSmi(text: string): Array<{ index: number; powerW: number }> {
  const out: Array<{ index: number; powerW: number }> = [];
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (!t) continue;
    const [a, b] = t.split(',').map((s) => s.trim());
    const index = Number(a);
    const powerW = Number(b);
    if (Number.isInteger(index) && Number.isFinite(powerW)) out.push({ index, powerW });
  }
  return out;
}
