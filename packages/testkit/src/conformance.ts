import * as tf from '@tensorflow/tfjs-core';
import { Dataset, Rng, Trainer, mlp, type ModelAdapter, type TrainerPlugin } from '@trellis-ml/core';

/** What a conformance run builds the plugin against. */
export interface ConformanceFixture {
  model: ModelAdapter;
  data: Dataset;
}

/** Options of {@link checkPluginConformance} / {@link describePluginConformance}. */
export interface ConformanceOptions {
  /** Builds the model (default: a seeded MLP 8-16-3 with layers `fc1`, `logits`). */
  model?: (seed: number) => ModelAdapter;
  /** Builds the training data (default: a seeded, separable 3-class set of 96 examples in 8 dimensions, two groups). */
  data?: () => Dataset;
  /** Steps for the flat-tensor-count check (default 6). */
  steps?: number;
  /** Batch size (default 16). */
  batchSize?: number;
  /** Base loss for the Trainer (default cross-entropy; `'none'` for unsupervised plugins). */
  baseLoss?: 'crossEntropy' | 'none';
  /** Builds the optimizer (default Adam 0.01), e.g. for plugins that need SGD or momentum. */
  optimizer?: () => tf.Optimizer;
  /** Plugins the plugin under test needs beside it (built fresh per run). */
  companions?: (fixture: ConformanceFixture) => TrainerPlugin[];
}

/** The default conformance data: 96 examples, 8 features, 3 classes, 2 groups. */
export function conformanceData(seed = 1): Dataset {
  const rng = new Rng(seed);
  const n = 96;
  const x = new Float32Array(n * 8);
  const labels = new Int32Array(n);
  const groups = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    groups[i] = i % 2;
    for (let j = 0; j < 8; j++) x[i * 8 + j] = rng.normal(j % 3 === c ? 1.5 : 0, 0.5);
  }
  return Dataset.fromArrays({ x, shape: [8], labels, numClasses: 3, groups });
}

/** The default conformance model. */
export function conformanceModel(seed: number): ModelAdapter {
  return mlp({ inputShape: [8], hidden: [16], numClasses: 3, seed });
}

/** One named check's outcome. */
export interface ConformanceResult {
  check: string;
  ok: boolean;
  message: string;
}

const TAPE_HOOKS = ['transformTargets', 'lossTerms', 'transformGradients', 'afterApply', 'wrapModel'] as const;

function snapshot(model: ModelAdapter): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(model.allVariables())) out[k] = Array.from(v.dataSync());
  return out;
}

/** Records every step's total loss (added last, so the plugin under test sees the normal order). */
function lossRecorder(losses: number[]): TrainerPlugin {
  return { name: 'conformance-recorder', apiVersion: 1, onBatchEnd: (ctx) => void losses.push(ctx.logs.loss ?? NaN) };
}

/** One epoch of `fit` (so fit and epoch hooks run too), stopped after `steps` steps. */
async function trainRun(factory: (f: ConformanceFixture) => TrainerPlugin, options: ConformanceOptions, seed: number, steps: number) {
  const data = (options.data ?? (() => conformanceData()))();
  const model = (options.model ?? conformanceModel)(seed);
  const fixture = { model, data };
  const plugin = factory(fixture);
  const losses: number[] = [];
  const trainer = new Trainer({
    model, seed, batchSize: options.batchSize ?? 16, baseLoss: options.baseLoss, optimizer: options.optimizer?.() ?? tf.train.adam(0.01),
    plugins: [...(options.companions?.(fixture) ?? []), plugin, lossRecorder(losses)],
  });
  await trainer.fit(data, { epochs: 1, maxSteps: steps });
  return { trainer, plugin, losses };
}

/**
 * Runs the conformance checks on a plugin factory and returns one result per check (no test
 * framework needed). The factory is called once per run and must build a fresh plugin.
 */
export async function checkPluginConformance(
  factory: (fixture: ConformanceFixture) => TrainerPlugin,
  options: ConformanceOptions = {},
): Promise<ConformanceResult[]> {
  const results: ConformanceResult[] = [];
  const record = (check: string, ok: boolean, message: string) => results.push({ check, ok, message });
  const steps = options.steps ?? 6;

  // 1. shape of the contract
  {
    const data = (options.data ?? (() => conformanceData()))();
    const model = (options.model ?? conformanceModel)(1);
    const p = factory({ model, data });
    record('contract', typeof p.name === 'string' && p.name.length > 0 && p.apiVersion === 1,
      `name=${JSON.stringify(p.name)} apiVersion=${String(p.apiVersion)} (needs a non-empty name and apiVersion 1)`);
    const asyncHooks = TAPE_HOOKS.filter((h) => typeof p[h] === 'function' && (p[h] as Function).constructor.name === 'AsyncFunction');
    record('sync-tape-hooks', asyncHooks.length === 0, asyncHooks.length ? `async tape hooks: ${asyncHooks.join(', ')} (they run inside tf.tidy and must be synchronous)` : 'tape hooks are synchronous');
    p.dispose?.();
    model.dispose();
  }

  // 2. trains, flat tensor count, deterministic
  const before = tf.memory().numTensors;
  let run1: Awaited<ReturnType<typeof trainRun>>;
  try {
    run1 = await trainRun(factory, options, 7, steps);
  } catch (e) {
    record('trains', false, `training with the plugin threw: ${(e as Error).message}`);
    return results;
  }
  record('trains', run1.losses.length > 0 && run1.losses.every(Number.isFinite), `losses: ${run1.losses.map((l) => l.toFixed(4)).join(', ')}`);
  const counts: number[] = [];
  const data = (options.data ?? (() => conformanceData()))();
  for (let i = 0; i < steps; i++) {
    const batch = data.batchAt(Int32Array.from({ length: Math.min(options.batchSize ?? 16, data.size) }, (_, k) => k));
    await run1.trainer.trainStep(batch);
    counts.push(tf.memory().numTensors);
  }
  const flat = counts.slice(1).every((c) => c === counts[1]);
  record('no-tensor-leak', flat, `tensor counts over ${steps} steps: ${counts.join(', ')}`);

  // 3. state round trip
  if (run1.plugin.getState) {
    const state = run1.plugin.getState();
    const json = JSON.parse(JSON.stringify(state)) as unknown;
    const fresh = factory({ model: run1.trainer.model, data });
    let ok = true;
    let msg = 'getState → JSON → setState → getState is identical';
    try {
      fresh.setState?.(json as never);
      const again = JSON.stringify(fresh.getState?.());
      ok = again === JSON.stringify(state);
      if (!ok) msg = `state changed in the round trip: ${JSON.stringify(state).slice(0, 200)} vs ${String(again).slice(0, 200)}`;
    } catch (e) {
      ok = false;
      msg = `setState threw: ${(e as Error).message}`;
    }
    fresh.dispose?.();
    record('state-round-trip', ok, msg);
  } else {
    record('state-round-trip', true, 'stateless plugin (no getState)');
  }
  const weights1 = snapshot(run1.trainer.model);

  // 4. dispose frees everything: the Trainer (plugins, optimizer) and the model it trained — the
  // (possibly wrapped) `trainer.model`, which the caller owns; a wrapper disposes what it wraps.
  run1.trainer.dispose();
  run1.trainer.model.dispose();
  const after = tf.memory().numTensors;
  record('dispose-frees', after <= before, `tensors before ${before}, after dispose ${after}`);

  // 5. same seed → same numbers
  const run2 = await trainRun(factory, options, 7, steps);
  const again = await (async () => {
    for (let i = 0; i < steps; i++) {
      const batch = data.batchAt(Int32Array.from({ length: Math.min(options.batchSize ?? 16, data.size) }, (_, k) => k));
      await run2.trainer.trainStep(batch);
    }
    return snapshot(run2.trainer.model);
  })();
  const same = JSON.stringify(run2.losses) === JSON.stringify(run1.losses) && JSON.stringify(again) === JSON.stringify(weights1);
  record('deterministic', same, same ? 'two runs with one seed gave identical losses and weights' : `losses differ: ${run1.losses.join(',')} vs ${run2.losses.join(',')}`);
  run2.trainer.dispose();
  run2.trainer.model.dispose();
  return results;
}
