import { TrellisError, type Dataset, type ModelAdapter } from '@trellis-ml/core';
import { evaluateGroups } from './groupMetrics.js';
import { checkGroupIds } from './groups.js';
import { computeMasks } from './masks.js';

/** Checks that the three bad inputs of the issue raise clear errors; returns which did. */
export function badInputChecks(model: ModelAdapter, train: Dataset, test: Dataset): Record<string, string> {
  const codeOf = (fn: () => unknown): string => {
    try {
      fn();
      return 'no error';
    } catch (e) {
      return e instanceof TrellisError ? e.code : `non-Trellis error: ${(e as Error).message}`;
    }
  };
  const small = train.take(20);
  const ids = Int32Array.from(small.labels!);
  ids[3] = -1;
  const onlyGroup0 = test.subset(Array.from({ length: test.size }, (_, i) => i).filter((i) => test.groups![i] === 0).slice(0, 50));
  return {
    sparsityOutOfRange: codeOf(() => computeMasks(model, { sparsity: 1 })),
    missingGroupIds: codeOf(() => checkGroupIds(small.withGroups(ids), 10, 'the training set')),
    emptyGroupInEvaluation: codeOf(() => evaluateGroups(model, onlyGroup0, 10)),
  };
}
