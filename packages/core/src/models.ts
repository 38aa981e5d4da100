import * as tfl from '@tensorflow/tfjs-layers';
import { LayersModelAdapter, initializeWeights } from './model.js';
import { check } from './errors.js';
import { Rng } from './rng.js';
import { requireBackend } from './backend/useBackend.js';

/** Options of {@link mlp}. */
export interface MlpOptions {
  inputShape: number[];
  hidden: number[];
  numClasses: number;
  activation?: 'relu' | 'tanh' | 'elu';
  seed: number;
  /** Layer name prefix (default `fc`): layers are `fc1`, `fc2`, ..., `logits`. */
  prefix?: string;
}

/** Throws `BAD_OPTION` unless `value` (a layer width, class or channel count) is a whole number ≥ 1. */
function checkUnits(value: unknown, what: string, model: string): void {
  check(Number.isInteger(value) && (value as number) >= 1, 'BAD_OPTION', () => `${model}: ${what} ${String(value)} is not a whole number ≥ 1`,
    `pass ${what} as a positive integer, e.g. ${what === 'numClasses' ? 10 : 128}`);
}

/** A seeded MLP classifier: flatten, dense layers `fc1..fcN` with the activation, `logits`. */
export function mlp(options: MlpOptions): LayersModelAdapter {
  requireBackend('mlp()');
  check(Array.isArray(options.hidden), 'BAD_OPTION', () => `mlp: hidden ${String(options.hidden)} is not a list of layer widths`, 'pass hidden such as [256, 128] (or [] for a linear model)');
  options.hidden.forEach((units, i) => checkUnits(units, `hidden[${i}]`, 'mlp'));
  checkUnits(options.numClasses, 'numClasses', 'mlp');
  const prefix = options.prefix ?? 'fc';
  const flat = options.inputShape.length === 1;
  const layers: tfl.layers.Layer[] = flat ? [] : [tfl.layers.flatten({ inputShape: options.inputShape, name: 'flatten' })];
  const first = (i: number) => (flat && i === 0 ? { inputShape: options.inputShape } : {});
  options.hidden.forEach((units, i) => layers.push(tfl.layers.dense({ ...first(i), units, activation: options.activation ?? 'relu', name: `${prefix}${i + 1}` })));
  layers.push(tfl.layers.dense({ ...first(options.hidden.length), units: options.numClasses, name: 'logits' }));
  const adapter = new LayersModelAdapter(tfl.sequential({ layers }));
  initializeWeights(adapter, Rng.derive(options.seed, 'init'));
  return adapter;
}

/** Options of {@link smallCnn}. */
export interface CnnOptions {
  inputShape: number[];
  numClasses: number;
  /** Channels of the conv layers (default [16, 32]); each conv 3x3 is followed by 2x2 max-pooling. */
  channels?: number[];
  /** Units of the dense layer before the logits (default 128). */
  dense?: number;
  batchNorm?: boolean;
  seed: number;
}

/** A seeded small CNN: (conv3x3-relu-[bn]-maxpool2) per channel entry, dense, logits. */
export function smallCnn(options: CnnOptions): LayersModelAdapter {
  requireBackend('smallCnn()');
  const channels = options.channels ?? [16, 32];
  channels.forEach((filters, i) => checkUnits(filters, `channels[${i}]`, 'smallCnn'));
  if (options.dense !== undefined) checkUnits(options.dense, 'dense', 'smallCnn');
  checkUnits(options.numClasses, 'numClasses', 'smallCnn');
  const layers: tfl.layers.Layer[] = [];
  channels.forEach((filters, i) => {
    layers.push(tfl.layers.conv2d({
      ...(i === 0 ? { inputShape: options.inputShape } : {}),
      filters, kernelSize: 3, padding: 'same', activation: options.batchNorm ? 'linear' : 'relu', name: `conv${i + 1}`,
    }));
    if (options.batchNorm) {
      layers.push(tfl.layers.batchNormalization({ name: `bn${i + 1}` }));
      layers.push(tfl.layers.activation({ activation: 'relu', name: `relu${i + 1}` }));
    }
    layers.push(tfl.layers.maxPooling2d({ poolSize: 2, name: `pool${i + 1}` }));
  });
  layers.push(tfl.layers.flatten({ name: 'flatten' }));
  layers.push(tfl.layers.dense({ units: options.dense ?? 128, activation: 'relu', name: 'fc1' }));
  layers.push(tfl.layers.dense({ units: options.numClasses, name: 'logits' }));
  const adapter = new LayersModelAdapter(tfl.sequential({ layers }));
  initializeWeights(adapter, Rng.derive(options.seed, 'init'));
  return adapter;
}
