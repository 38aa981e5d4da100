import * as tf from '@tensorflow/tfjs-core';
import { Trainer, evaluate, mlp } from '@trellis-ml/core';
import { FASHION_MNIST_CLASSES, loadFashionMnist } from '@trellis-ml/datasets';
import { beforeAll, describe, expect, it } from 'vitest';
import { distillPlugin, reffakdGenerator, shuffledMatrixGenerator, weightsFromAlpha } from '../src/index.js';
import { checkBadInputs, checkTestVectors } from '../src/experiment.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

describe('end to end on real Fashion-MNIST (a few hundred examples)', () => {
  it('fits ReffAKD (dense AE), shows class structure, and trains a student with its soft labels', async () => {
    const train = loadFashionMnist({ split: 'train', flatten: true, limit: 500 });
    const test = loadFashionMnist({ split: 'test', flatten: true, limit: 300 });
    const gen = reffakdGenerator({ numClasses: 10, samplesPerClass: 20, classNames: FASHION_MNIST_CLASSES, dense: { hidden: 32, code: 16 }, aeTraining: { epochs: 2 } });
    const report = await gen.fit(train);
    expect(report.diagArgmaxCount).toBe(10);
    expect(report.aeMse[1]!).toBeLessThan(report.aeMse[0]!);
    report.P.forEach((r) => expect(r.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 9));
    expect(report.meanTrueClassProb).toBeGreaterThan(0.1);
    expect(report.meanTrueClassProb).toBeLessThan(0.3);
    // footwear (Sandal 5, Sneaker 7, Ankle boot 9) is more alike than footwear and tops
    expect(report.S[5]![7]!).toBeGreaterThan(report.S[5]![0]!);
    expect(report.S[7]![9]!).toBeGreaterThan(report.S[7]![2]!);
    const shuffled = shuffledMatrixGenerator(gen, 1);
    const student = mlp({ inputShape: [784], hidden: [32], numClasses: 10, seed: 1 });
    const trainer = new Trainer({ model: student, seed: 1, batchSize: 64, optimizer: tf.train.momentum(0.05, 0.9), plugins: [
      distillPlugin({ source: gen, method: { kind: 'soft-kl', T: 4 }, ...weightsFromAlpha(0.5, 'alpha-weights-kd') }),
    ] });
    const hist = await trainer.fit(train, { epochs: 4 });
    expect(hist[2]!.loss!).toBeLessThan(hist[0]!.loss!);
    expect(hist[0]!['distill/kd']!).toBeGreaterThan(0);
    expect(evaluate(student, test).accuracy).toBeGreaterThan(0.6);
    trainer.dispose();
    student.dispose();
    shuffled.dispose();
    gen.dispose();
  });

  it('the run-time checks of the experiment pass: §5.8 vectors and the issue\'s bad inputs', () => {
    const v = checkTestVectors();
    expect(v.mismatches).toEqual([]);
    expect(v.checked).toBe(21);
    const b = checkBadInputs();
    expect(b.passed).toBe(3);
  });
});
