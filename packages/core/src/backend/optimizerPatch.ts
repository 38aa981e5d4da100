/**
 * What the fused-optimizer patches (`registerFusedAdam`, `registerFusedSgd`) share: the
 * two forms tfjs passes gradients to `applyGradients` in, read the way tfjs's own optimizers read them.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Tensor } from '@tensorflow/tfjs-core';

/** `applyGradients`' argument: a map by variable name, or a list of named tensors. */
export type VariableGradients = NamedTensorMap | Array<{ name: string; tensor: Tensor }>;

/** The variable names, in the order tfjs's optimizers index their per-variable state by. */
export function variableNames(gradients: VariableGradients): string[] {
  return Array.isArray(gradients) ? gradients.map((v) => v.name) : Object.keys(gradients);
}

/** The gradient of the `i`-th variable (`name`), or undefined when there is none. */
export function gradientAt(gradients: VariableGradients, name: string, i: number): Tensor | undefined {
  return Array.isArray(gradients) ? gradients[i]?.tensor : gradients[name];
}

/** Whether every named variable is registered and float32 (else the optimizer's own update runs). */
export function allFloat32(names: string[]): boolean {
  const registered = tf.engine().registeredVariables;
  return names.every((n) => registered[n]?.dtype === 'float32');
}
