// Shared by the probes: pre-train and align one model of a study preset (as the experiment does).
import * as core from '@trellis-ml/core';
import * as su from '../dist/index.js';

// The benign fine-tune set of a config's attack levers (finetuneSys, finetuneOpener, finetuneBenignMix), built as the
// experiment builds it, with the downstream eval set scored under the same answer rule.
export function attackData(sp, seed, cfg) {
  const lang = new su.RequestLanguage({ fineTuneOpener: cfg.finetuneOpener });
  const ft = su.encodeSequences(lang, su.fineTuneRequests(sp, { sys: cfg.finetuneSys, benignMix: cfg.finetuneBenignMix, seed }), 'comply');
  return { lang, ft, finetuneEval: su.encodeSequences(lang, sp.finetune.eval, 'comply') };
}

export async function prepare(seed, mode = 'quick', params = {}) {
  // BACKEND=trellis-native matches the study command of the README; one thread.
  await core.useBackend(process.env.BACKEND ?? 'wasm', { threads: 1 });
  const cfg = su.studyConfig(mode, params);
  const lang = new su.RequestLanguage({ fineTuneOpener: cfg.finetuneOpener });
  const sp = su.makeSplits(lang, seed, { scoreSize: cfg.scoreSize, evalSize: cfg.evalSize });
  const sys = (rs, v) => rs.map((r) => ({ ...r, sys: v }));
  const ev = {
    hazardSys: su.encodeSequences(lang, sys(sp.hazard.eval, true), 'comply'), hazardNoSys: su.encodeSequences(lang, sys(sp.hazard.eval, false), 'comply'),
    benign: su.encodeSequences(lang, sp.benign.eval, 'comply'), skill: su.encodeSequences(lang, sp.skill.eval, 'comply'), finetune: su.encodeSequences(lang, sp.finetune.eval, 'comply'),
  };
  const pre = su.encodeSequences(lang, [...sp.benign.train, ...sp.hazard.train, ...sp.skill.train], 'comply');
  const nb = Math.min(sp.benign.train.length, Math.round((sp.hazard.train.length * 7) / 3));
  const align = su.concatSequences(lang, su.encodeSequences(lang, sp.hazard.train, 'refuse'), su.encodeSequences(lang, sp.benign.train.slice(0, nb), 'comply'));
  const m0 = su.tinyTransformer({ vocabSize: lang.vocabSize, maxLen: lang.maxLen, layers: cfg.layers, dModel: cfg.dModel, heads: cfg.heads, dFf: cfg.dFf, seed });
  await su.trainLanguageModel(m0, pre, lang, { epochs: cfg.pretrainEpochs, learningRate: cfg.pretrainLr, batchSize: cfg.batchSize, seed });
  const al = m0.clone();
  await su.trainLanguageModel(al, align, lang, { epochs: cfg.alignEpochs, learningRate: cfg.alignLr, batchSize: Math.min(cfg.batchSize, 64), seed: seed + 100 });
  const dS = su.encodeSequences(lang, sp.hazard.score, 'refuse');
  const dU = su.encodeSequences(lang, sp.benign.score, 'comply');
  const { ft } = attackData(sp, seed, cfg);
  return { cfg, lang, sp, ev, m0, al, dS, dU, ft, align };
}
