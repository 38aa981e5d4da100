import { type TrainerPlugin } from '@trellis-ml/core';
import { testDiagnostics } from './experimentStudents.js';
import type { SoftLabelSetup } from './experimentSources.js';
import type { SoftLabelGenerator } from './generators.js';
import { methodPlugins, softKlPlugin, type Tuned } from './methods.js';
import { labelSmoothingPlugin } from './plugin.js';
import { configuredTuning, type DistillRun } from './runSetup.js';
import { pct, trainModel } from './training.js';

/**
 * The methods' settings: the validation grid (spec §10.3, first seed, `gridEpochs`: T × α of ReffAKD
 * and KD, ε of LS, α of Tf-KD_reg) or the configured values, and without a grid the temperature sweep
 * of figure 5 (a).
 *
 * @module
 */

/** One α × T cell of the ReffAKD / KD validation grid (figure 3), with the ReffAKD student's test diagnostic (figure 5a). */
export interface GridCell {
  method: 'ReffAKD-AE' | 'KD (teacher)';
  T: number;
  alpha: number;
  /** Best validation accuracy over the epochs, %. */
  valAcc: number;
  /** Mean true-class probability of the final model on the test data. */
  testTrueClassProb: number;
}

/** One point of figure 5 (a): a ReffAKD-AE student trained at (T, α) and its mean true-class probability on the test data. */
export interface TemperaturePoint {
  T: number;
  alpha: number;
  /** Where the student comes from: a cell of the validation grid or the temperature sweep. */
  from: 'grid' | 'sweep';
  epochs: number;
  testTrueClassProb: number;
}

/** What the tuning stage selected and measured. */
export interface Tuning {
  /** The selected (grid) or configured settings. */
  tuned: Tuned;
  /** The grid's table rows: method, setting, best validation accuracy (%). */
  gridRows: Array<[string, string, number]>;
  /** The ReffAKD / KD cells of the grid (figure 3). */
  gridCells: GridCell[];
  /** The points of figure 5 (a), from the grid or the temperature sweep. */
  temperaturePoints: TemperaturePoint[];
}

/**
 * Tunes on validation with the first seed when `grid` is on (each setting's best validation accuracy
 * over `gridEpochs`), else keeps the configured settings and, with `temperatureSweepAlpha`, trains one
 * extra ReffAKD-AE student per (T, α) at the final runs' budget. Logs the settings used.
 */
export async function tuneSettings(run: DistillRun, augment: (seed: number) => TrainerPlugin[], src: SoftLabelSetup): Promise<Tuning> {
  const { cfg, seeds, C, data, models, progress, log } = run;
  const { reffakd, teacher, sources } = src;
  const test = data.test;
  // ---- tuning on validation (first seed, gridEpochs), or the fixed defaults
  const tuned: Tuned = configuredTuning(cfg);
  const gridRows: Array<[string, string, number]> = [];
  const gridCells: GridCell[] = [];
  const temperaturePoints: TemperaturePoint[] = [];
  const softKl = (source: SoftLabelGenerator, T: number, alpha: number): TrainerPlugin[] => [softKlPlugin(source, T, alpha, cfg.klReduction)];
  if (cfg.grid) {
    const gridMilestones = [Math.round(cfg.gridEpochs * 0.5), Math.round(cfg.gridEpochs * 0.75)];
    // each grid cell is a unit of the run's journal (an interrupted run resumes after the last finished cell)
    const gridRun = async (label: string, setting: string, plugins: TrainerPlugin[]): Promise<{ bestVal: number; testTrueClassProb: number }> => {
      const cell = await run.journal.unit(`grid ${label} ${setting}`, async () => {
        const model = models.student(seeds[0]!);
        const r = await trainModel(model, [...augment(seeds[0]!), ...plugins], seeds[0]!, cfg.gridEpochs, gridMilestones, cfg, data, `grid ${label} ${setting}`, progress);
        const testTrueClassProb = testDiagnostics(model, test).testTrueClassProb;
        model.dispose();
        log(`distill: grid ${label} ${setting}: best val ${pct(r.bestVal)}%`);
        return { bestVal: r.bestVal, testTrueClassProb };
      });
      gridRows.push([label, setting, pct(cell.bestVal)]);
      return cell;
    };
    for (const [key, source] of [['reffakd', reffakd], ['kd', teacher]] as const) {
      let best = -1;
      const method = key === 'kd' ? 'KD (teacher)' as const : 'ReffAKD-AE' as const;
      for (const T of cfg.gridT) {
        for (const alpha of cfg.gridAlpha) {
          const { bestVal: acc, testTrueClassProb } = await gridRun(method, `T=${T} α=${alpha}`, softKl(source, T, alpha));
          gridCells.push({ method, T, alpha, valAcc: pct(acc), testTrueClassProb });
          if (key === 'reffakd') temperaturePoints.push({ T, alpha, from: 'grid', epochs: cfg.gridEpochs, testTrueClassProb });
          if (acc > best) {
            best = acc;
            tuned[key] = { T, alpha };
          }
        }
      }
    }
    let best = -1;
    for (const e of cfg.gridEps) {
      const acc = (await gridRun('LS', `ε=${e}`, [labelSmoothingPlugin({ epsilon: e })])).bestVal;
      if (acc > best) [best, tuned.ls] = [acc, e];
    }
    best = -1;
    for (const a of cfg.gridTfkdAlpha) {
      const acc = (await gridRun('Tf-KD_reg', `α=${a}`, methodPlugins('Tf-KD_reg', sources, { ...tuned, tfkd: a }, C, seeds[0]!, cfg.klReduction))).bestVal;
      if (acc > best) [best, tuned.tfkd] = [acc, a];
    }
  } else if (cfg.temperatureSweepAlpha.length) {
    // figure 5 (a) without a grid: one extra ReffAKD-AE student per (T, α), first seed, the final runs' budget
    for (const alpha of cfg.temperatureSweepAlpha) {
      for (const T of cfg.gridT) {
        const testTrueClassProb = await run.journal.unit(`sweep ReffAKD-AE T=${T} α=${alpha}`, async () => {
          const model = models.student(seeds[0]!);
          await trainModel(model, [...augment(seeds[0]!), ...softKl(reffakd, T, alpha)], seeds[0]!, cfg.studentEpochs, cfg.studentMilestones, cfg, data, `sweep ReffAKD-AE T=${T} α=${alpha}`, progress);
          const p = testDiagnostics(model, test).testTrueClassProb;
          model.dispose();
          log(`distill: temperature sweep ReffAKD-AE T=${T} α=${alpha}: mean test true-class probability ${p.toFixed(4)}`);
          return p;
        });
        temperaturePoints.push({ T, alpha, from: 'sweep', epochs: cfg.studentEpochs, testTrueClassProb });
      }
    }
  }
  log(`distill: settings ReffAKD T=${tuned.reffakd.T} α=${tuned.reffakd.alpha}; KD T=${tuned.kd.T} α=${tuned.kd.alpha}; LS ε=${tuned.ls}; Tf-KD α=${tuned.tfkd}`);
  return { tuned, gridRows, gridCells, temperaturePoints };
}
