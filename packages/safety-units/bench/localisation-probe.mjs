// How seed-dependent is ESU localisation? `SEEDS=1,2,3 node bench/localisation-probe.mjs [quick|full]`
// For each seed: refusal / benign exact match after pruning the top-D units (spec §3.4 order) at several
// fractions, for token scopes × score methods × normalisations, and for random unit sets.
import * as su from '../dist/index.js';
import { prepare } from './_setup.mjs';

const mode = process.argv[2] ?? 'quick';
const fractions = [0.01, 0.02, 0.03, 0.05, 0.075, 0.1];
for (const seed of (process.env.SEEDS ?? '1,2,3').split(',').map(Number)) {
  const { lang, ev, al, dS, dU } = await prepare(seed, mode);
  const layout = al.unitModules();
  const n = layout.reduce((s, m) => s + m.numUnits, 0);
  const measure = () => {
    const b = su.forwardSet(al, ev.benign, lang);
    const h = su.forwardSet(al, ev.hazardNoSys, lang);
    const hs = su.forwardSet(al, ev.hazardSys, lang);
    return { u: b.exact.reduce((s, v) => s + v, 0) / b.exact.length, r: (su.refusalRate(h.first, lang) + su.refusalRate(hs.first, lang)) / 2 };
  };
  const curve = (mask) => fractions.map((f) => {
    const h = su.pruneUnits(al, layout, mask(Math.round(f * n)));
    const m = measure();
    h.restore();
    return `${f}:r${m.r.toFixed(2)}/u${m.u.toFixed(2)}`;
  }).join(' ');
  for (const scope of (process.env.SCOPES ?? 'all,prompt,response').split(',')) for (const method of (process.env.METHODS ?? 'wifv,activation-norm').split(',')) {
    for (const normalize of (process.env.NORMS ?? 'zscore-module,rank-global,none').split(',')) {
      const sc = su.scoreAttributes(al, layout, { safety: dS.data, utility: dU.data }, { positions: lang.positionMask(scope), tokenInputs: true, method });
      const cls = su.classifyUnits(layout, sc, { normalize, fractions: { esu: 0.01, euu: 0.01, ru: 0.01 } });
      console.log(seed, scope, method, normalize, curve((k) => su.sweepMask(layout, cls, 'top-D', k)));
    }
  }
  console.log(seed, 'random', curve((k) => su.randomMask(layout, k, 5)));
  al.dispose();
}
