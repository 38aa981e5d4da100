// Where does PreIndex's wall time go (spec §13.2: index cost ≤ 1 training epoch)? No retraining:
//   node packages/retrain-cost/bench/preindex-cost.mjs [dataset=mnist] [model=mlp] [seed=1] [severity=3] [family=gauss]
// Builds the grid's cell as `trellis retrain-cost --full` does, shifts it once, then times preIndex() with
// every component (what the grid records) and with `components: 'index'` (only what the index's value needs),
// and the parts: forward extraction, the histogram distances, the k-means runs.
import { importDist } from '../../core/bench/reference-models.mjs';

const arg = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=')));
const dataset = arg.dataset ?? 'mnist';
const kind = arg.model ?? 'mlp';
const seed = Number(arg.seed ?? 1);
const family = arg.family ?? 'gauss';
const severity = Number(arg.severity ?? 3);
const core = await importDist('core');
const rc = await importDist('retrain-cost');
const ex = await import('../dist/experiment.js');
await core.useBackend('trellis-native', { threads: 1 });
const plan = ex.planFor({ mode: 'full', seed, out: '', params: { datasets: dataset, models: kind } });
const cell = await ex.prepareCell(ex.loadSplit(dataset, 'train'), ex.loadSplit(dataset, 'test'), dataset, kind, seed, plan, () => {});
const info = rc.REPRO_MODEL_INFO[kind];
const { layers } = rc.resolveTaps(cell.model, 'auto', 10);
const newData = ex.shiftedData(cell.oldRaw, family, severity, seed);
const opts = { layers, embeddingLayer: info.embedding, batchSize: 64, combine: { baselineCorrect: true }, clustering: { subsample: plan.clusteringSubsample[kind], seed, maxIter: plan.clusteringMaxIter } };
const time = async (f) => { const t = performance.now(); const v = await f(); return [v, performance.now() - t]; };
const [all, allMs] = await time(() => rc.preIndex(cell.model, cell.oldData, newData, opts));
const [idx, idxMs] = await time(() => rc.preIndex(cell.model, cell.oldData, newData, { ...opts, components: 'index' }));
const rows = rc.stratifiedRows(cell.oldData.labels, cell.oldData.size, plan.clusteringSubsample[kind], seed);
const ext = { layers, batchSize: 64, embedding: { layer: info.embedding, rows } };
const [reps, fwdMs] = await time(() => [rc.extractRepresentations(cell.model, cell.oldData, ext), rc.extractRepresentations(cell.model, newData, ext)]);
const n = cell.oldData.size;
const [, distAllMs] = await time(() => layers.map((l) => rc.representationDistances(reps[0].perLayer[l].values, reps[1].perLayer[l].values, n, reps[0].perLayer[l].width, [16, 32, 64])));
const [, distW32Ms] = await time(() => layers.map((l) => rc.representationDistances(reps[0].perLayer[l].values, reps[1].perLayer[l].values, n, reps[0].perLayer[l].width, [32], { metrics: ['W'] })));
const sub = Int32Array.from(rows, (r) => cell.oldData.labels[r]);
const [, km5Ms] = await time(() => rc.clusteringAris(reps[0].embedding.values, reps[1].embedding.values, sub, reps[0].embedding.dim, opts.clustering));
console.log(JSON.stringify({ dataset, kind, family, severity, n, layers, widths: layers.map((l) => reps[0].perLayer[l].width), embeddingDim: reps[0].embedding.dim, clusteringN: rows.length,
  allMs: Math.round(allMs), indexOnlyMs: Math.round(idxMs), forwardBothMs: Math.round(fwdMs), distancesAllMs: Math.round(distAllMs), distancesW32Ms: Math.round(distW32Ms), fiveKmeansMs: Math.round(km5Ms),
  valueAll: all.value, valueIndexOnly: idx.value, correctedAll: all.corrected, correctedIndexOnly: idx.corrected }));
