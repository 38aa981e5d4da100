// RU-only alignment at other learning rates / epochs than the study's (spec §5 names none):
// `SEED=1 GRID=1e-2:32,3e-2:32 node bench/budget-probe.mjs quick` (GRID = lr:epochs pairs).
import * as su from '../dist/index.js';
import { prepare } from './_setup.mjs';

const mode = process.argv[2] ?? 'quick';
const seed = Number(process.env.SEED ?? 1);
const { cfg, lang, ev, m0, al, dS, dU, align } = await prepare(seed, mode);
const layout = m0.unitModules();
const n = layout.reduce((s, m) => s + m.numUnits, 0);
const sc = su.scoreAttributes(m0, layout, { safety: dS.data, utility: dU.data }, { positions: lang.positionMask('all'), tokenInputs: true });
const cls = su.classifyUnits(layout, sc, { fractions: { esu: 0.01, euu: 0.01, ru: cfg.budgetFraction } });
const count = Math.round(cfg.budgetFraction * n);
const ru = su.rankedMask(layout, cls.T, count, 'bottom');
console.log('full alignment', JSON.stringify(su.safetyMetrics(al, ev, lang)));
for (const [lr, epochs] of (process.env.GRID ?? '1e-2:32,3e-2:32').split(',').map((s) => s.split(':').map(Number))) {
  for (const [name, mask] of [['RU', ru], ['random', su.randomMaskLike(layout, ru, 21)], ['top-T', su.rankedMask(layout, cls.T, count, 'top')]]) {
    const m = m0.clone();
    let last = NaN;
    await su.trainLanguageModel(m, align, lang, { epochs, learningRate: lr, batchSize: 64, seed: seed + 100, plugins: [su.unitBudgetPlugin({ layout, trainable: mask })], onEpoch: (_e, l) => { last = l; } });
    const r = su.safetyMetrics(m, ev, lang);
    console.log(lr, epochs, name, `refusal ${r.refusal.toFixed(3)} over ${r.overRefusal.toFixed(3)} benign ${r.benignAcc.toFixed(3)} skill ${r.skillAcc.toFixed(3)} lm ${r.lmLoss.toFixed(3)} final loss ${last.toFixed(3)}`);
    m.dispose();
  }
}
