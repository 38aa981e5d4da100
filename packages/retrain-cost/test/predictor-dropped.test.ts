import { describe, expect, it } from 'vitest';
import { CostPredictor, type CalibrationPoint } from '../src/index.js';
import { evaluatePredictor } from '../src/experimentAnalysis.js';
import type { GridRow } from '../src/experimentGrid.js';
import { trellisErrorOf } from '@trellis-ml/testkit';

const good: CalibrationPoint[] = [{ index: 0, epochs: 1 }, { index: 0.5, epochs: 3 }, { index: 1, epochs: 7 }];

describe('CostPredictor.fit shows the runs it leaves out for a NaN index or cost (they were dropped silently)', () => {
  it('counts them by reason and lists their positions, and still fits on the rest', () => {
    const pts: CalibrationPoint[] = [
      ...good,
      { index: NaN, epochs: 2 },
      { index: 0.3, epochs: NaN },
      { index: Infinity, epochs: -1 },
      { index: 0.7, epochs: -2 },
      { index: NaN, epochs: 5, censored: true },
      { index: 0.9, epochs: 10, censored: true }, // censored with usable figures: kept for evaluation, not a drop
    ];
    const p = CostPredictor.fit(pts);
    expect(p.dropped).toEqual({ total: 5, index: 3, cost: 3, runs: [3, 4, 5, 6, 7] });
    // the fit is the one on the three good runs
    expect(p.coefficients).toEqual(CostPredictor.fit(good).coefficients);
    expect(CostPredictor.fit(good).dropped).toEqual({ total: 0, index: 0, cost: 0, runs: [] });
  });

  it('survives toJSON / fromJSON (NaN becomes null in JSON and is still counted)', () => {
    const p = CostPredictor.fit([...good, { index: NaN, epochs: 2 }]);
    const q = CostPredictor.fromJSON(JSON.parse(JSON.stringify(p.toJSON())));
    expect(q.dropped).toEqual({ total: 1, index: 1, cost: 0, runs: [3] });
  });

  it('throws TOO_FEW_RUNS saying how many were left out and why when fewer than 2 usable runs remain', () => {
    const pts: CalibrationPoint[] = [{ index: 0, epochs: 1 }, { index: NaN, epochs: 2 }, { index: 1, epochs: Infinity }, { index: 2, epochs: 4, censored: true }];
    expect(trellisErrorOf(() => CostPredictor.fit(pts)).code).toBe('TOO_FEW_RUNS');
    expect(() => CostPredictor.fit(pts)).toThrow(/got 1 \(2 more left out: 1 with a non-finite index, 1 with epochs that are not a finite number ≥ 0; 1 censored\)/);
    // without drops the message is as before
    expect(() => CostPredictor.fit([{ index: 0, epochs: 1 }])).toThrow(/needs at least 2 uncensored retraining runs, got 1 —/);
  });

  it('refuses a run that is not an object with BAD_CALIBRATION (a TypeError before)', () => {
    expect(trellisErrorOf(() => CostPredictor.fit([...good, null as never])).code).toBe('BAD_CALIBRATION');
    expect(() => CostPredictor.fit([...good, 3 as never])).toThrow(/calibration run 3 is 3, not a run/);
  });
});

describe('the study summary reports the runs each cell\'s predictor left out', () => {
  const row = (severity: number, preIndex: number, epochs: number): GridRow => ({
    dataset: 'mnist', model: 'mlp', seed: 1, family: severity === 0 ? 'control' : 'gauss', severity, level: severity,
    indices: { preIndex } as GridRow['indices'], steps: epochs * 10, epochs, epochsFractional: epochs, censored: false, kWh: epochs * 1e-4, kgCO2e: epochs * 5e-5,
  }) as GridRow;

  it('predictorEval[].dropped names them; none gives zeros', () => {
    const rows = [row(0, 0, 1), row(1, 0.2, 2), row(2, 0.4, 3), row(3, NaN, 5), row(4, 0.8, 8)];
    const lines: string[] = [];
    const { predictorEval } = evaluatePredictor(rows, ['gauss'], (s) => lines.push(s));
    expect(predictorEval).toHaveLength(1);
    expect(predictorEval[0]!.dropped).toEqual({ total: 1, index: 1, cost: 0, runs: ['mnist/mlp/s1/gauss-3'] });
    expect(lines.join('\n')).toMatch(/predictor for mnist\/mlp\/s1: left 1 run out of the fit \(1 with a non-finite index\): mnist\/mlp\/s1\/gauss-3/);
    const clean = evaluatePredictor(rows.filter((r) => Number.isFinite(r.indices.preIndex)), ['gauss'], () => {});
    expect(clean.predictorEval[0]!.dropped).toEqual({ total: 0, index: 0, cost: 0, runs: [] });
  });

  it('predicts each run from the others only when they leave 2 usable runs, and never at a NaN index', () => {
    // two usable runs and a NaN one: leaving out a usable run leaves one usable, which made the whole cell's
    // prediction loop fail with TOO_FEW_RUNS (logged as if the predictor could not be fitted)
    const lines: string[] = [];
    const few = evaluatePredictor([row(0, 0, 1), row(1, 0.2, 2), row(3, NaN, 5)], ['gauss'], (s) => lines.push(s));
    expect(few.predictorEval).toHaveLength(1);
    expect(few.predictions).toEqual([]);
    expect(lines.join('\n')).not.toMatch(/needs at least 2/);
    // with enough usable runs every run with a finite index is predicted, the NaN one is not
    const rows = [row(0, 0, 1), row(1, 0.2, 2), row(2, 0.4, 3), row(3, NaN, 5), row(4, 0.8, 8)];
    const { predictions } = evaluatePredictor(rows, ['gauss'], () => {});
    expect(predictions.map((p) => p.run)).toEqual(['mnist/mlp/s1/control-0', 'mnist/mlp/s1/gauss-1', 'mnist/mlp/s1/gauss-2', 'mnist/mlp/s1/gauss-4']);
    expect(predictions.every((p) => Number.isFinite(p.predEpochs))).toBe(true);
  });
});

describe('CostPredictor.fromJSON refuses a damaged saved predictor (it predicted NaN)', () => {
  it('checks the fitted numbers it restores', () => {
    const saved = JSON.parse(JSON.stringify(CostPredictor.fit([...good, { index: 2, epochs: 20, censored: true }]).toJSON())) as Record<string, unknown>;
    const bad: Array<Record<string, unknown>> = [
      { ...saved, a: undefined }, { ...saved, b: 'x' }, { ...saved, a: null }, { ...saved, q: 'wide' }, { ...saved, q: -1 },
      { ...saved, model: 'linear' }, { ...saved, alpha: 2 }, { ...saved, xs: [0, 1] }, { ...saved, ys: [0, null, 1] },
      { ...saved, points: undefined }, { ...saved, kWhPerEpoch: -1 }, { ...saved, gPerKWh: 'x' },
    ];
    for (const j of bad) expect(trellisErrorOf(() => CostPredictor.fromJSON(j)).code, JSON.stringify(j)).toBe('BAD_PREDICTOR_JSON');
    expect(() => CostPredictor.fromJSON({ ...saved, a: undefined })).toThrow(/saved predictor's a is undefined/);
    // a good one, and one with an infinite interval, restore
    expect(CostPredictor.fromJSON(saved).predict(0.5)).toEqual(CostPredictor.fit(good).predict(0.5));
    const wide = CostPredictor.fit([{ index: 0, epochs: 1 }, { index: 1, epochs: 2 }]);
    expect(wide.logHalfWidth).toBe(Infinity);
    expect(CostPredictor.fromJSON(JSON.parse(JSON.stringify(wide.toJSON()))).logHalfWidth).toBe(Infinity);
  });
});

describe('CostPredictor.fit treats a null kgCO2e as not measured everywhere', () => {
  it('does not count it as 0 g/kWh in the carbon intensity (the median fell to 0 and every kg CO2e with it)', () => {
    const p = CostPredictor.fit([
      { index: 0, epochs: 1, kWh: 1, kgCO2e: null as never },
      { index: 0.5, epochs: 3, kWh: 3, kgCO2e: null as never },
      { index: 1, epochs: 7, kWh: 7, kgCO2e: 3.5 },
    ]);
    const r = p.predict(0.5);
    expect(r.kgCO2e!.mean).toBeCloseTo((r.kWh!.mean * 500) / 1000, 12);
  });
});
