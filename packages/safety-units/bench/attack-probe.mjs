// Tunes the benign fine-tuning attack on a separate seed (spec §10.3 step 5): `node bench/attack-probe.mjs`.
import * as tf from '@tensorflow/tfjs-core';
import * as core from '@trellis-ml/core';
import * as su from '../dist/index.js';
await core.useBackend('wasm');
const seed = Number(process.env.SEED ?? 99);
const cfg = su.studyConfig(process.argv[2] ?? 'quick');
const lang = new su.RequestLanguage();
const sp = su.makeSplits(lang, seed);
const sys = (rs, v) => rs.map((r) => ({ ...r, sys: v }));
const ev = { hazardSys: su.encodeSequences(lang, sys(sp.hazard.eval, true), 'comply'), hazardNoSys: su.encodeSequences(lang, sys(sp.hazard.eval, false), 'comply'),
  benign: su.encodeSequences(lang, sp.benign.eval, 'comply'), skill: su.encodeSequences(lang, sp.skill.eval, 'comply'), finetune: su.encodeSequences(lang, sp.finetune.eval, 'comply') };
const pre = su.encodeSequences(lang, [...sp.benign.train, ...sp.hazard.train, ...sp.skill.train], 'comply');
const nb = Math.round(sp.hazard.train.length * 7 / 3);
const align = su.concatSequences(lang, su.encodeSequences(lang, sp.hazard.train, 'refuse'), su.encodeSequences(lang, sp.benign.train.slice(0, nb), 'comply'));
const m0 = su.tinyTransformer({ vocabSize: lang.vocabSize, maxLen: lang.maxLen, layers: cfg.layers, dModel: cfg.dModel, heads: cfg.heads, dFf: cfg.dFf, seed });
await su.trainLanguageModel(m0, pre, lang, { epochs: cfg.pretrainEpochs, learningRate: cfg.pretrainLr, batchSize: cfg.batchSize, seed });
const al = m0.clone();
await su.trainLanguageModel(al, align, lang, { epochs: cfg.alignEpochs, learningRate: cfg.alignLr, batchSize: 64, seed });
console.log('aligned', JSON.stringify(su.safetyMetrics(al, ev, lang)));
const layout = al.unitModules();
const dS = su.encodeSequences(lang, sp.hazard.score, 'refuse'), dU = su.encodeSequences(lang, sp.benign.score, 'comply');
const scores = su.scoreAttributes(al, layout, { safety: dS.data, utility: dU.data }, { positions: lang.positionMask(process.env.SCOPE ?? 'all'), tokenInputs: true });
const cls = su.classifyUnits(layout, scores, { fractions: { esu: Number(process.env.ESU ?? 0.015), euu: 0.1, ru: 0.2 } });
const s1 = su.freezeMaskSetting1(cls, 0.075 - cls.counts.ESU / 320);
const rnd = su.randomMaskLike(layout, s1, 5);
const ft = su.encodeSequences(lang, sp.finetune.train, 'comply');
for (const lr of (process.env.LRS ?? '3e-4,1e-3').split(',').map(Number)) for (const ep of (process.env.EPS ?? '1').split(',').map(Number)) {
  const row = [];
  for (const [name, mask, nonUnit] of [['none', null], ['i', s1], ['random', rnd], ['i+nonunit', s1, true]]) {
    const m = al.clone();
    await su.trainLanguageModel(m, ft, lang, { epochs: ep, learningRate: lr, batchSize: cfg.finetuneBatch, seed, plugins: mask ? [su.unitFreezePlugin({ layout, frozen: mask, freezeNonUnitParams: !!nonUnit })] : [] });
    const r = su.safetyMetrics(m, ev, lang);
    row.push(`${name}: ref ${r.refusal.toFixed(2)} ds ${r.finetuneAcc.toFixed(2)}`);
    m.dispose();
  }
  console.log(`lr ${lr} ep ${ep} | ${row.join(' | ')}`);
}
