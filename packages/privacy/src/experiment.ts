import * as tf from '@tensorflow/tfjs-core';
import {
  applyParams, check, claim, experimentSeeds, meanStd, mlp, Rng, RunRecord, TrellisError,
  type Claim, type Dataset, type ExperimentOptions, type ExperimentResult, type ModelAdapter, type ParamRule, type ParamSchema, type StudyJournal, type TechniqueExperiment, type TrainerPlugin,
} from '@trellis-ml/core';
import { median, summarizeTimingPairs, timePair, trainingWork, type TimingPair, type TimingSummary, type TrainingWork } from './benchmark.js';
import { featureNormDisparity, membershipLabels, metricAttackSuite, scoreAttack, type AttackResult, type FeatureNormDisparity } from './audit.js';
import { checkNoSharedExamples, fashionMnistPool } from './data.js';
import { liraLeaveOneOut, type LiraReference } from './lira.js';
import { rmiaLeaveOneOut, type PooledRmia, type RmiaReference } from './rmia.js';
import { crl, labelSmoothing, relaxLoss, srcm } from './plugin.js';
import { trainClassifier, SPEC_RECIPE, type TrainingRecipe } from './recipe.js';
import { ShadowModelAttack } from './shadowAttack.js';
import { computeSignals, concatSignals, type Signals } from './signals.js';
import { liraKeepMasks, makeMIASplit, type MIASplit } from './split.js';
import { ringOccupancy, SRCM_TAPS } from './srcm.js';

/** A method of the study: a name and the plugins that make it (fresh ones per model). */
export interface StudyMethod {
  id: string;
  label: string;
  plugins: () => TrainerPlugin[];
  /** Tap whose norm is the feature-magnitude disparity (default: the MLP's last hidden layer). */
  featureTap: string;
}

/** Settings of a privacy study (quick and full presets below; `--set key=value` overrides). */
export interface PrivacyStudyConfig {
  /** Members per model N (non-members per model = N). */
  members: number;
  /** Shadow models per method and seed (their outputs calibrate the thresholds and train the NN attack). */
  shadows: number;
  recipe: TrainingRecipe;
  hidden: number[];
  /** α of RelaxLoss and CRL (equal, to compare them). */
  alpha: number;
  /** Methods to train, by id. */
  methods: string[];
  /** LiRA models M (leave-one-out: M − 1 reference models per target): 0 = no LiRA, else 3 or more (online LiRA needs 2 references per target). */
  liraModels: number;
  /** Methods audited with LiRA (first seed only). */
  liraMethods: string[];
  /** Epochs of the shadow NN attack's training. */
  attackEpochs: number;
  /** Batch size of the shadow NN attack's training (the spec's 256; smaller for small shadow sets). */
  attackBatchSize: number;
  /**
   * Timing benchmark: for the first LiRA method, this many of its reference models are each paired
   * with one baseline training run of the same method (same recipe, on the target's N members)
   * trained right before or after it (alternating), so the two are timed under the same load. 0 = off.
   */
  benchmarkPairs: number;
  /**
   * RMIA: population points (drawn from the pool outside the target and shadow halves, so no model
   * trained on them) that every LiRA model is also scored on; RMIA then runs on the same models as
   * LiRA. 0 = no RMIA.
   */
  rmiaPopulation: number;
}

/** `--quick`: a half-width MLP (784-256-128-10), N = 500, 30 epochs at batch 32 (enough steps to overfit), α = 0.3, one shadow, LiRA and RMIA with 4 models (3 references per target; RMIA against 1 000 population points) on the vanilla MLP, 2 interleaved timing pairs. */
export const QUICK_CONFIG: PrivacyStudyConfig = {
  members: 500, shadows: 1, recipe: { ...SPEC_RECIPE, epochs: 30, batchSize: 32 }, hidden: [256, 128], alpha: 0.3,
  methods: ['vanilla', 'label-smoothing', 'relaxloss', 'crl', 'srcm'], liraModels: 4, liraMethods: ['vanilla'], attackEpochs: 30, attackBatchSize: 32, benchmarkPairs: 2, rmiaPopulation: 1000,
};

/** `--full`: the spec's §6 reproduction — N = 2 500, 80 epochs, 3 seeds, LiRA and RMIA with 9 models (8 references per target; RMIA against 5 000 population points) on vanilla and CRL, 5 interleaved timing pairs. */
export const FULL_CONFIG: PrivacyStudyConfig = {
  members: 2500, shadows: 1, recipe: SPEC_RECIPE, hidden: [512, 256], alpha: 0.3,
  methods: ['vanilla', 'label-smoothing', 'relaxloss', 'crl', 'srcm'], liraModels: 9, liraMethods: ['vanilla', 'crl'], attackEpochs: 100, attackBatchSize: 256, benchmarkPairs: 5, rmiaPopulation: 5000,
};

/** The study's methods with the spec's settings (CRL's other hyper-parameters at their §2.5 defaults). */
export function studyMethods(config: Pick<PrivacyStudyConfig, 'alpha'>): StudyMethod[] {
  const fc = 'fc2';
  return [
    { id: 'vanilla', label: 'vanilla (CE)', plugins: () => [], featureTap: fc },
    { id: 'label-smoothing', label: 'label smoothing ε=0.1 (negative control)', plugins: () => [labelSmoothing({ epsilon: 0.1 })], featureTap: fc },
    { id: 'relaxloss', label: `RelaxLoss (kimlab) α=${config.alpha}`, plugins: () => [relaxLoss({ alpha: config.alpha })], featureTap: fc },
    { id: 'crl', label: `CRL α=${config.alpha}, t=0.1, α_c=0.1, t_c=1, λ=0.5, lr_c=0.5`, plugins: () => [crl({ alpha: config.alpha, featureTap: fc })], featureTap: fc },
    { id: 'srcm', label: 'SRCM r=15, d=5 (reconstruction, CE)', plugins: () => [srcm({ radius: 15, width: 5 })], featureTap: SRCM_TAPS.fea },
    { id: 'srcm-relaxloss', label: `SRCM r=5, d=1 + RelaxLoss α=${config.alpha}`, plugins: () => [srcm({ radius: 5, width: 1 }), relaxLoss({ alpha: config.alpha })], featureTap: SRCM_TAPS.fea },
  ];
}

/** One method's figures on one seed. */
export interface MethodRun {
  method: string;
  seed: number;
  trainAcc: number;
  testAcc: number;
  attacks: AttackResult[];
  featureNorm: FeatureNormDisparity | null;
  ring?: { inner: number; inside: number; outer: number };
  trainSeconds: number;
  /** Training times of the shadow models (same recipe and N; timed after the target, so without warm-up). */
  shadowSeconds: number[];
}

/** The interleaved timing of LiRA reference models against baseline runs of the same method. */
export interface LiraBenchmark {
  method: string;
  /** Work of one baseline run (the method trained on the target's members). */
  baselineWork: TrainingWork;
  /** Work of one reference model (the method trained on its half of the audit pool). */
  referenceWork: TrainingWork;
  pairs: TimingPair[];
  summary: TimingSummary;
}

/** LiRA on one method: pooled results per variant and the per-model timing. */
export interface LiraRun {
  method: string;
  models: number;
  referencesPerTarget: number;
  results: AttackResult[];
  meanModelSeconds: number;
  medianModelSeconds: number;
  /** The interleaved timing benchmark (first LiRA method only, when `benchmarkPairs` > 0). */
  benchmark?: LiraBenchmark;
  /** RMIA's settings on the same models (when `rmiaPopulation` > 0): population size, γ, and the offline `a` tuned per target. */
  rmia?: { population: number; gamma: number; offlineA: number[] };
}

function accuracyOf(s: Signals): number {
  return s.correct.reduce((a, b) => a + b, 0) / Math.max(1, s.correct.length);
}

/** The study's method ids (what `--set methods=…` and `--set liraMethods=…` accept). */
const METHOD_IDS = studyMethods({ alpha: 0 }).map((m) => m.id);

/** What each `--set` key of the study accepts (checked before anything runs). */
const PARAM_RULES: Record<string, ParamRule> = {
  members: { integer: true, min: 1 }, shadows: { integer: true, min: 1 }, epochs: { integer: true, min: 1 }, lr: { above: 0 },
  batchSize: { integer: true, min: 1 }, weightDecay: { min: 0 }, alpha: { above: 0 }, liraModels: { integer: true, min: 0 },
  attackEpochs: { integer: true, min: 1 }, attackBatchSize: { integer: true, min: 1 }, benchmarkPairs: { integer: true, min: 0 }, rmiaPopulation: { integer: true, min: 0 },
  methods: { choices: METHOD_IDS, minLength: 1 }, liraMethods: { type: 'string[]', choices: METHOD_IDS },
};

/** The `--set` view of a configuration: the recipe's keys beside the study's. */
function flatDefaults(base: PrivacyStudyConfig) {
  const { recipe } = base;
  return {
    members: base.members, shadows: base.shadows, epochs: recipe.epochs, lr: recipe.lr, batchSize: recipe.batchSize, weightDecay: recipe.weightDecay,
    alpha: base.alpha, liraModels: base.liraModels, attackEpochs: base.attackEpochs, attackBatchSize: base.attackBatchSize,
    benchmarkPairs: base.benchmarkPairs, rmiaPopulation: base.rmiaPopulation, methods: base.methods, liraMethods: base.liraMethods,
  };
}

/** The study's `--set` keys in a mode: defaults and what each accepts. */
export function privacyParameters(mode: ExperimentOptions['mode']): ParamSchema {
  return { defaults: flatDefaults(mode === 'full' ? FULL_CONFIG : QUICK_CONFIG), rules: PARAM_RULES };
}

/**
 * The study's configuration for a mode with its `--set` overrides (`epochs`, `lr`, `batchSize` and
 * `weightDecay` set the training recipe): unknown keys, non-numbers, out-of-range values and unknown
 * method ids are `UNKNOWN_PARAM` / `BAD_PARAM` errors before anything is trained.
 */
export function resolvePrivacyConfig(mode: ExperimentOptions['mode'], params: ExperimentOptions['params']): PrivacyStudyConfig {
  const base = mode === 'full' ? FULL_CONFIG : QUICK_CONFIG;
  const { recipe } = base;
  const flat = applyParams(flatDefaults(base), params, { technique: 'privacy', rules: PARAM_RULES });
  check(flat.liraModels !== 1, 'BAD_PARAM', 'privacy: --set liraModels=1 leaves LiRA no reference model', 'pass --set liraModels=0 (no LiRA) or 3 or more (leave-one-out: M − 1 references per target)');
  // online LiRA (and offline RMIA's tuned a) need two references per target: with 2 models every model would train, then the audit fail
  check(flat.liraModels !== 2, 'BAD_PARAM', 'privacy: --set liraModels=2 leaves each target one reference model, which online LiRA cannot use (an example needs an IN and an OUT reference)',
    'pass --set liraModels=0 (no LiRA) or 3 or more (leave-one-out: M − 1 references per target)');
  const { epochs, lr, batchSize, weightDecay, ...rest } = flat;
  return { ...base, ...rest, recipe: { ...recipe, epochs, lr, batchSize, weightDecay } };
}

async function trainMethod(method: StudyMethod, data: Dataset, config: PrivacyStudyConfig, seed: number, label: string, progress: boolean): Promise<{ model: ModelAdapter; seconds: number }> {
  const model = mlp({ inputShape: [784], hidden: config.hidden, numClasses: 10, seed });
  const trained = await trainClassifier({ model, data, recipe: config.recipe, plugins: method.plugins(), seed, label, progress });
  return { model: trained.model, seconds: trained.seconds };
}

/**
 * Runs the study: for each seed, one target/shadow split of the deduplicated Fashion-MNIST pool;
 * each method trains a target and its shadows on it; metric attacks (global and per-class
 * thresholds from the shadows), the shadow NN attack, feature-norm disparity; then LiRA
 * (leave-one-out over M models on the first seed's audit pool) for the LiRA methods.
 */
export async function runPrivacyStudy(config: PrivacyStudyConfig, seeds: number[], hooks: { log: (s: string) => void; progress: boolean; record?: RunRecord; journal?: StudyJournal }): Promise<{ runs: MethodRun[]; lira: LiraRun[]; poolSize: number; duplicatesRemoved: number }> {
  const all = studyMethods(config);
  const methods = config.methods.map((id) => {
    const m = all.find((x) => x.id === id);
    if (!m) throw new TrellisError('UNKNOWN_METHOD', `no method "${id}"`, `use some of ${all.map((x) => x.id).join(', ')}`);
    return m;
  });
  const { dataset: pool, removed } = fashionMnistPool();
  hooks.log(`privacy: pool of ${pool.size} Fashion-MNIST images (${removed} duplicates removed), N = ${config.members}, ${config.recipe.epochs} epochs, backend ${tf.getBackend()}`);
  const left = pool.size - (config.shadows > 0 ? 4 : 2) * config.members;
  check(config.liraModels === 0 || config.rmiaPopulation <= left, 'BAD_PARAM', () => `privacy: --set rmiaPopulation=${config.rmiaPopulation} asks for more population points than the ${Math.max(0, left)} left outside the target and shadow halves`,
    `pass --set rmiaPopulation=${Math.max(0, Math.min(5000, left))} or less (0 = no RMIA)`);
  const runs: MethodRun[] = [];
  const lira: LiraRun[] = [];
  const collect = (key: string, bins: Record<string, unknown[]>, work: () => Promise<void>): Promise<unknown> => (hooks.journal ? hooks.journal.collect(key, bins, work) : work());
  for (const [si, seed] of seeds.entries()) {
    const split: MIASplit = makeMIASplit(pool.size, { membersPerModel: config.members, shadows: config.shadows, seed });
    const members = pool.subset(split.members);
    const nonMembers = pool.subset(split.nonMembers);
    checkNoSharedExamples(members, nonMembers);
    for (const method of methods) {
      // each (seed, method) is a unit of the run's journal: an interrupted study resumes after the last finished one
      await collect(`seed ${seed} ${method.id}`, { runs }, async () => {
        const t = await trainMethod(method, members, config, Rng.derive(seed, method.id, 'target').nextUint32(), `${method.id} target s${seed}`, hooks.progress);
        const tIn = computeSignals(t.model, members, { featureTap: method.featureTap });
        const tOut = computeSignals(t.model, nonMembers, { featureTap: method.featureTap });
        t.model.dispose();
        const sIn: Signals[] = [];
        const sOut: Signals[] = [];
        const shadowSeconds: number[] = [];
        for (const [i, sh] of split.shadows.entries()) {
          const shIn = pool.subset(sh.members);
          const shOut = pool.subset(sh.nonMembers);
          const s = await trainMethod(method, shIn, config, Rng.derive(seed, method.id, 'shadow', i).nextUint32(), `${method.id} shadow${i} s${seed}`, hooks.progress);
          shadowSeconds.push(s.seconds);
          sIn.push(computeSignals(s.model, shIn));
          sOut.push(computeSignals(s.model, shOut));
          s.model.dispose();
        }
        const attacks = metricAttackSuite({ targetIn: tIn, targetOut: tOut, shadowIn: sIn, shadowOut: sOut });
        const nn = new ShadowModelAttack({ seed: Rng.derive(seed, method.id, 'nn').nextUint32(), recipe: { epochs: config.attackEpochs, batchSize: config.attackBatchSize } });
        await nn.fit(sIn, sOut);
        const target = concatSignals([tIn, tOut]);
        const nnScores = nn.score(target);
        nn.dispose();
        attacks.push(scoreAttack('shadow-nn', nnScores, membershipLabels(tIn.labels.length, tOut.labels.length), nnScores.map((p) => (p >= 0.5 ? 1 : 0))));
        const run: MethodRun = {
          method: method.id, seed, trainAcc: accuracyOf(tIn), testAcc: accuracyOf(tOut), attacks,
          featureNorm: featureNormDisparity(tIn, tOut), trainSeconds: t.seconds, shadowSeconds,
        };
        if (method.featureTap === SRCM_TAPS.fea && tIn.featureNorm && tOut.featureNorm) {
          const cfgR = method.id === 'srcm' ? { r: 15, d: 5 } : { r: 5, d: 1 };
          run.ring = ringOccupancy([...tIn.featureNorm, ...tOut.featureNorm], cfgR.r, cfgR.d);
        }
        runs.push(run);
        const loss = attacks.find((a) => a.attack === 'loss')!;
        const mentr = attacks.find((a) => a.attack === 'modifiedEntropy')!;
        hooks.log(`  seed ${seed} ${method.id}: train ${(run.trainAcc * 100).toFixed(1)} test ${(run.testAcc * 100).toFixed(1)} AUC(loss) ${loss.auc.toFixed(3)} BA(Mentr) ${mentr.balancedAccuracy?.toFixed(3)} NN ${attacks[attacks.length - 1]!.balancedAccuracy?.toFixed(3)} normAUC ${run.featureNorm?.auc.toFixed(3)} (${t.seconds.toFixed(1)} s)`);
        await hooks.record?.logMetrics({ kind: 'method', ...run, attacks: attacks.map(({ roc: _roc, ...a }) => a) });
      });
    }
    if (si === 0 && config.liraModels > 0) {
      const audit = pool.subset([...split.members, ...split.nonMembers]);
      const keeps = liraKeepMasks(audit.size, config.liraModels, seed);
      const population = config.rmiaPopulation > 0 ? pool.subset(split.population.slice(0, config.rmiaPopulation)) : null;
      for (const [li, id] of config.liraMethods.entries()) {
        await collect(`seed ${seed} LiRA ${id}`, { lira }, async () => {
          const method = methods.find((m) => m.id === id) ?? all.find((m) => m.id === id);
          if (!method) throw new TrellisError('UNKNOWN_METHOD', `no LiRA method "${id}"`, `use some of ${all.map((x) => x.id).join(', ')}`);
          const models: LiraReference[] = [];
          const rmiaModels: RmiaReference[] = [];
          const lossScores: number[] = [];
          const lossMember: number[] = [];
          const times: number[] = [];
          const nPairs = li === 0 ? Math.min(config.benchmarkPairs, keeps.length) : 0;
          const pairs: TimingPair[] = [];
          let referenceWork: TrainingWork | null = null;
          for (const [m, keep] of keeps.entries()) {
            const idx: number[] = [];
            keep.forEach((k, j) => k && idx.push(j));
            const refData = audit.subset(idx);
            referenceWork ??= trainingWork(refData.size, config.recipe);
            const trainReference = () => trainMethod(method, refData, config, Rng.derive(seed, method.id, 'lira', m).nextUint32(), `${method.id} lira${m} s${seed}`, hooks.progress);
            let r: { model: ModelAdapter; seconds: number };
            if (m < nPairs) {
              // a baseline run of the same method on the target's members, back to back with this reference model
              const trainBaseline = async () => {
                const b = await trainMethod(method, members, config, Rng.derive(seed, method.id, 'benchmark', m).nextUint32(), `${method.id} baseline${m} s${seed}`, hooks.progress);
                b.model.dispose();
                return { seconds: b.seconds };
              };
              const timed = await timePair(m, trainBaseline, trainReference);
              pairs.push(timed.pair);
              r = timed.reference;
              hooks.log(`  timing pair ${m + 1}/${nPairs} (${timed.pair.order}): baseline ${timed.pair.baselineSeconds.toFixed(1)} s, reference ${timed.pair.referenceSeconds.toFixed(1)} s, ratio ${timed.pair.ratio.toFixed(2)}`);
            } else r = await trainReference();
            times.push(r.seconds);
            const s = computeSignals(r.model, audit);
            if (population) rmiaModels.push({ prob: s.confidence, keep, populationProb: computeSignals(r.model, population).confidence });
            r.model.dispose();
            models.push({ phi: s.scaledLogit, keep });
            s.loss.forEach((l, j) => {
              lossScores.push(-l);
              lossMember.push(keep[j]!);
            });
            hooks.log(`  LiRA ${method.id} model ${m + 1}/${keeps.length} (${r.seconds.toFixed(1)} s)`);
          }
          const results: AttackResult[] = [];
          for (const [name, opts] of [
            ['lira-online', { mode: 'online' }], ['lira-online-fixed', { mode: 'online', fixedVariance: true }],
            ['lira-offline', { mode: 'offline' }], ['lira-offline-fixed', { mode: 'offline', fixedVariance: true }],
          ] as const) {
            const pooled = liraLeaveOneOut(models, opts);
            results.push(scoreAttack(name, pooled.scores, pooled.isMember));
          }
          let rmia: LiraRun['rmia'];
          if (population) {
            // γ = 1 (ML Privacy Meter's default); offline a tuned per target on two of its references (the paper's protocol)
            results.push(scoreAttack('rmia-online', ...pooledRmia(rmiaLeaveOneOut(rmiaModels, { mode: 'online' }))));
            const offline = rmiaLeaveOneOut(rmiaModels, { mode: 'offline', offlineA: 'tune' });
            results.push(scoreAttack('rmia-offline', ...pooledRmia(offline)));
            results.push(scoreAttack('rmia-offline-1ref', ...pooledRmia(rmiaLeaveOneOut(rmiaModels, { mode: 'offline', offlineA: 'tune', references: 1 }))));
            rmia = { population: population.size, gamma: 1, offlineA: offline.offlineA };
          }
          results.push(scoreAttack('loss (pooled)', lossScores, lossMember));
          const run: LiraRun = { method: method.id, models: keeps.length, referencesPerTarget: keeps.length - 1, results, meanModelSeconds: times.reduce((a, b) => a + b, 0) / times.length, medianModelSeconds: median(times), ...(rmia ? { rmia } : {}) };
          if (pairs.length && referenceWork) {
            run.benchmark = { method: method.id, baselineWork: trainingWork(members.size, config.recipe), referenceWork, pairs, summary: summarizeTimingPairs(pairs) };
          }
          lira.push(run);
          hooks.log(`  LiRA ${method.id}: ${results.map((r) => `${r.attack} AUC ${r.auc.toFixed(3)} TPR@0.1% ${r.tprAt01pct === null ? 'n/a' : (r.tprAt01pct * 100).toFixed(2) + '%'}`).join('; ')}`);
          await hooks.record?.logMetrics({ kind: 'lira', ...run, results: results.map(({ roc: _roc, ...a }) => a) });
        });
      }
    }
  }
  return { runs, lira, poolSize: pool.size, duplicatesRemoved: removed };
}

const pooledRmia = (p: PooledRmia): [Float64Array, Uint8Array] => [p.scores, p.isMember];

/** The report's note on RMIA's settings (empty when no LiRA run scored RMIA). */
function rmiaText(lira: LiraRun[]): string {
  const runs = lira.filter((l) => l.rmia);
  if (!runs.length) return '';
  return ` RMIA scores the same models against ${runs[0]!.rmia!.population} population points no model trained on, with γ = ${runs[0]!.rmia!.gamma}; offline RMIA tunes a per target on two of its references (grid 0, 0.1, …, 1), and rmia-offline-1ref uses one reference model only. Tuned a: ${runs.map((l) => `${l.method} ${l.rmia!.offlineA.join(', ')}`).join('; ')}.`;
}

// ------------------------------------------------------------------------------------------ claims

function pick(runs: MethodRun[], method: string, f: (r: MethodRun) => number | null | undefined): number[] {
  return runs.filter((r) => r.method === method).map(f).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
}
const attackOf = (name: string) => (r: MethodRun) => r.attacks.find((a) => a.attack === name);
const lossAuc = (r: MethodRun) => attackOf('loss')(r)?.auc;
const mentrBa = (r: MethodRun) => attackOf('modifiedEntropy')(r)?.balancedAccuracy;

function fmtMs(values: number[], digits = 3): string {
  const { mean, std } = meanStd(values);
  return `${mean.toFixed(digits)} ± ${std.toFixed(digits)} over ${values.length} seed(s)`;
}

/** Paired per-seed differences a − b of two methods. */
function paired(runs: MethodRun[], a: string, b: string, f: (r: MethodRun) => number | null | undefined): number[] {
  const out: number[] = [];
  for (const ra of runs.filter((r) => r.method === a)) {
    const rb = runs.find((r) => r.method === b && r.seed === ra.seed);
    const va = f(ra);
    const vb = rb ? f(rb) : undefined;
    // rounded to 1e-9 so a float artefact (0.838 − 0.828 = 0.010000000000000009) does not decide a claim
    if (typeof va === 'number' && typeof vb === 'number') out.push(Math.round((va - vb) * 1e9) / 1e9);
  }
  return out;
}

/** The claims of issue 4's "done when" and the spec's §6.4 acceptance, computed from a study. */
export function privacyClaims(runs: MethodRun[], lira: LiraRun[], seeds: number[], config: PrivacyStudyConfig): Claim[] {
  const claims: Claim[] = [];
  const has = (m: string) => runs.some((r) => r.method === m);
  const mean = (v: number[]) => meanStd(v).mean;
  const full = config.members === FULL_CONFIG.members && config.recipe.epochs === FULL_CONFIG.recipe.epochs;
  const scale = full ? '' : ` [this run: N=${config.members}, ${config.recipe.epochs} epochs; the spec's numbers are for N=2500, 80 epochs]`;
  if (has('vanilla')) {
    const auc = pick(runs, 'vanilla', lossAuc);
    claims.push(claim('baseline-leaks', 'the undefended MLP leaks: loss-attack AUC ≥ 0.57 (spec §6.4 acceptance)', mean(auc), '>=', 0.57, seeds, fmtMs(auc)));
    const gap = pick(runs, 'vanilla', (r) => r.trainAcc - r.testAcc);
    claims.push(claim('baseline-gap', 'the undefended MLP overfits: train − test accuracy ≥ 0.10', mean(gap), '>=', 0.1, seeds, fmtMs(gap)));
    claims.push(claim('baseline-near-spec-auc', `vanilla loss-AUC within ±0.015 of the spec's 0.576${scale}`, Math.abs(mean(auc) - 0.576), '<=', 0.015, seeds, `AUC ${fmtMs(auc)}`));
    const acc = pick(runs, 'vanilla', (r) => r.testAcc);
    claims.push(claim('baseline-near-spec-acc', `vanilla test accuracy within ±1.5 pt of the spec's 85.1 %${scale}`, Math.abs(mean(acc) - 0.851), '<=', 0.015, seeds, `test acc ${fmtMs(acc)}`));
  }
  if (has('vanilla') && has('crl')) {
    const dAuc = paired(runs, 'vanilla', 'crl', lossAuc);
    claims.push(claim('crl-lowers-loss-auc', 'CRL lowers the loss-attack AUC below the baseline\'s (vanilla − CRL > 0)', mean(dAuc), '>', 0, seeds, `per seed: ${dAuc.map((v) => v.toFixed(3)).join(', ')}`));
    claims.push(claim('crl-auc-drop-spec', 'CRL cuts the loss-attack AUC by ≥ 0.025 (spec §6.4 acceptance)', mean(dAuc), '>=', 0.025, seeds));
    const dBa = paired(runs, 'vanilla', 'crl', mentrBa);
    claims.push(claim('crl-lowers-ba', 'CRL lowers the balanced accuracy of the modified-entropy attack (global shadow threshold) below the baseline\'s', mean(dBa), '>', 0, seeds, `per seed: ${dBa.map((v) => v.toFixed(3)).join(', ')}`));
    const dAcc = paired(runs, 'vanilla', 'crl', (r) => r.testAcc);
    claims.push(claim('crl-accuracy-cost', 'CRL costs ≤ 1 point of test accuracy (vanilla − CRL)', mean(dAcc), '<=', 0.01, seeds, `per seed: ${dAcc.map((v) => (v * 100).toFixed(1) + ' pt').join(', ')}`));
    const crlAuc = pick(runs, 'crl', lossAuc);
    if (config.alpha === 0.3) claims.push(claim('crl-near-spec-auc', `CRL α=0.3 loss-AUC within ±0.015 of the spec's 0.544${scale}`, Math.abs(mean(crlAuc) - 0.544), '<=', 0.015, seeds, `AUC ${fmtMs(crlAuc)}`));
  }
  if (has('vanilla') && has('relaxloss')) {
    const d = paired(runs, 'vanilla', 'relaxloss', lossAuc);
    claims.push(claim('relaxloss-lowers-loss-auc', 'RelaxLoss cuts the loss-attack AUC by ≥ 0.025 (spec §6.4)', mean(d), '>=', 0.025, seeds, `per seed: ${d.map((v) => v.toFixed(3)).join(', ')}`));
  }
  if (has('crl') && has('relaxloss')) {
    const d = paired(runs, 'relaxloss', 'crl', lossAuc);
    claims.push(claim('crl-le-relaxloss', 'at equal α, CRL\'s loss-AUC ≤ RelaxLoss\' (RelaxLoss − CRL ≥ 0; spec: 0.544 vs 0.550)', mean(d), '>=', 0, seeds, `per seed: ${d.map((v) => v.toFixed(3)).join(', ')}`));
  }
  if (has('vanilla') && has('srcm')) {
    const d = paired(runs, 'vanilla', 'srcm', (r) => r.testAcc);
    claims.push(claim('srcm-accuracy', 'SRCM keeps test accuracy within 1 point of vanilla (absolute difference vanilla − SRCM)', Math.abs(mean(d)), '<=', 0.01, seeds, `per seed: ${d.map((v) => (v * 100).toFixed(1) + ' pt').join(', ')}`));
  }
  if (has('vanilla') && has('label-smoothing')) {
    const d = paired(runs, 'label-smoothing', 'vanilla', lossAuc);
    claims.push(claim('label-smoothing-negative-control', 'label smoothing does not protect: its loss-AUC ≥ vanilla\'s (spec: +0.06)', mean(d), '>=', 0, seeds, `per seed: ${d.map((v) => v.toFixed(3)).join(', ')}`));
  }
  const lv = lira.find((l) => l.method === 'vanilla');
  if (lv) {
    claims.push(claim('lira-runs', 'LiRA (online/offline, fixed-variance option) ran end to end with ≥ 8 reference models per target', lv.referencesPerTarget, '>=', 8, [seeds[0]!], `${lv.models} models, leave-one-out; pooled ${lv.results[0]!.members} IN / ${lv.results[0]!.nonMembers} OUT scores`));
    const online = lv.results.find((r) => r.attack === 'lira-online-fixed')!;
    const loss = lv.results.find((r) => r.attack === 'loss (pooled)')!;
    claims.push(claim('lira-beats-loss', 'LiRA (online, fixed variance) AUC ≥ the loss attack\'s on the same pooled scores (spec §6.5: expected, not calibrated)', online.auc - loss.auc, '>=', 0, [seeds[0]!], `LiRA ${online.auc.toFixed(3)} vs loss ${loss.auc.toFixed(3)}`));
    const rmiaOnline = lv.results.find((r) => r.attack === 'rmia-online');
    const rmiaOffline = lv.results.find((r) => r.attack === 'rmia-offline');
    if (rmiaOnline && rmiaOffline && lv.rmia) {
      claims.push(claim('rmia-beats-loss', `RMIA (online, γ = ${lv.rmia.gamma}) AUC ≥ the loss attack's on the same pooled scores (spec §5.2, §6.5: expected, not calibrated)`, rmiaOnline.auc - loss.auc, '>=', 0, [seeds[0]!],
        `RMIA ${rmiaOnline.auc.toFixed(3)} vs loss ${loss.auc.toFixed(3)}; ${lv.rmia.population} population points`));
      const liraOffline = lv.results.find((r) => r.attack === 'lira-offline-fixed')!;
      claims.push(claim('rmia-offline-beats-lira-offline', 'offline RMIA (a tuned on two reference models) AUC ≥ offline LiRA\'s (fixed variance) on the same OUT-only references: the RMIA paper\'s claim for cheap, reference-poor audits', rmiaOffline.auc - liraOffline.auc, '>=', 0, [seeds[0]!],
        `RMIA offline ${rmiaOffline.auc.toFixed(3)} (a per target: ${lv.rmia.offlineA.join(', ')}) vs LiRA offline ${liraOffline.auc.toFixed(3)}`));
    }
  }
  const bench = lira.find((l) => l.benchmark)?.benchmark;
  if (bench) {
    const { summary: t, baselineWork: bw, referenceWork: rw } = bench;
    const work = (w: TrainingWork) => `${w.examples} examples × ${w.epochs} epochs = ${w.steps} steps`;
    claims.push(claim('benchmark-lira-reference-time',
      `benchmark: one LiRA reference model costs ≈ 1× one baseline training run of the same method (${bench.method}) — median over ${t.pairs} interleaved pairs of the ratio reference / baseline fit wall-clock, each pair trained back to back (alternating which goes first), after warm-up; holds when the ratio is within 1 ± 0.25`,
      Math.abs(t.medianRatio - 1), '<=', 0.25, [seeds[0]!],
      `median ratio ${t.medianRatio.toFixed(2)} (range ${t.minRatio.toFixed(2)}–${t.maxRatio.toFixed(2)}); ${t.medianReferenceSeconds.toFixed(1)} s per reference model vs ${t.medianBaselineSeconds.toFixed(1)} s per baseline run; reference ${work(rw)}, baseline ${work(bw)}, same recipe`));
  }
  const lc = lira.find((l) => l.method === 'crl');
  if (lv && lc) {
    const a = lv.results.find((r) => r.attack === 'lira-online-fixed')!.auc;
    const b = lc.results.find((r) => r.attack === 'lira-online-fixed')!.auc;
    claims.push(claim('lira-same-ranking', 'the defense ranking under LiRA matches the loss attack: LiRA AUC of CRL < vanilla\'s', a - b, '>', 0, [seeds[0]!], `vanilla ${a.toFixed(3)}, CRL ${b.toFixed(3)}`));
  }
  return claims;
}

// ------------------------------------------------------------------------------------------ report

const pct = (v: number | null | undefined) => (v === null || v === undefined ? null : Number((v * 100).toFixed(2)));
const r3 = (v: number | null | undefined) => (v === null || v === undefined ? null : Number(v.toFixed(4)));

function summaryRows(runs: MethodRun[], methods: string[]): Array<Array<string | number | null>> {
  return methods.filter((m) => runs.some((r) => r.method === m)).map((m) => {
    const rs = runs.filter((r) => r.method === m);
    const ms = (f: (r: MethodRun) => number | null | undefined, scale = 1) => {
      const v = rs.map(f).filter((x): x is number => typeof x === 'number');
      if (!v.length) return null;
      const { mean, std } = meanStd(v);
      return rs.length > 1 ? `${(mean * scale).toFixed(scale === 100 ? 1 : 3)} ± ${(std * scale).toFixed(scale === 100 ? 1 : 3)}` : Number((mean * scale).toFixed(scale === 100 ? 2 : 4));
    };
    return [m, ms((r) => r.trainAcc, 100), ms((r) => r.testAcc, 100), ms(lossAuc), ms(mentrBa), ms((r) => attackOf('modifiedEntropy/class')(r)?.balancedAccuracy),
      ms((r) => attackOf('shadow-nn')(r)?.balancedAccuracy), ms((r) => attackOf('loss')(r)?.tprAt1pct, 100), ms((r) => r.featureNorm?.auc), rs.length] as Array<string | number | null>;
  });
}

/** The experiment behind `trellis privacy`. */
export const experiment: TechniqueExperiment = {
  name: 'privacy',
  parameters: privacyParameters,
  checkParams: (options) => void resolvePrivacyConfig(options.mode, options.params),
  resumable: true,
  description: 'Membership-inference defenses (CRL, RelaxLoss, SRCM) vs. threshold, shadow-NN, LiRA and RMIA attacks on a Fashion-MNIST MLP',
  async run(options: ExperimentOptions): Promise<ExperimentResult> {
    const log = options.log ?? ((s: string) => console.log(s));
    const config = resolvePrivacyConfig(options.mode, options.params);
    const seeds = experimentSeeds(options);
    const record = await RunRecord.create({
      out: options.out, name: 'privacy', seed: options.seed, config: { mode: options.mode, seeds, ...config }, packageOf: import.meta.url,
      ...(options.resume ? { resume: true } : {}),
    });
    const journal = await record.openJournal();
    if (journal.finished) log(`privacy: resuming ${record.dir}: ${journal.finished} finished seed × method and LiRA units are replayed from its journal`);
    const t0 = performance.now();
    const { runs, lira, poolSize, duplicatesRemoved } = await runPrivacyStudy(config, seeds, { log, progress: options.progress ?? false, record, journal });
    const claims = privacyClaims(runs, lira, seeds, config);
    const seconds = (performance.now() - t0) / 1000;
    const columns = ['method', 'train acc %', 'test acc %', 'AUC(loss)', 'BA(Mentr, global)', 'BA(Mentr, class)', 'BA(NN)', 'TPR@1%FPR(loss) %', 'feature-norm AUC', 'seeds'];
    const rows = summaryRows(runs, config.methods);
    const first = runs.filter((r) => r.seed === seeds[0]);
    const detailRows = first.flatMap((r) => r.attacks.map((a) => [r.method, a.attack, r3(a.auc), r3(a.balancedAccuracy), r3(a.oracleBalancedAccuracy), pct(a.tprAt1pct), pct(a.tprAt01pct), a.members, a.nonMembers]));
    const liraRows = lira.flatMap((l) => l.results.map((a) => [l.method, a.attack, l.referencesPerTarget, r3(a.auc), r3(a.oracleBalancedAccuracy), pct(a.tprAt1pct), pct(a.tprAt01pct), a.members, a.nonMembers]));
    const rocValues = first.flatMap((r) => (r.attacks.find((a) => a.attack === 'loss')?.roc ?? []).filter((p) => p.fpr > 0).map((p) => ({ method: r.method, fpr: p.fpr, tpr: p.tpr })));
    const liraRoc = lira.flatMap((l) => l.results.filter((a) => a.attack === 'lira-online-fixed' || a.attack === 'rmia-online' || a.attack === 'loss (pooled)').flatMap((a) => a.roc.filter((p) => p.fpr > 0).map((p) => ({ curve: `${l.method} ${a.attack}`, fpr: p.fpr, tpr: p.tpr }))));
    const rocPlot = (values: unknown[], color: string, title: string) => ({
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json', title, width: 420, height: 320,
      data: { values },
      layer: [
        { mark: { type: 'line', clip: true }, encoding: { x: { field: 'fpr', type: 'quantitative', scale: { type: 'log', domain: [1e-4, 1] }, title: 'false-positive rate' }, y: { field: 'tpr', type: 'quantitative', scale: { type: 'log', domain: [1e-4, 1] }, title: 'true-positive rate' }, color: { field: color, type: 'nominal' } } },
      ],
    });
    const summary = {
      mode: options.mode, seeds, seconds, poolSize, duplicatesRemoved, config,
      table: { columns, rows },
      methods: runs.map((r) => ({ ...r, attacks: r.attacks.map(({ roc: _roc, ...a }) => a) })),
      lira: lira.map((l) => ({ ...l, results: l.results.map(({ roc: _roc, ...a }) => a) })),
      claims,
    };
    const summaryPath = await record.writeSummary(summary);
    const reportPath = await record.writeReport({
      title: `trellis privacy — membership inference on Fashion-MNIST (${options.mode})`,
      intro: `Target and shadow models (MLP 784-${config.hidden.join('-')}-10, SGD momentum ${config.recipe.momentum}, LR ${config.recipe.lr} ×${config.recipe.gamma} at ${config.recipe.milestones.join('/')} of ${config.recipe.epochs} epochs, batch ${config.recipe.batchSize}, coupled weight decay ${config.recipe.weightDecay}) trained on N = ${config.members} members; ${config.members} non-members held out; ${config.shadows} shadow model(s) per method trained the same way on a disjoint shadow half. Pool: ${poolSize} deduplicated Fashion-MNIST images (${duplicatesRemoved} duplicates removed). Seeds ${seeds.join(', ')}; backend ${tf.getBackend()}; ${seconds.toFixed(0)} s. Thresholded balanced accuracies (BA) use thresholds fitted on the shadow models; "oracle BA" is the best threshold on the target itself (an upper bound). TPR at an FPR is reported only when at least 10/FPR non-members were scored (else —).`,
      claims,
      sections: [
        { title: 'Summary (mean ± std over seeds)', table: { columns, rows } },
        { title: `All attacks (seed ${seeds[0]})`, table: { columns: ['method', 'attack', 'AUC', 'BA (shadow thr.)', 'oracle BA', 'TPR@1%FPR %', 'TPR@0.1%FPR %', 'members', 'non-members'], rows: detailRows } },
        ...(lira.length ? [{ title: 'LiRA and RMIA (leave-one-out, pooled over targets)', text: `Each of M models, trained on a random half of the audit pool (target members ∪ non-members), is in turn the target; the other M − 1 are its reference models. Scores are pooled over targets, which is what makes TPR at 0.1 % FPR measurable.${rmiaText(lira)}`, table: { columns: ['method', 'attack', 'references per target', 'AUC', 'oracle BA', 'TPR@1%FPR %', 'TPR@0.1%FPR %', 'IN scores', 'OUT scores'], rows: liraRows }, plot: rocPlot(liraRoc, 'curve', 'LiRA and RMIA vs loss attack (pooled), log-log ROC') }] : []),
        ...lira.filter((l) => l.benchmark).map((l) => {
          const b = l.benchmark!;
          return {
            title: `LiRA reference-model time vs baseline run (${b.method}, interleaved)`,
            text: `Each pair trains one baseline run (${b.method} on the target's ${b.baselineWork.examples} members, ${b.baselineWork.steps} steps) and one LiRA reference model (${b.referenceWork.examples} examples of the audit pool, ${b.referenceWork.steps} steps) back to back, alternating which goes first, with the same recipe; times are the Trainer's fit wall-clock (evaluation untimed). Median ratio ${b.summary.medianRatio.toFixed(3)}; ratio of medians ${b.summary.ratioOfMedians.toFixed(3)}.`,
            table: { columns: ['pair', 'order', 'baseline s', 'reference s', 'ratio'], rows: b.pairs.map((p) => [p.pair + 1, p.order, r3(p.baselineSeconds), r3(p.referenceSeconds), r3(p.ratio)]) },
          };
        }),
        { title: 'ROC of the loss attack (log-log)', plot: rocPlot(rocValues, 'method', `loss attack ROC, seed ${seeds[0]}`) },
        { title: 'Feature-magnitude disparity', text: 'AUC of ‖feature‖ (members vs non-members) of the representation feeding the classifier (fc2 for plain models; the ring output srcm/fea for SRCM, whose magnitude the ring confines).', table: { columns: ['method', 'seed', 'member mean ‖f‖', 'non-member mean ‖f‖', 'norm AUC', 'ring inner/inside/outer'], rows: runs.map((r) => [r.method, r.seed, r3(r.featureNorm?.memberMean), r3(r.featureNorm?.nonMemberMean), r3(r.featureNorm?.auc), r.ring ? `${r3(r.ring.inner)}/${r3(r.ring.inside)}/${r3(r.ring.outer)}` : null]) } },
      ],
    });
    return { runDir: record.dir, summaryPath, reportPath, claims, summary: { table: { columns, rows }, seconds } };
  },
};
