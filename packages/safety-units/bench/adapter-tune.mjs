// Tunes the learning rate of the low-rank-adapter arm once on a separate seed (spec §10.3 step 5:
// restricted arms train "to the full-FT final loss"): full fine-tuning at the preset's attack lr, then
// the adapter at multiples of it. The study's `adapterLrMultiplier` is the smallest multiple whose final
// training loss is ≤ the full fine-tune's.
// `SEED=99 BACKEND=trellis-native MULTS=1,3,10,30 node packages/safety-units/bench/adapter-tune.mjs quick`
import * as su from '../dist/index.js';
import { prepare } from './_setup.mjs';

const mode = process.argv[2] ?? 'quick';
const seed = Number(process.env.SEED ?? 99);
const { cfg, lang, ev, al, ft } = await prepare(seed, mode);
const aligned = su.safetyMetrics(al, ev, lang);
console.log(`seed ${seed} ${mode}: fine-tune set ${ft.data.size} sequences, ${ft.data.numBatches(cfg.finetuneBatch)} steps/epoch; aligned refusal ${aligned.refusal.toFixed(3)}`);
const run = async (label, lr, epochs, plugins) => {
  const m = al.clone();
  const loss = await su.trainLanguageModel(m, ft, lang, { epochs, learningRate: lr, batchSize: cfg.finetuneBatch, seed: seed + 200, plugins });
  const x = su.safetyMetrics(m, ev, lang);
  console.log(`${label.padEnd(28)} lr ${lr.toExponential(1)} ep ${epochs}: final loss ${loss.toFixed(3)} | ASR increase ${(aligned.refusal - x.refusal).toFixed(3)} | downstream ${x.finetuneAcc.toFixed(3)} | benign ${x.benignAcc.toFixed(3)}`);
  m.dispose();
  return loss;
};
const full = await run('full FT', cfg.finetuneLr, cfg.finetuneEpochs, []);
let pick;
for (const mult of (process.env.MULTS ?? '1,3,10,30').split(',').map(Number)) {
  const loss = await run(`adapter r ${cfg.adapterRank} x${mult}`, cfg.finetuneLr * mult, cfg.finetuneEpochs, [su.lowRankAdapterPlugin({ rank: cfg.adapterRank, alpha: cfg.adapterAlpha, seed: seed + 300 })]);
  if (pick === undefined && loss <= full) pick = mult;
}
console.log(`smallest multiplier reaching the full fine-tune's final loss: ${pick ?? 'none in the grid'}`);
