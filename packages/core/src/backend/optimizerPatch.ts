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

/**
 * Whether the fused update can stand in for the optimizer's own: every named variable is registered
 * and float32, and every gradient given has its variable's shape (tfjs's own update broadcasts a
 * gradient of another shape, or throws; a one-pass kernel would read past its end).
 */
export function fusable(gradients: VariableGradients, names: string[]): boolean {
  const registered = tf.engine().registeredVariables;
  return names.every((name, i) => {
    const value = registered[name];
    if (value?.dtype !== 'float32') return false;
    const g = gradientAt(gradients, name, i);
    return g == null || tf.util.arraysEqual(g.shape, value.shape);
  });
}
