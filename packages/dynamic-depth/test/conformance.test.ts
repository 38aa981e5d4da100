import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Dataset, Rng } from '@trellis-ml/core';
import { conformanceData, describePluginConformance } from '@trellis-ml/testkit';
import { afterAll, beforeAll } from 'vitest';
import { coopDepth, cosineDecay, earlyExit, layerDrop, ofaDepth, residualMLP, resNetCNN, type DepthNet } from '../src/index.js';

beforeAll(() => tf.setBackend('cpu'));

// coopDepth and layerDrop need a depth-switchable model: a small residual MLP on the default
// conformance data (8 features, 3 classes), depth menu {1, 2, 4} of 4 skippable blocks.
const depthMlp = (seed: number): DepthNet => residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed });
const mlpFixture = { model: depthMlp };

// A tiny pre-activation ResNet with per-depth batch-norm statistics, on 4×4×1 "images" (the
// conformance data's features padded with 8 more seeded values).
const depthCnn = (bnMode: 'per-config' | 'recalibrate') => (seed: number): DepthNet =>
  resNetCNN({ inputShape: [4, 4, 1], stageChannels: [4, 8], blocksPerStage: [1, 1], numClasses: 3, bnMode, seed });
function imageData(): Dataset {
  const base = conformanceData();
  const rng = new Rng(3);
  const x = new Float32Array(base.size * 16);
  for (let i = 0; i < base.size; i++) for (let j = 0; j < 16; j++) x[i * 16 + j] = j < 8 ? base.x[i * 8 + j]! : rng.normal(0, 0.5);
  return Dataset.fromArrays({ x, shape: [4, 4, 1], labels: base.labels!, numClasses: 3 });
}

// ---- coopDepth (the plugin builds and owns Teammate B and the Leader; the fixture model is Teammate A)
// Three steps per run (each trains three networks and their sub-networks) keep the file fast.
const coopFixture = { ...mlpFixture, steps: 3 };
describePluginConformance('dynamic-depth: coopDepth (two Teammates + Leader)', () => coopDepth(), coopFixture);
describePluginConformance('dynamic-depth: coopDepth (baseLoss none; wider, deeper Leader; sampled sub-networks; ε > 0)', () =>
  coopDepth({ leader: { widthMultiplier: 2, extraBlocks: 1 }, subnetsPerStep: 1, sharedSampling: false, weights: { epsilon: 0.5 } }), { ...coopFixture, baseLoss: 'none' });
describePluginConformance('dynamic-depth: coopDepth (sandwich-inplace: one Teammate, no Leader)', () => coopDepth({ teammates: 1, leader: null }), coopFixture);

// A pre-trained Leader is the caller's (frozen, never disposed by the plugin): built once, before the checks.
let frozenLeader: DepthNet;
beforeAll(() => {
  frozenLeader = residualMLP({ inputShape: [8], width: 12, blocks: 4, numClasses: 3, configs: [1, 2], seed: 99 });
});
afterAll(() => frozenLeader.dispose());
describePluginConformance('dynamic-depth: coopDepth (frozen, given Leader)', () => coopDepth({ teammates: 1, leader: { model: frozenLeader } }), coopFixture);

// (one Teammate, no Leader: the CNN forward passes are what the run's time goes to)
describePluginConformance('dynamic-depth: coopDepth (ResNet, per-depth batch-norm; sandwich-inplace)', () => coopDepth({ teammates: 1, leader: null, temperature: 2 }), {
  model: depthCnn('per-config'), data: imageData, steps: 3,
});

// ---- layerDrop
describePluginConformance('dynamic-depth: layerDrop', () => layerDrop({ p: 0.3 }), mlpFixture);
describePluginConformance('dynamic-depth: layerDrop (stochastic depth)', () => layerDrop({ p: 0.5, linear: true }), mlpFixture);
describePluginConformance('dynamic-depth: layerDrop (ResNet, recalibrated batch-norm)', () => layerDrop({ p: 0.5 }), {
  model: depthCnn('recalibrate'), data: imageData, steps: 3,
});

// ---- ofaDepth (by default the plugin copies the model at setup as its frozen teacher, and checkpoints the copy)
describePluginConformance('dynamic-depth: ofaDepth (progressive shrinking, KD from a copy of the model)', () => ofaDepth({ totalSteps: 4, lr: 0.01 }), mlpFixture);
describePluginConformance('dynamic-depth: ofaDepth (baseLoss none; given frozen teacher; 3 depths per step; T 2)', () =>
  ofaDepth({ totalSteps: 4, subnetsPerStep: 3, temperature: 2, teacher: frozenLeader }), { ...mlpFixture, baseLoss: 'none' });

// ---- earlyExit (one head per depth)
const exitFixture = { model: (seed: number): DepthNet => residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed, headMode: 'per-depth' }) };
describePluginConformance('dynamic-depth: earlyExit', () => earlyExit(), exitFixture);
describePluginConformance('dynamic-depth: earlyExit (exit weights; baseLoss none)', () => earlyExit({ weights: { d1: 0.5, d4: 2 } }), { ...exitFixture, baseLoss: 'none' });
describePluginConformance('dynamic-depth: earlyExit (ResNet, per-depth heads and batch-norm)', () => earlyExit(), {
  model: (seed: number) => resNetCNN({ inputShape: [4, 4, 1], stageChannels: [4, 8], blocksPerStage: [1, 1], numClasses: 3, seed, headMode: 'per-depth' }),
  data: imageData, steps: 3,
});

// ---- cosineDecay (any model and optimizer with a learning rate)
describePluginConformance('dynamic-depth: cosineDecay', () => cosineDecay({ initial: 0.01, totalSteps: 10 }));
describePluginConformance('dynamic-depth: cosineDecay beside coopDepth', () => cosineDecay({ initial: 0.01, totalSteps: 10, final: 1e-4 }), {
  ...coopFixture,
  companions: () => [coopDepth({ teammates: 1, leader: null })],
});
