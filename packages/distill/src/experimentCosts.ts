import { meanStd } from '@trellis-ml/core';
import { pipelineCost, pipelineSeries, totalCost, type CumulativeStage, type GeneratorCost, type PipelineCost } from './cost.js';
import type { SoftLabelSetup } from './experimentSources.js';
import type { StudentResults } from './experimentStudents.js';
import type { MethodName } from './methods.js';
import type { DistillRun } from './runSetup.js';
import type { EpochRecord } from './training.js';

/**
 * The reproduction's cost comparison: the ReffAKD and KD pipelines' analytic MACs and measured
 * wall-clock, their ratios (the cost claims), and the cumulative-MACs series of figure 4.
 *
 * @module
 */

/** The costs of the soft-label sources and of the whole ReffAKD and KD pipelines. */
export interface PipelineCosts {
  /** The teacher's cost; with augmentation its online labelling counted for one final student run. */
  teacherCost: GeneratorCost;
  /** The ReffAKD generator's cost (autoencoder training, encoding and matrix). */
  aeCost: GeneratorCost;
  reffakdPipe: PipelineCost;
  kdPipe: PipelineCost;
  /** MACs of running the teacher online at every step of one student run (analytic). */
  onlineTeacherMacs: number;
  /** Generator ÷ teacher, MACs and measured ms. */
  genMacsRatio: number;
  genMsRatio: number;
  /** Whole ReffAKD pipeline ÷ whole KD pipeline, MACs and measured ms. */
  pipeMacsRatio: number;
  pipeMsRatio: number;
}

/** The pipelines' costs from the sources' cost records and the final ReffAKD-AE / KD student runs. */
export function pipelineCosts(run: DistillRun, src: SoftLabelSetup, students: StudentResults): PipelineCosts {
  const { cfg, trainAll } = run;
  const { teacher, reffakd, teacherMacs } = src;
  const { runs, studentMacs, by } = students;
  // with augmentation the shared teacher ran online for every KD run (grid and seeds): its labelling
  // cost is counted pro rata for one final student run (the same share a cached teacher pays once)
  const rawTeacherCost = teacher.cost();
  const onlineExamples = rawTeacherCost.labelMacs / rawTeacherCost.forwardMacsPerExample;
  const perRunExamples = trainAll.size * cfg.studentEpochs;
  const teacherCost: GeneratorCost = cfg.augment && onlineExamples > 0
    ? { ...rawTeacherCost, labelMacs: rawTeacherCost.forwardMacsPerExample * perRunExamples, labelMs: rawTeacherCost.labelMs * perRunExamples / onlineExamples }
    : rawTeacherCost;
  const aeCost: GeneratorCost = reffakd.cost();
  const studentRun = (m: MethodName) => ({ forwardMacsPerExample: studentMacs, examplesSeen: runs.find((r) => r.method === m)!.examplesSeen, ms: meanStd(by(m, (r) => r.ms)).mean });
  const reffakdPipe = pipelineCost(aeCost, studentRun('ReffAKD-AE'));
  const kdPipe = pipelineCost(teacherCost, studentRun('KD (teacher)'));
  const onlineTeacherMacs = teacherMacs * trainAll.size * cfg.studentEpochs;
  const genMacsRatio = totalCost(aeCost).macs / totalCost(teacherCost).macs;
  const genMsRatio = totalCost(aeCost).ms / totalCost(teacherCost).ms;
  const pipeMacsRatio = reffakdPipe.total.macs / kdPipe.total.macs;
  const pipeMsRatio = reffakdPipe.total.ms / kdPipe.total.ms;
  return { teacherCost, aeCost, reffakdPipe, kdPipe, onlineTeacherMacs, genMacsRatio, genMsRatio, pipeMacsRatio, pipeMsRatio };
}

/** A stage of figure 4 with the pipeline it belongs to. */
export type MacsSeriesStage = CumulativeStage & { pipeline: string };

/**
 * Figure 4's data: each pipeline's stages in order (source training, soft-label production, the
 * student's epochs) with running MACs and wall-clock and the student's mean test accuracy per epoch;
 * CE (no soft labels) for reference.
 */
export function cumulativeMacsSeries(run: DistillRun, costs: PipelineCosts, students: StudentResults): MacsSeriesStage[] {
  const { cfg, data } = run;
  const { aeCost, teacherCost } = costs;
  const { studentMacs, by } = students;
  // ---- figure 4: student test accuracy vs the pipeline's cumulative MACs (stages in order)
  const epochMean = (m: MethodName, f: (e: EpochRecord) => number): number[] =>
    Array.from({ length: cfg.studentEpochs }, (_, e) => meanStd(by(m, (r) => f(r.epochs[e]!))).mean);
  const studentSeries = (m: MethodName) => ({ forwardMacsPerExample: studentMacs, examplesPerEpoch: data.train.size, epochMs: epochMean(m, (e) => e.trainMs), epochAccuracy: epochMean(m, (e) => e.test) });
  const noSource = { fitMacs: 0, fitMs: 0, labelMacs: 0, labelMs: 0 };
  return [
    ...pipelineSeries(aeCost, studentSeries('ReffAKD-AE'), { fit: 'autoencoder training', label: 'soft labels (encoding + matrix)' }).map((r) => ({ pipeline: 'ReffAKD', ...r })),
    ...pipelineSeries(teacherCost, studentSeries('KD (teacher)'), { fit: 'teacher training', label: cfg.augment ? 'teacher logits (online, one student run)' : 'teacher logits (cached)' }).map((r) => ({ pipeline: 'KD', ...r })),
    ...pipelineSeries(noSource, studentSeries('CE'), { fit: '', label: '' }).map((r) => ({ pipeline: 'CE (no soft labels)', ...r })),
  ];
}
