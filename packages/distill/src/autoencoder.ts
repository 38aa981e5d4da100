import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Dataset, LayersModelAdapter, Rng, check, checkChoice, disposeBatch, initializeWeights, requireBackend } from '@trellis-ml/core';
import { countMacs } from './cost.js';
import { checkResize28, resizeBilinear, type Resize28 } from './imageResize.js';

/** A compact autoencoder: an encoder model (input → code) sharing its layers with the full model. */
export interface Autoencoder {
  /** `'dense'` (AE-D, the MLP tier) or `'conv'` (the paper's 3-layer ConvAE, §2.1). */
  readonly kind: 'dense' | 'conv';
  /** Input → code (post-ReLU, flattened by {@link encodeDataset}). */
  readonly encoder: tfl.LayersModel;
  /** Input → reconstruction (sigmoid). */
  readonly model: tfl.LayersModel;
  /** Shape of one AE input (e.g. `[784]` or `[32, 32, 1]`). */
  readonly inputShape: number[];
  /** Code length. */
  readonly codeSize: number;
  /**
   * Statistics the AE input is standardised with (`(x − mean)/std`, as the notebooks' `Normalize`), or
   * null for raw [0, 1] pixels (the default).
   */
  readonly inputStats: { mean: number; std: number } | null;
  /**
   * Maps a dataset batch `[B, ...shape]` to the AE's image layout (flatten; or bring H and W to a
   * multiple of 8 by zero padding or bilinear resizing, the ConvAE's `resize28`), not standardised.
   */
  layout(x: tf.Tensor): tf.Tensor;
  /** Maps a dataset batch to the AE input: {@link Autoencoder.layout}, then standardised when `inputStats` is set. */
  prepare(x: tf.Tensor): tf.Tensor;
  dispose(): void;
}

function standardizer(stats: { mean: number; std: number } | undefined): (x: tf.Tensor) => tf.Tensor {
  if (!stats) return (x) => x;
  check(stats.std > 0 && Number.isFinite(stats.mean), 'BAD_OPTION', `autoencoder input statistics mean ${stats.mean}, std ${stats.std} are not usable`,
    'pass the training pixels\' mean and a positive std (pixelStats)');
  return (x) => tf.div(tf.sub(x, stats.mean), stats.std);
}

function seeded(model: tfl.LayersModel, seed: number): void {
  initializeWeights(new LayersModelAdapter(model), Rng.derive(seed, 'autoencoder-init'));
}

/**
 * Throws `BAD_OPTION` unless the dense AE's `hidden` / `code` sizes (when given) are positive integers.
 * @internal
 */
export function checkDenseSizes(sizes: { hidden?: number; code?: number }, who: string): void {
  check(typeof sizes === 'object' && sizes !== null, 'BAD_OPTION', `${who} needs { hidden?, code? }, got ${String(sizes)}`, 'pass e.g. { hidden: 128, code: 32 }');
  for (const key of ['hidden', 'code'] as const) {
    const v = sizes[key];
    check(v === undefined || (Number.isInteger(v) && v > 0), 'BAD_OPTION', `${who} ${key} size ${String(v)} is not a positive integer`,
      `pass ${key} as a whole number of units ≥ 1 (default ${key === 'hidden' ? 128 : 32})`);
  }
}

/**
 * AE-D of the spec's MLP tier (§10.2): `inputDim → hidden (ReLU) → code (ReLU) → hidden (ReLU) →
 * inputDim (sigmoid)`; 784→128→32 has 209,968 parameters. Seeded Glorot-uniform init.
 */
export function denseAutoencoder(options: { inputDim: number; hidden?: number; code?: number; seed: number; inputStats?: { mean: number; std: number } }): Autoencoder {
  requireBackend('denseAutoencoder()');
  check(Number.isInteger(options.inputDim) && options.inputDim > 0, 'BAD_OPTION', `denseAutoencoder inputDim ${String(options.inputDim)} is not a positive integer`,
    'pass the length of one flattened example, e.g. 784');
  checkDenseSizes(options, 'denseAutoencoder');
  const hidden = options.hidden ?? 128;
  const code = options.code ?? 32;
  const input = tfl.input({ shape: [options.inputDim], name: 'ae_input' });
  const h1 = tfl.layers.dense({ units: hidden, activation: 'relu', name: 'enc1' }).apply(input) as tfl.SymbolicTensor;
  const z = tfl.layers.dense({ units: code, activation: 'relu', name: 'code' }).apply(h1) as tfl.SymbolicTensor;
  const h2 = tfl.layers.dense({ units: hidden, activation: 'relu', name: 'dec1' }).apply(z) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: options.inputDim, activation: 'sigmoid', name: 'recon' }).apply(h2) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out, name: 'dense_ae' });
  const encoder = tfl.model({ inputs: input, outputs: z, name: 'dense_encoder' });
  seeded(model, options.seed);
  const layout = (x: tf.Tensor): tf.Tensor => tf.reshape(x, [x.shape[0]!, options.inputDim]);
  const norm = standardizer(options.inputStats);
  return {
    kind: 'dense', encoder, model, inputShape: [options.inputDim], codeSize: code, inputStats: options.inputStats ?? null,
    layout, prepare: (x) => norm(layout(x)),
    dispose: () => model.dispose(),
  };
}

/**
 * The paper's ConvAE (§2.1): three conv 4×4/2 layers (12, 24, 48 filters, ReLU) and three transposed
 * convs back (24, 12, C_in; the last with a sigmoid). TF.js `'same'` padding with k=4, s=2 pads 1 on
 * each side like PyTorch's `padding=1`, so H and W must be multiples of 8: other sizes (28×28) are
 * brought to the next multiple (32×32) by `resize28` — zero padding, centred (`'pad'`, the default) or
 * the notebooks' bilinear `Resize(32)` (`'bilinear'`); inputs already divisible by 8 pass unchanged.
 * 1 channel: 46,585 parameters, code 4·4·48 = 768.
 */
export function convAutoencoder(options: { inputShape: [number, number, number]; seed: number; inputStats?: { mean: number; std: number }; resize28?: Resize28 }): Autoencoder {
  requireBackend('convAutoencoder()');
  const [h0, w0, c] = options.inputShape;
  // a fractional size used to be rounded up to a multiple of 8 here, then fail in tfjs's reshape at the first batch
  check(options.inputShape.length === 3 && options.inputShape.every((d) => Number.isInteger(d) && d > 0), 'BAD_SHAPE',
    `the conv autoencoder needs an [H, W, C] input of whole sizes, got [${options.inputShape.join(', ')}]`, 'pass the image shape, e.g. [28, 28, 1]');
  const resize28 = options.resize28 ?? 'pad';
  checkResize28(resize28);
  const H = Math.ceil(h0 / 8) * 8;
  const W = Math.ceil(w0 / 8) * 8;
  check(H >= 8 && W >= 8 && c >= 1, 'BAD_SHAPE', `the conv autoencoder needs an [H, W, C] input, got [${options.inputShape.join(', ')}]`, 'pass images of at least 8×8');
  const input = tfl.input({ shape: [H, W, c], name: 'ae_input' });
  const conv = (filters: number, name: string) => tfl.layers.conv2d({ filters, kernelSize: 4, strides: 2, padding: 'same', activation: 'relu', name });
  const deconv = (filters: number, name: string, activation: 'relu' | 'sigmoid') =>
    tfl.layers.conv2dTranspose({ filters, kernelSize: 4, strides: 2, padding: 'same', activation, name });
  let t = conv(12, 'e1').apply(input) as tfl.SymbolicTensor;
  t = conv(24, 'e2').apply(t) as tfl.SymbolicTensor;
  const z = conv(48, 'e3').apply(t) as tfl.SymbolicTensor;
  t = deconv(24, 'd1', 'relu').apply(z) as tfl.SymbolicTensor;
  t = deconv(12, 'd2', 'relu').apply(t) as tfl.SymbolicTensor;
  const out = deconv(c, 'd3', 'sigmoid').apply(t) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out, name: 'conv_ae' });
  const encoder = tfl.model({ inputs: input, outputs: z, name: 'conv_encoder' });
  seeded(model, options.seed);
  const top = Math.floor((H - h0) / 2);
  const left = Math.floor((W - w0) / 2);
  const layout = (x: tf.Tensor): tf.Tensor => {
    const img = tf.reshape(x, [x.shape[0]!, h0, w0, c]) as tf.Tensor4D;
    if (H === h0 && W === w0) return img;
    return resize28 === 'bilinear' ? resizeBilinear(img, [H, W]) : tf.pad(img, [[0, 0], [top, H - h0 - top], [left, W - w0 - left], [0, 0]]);
  };
  const norm = standardizer(options.inputStats);
  return {
    kind: 'conv', encoder, model, inputShape: [H, W, c], codeSize: (H / 8) * (W / 8) * 48, inputStats: options.inputStats ?? null,
    layout, prepare: (x) => norm(layout(x)),
    dispose: () => model.dispose(),
  };
}

/** Options of {@link trainAutoencoder}. */
export interface AutoencoderTraining {
  /** Epochs (default 3, the MLP tier; the paper trains 200). */
  epochs?: number;
  /** Batch size (default 128). */
  batchSize?: number;
  /** `'adam'` (default, lr 1e-3) or `'sgd'` (the paper's SGD, lr 0.1, momentum 0.9, weight decay 5e-4). */
  optimizer?: 'adam' | 'sgd';
  /** Learning rate (default 1e-3 for Adam, 0.1 for SGD). */
  lr?: number;
  /** SGD momentum (default 0.9). */
  momentum?: number;
  /** Weight decay added to every gradient as `wd·w` (default 0 for Adam, 5e-4 for SGD). */
  weightDecay?: number;
  /**
   * `'unit'` (default): reconstruct pixels in [0, 1]. `'normalized'`: reconstruct the mean/std-normalised
   * image, as the notebooks do (the sigmoid can never reach it exactly), with the AE's `inputStats` when
   * it has them (the notebooks' case: input and target are the same normalised image), else the
   * training pixels' {@link pixelStats}.
   */
  reconstructionTarget?: 'unit' | 'normalized';
  /** Shuffling seed. */
  seed?: number;
  /** Called with the mean MSE after each epoch. */
  onEpoch?: (epoch: number, mse: number) => void;
}

/** Result of {@link trainAutoencoder}. */
export interface AutoencoderTrainingReport {
  /** Mean reconstruction MSE per epoch. */
  mse: number[];
  /** Measured wall-clock, ms. */
  ms: number;
  /** Analytic training MACs (3 × forward × examples seen). */
  macs: number;
  examplesSeen: number;
}

/**
 * Mean and population standard deviation over every value of `x` (the notebooks' `Normalize(mean, std)`
 * statistics of the training images), accumulated in float64. Used by `reconstructionTarget: 'normalized'`.
 */
export function pixelStats(x: ArrayLike<number>): { mean: number; std: number } {
  check(x.length > 0, 'EMPTY_DATASET', 'cannot compute pixel statistics of an empty dataset', 'pass a non-empty training set');
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i]!;
  const mean = sum / x.length;
  let sq = 0;
  for (let i = 0; i < x.length; i++) sq += (x[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(sq / x.length) };
}

/** Trains an autoencoder on a dataset's inputs with an MSE reconstruction loss (its own small loop). */
export async function trainAutoencoder(ae: Autoencoder, data: Dataset, options: AutoencoderTraining = {}): Promise<AutoencoderTrainingReport> {
  const epochs = options.epochs ?? 3;
  const batchSize = options.batchSize ?? 128;
  check(Number.isInteger(epochs) && epochs > 0, 'BAD_OPTION', `autoencoder epochs ${epochs} is not a positive integer`, 'pass epochs ≥ 1');
  // misspelt choices used to fall back silently (any optimizer but 'sgd' trained with Adam, any target but 'normalized' on [0, 1] pixels)
  if (options.optimizer !== undefined) {
    checkChoice(options.optimizer, ['adam', 'sgd'] as const, 'autoencoder optimizer', { fix: "pass optimizer 'adam' (the default) or 'sgd' (the paper's)" });
  }
  if (options.reconstructionTarget !== undefined) {
    checkChoice(options.reconstructionTarget, ['unit', 'normalized'] as const, 'reconstructionTarget',
      { fix: "pass reconstructionTarget 'unit' (the default: [0, 1] pixels) or 'normalized' (the notebooks')" });
  }
  const sgd = options.optimizer === 'sgd';
  const lr = options.lr ?? (sgd ? 0.1 : 1e-3);
  const wd = options.weightDecay ?? (sgd ? 5e-4 : 0);
  check(Number.isFinite(lr) && lr >= 0, 'BAD_OPTION', `autoencoder learning rate ${String(lr)} is not a number ≥ 0`, `pass lr such as ${sgd ? 0.1 : 1e-3} (0 only measures the loss)`);
  check(Number.isFinite(wd) && wd >= 0, 'BAD_OPTION', `autoencoder weight decay ${String(wd)} is not a number ≥ 0`, 'pass weightDecay such as 5e-4, or 0');
  check(options.momentum === undefined || (Number.isFinite(options.momentum) && options.momentum >= 0 && options.momentum < 1), 'BAD_OPTION',
    `autoencoder momentum ${String(options.momentum)} is not in [0, 1)`, 'pass momentum such as 0.9');
  const optimizer = sgd ? tf.train.momentum(lr, options.momentum ?? 0.9) : tf.train.adam(lr);
  const adapter = new LayersModelAdapter(ae.model);
  const vars = Object.values(adapter.trainableVariables());
  const { mean, std } = options.reconstructionTarget === 'normalized' ? ae.inputStats ?? pixelStats(data.x) : { mean: 0, std: 1 };
  const start = performance.now();
  const history: number[] = [];
  let seen = 0;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      let sum = 0;
      let count = 0;
      for (const batch of data.batches(batchSize, { rng: Rng.derive(options.seed ?? 0, 'ae-shuffle', epoch) })) {
        const loss = tf.tidy(() => {
          const raw = ae.layout(batch.x);
          const x = ae.prepare(batch.x);
          const target = options.reconstructionTarget === 'normalized' ? tf.div(tf.sub(raw, mean), std) : raw;
          const { value, grads } = optimizer.computeGradients(() => tf.mean(tf.square(tf.sub(ae.model.apply(x, { training: true }) as tf.Tensor, target))) as tf.Scalar, vars);
          const list = vars.map((v) => ({ name: v.name, tensor: wd > 0 ? tf.add(grads[v.name]!, tf.mul(v, wd)) : grads[v.name]! }));
          optimizer.applyGradients(list);
          return value;
        });
        sum += loss.dataSync()[0]! * batch.size;
        count += batch.size;
        loss.dispose();
        disposeBatch(batch);
      }
      seen += count;
      history.push(sum / count);
      options.onEpoch?.(epoch, sum / count);
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    optimizer.dispose();
    // tfjs 4.22's MomentumOptimizer.dispose() forgets its −lr scalar `c` (one tensor leaked per 'sgd' run), as core's Trainer.dispose notes
    for (const v of Object.values(optimizer as unknown as Record<string, unknown>)) {
      if (v instanceof tf.Tensor && !v.isDisposed) v.dispose();
    }
  }
  return { mse: history, ms: performance.now() - start, macs: 3 * countMacs(ae.model) * seen, examplesSeen: seen };
}

/** Encodes every example of `data` (chunks of 512, inference mode) into `n × codeSize` flattened codes. */
export function encodeDataset(ae: Autoencoder, data: Dataset, chunk = 512): Float32Array {
  const out = new Float32Array(data.size * ae.codeSize);
  let offset = 0;
  for (const batch of data.batches(chunk)) {
    const codes = tf.tidy(() => {
      const z = ae.encoder.apply(ae.prepare(batch.x), { training: false }) as tf.Tensor;
      return tf.reshape(z, [batch.size, ae.codeSize]);
    });
    out.set(codes.dataSync() as Float32Array, offset);
    offset += batch.size * ae.codeSize;
    codes.dispose();
    disposeBatch(batch);
  }
  return out;
}
