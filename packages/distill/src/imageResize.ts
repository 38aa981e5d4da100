import * as tf from '@tensorflow/tfjs-core';
import { TrellisError, check, type Dataset } from '@trellis-ml/core';
import { padImages } from './models.js';

/**
 * How the conv tier brings 28×28 images to the 32×32 its models and the ConvAE need (spec §9
 * `resize28`): zero padding (spec §10.1/§10.2) or the notebooks' bilinear `Resize(32)`. Preprocessing
 * only: applied once per dataset, before the input standardisation; nothing here needs a gradient.
 *
 * @module
 */

/**
 * `'pad'`: zero-pad centred (2 pixels on every side for 28→32; spec §10.1/§10.2, the default).
 * `'bilinear'`: bilinear resize with half-pixel centres and edge clamping, i.e. torchvision's
 * `Resize(32)` on a float tensor image (`align_corners=False`; its antialias has no effect when upsampling).
 */
export type Resize28 = 'pad' | 'bilinear';

/** The values of {@link Resize28}, in the order the error hints list them. */
export const RESIZE28_MODES: readonly Resize28[] = ['pad', 'bilinear'];

/** Throws `BAD_OPTION` unless `mode` is a {@link Resize28} value. */
export function checkResize28(mode: unknown): asserts mode is Resize28 {
  if (mode === 'pad' || mode === 'bilinear') return;
  throw new TrellisError('BAD_OPTION', `resize28 "${String(mode)}" is not a 28→32 mode`,
    "use resize28: 'pad' (zero padding, the default) or 'bilinear' (torchvision Resize(32))");
}

/**
 * Bilinear resize of a batch of NHWC images to `size` with torchvision / PyTorch semantics
 * (`align_corners=False`): output pixel `i` samples the input at `(i + 0.5)·in/out − 0.5`, clamped to
 * the image, and interpolates its two neighbours linearly in each direction. This is TF.js
 * `resizeBilinear` with `alignCorners = false`, `halfPixelCenters = true`. Upsampling only matches
 * torchvision exactly (it antialiases when shrinking; TF.js does not).
 */
export function resizeBilinear(images: tf.Tensor4D, size: [number, number]): tf.Tensor4D {
  return tf.image.resizeBilinear(images, size, false, true);
}

/** `[H, W, C]` of a dataset's examples (`[H, W, C]` or a square flat `[H·W]` one-channel image). */
function imageDims(data: Dataset, what: string): [number, number, number] {
  const s = data.shape;
  const side = s.length === 1 ? Math.sqrt(s[0]!) : NaN;
  const dims: [number, number, number] = s.length === 3 ? [s[0]!, s[1]!, s[2]!] : Number.isInteger(side) ? [side, side, 1] : [0, 0, 0];
  check(dims[0] > 0, 'BAD_SHAPE', `${what} needs images ([H, W, C] or a square [H·W]), got examples of shape [${s.join(', ')}]`, 'load the dataset as images');
  return dims;
}

/**
 * Resizes every image of `data` to `size × size` with {@link resizeBilinear} (torchvision `Resize(size)`
 * on square images), once, in chunks of `chunk` images so the tensors stay small; returns a new
 * `[size, size, C]` dataset in host memory (labels shared) and leaves no tensor behind. Flat `[784]`
 * examples are read as 28×28 one-channel images. Only enlarging is allowed (`size` ≥ H, W).
 */
export function resizeImages(data: Dataset, size = 32, chunk = 1024): Dataset {
  const [h, w, c] = imageDims(data, 'resizeImages');
  check(Number.isInteger(size) && size >= h && size >= w, 'BAD_SHAPE', `cannot bilinear-resize ${h}×${w} images to ${size}×${size}: only enlarging matches torchvision's Resize`,
    `pass an integer size ≥ ${Math.max(h, w)}`);
  check(Number.isInteger(chunk) && chunk > 0, 'BAD_OPTION', `chunk ${chunk} is not a positive integer`, 'pass a chunk size such as 1024');
  const inPer = h * w * c;
  const outPer = size * size * c;
  const x = new Float32Array(data.size * outPer);
  for (let start = 0; start < data.size; start += chunk) {
    const m = Math.min(chunk, data.size - start);
    const out = tf.tidy(() => resizeBilinear(tf.tensor4d(data.x.subarray(start * inPer, (start + m) * inPer), [m, h, w, c]), [size, size]));
    x.set(out.dataSync() as Float32Array, start * outPer);
    out.dispose();
  }
  return data.withInputs(x, [size, size, c]);
}

/**
 * The conv tier's image layout: every image of `data` brought to `size × size` by `mode` — zero padding
 * ({@link padImages}) or bilinear resizing ({@link resizeImages}). Apply it to the [0, 1] pixels, before
 * standardising (the notebooks' `Resize` → `Normalize` order). An unknown mode is a `BAD_OPTION` error.
 */
export function toSquareImages(data: Dataset, size: number, mode: Resize28): Dataset {
  checkResize28(mode);
  return mode === 'bilinear' ? resizeImages(data, size) : padImages(data, size);
}
