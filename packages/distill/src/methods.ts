import { check, type TrainerPlugin } from '@trellis-ml/core';
import { tfkdRegGenerator, type SoftLabelGenerator } from './generators.js';
import * as L from './losses.js';
import { distillPlugin, labelSmoothingPlugin, type DistillMethod } from './plugin.js';

/**
 * The student methods of the reproduction and the plugins that make each one: every method uses the
 * same recipe, only these plugins differ.
 *
 * @module
 */

/** The methods every seed trains (same split, same seeds), in the order of the accuracy table. */
export const METHODS = ['CE', 'LS', 'Tf-KD_reg', 'KD (teacher)', 'ReffAKD-AE', 'ReffAKD-pixels', 'ReffAKD-random-encoder', 'ReffAKD-shuffled', 'ReffAKD+DKD', 'ReffAKD+DIST'] as const;
/** A row of the accuracy table. */
export type MethodName = (typeof METHODS)[number];
/** The extra rows (ReffAKD inside DKD / DIST), trained only with `extras`. */
export const EXTRAS: ReadonlySet<MethodName> = new Set<MethodName>(['ReffAKD+DKD', 'ReffAKD+DIST']);

/**
 * The soft-label sources of one reproduction. Only `reffakd` is needed by every ReffAKD row; a run that
 * trains a subset of the methods (the CI smoke run: CE, LS, ReffAKD-AE) leaves the others out.
 */
export interface Sources {
  reffakd: SoftLabelGenerator;
  teacher?: SoftLabelGenerator;
  pixels?: SoftLabelGenerator;
  random?: SoftLabelGenerator;
  /** The shuffled-matrix control of each student seed. */
  shuffled?: (seed: number) => SoftLabelGenerator;
}

/** The selected settings of each method. */
export interface Tuned {
  reffakd: { T: number; alpha: number };
  kd: { T: number; alpha: number };
  ls: number;
  tfkd: number;
}

function need<T>(source: T | undefined, name: keyof Sources, method: MethodName): T {
  check(source, 'SOURCE_MISSING', `method ${method} needs the ${String(name)} soft-label source, which this run did not build`,
    `pass sources.${String(name)}, or leave ${method} out of the run's methods`);
  return source;
}

/**
 * The soft-label plugin of ReffAKD, its controls and teacher KD: `(1 − α)·CE + α·T²·KL(source ‖ student)`
 * at temperature `T` with the run's KL reduction.
 */
export function softKlPlugin(source: SoftLabelGenerator, T: number, alpha: number, reduction: L.KlReduction): TrainerPlugin {
  return distillPlugin({ source, method: { kind: 'soft-kl', T, reduction }, ...L.weightsFromAlpha(alpha, 'alpha-weights-kd') });
}

/** The plugins of one method's student run: same recipe for all, only these differ. */
export function methodPlugins(method: MethodName, sources: Sources, tuned: Tuned, C: number, seed: number, reduction: L.KlReduction): TrainerPlugin[] {
  const soft = (source: SoftLabelGenerator, T: number, alpha: number): TrainerPlugin => softKlPlugin(source, T, alpha, reduction);
  const r = tuned.reffakd;
  switch (method) {
    case 'CE': return [];
    case 'LS': return [labelSmoothingPlugin({ epsilon: tuned.ls })];
    case 'Tf-KD_reg': {
      // code form: untempered student, element-wise-mean KL, multiplier = C, no τ²
      const m: DistillMethod = { kind: 'soft-kl', T: 1, reduction: 'elementwise-mean', scaleT2: false };
      return [distillPlugin({ source: tfkdRegGenerator({ numClasses: C, tau: 20 }), method: m, ceWeight: 1 - tuned.tfkd, kdWeight: tuned.tfkd * C })];
    }
    case 'KD (teacher)': return [soft(need(sources.teacher, 'teacher', method), tuned.kd.T, tuned.kd.alpha)];
    case 'ReffAKD-AE': return [soft(sources.reffakd, r.T, r.alpha)];
    case 'ReffAKD-pixels': return [soft(need(sources.pixels, 'pixels', method), r.T, r.alpha)];
    case 'ReffAKD-random-encoder': return [soft(need(sources.random, 'random', method), r.T, r.alpha)];
    case 'ReffAKD-shuffled': return [soft(need(sources.shuffled, 'shuffled', method)(seed), r.T, r.alpha)];
    case 'ReffAKD+DKD': return [distillPlugin({ source: sources.reffakd, method: { kind: 'dkd', alpha: 0.5, beta: 2, T: 4 }, ceWeight: 1, kdWeight: 1 })];
    case 'ReffAKD+DIST': return [distillPlugin({ source: sources.reffakd, method: { kind: 'dist', beta: 1, gamma: 1, tau: 1 }, ceWeight: 1, kdWeight: 1 })];
  }
}
