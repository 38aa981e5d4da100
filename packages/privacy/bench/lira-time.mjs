// Benchmark: the time of one LiRA reference model relative to one baseline training run (issue 4:
// "should be ≈ 1×"). Same configuration as `trellis privacy --full` (MLP 784-512-256-10, the spec's
// SGD recipe, N = 2 500, 80 epochs, batch 128): a baseline run trains the vanilla MLP on the target's
// N members; a LiRA reference model trains it on its keep-mask half of the audit pool (members ∪
// non-members, 2N examples → N). After one untimed warm-up model, baseline and reference models are
// trained in interleaved pairs, back to back, alternating which goes first (B R, R B, B R, ...), so
// both see the same load on a shared machine. Times are the Trainer's fit wall-clock (evaluation is
// not timed, nothing else runs inside). Prints per-model times, the median of the per-pair ratios
// and one line `lira_reference_time_ratio=<x>`, and writes JSON.
//
// Build first: cd /work/main && npx tsc -b tsconfig.json
// Run:         node packages/privacy/bench/lira-time.mjs [--backend auto] [--pairs 5] [--seed 1]
//                [--epochs 80] [--members 2500] [--json <path>]
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { mlp, Rng, useBackend } from '@trellis-ml/core';
import {
  FULL_CONFIG, fashionMnistPool, liraKeepMasks, makeMIASplit, pairOrder, summarizeTimingPairs, timePair, trainClassifier, trainingWork,
} from '@trellis-ml/privacy';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..', '..');

function parseArgs(argv) {
  const o = { backend: 'auto', pairs: 5, seed: 1, epochs: FULL_CONFIG.recipe.epochs, members: FULL_CONFIG.members, json: path.join(REPO, 'runs', 'privacy-bench', 'lira-time.json') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    const num = (name) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${name} needs a positive integer, got "${v}"`);
      return n;
    };
    if (a === '--backend') o.backend = v;
    else if (a === '--pairs') o.pairs = num(a);
    else if (a === '--seed') o.seed = num(a);
    else if (a === '--epochs') o.epochs = num(a);
    else if (a === '--members') o.members = num(a);
    else if (a === '--json') o.json = path.resolve(v);
    else throw new Error(`unknown option ${a} (use --backend, --pairs, --seed, --epochs, --members, --json)`);
    i++;
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const load = () => os.loadavg().map((x) => +x.toFixed(2));
const loadBefore = load();
const backend = await useBackend(opts.backend);
const recipe = { ...FULL_CONFIG.recipe, epochs: opts.epochs };
const hidden = FULL_CONFIG.hidden;
console.log(`backend ${backend.name} (${backend.kernels} kernels, ${backend.threads} thread(s), asked '${opts.backend}'); load average ${loadBefore.join(' ')} on ${os.cpus().length} cores`);

const { dataset: pool } = fashionMnistPool();
const split = makeMIASplit(pool.size, { membersPerModel: opts.members, shadows: FULL_CONFIG.shadows, seed: opts.seed });
const members = pool.subset(split.members);
const audit = pool.subset([...split.members, ...split.nonMembers]);
const keeps = liraKeepMasks(audit.size, opts.pairs, opts.seed); // the first masks of the full run's LiRA (same seed)
const referenceSets = keeps.map((keep) => {
  const idx = [];
  keep.forEach((k, j) => k && idx.push(j));
  return audit.subset(idx);
});
const baselineWork = trainingWork(members.size, recipe);
const referenceWork = trainingWork(referenceSets[0].size, recipe);
const work = (w) => `${w.examples} examples × ${w.epochs} epochs (batch ${w.batchSize}) = ${w.steps} steps`;
console.log(`MLP 784-${hidden.join('-')}-10; baseline: ${work(baselineWork)}; LiRA reference: ${work(referenceWork)} (audit pool ${audit.size})`);

async function train(data, seed) {
  const model = mlp({ inputShape: [784], hidden, numClasses: 10, seed });
  const t = await trainClassifier({ model, data, recipe, plugins: [], seed });
  t.model.dispose();
  return { seconds: t.seconds };
}

const warm = await train(members, Rng.derive(opts.seed, 'vanilla', 'warmup').nextUint32());
console.log(`warm-up model (not counted): ${warm.seconds.toFixed(2)} s`);
const tensorsAfterWarmup = tf.memory().numTensors;

const pairs = [];
for (let k = 0; k < opts.pairs; k++) {
  const { pair } = await timePair(
    k,
    () => train(members, Rng.derive(opts.seed, 'vanilla', 'benchmark', k).nextUint32()),
    () => train(referenceSets[k], Rng.derive(opts.seed, 'vanilla', 'lira', k).nextUint32()),
  );
  pairs.push(pair);
  console.log(`pair ${k + 1}/${opts.pairs} (${pairOrder(k)}): baseline ${pair.baselineSeconds.toFixed(2)} s, LiRA reference ${pair.referenceSeconds.toFixed(2)} s, ratio ${pair.ratio.toFixed(3)}`);
}
const summary = summarizeTimingPairs(pairs);
const loadAfter = load();
console.log(`median baseline ${summary.medianBaselineSeconds.toFixed(2)} s, median reference ${summary.medianReferenceSeconds.toFixed(2)} s; median of per-pair ratios ${summary.medianRatio.toFixed(3)} (range ${summary.minRatio.toFixed(3)}–${summary.maxRatio.toFixed(3)}), ratio of medians ${summary.ratioOfMedians.toFixed(3)}; load average ${loadAfter.join(' ')}`);
console.log(`lira_reference_time_ratio=${summary.medianRatio.toFixed(3)}`);

const result = {
  benchmark: 'privacy/lira-reference-time',
  date: new Date().toISOString(),
  node: process.version,
  backend,
  cores: os.cpus().length,
  loadAverage: { before: loadBefore, after: loadAfter },
  config: { seed: opts.seed, members: opts.members, hidden, recipe },
  baselineWork,
  referenceWork,
  warmupSeconds: warm.seconds,
  tensorsLeaked: tf.memory().numTensors - tensorsAfterWarmup,
  pairs,
  summary,
  lira_reference_time_ratio: summary.medianRatio,
};
mkdirSync(path.dirname(opts.json), { recursive: true });
writeFileSync(opts.json, JSON.stringify(result, null, 2));
console.log(`wrote ${opts.json}`);
