import * as tf from '@tensorflow/tfjs-core';
import { Dataset, mlp, Rng, useBackend, type ApplyOptions, type LayersModelAdapter, type ModelAdapter, type ModelOutputs } from '@trellis-ml/core';
import { denseUnitModules, emptyMask, type UnitLayout, type UnitMask } from '../src/index.js';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { expect } from 'vitest';

/** Tests run on core's wasm backend (with its training kernels). */
export async function useWasm(): Promise<void> {
  await useBackend('wasm');
  await tf.ready();
}

/**
 * A hand-built one-hidden-layer MLP: h = relu(x·A + a), y = h·B + b, with taps `hidden`.
 * Variables: `fc1/kernel` [in, H], `fc1/bias` [H], `out/kernel` [H, out], `out/bias` [out].
 */
export class TinyMlp implements ModelAdapter {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly vars: Record<string, tf.Variable>;
  constructor(A: number[][], a: number[], B: number[][], b: number[], readonly activation: 'relu' | 'linear' = 'relu') {
    this.inputShape = [A.length];
    this.numClasses = b.length;
    this.vars = {
      'fc1/kernel': tf.variable(tf.tensor2d(A)), 'fc1/bias': tf.variable(tf.tensor1d(a)),
      'out/kernel': tf.variable(tf.tensor2d(B)), 'out/bias': tf.variable(tf.tensor1d(b)),
    };
  }
  apply(x: tf.Tensor, options: ApplyOptions = {}): ModelOutputs {
    const pre = tf.add(tf.matMul(x as tf.Tensor2D, this.vars['fc1/kernel'] as tf.Tensor2D), this.vars['fc1/bias']!);
    const h = this.activation === 'relu' ? tf.relu(pre) : pre;
    const logits = tf.add(tf.matMul(h as tf.Tensor2D, this.vars['out/kernel'] as tf.Tensor2D), this.vars['out/bias']!);
    return { logits, features: (options.taps ?? []).includes('fc1') ? { fc1: h } : {} };
  }
  tapNames(): string[] { return ['fc1', 'out']; }
  trainableVariables(): Record<string, tf.Variable> { return { ...this.vars }; }
  allVariables(): Record<string, tf.Variable> { return { ...this.vars }; }
  async save(): Promise<void> {}
  async load(): Promise<void> {}
  dispose(): void { for (const v of Object.values(this.vars)) v.dispose(); }
}

/** The values of a variable as a plain array. */
export function values(v: tf.Tensor): number[] {
  return Array.from(v.dataSync());
}

/** Asserts `f` throws a TrellisError with `code` whose message matches `message`. */
export function expectTrellisError(f: () => unknown, code: string, message: RegExp): void {
  const err = trellisErrorOf(f);
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
}

/** A seeded toy classification set: `n` examples of `dim` normal features, labels cycling through `classes`. */
export function toyData(n = 32, dim = 6, classes = 3, seed = 3): Dataset {
  const rng = new Rng(seed);
  return Dataset.fromArrays({ x: rng.normalArray(n * dim), shape: [dim], labels: Int32Array.from({ length: n }, (_, i) => i % classes), numClasses: classes });
}

/** core's `mlp` (6 → 5 → 3 classes), the unit layout of its hidden layer `fc1`, and a mask selecting unit 0 of it. */
export function mlpWithUnit0(): { model: LayersModelAdapter; layout: UnitLayout; unit0: UnitMask } {
  const model = mlp({ inputShape: [6], hidden: [5], numClasses: 3, seed: 1 });
  const layout = denseUnitModules(model, ['fc1'], ['fc1', 'logits']);
  const unit0 = emptyMask(layout);
  unit0.fc1![0] = 1;
  return { model, layout, unit0 };
}
