/**
 * The energy/carbon tracker: CodeCarbon's formulas in TypeScript (spec §8). CPU energy comes from
 * RAPL counters where readable (metered), else from a TDP × utilisation model or a constant
 * (modelled); RAM from the DIMM heuristic; total kWh × PUE; CO2e = kWh × grid intensity. Every
 * report says which method produced it and whether the energy was metered or modelled, and the
 * per-interval log holds every input needed to recompute the modelled energy by hand.
 */
import { appendFileSync, existsSync } from 'node:fs';
import { checkChoice, TrellisError } from '@trellis-ml/core';
import {
  cpuPowerConstant, cpuPowerCubic, cpuPowerLinear, cpuPowerProcess, DEFAULT_TDP_WATTS, joulesToKWh, kgCO2e,
  ramPowerDimm, resolveCarbonIntensity, type CarbonIntensitySource,
} from './carbon.js';
import { nodeProbes, type EnergyProbes, type RaplReading } from './probes.js';

/** CPU power methods: RAPL counters, machine load (cubic/linear), process CPU share, or constant ½·TDP. */
export type CpuMethod = 'rapl' | 'load-cubic' | 'load-linear' | 'process' | 'constant';

/** Options of an {@link EnergyTracker}. */
export interface TrackerOptions {
  cpu?: {
    /** `'auto'` (default): RAPL if readable, else machine load. */
    method?: 'auto' | 'rapl' | 'load' | 'process' | 'constant';
    /** CPU TDP in W (default 85 W, CodeCarbon's value for an unknown CPU). */
    tdpWatts?: number;
    /** Load curve of the load method (default `'cubic'`, CodeCarbon v3). */
    loadCurve?: 'cubic' | 'linear';
  };
  gpu?: { method?: 'auto' | 'nvidia-smi' | 'none' };
  ram?: {
    /** `'dimm'` (default, CodeCarbon v3), `'perGB'` (0.375 W/GiB by default, CodeCarbon v2), or `'fixed'` watts. */
    method?: 'dimm' | 'perGB' | 'fixed';
    watts?: number;
    wPerGB?: number;
    /** Total machine RAM (default) or this process's resident memory. */
    scope?: 'machine' | 'process';
  };
  /** Power usage effectiveness (default 1.0, as CodeCarbon; 1.56–1.58 for typical on-premise). */
  pue?: number;
  /** g CO2e/kWh, `{ country: 'FRA' }` or `{ mix }` (default: world average 475). */
  carbonIntensity?: CarbonIntensitySource;
  /** Minimum interval between samples in ms (default 1000). */
  sampleMs?: number;
  /** Sample from a background timer too (default true; tight synchronous loops also call {@link EnergyTracker.tick}). */
  timer?: boolean;
  /** Append CodeCarbon-compatible CSV rows here on every stop/stopTask. */
  csvPath?: string;
  /** Machine readings (default: Node probes). */
  probes?: EnergyProbes;
}

/** One sampling interval: every input of the energy it adds. */
export interface EnergySample {
  /** End time of the interval, ms on the tracker's clock. */
  t: number;
  /** Interval length, s. */
  dtS: number;
  /** Machine CPU utilisation over the interval in [0, 1] (load methods), else null. */
  machineUtil: number | null;
  /** Process CPU-seconds spent in the interval. */
  processCpuS: number;
  /**
   * RAPL energy over the interval, J (rapl method), else null. 0 when the counters could not be read at the
   * interval's end (`raplReadFailed`): the tracker keeps the last good reading, so that interval's energy is
   * counted in the next interval that ends with a good read.
   */
  raplJ: number | null;
  /** The RAPL counters could not be read at the end of this interval (rapl method only; absent otherwise). */
  raplReadFailed?: boolean;
  cpuW: number;
  ramW: number;
  gpuW: number;
}

/** Energy and carbon of a run, a task or an epoch. */
export interface EnergyReport {
  durationS: number;
  /** Process CPU-seconds. */
  cpuS: number;
  cpuKWh: number;
  gpuKWh: number;
  ramKWh: number;
  /** PUE × (cpu + gpu + ram). */
  kWh: number;
  kgCO2e: number;
  avgPowerW: { cpu: number; gpu: number; ram: number };
  methods: { cpu: CpuMethod; gpu: 'nvidia-smi' | 'none'; ram: string };
  /** `metered` only when CPU energy came from RAPL counters; otherwise modelled from time/utilisation. */
  energyKind: 'metered' | 'modelled';
  pue: number;
  /** g CO2e/kWh. */
  carbonIntensity: number;
  carbonIntensitySource: string;
  tdpWatts: number;
  samples: number;
  /**
   * RAPL reads that failed (rapl method; 0 otherwise): the energy of such an interval is counted at the next
   * good read, so only a failure at the last read, or at `start()`, loses energy (the note says so).
   */
  raplReadFailures: number;
  /** Plain-words caveat for reports. */
  note: string;
}

interface Totals { cpuJ: number; ramJ: number; gpuJ: number; durationS: number; cpuS: number; samples: number; raplReadFailures: number }

const ZERO: Totals = { cpuJ: 0, ramJ: 0, gpuJ: 0, durationS: 0, cpuS: 0, samples: 0, raplReadFailures: 0 };

/** A value as an error message shows it (strings quoted, so `"85"` is not mistaken for the number 85). */
const shown = (v: unknown): string => (typeof v === 'string' ? `"${v}"` : String(v));

/** Core's {@link checkChoice} for an option that may be left out (undefined = the default). */
function checkOptionalChoice(value: unknown, allowed: readonly string[], name: string): void {
  if (value !== undefined) checkChoice(value, allowed, name, { fix: (choices) => `use one of ${choices} (or leave it out for the default)` });
}

/**
 * The option names and numbers the constructor does not otherwise check: an unknown method name would
 * silently fall back to another method (and be reported under the wrong name), a negative or NaN RAM
 * wattage would make the energy negative or NaN, and a non-positive `sampleMs` would sample on every tick.
 */
function checkTrackerOptions(options: TrackerOptions): void {
  if (options === null || typeof options !== 'object') {
    throw new TrellisError('BAD_OPTION', `tracker options ${String(options)} are not an object`, 'pass an options object such as { cpu: { tdpWatts: 85 } }, or nothing for the defaults');
  }
  checkOptionalChoice(options.cpu?.method, ['auto', 'rapl', 'load', 'process', 'constant'], 'cpu.method');
  checkOptionalChoice(options.cpu?.loadCurve, ['cubic', 'linear'], 'cpu.loadCurve');
  checkOptionalChoice(options.gpu?.method, ['auto', 'nvidia-smi', 'none'], 'gpu.method');
  checkOptionalChoice(options.ram?.method, ['dimm', 'perGB', 'fixed'], 'ram.method');
  checkOptionalChoice(options.ram?.scope, ['machine', 'process'], 'ram.scope');
  const ram = options.ram ?? {};
  if (ram.method === 'fixed' && ram.watts === undefined) {
    throw new TrellisError('BAD_OPTION', "ram.method 'fixed' needs ram.watts", 'pass ram: { method: \'fixed\', watts: 10 } (the RAM power in W), or use the default DIMM model');
  }
  for (const [name, v] of [['ram.watts', ram.watts], ['ram.wPerGB', ram.wPerGB]] as const) {
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) {
      throw new TrellisError('BAD_OPTION', `${name} ${shown(v)} is not a non-negative number of watts`, `pass ${name} ≥ 0 (W${name === 'ram.wPerGB' ? ' per GiB, e.g. 0.375' : ', e.g. 10'})`);
    }
  }
  const csv = options.csvPath;
  if (csv !== undefined && !(typeof csv === 'string' && csv.length > 0)) {
    // a number used to reach appendFileSync as a file descriptor
    throw new TrellisError('BAD_OPTION', `csvPath ${shown(csv)} is not a file path`, "pass csvPath as a path string, e.g. 'emissions.csv', or leave it out for no CSV");
  }
  const ms = options.sampleMs;
  if (ms !== undefined && !(typeof ms === 'number' && Number.isFinite(ms) && ms > 0)) {
    throw new TrellisError('BAD_OPTION', `sampleMs ${shown(ms)} is not a positive number of milliseconds`, 'pass sampleMs > 0, e.g. 1000 (the default)');
  }
}

/** The report note's words on failed RAPL reads (empty when none failed). */
function raplFailureNote(failures: number): string {
  if (failures === 0) return '';
  return ` ${failures} RAPL read${failures === 1 ? '' : 's'} failed: the energy of an interval ending in a failed read is counted at the next good read, so only a failure at the last read (or at start) leaves energy out.`;
}

/**
 * Measures energy and carbon of whatever runs between `start()` and `stop()`; named tasks may
 * overlap. Drive it from a timer (default) and/or by calling {@link EnergyTracker.tick} from a
 * training loop (the Trainer plugin does): synchronous TF.js work starves timers.
 */
export class EnergyTracker {
  readonly cpuMethod: CpuMethod;
  readonly gpuMethod: 'nvidia-smi' | 'none';
  readonly ramMethod: string;
  readonly tdpWatts: number;
  readonly pue: number;
  readonly carbonIntensity: number;
  readonly carbonIntensitySource: string;
  /** Every sampling interval since the last `start()` of a stopped tracker (the inputs of the energy). */
  readonly log: EnergySample[] = [];
  private readonly probes: EnergyProbes;
  private readonly options: TrackerOptions;
  private readonly sampleMs: number;
  private totals: Totals = { ...ZERO };
  private last: { t: number; machine: { busy: number; total: number } | null; proc: number; rapl: RaplReading[] | null; gpuW: number } | null = null;
  private readonly tasks = new Map<string, Totals>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(options: TrackerOptions = {}) {
    checkTrackerOptions(options);
    this.options = options;
    this.probes = options.probes ?? nodeProbes();
    this.sampleMs = options.sampleMs ?? 1000;
    this.tdpWatts = options.cpu?.tdpWatts ?? DEFAULT_TDP_WATTS;
    if (!(this.tdpWatts > 0 && Number.isFinite(this.tdpWatts))) throw new TrellisError('BAD_TDP', `CPU TDP ${shown(this.tdpWatts)} W is not a positive finite number`, 'pass cpu.tdpWatts > 0 (look up your CPU model\'s TDP)');
    this.pue = options.pue ?? 1;
    if (!(this.pue >= 1 && Number.isFinite(this.pue))) throw new TrellisError('BAD_PUE', `PUE ${shown(this.pue)} is not a finite number ≥ 1`, 'pass a PUE ≥ 1 (1.0 = no overhead; on-premise ≈ 1.56–1.58)');
    const ci = resolveCarbonIntensity(options.carbonIntensity);
    this.carbonIntensity = ci.gPerKWh;
    this.carbonIntensitySource = ci.source;
    this.cpuMethod = this.pickCpuMethod();
    // checked once here: the process method divides by it at every sample, inside the tracker's timer
    const cores = this.probes.logicalCores();
    if (!(Number.isInteger(cores) && cores >= 1)) {
      throw new TrellisError('BAD_PROBES', `the probes report ${shown(cores)} logical cores`, 'return the machine\'s logical core count (a whole number ≥ 1) from probes.logicalCores(), e.g. os.availableParallelism()');
    }
    const gm = options.gpu?.method ?? 'auto';
    this.gpuMethod = gm === 'none' ? 'none' : this.probes.gpuPowerW() ? 'nvidia-smi' : 'none';
    if (gm === 'nvidia-smi' && this.gpuMethod === 'none') {
      throw new TrellisError('NO_GPU_METER', 'gpu.method is nvidia-smi but nvidia-smi is not available', "use gpu: { method: 'auto' } or 'none'");
    }
    const r = options.ram ?? {};
    this.ramMethod = `${r.method ?? 'dimm'}-${r.scope ?? 'machine'}`;
  }

  private pickCpuMethod(): CpuMethod {
    const m = this.options.cpu?.method ?? 'auto';
    const curve: CpuMethod = (this.options.cpu?.loadCurve ?? 'cubic') === 'cubic' ? 'load-cubic' : 'load-linear';
    const raplOk = this.probes.rapl() !== null;
    if (m === 'rapl') {
      if (!raplOk) throw new TrellisError('NO_RAPL', 'RAPL energy counters are not readable (no /sys/class/powercap/intel-rapl:*, or not root)', "use cpu: { method: 'auto' } to fall back to the load model, or run where RAPL is readable");
      return 'rapl';
    }
    if (m === 'auto') return raplOk ? 'rapl' : this.probes.machineCpu() ? curve : 'constant';
    if (m === 'load') return curve;
    return m;
  }

  /** Whether the tracker is running. */
  get running(): boolean {
    return this.last !== null;
  }

  /**
   * Starts measuring (no-op when running). A stopped tracker starts afresh: its totals, `log` and open tasks
   * are cleared, so each report covers the run since this `start()` (an earlier run's totals used to be
   * carried into it).
   */
  start(): void {
    if (this.last) return;
    this.totals = { ...ZERO };
    this.log.length = 0;
    this.tasks.clear();
    this.last = this.read();
    if (this.cpuMethod === 'rapl' && this.last.rapl === null) this.totals.raplReadFailures++;
    if (this.options.timer !== false) {
      this.timer = setInterval(() => this.sample(), this.sampleMs);
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  private read(): NonNullable<EnergyTracker['last']> {
    const gpu = this.gpuMethod === 'nvidia-smi' ? this.probes.gpuPowerW() ?? [] : [];
    return {
      t: this.probes.now(),
      machine: this.cpuMethod.startsWith('load') ? this.probes.machineCpu() : null,
      proc: this.probes.processCpuSeconds(),
      rapl: this.cpuMethod === 'rapl' ? this.probes.rapl() : null,
      gpuW: gpu.reduce((s, v) => s + v, 0),
    };
  }

  private ramWatts(): number {
    const r = this.options.ram ?? {};
    const gib = (r.scope ?? 'machine') === 'process' ? this.probes.processRamGiB() : this.probes.totalRamGiB();
    const method = r.method ?? 'dimm';
    if (method === 'fixed') return r.watts ?? 0;
    if (method === 'perGB') return (r.wPerGB ?? 0.375) * gib;
    return ramPowerDimm(gib, this.probes.isArm());
  }

  /** Samples now if at least `sampleMs` passed since the last sample (cheap; call it from loops). */
  tick(): void {
    if (this.last && this.probes.now() - this.last.t >= this.sampleMs) this.sample();
  }

  /**
   * Integrates energy from the last sample to now. A RAPL read that fails (null) keeps the last good reading
   * as the baseline, so the energy of the gap is counted at the next good read, and counts in
   * `raplReadFailures`.
   */
  sample(): void {
    if (!this.last) return;
    const prev = this.last;
    const cur = this.read();
    const dtS = (cur.t - prev.t) / 1000;
    if (!(dtS > 0)) return;
    const raplFailed = this.cpuMethod === 'rapl' && cur.rapl === null;
    if (raplFailed) cur.rapl = prev.rapl;
    const procS = Math.max(0, cur.proc - prev.proc);
    let machineUtil: number | null = null;
    let raplJ: number | null = null;
    let cpuW: number;
    switch (this.cpuMethod) {
      case 'rapl': {
        let uj = 0;
        const before = prev.rapl ?? [];
        (cur.rapl ?? []).forEach((z, i) => {
          const p = before[i];
          if (!p) return;
          uj += z.energyUj >= p.energyUj ? z.energyUj - p.energyUj : z.energyUj + z.maxEnergyRangeUj - p.energyUj;
        });
        raplJ = uj / 1e6;
        cpuW = raplJ / dtS;
        break;
      }
      case 'load-cubic':
      case 'load-linear': {
        const a = prev.machine;
        const b = cur.machine;
        const dt = a && b ? b.total - a.total : 0;
        machineUtil = dt > 0 ? Math.min(1, Math.max(0, (b!.busy - a!.busy) / dt)) : 0;
        cpuW = this.cpuMethod === 'load-cubic' ? cpuPowerCubic(this.tdpWatts, machineUtil) : cpuPowerLinear(this.tdpWatts, machineUtil);
        break;
      }
      case 'process':
        cpuW = cpuPowerProcess(this.tdpWatts, procS, dtS, this.probes.logicalCores());
        break;
      default:
        cpuW = cpuPowerConstant(this.tdpWatts);
    }
    const ramW = this.ramWatts();
    const gpuW = (prev.gpuW + cur.gpuW) / 2; // trapezoid rule
    const s: EnergySample = { t: cur.t, dtS, machineUtil, processCpuS: procS, raplJ, cpuW, ramW, gpuW, ...(raplFailed ? { raplReadFailed: true } : {}) };
    this.log.push(s);
    this.totals = {
      cpuJ: this.totals.cpuJ + (raplJ ?? cpuW * dtS),
      ramJ: this.totals.ramJ + ramW * dtS,
      gpuJ: this.totals.gpuJ + gpuW * dtS,
      durationS: this.totals.durationS + dtS,
      cpuS: this.totals.cpuS + procS,
      samples: this.totals.samples + 1,
      raplReadFailures: this.totals.raplReadFailures + (raplFailed ? 1 : 0),
    };
    this.last = cur;
  }

  private report(t: Totals): EnergyReport {
    const cpuKWh = joulesToKWh(t.cpuJ);
    const ramKWh = joulesToKWh(t.ramJ);
    const gpuKWh = joulesToKWh(t.gpuJ);
    const kWh = this.pue * (cpuKWh + ramKWh + gpuKWh);
    const d = t.durationS > 0 ? t.durationS : 1;
    const metered = this.cpuMethod === 'rapl';
    return {
      durationS: t.durationS, cpuS: t.cpuS, cpuKWh, gpuKWh, ramKWh, kWh, kgCO2e: kgCO2e(kWh, this.carbonIntensity),
      avgPowerW: { cpu: t.cpuJ / d, gpu: t.gpuJ / d, ram: t.ramJ / d },
      methods: { cpu: this.cpuMethod, gpu: this.gpuMethod, ram: this.ramMethod },
      energyKind: metered ? 'metered' : 'modelled',
      pue: this.pue, carbonIntensity: this.carbonIntensity, carbonIntensitySource: this.carbonIntensitySource,
      tdpWatts: this.tdpWatts, samples: t.samples, raplReadFailures: t.raplReadFailures,
      note: metered
        ? `CPU energy metered by RAPL counters; RAM modelled; carbon = energy × a fixed grid intensity (not independent evidence).${raplFailureNote(t.raplReadFailures)}`
        : `Energy MODELLED, not metered (CPU ${this.cpuMethod}, TDP ${this.tdpWatts} W; RAM ${this.ramMethod}): it is a deterministic function of time and CPU utilisation, and carbon = energy × a fixed grid intensity.`,
    };
  }

  private diff(a: Totals, b: Totals): Totals {
    return {
      cpuJ: a.cpuJ - b.cpuJ, ramJ: a.ramJ - b.ramJ, gpuJ: a.gpuJ - b.gpuJ, durationS: a.durationS - b.durationS, cpuS: a.cpuS - b.cpuS, samples: a.samples - b.samples,
      raplReadFailures: a.raplReadFailures - b.raplReadFailures,
    };
  }

  /** A zero-energy report with this tracker's methods and constants. */
  emptyReport(): EnergyReport {
    return this.report({ ...ZERO });
  }

  /** The totals so far (samples first; does not stop). */
  snapshot(): EnergyReport {
    this.sample();
    return this.report(this.totals);
  }

  /** Stops and returns the totals since `start()` (of this run: a later `start()` begins a new one). */
  stop(): EnergyReport {
    this.sample();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.last = null;
    const r = this.report(this.totals);
    this.writeCsv('run', r);
    return r;
  }

  /** Starts a named task (tasks may overlap; starts the tracker if needed). */
  startTask(name: string): void {
    this.start();
    this.sample();
    this.tasks.set(name, { ...this.totals });
  }

  /** Stops a named task and returns its energy. */
  stopTask(name: string): EnergyReport {
    const begin = this.tasks.get(name);
    if (!begin) throw new TrellisError('UNKNOWN_TASK', `no energy task named "${name}" was started`, `call startTask("${name}") first (running: ${[...this.tasks.keys()].join(', ') || 'none'})`);
    this.sample();
    this.tasks.delete(name);
    const r = this.report(this.diff(this.totals, begin));
    this.writeCsv(name, r);
    return r;
  }

  /** The inputs a user needs to recompute the modelled energy by hand (see README). */
  inputs(): { cpuMethod: CpuMethod; tdpWatts: number; logicalCores: number; pue: number; carbonIntensity: number; ramMethod: string } {
    return { cpuMethod: this.cpuMethod, tdpWatts: this.tdpWatts, logicalCores: this.probes.logicalCores(), pue: this.pue, carbonIntensity: this.carbonIntensity, ramMethod: this.ramMethod };
  }

  private writeCsv(task: string, r: EnergyReport): void {
    const path = this.options.csvPath;
    if (!path) return;
    const cols = ['timestamp', 'project_name', 'run_id', 'duration', 'emissions', 'emissions_rate', 'cpu_power', 'gpu_power', 'ram_power',
      'cpu_energy', 'gpu_energy', 'ram_energy', 'energy_consumed', 'cpu_count', 'cpu_model', 'tracking_mode', 'pue', 'cpu_method', 'energy_kind'];
    if (!existsSync(path)) appendFileSync(path, cols.join(',') + '\n');
    const row = [new Date().toISOString(), 'trellis', task, r.durationS, r.kgCO2e, r.durationS > 0 ? r.kgCO2e / r.durationS : 0, r.avgPowerW.cpu, r.avgPowerW.gpu, r.avgPowerW.ram,
      r.cpuKWh, r.gpuKWh, r.ramKWh, r.kWh, this.probes.logicalCores(), JSON.stringify(this.probes.cpuModel()), r.methods.ram.endsWith('process') ? 'process' : 'machine', r.pue, r.methods.cpu, r.energyKind];
    appendFileSync(path, row.join(',') + '\n');
  }
}

/**
 * Runs any async `work` under a tracker and returns its result with the energy report. The
 * tracker samples on a timer; the work should yield to the event loop now and then.
 */
export async function trackEnergy<T>(work: (tracker: EnergyTracker) => Promise<T>, options: TrackerOptions = {}): Promise<{ result: T; energy: EnergyReport }> {
  const tracker = new EnergyTracker(options);
  tracker.start();
  try {
    const result = await work(tracker);
    return { result, energy: tracker.stop() };
  } catch (e) {
    tracker.stop();
    throw e;
  }
}
