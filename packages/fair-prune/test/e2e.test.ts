import { Trainer, mlp } from '@trellis-ml/core';
import { loadMnist } from '@trellis-ml/datasets';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  badInputChecks, classGroups, computeMasks, disparity, evaluateGroups, fineTunePruned, flatParameters, parameterCounts, setFlatParameters,
} from '../src/index.js';
import { useCpu } from './setup.js';

beforeAll(useCpu);

describe('end to end on real MNIST (a few hundred examples)', () => {
  it('trains, prunes to 90%, fine-tunes with group constraints, and reports per-group disparity', async () => {
    const train = classGroups(loadMnist({ split: 'train', limit: 600, flatten: true }));
    const test = classGroups(loadMnist({ split: 'test', limit: 400, flatten: true }));
    const dense = mlp({ inputShape: [784], hidden: [32], numClasses: 10, seed: 1 });
    const trainer = new Trainer({ model: dense, seed: 1, batchSize: 64 });
    await trainer.fit(train, { epochs: 4 });
    trainer.dispose();
    const denseReport = evaluateGroups(dense, test, 10);
    expect(denseReport.overall.accuracy).toBeGreaterThan(0.6);
    const masks = computeMasks(dense, { sparsity: 0.9 });
    const pruned = mlp({ inputShape: [784], hidden: [32], numClasses: 10, seed: 1 });
    setFlatParameters(pruned, flatParameters(dense));
    const { lambdas } = await fineTunePruned(pruned, masks, train, {
      epochs: 2, numGroups: 10, seed: 1, batchSize: 64, lr: 1e-3, dense,
      mitigation: { kind: 'group-loss', target: 'excess-loss', violation: 'one-sided', dualLr: 0.05 },
    });
    expect(lambdas.some((l) => l > 0)).toBe(true);
    const counts = parameterCounts(pruned, masks);
    expect(counts.sparsity).toBeGreaterThanOrEqual(0.9);
    expect(counts.nonzero).toBeLessThan(counts.total * 0.15);
    const d = disparity(denseReport, evaluateGroups(pruned, test, 10));
    expect(d.prunedAccuracy).toBeGreaterThan(0.5);
    expect(d.accuracyDrop).toHaveLength(10);
    expect(Number.isFinite(d.accuracyDropSpread)).toBe(true);
    expect(badInputChecks(dense, train, test)).toEqual({ sparsityOutOfRange: 'SPARSITY_OUT_OF_RANGE', missingGroupIds: 'GROUP_IDS_MISSING', emptyGroupInEvaluation: 'EMPTY_GROUP' });
    dense.dispose();
    pruned.dispose();
  });
});
