/**
 * Unit masks on weights: keep-masks per variable (used by pruning and by the freeze/budget plugins)
 * and the reversible pruning operator of the ablation (spec §3.5).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelAdapter } from '@trellis-ml/core';
import { check } from '@trellis-ml/core';
import type { UnitScores } from './scores.js';
import { checkMask, validateLayout, type UnitLayout, type UnitMask } from './units.js';

/**
 * Per-variable masks that are 0 on the weights of the selected units and 1 elsewhere (full variable
 * shape). A-side kernels `[in, hidden]` lose column j, biases element j, B-side kernels `[hidden, out]`
 * row j. Variables without a selected unit are left out. Caller disposes the tensors.
 */
export function unitWeightMasks(adapter: ModelAdapter, layout: UnitLayout, selected: UnitMask): Record<string, tf.Tensor> {
  checkMask(layout, selected);
  validateLayout(adapter, layout);
  const vars = adapter.trainableVariables();
  const out: Record<string, tf.Tensor> = {};
  return tf.tidy(() => {
    for (const m of layout) {
      const sel = selected[m.id];
      if (!sel || !sel.some((v) => v)) continue;
      for (const s of [...m.aSide, m.bSide]) {
        const v = vars[s.variable]!;
        const keep = Float32Array.from(sel, (x) => (x ? 0 : 1));
        const shape = v.shape.length === 1 ? [m.numUnits] : s.axis === 1 ? [1, m.numUnits] : [m.numUnits, 1];
        const t = tf.tensor(keep, shape);
        const prev = out[s.variable];
        out[s.variable] = prev ? tf.mul(prev, t) : tf.mul(tf.onesLike(v), t);
      }
    }
    for (const t of Object.values(out)) tf.keep(t);
    return out;
  });
}

/** What {@link pruneUnits} returns: put the saved weights back. */
export interface PruneHandle {
  /** Restores every weight the pruning changed (idempotent). */
  restore(): void;
  /** Variables touched. */
  variables: string[];
}

/** Options of {@link pruneUnits}. */
export interface PruneOptions {
  /**
   * FLAP bias compensation: add `B_j · mean_j` to the module's output bias so each removed channel is
   * replaced by its mean (needs `means` and a module `outBias`). Default false (SSAH's ablation removes function).
   */
  compensate?: boolean;
  /** Activation means from {@link scoreUnits} (for `compensate`). */
  means?: UnitScores;
}

/**
 * Zeroes the selected units (A-side columns, bias entries, B-side rows) in place and returns a
 * handle that restores them (spec §3.5).
 */
export function pruneUnits(adapter: ModelAdapter, layout: UnitLayout, selected: UnitMask, options: PruneOptions = {}): PruneHandle {
  const vars = adapter.trainableVariables();
  if (options.compensate) {
    check(options.means, 'BAD_OPTION', 'bias compensation needs the activation means', 'pass `means` (the scores from scoreUnits) with `compensate: true`');
    for (const m of layout) {
      if (!m.outBias || !selected[m.id]?.some((v) => v)) continue;
      const mean = options.means.means?.[m.id];
      check(mean?.length === m.numUnits, 'BAD_OPTION', `the activation means have ${mean ? mean.length : 'no'} entries for module "${m.id}", which has ${m.numUnits} units`,
        'pass the scoreUnits result of this model and layout as `means`');
      check(vars[m.outBias], 'BAD_LAYOUT', `module "${m.id}" names output bias "${m.outBias}", which the model does not have`, 'build the layout from the same model');
      // a NaN mean used to turn the whole output bias into NaN
      const bad = selected[m.id]!.findIndex((v, j) => Boolean(v) && !Number.isFinite(mean[j]!));
      check(bad < 0, 'BAD_OPTION', () => `the activation mean of pruned unit ${bad} of module "${m.id}" is ${mean[bad]}`,
        'pass the means of a scoreUnits run on finite activations (or prune without compensate)');
    }
  }
  const masks = unitWeightMasks(adapter, layout, selected);
  const touched = new Set(Object.keys(masks));
  const compensations: Array<{ bias: string; delta: tf.Tensor }> = [];
  if (options.compensate && options.means) {
    for (const m of layout) {
      const sel = selected[m.id];
      if (!sel || !sel.some((v) => v) || !m.outBias) continue;
      const mean = options.means.means[m.id]!;
      const w = Float32Array.from(sel, (x, j) => (x ? mean[j]! : 0));
      const delta = tf.tidy(() => tf.reshape(tf.matMul(tf.tensor2d(w, [1, m.numUnits]), vars[m.bSide.variable] as tf.Tensor2D), [-1]));
      compensations.push({ bias: m.outBias, delta });
      touched.add(m.outBias);
    }
  }
  const saved = new Map<string, tf.Tensor>();
  for (const name of touched) saved.set(name, tf.clone(vars[name]!));
  tf.tidy(() => {
    for (const c of compensations) vars[c.bias]!.assign(tf.add(vars[c.bias]!, c.delta));
    for (const [name, mask] of Object.entries(masks)) vars[name]!.assign(tf.mul(vars[name]!, mask));
  });
  tf.dispose(Object.values(masks));
  tf.dispose(compensations.map((c) => c.delta));
  let restored = false;
  return {
    variables: [...touched],
    restore() {
      if (restored) return;
      restored = true;
      for (const [name, t] of saved) {
        vars[name]!.assign(t);
        t.dispose();
      }
    },
  };
}

/** Snapshot of the weights of a unit set (for Wei-style rewinding, spec §4.3). */
export function snapshotVariables(adapter: ModelAdapter, names: readonly string[]): Record<string, tf.Tensor> {
  const vars = adapter.trainableVariables();
  for (const n of names) check(vars[n], 'BAD_SNAPSHOT', `the model has no variable "${n}" to snapshot`, `snapshot some of: ${Object.keys(vars).join(', ')}`);
  return Object.fromEntries(names.map((n) => [n, tf.clone(vars[n]!)]));
}

/**
 * Puts the selected units' weights back to `snapshot` (the values before fine-tuning) and leaves the
 * rest: "restrict modifications by rewinding" (Wei et al., `mode: 'rewind-after'`).
 */
export function rewindUnits(adapter: ModelAdapter, layout: UnitLayout, selected: UnitMask, snapshot: Record<string, tf.Tensor>): void {
  const vars = adapter.trainableVariables();
  checkMask(layout, selected);
  validateLayout(adapter, layout);
  // Check the snapshot before any tensor is made: a failed check used to leak the keep-masks, and a
  // snapshot of another shape failed inside tfjs with a broadcast error.
  for (const m of layout) {
    if (!selected[m.id]?.some((v) => v)) continue;
    for (const sl of [...m.aSide, m.bSide]) {
      const s = snapshot?.[sl.variable];
      const v = vars[sl.variable]!;
      check(s, 'BAD_SNAPSHOT', `the snapshot has no variable "${sl.variable}"`, 'snapshot every variable the unit set touches');
      check(s.shape.length === v.shape.length && s.shape.every((d, i) => d === v.shape[i]), 'BAD_SNAPSHOT',
        `the snapshot of "${sl.variable}" has shape [${s.shape.join(', ')}] but the variable is [${v.shape.join(', ')}]`, 'rewind to a snapshot of the same model (snapshotVariables before fine-tuning)');
    }
  }
  const masks = unitWeightMasks(adapter, layout, selected);
  try {
    tf.tidy(() => {
      for (const [name, keep] of Object.entries(masks)) vars[name]!.assign(tf.add(tf.mul(vars[name]!, keep), tf.mul(snapshot[name]!, tf.sub(1, keep))));
    });
  } finally {
    tf.dispose(Object.values(masks));
  }
}
