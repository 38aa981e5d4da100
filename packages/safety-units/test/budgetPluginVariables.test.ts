import * as tf from '@tensorflow/tfjs-core';
import { Trainer, type TrainerPlugin } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { unitBudgetPlugin } from '../src/index.js';
import { mlpWithUnit0, toyData, useWasm } from './helpers.js';

beforeAll(useWasm);

/**
 * A plugin that trains a variable of its own beside the model's (as privacy's CRL trains its class centres):
 * the Trainer names its gradient `<plugin>:<key>`.
 */
function ownVariable(): TrainerPlugin & { value(): number } {
  let v: tf.Variable | null = null;
  return {
    name: 'own',
    apiVersion: 1,
    setup() {
      v = tf.variable(tf.scalar(1));
    },
    trainableVariables: (): Record<string, tf.Variable> => (v ? { v } : {}),
    lossTerms: () => ({ pull: tf.square(tf.sub(v!, 3)) as tf.Scalar }),
    value: () => v!.dataSync()[0]!,
    dispose: () => v?.dispose(),
  };
}

async function trainedValue(budgetFirst: boolean): Promise<number> {
  const data = toyData();
  const { model, layout, unit0: trainable } = mlpWithUnit0();
  const own = ownVariable();
  const budget = unitBudgetPlugin({ layout, trainable }); // trainNonUnitParams false: the model's head and biases outside units stay fixed
  const t = new Trainer({ model, seed: 1, batchSize: 16, optimizer: tf.train.sgd(0.1), plugins: budgetFirst ? [budget, own] : [own, budget] });
  await t.fit(data, { epochs: 2 });
  const value = own.value();
  t.dispose();
  model.dispose();
  return value;
}

describe('unitBudgetPlugin beside a plugin that trains its own variables', () => {
  it("freezes the model's non-unit parameters only: another plugin's variable trains whichever order the two are listed in", async () => {
    const after = await trainedValue(false);
    expect(after).toBeGreaterThan(1.5); // pulled from 1 towards 3
    expect(await trainedValue(true)).toBe(after); // its gradient used to be dropped as a "non-unit parameter" when the budget ran first
  });
});
