// Tunes the benign fine-tuning attack on held-out seeds (spec §10.3 step 5) and shows the freeze arms at
// each candidate: `SEED=99 LRS=2e-4,5e-4,1e-3 node bench/attack-tune.mjs full`.
// EPOCHS=1,2 adds an epoch grid (default: the preset's finetuneEpochs), BATCH the batch size (default: the
// preset's finetuneBatch); ARMS=none runs only full fine-tuning (no scoring/calibration, much faster).
// BACKEND=trellis-native matches the study (one thread). Held-out calibration of EXPERIMENTS.md:
// `for s in 97 98 99; do SEED=$s BACKEND=trellis-native ARMS=none LRS=3e-4,5e-4,7e-4 EPOCHS=1,2 node bench/attack-tune.mjs full; done`
// LEVERS lists fine-tune data levers to try, ';'-separated, each `default` or `key=value` pairs joined by '+'
// (keys: finetuneSys, finetuneOpener, finetuneBenignMix; the same as `--set`), e.g.
// `LEVERS='default;finetuneSys=always;finetuneBenignMix=1' ARMS=none LRS=3e-4,5e-4 node bench/attack-tune.mjs full`.
// Default: `default` (the preset's fine-tune data, the only data before the levers existed).
// Erosion = hazard ASR increase (mean of w/ and w/o SYS) = aligned refusal − refusal after, as in the
// claim `ft-erodes-refusal`.
import * as su from '../dist/index.js';
import { attackData, prepare } from './_setup.mjs';

const mode = process.argv[2] ?? 'quick';
const seed = Number(process.env.SEED ?? 99);
const noneOnly = (process.env.ARMS ?? 'all') === 'none';
const t0 = Date.now();
const secs = () => `${((Date.now() - t0) / 1000).toFixed(0)}s`;
const { cfg, lang, sp, ev, al, dS, dU } = await prepare(seed, mode);
const levers = (process.env.LEVERS ?? 'default').split(';').map((spec) => spec.trim()).filter(Boolean).map((spec) => {
  const params = spec === 'default' ? {} : Object.fromEntries(spec.split('+').map((kv) => kv.split('=').map((x) => x.trim())));
  for (const k of Object.keys(params)) if (!(k in cfg)) throw new Error(`LEVERS: "${k}" is not a study parameter (use finetuneSys, finetuneOpener, finetuneBenignMix)`);
  const data = attackData(sp, seed, su.studyConfig(mode, params));
  return { spec, ft: data.ft, ev: { ...ev, finetune: data.finetuneEval }, lang: data.lang };
});
const layout = al.unitModules();
const n = layout.reduce((s, m) => s + m.numUnits, 0);
const aligned = su.safetyMetrics(al, ev, lang);
console.log(`seed ${seed} ${mode} [${secs()}] aligned`, JSON.stringify(aligned));
let arms = [['none', null, false]];
if (!noneOnly) {
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
  arms = [...arms, ['i', s1, false], ['random', rnd, false], ['i+nonunit', s1, true], ['random+nonunit', rnd, true]];
}
const batch = Number(process.env.BATCH ?? cfg.finetuneBatch);
const epochsGrid = (process.env.EPOCHS ?? String(cfg.finetuneEpochs)).split(',').map(Number);
for (const lever of levers) for (const epochs of epochsGrid) {
  for (const lr of (process.env.LRS ?? '2e-4,5e-4,1e-3').split(',').map(Number)) {
    const row = [];
    for (const [name, mask, nonUnit] of arms) {
      const m = al.clone();
      const loss = await su.trainLanguageModel(m, lever.ft, lever.lang, { epochs, learningRate: lr, batchSize: batch, seed: seed + 200, plugins: mask ? [su.unitFreezePlugin({ layout, frozen: mask, freezeNonUnitParams: nonUnit })] : [] });
      const x = su.safetyMetrics(m, lever.ev, lever.lang);
      row.push(`${name}: erosion ${(aligned.refusal - x.refusal).toFixed(3)} ref ${x.refusal.toFixed(3)} ds ${x.finetuneAcc.toFixed(3)} ben ${x.benignAcc.toFixed(3)} (${(x.benignAcc / aligned.benignAcc).toFixed(2)}× aligned) loss ${loss.toFixed(3)}`);
      m.dispose();
    }
    console.log(`seed ${seed}${levers.length > 1 || lever.spec !== 'default' ? ` lever ${lever.spec} (${lever.ft.data.size} seqs)` : ''} lr ${lr} ep ${epochs} batch ${batch} [${secs()}] | ${row.join(' | ')}`);
  }
}
