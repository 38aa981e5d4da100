import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { ModelAdapter } from '@trellis-ml/core';
import { describePluginConformance, type ConformanceFixture, type ConformanceOptions } from '@trellis-ml/testkit';
import { beforeAll } from 'vitest';
import {
  denseUnitModules, emptyMask, encodeSequences, lowRankAdapterPlugin, RequestLanguage, sequenceLossPlugin, tinyTransformer, unitBudgetPlugin, unitFreezePlugin,
  type TinyTransformer, type UnitLayout, type UnitMask,
} from '../src/index.js';

beforeAll(() => tf.setBackend('cpu'));

/** A mask with every `every`-th unit of each module (offset `offset`) in the set. */
function everyNth(layout: UnitLayout, every: number, offset = 0): UnitMask {
  const mask = emptyMask(layout);
  for (const m of layout) for (let j = offset; j < m.numUnits; j += every) mask[m.id]![j] = 1;
  return mask;
}

// ---- Tier A: the default conformance MLP (fc1 → logits); its units are fc1's 16 hidden channels.
const mlpLayout = (model: ModelAdapter): UnitLayout => denseUnitModules(model, ['fc1'], ['fc1', 'logits']);

describePluginConformance('safety-units: unitFreezePlugin (MLP, pinned)', ({ model }) => unitFreezePlugin({ layout: mlpLayout(model), frozen: everyNth(mlpLayout(model), 3) }));
describePluginConformance('safety-units: unitFreezePlugin (MLP, unpinned, non-unit params frozen)', ({ model }) =>
  unitFreezePlugin({ layout: mlpLayout(model), frozen: everyNth(mlpLayout(model), 2, 1), pin: false, freezeNonUnitParams: true }));
describePluginConformance('safety-units: unitFreezePlugin (MLP, mask schedule)', ({ model }) => {
  const layout = mlpLayout(model);
  return unitFreezePlugin({ layout, schedule: [{ epochs: 1, frozen: everyNth(layout, 2) }, { epochs: 1, frozen: everyNth(layout, 4) }] });
});
describePluginConformance('safety-units: unitBudgetPlugin (MLP, 25 % of units)', ({ model }) => unitBudgetPlugin({ layout: mlpLayout(model), trainable: everyNth(mlpLayout(model), 4) }));
describePluginConformance('safety-units: unitBudgetPlugin (MLP, non-unit params train, unpinned)', ({ model }) =>
  unitBudgetPlugin({ layout: mlpLayout(model), trainable: everyNth(mlpLayout(model), 5), trainNonUnitParams: true, pin: false }));

// ---- Tier B: the package's tiny transformer (it describes its own units: per block the attention
// value/output channels and the SwiGLU channels) on token sequences of the request language, trained
// with the sequence loss and no base loss.
const lang = new RequestLanguage({ verbs: 2, benignObjects: 8, hazardObjects: 4, modifiers: 2, contentTokens: 8 });
const sequences = () => {
  const requests = [...lang.requests('benign'), ...lang.requests('hazard')];
  return encodeSequences(lang, requests, requests.map((r) => (r.hazard ? 'refuse' : 'comply'))).data;
};
const lm: ConformanceOptions = {
  model: (seed) => tinyTransformer({ vocabSize: lang.vocabSize, maxLen: lang.maxLen, layers: 1, dModel: 8, heads: 2, dFf: 16, seed }),
  data: sequences,
  baseLoss: 'none',
  batchSize: 8,
};
const lmLayout = ({ model }: ConformanceFixture): UnitLayout => (model as TinyTransformer).unitModules();
const withSequenceLoss: ConformanceOptions = { ...lm, companions: () => [sequenceLossPlugin(lang.lossOptions())] };

describePluginConformance('safety-units: sequenceLossPlugin (tiny transformer)', () => sequenceLossPlugin(lang.lossOptions()), lm);
describePluginConformance('safety-units: unitFreezePlugin (tiny transformer)', (f) => unitFreezePlugin({ layout: lmLayout(f), frozen: everyNth(lmLayout(f), 3) }), withSequenceLoss);
describePluginConformance('safety-units: unitBudgetPlugin (tiny transformer, 20 % of units)', (f) =>
  unitBudgetPlugin({ layout: lmLayout(f), trainable: everyNth(lmLayout(f), 5, 2) }), withSequenceLoss);
describePluginConformance('safety-units: lowRankAdapterPlugin (tiny transformer, rank 2, merged at fit end)', () => lowRankAdapterPlugin({ rank: 2 }), withSequenceLoss);
