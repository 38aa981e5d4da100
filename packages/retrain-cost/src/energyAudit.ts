/**
 * Checking the tracker by hand (spec §13.4–13.5): recompute a run's energy and carbon from the
 * tracker's per-interval log with the documented formulas — written out here independently of the
 * tracker's own code — and say in plain words whether the energy was metered or modelled.
 */
import type { CpuMethod, EnergySample } from './tracker.js';

/** The constants a hand recomputation needs: what `EnergyTracker.inputs()` returns. */
export interface EnergyInputs {
  cpuMethod: CpuMethod | string;
  tdpWatts: number;
  logicalCores: number;
  pue: number;
  /** g CO2e/kWh. */
  carbonIntensity: number;
}

/**
 * CPU watts of one logged interval by the README's formulas: `rapl` = metered joules / Δt;
 * `process` = TDP · (process CPU-s / Δt) / logical cores; `load-cubic` = TDP · (0.1 + 0.9·u³);
 * `load-linear` = max(TDP · u, 0.1 · TDP); `constant` = 0.5 · TDP. NaN for an unknown method.
 */
export function intervalCpuWatts(s: EnergySample, inputs: EnergyInputs): number {
  switch (inputs.cpuMethod) {
    case 'rapl': return (s.raplJ ?? NaN) / s.dtS;
    case 'process': return (inputs.tdpWatts * (s.processCpuS / s.dtS)) / inputs.logicalCores;
    case 'load-cubic': return inputs.tdpWatts * (0.1 + 0.9 * (s.machineUtil ?? 0) ** 3);
    case 'load-linear': return Math.max(inputs.tdpWatts * (s.machineUtil ?? 0), 0.1 * inputs.tdpWatts);
    case 'constant': return 0.5 * inputs.tdpWatts;
    default: return NaN;
  }
}

/**
 * A run's energy recomputed from its log: `kWh = PUE · Σ (cpuW + ramW + gpuW) · Δt / 3.6e6` and
 * `kg CO2e = kWh · CI / 1000` (CI in g/kWh). For RAPL runs the CPU term is the metered joules.
 */
export function energyByHand(samples: readonly EnergySample[], inputs: EnergyInputs): { kWh: number; kgCO2e: number } {
  let joules = 0;
  for (const s of samples) joules += (intervalCpuWatts(s, inputs) + s.ramW + s.gpuW) * s.dtS;
  const kWh = (inputs.pue * joules) / 3.6e6;
  return { kWh, kgCO2e: (kWh * inputs.carbonIntensity) / 1000 };
}

/** |a − b| / max(|b|, 1e-300): the relative error of a recomputed `a` against the tracker's `b` (0 when both are 0). */
export function relativeError(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
}

/**
 * The report's one-sentence answer to "was this energy metered or modelled?" over a set of runs
 * (each with its report's `energyKind` and CPU method): `metered` only when every run's CPU energy
 * came from RAPL counters, `modelled` when none did, `mixed` otherwise, `none` without runs.
 */
export function energyStatement(runs: ReadonlyArray<{ energyKind: 'metered' | 'modelled'; cpuMethod: string }>): { kind: 'metered' | 'modelled' | 'mixed' | 'none'; text: string } {
  if (!runs.length) return { kind: 'none', text: 'No retraining run was measured.' };
  const metered = runs.filter((r) => r.energyKind === 'metered').length;
  const methods = [...new Set(runs.map((r) => r.cpuMethod))].join(', ');
  if (metered === runs.length) {
    return { kind: 'metered', text: `Energy METERED: CPU energy of all ${runs.length} runs comes from RAPL counters (RAM and GPU are modelled); carbon = energy × a fixed grid intensity, so it is not independent evidence.` };
  }
  if (metered === 0) {
    return { kind: 'modelled', text: `Energy MODELLED, not metered, in all ${runs.length} runs (CPU method ${methods}; no RAPL counter was used): it is a deterministic function of time and CPU use, so its correlations are those of CPU time, and carbon = energy × a fixed grid intensity.` };
  }
  return { kind: 'mixed', text: `Energy MIXED: ${metered} of ${runs.length} runs metered by RAPL, the others modelled (CPU methods ${methods}); do not compare their energies directly.` };
}

const num = (v: number, digits = 4): string => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(digits))));

/**
 * One logged interval's energy written out as arithmetic a reader can redo with a calculator,
 * e.g. `cpuW = 85 W × (0.5 CPU-s / 1 s) / 2 cores = 21.25 W; (21.25 + 10 + 0) W × 1 s = 31.25 J`.
 */
export function workedEnergyExample(s: EnergySample, inputs: EnergyInputs): string {
  const cpuW = intervalCpuWatts(s, inputs);
  const u = num(s.machineUtil ?? 0);
  const how: Record<string, string> = {
    rapl: `cpuW = ${num(s.raplJ ?? NaN)} J (RAPL) / ${num(s.dtS)} s`,
    process: `cpuW = ${num(inputs.tdpWatts)} W × (${num(s.processCpuS)} CPU-s / ${num(s.dtS)} s) / ${inputs.logicalCores} cores`,
    'load-cubic': `cpuW = ${num(inputs.tdpWatts)} W × (0.1 + 0.9 × ${u}³)`,
    'load-linear': `cpuW = max(${num(inputs.tdpWatts)} W × ${u}, 0.1 × ${num(inputs.tdpWatts)} W)`,
    constant: `cpuW = 0.5 × ${num(inputs.tdpWatts)} W`,
  };
  const joules = (cpuW + s.ramW + s.gpuW) * s.dtS;
  return `${how[inputs.cpuMethod] ?? `cpuW (method ${inputs.cpuMethod})`} = ${num(cpuW)} W; (${num(cpuW)} + ${num(s.ramW)} RAM + ${num(s.gpuW)} GPU) W × ${num(s.dtS)} s = ${num(joules)} J`;
}
