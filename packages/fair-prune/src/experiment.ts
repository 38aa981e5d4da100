import {
  RunRecord, experimentSeeds,
  type ExperimentOptions, type ExperimentResult, type TechniqueExperiment,
} from '@trellis-ml/core';
import { reproductionClaims } from './reproductionClaims.js';
import { reproductionReport, reproductionSummary } from './reproductionReport.js';
import { fairPruneParameters, settingsFor } from './settings.js';
import { loadStudyData } from './studyDesigns.js';
import { studyChecks, studyClaims } from './studyReport.js';
import { runStudy } from './studyRunner.js';

/*
 * The `trellis fair-prune` experiment: settings (settings.ts), the data and group designs (studyDesigns.ts),
 * the runs (studyRunner.ts), the claims (reproductionClaims.ts, studyReport.ts) and the summary and report
 * (reproductionReport.ts, studyReport.ts). The names below are re-exported so that this module's exports stay
 * what they were.
 */
export { badInputChecks } from './badInputChecks.js';
export { minorityGradientRatio } from './reproductionClaims.js';
export {
  DEFAULT_MITIGATION, DUAL_LR_GRID, FULL_DUAL_LR, FULL_TRAIN_SIZE, RECOVERED_FINE_TUNE, SPEC_FINE_TUNE, settingsFor,
  type FairPruneSettings, type GroupDesign,
} from './settings.js';

/** `trellis fair-prune`: the disparate impact of pruning and its mitigation on three group designs. */
export const experiment: TechniqueExperiment = {
  name: 'fair-prune',
  parameters: fairPruneParameters,
  checkParams: (options) => void settingsFor(options.mode, options.params),
  description: 'Pruning has a disparate impact on groups (Tran et al. 2022): measure it across sparsities and mitigate it with group-constrained fine-tuning',
  resumable: true,
  async run(options: ExperimentOptions): Promise<ExperimentResult> {
    const log = options.log ?? ((line: string) => console.log(line));
    const seeds = experimentSeeds(options);
    const st = settingsFor(options.mode, options.params);
    const record = await RunRecord.create({
      out: options.out, name: 'fair-prune', seed: options.seed, config: { mode: options.mode, seeds, settings: st }, packageOf: import.meta.url,
      ...(options.resume ? { resume: true } : {}),
    });
    const journal = await record.openJournal();
    if (journal.finished) log(`[fair-prune] resuming ${record.dir}: ${journal.finished} finished seed × design blocks are replayed from its journal`);
    const t0 = Date.now();
    const results = await runStudy(st, seeds, loadStudyData(st.dataset), { record, journal, log, t0 });
    const { rows, runs, grid, after, badInputs } = results;
    const checks = studyChecks(rows, runs, grid, after, st, seeds);
    const claims = [...reproductionClaims(rows, runs, seeds, badInputs), ...studyClaims(checks, seeds)];
    const summary = reproductionSummary(results, checks, st, (Date.now() - t0) / 1000);
    const summaryPath = await record.writeSummary({ ...summary, claims });
    const reportPath = await record.writeReport(reproductionReport(results, checks, claims, st, options.mode));
    return { runDir: record.dir, summaryPath, reportPath, claims, summary };
  },
};
