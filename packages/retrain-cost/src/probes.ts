/**
 * What the energy tracker reads from the machine: a clock, CPU counters, RAM sizes, RAPL energy
 * counters and `nvidia-smi`. Node implementations here; tests inject fakes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { parseNvidiaSmi } from './carbon.js';

/** One RAPL energy counter reading. */
export interface RaplReading {
  zone: string;
  energyUj: number;
  maxEnergyRangeUj: number;
}

/** The machine readings the tracker needs (inject fakes in tests). */
export interface EnergyProbes {
  /** Milliseconds (monotonic). */
  now(): number;
  /** Cumulative machine CPU time (busy and total, any unit), or null when unavailable. */
  machineCpu(): { busy: number; total: number } | null;
  /** Cumulative CPU seconds of this process (all threads). */
  processCpuSeconds(): number;
  logicalCores(): number;
  totalRamGiB(): number;
  processRamGiB(): number;
  /** Current RAPL package counters, or null when not readable. */
  rapl(): RaplReading[] | null;
  /** Per-GPU power draw in W, or null when there is no `nvidia-smi`. */
  gpuPowerW(): number[] | null;
  cpuModel(): string;
  isArm(): boolean;
}

/** Reads `/proc/stat`'s first line (Linux), else sums `os.cpus()` times. */
export function readMachineCpu(procStat = '/proc/stat'): { busy: number; total: number } | null {
  try {
    const line = readFileSync(procStat, 'utf8').split('\n', 1)[0]!;
    const parts = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest fields are already in user/nice)
    const total = parts.slice(0, 8).reduce((s, v) => s + v, 0);
    const idle = (parts[3] ?? 0) + (parts[4] ?? 0);
    if (Number.isFinite(total) && total > 0) return { busy: total - idle, total };
  } catch {
    // fall through to os.cpus()
  }
  const cpus = os.cpus();
  if (!cpus.length) return null;
  let busy = 0, total = 0;
  for (const c of cpus) {
    const t = c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle;
    total += t;
    busy += t - c.times.idle;
  }
  return { busy, total };
}

/**
 * Finds readable top-level RAPL package zones under `root` (`intel-rapl:N` with a `package-*`
 * name; `intel-rapl-mmio` preferred when both expose a zone). Returns null when none is readable.
 */
export function findRaplZones(root = '/sys/class/powercap'): string[] | null {
  try {
    if (!existsSync(root)) return null;
    const byName = new Map<string, string>();
    for (const entry of readdirSync(root).sort()) {
      if (!/^intel-rapl(-mmio)?:\d+$/.test(entry)) continue;
      const dir = join(root, entry);
      let name: string;
      try {
        name = readFileSync(join(dir, 'name'), 'utf8').trim();
        readFileSync(join(dir, 'energy_uj'), 'utf8');
      } catch {
        continue;
      }
      if (!name.startsWith('package') && name !== 'psys') continue;
      if (name === 'psys') continue; // optional whole-platform zone: not summed with packages
      if (!byName.has(name) || entry.startsWith('intel-rapl-mmio')) byName.set(name, dir);
    }
    return byName.size ? [...byName.values()] : null;
  } catch {
    return null;
  }
}

/**
 * Reads the counters of `zones` (null if any became unreadable). A zone's `max_energy_range_uj` that is missing,
 * unparsable or not > 0 is read as 2³² µJ.
 */
export function readRapl(zones: string[]): RaplReading[] | null {
  try {
    return zones.map((dir) => {
      const energyUj = Number(readFileSync(join(dir, 'energy_uj'), 'utf8').trim());
      let maxEnergyRangeUj = 2 ** 32;
      try {
        const max = Number(readFileSync(join(dir, 'max_energy_range_uj'), 'utf8').trim());
        // an unparsable or non-positive range used to make the energy of a wrapped interval NaN (or negative)
        if (Number.isFinite(max) && max > 0) maxEnergyRangeUj = max;
      } catch {
        // keep the default range
      }
      if (!Number.isFinite(energyUj)) throw new Error('bad counter');
      return { zone: dir, energyUj, maxEnergyRangeUj };
    });
  } catch {
    return null;
  }
}

function nvidiaSmiOnPath(): boolean {
  const dirs = (process.env.PATH ?? '').split(':');
  return dirs.some((d) => d && existsSync(join(d, 'nvidia-smi')));
}

/** The Node probes: `/proc/stat` (or `os.cpus()`), `process.cpuUsage()`, RAPL under `raplRoot`, `nvidia-smi` when on PATH. */
export function nodeProbes(o: { raplRoot?: string; procStat?: string } = {}): EnergyProbes {
  const zones = findRaplZones(o.raplRoot);
  const hasSmi = nvidiaSmiOnPath();
  return {
    now: () => performance.now(),
    machineCpu: () => readMachineCpu(o.procStat),
    processCpuSeconds: () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    },
    logicalCores: () => os.cpus().length || 1,
    totalRamGiB: () => os.totalmem() / 1024 ** 3,
    processRamGiB: () => process.memoryUsage().rss / 1024 ** 3,
    rapl: () => (zones ? readRapl(zones) : null),
    gpuPowerW: () => {
      if (!hasSmi) return null;
      try {
        const text = execFileSync('nvidia-smi', ['--query-gpu=index,power.draw', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 2000 });
        return parseNvidiaSmi(text).map((g) => g.powerW);
      } catch {
        return null;
      }
    },
    cpuModel: () => os.cpus()[0]?.model ?? 'unknown',
    isArm: () => /arm|aarch/i.test(process.arch),
  };
}
