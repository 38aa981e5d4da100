import * as tf from '@tensorflow/tfjs-core';
import { claim, type Claim } from '@trellis-ml/core';
import { totalCost } from './cost.js';
import type { TrainingFreeChecks } from './experimentChecks.js';
import type { PipelineCosts } from './experimentCosts.js';
import { datasetClaim } from './experimentDatasets.js';
import type { StudentResults } from './experimentStudents.js';
import type { Tuned } from './methods.js';
import type { DistillRun } from './runSetup.js';

/**
 * The reproduction's claims (spec §10.4): ReffAKD against CE, teacher KD, the shuffled-matrix control
 * and label smoothing (thresholds per dataset), the cost fractions, and the checks that need no
 * student run.
 *
 * @module
 */

/** The claims of a full reproduction, in the report's order; the training-free checks' claims come last. */
export function reproductionClaims(run: DistillRun, students: StudentResults, costs: PipelineCosts, tuned: Tuned, checks: TrainingFreeChecks): Claim[] {
  const { ds, seeds } = run;
  const { diff } = students;
  const { aeCost, teacherCost, genMacsRatio, genMsRatio, pipeMacsRatio, pipeMsRatio } = costs;
  const dCe = diff('ReffAKD-AE', 'CE');
  const dKd = diff('KD (teacher)', 'ReffAKD-AE');
  const dShuf = diff('ReffAKD-AE', 'ReffAKD-shuffled');
  const dLs = diff('ReffAKD-AE', 'LS');
  const fmt = (m: { mean: number; std: number }) => `${m.mean.toFixed(2)} ± ${m.std.toFixed(2)} pp`;
  return [
    datasetClaim(ds.reffakdGeCe, dCe.mean, seeds, fmt(dCe)),
    datasetClaim(ds.reffakdNearKd, dKd.mean, seeds, `${fmt(dKd)}; KD − CE ${fmt(diff('KD (teacher)', 'CE'))}`),
    claim('generator-macs-fraction', 'soft-label generator (AE training + encoding + matrix) MACs ÷ teacher (training + logits) MACs', genMacsRatio, '<=', 0.1, seeds,
      `${totalCost(aeCost).macs.toExponential(2)} vs ${totalCost(teacherCost).macs.toExponential(2)}`),
    claim('generator-time-fraction', 'soft-label generator measured wall-clock ÷ teacher measured wall-clock', genMsRatio, '<=', 0.1, seeds,
      `${(totalCost(aeCost).ms / 1000).toFixed(1)} s vs ${(totalCost(teacherCost).ms / 1000).toFixed(1)} s on ${tf.getBackend()}`),
    claim('pipeline-macs-fraction', 'whole ReffAKD pipeline ÷ whole KD pipeline (MACs, cached teacher logits)', pipeMacsRatio, '<=', 0.2, seeds, `measured wall-clock ratio ${pipeMsRatio.toFixed(3)}`),
    claim('cost-ratios-track-macs', 'measured wall-clock ratios within a factor of 2 of the MAC ratios (spec §10.4 cost check): the larger of wall-clock ÷ MAC ratio and its inverse, over the generator and the pipeline ratios',
      macTracking([[genMsRatio, genMacsRatio], [pipeMsRatio, pipeMacsRatio]]), '<=', 2, seeds,
      `generator ${genMsRatio.toFixed(3)} vs ${genMacsRatio.toFixed(3)}, pipeline ${pipeMsRatio.toFixed(3)} vs ${pipeMacsRatio.toFixed(3)}`),
    claim('shuffled-control', 'class structure matters beyond smoothing: ReffAKD-AE − shuffled-matrix control, pp', dShuf.mean, '>=', 0, seeds, fmt(dShuf)),
    datasetClaim(ds.ls, ds.ls.measure(dLs.mean), seeds, `${fmt(dLs)}; LS ε=${tuned.ls}`),
    ...checks.claims,
  ];
}

/**
 * How far measured wall-clock ratios stray from their MAC ratios: the largest of `time ÷ macs` and
 * `macs ÷ time` over the pairs (1 when every wall-clock ratio equals its MAC ratio). Example:
 * `macTracking([[0.143, 0.091], [0.344, 0.181]])` → 1.90.
 */
export function macTracking(pairs: ReadonlyArray<readonly [time: number, macs: number]>): number {
  let worst = 1;
  for (const [time, macs] of pairs) worst = Math.max(worst, time / macs, macs / time);
  return worst;
}
