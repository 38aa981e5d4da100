import * as tf from '@tensorflow/tfjs-core';
import {
  applyParams,
  check,
  claim,
  experimentSeeds,
  meanStd,
  RunRecord,
  TrellisError,
  type Claim,
  type Dataset,
  type ExperimentOptions,
  type ExperimentResult,
  type ParamRule,
  type ReportSection,
  type TechniqueExperiment,
} from '@trellis-ml/core';
import { DATASET_NAME_ALIASES, loadFashionMnist, loadMnist } from '@trellis-ml/datasets';
import { cloneDepthNet, loadDepthNet } from './architectures.js';
import type { DepthConfig } from './depthConfig.js';
import type { DepthNet, HeadMode } from './depthNet.js';
import { selectDepth, type DepthTable } from './depthTable.js';
import { chooseEntropyThreshold, entropyExit, entropyThresholdSweep, exitOutputs, type EntropyExitPoint } from './entropyExit.js';
import { depthAccuracy, evaluateAllDepths, measureSwitchCost, recalibrateBatchNorm } from './evaluateDepths.js';
import { resNetCNN } from './resnetCnn.js';
import { residualMLP } from './residualMlp.js';
import type { CoopDepthOptions } from './plugin.js';
import { trainCoopDepth, trainEarlyExit, trainFixedDepth, trainLayerDrop, trainOfaDepth } from './train.js';

/** The optional baselines of the experiment (spec §3); `coop`, `independent` and `full-only` always run (every claim needs them). */
export const EXPERIMENT_BASELINES = ['layerdrop', 'sandwich-inplace', 'ofa-depth', 'early-exit'] as const;
/** One optional baseline of the experiment. */
export type ExperimentBaseline = (typeof EXPERIMENT_BASELINES)[number];

/** The settings of one reproduction (quick and full defaults; each can be overridden with `--set key=value`). */
export interface DynamicDepthSetup {
  dataset: 'fashion' | 'mnist';
  model: 'mlp' | 'cnn';
  /** Training examples loaded (a validation share is split off). */
  trainLimit: number;
  testLimit: number;
  valFraction: number;
  /** MLP width W and blocks K. */
  width: number;
  blocks: number;
  /** MLP depth menu (active blocks). */
  depths: number[];
  epochs: number;
  batchSize: number;
  lr: number;
  /** Timed batches per depth for latency. */
  timedRuns: number;
  /** Run the sandwich-inplace baseline (one Teammate, no Leader); the same as listing `sandwich-inplace` in `baselines`. */
  sandwich: boolean;
  /**
   * The optional baselines to train besides `coop`, `independent` and `full-only` (default
   * `layerdrop`): `layerdrop`, `sandwich-inplace` (also on with `sandwich`), `ofa-depth` (progressive
   * shrinking of the full-only model with KD from it, OFA), `early-exit` (one head per depth, CE summed over exits).
   */
  baselines: ExperimentBaseline[];
  /** Also train the spec's ablations of the cooperative method: no Leader, one Teammate, β=0, δ=0. */
  ablations: boolean;
  /** KD share w and temperature T of the cooperative loss (spec defaults 0.5 and 3). */
  kdWeight: number;
  temperature: number;
  /**
   * MLP only: zero-initialise the second dense layer of every residual block, so each block starts
   * as the identity (default false: seeded Glorot-uniform for every dense layer, the framework default
   * of the spec's plain `Dense(W)`). Applies to every method alike.
   */
  zeroInitResidual: boolean;
}

const QUICK: DynamicDepthSetup = {
  dataset: 'fashion', model: 'mlp', trainLimit: 4000, testLimit: 2000, valFraction: 0.1, width: 128, blocks: 6, depths: [2, 4, 6],
  epochs: 3, batchSize: 128, lr: 1e-3, timedRuns: 50, sandwich: false, baselines: ['layerdrop'], ablations: false, kdWeight: 0.5, temperature: 3, zeroInitResidual: false,
};
const FULL: DynamicDepthSetup = {
  dataset: 'fashion', model: 'mlp', trainLimit: 15000, testLimit: 10000, valFraction: 0.1, width: 256, blocks: 8, depths: [2, 4, 6, 8],
  epochs: 15, batchSize: 128, lr: 1e-3, timedRuns: 50, sandwich: true, baselines: ['layerdrop'], ablations: false, kdWeight: 0.5, temperature: 3, zeroInitResidual: false,
};

const whole = { integer: true, min: 1 } as const;

/** What each `--set` key accepts (checked before anything loads or trains). */
const PARAM_RULES: Record<string, ParamRule> = {
  dataset: { choices: ['fashion', 'mnist'], aliases: DATASET_NAME_ALIASES }, model: { choices: ['mlp', 'cnn'] }, trainLimit: whole, testLimit: whole,
  valFraction: { above: 0, below: 1 }, width: whole, blocks: whole, depths: { ...whole, minLength: 1 }, epochs: whole, batchSize: whole,
  lr: { above: 0 }, timedRuns: whole, kdWeight: { min: 0, max: 1 }, temperature: { above: 0 },
  baselines: { type: 'string[]', choices: EXPERIMENT_BASELINES, hint: 'coop, independent and full-only always run; an empty list runs only them' },
};

/**
 * Resolves the setup of a run from its mode and `params`: unknown keys, unknown datasets or models and
 * out-of-range values (e.g. a depth of 0 blocks, or more blocks than the network has) are errors before
 * anything loads.
 */
export function dynamicDepthSetup(options: Pick<ExperimentOptions, 'mode' | 'params'>): DynamicDepthSetup {
  const s = applyParams(options.mode === 'full' ? FULL : QUICK, options.params, { technique: 'dynamic-depth', rules: PARAM_RULES });
  const deepest = Math.max(...s.depths);
  check(s.model !== 'mlp' || deepest <= s.blocks, 'BAD_PARAM', `dynamic-depth: depth ${deepest} is more blocks than the network's ${s.blocks}`,
    `pass depths of at most ${s.blocks} blocks (--set depths=2,4,${s.blocks}), or more blocks (--set blocks=${deepest})`);
  const repeated = s.depths.filter((d, i) => s.depths.indexOf(d) !== i);
  check(repeated.length === 0, 'BAD_PARAM', () => `dynamic-depth: depth ${repeated[0]} is listed twice (depths=${s.depths.join(',')})`,
    'list each depth once, e.g. --set depths=2,4,6');
  if (s.model === 'mlp' && !s.depths.includes(s.blocks)) s.depths = [...s.depths, s.blocks];
  s.baselines = EXPERIMENT_BASELINES.filter((b) => s.baselines.includes(b));
  if (s.baselines.includes('sandwich-inplace')) s.sandwich = true;
  return s;
}

type Method = 'coop' | 'independent' | 'full-only' | 'layerdrop' | 'sandwich-inplace' | 'ofa-depth' | 'early-exit' | 'coop-no-leader' | 'coop-one-teammate' | 'coop-beta0' | 'coop-delta0';
interface MethodResult { accuracy: Record<string, number>; latencyMs: Record<string, number>; seconds: number; history?: Array<Record<string, number>> }
/** The `early-exit` network with BranchyNet's entropy-threshold exiting: threshold chosen on validation within a FLOP budget, then tested. */
interface EntropyExitSeed {
  exits: string[];
  /** Mean FLOPs per example allowed: halfway between the shallowest and the full depth (the report's selectDepth example). */
  maxFlops: number;
  /** The validation sweep (default thresholds). */
  sweep: EntropyExitPoint[];
  threshold: number;
  overBudget: boolean;
  validation: EntropyExitPoint;
  test: { accuracy: number; meanBlocks: number; meanFlops: number; exitFractions: number[] };
}
interface SeedResult {
  seed: number;
  methods: Partial<Record<Method, MethodResult>>;
  entropyExit?: EntropyExitSeed;
  depths: Array<{ id: string; activeBlocks: number; flops: number; params: number }>;
  switchMs: number;
  validationMeans: number[];
  table: DepthTable;
}

/**
 * Builds one network of the experiment (every method uses this builder, so all share the setup's
 * architecture and initialisation): the whole menu, or with `perStage` one fixed depth (an
 * `independent` model); `headMode: 'per-depth'` gives every depth its own head (the `early-exit` baseline).
 */
export function buildExperimentNet(s: DynamicDepthSetup, seed: number, perStage?: number[], headMode: HeadMode = 'shared'): DepthNet {
  if (s.model === 'cnn') {
    return resNetCNN({ inputShape: [28, 28, 1], numClasses: 10, seed, bnMode: 'per-config', headMode, ...(perStage ? { blocksPerStage: perStage, configs: [perStage] } : {}) });
  }
  return residualMLP({
    inputShape: [784], width: s.width, blocks: perStage ? perStage[0]! : s.blocks, numClasses: 10, seed, zeroInitResidual: s.zeroInitResidual, headMode,
    ...(perStage ? { configs: [perStage[0]!] } : { configs: s.depths }),
  });
}

function tableToResult(t: DepthTable, seconds: number): MethodResult {
  return {
    accuracy: Object.fromEntries(t.rows.map((r) => [r.id, r.accuracy])),
    latencyMs: Object.fromEntries(t.rows.map((r) => [r.id, r.latencyMs ?? NaN])),
    seconds,
  };
}

async function runSeed(s: DynamicDepthSetup, seed: number, train: Dataset, val: Dataset, test: Dataset, log: (l: string) => void, progress: boolean): Promise<{ result: SeedResult; deployed: DepthNet }> {
  const base = { epochs: s.epochs, batchSize: s.batchSize, lr: s.lr, progress };
  const evalOpts = { timedRuns: s.timedRuns };
  const methods: SeedResult['methods'] = {};
  let entropy: EntropyExitSeed | undefined;

  log(`[seed ${seed}] cooperative training (Leader, Teammates A and B, sub-networks)`);
  const coop = await trainCoopDepth(buildExperimentNet(s, seed), train, val, { ...base, seed, label: 'coop', kdWeight: s.kdWeight, temperature: s.temperature });
  const deployed = coop.deployed;
  for (const m of [...coop.teammates, coop.leader]) if (m && m !== deployed) m.dispose();
  const table = evaluateAllDepths(deployed, test, evalOpts);
  methods.coop = { ...tableToResult(table, coop.seconds), history: coop.history };
  const menu: DepthConfig[] = [...deployed.configs];

  log(`[seed ${seed}] independent: one model per depth`);
  const indep: MethodResult = { accuracy: {}, latencyMs: {}, seconds: 0 };
  for (const c of menu) {
    const net = buildExperimentNet(s, seed + 1000, c.perStage);
    const r = await trainFixedDepth(net, train, { ...base, seed, label: `independent ${c.id}` });
    const t = evaluateAllDepths(net, test, evalOpts);
    indep.accuracy[c.id] = t.rows[0]!.accuracy;
    indep.latencyMs[c.id] = t.rows[0]!.latencyMs ?? NaN;
    indep.seconds += r.seconds;
    net.dispose();
  }
  methods.independent = indep;

  log(`[seed ${seed}] full-only: trained at full depth, evaluated at every depth`);
  const fullOnly = buildExperimentNet(s, seed + 2000);
  const rf = await trainFixedDepth(fullOnly, train, { ...base, seed, label: 'full-only' });
  // trained at full depth only, so the shallower depths' batch-norm statistics never moved: post-statistics
  // per depth (spec §1; a no-op for the MLP, which has no batch-norm)
  recalibrateBatchNorm(fullOnly, train, { samples: 2000, seed });
  methods['full-only'] = tableToResult(evaluateAllDepths(fullOnly, test, evalOpts), rf.seconds);
  // ofa-depth fine-tunes a copy of this model and distils from it (frozen), so it is kept until then

  if (s.baselines.includes('layerdrop')) {
    log(`[seed ${seed}] layerdrop (p = 0.2)`);
    const ld = buildExperimentNet(s, seed + 3000);
    const rl = await trainLayerDrop(ld, train, { ...base, seed, p: 0.2, label: 'layerdrop' });
    // sampled depths are not menu depths, so training updated no menu depth's statistics
    recalibrateBatchNorm(ld, train, { samples: 2000, seed });
    methods.layerdrop = tableToResult(evaluateAllDepths(ld, test, evalOpts), rl.seconds);
    ld.dispose();
  }

  if (s.sandwich) {
    log(`[seed ${seed}] sandwich-inplace (one Teammate, no Leader)`);
    const sw = await trainCoopDepth(buildExperimentNet(s, seed + 4000), train, val, { ...base, seed, teammates: 1, leader: null, label: 'sandwich', kdWeight: s.kdWeight, temperature: s.temperature });
    methods['sandwich-inplace'] = tableToResult(evaluateAllDepths(sw.deployed, test, evalOpts), sw.seconds);
    for (const m of sw.teammates) m.dispose();
  }

  if (s.baselines.includes('ofa-depth')) {
    log(`[seed ${seed}] ofa-depth: progressive shrinking of the full-only model, KD from it (frozen)`);
    const ofa = cloneDepthNet(fullOnly);
    // the full-depth part of OFA is the full-only model's training (its time is counted); the shrinking phases get the run's epochs
    const ro = await trainOfaDepth(ofa, train, { ...base, seed, fullDepthEpochs: 0, teacher: fullOnly, label: 'ofa-depth' });
    // OFA resets the running statistics of each sub-network before it is evaluated (a no-op for the MLP)
    recalibrateBatchNorm(ofa, train, { samples: 2000, seed });
    methods['ofa-depth'] = { ...tableToResult(evaluateAllDepths(ofa, test, evalOpts), rf.seconds + ro.seconds), history: ro.history };
    ofa.dispose();
  }
  fullOnly.dispose();

  if (s.baselines.includes('early-exit')) {
    log(`[seed ${seed}] early-exit: one classifier head per depth, cross-entropy summed over the exits`);
    const ee = buildExperimentNet(s, seed + 5000, undefined, 'per-depth');
    const re = await trainEarlyExit(ee, train, { ...base, seed, label: 'early-exit' });
    methods['early-exit'] = { ...tableToResult(evaluateAllDepths(ee, test, evalOpts), re.seconds), history: re.history };
    entropy = entropyExitStudy(ee, val, test);
    ee.dispose();
  }

  if (s.ablations) {
    const variants: Array<[Method, CoopDepthOptions]> = [
      ['coop-no-leader', { leader: null }],
      ['coop-one-teammate', { teammates: 1 }],
      ['coop-beta0', { weights: { beta: 0 } }],
      ['coop-delta0', { weights: { delta: 0 } }],
    ];
    for (const [name, variant] of variants) {
      log(`[seed ${seed}] ablation ${name}`);
      const r = await trainCoopDepth(buildExperimentNet(s, seed), train, val, { ...base, seed, label: name, kdWeight: s.kdWeight, temperature: s.temperature, ...variant });
      methods[name] = tableToResult(evaluateAllDepths(r.deployed, test, { latency: false }), r.seconds);
      for (const m of [...r.teammates, r.leader]) m?.dispose();
    }
  }

  const result: SeedResult = {
    seed, methods, table, ...(entropy ? { entropyExit: entropy } : {}), switchMs: measureSwitchCost(deployed), validationMeans: coop.validationMeans,
    depths: menu.map((c) => ({ id: c.id, ...deployed.cost(c) })),
  };
  return { result, deployed };
}

/**
 * BranchyNet's test-time rule on a trained early-exit network: sweep entropy thresholds on validation, take the
 * most accurate one whose mean FLOPs fit halfway between the shallowest and the full depth, and test it.
 */
function entropyExitStudy(net: DepthNet, val: Dataset, test: Dataset): EntropyExitSeed {
  const maxFlops = (net.cost(net.minConfig).flops + net.cost(net.fullConfig).flops) / 2;
  const onVal = exitOutputs(net, val);
  const sweep = entropyThresholdSweep(onVal);
  const choice = chooseEntropyThreshold(sweep, { maxFlops });
  const threshold = choice.threshold as number;
  const r = entropyExit(exitOutputs(net, test), threshold);
  return {
    exits: onVal.exits, maxFlops, sweep, threshold, overBudget: choice.overBudget, validation: choice.point,
    test: { accuracy: r.accuracy!, meanBlocks: r.meanBlocks!, meanFlops: r.meanFlops!, exitFractions: r.exitFractions },
  };
}

/** Checks the three bad inputs of the issue on a trained model; returns which raised the expected error. */
async function badInputChecks(model: DepthNet, table: DepthTable, savedDir: string, s: DynamicDepthSetup): Promise<Record<string, string>> {
  const expectCode = async (code: string, f: () => unknown | Promise<unknown>): Promise<string> => {
    try {
      await f();
      return 'no error';
    } catch (e) {
      return e instanceof TrellisError && e.code === code ? `ok: ${e.message}` : `wrong error: ${(e as Error).message}`;
    }
  };
  const other = s.model === 'cnn'
    ? resNetCNN({ inputShape: [28, 28, 1], numClasses: 10, seed: 0, stageChannels: [8, 16, 32] })
    : residualMLP({ inputShape: [784], width: s.width * 2, blocks: s.blocks, numClasses: 10, configs: s.depths, seed: 0 });
  const out = {
    unknownDepth: await expectCode('UNKNOWN_DEPTH', () => model.setDepth('d99')),
    impossibleBudget: await expectCode('NO_DEPTH_FITS', () => selectDepth(table, { maxFlops: 1 }, { onOverBudget: 'throw' })),
    otherArchitecture: await expectCode('ARCHITECTURE_MISMATCH', () => other.load(savedDir)),
  };
  other.dispose();
  return out;
}

const pp = (x: number) => 100 * x;

/** The report's table of entropy-threshold exiting (only when the early-exit baseline ran). */
function entropyExitSections(runs: Array<EntropyExitSeed & { seed: number }>, fixedAccuracy: Array<Record<string, number>>): ReportSection[] {
  const shares = (f: number[]) => f.map((x) => `${pp(x).toFixed(1)}%`).join(' / ');
  const first = runs[0]!;
  return [{
    title: 'early-exit with entropy-threshold exiting',
    text: `BranchyNet's test-time rule on the early-exit network: a test image leaves at the first exit (${first.exits.join(', ')}) whose softmax entropy (nats) is below the threshold; the last exit takes the rest. `
      + `Per seed the threshold is the most accurate point of a sweep on the validation set whose mean FLOPs per image fit ${first.maxFlops.toFixed(0)} (halfway between the shallowest and the full depth, the budget of the runtime depth choice below; the default thresholds: 0, the 5%…95% quantiles of the early exits' entropies, ln 10). `
      + 'Mean FLOPs count every exit head an image passed. Accuracies in %; exits share: the images leaving at each exit. Every exit is computed for every image, so this measures the rule, not a faster runtime. '
      + `The next section gives the validation sweep of seed ${first.seed}.`,
    table: {
      columns: ['seed', 'threshold (nats)', 'over budget', 'val accuracy', 'val mean FLOPs', 'test accuracy', 'test mean blocks', 'test mean FLOPs', 'test exit shares', `test accuracy, every image at ${first.exits[first.exits.length - 1]}`],
      rows: runs.map((r, i) => [r.seed, r.threshold, r.overBudget ? 'yes' : 'no', pp(r.validation.accuracy), r.validation.meanFlops!, pp(r.test.accuracy), r.test.meanBlocks, r.test.meanFlops,
        shares(r.test.exitFractions), pp(fixedAccuracy[i]![r.exits[r.exits.length - 1]!]!)]),
    },
  }, {
    title: `early-exit: entropy-threshold sweep on validation (seed ${first.seed})`,
    text: 'Accuracy (%) against mean cost per validation image for each threshold; larger thresholds send more images out early.',
    table: {
      columns: ['threshold (nats)', 'val accuracy', 'mean blocks', 'mean FLOPs', 'exit shares'],
      rows: first.sweep.map((p) => [p.threshold as number, pp(p.accuracy), p.meanBlocks!, p.meanFlops!, shares(p.exitFractions)]),
    },
  }];
}

/** The reproduction behind `trellis dynamic-depth`. */
export const experiment: TechniqueExperiment = {
  name: 'dynamic-depth',
  parameters: (mode) => ({ defaults: mode === 'full' ? FULL : QUICK, rules: PARAM_RULES }),
  checkParams: (options) => void dynamicDepthSetup(options),
  resumable: true,
  description: 'Cooperative training (Leader + two Teammates + sub-networks) of a depth-switchable network vs separately trained depths, full-only and LayerDrop (optionally sandwich-inplace, OFA progressive shrinking and early exits); accuracy, FLOPs and latency per depth.',
  async run(options: ExperimentOptions): Promise<ExperimentResult> {
    const log = options.log ?? ((l: string) => console.log(l));
    const s = dynamicDepthSetup(options);
    const seeds = experimentSeeds(options);
    const record = await RunRecord.create({
      out: options.out, name: 'dynamic-depth', seed: seeds[0]!, config: { mode: options.mode, seeds, ...s }, packageOf: import.meta.url,
      ...(options.resume ? { resume: true } : {}),
    });
    const journal = await record.openJournal();
    if (journal.finished) log(`dynamic-depth: resuming ${record.dir}: ${journal.finished} finished seeds are replayed from its journal`);
    const flatten = s.model === 'mlp';
    const load = s.dataset === 'mnist' ? loadMnist : loadFashionMnist;
    const all = load({ split: 'train', limit: s.trainLimit, flatten });
    const test = load({ split: 'test', limit: s.testLimit, flatten });
    log(`dynamic-depth (${options.mode}): ${s.dataset}, ${s.model}, ${all.size} train / ${test.size} test, seeds ${seeds.join(',')}, backend ${tf.getBackend()}`);

    const results: SeedResult[] = [];
    let bad: Record<string, string> = {};
    let reloadGap = NaN;
    for (const seed of seeds) {
      // one journaled unit per seed: an interrupted study resumes after the last finished seed (the first seed's model stays saved in the run)
      const first = await journal.collect(`seed ${seed}`, { results }, async () => {
        const [train, val] = all.split(1 - s.valFraction, seed);
        const { result, deployed } = await runSeed(s, seed, train, val, test, log, options.progress ?? false);
        results.push(result);
        for (const [m, r] of Object.entries(result.methods)) await record.logMetrics({ seed, method: m, ...r });
        let checks: { reloadGap: number; bad: Record<string, string> } | null = null;
        if (seed === seeds[0]) {
          const dir = await record.saveModel(deployed);
          const reloaded = await loadDepthNet(dir);
          const gap = Math.max(...deployed.configs.map((c) => Math.abs(depthAccuracy(reloaded, test, c.id) - result.methods.coop!.accuracy[c.id]!)));
          reloaded.dispose();
          checks = { reloadGap: gap, bad: await badInputChecks(deployed, result.table, dir, s) };
        }
        deployed.dispose();
        return checks;
      });
      if (first) ({ reloadGap, bad } = first);
    }

    // ---- aggregate
    const depths = [...results[0]!.depths].sort((a, b) => a.flops - b.flops);
    const ids = depths.map((d) => d.id);
    const full = ids[ids.length - 1]!;
    const min = ids[0]!;
    const methods = Object.keys(results[0]!.methods) as Method[];
    const acc = (m: Method, id: string) => meanStd(results.map((r) => r.methods[m]!.accuracy[id]!));
    const lat = (m: Method, id: string) => meanStd(results.map((r) => r.methods[m]!.latencyMs[id]!));
    const gap = (m: Method, id: string) => meanStd(results.map((r) => pp(r.methods[m]!.accuracy[id]! - r.methods.independent!.accuracy[id]!)));
    const dFull = gap('coop', full);
    const meanGapPerSeed = results.map((r) => ids.reduce((sum, id) => sum + pp(r.methods.coop!.accuracy[id]! - r.methods.independent!.accuracy[id]!), 0) / ids.length);
    const meanGap = meanStd(meanGapPerSeed);
    const worstGap = Math.min(...ids.map((id) => gap('coop', id).mean));
    const fullOnlyLoss = meanStd(results.map((r) => pp(r.methods.independent!.accuracy[min]! - r.methods['full-only']!.accuracy[min]!)));
    const fullOnlyOwnDrop = meanStd(results.map((r) => pp(r.methods['full-only']!.accuracy[full]! - r.methods['full-only']!.accuracy[min]!)));
    const coopLat = ids.map((id) => lat('coop', id).mean);
    let falls = 0;
    for (let i = 1; i < coopLat.length; i++) if (coopLat[i]! > coopLat[i - 1]!) falls++;
    const fallFraction = falls / Math.max(1, coopLat.length - 1);
    const switchMs = Math.max(...results.map((r) => r.switchMs));
    const badOk = Object.values(bad).filter((v) => v.startsWith('ok')).length;
    const std2 = (x: { mean: number; std: number }) => `${x.mean.toFixed(2)} ± ${x.std.toFixed(2)} pp over ${seeds.length} seed(s)`;

    const claims: Claim[] = [
      claim('full-depth-matches-separate', `The cooperative model at full depth (${full}) is within 0.5 points of a separately trained full model (Δ_full, pp)`, dFull.mean, '>=', -0.5, seeds, std2(dFull)),
      claim('mean-gap-nonnegative', 'Across depths the cooperative model is on average at least as accurate as separately trained models of the same depth (mean_c Δ_c, pp)', meanGap.mean, '>=', 0, seeds, std2(meanGap)),
      claim('worst-depth-gap', 'No depth of the cooperative model is more than 1 point below its separately trained counterpart (min_c Δ_c, pp; spec §4)', worstGap, '>=', -1, seeds),
      claim('full-only-collapses', `A model trained only at full depth loses ≥ 2 points at the shallowest depth (${min}) against a separately trained model of that depth (pp)`, fullOnlyLoss.mean, '>=', 2, seeds,
        `${std2(fullOnlyLoss)}; its drop from its own full depth: ${std2(fullOnlyOwnDrop)}`),
      claim('latency-falls-with-depth', `Measured latency (batch ${results[0]!.table.latencyBatchSize ?? 128}, ${tf.getBackend()}) falls with depth: share of adjacent depth pairs where the shallower depth is faster`, fallFraction, '>=', 1, seeds,
        ids.map((id, i) => `${id}: ${coopLat[i]!.toFixed(2)} ms`).join(', ')),
      claim('switching-is-free', 'Switching depth at run time costs nothing: median setDepth time (ms), no weights reloaded or rebuilt', switchMs, '<=', 0.01, seeds),
      claim('one-weight-set', 'One saved weight set serves every depth: largest accuracy change over all depths after save + loadDepthNet (points)', pp(reloadGap), '<=', 0, [seeds[0]!]),
      claim('bad-input-errors', 'Bad input gets a clear error: unknown depth, a budget no depth fits, a checkpoint of another architecture (count of the 3 that raise the expected TrellisError)', badOk, '>=', 3, [seeds[0]!],
        Object.entries(bad).map(([k, v]) => `${k}: ${v.slice(0, 140)}`).join(' | ')),
    ];

    const accRows = depths.map((d) => [
      d.id, d.activeBlocks, d.flops, d.params,
      ...methods.map((m) => { const a = acc(m, d.id); return `${pp(a.mean).toFixed(2)} ± ${pp(a.std).toFixed(2)}`; }),
      lat('coop', d.id).mean, lat('independent', d.id).mean,
    ]);
    const curve = methods.flatMap((m) => ids.map((id) => ({
      method: m, depth: id, accuracy: pp(acc(m, id).mean),
      latencyMs: lat(m === 'independent' ? 'independent' : 'coop', id).mean,
    })));
    const gaps = methods.filter((m) => m !== 'independent').flatMap((m) => ids.map((id) => ({ method: m, depth: id, gap: gap(m, id).mean })));
    const meanGapByMethod = methods.filter((m) => m !== 'independent').map((m) => {
      const g = meanStd(results.map((r) => ids.reduce((sum, id) => sum + pp(r.methods[m]!.accuracy[id]! - r.methods.independent!.accuracy[id]!), 0) / ids.length));
      return [m, g.mean, g.std, Math.min(...ids.map((id) => gap(m, id).mean))] as [string, number, number, number];
    });
    const timing = methods.map((m) => [m, meanStd(results.map((r) => r.methods[m]!.seconds)).mean]);
    // every seed of a run with the early-exit baseline has it (a run resumed from a journal written before it may not)
    const entropyRuns = results.every((r) => r.entropyExit) ? results.map((r) => ({ seed: r.seed, ...r.entropyExit! })) : null;
    const summary = {
      setup: s, seeds, backend: tf.getBackend(),
      perDepth: depths.map((d) => ({ ...d, ...Object.fromEntries(methods.map((m) => [m, { accuracy: acc(m, d.id), latencyMs: lat(m, d.id) }])) })),
      deltaFull: dFull, meanDelta: meanGap, meanDeltaByMethod: Object.fromEntries(meanGapByMethod.map(([m, mean, std, worst]) => [m, { mean, std, worst }])), worstDelta: worstGap, fullOnlyLoss, switchMs, reloadGap, badInput: bad,
      trainingSeconds: Object.fromEntries(timing), validationMeans: results.map((r) => r.validationMeans),
      selectDepthExample: results[0]!.table.rows.length ? selectDepth(results[0]!.table, { maxFlops: (depths[0]!.flops + depths[depths.length - 1]!.flops) / 2 }) : null,
      ...(entropyRuns ? { entropyExit: entropyRuns } : {}),
    };
    const summaryPath = await record.writeSummary({ ...summary, claims });
    const reportPath = await record.writeReport({
      title: `dynamic-depth — cooperative training of a depth-switchable ${s.model === 'mlp' ? `residual MLP (W=${s.width}, K=${s.blocks})` : 'ResNet-CNN'} on ${s.dataset === 'fashion' ? 'Fashion-MNIST' : 'MNIST'}`,
      intro: `${options.mode} run: ${all.size} training examples (${Math.round(100 * s.valFraction)}% held out for validation), ${test.size} test examples, ${s.epochs} epochs of Adam (lr ${s.lr}, cosine to 0, batch ${s.batchSize}), seeds ${seeds.join(', ')}, backend ${tf.getBackend()}. Δ_c is accuracy minus the separately trained model of depth c, in points. The cooperative model is the deployed Teammate (the better of A and B on validation).`,
      claims,
      sections: [
        {
          title: 'Accuracy (%), FLOPs and measured latency per depth',
          text: `Accuracy mean ± std over seeds. Latency: ms per batch of ${results[0]!.table.latencyBatchSize ?? 128} on ${tf.getBackend()}, the median over 5 interleaved rounds of each round's fastest run (the cooperative model switches depth; each independent model is its own network).`,
          table: { columns: ['depth', 'blocks', 'FLOPs', 'params', ...methods, 'latency coop (ms)', 'latency independent (ms)'], rows: accRows },
        },
        {
          title: 'Accuracy vs measured latency',
          text: 'Cooperative (one weight set, depth switched at run time) against separately trained models of each depth (each timed on its own network). The full-only, LayerDrop, sandwich, OFA and early-exit baselines share the cooperative network\'s architecture and compute (early exits add one small head per depth), so they are drawn at its measured latencies.',
          plot: {
            $schema: 'https://vega.github.io/schema/vega-lite/v5.json', width: 520, height: 320,
            data: { values: curve },
            mark: { type: 'line', point: true },
            encoding: {
              x: { field: 'latencyMs', type: 'quantitative', title: `latency (ms / batch of ${results[0]!.table.latencyBatchSize ?? 128})`, scale: { zero: false } },
              y: { field: 'accuracy', type: 'quantitative', title: 'test accuracy (%)', scale: { zero: false } },
              color: { field: 'method', type: 'nominal' },
              tooltip: [{ field: 'depth' }, { field: 'accuracy' }, { field: 'latencyMs' }],
            },
          },
        },
        {
          title: 'Gap to independent per depth (Δ_c, points)',
          plot: {
            $schema: 'https://vega.github.io/schema/vega-lite/v5.json', width: 520, height: 260,
            data: { values: gaps },
            mark: 'bar',
            encoding: {
              x: { field: 'depth', type: 'nominal', sort: ids },
              xOffset: { field: 'method' },
              y: { field: 'gap', type: 'quantitative', title: 'Δ_c (pp)' },
              color: { field: 'method', type: 'nominal' },
            },
          },
        },
        {
          title: 'Mean gap to independent over depths (points)',
          text: 'mean_c Δ_c (mean ± std over seeds) and the worst depth min_c Δ_c per method; with ablations=true this is the spec\'s ablation figure (no Leader, one Teammate, β=0, δ=0).',
          table: { columns: ['method', 'mean Δ (pp)', 'std', 'worst depth Δ (pp)'], rows: meanGapByMethod },
        },
        {
          title: 'Training cost',
          text: 'Wall-clock seconds per method (mean over seeds). Cooperative training runs a Leader and two Teammates every step, so it costs more than training one model per depth; what it buys is one weight set for all depths (spec §2.7). Sub-networks reuse the Teammate\'s full-depth activations of their shared prefix of blocks. ofa-depth\'s time includes the full-only training it fine-tunes.',
          table: { columns: ['method', 'seconds'], rows: timing as Array<[string, number]> },
        },
        ...(entropyRuns ? entropyExitSections(entropyRuns, results.map((r) => r.methods['early-exit']!.accuracy)) : []),
        {
          title: 'Runtime depth choice',
          text: `selectDepth picks the most accurate depth within a budget. Example on the test table of seed ${seeds[0]}: budget ${JSON.stringify({ maxFlops: (depths[0]!.flops + depths[depths.length - 1]!.flops) / 2 })} → ${summary.selectDepthExample?.config ?? '—'}. Median depth-switch time: ${switchMs.toFixed(5)} ms. The deployed Teammate of seed ${seeds[0]} is saved in model/ (one weight set for every depth; load it with loadDepthNet).`,
        },
      ],
    });
    log(`report: ${reportPath}`);
    return { runDir: record.dir, summaryPath, reportPath, claims, summary };
  },
};
