import { evaluate, meanStd, type Dataset, type ModelAdapter, type TrainerPlugin } from '@trellis-ml/core';
import { adapterMacs, adapterParams } from './cost.js';
import { confusionFromLogits, meanTrueClassProb } from './diagnostics.js';
import { EXTRAS, METHODS, methodPlugins, type MethodName, type Sources, type Tuned } from './methods.js';
import type { DistillRun } from './runSetup.js';
import type { Matrix } from './similarity.js';
import { pct, trainModel, type TrainResult } from './training.js';

/**
 * The reproduction's final student runs (every method, every seed, same split) and their aggregation
 * into the accuracy table's rows and paired differences.
 *
 * @module
 */

/** One student run's measurements. */
export interface StudentRun extends TrainResult {
  method: MethodName;
  seed: number;
  /** Mean `softmax(z)[y]` of the final model on the test data. */
  testTrueClassProb: number;
  /** Confusion counts of the final model on the test data (`[true][predicted]`). */
  confusion: Matrix;
}

/** The test-data diagnostics of a trained student: mean true-class probability and confusion counts. */
export function testDiagnostics(model: ModelAdapter, test: Dataset): { testTrueClassProb: number; confusion: Matrix } {
  const { logits } = evaluate(model, test);
  return { testTrueClassProb: meanTrueClassProb(logits, test.labels!, test.numClasses), confusion: confusionFromLogits(logits, test.labels!, test.numClasses) };
}

/** A mean and (sample) standard deviation over seeds. */
export type MeanStd = { mean: number; std: number };

/** A row of the accuracy table: test accuracy (%) at the final and the best-validation epoch, Δ vs CE (pp) paired by seed. */
export interface AccuracyRow {
  method: MethodName;
  fin: MeanStd;
  sel: MeanStd;
  d: MeanStd;
  /** Mean over seeds of the students' mean test true-class probability. */
  trueClassProb: number;
}

/** The final student runs and their aggregates. */
export interface StudentResults {
  /** The methods trained (extras only with `extras`), in the table's order. */
  methods: MethodName[];
  runs: StudentRun[];
  /** Forward MACs per example of the student. */
  studentMacs: number;
  studentParams: { all: number; trainable: number };
  /** `f` of method `m`'s run, for every seed in order. */
  by: (m: MethodName, f: (r: StudentRun) => number) => number[];
  /** The paired final test-accuracy difference `a − b` (pp), mean ± std over seeds. */
  diff: (a: MethodName, b: MethodName) => MeanStd;
  accRows: AccuracyRow[];
}

/** Trains every method for every seed with the selected settings (same split, same recipe) and aggregates the runs. */
export async function runStudents(run: DistillRun, augment: (seed: number) => TrainerPlugin[], sources: Sources, tuned: Tuned): Promise<StudentResults> {
  const { cfg, seeds, C, data, models, record, progress, log } = run;
  const test = data.test;
  // ---- final runs: every method, every seed, same split
  const runs: StudentRun[] = [];
  const sizes = models.student(seeds[0]!);
  const studentMacs = adapterMacs(sizes);
  const studentParams = { all: adapterParams(sizes), trainable: adapterParams(sizes, 'trainable') };
  sizes.dispose();
  const methods = METHODS.filter((m) => cfg.extras || !EXTRAS.has(m));
  for (const seed of seeds) {
    for (const method of methods) {
      // each student run is a unit of the run's journal (an interrupted run resumes after the last finished one)
      await run.journal.collect(`student ${method} seed ${seed}`, { runs }, async () => {
        const model = models.student(seed);
        const r = await trainModel(model, [...augment(seed), ...methodPlugins(method, sources, tuned, C, seed, cfg.klReduction)], seed, cfg.studentEpochs, cfg.studentMilestones, cfg, data, `${method} seed ${seed}`, progress);
        const diag = testDiagnostics(model, test);
        model.dispose();
        runs.push({ method, seed, ...r, ...diag });
        await record.logMetrics({ kind: 'student', method, seed, ...r, testTrueClassProb: diag.testTrueClassProb });
        log(`distill: seed ${seed} ${method}: test ${pct(r.finalTest)}% (final), ${pct(r.bestValTest)}% (best-val epoch ${r.bestEpoch + 1})`);
      });
    }
  }

  // ---- aggregate
  const by = (m: MethodName, f: (r: StudentRun) => number): number[] => seeds.map((s) => f(runs.find((r) => r.method === m && r.seed === s)!));
  const paired = (a: MethodName, b: MethodName): number[] => seeds.map((s, i) => 100 * (by(a, (r) => r.finalTest)[i]! - by(b, (r) => r.finalTest)[i]!));
  const accRows = methods.map((m) => {
    const fin = meanStd(by(m, (r) => 100 * r.finalTest));
    const sel = meanStd(by(m, (r) => 100 * r.bestValTest));
    const d = meanStd(paired(m, 'CE'));
    return { method: m, fin, sel, d, trueClassProb: meanStd(by(m, (r) => r.testTrueClassProb)).mean };
  });
  const diff = (a: MethodName, b: MethodName) => meanStd(paired(a, b));
  return { methods, runs, studentMacs, studentParams, by, diff, accRows };
}
