import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describePluginConformance } from '@trellis-ml/testkit';
import { beforeAll } from 'vitest';
import { confidencePenalty, coupledWeightDecay, crl, labelSmoothing, relaxLoss, srcm, stepLearningRate } from '../src/index.js';

beforeAll(() => tf.setBackend('cpu'));

// Loss-replacing defenses (the Trainer drops its cross-entropy while one is active).
describePluginConformance('privacy: relaxLoss (kimlab)', () => relaxLoss({ alpha: 0.3 }));
describePluginConformance('privacy: relaxLoss (original)', () => relaxLoss({ alpha: 0.3, variant: 'original' }));
// CRL reads the default MLP's penultimate tap (`fc1`) and owns its trainable centres.
describePluginConformance('privacy: crl', () => crl({ alpha: 0.3 }));

// Baselines and the training recipe (stepLearningRate drives SGD/momentum learning rates).
describePluginConformance('privacy: labelSmoothing', () => labelSmoothing({ epsilon: 0.1 }));
describePluginConformance('privacy: confidencePenalty', () => confidencePenalty({ beta: 0.1 }));
describePluginConformance('privacy: coupledWeightDecay', () => coupledWeightDecay({ rate: 5e-4 }));
describePluginConformance('privacy: stepLearningRate', () => stepLearningRate({ lr: 0.01 }), { optimizer: () => tf.train.momentum(0.01, 0.9) });

// srcm wraps the model with a head that owns variables; the suite disposes `trainer.model` (the
// wrapper, which disposes the backbone it wraps), so these pass the standard suite unchanged.
describePluginConformance('privacy: srcm', () => srcm({ radius: 5, width: 1 }));
describePluginConformance('privacy: srcm (no pre-layer, tanh ring) beside relaxLoss',
  () => srcm({ radius: 5, width: 1, preLayer: false, ringMode: 'tanh' }), { companions: () => [relaxLoss({ alpha: 0.3 })] });
