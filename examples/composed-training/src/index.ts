/**
 * Several Trellis techniques in one training loop: each package contributes a plugin, and core's
 * `Trainer` runs them all in one step. This example builds the plugin list for a dense model such as
 * core's `mlp`: a membership-inference defense (privacy's CRL, which replaces the base loss), teacher-free
 * soft labels (distill's ReffAKD, an added KL term), frozen units (safety-units, e.g. the units a
 * safety study found), an energy and carbon tracker (retrain-cost) and a cosine learning-rate schedule
 * (dynamic-depth).
 *
 * @module
 */
import type { LayersModelAdapter, TrainerPlugin } from '@trellis-ml/core';
import { distillPlugin, reffakdGenerator } from '@trellis-ml/distill';
import { cosineDecay } from '@trellis-ml/dynamic-depth';
import { crl } from '@trellis-ml/privacy';
import { energyTrackerPlugin, type EnergyTrackerPlugin } from '@trellis-ml/retrain-cost';
import { denseUnitModules, emptyMask, randomMaskLike, unitFreezePlugin, type UnitLayout, type UnitMask } from '@trellis-ml/safety-units';

/** Options of {@link composedPlugins}. */
export interface ComposedOptions {
  /** A dense model with hidden layers `fc1`, `fc2`, … before `logits` (core's `mlp` names them so). */
  model: LayersModelAdapter;
  /** Hidden layers whose units may be frozen (default `['fc1', 'fc2']`). */
  hiddenLayers?: readonly string[];
  /** Units to keep fixed; default: a seeded random {@link frozenFraction} of each hidden layer. */
  frozen?: UnitMask;
  /** Share of each hidden layer's units frozen when `frozen` is not given (default 0.1). */
  frozenFraction?: number;
  /** Steps of the whole run, for the cosine schedule. */
  totalSteps: number;
  /** Initial learning rate of the cosine schedule (default 1e-3). */
  learningRate?: number;
  /** CRL's target loss level α (default 0.3). */
  crlAlpha?: number;
  /** Weight of the ReffAKD soft-label term and its temperature (default 0.5 and 4). */
  kdWeight?: number;
  temperature?: number;
  /** Number of classes (default 10). */
  numClasses?: number;
  /** Seed of the default frozen set. */
  seed: number;
}

/** The plugins and the handles a caller inspects afterwards. */
export interface ComposedPlugins {
  plugins: TrainerPlugin[];
  layout: UnitLayout;
  frozen: UnitMask;
  energy: EnergyTrackerPlugin;
}

/**
 * A seeded set of `fraction` of the units of every module of `layout` (at least one unit each):
 * safety-units' `randomMaskLike` of a mask with that many units per module.
 */
export function randomUnits(layout: UnitLayout, fraction: number, seed: number): UnitMask {
  const sizes = emptyMask(layout);
  for (const m of layout) sizes[m.id]!.fill(1, 0, Math.max(1, Math.round(fraction * m.numUnits)));
  return randomMaskLike(layout, sizes, seed);
}

/**
 * The five plugins for one `Trainer`. CRL replaces the base cross-entropy, so ReffAKD's `ceWeight` is 1
 * (a target scaling has no base loss to act on) and its KL term is added to CRL's loss.
 */
export function composedPlugins(options: ComposedOptions): ComposedPlugins {
  const hidden = options.hiddenLayers ?? ['fc1', 'fc2'];
  const layout = denseUnitModules(options.model, hidden, [...hidden, 'logits']);
  const frozen = options.frozen ?? randomUnits(layout, options.frozenFraction ?? 0.1, options.seed);
  const energy = energyTrackerPlugin({ tracker: { cpu: { tdpWatts: 65 } } });
  const plugins: TrainerPlugin[] = [
    crl({ alpha: options.crlAlpha ?? 0.3 }),
    distillPlugin({
      source: reffakdGenerator({ numClasses: options.numClasses ?? 10 }),
      method: { kind: 'soft-kl', T: options.temperature ?? 4 },
      ceWeight: 1, kdWeight: options.kdWeight ?? 0.5,
    }),
    unitFreezePlugin({ layout, frozen }),
    cosineDecay({ initial: options.learningRate ?? 1e-3, totalSteps: options.totalSteps }),
    energy,
  ];
  return { plugins, layout, frozen, energy };
}
