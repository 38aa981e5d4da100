import * as tf from '@tensorflow/tfjs-core';
import { Dataset, Rng, TrellisError, check, checkChoice, predictLogits, type ModelAdapter } from '@trellis-ml/core';
import { checkDenseSizes, convAutoencoder, denseAutoencoder, encodeDataset, pixelStats, trainAutoencoder, type Autoencoder, type AutoencoderTraining } from './autoencoder.js';
import { adapterMacs, adapterParams, countMacs, similarityMacs, type GeneratorCost } from './cost.js';
import { checkResize28, type Resize28 } from './imageResize.js';
import { oneHotLabels } from './losses.js';
import {
  autoDiagBoost, boostDiagonal, classSimilarityMatrix, diagArgmaxCount, rowSoftmax, samplePerClass, shuffleOffDiagonal, topPairs,
  validateSoftLabelMatrix, type ClassPair, type Matrix,
} from './similarity.js';

/** What a generator sees of a batch: labels, and the inputs / dataset indices when it needs them. */
export interface SoftLabelBatch {
  /** Integer labels `[B]`. */
  labels: tf.Tensor1D;
  /** Inputs `[B, ...shape]` (per-sample sources such as a teacher). */
  inputs?: tf.Tensor;
  /** Indices of the batch's examples in the training set (for a cached teacher). */
  indices?: Int32Array;
  /**
   * True when the labels are known to be class ids in range (a Trainer's batch: its `Dataset` checked them), so a
   * per-class source does not read them back to the host to check them again (default false: it checks).
   */
  labelsChecked?: boolean;
}

/** JSON state of a generator: enough to rebuild a per-class source without refitting. */
export interface GeneratorState {
  name: string;
  numClasses: number;
  /** The soft-label matrix (per-class sources), once fitted. */
  matrix?: Matrix;
  /** Extra details (similarity matrix, boost, ...). */
  details?: Record<string, unknown>;
}

/**
 * A source of soft labels: a per-class matrix looked up by the label (ReffAKD, label smoothing,
 * Tf-KD_reg, the controls) or a per-sample model (a teacher). Generators plug into
 * {@link distillPlugin} as the `source`; they replace (or stand in for) the teacher's targets.
 */
export interface SoftLabelGenerator {
  readonly name: string;
  readonly numClasses: number;
  readonly granularity: 'per-class' | 'per-sample';
  /** Whether the source must be fitted before {@link SoftLabelGenerator.targets} works. */
  readonly fitted: boolean;
  /** Fits the source on the training set (ReffAKD trains its autoencoder and builds the matrix). */
  fit?(data: Dataset): Promise<unknown>;
  /** Prepares for a training run on `train` (a cached teacher computes its logits here). */
  prepare?(train: Dataset): Promise<void> | void;
  /**
   * Target probabilities `[B, C]` (sync; runs inside the tape). A per-class source returns `P[y]`
   * whatever `temperature`; a teacher returns `softmax(z_t / temperature)`.
   */
  targets(batch: SoftLabelBatch, temperature: number): tf.Tensor2D;
  /**
   * Pseudo-logits `[B, C]` for losses written in teacher logits: a per-class source returns
   * `T·log P[y]`, so `softmax(ℓ/T) = P[y]` exactly (mode `replace-teacher`); a teacher its logits.
   */
  pseudoLogits(batch: SoftLabelBatch, temperature: number): tf.Tensor2D;
  /** The soft-label matrix of a per-class source (null for a per-sample source or before fitting). */
  matrix(): Matrix | null;
  /** What producing the labels cost. */
  cost(): GeneratorCost;
  toJSON(): GeneratorState;
  /** Restores a per-class matrix from {@link SoftLabelGenerator.toJSON} (a resumed run does not refit). */
  restore(state: GeneratorState): void;
  /** Frees the source's tensors. A per-class source keeps its host matrix and stays usable (tensors are rebuilt on next use). */
  dispose(): void;
}

function zeroCost(source: string): GeneratorCost {
  return { source, params: 0, forwardMacsPerExample: 0, fitMacs: 0, fitMs: 0, labelMacs: 0, labelMs: 0, backend: tf.getBackend() };
}

function notFitted(name: string): TrellisError {
  return new TrellisError('GENERATOR_NOT_FITTED', `the "${name}" soft-label generator has no matrix yet`,
    'call `await generator.fit(trainSet)` first, or let distillPlugin fit it at the start of training');
}

function checkNumClasses(numClasses: unknown, who: string): void {
  check(typeof numClasses === 'number' && Number.isInteger(numClasses) && numClasses >= 2, 'BAD_CLASSES',
    `${who}: numClasses ${String(numClasses)} is not an integer ≥ 2`, 'pass numClasses, the number of classes of the task (the student\'s outputs), e.g. 10');
}

function checkTemperatureOption(T: unknown, what: string): void {
  check(typeof T === 'number' && Number.isFinite(T) && T > 0, 'BAD_TEMPERATURE', `${what} ${String(T)} must be a positive finite number`, 'pass a temperature > 0');
}

function checkOptionsObject(options: unknown, who: string, example: string): void {
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', `${who} needs an options object, got ${String(options)}`, `pass the options, e.g. ${example}`);
}

/** A per-class source holding `P` (host copy and a kept tensor). */
class MatrixSource implements SoftLabelGenerator {
  readonly granularity = 'per-class' as const;
  protected P: Matrix | null = null;
  protected tensor: tf.Tensor2D | null = null;
  protected logTensor: tf.Tensor2D | null = null;
  protected costRecord: GeneratorCost;
  protected details: Record<string, unknown> = {};

  constructor(readonly name: string, readonly numClasses: number, P?: Matrix) {
    this.costRecord = zeroCost(name);
    if (P) this.setMatrix(P);
  }

  get fitted(): boolean {
    return this.P !== null;
  }

  /** Validates and installs a soft-label matrix. */
  setMatrix(P: Matrix): void {
    validateSoftLabelMatrix(P, this.numClasses);
    this.releaseTensors();
    this.P = P.map((r) => [...r]);
  }

  /** The matrix and its log as kept tensors, built on first use (again after {@link MatrixSource.dispose}). */
  private tensors(): [tf.Tensor2D, tf.Tensor2D] {
    if (!this.P) throw notFitted(this.name);
    if (!this.tensor || !this.logTensor) {
      this.tensor = tf.keep(tf.tensor2d(this.P, [this.numClasses, this.numClasses], 'float32'));
      const t = this.tensor;
      this.logTensor = tf.keep(tf.tidy(() => tf.log(tf.maximum(t, 1e-12))) as tf.Tensor2D);
    }
    return [this.tensor, this.logTensor];
  }

  private releaseTensors(): void {
    this.tensor?.dispose();
    this.logTensor?.dispose();
    this.tensor = null;
    this.logTensor = null;
  }

  targets(batch: SoftLabelBatch): tf.Tensor2D {
    const [t] = this.tensors();
    return tf.tidy(() => tf.matMul(oneHotLabels(batch.labels, this.numClasses, { checkLabelValues: !batch.labelsChecked }), t) as tf.Tensor2D);
  }

  pseudoLogits(batch: SoftLabelBatch, temperature: number): tf.Tensor2D {
    // T = 0 gave all-zero rows, a negative T inverted them, NaN gave NaN rows
    checkTemperatureOption(temperature, 'pseudo-logit temperature');
    const [, t] = this.tensors();
    return tf.tidy(() => tf.mul(tf.matMul(oneHotLabels(batch.labels, this.numClasses, { checkLabelValues: !batch.labelsChecked }), t), temperature) as tf.Tensor2D);
  }

  matrix(): Matrix | null {
    return this.P ? this.P.map((r) => [...r]) : null;
  }

  cost(): GeneratorCost {
    return { ...this.costRecord };
  }

  toJSON(): GeneratorState {
    return { name: this.name, numClasses: this.numClasses, ...(this.P ? { matrix: this.matrix()! } : {}), details: this.details };
  }

  restore(state: GeneratorState): void {
    check(typeof state === 'object' && state !== null, 'BAD_STATE', `cannot restore the "${this.name}" source from ${String(state)}`,
      'pass the object its toJSON() returned (the plugin state\'s `source`)');
    check(state.numClasses === this.numClasses, 'MATRIX_SIZE_MISMATCH', `the saved "${state.name}" state has ${state.numClasses} classes, this generator ${this.numClasses}`,
      'restore a state saved from a generator of the same task');
    if (state.matrix) this.setMatrix(state.matrix);
    if (state.details) this.details = state.details;
  }

  /** Frees the tensors; the host matrix stays, so the source keeps working (tensors are rebuilt on next use). */
  dispose(): void {
    this.releaseTensors();
  }
}

/**
 * A fixed per-class soft-label matrix (`C × C`, rows sum to 1). With `isLogits: true` the rows are
 * treated as logits / similarities and a row-wise softmax (at `temperature`, default 1) is applied.
 * Throws `SOFT_LABELS_NOT_NORMALIZED` / `MATRIX_SIZE_MISMATCH` on bad input.
 */
export function matrixGenerator(P: Matrix, options: { isLogits?: boolean; temperature?: number; numClasses?: number; name?: string } = {}): SoftLabelGenerator {
  check(Array.isArray(P), 'MATRIX_SIZE_MISMATCH', `matrixGenerator needs a C × C matrix (an array of rows), got ${String(P)}`,
    'pass the soft-label matrix as nested arrays, P[row][col], one row per class');
  const C = options.numClasses ?? P.length;
  if (options.isLogits) validateShape(P, C);
  return new MatrixSource(options.name ?? 'matrix', C, options.isLogits ? rowSoftmax(P, options.temperature ?? 1) : P);
}

function validateShape(P: Matrix, C: number): void {
  if (P.length !== C || P.some((r) => r.length !== C)) {
    throw new TrellisError('MATRIX_SIZE_MISMATCH', `the similarity matrix is ${P.length} × ${P[0]?.length ?? 0}, but the task has ${C} classes`,
      `pass a ${C} × ${C} matrix: one row and one column per class`);
  }
}

/**
 * Label smoothing as a per-class source: `(1−ε)·I + ε/C` (`'uniform-all'`) or `1−ε` / `ε/(C−1)` (`'uniform-others'`):
 * core's `smoothTargets` of the identity, kept as a host (float64) matrix like every per-class source.
 */
export function labelSmoothingGenerator(options: { numClasses: number; epsilon: number; variant?: 'uniform-all' | 'uniform-others' }): SoftLabelGenerator {
  checkOptionsObject(options, 'labelSmoothingGenerator', '{ numClasses: 10, epsilon: 0.1 }');
  const { numClasses: C, epsilon: e } = options;
  checkNumClasses(C, 'labelSmoothingGenerator');
  check(e >= 0 && e <= 1, 'BAD_OPTION', `label smoothing ε ${e} is outside [0, 1]`, 'pass ε in [0, 1], e.g. 0.1');
  check(options.variant === undefined || options.variant === 'uniform-all' || options.variant === 'uniform-others', 'BAD_OPTION',
    `label-smoothing variant ${JSON.stringify(options.variant)} is not 'uniform-all' or 'uniform-others'`,
    "pass variant 'uniform-all' (ε/C on every class, default) or 'uniform-others' (ε/(C−1) on the wrong classes)");
  const others = options.variant === 'uniform-others';
  const P = Array.from({ length: C }, (_, a) => Array.from({ length: C }, (_, b) => (others ? (a === b ? 1 - e : e / (C - 1)) : (a === b ? 1 - e : 0) + e / C)));
  return new MatrixSource('label-smoothing', C, P);
}

/** Tf-KD_reg's virtual teacher as a per-class source: row c is `softmax(p^d/τ)` (§5.4). */
export function tfkdRegGenerator(options: { numClasses: number; a?: number; tau: number }): SoftLabelGenerator {
  checkOptionsObject(options, 'tfkdRegGenerator', '{ numClasses: 10, tau: 20 }');
  const a = options.a ?? 0.99;
  const C = options.numClasses;
  checkNumClasses(C, 'tfkdRegGenerator');
  checkTemperatureOption(options.tau, 'Tf-KD τ');
  check(a >= 0 && a <= 1, 'BAD_OPTION', `Tf-KD a ${a} is outside [0, 1]`, 'pass a in [0, 1], e.g. 0.99');
  const other = (1 - a) / (C - 1);
  const P = Array.from({ length: C }, (_, r) => {
    const e = Array.from({ length: C }, (_, c) => Math.exp((r === c ? a : other) / options.tau));
    const s = e.reduce((p, v) => p + v, 0);
    return e.map((v) => v / s);
  });
  return new MatrixSource('tfkd-reg', C, P);
}

/**
 * The shuffled-matrix control: the base source's matrix with each row's off-diagonal entries
 * permuted (seeded). Fits the base first if needed. Same smoothing, no class structure.
 */
export function shuffledMatrixGenerator(base: SoftLabelGenerator, seed: number): SoftLabelGenerator {
  check(typeof base === 'object' && base !== null && typeof base.matrix === 'function', 'BAD_OPTION', `shuffledMatrixGenerator needs a soft-label source to shuffle, got ${String(base)}`,
    'pass a per-class source, e.g. shuffledMatrixGenerator(reffakdGenerator({ numClasses: 10 }), seed)');
  check(base.granularity === 'per-class', 'BAD_OPTION', `cannot shuffle the per-sample source "${base.name}"`, 'shuffle a per-class source (ReffAKD, a matrix)');
  const src = new MatrixSource(`${base.name}-shuffled`, base.numClasses);
  const install = (): void => {
    const P = base.matrix();
    if (!P) throw notFitted(base.name);
    src.setMatrix(shuffleOffDiagonal(P, Rng.derive(seed, 'shuffle-matrix')));
  };
  if (base.fitted) install();
  return Object.assign(src, {
    fit: async (data: Dataset) => {
      if (!base.fitted) await base.fit?.(data);
      install();
      return src.toJSON();
    },
  });
}

/** Options of {@link reffakdGenerator}. */
export interface ReffakdOptions {
  /** Number of classes. */
  numClasses: number;
  /** `'dense'` (AE-D 784→128→32, the default on CPU) or `'conv'` (the paper's ConvAE; needs conv training kernels). */
  autoencoder?: 'dense' | 'conv';
  /**
   * Conv AE only: how images whose H or W is not a multiple of 8 (28×28) reach the ConvAE's size (32×32):
   * `'pad'` (default, zero padding, spec §10.1) or `'bilinear'` (the notebooks' torchvision `Resize(32)`,
   * spec §9). Images already divisible by 8 are used as they are, and the pixel control
   * (`featureSource: 'pixels'`) reads the data as given. `'bilinear'` with the dense AE is a `BAD_OPTION`
   * error (it has no image layout).
   */
  resize28?: Resize28;
  /** Hidden / code sizes of the dense AE (default 128 / 32). */
  dense?: { hidden?: number; code?: number };
  /** Autoencoder training (default: Adam 1e-3, 3 epochs, batch 128, unit-range MSE). */
  aeTraining?: AutoencoderTraining;
  /**
   * What the autoencoder sees: `'unit'` (default, [0, 1] pixels) or `'standardized'` (`(x − mean)/std`
   * with the training pixels' mean and population std, for training and encoding alike), which is what
   * the notebooks feed their AE (`Normalize(mean, std)` in every transform); faithful mode is
   * `aeInput: 'standardized'` with `aeTraining.reconstructionTarget: 'normalized'`.
   */
  aeInput?: 'unit' | 'standardized';
  /**
   * Where the codes come from: `'encoder'` (ReffAKD), or the controls `'pixels'` (raw inputs, no AE)
   * and `'random-encoder'` (the untrained, seeded encoder).
   */
  featureSource?: 'encoder' | 'pixels' | 'random-encoder';
  /** Codes per class (default 40, the paper). */
  samplesPerClass?: number;
  /** Seed of the per-class sampling (default 42, the notebooks'). */
  sampleSeed?: number;
  /** Diagonal boost δ: a number (0.008 FMNIST, 0.0225 CIFAR in the notebooks) or `'auto'` (default). */
  diagBoost?: number | 'auto';
  /** Margin of the `'auto'` boost (default 0.002). */
  autoBoostMargin?: number;
  /** Temperature of the row-wise softmax (default 1, the paper). */
  rowTemperature?: number;
  /** Seed of the autoencoder's initialisation and shuffling (default 0). */
  seed?: number;
  /** Class names for the report's top pairs. */
  classNames?: readonly string[];
  /** Progress lines. */
  log?: (line: string) => void;
}

/** The ReffAKD generator: a {@link SoftLabelGenerator} whose `fit` returns (and `report()` keeps) its {@link ReffakdReport}. */
export interface ReffakdGenerator extends SoftLabelGenerator {
  fit(data: Dataset): Promise<ReffakdReport>;
  /** The last fit's report (null before fitting). */
  report(): ReffakdReport | null;
}

/** What fitting ReffAKD produced (also in the generator's state `details`). */
export interface ReffakdReport {
  /** Class-similarity matrix (mean cosine). */
  S: Matrix;
  /** `S + δ·I`. */
  boosted: Matrix;
  /** Soft labels `softmax(S')` row-wise. */
  P: Matrix;
  /** The boost used. */
  delta: number;
  /** Rows of `P` whose argmax is the diagonal. */
  diagArgmaxCount: number;
  /** Rows whose argmax would be the diagonal without a boost. */
  diagArgmaxCountUnboosted: number;
  /** Mean true-class probability `mean_c P[c][c]`. */
  meanTrueClassProb: number;
  /** Most similar class pairs of S. */
  topPairs: ClassPair[];
  /** Reconstruction MSE per AE epoch (empty for pixel / random-encoder sources). */
  aeMse: number[];
  /** Forward MACs per example of the whole autoencoder, encoder + decoder (0 for the pixel source). */
  aeForwardMacs: number;
  /** Sampling warnings (classes with too few examples). */
  warnings: string[];
  cost: GeneratorCost;
}

/**
 * The ReffAKD soft-label generator (§2): trains a compact autoencoder on the training images, encodes
 * `samplesPerClass` random training images per class, averages pairwise cosine similarities into a
 * `C × C` class-similarity matrix, boosts its diagonal and takes a row-wise softmax. Row `c` is the
 * soft label of every example of class `c`. `featureSource` gives the controls.
 */
export function reffakdGenerator(options: ReffakdOptions): ReffakdGenerator {
  check(typeof options === 'object' && options !== null, 'BAD_OPTION', `reffakdGenerator needs an options object, got ${String(options)}`,
    'pass at least { numClasses }, e.g. reffakdGenerator({ numClasses: 10 })');
  checkNumClasses(options.numClasses, 'reffakdGenerator');
  if (options.featureSource !== undefined) {
    checkChoice(options.featureSource, ['encoder', 'pixels', 'random-encoder'] as const, 'featureSource',
      { fix: "use featureSource: 'encoder' (ReffAKD), 'pixels' or 'random-encoder' (the controls)" });
  }
  if (options.autoencoder !== undefined) {
    checkChoice(options.autoencoder, ['dense', 'conv'] as const, 'autoencoder', { fix: "use autoencoder: 'dense' (AE-D, default) or 'conv' (the paper's ConvAE)" });
  }
  check(options.diagBoost === undefined || options.diagBoost === 'auto' || (typeof options.diagBoost === 'number' && Number.isFinite(options.diagBoost)), 'BAD_OPTION',
    `diagBoost ${typeof options.diagBoost === 'string' ? `"${options.diagBoost}"` : String(options.diagBoost)} is neither 'auto' nor a finite number`, "pass diagBoost: 'auto' (default) or a boost δ such as 0.008");
  check(options.autoBoostMargin === undefined || (typeof options.autoBoostMargin === 'number' && Number.isFinite(options.autoBoostMargin)), 'BAD_OPTION',
    `autoBoostMargin ${String(options.autoBoostMargin)} is not a finite number`, 'pass a margin such as 0.002 (the default)');
  if (options.rowTemperature !== undefined) checkTemperatureOption(options.rowTemperature, 'rowTemperature');
  // a bad size used to fail in tfjs ("Expected units to be a positive integer") only when fit() built the AE
  if (options.dense !== undefined) checkDenseSizes(options.dense, 'reffakdGenerator dense');
  checkAutoencoderOptions(options);
  const featureSource = options.featureSource ?? 'encoder';
  const name = featureSource === 'encoder' ? 'reffakd' : `reffakd-${featureSource}`;
  const src = new MatrixSource(name, options.numClasses);
  let report: ReffakdReport | null = null;
  const fit = async (data: Dataset): Promise<ReffakdReport> => {
    check(data.labels, 'UNLABELED', 'ReffAKD needs labeled training data to build its class-similarity matrix', 'fit on the labeled training set');
    check(data.numClasses === options.numClasses, 'CLASS_COUNT_MISMATCH', `the data has ${data.numClasses} classes but the generator was built for ${options.numClasses}`,
      'build the generator with numClasses equal to the dataset\'s');
    const log = options.log ?? (() => undefined);
    const cost = zeroCost(name);
    let aeMse: number[] = [];
    let aeForwardMacs = 0;
    const { indices, warnings } = samplePerClass(data.labels, options.numClasses, options.samplesPerClass ?? 40, Rng.derive(options.sampleSeed ?? 42, 'reffakd-sample'));
    for (const w of warnings) log(`reffakd: ${w}`);
    const sample = data.subset(indices);
    let codes: Float32Array;
    let dim: number;
    const t0 = performance.now();
    if (featureSource === 'pixels') {
      codes = sample.x;
      dim = sample.exampleSize;
    } else {
      const ae = buildAutoencoder(options, data);
      try {
        cost.params = ae.model.countParams();
        cost.forwardMacsPerExample = countMacs(ae.encoder);
        aeForwardMacs = countMacs(ae.model);
        if (featureSource === 'encoder') {
          const tr = await trainAutoencoder(ae, data, { seed: options.seed ?? 0, ...options.aeTraining, onEpoch: (e, mse) => log(`reffakd: autoencoder epoch ${e + 1} mse ${mse.toFixed(5)}`) });
          aeMse = tr.mse;
          cost.fitMacs = tr.macs;
          cost.fitMs = tr.ms;
        }
        const t1 = performance.now();
        codes = encodeDataset(ae, sample);
        dim = ae.codeSize;
        cost.labelMs = performance.now() - t1;
      } finally {
        ae.dispose();
      }
    }
    const t2 = performance.now();
    const S = classSimilarityMatrix(codes, dim, sample.labels!, options.numClasses);
    const delta = options.diagBoost === undefined || options.diagBoost === 'auto' ? autoDiagBoost(S, options.autoBoostMargin ?? 0.002) : options.diagBoost;
    const boosted = boostDiagonal(S, delta);
    const P = rowSoftmax(boosted, options.rowTemperature ?? 1);
    cost.labelMs += performance.now() - t2 + (featureSource === 'pixels' ? t2 - t0 : 0);
    cost.labelMacs = cost.forwardMacsPerExample * sample.size + similarityMacs(sample.size, dim);
    src.setMatrix(P);
    const count = diagArgmaxCount(P);
    if (count < options.numClasses) {
      log(`reffakd: warning: only ${count} of ${options.numClasses} soft-label rows put the most mass on the true class (δ = ${delta}); use diagBoost: 'auto'`);
    }
    report = {
      S, boosted, P, delta, diagArgmaxCount: count, diagArgmaxCountUnboosted: diagArgmaxCount(S),
      meanTrueClassProb: P.reduce((s, r, c) => s + r[c]!, 0) / P.length,
      topPairs: topPairs(S, 5, options.classNames), aeMse, aeForwardMacs, warnings, cost,
    };
    (src as unknown as { costRecord: GeneratorCost }).costRecord = cost;
    (src as unknown as { details: Record<string, unknown> }).details = { S, delta, diagArgmaxCount: count, featureSource };
    return report;
  };
  return Object.assign(src, { fit, report: () => report });
}

/**
 * The autoencoder options of {@link reffakdGenerator}, checked when the generator is built (they were
 * checked only when `fit` built the autoencoder): `aeInput`, `resize28`, and `resize28: 'bilinear'` only
 * with the conv autoencoder.
 */
function checkAutoencoderOptions(options: ReffakdOptions): void {
  check(options.aeInput === undefined || options.aeInput === 'unit' || options.aeInput === 'standardized', 'BAD_OPTION',
    `aeInput "${String(options.aeInput)}" is not an autoencoder input mode`, "use aeInput: 'unit' or 'standardized'");
  if (options.resize28 !== undefined) checkResize28(options.resize28);
  check(options.autoencoder === 'conv' || options.resize28 === undefined || options.resize28 === 'pad', 'BAD_OPTION',
    `resize28 "${String(options.resize28)}" needs the conv autoencoder: the dense AE reads flat pixels`, "use autoencoder: 'conv', or drop resize28");
}

function buildAutoencoder(options: ReffakdOptions, data: Dataset): Autoencoder {
  const seed = options.seed ?? 0;
  const inputStats = options.aeInput === 'standardized' ? pixelStats(data.x) : null;
  if (options.autoencoder === 'conv') {
    const s = data.shape;
    const shape: [number, number, number] = s.length === 3 ? [s[0]!, s[1]!, s[2]!] : s.length === 1 && Math.sqrt(s[0]!) % 1 === 0 ? [Math.sqrt(s[0]!), Math.sqrt(s[0]!), 1] : [0, 0, 0];
    check(shape[0] > 0, 'BAD_SHAPE', `the conv autoencoder needs image inputs, got examples of shape [${s.join(', ')}]`, 'reshape the dataset to [H, W, C] or use autoencoder: \'dense\'');
    return convAutoencoder({ inputShape: shape, seed, ...(inputStats ? { inputStats } : {}), ...(options.resize28 ? { resize28: options.resize28 } : {}) });
  }
  return denseAutoencoder({ inputDim: data.exampleSize, hidden: options.dense?.hidden, code: options.dense?.code, seed, ...(inputStats ? { inputStats } : {}) });
}

/** Options of {@link teacherGenerator}. */
export interface TeacherOptions {
  /** Fixed temperature of the teacher's softmax; default: the distillation method's temperature. */
  temperature?: number;
  /**
   * `'none'` (default) runs the teacher on every batch; `'epoch-invariant'` computes the teacher's
   * logits for the whole training set once per training set (another Dataset object, even of the same
   * size, is computed afresh). Exact only without augmentation: the first batch of each run is checked
   * against the live teacher and a mismatch throws `TEACHER_CACHE_STALE`.
   */
  cache?: 'none' | 'epoch-invariant';
  /** The teacher's own training cost, when you trained it (for the cost table). */
  trainingCost?: { macs: number; ms: number };
}

/**
 * A teacher model as the soft-label source (classic KD): targets are `softmax(z_t/T)`, per sample.
 */
export function teacherGenerator(teacher: ModelAdapter, options: TeacherOptions = {}): SoftLabelGenerator {
  check(typeof teacher === 'object' && teacher !== null && typeof teacher.apply === 'function', 'BAD_OPTION', `teacherGenerator needs a teacher model, got ${String(teacher)}`,
    'pass a trained ModelAdapter (e.g. a core mlp or LayersModelAdapter) as the first argument');
  if (options.temperature !== undefined) checkTemperatureOption(options.temperature, 'teacher temperature');
  check(options.cache === undefined || options.cache === 'none' || options.cache === 'epoch-invariant', 'BAD_OPTION',
    `teacher cache ${JSON.stringify(options.cache)} is not 'none' or 'epoch-invariant'`, "pass cache: 'none' (run the teacher on every batch) or 'epoch-invariant' (compute its logits once)");
  const numClasses = teacher.numClasses;
  const cost: GeneratorCost = { ...zeroCost('teacher'), params: adapterParams(teacher), forwardMacsPerExample: adapterMacs(teacher), fitMacs: options.trainingCost?.macs ?? 0, fitMs: options.trainingCost?.ms ?? 0 };
  let cache: { logits: Float32Array; data: Dataset; size: number; checked: boolean } | null = null;
  const logitsFor = (batch: SoftLabelBatch): tf.Tensor2D => {
    // the cache is an optimisation: without a prepared training set (e.g. bare trainStep calls) the teacher runs online
    if (options.cache === 'epoch-invariant' && cache) {
      check(batch.indices, 'TEACHER_CACHE_NO_INDICES', 'the cached teacher needs the batch\'s dataset indices', 'pass batches from Dataset.batches (they carry indices)');
      const B = batch.indices.length;
      const rows = new Float32Array(B * numClasses);
      for (let k = 0; k < B; k++) {
        const i = batch.indices[k]!;
        check(i >= 0 && i < cache.size, 'TEACHER_CACHE_STALE', `batch index ${i} is outside the cached training set of ${cache.size}`, 'prepare the cache on the dataset you train on');
        rows.set(cache.logits.subarray(i * numClasses, (i + 1) * numClasses), k * numClasses);
      }
      const cached = tf.tensor2d(rows, [B, numClasses]);
      if (!cache.checked && batch.inputs) {
        cache.checked = true;
        const live = teacher.apply(batch.inputs, { training: false }).logits;
        const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(live, cached))).dataSync()[0]!);
        live.dispose();
        if (diff > 1e-3) {
          cached.dispose();
          throw new TrellisError('TEACHER_CACHE_STALE', `the cached teacher logits differ from the teacher's output on the live batch by ${diff.toFixed(4)}: the batch inputs were changed (augmentation?)`,
            "use cache: 'none' when batches are augmented or replaced in onBatchStart");
        }
      }
      return cached;
    }
    check(batch.inputs, 'TEACHER_NEEDS_INPUTS', 'the teacher source needs the batch inputs', 'pass inputs in the soft-label batch');
    const t0 = performance.now();
    const z = teacher.apply(batch.inputs, { training: false }).logits as tf.Tensor2D;
    cost.labelMs += performance.now() - t0;
    cost.labelMacs += cost.forwardMacsPerExample * batch.labels.shape[0];
    return z;
  };
  return {
    name: 'teacher',
    numClasses,
    granularity: 'per-sample',
    fitted: true,
    prepare: (train: Dataset) => {
      if (options.cache !== 'epoch-invariant') return;
      if (cache && cache.data === train) {
        cache.checked = false; // each run's first batch is checked against the live teacher again
        return;
      }
      check(train.numClasses === numClasses, 'TEACHER_CLASS_MISMATCH', `the teacher outputs ${numClasses} classes but the training set has ${train.numClasses}`,
        'distil from a teacher trained on the same classes as the student');
      const t0 = performance.now();
      cache = { logits: predictLogits(teacher, train), data: train, size: train.size, checked: false };
      cost.labelMs += performance.now() - t0;
      cost.labelMacs += cost.forwardMacsPerExample * train.size;
    },
    targets: (batch, temperature) => {
      checkTemperatureOption(options.temperature ?? temperature, 'teacher temperature');
      return tf.tidy(() => tf.softmax(tf.div(logitsFor(batch), options.temperature ?? temperature)) as tf.Tensor2D);
    },
    pseudoLogits: (batch, temperature) => tf.tidy(() => {
      if (options.temperature) checkTemperatureOption(temperature, 'pseudo-logit temperature');
      const z = logitsFor(batch);
      // with a fixed teacher temperature, rescale so that softmax(ℓ / T_method) = softmax(z / T_teacher)
      return (options.temperature ? tf.mul(z, temperature / options.temperature) : z) as tf.Tensor2D;
    }),
    matrix: () => null,
    cost: () => ({ ...cost }),
    toJSON: () => ({ name: 'teacher', numClasses }),
    restore: () => undefined,
    // the cache is host memory (no tensors) and the teacher model stays the caller's: nothing to free,
    // and a shared source keeps its cache across runs
    dispose: () => undefined,
  };
}
