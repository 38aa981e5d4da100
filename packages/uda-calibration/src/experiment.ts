/**
 * The small-scale reproduction (spec §7): a BatchNorm source model trained on MNIST / Fashion-MNIST,
 * adapted on the corruption grid of `@trellis-ml/datasets` by every method, scored online and on a
 * second pass, with the claims computed from the measured numbers.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  applyParams,
  Dataset,
  experimentSeeds,
  mlp,
  predictLogits,
  Rng,
  RunRecord,
  smallCnn,
  Trainer,
  TrellisError,
  type ExperimentOptions,
  type ExperimentResult,
  type LayersModelAdapter,
  type ParamRule,
  type ParamSchema,
  type TechniqueExperiment,
} from '@trellis-ml/core';
import { CORE_CORRUPTIONS, CORRUPTION_NAMES, corrupt, DATASET_NAME_ALIASES, loadFashionMnist, loadMnist, type CorruptionName, type Severity } from '@trellis-ml/datasets';
import { createAdaptation, methodLabel, runStream, type MethodSpec } from './adaptation.js';
import { calibrationReport, StreamingCalibration, type CalibrationBin, type CalibrationReport } from './calibration.js';
import { computeSourceStats, type SourceStats } from './certainty.js';
import { mlpBn } from './models.js';
import { finish, type CellRow, type PassEnd } from './studyReport.js';
import { applyTemperature, fitTemperature } from './temperatureScaling.js';
import { transCalForModel } from './transCalModel.js';

/** Settings of one study (quick and full presets; every field can be overridden with `--set`). */
export interface StudyConfig {
  datasets: Array<'mnist' | 'fashion'>;
  models: Array<'mlp-bn' | 'cnn-bn'>;
  /** Source training examples and clean validation examples (taken from the training split). */
  trainSize: number;
  valSize: number;
  epochs: number;
  /** Target examples (from the test split) per cell. */
  targetSize: number;
  shifts: CorruptionName[];
  severities: number[];
  batchSize: number;
  methods: MethodSpec[];
  /** Extra methods (DEC ablations, spec F6) run on the first seed at severities ≥ 3 only. */
  ablations: MethodSpec[];
  /** Passes of the online-trajectory study (F4; 0 = skip). */
  trajectoryPasses: number;
  /**
   * Add TransCal (spec §3, optional; {@link transCalForModel}) as a post-hoc row `source+TransCal` beside
   * `source+TS` in every cell (default false in both presets: about 1 s a cell with `mlp-bn`).
   */
  transcal: boolean;
}

/** The methods of the study; `DEC` is the package default, the others are the spec's ablations. */
export const STUDY_METHODS: Record<string, MethodSpec> = {
  source: { kind: 'source', label: 'source' },
  bn: { kind: 'bn-adapt', label: 'BN-adapt' },
  bnRunning: { kind: 'bn-adapt', label: 'BN re-estimated', statistics: 'running' },
  tent: { kind: 'tent', label: 'TENT' },
  eta: { kind: 'eta', label: 'ETA' },
  eata: { kind: 'eta', label: 'EATA', fisherAlpha: 2000 },
  // SHOT-IM online (one pass at the stream batch, like every method) and offline (spec §7.5: 3 epochs at batch 64).
  shot: { kind: 'shot-im', label: 'SHOT-IM (online)' },
  shotOffline: { kind: 'shot-im', label: 'SHOT-IM (offline)', protocol: 'offline', epochs: 3, batchSize: 64 },
  // Full SHOT (spec §3: β = 0.3, the paper's digit setting; clustering pseudo-labels recomputed every epoch) on the same
  // offline protocol, with SHOT's learning-rate decay (1 + 10·progress)^−0.75, and with the constant rate of SHOT-IM (offline)
  // (isolates β). Neither is in a preset: --set methods=…,shotFull,shotFullConstLr.
  shotFull: { kind: 'shot-im', label: 'SHOT (offline)', protocol: 'offline', epochs: 3, batchSize: 64, beta: 0.3, lrSchedule: 'shot-decay' },
  shotFullConstLr: { kind: 'shot-im', label: 'SHOT (offline, constant lr)', protocol: 'offline', epochs: 3, batchSize: 64, beta: 0.3 },
  // Full SHOT whose labelling pass normalises with each labelling batch's statistics (ours; not in a preset).
  shotFullBatchLabels: { kind: 'shot-im', label: 'SHOT (offline, target-batch labels)', protocol: 'offline', epochs: 3, batchSize: 64, beta: 0.3, lrSchedule: 'shot-decay', labelNormalization: 'target-batch' },
  // Full SHOT whose pseudo-labels can go to every class, not only those some row's argmax names (ours; not in a preset).
  shotFullAllClasses: { kind: 'shot-im', label: 'SHOT (offline, all-class labelset)', protocol: 'offline', epochs: 3, batchSize: 64, beta: 0.3, lrSchedule: 'shot-decay', clustering: { labelset: 'all' } },
  pl: { kind: 'pseudo-label', label: 'PL' },
  // T3A at spec §7.5's filter_K = 100, and the rest of its sweep {1, 5, 20, 50, 100, −1}.
  t3a: { kind: 't3a', label: 'T3A', filterK: 100 },
  t3aK1: { kind: 't3a', label: 'T3A (K=1)', filterK: 1 },
  t3aK5: { kind: 't3a', label: 'T3A (K=5)', filterK: 5 },
  t3aK20: { kind: 't3a', label: 'T3A (K=20)', filterK: 20 },
  t3aK50: { kind: 't3a', label: 'T3A (K=50)', filterK: 50 },
  t3aAll: { kind: 't3a', label: 'T3A (K=all)', filterK: -1 },
  // The spec's optional baselines (§3, §7.5: "CoTTA with 4–8 augmentations instead of 32; MEMO with B=16"). Opt-in only
  // (--set methods=…,cotta,memo): in no preset and in no claim. Settings spelled out so the run's config.json records them.
  cotta: { kind: 'cotta', label: 'CoTTA', lr: 1e-3, emaAlpha: 0.999, restoreProb: 0.01, nAug: 4, augThreshold: 0.92, augAverage: 'probabilities', predictWith: 'teacher', predictNormalization: 'batch' },
  memo: { kind: 'memo', label: 'MEMO', lr: 5e-3, nAug: 16 },
  dec: { kind: 'dec', label: 'DEC' },
  decCode: { kind: 'dec', label: 'DEC (code parity: T, BCE)', temperature: { mode: 'entropy-only' }, divergence: 'bce-reference' },
  decEntropy: { kind: 'dec', label: 'DEC (entropy-only τ)', temperature: { mode: 'entropy-only' } },
  decBce: { kind: 'dec', label: 'DEC (bce-reference)', divergence: 'bce-reference' },
  decBn: { kind: 'dec', label: 'DEC (BN affine only)', trainable: 'bn-affine' },
  decFixed1: { kind: 'dec', label: 'DEC (fixed τ=1)', temperature: { mode: 'fixed', fixedTemperature: 1 } },
  decBnTeacher: { kind: 'dec', label: 'DEC (BN-adapted teacher)', teacherNormalization: 'target-batch' },
  // the rest of spec §7.6 F6 and §10 item 3: norm-only τ, fixed τ = t_max, the (t_min, t_max) grid, student BN momentum
  decNormOnly: { kind: 'dec', label: 'DEC (norm-only τ)', temperature: { mode: 'norm-only' } },
  decFixedMax: { kind: 'dec', label: 'DEC (fixed τ=t_max=3)', temperature: { mode: 'fixed', fixedTemperature: 3 } },
  decT1x2: { kind: 'dec', label: 'DEC (t_min 1, t_max 2)', temperature: { tMin: 1, tMax: 2 } },
  decT1x5: { kind: 'dec', label: 'DEC (t_min 1, t_max 5)', temperature: { tMin: 1, tMax: 5 } },
  decT12x2: { kind: 'dec', label: 'DEC (t_min 1.2, t_max 2)', temperature: { tMin: 1.2, tMax: 2 } },
  decT12x3: { kind: 'dec', label: 'DEC (t_min 1.2, t_max 3)', temperature: { tMin: 1.2, tMax: 3 } },
  decT12x5: { kind: 'dec', label: 'DEC (t_min 1.2, t_max 5)', temperature: { tMin: 1.2, tMax: 5 } },
  decMom099: { kind: 'dec', label: 'DEC (student BN momentum 0.99)', bnMomentum: 0.99 },
  decMom05: { kind: 'dec', label: 'DEC (student BN momentum 0.5)', bnMomentum: 0.5 },
};

/** The quick preset: ≤ 2–3 minutes on a shared 2-core machine; runs SHOT-IM both online and offline. */
export function quickConfig(): StudyConfig {
  return {
    datasets: ['mnist', 'fashion'],
    models: ['mlp-bn'],
    trainSize: 8000,
    valSize: 1000,
    epochs: 3,
    targetSize: 1000,
    shifts: ['gaussian_noise', 'contrast'],
    severities: [3, 5],
    batchSize: 50,
    methods: ['source', 'bn', 'tent', 'eta', 'shot', 'shotOffline', 'pl', 't3a', 'dec', 'decCode', 'decBnTeacher'].map((m) => STUDY_METHODS[m]!),
    ablations: [],
    trajectoryPasses: 3,
    transcal: false,
  };
}

/**
 * The full preset, spec §7.8's `full` profile (3 seeds): both datasets, both models, the 8 core shifts,
 * severities 1–5, 55,000 training / 5,000 clean validation images (§7.2), 10,000 targets per cell, main
 * methods (SHOT-IM on its offline protocol, spec §7.5), the T3A filter sweep and DEC ablations on the
 * first seed, 3-pass trajectories. Hours on one core: the README's full commands split
 * it by model and keep severities 3–5 (the claims' severities).
 */
export function fullConfig(): StudyConfig {
  return {
    datasets: ['mnist', 'fashion'],
    models: ['mlp-bn', 'cnn-bn'],
    trainSize: 55000,
    valSize: 5000,
    epochs: 3,
    targetSize: 10000,
    shifts: [...CORE_CORRUPTIONS],
    severities: [1, 2, 3, 4, 5],
    batchSize: 50,
    methods: ['source', 'bn', 'tent', 'eta', 'eata', 'shotOffline', 'pl', 't3a', 'dec', 'decCode'].map((m) => STUDY_METHODS[m]!),
    ablations: ['t3aK1', 't3aK5', 't3aK20', 't3aK50', 't3aAll', 'bnRunning', 'decEntropy', 'decNormOnly', 'decFixed1', 'decFixedMax', 'decBce', 'decBn', 'decBnTeacher',
      'decT1x2', 'decT1x5', 'decT12x2', 'decT12x3', 'decT12x5', 'decMom099', 'decMom05'].map((m) => STUDY_METHODS[m]!),
    trajectoryPasses: 3,
    transcal: false,
  };
}

/** The study method ids (what `--set methods=…` and `--set ablations=…` accept). */
const METHOD_IDS = Object.keys(STUDY_METHODS);

/** What each `--set` key of the study accepts (checked before anything runs). */
const PARAM_RULES: Record<string, ParamRule> = {
  datasets: { choices: ['mnist', 'fashion'], aliases: DATASET_NAME_ALIASES, minLength: 1 }, models: { choices: ['mlp-bn', 'cnn-bn'], minLength: 1 },
  shifts: { choices: CORRUPTION_NAMES, minLength: 1 }, severities: { integer: true, min: 0, max: 5, minLength: 1 },
  methods: { choices: METHOD_IDS, minLength: 1 }, ablations: { type: 'string[]', choices: METHOD_IDS },
  trainSize: { integer: true, min: 1 }, valSize: { integer: true, min: 1 }, epochs: { integer: true, min: 1 },
  targetSize: { integer: true, min: 1 }, batchSize: { integer: true, min: 1 }, trajectoryPasses: { integer: true, min: 0 },
  transcal: { hint: 'true adds TransCal as a post-hoc row beside source+TS' },
};

/** The `--set` view of a mode's preset: methods and ablations by their `STUDY_METHODS` ids. */
function flatDefaults(mode: ExperimentOptions['mode']) {
  const base = mode === 'full' ? fullConfig() : quickConfig();
  const idOf = (spec: MethodSpec): string => METHOD_IDS.find((id) => STUDY_METHODS[id] === spec)!;
  return { ...base, methods: base.methods.map(idOf), ablations: base.ablations.map(idOf) };
}

/** The study's `--set` keys in a mode: defaults and what each accepts. */
export function udaStudyParameters(mode: ExperimentOptions['mode']): ParamSchema {
  return { defaults: flatDefaults(mode), rules: PARAM_RULES };
}

/**
 * The study's configuration for a mode with its `--set` overrides (`methods` and `ablations` by their
 * `STUDY_METHODS` ids): unknown keys, unknown shifts or methods and out-of-range values are
 * `UNKNOWN_PARAM` / `BAD_PARAM` errors before any data is loaded.
 */
export function resolveStudyConfig(mode: ExperimentOptions['mode'], params: ExperimentOptions['params']): StudyConfig {
  const flat = applyParams(flatDefaults(mode), params, { technique: 'uda-calibration', rules: PARAM_RULES });
  return { ...flat, methods: flat.methods.map((id) => STUDY_METHODS[id]!), ablations: flat.ablations.map((id) => STUDY_METHODS[id]!) };
}

const slim = (r: CalibrationReport) => ({
  accuracy: r.accuracy, ece: r.ece, mce: r.mce, ace: r.ace, nll: r.nll, brier: r.brier,
  entropyBits: r.meanEntropyBits, gap: r.overconfidenceGap, logitNorm: r.meanLogitNorm,
});

function loadData(name: 'mnist' | 'fashion', cfg: StudyConfig, seed: number): { train: Dataset; validation: Dataset; test: Dataset } {
  const load = name === 'mnist' ? loadMnist : loadFashionMnist;
  const all = load({ split: 'train', limit: cfg.trainSize + cfg.valSize });
  const [train, validation] = all.split(cfg.trainSize / (cfg.trainSize + cfg.valSize), seed);
  const test = load({ split: 'test', limit: cfg.targetSize });
  return { train, validation, test };
}

function buildModel(kind: 'mlp-bn' | 'cnn-bn', shape: readonly number[], k: number, seed: number): LayersModelAdapter {
  if (kind === 'cnn-bn') return smallCnn({ inputShape: [...shape], numClasses: k, channels: [16, 32], dense: 64, batchNorm: true, seed });
  return mlpBn({ inputShape: [...shape], numClasses: k, seed });
}

async function trainSource(model: LayersModelAdapter, train: Dataset, cfg: StudyConfig, seed: number): Promise<void> {
  const trainer = new Trainer({ model, optimizer: tf.train.adam(1e-3), seed, batchSize: 128, baseLoss: 'crossEntropy' });
  await trainer.fit(train, { epochs: cfg.epochs });
  trainer.dispose();
}

/** Checks the three bad inputs of the issue; returns how many raised the expected TrellisError. */
async function badInputChecks(source: LayersModelAdapter, shape: readonly number[], k: number, seed: number): Promise<{ passed: number; codes: string[] }> {
  const codes: string[] = [];
  const expectCode = async (code: string, f: () => Promise<unknown> | unknown): Promise<void> => {
    try {
      await f();
      codes.push('none');
    } catch (e) {
      codes.push(e instanceof TrellisError ? e.code : 'other');
      if (!(e instanceof TrellisError && e.code === code)) return;
    }
  };
  const method = await createAdaptation({ kind: 'tent' }, source, { seed });
  const wrong = tf.zeros([4, ...shape.map((d) => d + 1)]);
  await expectCode('TARGET_SHAPE_MISMATCH', () => method.step(wrong));
  wrong.dispose();
  method.dispose();
  const plain = mlp({ inputShape: [...shape], hidden: [32], numClasses: k, seed });
  await expectCode('NO_BATCHNORM', () => createAdaptation({ kind: 'tent' }, plain, { seed }));
  plain.dispose();
  const logits = new Float32Array(2 * k).fill(0.1);
  logits[3] = NaN;
  await expectCode('NON_FINITE_LOGITS', () => calibrationReport(logits, [0, 1], k));
  const expected = ['TARGET_SHAPE_MISMATCH', 'NO_BATCHNORM', 'NON_FINITE_LOGITS'];
  return { passed: codes.filter((c, i) => c === expected[i]).length, codes };
}

/** Runs the study and writes the run record; see the README for what each figure shows. */
async function run(options: ExperimentOptions): Promise<ExperimentResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const cfg = resolveStudyConfig(options.mode, options.params);
  const seeds = experimentSeeds(options);
  const record = await RunRecord.create({
    out: options.out, name: 'uda-calibration', seed: options.seed,
    config: { mode: options.mode, seeds, ...cfg },
    packageOf: import.meta.url,
    ...(options.resume ? { resume: true } : {}),
  });
  const journal = await record.openJournal();
  if (journal.finished) log(`[uda] resuming ${record.dir}: ${journal.finished} finished units (a source model's figures, a shift × severity cell, the trajectories) are replayed from its journal`);
  const rows: CellRow[] = [];
  const reliability: Array<{ cell: string; method: string; bins: CalibrationBin[] }> = [];
  const trajectories: Array<{ method: string; batch: number; ece: number; accuracy: number; entropyBits: number }> = [];
  const passEnds: PassEnd[] = [];
  const labelChecks: number[] = [];
  const badInputs: number[] = [];
  const sourceInfo: Array<Record<string, number | string>> = [];
  const t0 = performance.now();
  const sevs = [...cfg.severities].sort((a, b) => a - b);
  const maxSev = sevs[sevs.length - 1] ?? 0;
  for (const seed of seeds) {
    for (const dsName of cfg.datasets) {
      const { train, validation, test } = loadData(dsName, cfg, seed);
      const k = train.numClasses;
      const labels = test.labels!;
      for (const modelKind of cfg.models) {
        // journaled units: the source model's figures, each shift × severity cell and the trajectories; the
        // source model is trained only when a unit that needs it runs (again, with the same seed, on resume)
        const block = `seed ${seed} ${dsName}/${modelKind}`;
        let trained: LayersModelAdapter | null = null;
        const sourceModel = async (): Promise<LayersModelAdapter> => {
          if (!trained) {
            const m = buildModel(modelKind, train.shape, k, seed);
            await trainSource(m, train, cfg, seed);
            trained = m;
          }
          return trained;
        };
        try {
          const { temperature, stats } = await journal.collect(`${block} source`, { sourceInfo, badInputs }, async () => {
            const source = await sourceModel();
            const valLogits = predictLogits(source, validation);
            const temperature = fitTemperature(valLogits, validation.labels!, k);
            const stats: SourceStats = computeSourceStats(source, validation);
            const clean = calibrationReport(predictLogits(source, test), labels, k);
            sourceInfo.push({ seed, dataset: dsName, model: modelKind, cleanAccuracy: clean.accuracy, cleanEce: clean.ece, cleanLogitNorm: clean.meanLogitNorm, cleanEntropyBits: clean.meanEntropyBits, temperature, h0Bits: stats.h0Bits, kappa: stats.logitNorm });
            log(`[uda] seed ${seed} ${dsName}/${modelKind}: clean acc ${clean.accuracy.toFixed(4)} ECE ${clean.ece.toFixed(4)}; TS T=${temperature.toFixed(3)}; h0=${stats.h0Bits.toFixed(3)} bits, κ=${stats.logitNorm.toFixed(3)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
            if (seed === seeds[0] && dsName === cfg.datasets[0] && modelKind === cfg.models[0]) {
              badInputs.push((await badInputChecks(source, train.shape, k, seed)).passed);
            }
            return { temperature, stats };
          });
          const cells: Array<{ shift: CorruptionName; severity: number }> = [];
          for (const shift of cfg.shifts) for (const severity of sevs) cells.push({ shift, severity });
          for (const { shift, severity } of cells) {
            await journal.collect(`${block} ${shift} s${severity}`, { rows, reliability, labelChecks }, async () => {
              const source = await sourceModel();
              const target = severity === 0 ? test : corrupt(test, shift, severity as Severity, seed);
              const cell = `${dsName}/${modelKind} ${shift} s${severity}`;
              const base = { seed, dataset: dsName, model: modelKind, shift, severity };
              const specs = [...cfg.methods, ...(seed === seeds[0] && severity >= 3 ? cfg.ablations : [])];
              for (const spec of specs) {
                const method = await createAdaptation(spec, source, { seed, validation, stats });
                let tauSum = 0;
                let tauN = 0;
                const res = await runStream(method, target, {
                  seed, batchSize: cfg.batchSize,
                  onBatch: ({ logs }) => {
                    if (logs['dec/tau'] !== undefined) {
                      tauSum += logs['dec/tau'];
                      tauN++;
                    }
                  },
                });
                method.dispose();
                const label = methodLabel(spec);
                const online = calibrationReport(res.online[0]!, labels, k);
                const post = calibrationReport(res.post, labels, k);
                const extra = { msPerBatch: res.msPerBatch, peakTensors: res.peakTensors, ...(tauN ? { tau: tauSum / tauN } : {}) };
                rows.push({ ...base, method: label, protocol: 'online', ...slim(online), ...extra });
                rows.push({ ...base, method: label, protocol: 'post', ...slim(post), ...extra });
                if (spec.kind === 'source') {
                  const ts = calibrationReport(applyTemperature(res.online[0]!, temperature), labels, k);
                  for (const protocol of ['online', 'post'] as const) rows.push({ ...base, method: 'source+TS', protocol, ...slim(ts), msPerBatch: 0, peakTensors: 0 });
                  if (seed === seeds[0] && severity === maxSev && (shift === 'gaussian_noise' || shift === 'contrast')) reliability.push({ cell, method: 'source+TS', bins: ts.reliability });
                  if (cfg.transcal) {
                    // Reads the target's inputs only: no target label reaches transCalForModel.
                    const tc = transCalForModel(source, { sourceTrain: train, sourceVal: validation, target: target.withoutLabels(), targetLogits: res.online[0]!, seed });
                    const cal = calibrationReport(applyTemperature(res.online[0]!, tc.temperature), labels, k);
                    for (const protocol of ['online', 'post'] as const) rows.push({ ...base, method: 'source+TransCal', protocol, ...slim(cal), msPerBatch: 0, peakTensors: 0 });
                    log(`[uda] ${cell} TransCal: T=${tc.temperature.toFixed(3)} λ=${tc.lambda} estimated target acc ${tc.estimatedAccuracy.toFixed(4)} (weights mean ${tc.weightMean.toFixed(3)}, max ${tc.weightMax.toFixed(2)})`);
                  }
                }
                if (seed === seeds[0] && severity === maxSev && (shift === 'gaussian_noise' || shift === 'contrast')) reliability.push({ cell, method: label, bins: online.reliability });
                await record.logMetrics({ ...base, method: label, online: slim(online), post: slim(post), ...extra });
              }
              const line = rows.filter((r) => r.seed === seed && r.dataset === dsName && r.model === modelKind && r.shift === shift && r.severity === severity && r.protocol === 'online')
                .map((r) => `${r.method} ${(100 * r.accuracy).toFixed(1)}%/${r.ece.toFixed(3)}`).join(', ');
              log(`[uda] ${cell} (acc/ECE online): ${line} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
              // No target label is used in adaptation: adapting on the same inputs with permuted labels gives identical predictions.
              if (labelChecks.length < seeds.indexOf(seed) + 1 && severity === maxSev) {
                const spec = cfg.methods.find((m) => m.kind === 'dec') ?? cfg.methods[cfg.methods.length - 1]!;
                const perm = new Rng(seed + 99).permutation(target.size);
                const scrambled = Dataset.fromArrays({ x: target.x, shape: [...target.shape], labels: Int32Array.from(perm, (i) => labels[i]!), numClasses: k });
                const outs: Float32Array[] = [];
                for (const ds of [target, scrambled]) {
                  const m = await createAdaptation(spec, source, { seed, validation, stats });
                  const r = await runStream(m, ds, { seed, batchSize: cfg.batchSize });
                  m.dispose();
                  outs.push(r.online[0]!, r.post);
                }
                let diff = 0;
                for (let i = 0; i < outs[0]!.length; i++) diff = Math.max(diff, Math.abs(outs[0]![i]! - outs[2]![i]!), Math.abs(outs[1]![i]! - outs[3]![i]!));
                labelChecks.push(diff);
              }
            });
          }
          if (cfg.trajectoryPasses > 0 && seed === seeds[0]) {
            await journal.collect(`${block} trajectories`, { trajectories, passEnds }, async () => {
              const source = await sourceModel();
              const shift = cfg.shifts.includes('gaussian_noise') ? 'gaussian_noise' : cfg.shifts[0]!;
              const target = corrupt(test, shift, maxSev as Severity, seed);
              for (const spec of cfg.methods.filter((m) => m.kind === 'tent' || (m.kind === 'dec' && m.label === 'DEC'))) {
                const method = await createAdaptation(spec, source, { seed, validation, stats });
                const stream = new StreamingCalibration(k);
                const perPass = Math.ceil(target.size / cfg.batchSize);
                await runStream(method, target, {
                  seed, batchSize: cfg.batchSize, passes: cfg.trajectoryPasses,
                  onBatch: ({ pass, batch, indices, logits }) => {
                    stream.add(logits, Array.from(indices, (i) => labels[i]!));
                    const step = pass * perPass + batch;
                    if (batch === perPass - 1) {
                      const w = stream.windowed(target.size);
                      passEnds.push({ cell: `${dsName}/${modelKind}`, method: methodLabel(spec), pass: pass + 1, ece: w.ece, accuracy: w.accuracy });
                    }
                    if ((step + 1) % 5 === 0) {
                      const w = stream.windowed(1000);
                      trajectories.push({ method: `${dsName}/${modelKind} ${methodLabel(spec)}`, batch: step + 1, ece: w.ece, accuracy: w.accuracy, entropyBits: w.meanEntropyBits });
                    }
                  },
                });
                method.dispose();
              }
            });
          }
        } finally {
          (trained as LayersModelAdapter | null)?.dispose();
        }
      }
    }
  }
  return finish(record, options, cfg, seeds, rows, reliability, trajectories, passEnds, labelChecks, badInputs, sourceInfo, (performance.now() - t0) / 1000);
}

/** `trellis uda-calibration`: the reproduction of spec §7 (quick: mlp-bn on MNIST and Fashion-MNIST, 2 shifts × 2 severities, 1,000 targets). */
export const experiment: TechniqueExperiment = {
  name: 'uda-calibration',
  parameters: udaStudyParameters,
  checkParams: (options) => void resolveStudyConfig(options.mode, options.params),
  description: 'Test-time adaptation on corrupted MNIST/Fashion-MNIST: certainty distillation vs TENT/ETA/SHOT-IM/PL/T3A/BN-adapt — accuracy, ECE, NLL, reliability.',
  resumable: true,
  run,
};
