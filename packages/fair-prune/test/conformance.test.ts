import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mlp, type ModelAdapter } from '@trellis-ml/core';
import { conformanceData, describePluginConformance } from '@trellis-ml/testkit';
import { afterAll, beforeAll } from 'vitest';
import {
  accuracyGapConstraints, computeMasks, denseReference, encodeMasks, equalizedLoss, groupConstraints, mitigationPlugin, pruning,
  type DenseReference,
} from '../src/index.js';

beforeAll(() => tf.setBackend('cpu'));

// The default conformance data carries two groups (ids i % 2), which the constraint plugins read.
const GROUPS = 2;

// The dense model θ* and its training-set statistics are the caller's (no plugin disposes them):
// built once, before the checks.
let dense: ModelAdapter;
let reference: DenseReference;
beforeAll(() => {
  dense = mlp({ inputShape: [8], hidden: [16], numClasses: 3, seed: 11 });
  reference = denseReference(dense, conformanceData(), GROUPS);
});
afterAll(() => dense.dispose());

// ---- pruning
// As configured by a user: one-shot masks are computed in onFitStart (Trainer.fit), which the suite's
// trainStep-only runs never reach, so this run covers the contract, state and disposal only.
describePluginConformance('fair-prune: pruning (one-shot)', () => pruning({ sparsity: 0.5 }));
// Resumed from a checkpointed mask (setState), as a restored fine-tuning run: the gradient masking
// and the afterApply re-masking run on every step.
describePluginConformance('fair-prune: pruning (fixed mask, restored)', ({ model }) => {
  const masks = computeMasks(model, { sparsity: 0.5 });
  const p = pruning({ sparsity: masks.sparsity, masks });
  p.setState!({ masks: encodeMasks(masks) });
  return p;
});
describePluginConformance('fair-prune: pruning (layerwise, gradients unmasked, restored)', ({ model }) => {
  const masks = computeMasks(model, { sparsity: 0.7, scope: 'layerwise', minKeepCount: 0, minKeepFraction: 0 });
  const p = pruning({ sparsity: 0.7, scope: 'layerwise', maskGradients: false });
  p.setState!({ masks: encodeMasks(masks) });
  return p;
});

// ---- group constraints (the multipliers start at 0 and move after the first batch, so the
// `penalty` term is in the loss from the second step on). Their dual step reads every batch on the host.
const hostDuals = { allowBatchReads: "the multipliers' update sums each step's per-group losses on the host (float64), from the step's logits, labels and group ids" };
describePluginConformance('fair-prune: groupConstraints (loss gap, abs)', () => groupConstraints({ numGroups: GROUPS, dualLr: 0.5 }), hostDuals);
describePluginConformance('fair-prune: groupConstraints (one-sided, ring buffer, initial λ)', () =>
  groupConstraints({ numGroups: GROUPS, violation: 'one-sided', bufferSize: 8, initialLambdas: [0.5, 0.2], dualLr: 0.5 }), hostDuals);
describePluginConformance('fair-prune: groupConstraints (excess loss vs dense, distillation)', () =>
  groupConstraints({ numGroups: GROUPS, target: 'excess-loss', dense, reference, kd: { weight: 0.5, temperature: 4 }, dualLr: 0.5 }), hostDuals);
describePluginConformance('fair-prune: groupConstraints (epoch dual update)', () => groupConstraints({ numGroups: GROUPS, dualUpdate: 'epoch', initialLambdas: [0.3, 0.1] }), hostDuals);
describePluginConformance('fair-prune: equalizedLoss', () => equalizedLoss({ numGroups: GROUPS, dualLr: 0.5 }), hostDuals);
// CEAG needs the dense accuracies: given as `reference` (from `dense` it would compute them in onFitStart).
describePluginConformance('fair-prune: accuracyGapConstraints', () => accuracyGapConstraints({ numGroups: GROUPS, reference, dualLr: 0.5, bufferSize: 16 }), hostDuals);
describePluginConformance('fair-prune: mitigationPlugin (group-loss)', () => mitigationPlugin({ kind: 'group-loss', target: 'excess-loss', dualLr: 0.5 }, GROUPS, dense, reference)!, hostDuals);

// ---- composed as fineTunePruned composes them: the constraint beside a restored fixed mask
describePluginConformance('fair-prune: groupConstraints beside pruning', () => groupConstraints({ numGroups: GROUPS, dualLr: 0.5 }), {
  ...hostDuals,
  companions: ({ model }) => {
    const masks = computeMasks(model, { sparsity: 0.5 });
    const p = pruning({ sparsity: masks.sparsity, masks });
    p.setState!({ masks: encodeMasks(masks) });
    return [p];
  },
});
