/**
 * The reproduction's two models (spec §10.2), built with linear Dense/Conv layers and separate
 * ReLU layers so every tap is pre-activation, as in the reference.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { initializeWeights, LayersModelAdapter, Rng, type ModelAdapter, requireBackend } from '@trellis-ml/core';

/** Which reproduction model. */
export type ReproModel = 'mlp' | 'cnn';

/** Layer roles of a reproduction model. */
export interface ReproModelInfo {
  /** Layer whose raw output PreIndex clusters. */
  embedding: string;
  /** Post-ReLU features before the logits (baselines' features). */
  penultimate: string;
}

/** Roles of the layers of {@link buildReproModel}'s models. */
export const REPRO_MODEL_INFO: Record<ReproModel, ReproModelInfo> = {
  mlp: { embedding: 'fc2', penultimate: 'relu2' },
  cnn: { embedding: 'conv2', penultimate: 'relu3' },
};

/**
 * M1: Flatten → Dense 256 → ReLU → Dense 128 → ReLU → Dense 10. M2: Conv 16@3×3 → ReLU → MaxPool →
 * Conv 32@3×3 → ReLU → MaxPool → Flatten → Dense 64 → ReLU → Dense 10. Seeded initialisation.
 */
export function buildReproModel(kind: ReproModel, inputShape: number[], numClasses: number, seed: number): LayersModelAdapter {
  requireBackend('buildReproModel()');
  const L = tfl.layers;
  const layers: tfl.layers.Layer[] = kind === 'mlp'
    ? [
      L.flatten({ inputShape, name: 'flatten' }),
      L.dense({ units: 256, name: 'fc1' }), L.reLU({ name: 'relu1' }),
      L.dense({ units: 128, name: 'fc2' }), L.reLU({ name: 'relu2' }),
      L.dense({ units: numClasses, name: 'logits' }),
    ]
    : [
      L.conv2d({ inputShape, filters: 16, kernelSize: 3, padding: 'same', name: 'conv1' }), L.reLU({ name: 'relu1' }),
      L.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      L.conv2d({ filters: 32, kernelSize: 3, padding: 'same', name: 'conv2' }), L.reLU({ name: 'relu2' }),
      L.maxPooling2d({ poolSize: 2, name: 'pool2' }),
      L.flatten({ name: 'flatten' }),
      L.dense({ units: 64, name: 'fc1' }), L.reLU({ name: 'relu3' }),
      L.dense({ units: numClasses, name: 'logits' }),
    ];
  const adapter = new LayersModelAdapter(tfl.sequential({ layers }));
  initializeWeights(adapter, Rng.derive(seed, 'init', kind));
  return adapter;
}

/** Copies every variable of `from` into `to` (same architecture). */
export function copyWeights(from: ModelAdapter, to: ModelAdapter): void {
  const src = from.allVariables();
  for (const [k, v] of Object.entries(to.allVariables())) v.assign(src[k]!);
}
