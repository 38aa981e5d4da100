import * as tf from '@tensorflow/tfjs-core';
import { mlp, Trainer, TrellisError, type ModelAdapter, type TrainerPlugin } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { denseUnitModules, emptyMask, unitFreezePlugin } from '../src/index.js';
import { toyData, useWasm } from './helpers.js';

beforeAll(useWasm);

/**
 * A stand-in for another package's `wrapModel` view that trains only some of the model's variables
 * (uda-calibration's TENT trains BatchNorm only, SHOT-IM everything but the head).
 */
function trainOnly(keep: (name: string) => boolean, options: { replace?: boolean } = {}): TrainerPlugin {
  const only = (vars: Record<string, tf.Variable>) => Object.fromEntries(Object.entries(vars).filter(([n]) => keep(n)));
  return {
    name: 'train-only',
    apiVersion: 1,
    wrapModel: (model: ModelAdapter): ModelAdapter => Object.assign(Object.create(model) as ModelAdapter, {
      trainableVariables: () => only(model.trainableVariables()),
      // a wrapper that replaces layers (privacy's SRCM head) has no such variable at all
      ...(options.replace ? { allVariables: () => only(model.allVariables()) } : {}),
    }),
  };
}

async function freezeErrorWith(wrapper: TrainerPlugin): Promise<TrellisError> {
  const model = mlp({ inputShape: [6], hidden: [5, 4], numClasses: 3, seed: 1 });
  const layout = denseUnitModules(model, ['fc1', 'fc2'], ['fc1', 'fc2', 'logits']);
  const frozen = emptyMask(layout);
  frozen.fc1![0] = 1;
  const t = new Trainer({ model, seed: 1, batchSize: 16, optimizer: tf.train.adam(1e-2), plugins: [wrapper, unitFreezePlugin({ layout, frozen })] });
  const err = await t.fit(toyData(), { epochs: 1 }).then(() => null, (e: unknown) => e);
  t.dispose();
  model.dispose();
  expect(err).toBeInstanceOf(TrellisError);
  return err as TrellisError;
}

describe('a unit layout against a model another plugin wrapped', () => {
  it('says a variable is there but not trained (a wrapModel view left it out), not that the model lacks it', async () => {
    const err = await freezeErrorWith(trainOnly((n) => !n.endsWith('/kernel')));
    expect(err.code).toBe('BAD_LAYOUT');
    expect(err.message).toMatch(/names variable "fc1\/kernel", which the model has but does not train/);
    expect(err.fix).toMatch(/wrapModel/);
  });

  it('says a layout built from the unwrapped model may name layers a wrapper replaced, and how to build it from the wrapped one', async () => {
    const err = await freezeErrorWith(trainOnly((n) => !n.startsWith('logits/'), { replace: true }));
    expect(err.code).toBe('BAD_LAYOUT');
    expect(err.message).toMatch(/names variable "logits\/kernel", which the model does not have/);
    expect(err.fix).toMatch(/trainer\.setup\(\)/);
  });
});
