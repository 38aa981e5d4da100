import * as tf from '@tensorflow/tfjs-core';
import { mlp, Trainer } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bagOfTokens, classifyUnits, denseUnitModules, groupMask, makeSplits, pruneUnits, randomMaskLike, RequestLanguage, scoreAttributes,
} from '../src/index.js';
import { useWasm } from './helpers.js';

beforeAll(useWasm);

describe('end to end on the generated language (Tier A MLP)', () => {
  it('scores, classifies and prunes: ESU pruning breaks refusal more than an equal random set', async () => {
    const lang = new RequestLanguage();
    const sp = makeSplits(lang, 1, { scoreSize: 96, evalSize: 96 });
    const train = bagOfTokens(lang, [...sp.hazard.train, ...sp.benign.train.slice(0, 700)], [...sp.hazard.train.map(() => 'refuse' as const), ...Array(700).fill('comply')]);
    const model = mlp({ inputShape: [lang.vocabSize], hidden: [64], numClasses: train.numClasses, seed: 1 });
    const trainer = new Trainer({ model, optimizer: tf.train.adam(0.01), seed: 1, batchSize: 64 });
    await trainer.fit(train, { epochs: 25 });
    trainer.dispose();
    const layout = denseUnitModules(model, ['fc1'], ['fc1', 'logits']);
    const scores = scoreAttributes(model, layout, {
      safety: bagOfTokens(lang, sp.hazard.score, 'refuse'),
      utility: bagOfTokens(lang, sp.benign.score, 'comply'),
    });
    const cls = classifyUnits(layout, scores, { fractions: { esu: 0.2, euu: 0.1, ru: 0.2 } });
    const evalHazard = bagOfTokens(lang, sp.hazard.eval, 'refuse');
    const refusal = () => tf.tidy(() => {
      const pred = tf.argMax(model.apply(tf.tensor2d(evalHazard.x, [evalHazard.size, lang.vocabSize])).logits, 1).dataSync();
      return Array.from(pred).filter((p) => p === 0).length / pred.length;
    });
    const dense = refusal();
    expect(dense).toBeGreaterThan(0.9);
    const esu = groupMask(cls, 'ESU');
    const h1 = pruneUnits(model, layout, esu);
    const esuRefusal = refusal();
    h1.restore();
    const rnd: number[] = [];
    for (let s = 0; s < 3; s++) {
      const h = pruneUnits(model, layout, randomMaskLike(layout, esu, s));
      rnd.push(refusal());
      h.restore();
    }
    const rndRefusal = rnd.reduce((a, b) => a + b, 0) / rnd.length;
    expect(dense - esuRefusal).toBeGreaterThan(dense - rndRefusal + 0.1);
    expect(refusal()).toBe(dense);
    model.dispose();
  }, 60_000);
});
