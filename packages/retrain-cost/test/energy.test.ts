import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cpuPowerConstant, cpuPowerCubic, cpuPowerLinear, cpuPowerProcess, energyByHand, EnergyTracker, estimateDimmCount, findRaplZones, kgCO2e, parseNvidiaSmi,
  ramPowerDimm, readRapl, resolveCarbonIntensity, trackEnergy,
  type CarbonIntensitySource, type EnergyProbes, type RaplReading, type TrackerOptions,
} from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';

/** A fake machine: the test moves the clock and counters by hand. */
function fakeProbes(o: { rapl?: () => RaplReading[] | null; cores?: number; ramGiB?: number } = {}) {
  const state = { t: 0, busy: 0, total: 0, proc: 0 };
  const probes: EnergyProbes = {
    now: () => state.t,
    machineCpu: () => ({ busy: state.busy, total: state.total }),
    processCpuSeconds: () => state.proc,
    logicalCores: () => o.cores ?? 2,
    totalRamGiB: () => o.ramGiB ?? 23,
    processRamGiB: () => 1,
    rapl: o.rapl ?? (() => null),
    gpuPowerW: () => null,
    cpuModel: () => 'fake',
    isArm: () => false,
  };
  /** Advance `s` seconds with machine utilisation `u` and process CPU-seconds `proc`. */
  const advance = (s: number, u: number, proc = 0): void => {
    state.t += s * 1000;
    state.total += 100 * s;
    state.busy += 100 * s * u;
    state.proc += proc;
  };
  return { probes, advance };
}

describe('CodeCarbon formulas', () => {
  it('constant mode = 0.5·TDP·t, RAM DIMM power, PUE and CI multiply', () => {
    const { probes, advance } = fakeProbes();
    const t = new EnergyTracker({ probes, timer: false, cpu: { method: 'constant', tdpWatts: 100 }, pue: 1.5, carbonIntensity: 400 });
    t.start();
    advance(3600, 0.3);
    const r = t.stop();
    expect(r.cpuKWh).toBeCloseTo(0.05, 12); // 50 W for 1 h
    expect(r.ramKWh).toBeCloseTo(0.02, 12); // 23 GiB → 4 DIMMs → 20 W
    expect(r.kWh).toBeCloseTo(1.5 * 0.07, 12);
    expect(r.kgCO2e).toBeCloseTo(1.5 * 0.07 * 0.4, 12);
    expect(r.energyKind).toBe('modelled');
    expect(r.methods.cpu).toBe('constant');
  });
  it('cubic load curve per interval, linear rule, process share', () => {
    const { probes, advance } = fakeProbes();
    const t = new EnergyTracker({ probes, timer: false, cpu: { method: 'load', tdpWatts: 80 }, ram: { method: 'fixed', watts: 0 } });
    t.start();
    advance(10, 0.5);
    t.sample();
    advance(10, 1);
    const r = t.stop();
    const expected = 80 * (0.1 + 0.9 * 0.125) * 10 + 80 * 1 * 10;
    expect(r.cpuKWh * 3.6e6).toBeCloseTo(expected, 9);
    expect(t.log.map((s) => s.machineUtil)).toEqual([0.5, 1]);

    const lin = fakeProbes();
    const tl = new EnergyTracker({ probes: lin.probes, timer: false, cpu: { method: 'load', loadCurve: 'linear', tdpWatts: 80 }, ram: { method: 'fixed', watts: 0 } });
    tl.start();
    lin.advance(10, 0.05);
    expect(tl.stop().cpuKWh * 3.6e6).toBeCloseTo(80 * 0.1 * 10, 9); // floor at 10% TDP

    const pr = fakeProbes({ cores: 4 });
    const tp = new EnergyTracker({ probes: pr.probes, timer: false, cpu: { method: 'process', tdpWatts: 100 }, ram: { method: 'fixed', watts: 0 } });
    tp.start();
    pr.advance(10, 0.9, 20); // 2 cores busy of 4 → 50 W
    expect(tp.stop().avgPowerW.cpu).toBeCloseTo(50, 9);
  });
  it('RAPL counters are metered and handle wrap-around', () => {
    let e = 900;
    const { probes, advance } = fakeProbes({ rapl: () => [{ zone: 'pkg0', energyUj: e, maxEnergyRangeUj: 1000 }] });
    const t = new EnergyTracker({ probes, timer: false, ram: { method: 'fixed', watts: 0 } });
    expect(t.cpuMethod).toBe('rapl');
    t.start();
    advance(1, 0);
    e = 100; // wrapped: 900 → 1000 → 100 = 200 µJ
    const r = t.stop();
    expect(r.cpuKWh * 3.6e6).toBeCloseTo(200e-6, 15);
    expect(r.energyKind).toBe('metered');
  });
  it('a RAPL read that fails mid-run keeps the last good reading, so its interval is counted at the next good read, and is reported', () => {
    // 10 W for 30 s in three 10 s intervals; the counters cannot be read at the end of the second
    let e = 0;
    let readable = true;
    const { probes, advance } = fakeProbes({ rapl: () => (readable ? [{ zone: 'pkg0', energyUj: e, maxEnergyRangeUj: 2 ** 40 }] : null) });
    const t = new EnergyTracker({ probes, timer: false, ram: { method: 'fixed', watts: 0 } });
    t.start();
    advance(10, 0.5);
    e += 100e6;
    t.sample();
    advance(10, 0.5);
    e += 100e6;
    readable = false;
    t.sample();
    advance(10, 0.5);
    e += 100e6;
    readable = true;
    const r = t.stop();
    expect(r.cpuKWh * 3.6e6).toBeCloseTo(300, 9); // was 100 J: the failed read counted 0 J and became the baseline
    expect(t.log.map((s) => s.raplJ)).toEqual([100, 0, 200]);
    expect(t.log.map((s) => s.raplReadFailed ?? false)).toEqual([false, true, false]);
    expect(r.raplReadFailures).toBe(1);
    expect(r.note).toMatch(/1 RAPL read failed/);
    expect(r.energyKind).toBe('metered');
    expect(energyByHand(t.log, t.inputs()).kWh).toBeCloseTo(r.kWh, 15); // the log still adds up to the report
  });
  it('a stopped tracker started again reports the new run only (totals, log and tasks are cleared)', () => {
    const { probes, advance } = fakeProbes();
    const t = new EnergyTracker({ probes, timer: false, cpu: { method: 'constant', tdpWatts: 100 }, ram: { method: 'fixed', watts: 0 } });
    t.start();
    t.startTask('left-open');
    advance(3600, 0);
    expect(t.stop().cpuKWh).toBeCloseTo(0.05, 12);
    advance(3600, 0); // stopped: not measured
    t.start();
    advance(3600, 0);
    const r = t.stop();
    expect(r.cpuKWh).toBeCloseTo(0.05, 12); // was 0.1 (the first run carried over)
    expect(r.durationS).toBeCloseTo(3600, 9);
    expect(t.log).toHaveLength(1);
    expect(trellisErrorOf(() => t.stopTask('left-open')).code).toBe('UNKNOWN_TASK');
  });
  it('RAPL reader disables itself when files are absent or unreadable and auto falls back to load', () => {
    expect(findRaplZones('/definitely/not/here')).toBeNull();
    const dir = mkdtempSync(join(tmpdir(), 'rapl-'));
    mkdirSync(join(dir, 'intel-rapl:0'));
    writeFileSync(join(dir, 'intel-rapl:0', 'name'), 'package-0\n'); // no energy_uj → unreadable
    expect(findRaplZones(dir)).toBeNull();
    writeFileSync(join(dir, 'intel-rapl:0', 'energy_uj'), '12345\n');
    writeFileSync(join(dir, 'intel-rapl:0', 'max_energy_range_uj'), '262143328850\n');
    mkdirSync(join(dir, 'intel-rapl:0:0'));
    writeFileSync(join(dir, 'intel-rapl:0:0', 'name'), 'core\n');
    const zones = findRaplZones(dir);
    expect(zones).toHaveLength(1);
    expect(readRapl(zones!)![0]!.energyUj).toBe(12345);
    const { probes } = fakeProbes();
    expect(new EnergyTracker({ probes, timer: false }).cpuMethod).toBe('load-cubic');
    expect(() => new EnergyTracker({ probes, timer: false, cpu: { method: 'rapl' } })).toThrow(/RAPL/);
  });
  it('RAM DIMM table and carbon intensity table', () => {
    expect([1, 4, 16, 20, 32, 48, 100, 256, 1024, 5000].map(estimateDimmCount)).toEqual([1, 2, 2, 4, 4, 4, 8, 8, 8, 32]);
    expect(ramPowerDimm(8)).toBe(10);
    expect(ramPowerDimm(100)).toBe(20 + 4 * 4.5);
    expect(ramPowerDimm(1024)).toBe(20 + 18);
    expect(ramPowerDimm(5000)).toBeCloseTo(20 + 18 + 32 + 16 * 3.5, 12);
    expect(resolveCarbonIntensity(undefined).gPerKWh).toBe(475);
    expect(resolveCarbonIntensity({ country: 'fra' }).gPerKWh).toBe(56);
    expect(resolveCarbonIntensity({ country: 'XYZ' }).gPerKWh).toBe(475);
    expect(resolveCarbonIntensity({ mix: { coal: 0.5, wind: 0.5 } }).gPerKWh).toBeCloseTo(510.5, 12);
  });
  it('overlapping tasks each get their own interval', () => {
    const { probes, advance } = fakeProbes();
    const t = new EnergyTracker({ probes, timer: false, cpu: { method: 'constant', tdpWatts: 100 }, ram: { method: 'fixed', watts: 0 } });
    t.startTask('a');
    advance(10, 0);
    t.startTask('b');
    advance(10, 0);
    const a = t.stopTask('a');
    advance(10, 0);
    const b = t.stopTask('b');
    expect(a.durationS).toBeCloseTo(20, 9);
    expect(b.durationS).toBeCloseTo(20, 9);
    expect(a.cpuKWh * 3.6e6).toBeCloseTo(1000, 9);
    expect(() => t.stopTask('zzz')).toThrow(/no energy task/);
  });
  it('the modelled energy is reproducible by hand from the logged inputs', () => {
    const { probes, advance } = fakeProbes();
    const t = new EnergyTracker({ probes, timer: false, cpu: { method: 'load', tdpWatts: 65 }, pue: 1.2, carbonIntensity: { country: 'DEU' } });
    t.start();
    for (const [s, u] of [[1.3, 0.2], [0.7, 0.9], [2.1, 0.55]] as const) {
      advance(s, u);
      t.sample();
    }
    const r = t.stop();
    // by hand: E = PUE × Σ (TDP·(0.1 + 0.9u³) + RAM W)·Δt, CO2e = E × CI
    const inputs = t.inputs();
    let joules = 0;
    for (const s of t.log) joules += (inputs.tdpWatts * (0.1 + 0.9 * s.machineUtil! ** 3) + s.ramW) * s.dtS;
    const kWh = (inputs.pue * joules) / 3.6e6;
    expect(Math.abs(kWh - r.kWh) / r.kWh).toBeLessThan(1e-9);
    expect(Math.abs((kWh * 381) / 1000 - r.kgCO2e) / r.kgCO2e).toBeLessThan(1e-9);
  });
  it('parses nvidia-smi output', () => {
    expect(parseNvidiaSmi('0, 71.32\n1, 250.00\n\n')).toEqual([{ index: 0, powerW: 71.32 }, { index: 1, powerW: 250 }]);
    expect(parseNvidiaSmi('0, [N/A]\n')).toEqual([]);
  });
  it('wraps any async work and rejects bad constants', async () => {
    const { result, energy } = await trackEnergy(async () => {
      await new Promise((r) => setTimeout(r, 30));
      return 7;
    }, { sampleMs: 10 });
    expect(result).toBe(7);
    expect(energy.durationS).toBeGreaterThan(0.02);
    expect(energy.note).toMatch(/MODELLED|metered/);
    expect(() => new EnergyTracker({ pue: 0.5 })).toThrow(/PUE/);
  });
  it('rejects unknown method names, negative or NaN RAM watts, a bad sampleMs and infinite constants (instead of a silent fallback or a negative/NaN energy)', () => {
    const { probes } = fakeProbes();
    const bad: Array<[Record<string, unknown>, string, string]> = [
      [{ cpu: { method: 'gpu' } }, 'BAD_OPTION', 'unknown cpu.method "gpu"'],
      [{ cpu: { method: 'load', loadCurve: 'quadratic' } }, 'BAD_OPTION', 'unknown cpu.loadCurve "quadratic"'],
      [{ gpu: { method: 'cuda' } }, 'BAD_OPTION', 'unknown gpu.method "cuda"'],
      [{ ram: { method: 'perGb' } }, 'BAD_OPTION', 'unknown ram.method "perGb"'],
      [{ ram: { scope: 'proc' } }, 'BAD_OPTION', 'unknown ram.scope "proc"'],
      [{ ram: { method: 'fixed' } }, 'BAD_OPTION', "ram.method 'fixed' needs ram.watts"],
      [{ ram: { method: 'fixed', watts: -50 } }, 'BAD_OPTION', 'ram.watts -50 is not a non-negative number of watts'],
      [{ ram: { method: 'fixed', watts: Number.NaN } }, 'BAD_OPTION', 'ram.watts NaN is not a non-negative number of watts'],
      [{ ram: { method: 'perGB', wPerGB: -1 } }, 'BAD_OPTION', 'ram.wPerGB -1 is not a non-negative number of watts'],
      [{ sampleMs: 0 }, 'BAD_OPTION', 'sampleMs 0 is not a positive number of milliseconds'],
      [{ sampleMs: Number.NaN }, 'BAD_OPTION', 'sampleMs NaN is not a positive number of milliseconds'],
      [{ cpu: { tdpWatts: Infinity } }, 'BAD_TDP', 'CPU TDP Infinity W is not a positive finite number'],
      [{ cpu: { tdpWatts: '85' } }, 'BAD_TDP', 'CPU TDP "85" W is not a positive finite number'],
      [{ pue: Infinity }, 'BAD_PUE', 'PUE Infinity is not a finite number ≥ 1'],
    ];
    for (const [options, code, message] of bad) {
      const make = (): EnergyTracker => new EnergyTracker({ probes, timer: false, ...options } as TrackerOptions);
      expect(trellisErrorOf(make).code, JSON.stringify(options)).toBe(code);
      expect(make).toThrow(message);
    }
    expect(trellisErrorOf(() => new EnergyTracker(null as unknown as TrackerOptions)).code).toBe('BAD_OPTION');
    // probes that report no cores fail here, not at the first sample inside the tracker's timer
    expect(trellisErrorOf(() => new EnergyTracker({ probes: fakeProbes({ cores: 0 }).probes, timer: false })).code).toBe('BAD_PROBES');
  });
  it('the formulas refuse a negative TDP, a utilisation outside [0, 1], no cores, negative RAM and a negative intensity', () => {
    // each used to return a power or a mass (620 W at u = 2, −0.2 W at TDP −1, Infinity W with 0 cores)
    for (const f of [() => cpuPowerCubic(85, 2), () => cpuPowerCubic(-1, 0.5), () => cpuPowerLinear(85, -0.1), () => cpuPowerLinear(NaN, 0.5),
      () => cpuPowerProcess(85, 1, 1, 0), () => cpuPowerProcess(85, -1, 1, 2), () => cpuPowerConstant(-5), () => ramPowerDimm(-1),
      () => estimateDimmCount(NaN), () => kgCO2e(1, -400)]) {
      expect(trellisErrorOf(f).code, String(f)).toBe('BAD_OPTION');
    }
    expect(cpuPowerCubic(100, 1)).toBe(100);
    expect(cpuPowerProcess(80, 1, 2, 4)).toBe(10);
    expect(kgCO2e(2, 475)).toBe(0.95);
  });
  it('rejects a carbon intensity that is not a number, { country } or { mix }, and negative or NaN mix shares', () => {
    const bad: Array<[unknown, string]> = [
      ['475', 'carbon intensity "475" is not a number, { country } or { mix }'],
      [null, 'carbon intensity null is not a number'],
      [{}, 'carbon intensity {} is not a number'],
      [{ country: 123 }, 'carbon intensity {"country":123} is not a number'],
      [{ mix: { coal: -1, wind: 2 } }, 'the share -1 of "coal" in the energy mix is not a non-negative number'],
      [{ mix: { coal: Number.NaN, wind: 2 } }, 'the share NaN of "coal"'],
      [{ mix: { coal: '1', wind: 1 } }, 'the share "1" of "coal"'],
    ];
    for (const [source, message] of bad) {
      expect(trellisErrorOf(() => resolveCarbonIntensity(source as CarbonIntensitySource)).code).toBe('BAD_CARBON_INTENSITY');
      expect(() => resolveCarbonIntensity(source as CarbonIntensitySource)).toThrow(message);
    }
    expect(trellisErrorOf(() => new EnergyTracker({ probes: fakeProbes().probes, timer: false, carbonIntensity: { mix: { coal: -1 } } })).code).toBe('BAD_CARBON_INTENSITY');
  });
});
