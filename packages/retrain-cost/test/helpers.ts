import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Dataset, initializeWeights, LayersModelAdapter, Rng } from '@trellis-ml/core';

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** The spec §12 tiny model: Dense 32 → ReLU → Dense 16 → Dense 10 (seeded). */
export function tinyModel(seed = 1, inputDim = 12, fused = false): LayersModelAdapter {
  const L = tfl.layers;
  const layers = fused
    ? [L.dense({ inputShape: [inputDim], units: 32, activation: 'relu', name: 'd32' }), L.dense({ units: 16, name: 'd16' }), L.dense({ units: 10, name: 'logits' })]
    : [L.dense({ inputShape: [inputDim], units: 32, name: 'd32' }), L.reLU({ name: 'relu' }), L.dense({ units: 16, name: 'd16' }), L.dense({ units: 10, name: 'logits' })];
  const m = new LayersModelAdapter(tfl.sequential({ layers }));
  initializeWeights(m, new Rng(seed));
  return m;
}

/** Random inputs with class-dependent means (10 classes). */
export function randomData(n = 120, seed = 2, inputDim = 12, signal = 2): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * inputDim);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 10;
    for (let j = 0; j < inputDim; j++) x[i * inputDim + j] = rng.normal(j === i % 10 ? signal : 0, 1);
  }
  return Dataset.fromArrays({ x, shape: [inputDim], labels, numClasses: 10 });
}

/** Adds N(0, σ²) noise (a paired shift). */
export function noisy(d: Dataset, sigma: number, seed = 3): Dataset {
  const rng = new Rng(seed);
  return d.withInputs(d.x.map((v) => v + sigma * rng.normal()));
}
