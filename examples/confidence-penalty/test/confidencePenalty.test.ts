import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Trainer, gradientClipping, mlp, weightDecay } from '@trellis-ml/core';
import { conformanceData, describePluginConformance } from '@trellis-ml/testkit';
import { confidencePenalty, meanEntropyOfLogits } from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describePluginConformance('confidence-penalty (third-party example)', () => confidencePenalty({ beta: 0.2 }));

describe('confidence penalty', () => {
  it('entropy of uniform logits is ln k', () => {
    const h = meanEntropyOfLogits(tf.zeros([2, 4]));
    expect(h.dataSync()[0]).toBeCloseTo(Math.log(4), 5);
    h.dispose();
  });

  it('composes with first-party plugins in one Trainer and keeps predictions less confident', async () => {
    const data = conformanceData();
    const confidence = async (beta: number) => {
      const model = mlp({ inputShape: [8], hidden: [16], numClasses: 3, seed: 2 });
      const plugins = [weightDecay({ rate: 1e-4 }), gradientClipping({ maxNorm: 5 }), ...(beta > 0 ? [confidencePenalty({ beta })] : [])];
      const trainer = new Trainer({ model, seed: 2, batchSize: 16, optimizer: tf.train.adam(0.02), plugins });
      const hist = await trainer.fit(data, { epochs: 8 });
      const ev = await trainer.evaluate(data);
      trainer.dispose();
      model.dispose();
      return { conf: ev.meanConfidence, acc: ev.accuracy, logged: Object.keys(hist[0]!) };
    };
    const plain = await confidence(0);
    const penalised = await confidence(1);
    expect(penalised.logged).toContain('confidence-penalty/entropy');
    expect(penalised.logged).toContain('weight-decay/l2');
    expect(penalised.acc).toBeGreaterThan(0.9);
    expect(penalised.conf).toBeLessThan(plain.conf);
  });
});
