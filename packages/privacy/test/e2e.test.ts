import { Dataset, mlp } from '@trellis-ml/core';
import { loadFashionMnist } from '@trellis-ml/datasets';
import { beforeAll, describe, expect, it } from 'vitest';
import { metricAttackSuite } from '../src/audit.js';
import { crl } from '../src/plugin.js';
import { trainClassifier, SPEC_RECIPE } from '../src/recipe.js';
import { computeSignals } from '../src/signals.js';
import { makeMIASplit } from '../src/split.js';
import { cpu } from './helpers.js';

beforeAll(cpu);

describe('end to end on Fashion-MNIST (a few hundred images)', () => {
  it('trains a target and a shadow, then scores the threshold attacks', async () => {
    const pool: Dataset = loadFashionMnist({ split: 'train', limit: 600, flatten: true });
    const split = makeMIASplit(pool.size, { membersPerModel: 150, shadows: 1, seed: 1 });
    const recipe = { ...SPEC_RECIPE, epochs: 5, batchSize: 32 };
    const members = pool.subset(split.members);
    const nonMembers = pool.subset(split.nonMembers);
    const t = await trainClassifier({ model: mlp({ inputShape: [784], hidden: [32], numClasses: 10, seed: 1 }), data: members, recipe, plugins: [crl({ alpha: 0.3 })], seed: 1 });
    const sh = split.shadows[0]!;
    const s = await trainClassifier({ model: mlp({ inputShape: [784], hidden: [32], numClasses: 10, seed: 2 }), data: pool.subset(sh.members), recipe, plugins: [crl({ alpha: 0.3 })], seed: 2 });
    const tIn = computeSignals(t.model, members, { featureTap: 'fc1' });
    const tOut = computeSignals(t.model, nonMembers, { featureTap: 'fc1' });
    const results = metricAttackSuite({ targetIn: tIn, targetOut: tOut, shadowIn: [computeSignals(s.model, pool.subset(sh.members))], shadowOut: [computeSignals(s.model, pool.subset(sh.nonMembers))] });
    expect(results.map((r) => r.attack)).toContain('modifiedEntropy/class');
    const acc = tIn.correct.reduce((a, b) => a + b, 0) / tIn.correct.length;
    expect(acc).toBeGreaterThan(0.6);
    for (const r of results) {
      expect(r.auc).toBeGreaterThan(0.3);
      expect(r.balancedAccuracy).not.toBeNull();
      expect(r.tprAt01pct).toBeNull(); // 150 non-members cannot support 0.1 % FPR
      expect(r.members).toBe(150);
    }
    t.model.dispose();
    s.model.dispose();
  });
});
