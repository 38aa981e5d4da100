/**
 * The small-scale reproduction (spec §10): for each dataset × model, pretrain on clean data, then
 * for every shift family × intensity (+ the clean control) compute PreIndex, ARM, RESQUE and the
 * baselines from one forward pass, retrain to the target accuracy while the tracker measures the
 * energy, and report how well each index predicts the measured cost, plus the predictor's error.
 *
 * This module only wires the pieces together: the plan (`experimentPlan.ts`), one cell and the pilot
 * (`experimentCell.ts`), the grid runner (`experimentGrid.ts`), the analysis (`experimentAnalysis.ts`),
 * the claims (`experimentClaims.ts`) and the report (`experimentReport.ts`).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { experimentSeeds, RunRecord, type ExperimentOptions, type ExperimentResult, type TechniqueExperiment } from '@trellis-ml/core';
import { analyseGrid, pooledSpearman } from './experimentAnalysis.js';
import { runPilot } from './experimentCell.js';
import { gridClaims } from './experimentClaims.js';
import { readEnergyLog, runGrid } from './experimentGrid.js';
import { gridSettings, planFor, retrainCostParameters } from './experimentPlan.js';
import { gridReport, gridSummary } from './experimentReport.js';

// the pieces the tests and the bench probes (bench/gauss-probe.mjs) import from here
export { coverageGap } from './experimentClaims.js';
export { loadSplit, prepareCell, runPilot, shiftedData } from './experimentCell.js';
export type { PilotRun, PreparedCell } from './experimentCell.js';
export { gridSettings, planFor } from './experimentPlan.js';
export type { DatasetName, Family, GridSetting, PilotPlan, Plan } from './experimentPlan.js';

/** The `trellis retrain-cost` reproduction. */
export const experiment: TechniqueExperiment = {
  name: 'retrain-cost',
  parameters: retrainCostParameters,
  checkParams: (options) => void planFor({ ...options, out: '' }),
  resumable: true,
  description: 'Predict retraining cost under a shift (PreIndex, ARM, RESQUE vs baselines), measure it with an energy/carbon tracker, calibrate index → epochs/kWh/CO2e',
  async run(options: ExperimentOptions): Promise<ExperimentResult> {
    const log = options.log ?? ((s: string) => console.log(s));
    const plan = planFor(options);
    const seeds = experimentSeeds(options);
    const record = await RunRecord.create({
      out: options.out, name: 'retrain-cost', seed: options.seed, config: { mode: options.mode, seeds, plan }, packageOf: import.meta.url,
      ...(options.resume ? { resume: true } : {}),
    });
    const energyLog = join(record.dir, 'energy-samples.jsonl');
    const journal = await record.openJournal({ appendOnly: ['energy-samples.jsonl'] });
    if (journal.finished) log(`retrain-cost: resuming ${record.dir}: the pilot runs again, then ${journal.finished} finished dataset × model × seed cells are replayed from its journal`);
    const t0 = Date.now();
    const pilot = plan.pilot ? { ...plan.pilot, ...(await runPilot(plan, plan.pilot, log)) } : null;
    const settings = gridSettings(plan, new Set(pilot?.dropped));
    if (pilot?.dropped.length) log(`retrain-cost: the pilot censored ${pilot.dropped.join(', ')}; dropped from the grid`);
    const grid = await runGrid(plan, seeds, settings, { record, energyLog, log, journal });
    const { rows } = grid;
    const analysis = analyseGrid(rows, plan, options.seed, rows.length ? await readEnergyLog(energyLog) : [], log);
    const claims = gridClaims(analysis, plan, seeds, grid.badInputs);
    const summary = gridSummary(options.mode, seeds, plan, (Date.now() - t0) / 1000, tf.getBackend(), grid, pilot, analysis);
    const summaryPath = await record.writeSummary({ ...summary, claims });
    await writeFile(join(record.dir, 'runs.json'), JSON.stringify(rows, null, 2));
    const reportPath = await record.writeReport(gridReport(options.mode, plan, tf.getBackend(), grid, pilot, analysis, claims));
    return { runDir: record.dir, summaryPath, reportPath, claims, summary: { rows: rows.length, wallS: summary.wallS, pooledPreIndex: pooledSpearman(analysis.pooled, 'preIndex'), predictor: analysis.predictorEval } };
  },
};
