import * as tfl from '@tensorflow/tfjs-layers';
import { Dataset, LayersModelAdapter, Rng, check, initializeWeights, requireBackend } from '@trellis-ml/core';

/** Options of the conv-tier builders ({@link lenet5Bn}, {@link cnnTeacher}). */
export interface ConvModelOptions {
  /** Number of classes (logits). */
  numClasses: number;
  /** Seed of the Glorot-uniform initialisation (one RNG from core, as `mlp`). */
  seed: number;
  /** Shape of one input image `[H, W, C]` (default `[32, 32, 1]`, Fashion-MNIST zero-padded 28→32). */
  inputShape?: [number, number, number];
  /** Batch-norm epsilon (default 1e-5, PyTorch's; TF.js defaults to 1e-3), spec §8. */
  bnEpsilon?: number;
  /** Batch-norm momentum of the moving statistics (default 0.9, i.e. PyTorch's `momentum = 0.1`), spec §8. */
  bnMomentum?: number;
}

function imageShape(options: ConvModelOptions, minSize: number, what: string): [number, number, number] {
  const shape = options.inputShape ?? [32, 32, 1];
  check(shape.length === 3 && shape.every((d) => Number.isInteger(d) && d > 0), 'BAD_SHAPE',
    `${what} needs an [H, W, C] image shape, got [${shape.join(', ')}]`, 'pass inputShape: [32, 32, 1] (pad 28×28 images with padImages)');
  check(shape[0] >= minSize && shape[1] >= minSize, 'BAD_SHAPE', `${what} needs images of at least ${minSize}×${minSize}, got ${shape[0]}×${shape[1]}`,
    'zero-pad the images to 32×32 first (padImages)');
  check(Number.isInteger(options.numClasses) && options.numClasses >= 2, 'BAD_CLASSES', `numClasses ${options.numClasses} is not an integer ≥ 2`, 'pass the number of classes');
  return shape;
}

/** conv → batch norm → ReLU, the block both conv-tier models are made of. */
function convBnRelu(layers: tfl.layers.Layer[], o: ConvModelOptions, i: number, conv: { filters: number; kernelSize: number; padding: 'valid' | 'same'; inputShape?: number[] }): void {
  layers.push(tfl.layers.conv2d({ ...conv, name: `conv${i}` }));
  layers.push(tfl.layers.batchNormalization({ epsilon: o.bnEpsilon ?? 1e-5, momentum: o.bnMomentum ?? 0.9, name: `bn${i}` }));
  layers.push(tfl.layers.reLU({ name: `relu${i}` }));
}

function seeded(layers: tfl.layers.Layer[], seed: number): LayersModelAdapter {
  const adapter = new LayersModelAdapter(tfl.sequential({ layers }));
  initializeWeights(adapter, Rng.derive(seed, 'init'));
  return adapter;
}

/**
 * The paper's LeNet-5 + BN student (spec §6.1): conv 5×5 (6, valid) → BN → ReLU → maxpool 2; conv 5×5
 * (16, valid) → BN → ReLU → maxpool 2; FC 400 → 120 → ReLU → 84 → ReLU → C. On 32×32×1 inputs and
 * C = 10: 61,750 trainable parameters (+ 44 batch-norm moving statistics), 416,520 MACs per example
 * (spec: 0.417 M). Convolutions keep their bias (PyTorch's default, as the notebooks' model).
 */
export function lenet5Bn(options: ConvModelOptions): LayersModelAdapter {
  requireBackend('lenet5Bn()');
  const shape = imageShape(options, 16, 'LeNet-5+BN');
  const layers: tfl.layers.Layer[] = [];
  convBnRelu(layers, options, 1, { filters: 6, kernelSize: 5, padding: 'valid', inputShape: shape });
  layers.push(tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }));
  convBnRelu(layers, options, 2, { filters: 16, kernelSize: 5, padding: 'valid' });
  layers.push(tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }));
  layers.push(tfl.layers.flatten({ name: 'flatten' }));
  layers.push(tfl.layers.dense({ units: 120, activation: 'relu', name: 'fc1' }));
  layers.push(tfl.layers.dense({ units: 84, activation: 'relu', name: 'fc2' }));
  layers.push(tfl.layers.dense({ units: options.numClasses, name: 'logits' }));
  return seeded(layers, options.seed);
}

/** The spec's CNN-T widths (§10.2): conv 32, 32, pool, 64, 64, pool, 128. */
export const CNN_T_CHANNELS: readonly number[] = [32, 32, 64, 64, 128];

/**
 * CNN-T, the conv tier's teacher (spec §10.2, a stand-in for the paper's ResNet18): conv 3×3 32, 32,
 * maxpool 2, 64, 64, maxpool 2, 128 (each `'same'`-padded, with bias, → BN → ReLU), global average
 * pooling, FC → C. On 32×32×1 and C = 10: 140,778 trainable parameters (spec: ≈ 140 k; + 640
 * batch-norm moving statistics) and 28,607,744 MACs per example (spec: ≈ 28.6 M). `channels` changes
 * the five conv widths (default {@link CNN_T_CHANNELS}; narrower for fast tests).
 */
export function cnnTeacher(options: ConvModelOptions & { channels?: readonly number[] }): LayersModelAdapter {
  requireBackend('cnnTeacher()');
  const shape = imageShape(options, 4, 'CNN-T');
  const ch = options.channels ?? CNN_T_CHANNELS;
  check(ch.length === 5 && ch.every((c) => Number.isInteger(c) && c > 0), 'BAD_OPTION', `CNN-T needs 5 positive channel counts, got [${ch.join(', ')}]`,
    `pass channels like [${CNN_T_CHANNELS.join(', ')}] (the spec's)`);
  const layers: tfl.layers.Layer[] = [];
  const blocks: Array<number | 'pool'> = [ch[0]!, ch[1]!, 'pool', ch[2]!, ch[3]!, 'pool', ch[4]!];
  let i = 0;
  for (const b of blocks) {
    if (b === 'pool') layers.push(tfl.layers.maxPooling2d({ poolSize: 2, name: `pool${i / 2}` }));
    else convBnRelu(layers, options, ++i, { filters: b, kernelSize: 3, padding: 'same', ...(i === 1 ? { inputShape: shape } : {}) });
  }
  layers.push(tfl.layers.globalAveragePooling2d({ name: 'gap' }));
  layers.push(tfl.layers.dense({ units: options.numClasses, name: 'logits' }));
  return seeded(layers, options.seed);
}

/**
 * Zero-pads every image of `data` to `size × size` (spec §10.1/§10.2: Fashion-MNIST 28→32), centred:
 * a 28×28 image lands at rows and columns 2..29 of the 32×32 one (`⌊(32−28)/2⌋ = 2` zeros before, 2
 * after), the same placement as {@link convAutoencoder}'s own padding. Flat `[784]` examples are read as
 * square one-channel images. Returns a new `[size, size, C]` dataset (labels shared); pad raw pixels
 * (0 = background) before standardising.
 */
export function padImages(data: Dataset, size = 32): Dataset {
  const s = data.shape;
  const side = s.length === 1 ? Math.sqrt(s[0]!) : NaN;
  const [h, w, c] = s.length === 3 ? [s[0]!, s[1]!, s[2]!] : Number.isInteger(side) ? [side, side, 1] : [0, 0, 0];
  check(h > 0, 'BAD_SHAPE', `padImages needs images ([H, W, C] or a square [H·W]), got examples of shape [${s.join(', ')}]`, 'load the dataset as images');
  check(size >= h && size >= w, 'BAD_SHAPE', `cannot zero-pad ${h}×${w} images to ${size}×${size}`, `pass a size ≥ ${Math.max(h, w)}`);
  const top = Math.floor((size - h) / 2);
  const left = Math.floor((size - w) / 2);
  const per = size * size * c;
  const x = new Float32Array(data.size * per);
  for (let n = 0; n < data.size; n++) {
    for (let y = 0; y < h; y++) {
      const src = (n * h + y) * w * c;
      x.set(data.x.subarray(src, src + w * c), n * per + ((top + y) * size + left) * c);
    }
  }
  return data.withInputs(x, [size, size, c]);
}

/** Options of {@link flipRotate}. */
export interface FlipRotateOptions {
  /** Flip each image left–right with probability 1/2 (default true). */
  flip?: boolean;
  /** Rotate each image by an angle drawn uniformly in ±`maxDegrees` about its centre (default 15; 0 = off). */
  maxDegrees?: number;
  /** Value of pixels rotated in from outside the image (default 0; the standardised background otherwise). */
  fill?: number;
}

/**
 * The paper's training augmentation (HFlip + Rotation(15), spec §6.1), per image, on host memory:
 * `n` images of `h × w × c` (NHWC, row-major) in `x`, a new array out. Bilinear sampling; pixels from
 * outside the image take `fill`. Deterministic given `rng`.
 */
export function flipRotate(x: Float32Array, dims: { n: number; h: number; w: number; c: number }, rng: Rng, options: FlipRotateOptions = {}): Float32Array {
  const { n, h, w, c } = dims;
  check(x.length === n * h * w * c, 'BAD_SHAPE', `${x.length} values are not ${n} images of ${h}×${w}×${c}`, 'pass the batch values and its NHWC dimensions');
  check(options.maxDegrees === undefined || (Number.isFinite(options.maxDegrees) && options.maxDegrees >= 0), 'BAD_OPTION',
    `maxDegrees ${options.maxDegrees} must be a finite angle ≥ 0`, 'pass the largest rotation in degrees, e.g. 15 (0 turns rotation off)');
  check(options.fill === undefined || Number.isFinite(options.fill), 'BAD_OPTION', `fill ${options.fill} is not a finite number`,
    'pass the background value of the inputs (0 for [0, 1] pixels, −mean/std for standardised images)');
  check(options.flip === undefined || typeof options.flip === 'boolean', 'BAD_OPTION', `flip ${JSON.stringify(options.flip)} is not true or false`,
    'pass flip: true (the default: flip half the images left–right) or false');
  const flip = options.flip ?? true;
  const maxRad = ((options.maxDegrees ?? 15) * Math.PI) / 180;
  const fill = options.fill ?? 0;
  const out = new Float32Array(x.length);
  const cy = (h - 1) / 2;
  const cx = (w - 1) / 2;
  const at = (base: number, yy: number, xx: number, ch: number): number => (yy < 0 || yy >= h || xx < 0 || xx >= w ? fill : x[base + (yy * w + xx) * c + ch]!);
  for (let k = 0; k < n; k++) {
    const mirror = flip && rng.next() < 0.5;
    const theta = maxRad > 0 ? rng.uniform(-maxRad, maxRad) : 0;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    const base = k * h * w * c;
    for (let y = 0; y < h; y++) {
      for (let xo = 0; xo < w; xo++) {
        // inverse map: output (y, xo) samples the source at the un-rotated position, then un-flipped
        const dy = y - cy;
        const dx = xo - cx;
        const sy = cy + dy * cos - dx * sin;
        let sx = cx + dx * cos + dy * sin;
        if (mirror) sx = w - 1 - sx;
        const y0 = Math.floor(sy);
        const x0 = Math.floor(sx);
        const fy = sy - y0;
        const fx = sx - x0;
        for (let ch = 0; ch < c; ch++) {
          const top = (1 - fx) * at(base, y0, x0, ch) + fx * at(base, y0, x0 + 1, ch);
          const bottom = (1 - fx) * at(base, y0 + 1, x0, ch) + fx * at(base, y0 + 1, x0 + 1, ch);
          out[base + (y * w + xo) * c + ch] = (1 - fy) * top + fy * bottom;
        }
      }
    }
  }
  return out;
}
