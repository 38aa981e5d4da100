// Tunes the benign fine-tuning attack once on a separate seed (spec §10.3 step 5) and shows the freeze
// arms at each learning rate: `SEED=99 LRS=2e-4,5e-4,1e-3 node bench/attack-tune.mjs full`.
import * as su from '../dist/index.js';
import { prepare } from './_setup.mjs';

const mode = process.argv[2] ?? 'quick';
const seed = Number(process.env.SEED ?? 99);
const { cfg, lang, ev, al, dS, dU, ft } = await prepare(seed, mode);
const layout = al.unitModules();
const n = layout.reduce((s, m) => s + m.numUnits, 0);
console.log('aligned', JSON.stringify(su.safetyMetrics(al, ev, lang)));
const sc = su.scoreAttributes(al, layout, { safety: dS.data, utility: dU.data }, { positions: lang.positionMask('all'), tokenInputs: true });
const prelim = su.classifyUnits(layout, sc, { fractions: su.LLAMA2_FRACTIONS });
const measure = () => {
  const b = su.forwardSet(al, ev.benign, lang);
  const h = su.forwardSet(al, ev.hazardNoSys, lang);
  return { utility: b.exact.reduce((s, v) => s + v, 0) / b.exact.length, refusal: su.refusalRate(h.first, lang) };
};
const calib = su.calibrateFractions(su.pruningSweep(al, layout, prelim, measure, { grid: cfg.grid, seed }));
console.log('fractions', JSON.stringify(calib.fractions), 'ESU refusal drop', calib.esuRefusalDrop);
const cls = su.classifyUnits(layout, sc, { fractions: calib.fractions });
const s1 = su.freezeMaskSetting1(cls, Math.max(0, cfg.freezeTotal - cls.counts.ESU / n));
const rnd = su.randomMaskLike(layout, s1, 11);
for (const lr of (process.env.LRS ?? '2e-4,5e-4,1e-3').split(',').map(Number)) {
  const row = [];
  for (const [name, mask, nonUnit] of [['none', null, false], ['i', s1, false], ['random', rnd, false], ['i+nonunit', s1, true], ['random+nonunit', rnd, true]]) {
    const m = al.clone();
    await su.trainLanguageModel(m, ft, lang, { epochs: 1, learningRate: lr, batchSize: cfg.finetuneBatch, seed: seed + 200, plugins: mask ? [su.unitFreezePlugin({ layout, frozen: mask, freezeNonUnitParams: nonUnit })] : [] });
    const x = su.safetyMetrics(m, ev, lang);
    row.push(`${name}: ref ${x.refusal.toFixed(2)} ds ${x.finetuneAcc.toFixed(2)} ben ${x.benignAcc.toFixed(2)}`);
    m.dispose();
  }
  console.log(`lr ${lr} | ${row.join(' | ')}`);
}
