import * as tf from '@tensorflow/tfjs-core';
import { Trainer, check, checkBatchSize, type Dataset, type ModelAdapter } from '@trellis-ml/core';
import { flatParameters, setFlatParameters } from './diagnostics.js';
import { checkLearningRate, checkMitigation, fineTunePruned, mitigationPlugin, type Mitigation } from './finetune.js';
import { disparity, evaluateGroups, type Disparity, type GroupReport } from './groupMetrics.js';
import { checkGroupIds, checkNoEmptyGroup } from './groups.js';
import { applyMasks, checkPruneOptions, checkSparsity, computeMasks, parameterCounts, type ParameterCounts, type PruneOptions } from './masks.js';
import { denseReference } from './plugin.js';

/** Options of {@link sweep}. */
export interface SweepOptions {
  /** Builds a freshly initialised model for a seed (called once for the dense model and once per pruned copy). */
  build: (seed: number) => ModelAdapter;
  /** Training set with group ids (`groups`). */
  train: Dataset;
  /** Evaluation set with group ids (every group needs examples). */
  test: Dataset;
  numGroups: number;
  /** Sparsities in [0, 1). */
  sparsities: number[];
  /** Fine-tunes to run at each sparsity (`{ kind: 'none' }` is the plain fine-tune). */
  mitigations: Mitigation[];
  seeds: number[];
  /** Dense training epochs (Adam `denseLr`, batch `batchSize`). */
  denseEpochs: number;
  /** Fixed-mask fine-tune: epochs and Adam learning rate (default 3e-4, the spec's §7.3). */
  fineTune: { epochs: number; lr?: number };
  /** Dense learning rate (default 1e-3). */
  denseLr?: number;
  /** Batch size of both trainings (default 128). */
  batchSize?: number;
  /** Pruning options other than the sparsity (default global magnitude). */
  prune?: Omit<PruneOptions, 'sparsity'>;
  /** Also report the pruned model without fine-tuning (default true; spec §7.3). */
  noFineTune?: boolean;
}

/** One (seed, sparsity, fine-tune) result of {@link sweep}. */
export interface SweepRow {
  seed: number;
  sparsity: number;
  /** `no-finetune`, or the mitigation's `kind` (`none` = plain fine-tune). */
  variant: 'no-finetune' | Mitigation['kind'];
  /** Index into `mitigations` (−1 for `no-finetune`). */
  mitigationIndex: number;
  counts: ParameterCounts;
  report: GroupReport;
  disparity: Disparity;
  /** Final multipliers of the mitigation (empty without one). */
  lambdas: number[];
}

/** Result of {@link sweep}: the dense model's report per seed and one row per (seed, sparsity, variant). */
export interface SweepTable {
  dense: Array<{ seed: number; report: GroupReport }>;
  rows: SweepRow[];
}

/**
 * Trains a dense model per seed, prunes it to each sparsity (one-shot, mask fixed) and fine-tunes a copy
 * with each mitigation, reporting per-group accuracy, loss, the disparity metrics and measured parameter
 * counts on `test` (spec §8 `sweep`). Models are disposed as it goes.
 * Every option is checked before the first (dense) training, so a bad one fails in milliseconds, not after it.
 * @throws TrellisError `SPARSITY_OUT_OF_RANGE`, `GROUP_IDS_MISSING`, `EMPTY_GROUP`, `NO_SEEDS`, `BAD_EPOCHS`, `BAD_BATCH_SIZE`,
 *   `BAD_SEED`, `BAD_OPTION` (learning rates, pruning options, mitigation options).
 */
export async function sweep(options: SweepOptions): Promise<SweepTable> {
  check(options.seeds.length > 0, 'NO_SEEDS', 'the sweep has no seeds', 'pass at least one seed, e.g. seeds: [1]');
  for (const s of options.sparsities) checkSparsity(s);
  for (const m of options.mitigations) checkMitigation(m);
  for (const s of options.seeds) check(Number.isFinite(s), 'BAD_SEED', () => `seed ${String(s)} is not a finite number`, 'pass integer seeds, e.g. seeds: [1, 2, 3]');
  for (const [what, e] of [['denseEpochs', options.denseEpochs], ['fineTune.epochs', options.fineTune?.epochs]] as const) {
    check(Number.isInteger(e) && e! > 0, 'BAD_EPOCHS', () => `${what} ${String(e)} is not a positive integer`, `pass ${what} ≥ 1`);
  }
  checkBatchSize(options.batchSize ?? 128);
  checkLearningRate(options.denseLr ?? 1e-3, 'denseLr');
  checkLearningRate(options.fineTune.lr ?? 3e-4, 'fineTune.lr');
  checkPruneOptions({ ...options.prune, sparsity: 0 });
  checkGroupIds(options.train, options.numGroups, 'the training set');
  checkNoEmptyGroup(checkGroupIds(options.test, options.numGroups, 'the evaluation set'), options.numGroups, 'the evaluation set');
  // the mitigations' own options (dual step, violation, buffer, …): built once with stand-ins for the dense model
  // and its statistics, which exist only after the dense training
  const standIn = { groupLoss: new Array<number>(options.numGroups).fill(0), loss: 0, groupAccuracy: new Array<number>(options.numGroups).fill(0), accuracy: 0 };
  for (const m of options.mitigations) mitigationPlugin(m, options.numGroups, {} as ModelAdapter, standIn)?.dispose?.();
  const batchSize = options.batchSize ?? 128;
  const out: SweepTable = { dense: [], rows: [] };
  for (const seed of options.seeds) {
    const dense = options.build(seed);
    try {
      const optimizer = tf.train.adam(options.denseLr ?? 1e-3);
      let trainer: Trainer;
      try {
        trainer = new Trainer({ model: dense, seed, batchSize, optimizer });
      } catch (e) {
        optimizer.dispose();
        throw e;
      }
      try {
        await trainer.fit(options.train, { epochs: options.denseEpochs });
      } finally {
        trainer.dispose();
      }
      const denseReport = evaluateGroups(dense, options.test, options.numGroups, { seed });
      out.dense.push({ seed, report: denseReport });
      const reference = denseReference(dense, options.train, options.numGroups);
      const theta = flatParameters(dense);
      for (const sparsity of options.sparsities) {
        const masks = computeMasks(dense, { ...options.prune, sparsity });
        const variants: Array<[SweepRow['variant'], number]> = [
          ...((options.noFineTune ?? true) ? [['no-finetune', -1] as [SweepRow['variant'], number]] : []),
          ...options.mitigations.map((m, i) => [m.kind, i] as [SweepRow['variant'], number]),
        ];
        for (const [variant, i] of variants) {
          const m = options.build(seed);
          try {
            setFlatParameters(m, theta);
            let lambdas: number[] = [];
            if (i < 0) applyMasks(m, masks);
            else {
              lambdas = (await fineTunePruned(m, masks, options.train, {
                epochs: options.fineTune.epochs, lr: options.fineTune.lr ?? 3e-4, batchSize, numGroups: options.numGroups, seed,
                mitigation: options.mitigations[i]!, dense, reference,
              })).lambdas;
            }
            const report = evaluateGroups(m, options.test, options.numGroups, { seed });
            out.rows.push({ seed, sparsity, variant, mitigationIndex: i, counts: parameterCounts(m, masks), report, disparity: disparity(denseReport, report), lambdas });
          } finally {
            m.dispose();
          }
        }
      }
    } finally {
      dense.dispose();
    }
  }
  return out;
}
