import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dataset, Trainer } from '@trellis-ml/core';
import { describe, expect, it } from 'vitest';
import {
  arm, armLayerDistance, EnergyTracker, energyTrackerPlugin, kmeans, type CalibrationPoint, preIndexReference, retrainToTarget, bhattacharyya, conformalQuantile, CostPredictor, distances, histogramPmf, histogramPmfInto, histogramRange, isotonicFit, joulesToKWh,
  jensenShannon, kgCO2e, klDivergence, leastSquares, mmd2, resolveCarbonIntensity, resqueFromSums, stratifiedRows, symmetricEigen, ksPValue, accuracyOf, readRapl, wassersteinBinCdf, wassersteinValueSort,
} from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { randomData, tinyModel, useCpu } from './helpers.js';

describe('histograms refuse NaN, ±Infinity and empty input instead of returning a wrong pmf', () => {
  it('NaN and ±Infinity throw NON_FINITE_VALUES (a NaN used to be dropped, an Infinity counted in no bin: a pmf summing to 2/3)', () => {
    expect(trellisErrorOf(() => histogramPmf([0, Number.NaN, 1], 4)).code).toBe('NON_FINITE_VALUES');
    expect(trellisErrorOf(() => histogramPmf([0, Infinity, 1], 4)).code).toBe('NON_FINITE_VALUES');
    expect(trellisErrorOf(() => histogramPmf([0, -Infinity, 1], 4)).code).toBe('NON_FINITE_VALUES');
    expect(trellisErrorOf(() => histogramRange([Number.NaN, 1])).code).toBe('NON_FINITE_VALUES');
    // a NaN inside a given range is refused too; an Infinity outside it is ignored, as np.histogram does
    expect(trellisErrorOf(() => histogramPmf([0, Number.NaN, 1], 4, [0, 1])).code).toBe('NON_FINITE_VALUES');
    expect(Array.from(histogramPmf([0, Infinity, 1, 0.5], 4, [0, 1]))).toEqual([1 / 3, 0, 1 / 3, 1 / 3]);
    expect(() => histogramPmf([0, Number.NaN, 1], 4)).toThrow("a histogram's value at 1 is NaN");
    expect(trellisErrorOf(() => histogramPmfInto(new Float32Array([1, 2, Number.NaN, 4]), 1, 3, new Float64Array(4))).code).toBe('NON_FINITE_VALUES');
  });
  it('no values throw EMPTY_INPUT (they used to give an all-zero "pmf" and a range of [Infinity, -Infinity])', () => {
    expect(trellisErrorOf(() => histogramPmf([], 4)).code).toBe('EMPTY_INPUT');
    expect(trellisErrorOf(() => histogramPmf([], 4, [0, 1])).code).toBe('EMPTY_INPUT');
    expect(trellisErrorOf(() => histogramRange([])).code).toBe('EMPTY_INPUT');
    expect(trellisErrorOf(() => histogramPmfInto([1, 2, 3], 1, 0, new Float64Array(4))).code).toBe('EMPTY_INPUT');
  });
  it('finite input keeps the spec §3.4 values', () => {
    expect(Array.from(histogramPmf([0, 1, 2, 3, 4, 10], 4))).toEqual([0.5, 1 / 3, 0, 1 / 6]);
    expect(Array.from(histogramPmf([1, 1, 1, 1, 1, 1], 4))).toEqual([0, 0, 1, 0]);
    expect(histogramRange([1, 1])).toEqual([0.5, 1.5]);
  });
  it('ARM refuses a NaN activation (it used to give 0: "no shift")', () => {
    const ok = new Float32Array([0, 1, 1, 1, 2, 1, 3, 2, 4, 2, 5, 2]);
    const withNaN = new Float32Array([0, 1, 0, 2, 0, 3, 0, 4, 5, 5, Number.NaN, 6]);
    expect(trellisErrorOf(() => armLayerDistance(ok, 6, withNaN, 6, 2, { bins: 4 })).code).toBe('NON_FINITE_VALUES');
    expect(trellisErrorOf(() => armLayerDistance(ok, 6, withNaN, 6, 2, { bins: 4, construction: 'pooled' })).code).toBe('NON_FINITE_VALUES');
    expect(armLayerDistance(ok, 6, new Float32Array([0, 1, 0, 2, 0, 3, 0, 4, 5, 5, 5, 6]), 6, 2, { bins: 4 })).toBeCloseTo(0.0416667, 7); // spec §6.2
  });
});

describe('distances refuse empty and non-finite pmfs', () => {
  const fns = { W: wassersteinValueSort, binCdf: wassersteinBinCdf, JS: jensenShannon, BH: bhattacharyya, KL: (p: ArrayLike<number>, q: ArrayLike<number>) => klDivergence(p, q) };
  it('empty pmfs throw EMPTY_INPUT (W and bin-cdf used to return 0/0 = NaN)', () => {
    for (const [name, f] of Object.entries(fns)) expect(trellisErrorOf(() => f([], [])).code, name).toBe('EMPTY_INPUT');
    expect(trellisErrorOf(() => distances.W([], [])).code).toBe('EMPTY_INPUT');
  });
  it('a NaN entry throws NON_FINITE_VALUES (it used to give NaN, or for KL a finite value with the entry skipped)', () => {
    for (const [name, f] of Object.entries(fns)) {
      expect(trellisErrorOf(() => f([Number.NaN, 1], [0.5, 0.5])).code, name).toBe('NON_FINITE_VALUES');
      expect(trellisErrorOf(() => f([0.5, 0.5], [0.5, Infinity])).code, name).toBe('NON_FINITE_VALUES');
    }
    // KL used to skip the NaN term: KL([NaN, 1] ‖ [0.5, 0.5]) = 1·ln 2
    expect(() => klDivergence([Number.NaN, 1], [0.5, 0.5])).toThrow('KL of two pmfs: entry 0 is NaN and 0.5');
  });
  it('finite pmfs keep the spec §3.4 goldens', () => {
    const p = histogramPmf([0, 1, 2, 3, 4, 10], 4);
    const q = [0.25, 0.25, 0.25, 0.25];
    expect(wassersteinValueSort(p, q)).toBeCloseTo(0.1666667, 7);
    expect(jensenShannon(p, q)).toBeCloseTo(0.1150621, 7);
    expect(bhattacharyya(p, q)).toBeCloseTo(0.1536473, 7);
    expect(klDivergence(p, q)).toBeCloseTo(0.3748901, 7);
    expect(klDivergence(q, p)).toBeCloseTo(-0.143841, 6);
  });
});

describe('MMD² checks its permutation count and sample cap', () => {
  const a = new Float32Array([0, 1]);
  const b = new Float32Array([2, 3]);
  it('a fractional or negative permutation count throws BAD_OPTION (2.5 used to give a p-value of 1.14, −1 silently no test)', () => {
    for (const permutations of [2.5, -1, Number.NaN, Infinity]) {
      expect(trellisErrorOf(() => mmd2(a, a, 1, { sigma: 1, permutations })).code, String(permutations)).toBe('BAD_OPTION');
    }
    expect(() => mmd2(a, a, 1, { permutations: 2.5 })).toThrow('MMD permutations 2.5 is not a whole number ≥ 0');
  });
  it('a maxSamples that is not a whole number ≥ 2 throws BAD_OPTION (0 used to fail as "pass more samples")', () => {
    for (const maxSamples of [0, 1, 1.5, Number.NaN]) {
      expect(trellisErrorOf(() => mmd2(a, b, 1, { sigma: 1, maxSamples })).code, String(maxSamples)).toBe('BAD_OPTION');
    }
  });
  it('keeps the hand-computed value: x = [0, 1], y = [2, 3], σ = 1 → 2e^(−1/2) − 2·mean(e^−2, e^−4.5, e^−0.5, e^−2)', () => {
    const hand = 2 * Math.exp(-0.5) - (2 * (2 * Math.exp(-2) + Math.exp(-4.5) + Math.exp(-0.5))) / 4;
    const r = mmd2(a, b, 1, { sigma: 1, permutations: 0 });
    expect(r.mmd2).toBeCloseTo(hand, 6);
    expect(r.pValue).toBeUndefined();
    const t = mmd2(a, b, 1, { sigma: 1, permutations: 9 });
    expect(t.pValue! > 0 && t.pValue! <= 1).toBe(true);
  });
});

describe('energy and carbon units refuse NaN, negative energy and a carbon intensity ≤ 0', () => {
  it('joulesToKWh and kgCO2e throw BAD_OPTION for NaN or negative energy (they returned NaN or −0.475 kg)', () => {
    for (const f of [() => joulesToKWh(Number.NaN), () => joulesToKWh(-1), () => kgCO2e(Number.NaN, 475), () => kgCO2e(-1, 475), () => kgCO2e(Infinity, 475)]) {
      expect(trellisErrorOf(f).code, String(f)).toBe('BAD_OPTION');
    }
    expect(joulesToKWh(3.6e6)).toBe(1);
    expect(kgCO2e(2, 475)).toBe(0.95);
    expect(kgCO2e(0, 475)).toBe(0);
  });
  it('a carbon intensity of 0 (a zero-carbon contract) reports 0 kg; a negative or NaN one throws', () => {
    expect(kgCO2e(1, 0)).toBe(0);
    expect(resolveCarbonIntensity(0).gPerKWh).toBe(0);
    for (const g of [-1, Number.NaN]) {
      expect(trellisErrorOf(() => kgCO2e(1, g)).code).toBe('BAD_OPTION');
      expect(trellisErrorOf(() => resolveCarbonIntensity(g)).code).toBe('BAD_CARBON_INTENSITY');
    }
    const p = CostPredictor.fit([{ index: 0, epochs: 1, kWh: 0.01 }, { index: 1, epochs: 3, kWh: 0.03 }]);
    expect(p.predict(0.5, { carbonIntensity: 0 }).kgCO2e!.mean).toBe(0);
    // 0.5 → log-linear mean exp(ln2 + 0.5·ln2) − 1 = 2√2 − 1 epochs; × 0.01 kWh × 400 g/kWh
    expect(p.predict(0.5, { carbonIntensity: 400 }).kgCO2e!.mean).toBeCloseTo(((2 * Math.SQRT2 - 1) * 0.01 * 400) / 1000, 12);
    expect(resolveCarbonIntensity(26).gPerKWh).toBe(26);
  });

});

describe('the cost fits refuse NaN points', () => {
  it('leastSquares and isotonicFit throw NON_FINITE_VALUES (a NaN x gave a NaN intercept / a NaN knot)', () => {
    expect(trellisErrorOf(() => leastSquares([0, Number.NaN], [1, 2])).code).toBe('NON_FINITE_VALUES');
    expect(trellisErrorOf(() => leastSquares([0, 1], [1, Infinity])).code).toBe('NON_FINITE_VALUES');
    expect(trellisErrorOf(() => isotonicFit([0, Number.NaN], [1, 2])).code).toBe('NON_FINITE_VALUES');
    expect(trellisErrorOf(() => isotonicFit([0, 1], [Number.NaN, 2])).code).toBe('NON_FINITE_VALUES');
    expect(leastSquares([0, 1, 2], [1, 3, 5])).toEqual({ a: 1, b: 2 });
  });
  it('conformalQuantile throws NON_FINITE_VALUES for a NaN score (NaN broke the sort: [NaN, 1, …, 5] at α = 0.5 gave 3)', () => {
    expect(trellisErrorOf(() => conformalQuantile([Number.NaN, 1, 2, 3, 4, 5], 0.5)).code).toBe('NON_FINITE_VALUES');
    // ⌈(5 + 1)·0.5⌉ = 3rd smallest of [5, 1, 4, 2, 3]
    expect(conformalQuantile([5, 1, 4, 2, 3], 0.5)).toBe(3);
    expect(conformalQuantile([1, 2], 0.2)).toBe(Infinity);
  });
});

describe('retrainToTarget checks its evaluation schedule and cutoffs', () => {
  it('evalEvery that is not a number > 0 and malformed cutoffs throw BAD_OPTION before training', async () => {
    await useCpu();
    const d = randomData(40, 2);
    const base = { target: 0.9, maxEpochs: 1, seed: 1 };
    // NaN used to evaluate only at epoch ends, −1 after every step; accDiff NaN never stopped, evals −1 stopped at once
    for (const evalEvery of [Number.NaN, -1, 0, Infinity]) {
      expect((await trellisErrorOf(() => retrainToTarget(tinyModel(1), d, d, { ...base, evalEvery }))).code, String(evalEvery)).toBe('BAD_OPTION');
    }
    for (const cutoffs of [[{ accDiff: Number.NaN, evals: 1 }], [{ accDiff: 0.01, evals: -1 }], [{ accDiff: 0.01, evals: 1.5 }], [{ accDiff: -0.1, evals: 2 }], [null]]) {
      expect((await trellisErrorOf(() => retrainToTarget(tinyModel(1), d, d, { ...base, cutoffs: cutoffs as never }))).code, JSON.stringify(cutoffs)).toBe('BAD_OPTION');
    }
    await expect(retrainToTarget(tinyModel(1), d, d, { ...base, evalEvery: Number.NaN })).rejects.toThrow('evalEvery NaN is not a positive fraction of an epoch');
    // 40 rows, batch 32 → 2 steps per epoch; evalEvery 0.5 → every round(0.5·2) = 1 step: initial + 2 evaluations
    const r = await retrainToTarget(tinyModel(1), d, d, { ...base, target: 1, evalEvery: 0.5, cutoffs: [{ accDiff: 1, evals: 5 }] });
    expect(r.evals.map((e) => e.step)).toEqual([0, 1, 2]);
  });
});

describe('k-means, PreIndex, ARM and the tracker refuse options and inputs they used to misread', () => {
  it('kmeans tol NaN or negative throws BAD_OPTION (NaN used to be ignored)', () => {
    const x = new Float32Array([0, 1, 5, 6]);
    for (const tol of [Number.NaN, -1, Infinity]) expect(trellisErrorOf(() => kmeans(x, 4, 1, new Float32Array([0, 5]), { tol })).code, String(tol)).toBe('BAD_OPTION');
    expect(Array.from(kmeans(x, 4, 1, new Float32Array([0, 5]), { tol: 0 }).labels)).toEqual([0, 0, 1, 1]);
  });
  it('preIndexReference on unlabeled clean data throws UNLABELED (it was a TypeError)', async () => {
    await useCpu();
    const d = randomData(20, 2);
    const unlabeled = d.withoutLabels();
    expect((await trellisErrorOf(() => preIndexReference(tinyModel(1), unlabeled))).code).toBe('UNLABELED');
  });
  it('ARM per-unit value-sort on a single sample throws TOO_FEW_SAMPLES (it was 0 for any shift)', async () => {
    await useCpu();
    const d = randomData(20, 2);
    const one = Dataset.fromArrays({ x: d.x.slice(0, 12), shape: [12], labels: new Int32Array([3]), numClasses: 10 });
    expect((await trellisErrorOf(() => arm(tinyModel(1), one, one.withInputs(one.x.map((v) => v + 5))))).code).toBe('TOO_FEW_SAMPLES');
    expect(trellisErrorOf(() => armLayerDistance(new Float32Array([0, 1]), 1, new Float32Array([7, 9]), 1, 2, { bins: 4 })).code).toBe('TOO_FEW_SAMPLES');
    // bin-cdf on a shared per-unit range still reads one sample: unit 0 0 vs 7 → pmfs [1,0,0,0] vs [0,0,0,1], W = 3/4; unit 1 the same
    expect(armLayerDistance(new Float32Array([0, 1]), 1, new Float32Array([7, 9]), 1, 2, { bins: 4, wasserstein: 'bin-cdf' })).toBe(0.75);
  });
  it('EnergyTracker csvPath that is not a path string throws BAD_OPTION (a number reached appendFileSync as a file descriptor)', () => {
    for (const csvPath of [5, '', null]) expect(trellisErrorOf(() => new EnergyTracker({ csvPath: csvPath as never, timer: false })).code, String(csvPath)).toBe('BAD_OPTION');
  });
});

describe('energyTrackerPlugin leaves a tracker it did not start running', () => {
  it("trainer.dispose() no longer stops the user's own running tracker (onFitEnd already left it running)", async () => {
    await useCpu();
    let t = 0;
    const probes = {
      now: () => (t += 50), machineCpu: () => ({ busy: t / 2, total: t }), processCpuSeconds: () => 0.01 * t,
      logicalCores: () => 2, totalRamGiB: () => 8, processRamGiB: () => 1, rapl: () => null, gpuPowerW: () => null, cpuModel: () => 'fake', isArm: () => false,
    };
    const tracker = new EnergyTracker({ probes, timer: false, cpu: { method: 'constant', tdpWatts: 100 }, sampleMs: 10 });
    tracker.start();
    const model = tinyModel(4);
    const trainer = new Trainer({ model, seed: 5, batchSize: 16, plugins: [energyTrackerPlugin({ tracker })] });
    await trainer.fit(randomData(32), { epochs: 1 });
    expect(tracker.running).toBe(true);
    trainer.dispose();
    expect(tracker.running).toBe(true); // used to be stopped here, freezing the user's totals mid-run
    const r = tracker.stop();
    // constant mode: 0.5 × 100 W over the whole run (every reading advances the clock 50 ms)
    expect(r.cpuKWh).toBeCloseTo((50 * r.durationS) / 3.6e6, 15);
    model.dispose();
  });
  it('a tracker the plugin started is still stopped by dispose when the fit never reached onFitEnd', () => {
    const plugin = energyTrackerPlugin({ tracker: { timer: false, cpu: { method: 'constant' } } });
    plugin.onFitStart!({} as never);
    expect(plugin.tracker.running).toBe(true);
    plugin.dispose!();
    expect(plugin.tracker.running).toBe(false);
  });
});

describe('documented behaviour the TSDoc used to misstate', () => {
  it('stratifiedRows gives Σ round(share × max) rows, which can exceed max (TSDoc said "at most max")', () => {
    // 2 classes of 2 rows, max 3: round(0.5 × 3) = 2 rows from each class → all 4
    expect(Array.from(stratifiedRows(new Int32Array([0, 0, 1, 1]), 4, 3, 0))).toEqual([0, 1, 2, 3]);
    // 3 classes of 3 rows, max 5: round(5/3) = 2 each → 6 rows
    expect(stratifiedRows(new Int32Array([0, 0, 0, 1, 1, 1, 2, 2, 2]), 9, 5, 0).length).toBe(6);
    // without labels exactly max
    expect(stratifiedRows(null, 9, 5, 0).length).toBe(5);
  });
  it('resqueFromSums refuses sums that do not hold k × width values (missing classes were skipped as absent)', () => {
    expect(trellisErrorOf(() => resqueFromSums(new Float64Array([1, 0, 0, 1]), new Float64Array([1, 0, 0, 1]), 3, 2)).code).toBe('BAD_SHAPE');
    // spec §5 golden: c = (1, 0, 1), c' = (1, 1, 0) → θ = 1/3
    expect(resqueFromSums(new Float64Array([1, 0, 1]), new Float64Array([1, 1, 0]), 1, 3).value).toBeCloseTo(1 / 3, 12);
  });
});

describe('CostPredictor.fit refuses bad energy figures in its calibration runs', () => {
  it('a NaN, infinite or negative kWh / kgCO2e throws BAD_CALIBRATION (NaN made every predicted kg CO2e NaN; −1 kg gave a negative mean below its interval)', () => {
    const bad: CalibrationPoint[][] = [
      [{ index: 0, epochs: 1, kWh: 1, kgCO2e: Number.NaN }, { index: 1, epochs: 3, kWh: 3, kgCO2e: 1 }],
      [{ index: 0, epochs: 1, kWh: Infinity }, { index: 1, epochs: 3, kWh: 3 }],
      [{ index: 0, epochs: 1, kWh: -1 }, { index: 1, epochs: 3, kWh: 3 }],
      [{ index: 0, epochs: 1, kWh: 1, kgCO2e: -1 }, { index: 1, epochs: 3, kWh: 3, kgCO2e: -1 }],
    ];
    for (const pts of bad) expect(trellisErrorOf(() => CostPredictor.fit(pts)).code, JSON.stringify(pts)).toBe('BAD_CALIBRATION');
    expect(() => CostPredictor.fit(bad[2]!)).toThrow('calibration run 0 has kWh -1, not a finite number ≥ 0');
    // good figures: kWh/epoch median(1/1, 3/3) = 1, g/kWh median(400, 400) = 400; at 0.5 the mean is 2√2 − 1 epochs
    const p = CostPredictor.fit([{ index: 0, epochs: 1, kWh: 1, kgCO2e: 0.4 }, { index: 1, epochs: 3, kWh: 3, kgCO2e: 1.2 }]);
    const r = p.predict(0.5);
    expect(r.kWh!.mean).toBeCloseTo(2 * Math.SQRT2 - 1, 12);
    expect(r.kgCO2e!.mean).toBeCloseTo((2 * Math.SQRT2 - 1) * 0.4, 12);
    // absent figures (undefined, or null from JSON) stay absent
    expect(CostPredictor.fit([{ index: 0, epochs: 1, kWh: null as never }, { index: 1, epochs: 3 }]).predict(0.5).kWh).toBeUndefined();
  });
});

describe('symmetricEigen refuses a non-finite matrix', () => {
  it('NaN/Infinity entries throw NON_FINITE_VALUES (a NaN came out as a NaN eigenvalue next to a finite one)', () => {
    expect(trellisErrorOf(() => symmetricEigen(new Float64Array([Number.NaN, 0, 0, 1]), 2)).code).toBe('NON_FINITE_VALUES');
    expect(trellisErrorOf(() => symmetricEigen([1, Infinity, Infinity, 1], 2)).code).toBe('NON_FINITE_VALUES');
    // [[2, 1], [1, 2]] has eigenvalues 1 and 3
    expect(Array.from(symmetricEigen([2, 1, 1, 2], 2).values).sort()).toEqual([expect.closeTo(1, 12), expect.closeTo(3, 12)]);
  });
});

describe('KS p-value and accuracyOf refuse values they misread', () => {
  it('ksPValue throws BAD_OPTION for a statistic outside [0, 1] or fractional sizes (NaN gave NaN, 2 a tiny p, −1 a p of 1)', () => {
    for (const f of [() => ksPValue(Number.NaN, 3, 3), () => ksPValue(2, 3, 3), () => ksPValue(-1, 3, 3), () => ksPValue(0.5, 2.5, 3)]) {
      expect(trellisErrorOf(f).code, String(f)).toBe('BAD_OPTION');
    }
    expect(trellisErrorOf(() => ksPValue(0.5, Infinity, 3)).code).toBe('BAD_OPTION');
    // λ = (√(9/6) + 0.12 + 0.11/√(9/6))·0.5; p = 2 Σ (−1)^(j−1) e^(−2j²λ²)
    const en = Math.sqrt(1.5);
    const lambda = (en + 0.12 + 0.11 / en) * 0.5;
    let p = 0;
    for (let j = 1; j <= 100; j++) p += 2 * (j % 2 ? 1 : -1) * Math.exp(-2 * j * j * lambda * lambda);
    expect(ksPValue(0.5, 3, 3)).toBeCloseTo(Math.min(1, p), 12);
  });
  it('accuracyOf throws NON_FINITE_VALUES for a NaN score (a NaN row counted as a correct prediction of class 0)', () => {
    expect(trellisErrorOf(() => accuracyOf(new Float32Array([Number.NaN, 0.5]), new Int32Array([0]), 2)).code).toBe('NON_FINITE_VALUES');
    expect(accuracyOf(new Float32Array([0.9, 0.1, 0.2, 0.8, 0.6, 0.4]), new Int32Array([0, 1, 1]), 2)).toBeCloseTo(2 / 3, 12);
  });
});

describe('readRapl keeps a usable counter range', () => {
  it('an unparsable or zero max_energy_range_uj is read as 2³² µJ (NaN made a wrapped interval\'s energy NaN)', () => {
    const root = mkdtempSync(join(tmpdir(), 'rapl-'));
    try {
      const zones = ['garbage', '0', '262143328850'].map((max, i) => {
        const dir = join(root, `intel-rapl:${i}`);
        mkdirSync(dir);
        writeFileSync(join(dir, 'energy_uj'), '1000\n');
        writeFileSync(join(dir, 'max_energy_range_uj'), `${max}\n`);
        return dir;
      });
      const r = readRapl(zones)!;
      expect(r.map((z) => z.maxEnergyRangeUj)).toEqual([2 ** 32, 2 ** 32, 262143328850]);
      expect(r.map((z) => z.energyUj)).toEqual([1000, 1000, 1000]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
