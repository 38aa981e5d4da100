// Why does the CNN's PreIndex dip with severity (issue #5)? Forward passes and k-means only, no retraining:
//   node packages/retrain-cost/bench/gauss-probe.mjs [key=value ...]      (build first; one core)
// keys: dataset=fashion model=cnn seed=1 families=gauss severities=0,1,2,3,4,5 noiseSeeds=1,2,3,4,5
//       maxIters=0,1,3,10,300 subsamples=5 subsampleRows=4000 bigRows=10000,20000 bigSeeds=1,2,3
//       out=/tmp/gauss-probe.jsonl
// Builds the grid's cell exactly as `trellis retrain-cost --full` does (same subsets, same pretraining, via
// the experiment's own prepareCell), then for each family × severity × noise draw (the corruption seed; the
// grid uses the run seed) measures p (W, 32 bins) and the clustering term ARI_clean − ARI_new_from_clean on
// (a) every retraining row with the embedding layer of the grid (Lloyd capped at each of maxIters), (b) the
// penultimate Dense layer as embedding, (c) class-stratified row subsamples, (d) larger stratified sets of
// the train split (bigRows). Writes one JSON line per measurement and prints the tables.
import { writeFileSync, appendFileSync } from 'node:fs';
import { importDist } from '../../core/bench/reference-models.mjs';

const arg = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=')));
const list = (k, d) => (arg[k] ?? d).split(',').filter(Boolean);
const nums = (k, d) => list(k, d).map(Number);
const dataset = arg.dataset ?? 'fashion';
const kind = arg.model ?? 'cnn';
const seed = Number(arg.seed ?? 1);
const families = list('families', 'gauss');
const severities = nums('severities', '0,1,2,3,4,5');
const noiseSeeds = nums('noiseSeeds', '1,2,3,4,5');
const maxIters = nums('maxIters', '0,1,3,10,300');
const subsamples = Number(arg.subsamples ?? 5);
const subsampleRows = Number(arg.subsampleRows ?? 4000);
const bigRows = nums('bigRows', '');
const bigSeeds = nums('bigSeeds', '1,2,3');
const out = arg.out ?? '/tmp/gauss-probe.jsonl';
writeFileSync(out, '');
const emit = (rec) => appendFileSync(out, JSON.stringify(rec) + '\n');

const core = await importDist('core');
const rc = await importDist('retrain-cost');
const ex = await import('../dist/experiment.js');
await core.useBackend('trellis-native', { threads: 1 });
const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(0);
const plan = ex.planFor({ mode: 'full', seed, out: '', params: { datasets: dataset, models: kind } });
const fullTrain = ex.loadSplit(dataset, 'train');
const fullTest = ex.loadSplit(dataset, 'test');
const cell = await ex.prepareCell(fullTrain, fullTest, dataset, kind, seed, plan, console.log);
const info = rc.REPRO_MODEL_INFO[kind];
const { layers } = rc.resolveTaps(cell.model, 'auto', 10);
const dense = layers[layers.length - 1];
console.log(`${dataset}/${kind} seed ${seed}: clean test accuracy ${(cell.aClean * 100).toFixed(2)}%; taps ${layers.join(', ')}; embedding ${info.embedding}; dense embedding ${dense} (${secs()} s)`);

/** Representations of `data` on `rows` (the embedding layer raw; every tapped layer per sample). */
const extract = (data, rows) => rc.extractRepresentations(cell.model, data, { layers, batchSize: 64, embedding: { layer: info.embedding, rows } });
const pOf = (a, b, n) => layers.reduce((s, l) => s + rc.representationDistances(a.perLayer[l].values, b.perLayer[l].values, n, a.perLayer[l].width, [32], { metrics: ['W'] })[32].W, 0) / layers.length;

/** Embeddings (grid layer and dense layer) of one clean set and the k-means of its clean side. */
function cleanSide(raw, rows) {
  const data = ex.shiftedData(raw, 'control', 0, 0);
  const rep = extract(data, rows);
  const labels = Int32Array.from(rows, (r) => data.labels[r]);
  const classes = [...new Set(labels)].sort((a, b) => a - b);
  const denseRows = new Float32Array(rows.length * rep.perLayer[dense].width);
  rows.forEach((r, i) => denseRows.set(rep.perLayer[dense].values.subarray(r * rep.perLayer[dense].width, (r + 1) * rep.perLayer[dense].width), i * rep.perLayer[dense].width));
  const emb = { conv: { z: rep.embedding.values, d: rep.embedding.dim }, dense: { z: denseRows, d: rep.perLayer[dense].width } };
  for (const e of Object.values(emb)) {
    e.mu = rc.classCentroids(e.z, labels, e.d, classes);
    e.clean = Object.fromEntries(maxIters.map((m) => [m, rc.kmeans(e.z, rows.length, e.d, e.mu, { maxIter: m })]).map(([m, r]) => [m, { ari: rc.adjustedRandIndex(labels, r.labels), iters: r.iters, reseated: r.reseated }]));
  }
  return { raw, rows, labels, rep, emb };
}

/** The shifted side of `side` at one setting: p and, per embedding and Lloyd cap, ARI_new_from_clean. */
function shiftedSide(side, family, severity, noiseSeed, caps = maxIters, withDense = true) {
  const data = ex.shiftedData(side.raw, family, severity, noiseSeed);
  const rep = extract(data, side.rows);
  const res = { p: pOf(side.rep, rep, side.raw.size), clustering: {} };
  const embs = { conv: rep.embedding.values };
  if (withDense) {
    const w = rep.perLayer[dense].width;
    const z = new Float32Array(side.rows.length * w);
    side.rows.forEach((r, i) => z.set(rep.perLayer[dense].values.subarray(r * w, (r + 1) * w), i * w));
    embs.dense = z;
  }
  for (const [name, z] of Object.entries(embs)) {
    const e = side.emb[name];
    res.clustering[name] = {};
    for (const m of caps) {
      const t = Date.now();
      const r = rc.kmeans(z, side.rows.length, e.d, e.mu, { maxIter: m });
      const ari = rc.adjustedRandIndex(side.labels, r.labels);
      res.clustering[name][m] = { ariClean: e.clean[m].ari, ariNew: ari, term: e.clean[m].ari - ari, iters: r.iters, cleanIters: e.clean[m].iters, reseated: r.reseated, clusters: new Set(r.labels).size, ms: Date.now() - t };
    }
  }
  return res;
}

const all = Int32Array.from({ length: cell.oldRaw.size }, (_, i) => i);
const main = cleanSide(cell.oldRaw, all);
for (const [name, e] of Object.entries(main.emb)) console.log(`clean ${name} (${e.d} wide, ${all.length} rows): ARI from class centroids by Lloyd cap ${maxIters.map((m) => `${m}: ${e.clean[m].ari.toFixed(4)} (${e.clean[m].iters} it)`).join(', ')}`);
emit({ part: 'clean', rows: all.length, clean: Object.fromEntries(Object.entries(main.emb).map(([k, e]) => [k, e.clean])) });

// (a, b) every row, several noise draws
const table = {};
for (const family of families) {
  for (const severity of severities) {
    for (const noiseSeed of severity === 0 ? [noiseSeeds[0]] : noiseSeeds) {
      const r = shiftedSide(main, family, severity, noiseSeed);
      emit({ part: 'all-rows', family, severity, noiseSeed, ...r });
      (table[`${family}/${severity}`] ??= []).push(r);
      const c = r.clustering.conv;
      console.log(`${family} ${severity} draw ${noiseSeed}: p ${r.p.toFixed(5)} | ${info.embedding}: ${maxIters.map((m) => `cap ${m} ${c[m].term.toFixed(4)}`).join(', ')} (${c[300]?.iters ?? '-'} it, reseated ${c[300]?.reseated ?? '-'}, ${c[300]?.clusters ?? '-'} clusters) | ${dense}: ${r.clustering.dense[300]?.term.toFixed(4)} (${secs()} s)`);
    }
  }
}
const mean = (xs) => xs.reduce((s, v) => s + v, 0) / xs.length;
const sd = (xs) => Math.sqrt(xs.reduce((s, v) => s + (v - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1));
console.log('\nsummary over noise draws (mean ± sd [min, max]) of the corrected clustering term ARI_clean − ARI_new_from_clean:');
for (const [key, rs] of Object.entries(table)) {
  const parts = [];
  for (const name of ['conv', 'dense']) for (const m of maxIters) {
    const v = rs.map((r) => r.clustering[name][m].term);
    parts.push(`${name === 'conv' ? info.embedding : dense} cap ${m}: ${mean(v).toFixed(4)} ± ${sd(v).toFixed(4)} [${Math.min(...v).toFixed(4)}, ${Math.max(...v).toFixed(4)}]`);
  }
  console.log(`${key} (p ${mean(rs.map((r) => r.p)).toFixed(5)}, ${rs.length} draws): ${parts.join('; ')}`);
}

// PreIndex (corrected) = p + term per draw: Spearman against severity, per draw and for the mean over draws
const spearman = rc.spearman;
for (const family of families) {
  const bySev = severities.map((sv) => table[`${family}/${sv}`]);
  const parts = [];
  for (const name of ['conv', 'dense']) for (const m of maxIters) {
    const idx = (r) => r.p + r.clustering[name][m].term;
    const perDraw = noiseSeeds.map((_, d) => spearman(severities, bySev.map((rs) => idx(rs[Math.min(d, rs.length - 1)]))));
    const ofMean = spearman(severities, bySev.map((rs) => mean(rs.map(idx))));
    parts.push(`${name === 'conv' ? info.embedding : dense} cap ${m}: per draw ${perDraw.map((v) => v.toFixed(2)).join('/')}, mean of draws ${ofMean.toFixed(2)}`);
  }
  console.log(`Spearman(PreIndex, severity) ${family}: ${parts.join('; ')}`);
}

// (c) row subsamples of the retraining subset, noise draw = the run seed (as the grid)
for (let s = 1; s <= subsamples; s++) {
  const rows = rc.stratifiedRows(cell.oldData.labels, cell.oldData.size, subsampleRows, s);
  const side = cleanSide(cell.oldRaw, rows);
  for (const family of families) {
    const terms = [];
    const ps = [];
    for (const severity of severities) {
      const r = shiftedSide(side, family, severity, seed, [300], false);
      emit({ part: 'subsample', subsampleSeed: s, rows: rows.length, family, severity, ...r });
      terms.push(r.clustering.conv[300].term);
      ps.push(r.p);
    }
    console.log(`subsample ${s} (${rows.length} rows) ${family}: ARI clean ${side.emb.conv.clean[300].ari.toFixed(4)}, term by severity ${terms.map((t) => t.toFixed(4)).join(', ')}; Spearman(p + term, severity) ${spearman(severities, terms.map((t, i) => t + ps[i])).toFixed(2)} (${secs()} s)`);
  }
}

// (d) more rows: larger class-stratified sets of the train split (includes images the model never saw)
for (const n of bigRows) {
  const raw = fullTrain.subset(rc.stratifiedRows(fullTrain.labels, fullTrain.size, n, 4242));
  const side = cleanSide(raw, Int32Array.from({ length: raw.size }, (_, i) => i));
  for (const family of families) {
    for (const noiseSeed of bigSeeds) {
      const terms = [];
      const ps = [];
      for (const severity of severities) {
        const r = shiftedSide(side, family, severity, noiseSeed, [300], false);
        emit({ part: 'big', rows: raw.size, family, severity, noiseSeed, ...r });
        terms.push(r.clustering.conv[300].term);
        ps.push(r.p);
      }
      console.log(`${raw.size} rows ${family} draw ${noiseSeed}: ARI clean ${side.emb.conv.clean[300].ari.toFixed(4)}, term by severity ${terms.map((t) => t.toFixed(4)).join(', ')}; Spearman(p + term, severity) ${spearman(severities, terms.map((t, i) => t + ps[i])).toFixed(2)} (${secs()} s)`);
    }
  }
}
cell.model.dispose();
console.log(`done in ${secs()} s; records in ${out}`);
