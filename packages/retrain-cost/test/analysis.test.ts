import { describe, expect, it } from 'vitest';
import { correlationsWithIntervals, epochEquivalents, orderingAgreement } from '../src/costAnalysis.js';
import { energyByHand, energyStatement, intervalCpuWatts, relativeError, workedEnergyExample, type EnergyInputs } from '../src/energyAudit.js';
import { planFor } from '../src/experiment.js';
import { correlationBarsPlot, predictionIntervalPlot } from '../src/reportFigures.js';
import { kendall, pearson } from '../src/stats.js';
import type { EnergySample } from '../src/tracker.js';

describe('correlations with intervals (spec §7.1; the statistics themselves are pinned in core)', () => {
  it('correlationsWithIntervals: the point estimates, and a degenerate interval for a perfectly ordered index', () => {
    const x = [0, 0.1, 0.2, 0.3, 0.4, 0.5];
    const cost = [0, 10, 40, 90, 160, 250];
    const c = correlationsWithIntervals(x, cost, 1, ['t'], { pearsonCost: Math.log1p });
    expect(c.spearman).toBe(1);
    expect(c.kendall).toBe(1);
    expect(c.pearson).toBeCloseTo(pearson(x, cost.map(Math.log1p)), 12);
    expect(c.spearmanCI.lo).toBe(1);
    expect(c.spearmanCI.hi).toBe(1);
    expect(c.kendallCI).toMatchObject({ lo: 1, hi: 1 });
    expect(c.spearmanCI.valid).toBeGreaterThan(990); // only resamples of one repeated run are undefined
    // a reversed index gives −1; the stream is fixed by seed and labels
    const r = correlationsWithIntervals(x, [...cost].reverse(), 1, ['t']);
    expect(r.spearman).toBe(-1);
    expect(kendall(x, [...cost].reverse())).toBe(-1);
    expect(correlationsWithIntervals([3, 1, 2, 5, 4], [1, 2, 3, 4, 5], 7, ['a']).spearmanCI)
      .toEqual(correlationsWithIntervals([3, 1, 2, 5, 4], [1, 2, 3, 4, 5], 7, ['a']).spearmanCI);
  });
});

describe('index cost and cross-architecture ordering (spec §13.2–13.3)', () => {
  it('epochEquivalents = median index seconds / (Σ training s / Σ epochs)', () => {
    // median 4 s; 9 s of training over 1.5 epochs = 6 s per epoch → 4 / 6
    expect(epochEquivalents([2, 9, 4], [3, 6], [0.5, 1])).toBeCloseTo(2 / 3, 12);
    expect(epochEquivalents([2], [], [])).toBeNaN();
  });
  it('orderingAgreement counts the settings whose cost order the index gets right, ties in cost left out', () => {
    expect(orderingAgreement([
      { indexA: 0.1, indexB: 0.2, costA: 10, costB: 30 }, // right
      { indexA: 0.3, indexB: 0.2, costA: 10, costB: 30 }, // wrong
      { indexA: 0.3, indexB: 0.2, costA: 50, costB: 20 }, // right
      { indexA: 0.3, indexB: 0.9, costA: 20, costB: 20 }, // tied cost: not counted
    ])).toBeCloseTo(2 / 3, 12);
    expect(orderingAgreement([{ indexA: 0, indexB: 1, costA: 5, costB: 5 }])).toBeNaN();
  });
});

describe("the tracker's energy, by hand", () => {
  const s1: EnergySample = { t: 2000, dtS: 2, machineUtil: 0.5, processCpuS: 1, raplJ: 30, cpuW: 0, ramW: 10, gpuW: 0 };
  const s2: EnergySample = { t: 3000, dtS: 1, machineUtil: 1, processCpuS: 2, raplJ: 12, cpuW: 0, ramW: 10, gpuW: 5 };
  const inputs = (cpuMethod: string): EnergyInputs => ({ cpuMethod, tdpWatts: 80, logicalCores: 4, pue: 1.5, carbonIntensity: 400 });
  it('CPU watts of one interval per method', () => {
    expect(intervalCpuWatts(s1, inputs('process'))).toBe(10); // 80 · (1 / 2) / 4
    expect(intervalCpuWatts(s1, inputs('load-cubic'))).toBeCloseTo(17, 12); // 80 · (0.1 + 0.9 · 0.125)
    expect(intervalCpuWatts(s1, inputs('load-linear'))).toBe(40); // max(80 · 0.5, 8)
    expect(intervalCpuWatts({ ...s1, machineUtil: 0.05 }, inputs('load-linear'))).toBe(8); // floor 10% TDP
    expect(intervalCpuWatts(s1, inputs('constant'))).toBe(40);
    expect(intervalCpuWatts(s1, inputs('rapl'))).toBe(15); // 30 J / 2 s
    expect(intervalCpuWatts(s1, inputs('psychic'))).toBeNaN();
  });
  it('kWh = PUE · Σ (cpu + ram + gpu) W · Δt / 3.6e6 and kg CO2e = kWh · CI / 1000', () => {
    // process: (10 + 10 + 0) · 2 = 40 J; (40 + 10 + 5) · 1 = 55 J; × 1.5 = 142.5 J
    const e = energyByHand([s1, s2], inputs('process'));
    expect(e.kWh).toBeCloseTo(142.5 / 3.6e6, 18);
    expect(e.kgCO2e).toBeCloseTo((142.5 / 3.6e6) * 0.4, 18);
    // rapl: metered 30 J + 12 J, RAM 20 + 10 J, GPU 5 J → 77 J × 1.5
    expect(energyByHand([s1, s2], inputs('rapl')).kWh).toBeCloseTo(115.5 / 3.6e6, 18);
    expect(relativeError(1.5, 1)).toBe(0.5);
    expect(relativeError(0, 0)).toBe(0);
  });
  it('the worked example is arithmetic a reader can redo', () => {
    expect(workedEnergyExample(s1, inputs('process'))).toBe('cpuW = 80 W × (1 CPU-s / 2 s) / 4 cores = 10 W; (10 + 10 RAM + 0 GPU) W × 2 s = 40 J');
    expect(workedEnergyExample(s1, inputs('load-cubic'))).toBe('cpuW = 80 W × (0.1 + 0.9 × 0.5³) = 17 W; (17 + 10 RAM + 0 GPU) W × 2 s = 54 J');
  });
  it('says whether the energy was metered or modelled', () => {
    expect(energyStatement([{ energyKind: 'modelled', cpuMethod: 'process' }, { energyKind: 'modelled', cpuMethod: 'process' }]))
      .toMatchObject({ kind: 'modelled', text: expect.stringMatching(/^Energy MODELLED, not metered, in all 2 runs \(CPU method process/) });
    expect(energyStatement([{ energyKind: 'metered', cpuMethod: 'rapl' }]).kind).toBe('metered');
    expect(energyStatement([{ energyKind: 'metered', cpuMethod: 'rapl' }, { energyKind: 'modelled', cpuMethod: 'load-cubic' }]).text).toMatch(/MIXED: 1 of 2 runs metered/);
    expect(energyStatement([]).kind).toBe('none');
  });
  it('--set cpuMethod is checked', () => {
    const opts = (cpuMethod: string) => ({ mode: 'quick' as const, seed: 1, out: '/tmp/unused', params: { cpuMethod } });
    expect(planFor(opts('auto')).cpuMethod).toBe('auto');
    expect(() => planFor(opts('watts'))).toThrow(/cpuMethod=watts: "watts" is not allowed — pass one of process, load, constant, auto, rapl/);
  });
});

describe('report figures', () => {
  it('draws an infinite interval end at the top of the axis and drops bars without a value', () => {
    const plot = predictionIntervalPlot([
      { cell: 'c', index: 0, predicted: 1, lo: 0, hi: Infinity, measured: 2, censored: false },
      { cell: 'c', index: 0.1, predicted: 3, lo: 1, hi: 4, measured: 5, censored: true },
    ], 't') as { data: { values: Array<{ hiShown: number; hi: number | null; status: string }> } };
    expect(plot.data.values.map((v) => v.hiShown)).toEqual([5.5, 4]); // 1.1 × the largest finite value (5)
    expect(plot.data.values[0]!.hi).toBeNull();
    expect(plot.data.values[1]!.status).toMatch(/censored/);
    const bars = correlationBarsPlot([{ group: 'g', index: 'a', value: 0.5, lo: 0.1, hi: 0.9 }, { group: 'g', index: 'b', value: null, lo: null, hi: null }], 't') as { data: { values: unknown[] } };
    expect(bars.data.values).toHaveLength(1);
  });
});
