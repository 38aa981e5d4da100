/**
 * Units: the hidden channels of depth-2 modules f(X) = B·σ(A·X) (spec §2). A unit j of a module is
 * column j of every A-side kernel (plus element j of its bias) and row j of the B-side kernel, in
 * TF.js `[in, out]` layout. Modules are described by variable names (the adapter's stable keys), so
 * any {@link ModelAdapter} that exposes the activation entering B as a tap can be scored, frozen and
 * pruned.
 *
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { ModelAdapter } from '@trellis-ml/core';
import { check, TrellisError } from '@trellis-ml/core';

/** One slice of a variable that belongs to the units of a module. */
export interface UnitSlice {
  /** Stable variable name (a key of `adapter.trainableVariables()`). */
  variable: string;
  /** The axis that indexes units: 1 for A-side kernels `[in, hidden]`, 0 for B-side kernels `[hidden, out]` and biases `[hidden]`. */
  axis: 0 | 1;
}

/** A depth-2 module whose hidden channels are units. */
export interface UnitModule {
  /** Module id, e.g. `L0.mlp`, `L1.attn`, `fc1`. */
  id: string;
  /** Layer (block) index, for per-layer maps. */
  layer: number;
  /** `mlp` (dense/MLP neurons) or `attn` (attention value/output channels). */
  kind: 'mlp' | 'attn';
  /** Number of units. */
  numUnits: number;
  /** Tap name (see `ModelAdapter.tapNames`) whose tensor `[..., numUnits]` is the input of B. */
  tap: string;
  /** Input-side slices (unit = column j of a kernel, element j of a bias). */
  aSide: UnitSlice[];
  /** The output projection B (unit = row j). */
  bSide: UnitSlice;
  /** Channels per head (attention modules), for `attentionGranularity: 'head'`. */
  headDim?: number;
  /** Bias added after B (for FLAP bias compensation when pruning), if the model has one. */
  outBias?: string;
}

/** Units of a model, module by module. */
export type UnitLayout = readonly UnitModule[];

/** A set of units: module id → one byte per unit (1 = in the set). Plain arrays so it serialises to JSON. */
export type UnitMask = Record<string, Uint8Array>;

/** The four unit groups of SSAH (v1 names; v3: SCU, UCU, CU, RU). */
export type UnitGroup = 'ESU' | 'EUU' | 'CU' | 'RU';

/** All unit groups, in report order. */
export const UNIT_GROUPS: readonly UnitGroup[] = ['ESU', 'EUU', 'CU', 'RU'];

/** A model that describes its own units (the package's tiny transformer does). */
export interface UnitModelAdapter extends ModelAdapter {
  /** The depth-2 modules whose hidden channels are units. */
  unitModules(): UnitModule[];
}

/** Whether an adapter describes its own units. */
export function hasUnitModules(adapter: ModelAdapter): adapter is UnitModelAdapter {
  return typeof (adapter as Partial<UnitModelAdapter>).unitModules === 'function';
}

/**
 * Units of dense (fully connected) layers of a layers-model adapter (e.g. core's `mlp`): for each named
 * hidden layer `L` followed by layer `N`, unit j = column j of `L/kernel` and element j of `L/bias`
 * (A side) and row j of `N/kernel` (B side); the tap is `L`'s (post-activation) output.
 *
 * @param layers hidden layer names to take units from; each one's B side is the kernel of the layer after it in `order`.
 * @param order all dense layer names in forward order (e.g. `['fc1', 'fc2', 'logits']`).
 * @throws TrellisError `NO_NEURON_AXIS` for a layer without a rank-2 kernel or without a dense layer after
 * it in `order`, `UNKNOWN_TAP` for a layer the model cannot tap.
 */
export function denseUnitModules(adapter: ModelAdapter, layers: readonly string[], order: readonly string[]): UnitModule[] {
  const vars = adapter.trainableVariables();
  const taps = new Set(adapter.tapNames());
  return layers.map((name, i) => {
    const kernel = vars[`${name}/kernel`];
    const pos = order.indexOf(name);
    const next = pos >= 0 ? order[pos + 1] : undefined;
    const nextKernel = next ? vars[`${next}/kernel`] : undefined;
    if (!kernel || kernel.shape.length !== 2 || !next || !nextKernel || nextKernel.shape.length !== 2) {
      throw new TrellisError('NO_NEURON_AXIS',
        `layer "${name}" has no neuron axis: units need a rank-2 kernel "${name}/kernel" followed by a dense layer with a rank-2 kernel (found ${kernel ? `[${kernel.shape.join(', ')}]` : 'no kernel'}${next ? `, next "${next}"` : ', no next layer'})`,
        `score dense layers only (present variables: ${Object.keys(vars).join(', ')}); for other layers describe the module yourself as a UnitModule`,
        { layer: name });
    }
    check(kernel.shape[1] === nextKernel.shape[0], 'NO_NEURON_AXIS',
      `layer "${name}" has ${kernel.shape[1]} outputs but "${next}/kernel" takes ${nextKernel.shape[0]} inputs`,
      'list consecutive dense layers in `order`');
    check(taps.has(name), 'UNKNOWN_TAP', `the model cannot tap layer "${name}"`, `tap one of: ${[...taps].join(', ')}`);
    const aSide: UnitSlice[] = [{ variable: `${name}/kernel`, axis: 1 }];
    if (vars[`${name}/bias`]) aSide.push({ variable: `${name}/bias`, axis: 0 });
    const outBias = vars[`${next}/bias`] ? `${next}/bias` : undefined;
    return { id: name, layer: i, kind: 'mlp' as const, numUnits: kernel.shape[1]!, tap: name, aSide, bSide: { variable: `${next}/kernel`, axis: 0 }, ...(outBias ? { outBias } : {}) };
  });
}

/** The unit layout of an adapter: its own `unitModules()` or the given one. */
export function unitLayoutOf(adapter: ModelAdapter, layout?: UnitLayout): UnitLayout {
  if (layout) return layout;
  if (hasUnitModules(adapter)) return adapter.unitModules();
  throw new TrellisError('NO_UNIT_LAYOUT', 'the model does not describe its units',
    'pass a layout, e.g. denseUnitModules(adapter, ["fc1"], ["fc1", "logits"])');
}

/**
 * Checks a layout against an adapter: every slice names an existing trainable variable whose unit axis has
 * `numUnits` entries (a wrong axis would freeze or prune the wrong weights silently, spec §2.2). A variable the
 * model has but does not train (a Trainer plugin's `wrapModel` view, e.g. TENT's BatchNorm-only one, left it
 * out) and one it lacks (a wrapper replaced the layer, e.g. privacy's SRCM head) are told apart in the message.
 */
export function validateLayout(adapter: ModelAdapter, layout: UnitLayout): void {
  const vars = adapter.trainableVariables();
  let all: Record<string, tf.Variable> | undefined;
  const ids = new Set<string>();
  for (const m of layout) {
    check(!ids.has(m.id), 'BAD_LAYOUT', `two modules have id "${m.id}"`, 'give every module a unique id');
    ids.add(m.id);
    check(Number.isInteger(m.numUnits) && m.numUnits > 0, 'BAD_LAYOUT', `module "${m.id}" has ${m.numUnits} units`, 'describe modules with at least one unit');
    if (m.headDim !== undefined) {
      check(Number.isInteger(m.headDim) && m.headDim > 0 && m.numUnits % m.headDim === 0, 'BAD_LAYOUT',
        () => `module "${m.id}" has headDim ${m.headDim}, which does not split its ${m.numUnits} units into whole heads`, 'pass headDim = dModel / heads (a divisor of numUnits)');
    }
    for (const s of [...m.aSide, m.bSide]) {
      const v = vars[s.variable];
      if (!v) {
        all ??= adapter.allVariables();
        const wrapped = "a plugin's wrapModel may have changed the model: build the layout from the Trainer's model after `await trainer.setup()` (e.g. denseUnitModules(trainer.model, …))";
        throw new TrellisError('BAD_LAYOUT', s.variable in all
          ? `module "${m.id}" names variable "${s.variable}", which the model has but does not train (its trainable variables: ${Object.keys(vars).join(', ') || 'none'})`
          : `module "${m.id}" names variable "${s.variable}", which the model does not have`,
        s.variable in all
          ? `a plugin's wrapModel view (e.g. TENT/ETA/PL train BatchNorm only, SHOT-IM leaves the head out) restricts what trains: leave this module out of the layout, or train without that plugin`
          : `use one of: ${Object.keys(vars).join(', ')}; ${wrapped}`, { module: m.id, variable: s.variable });
      }
      check(v.shape.length === 1 || v.shape.length === 2, 'NO_NEURON_AXIS', `variable "${s.variable}" of module "${m.id}" has shape [${v.shape.join(', ')}], which has no neuron axis`, 'units live in rank-2 kernels and rank-1 biases');
      const axisLen = v.shape.length === 1 ? v.shape[0] : v.shape[s.axis];
      check(axisLen === m.numUnits, 'NO_NEURON_AXIS',
        `variable "${s.variable}" has ${axisLen} entries on axis ${s.axis} but module "${m.id}" has ${m.numUnits} units`,
        'A-side kernels [in, hidden] use axis 1, B-side kernels [hidden, out] and biases use axis 0');
    }
  }
}

/** Total units of a layout. */
export function totalUnits(layout: UnitLayout): number {
  return layout.reduce((s, m) => s + m.numUnits, 0);
}

/** Weights one unit of a module carries (its A columns, bias entries and B row). */
export function paramsPerUnit(adapter: ModelAdapter, m: UnitModule): number {
  const vars = adapter.trainableVariables();
  let n = 0;
  for (const s of [...m.aSide, m.bSide]) {
    const v = vars[s.variable]!;
    n += v.shape.length === 1 ? 1 : v.shape[1 - s.axis]!;
  }
  return n;
}

/** An empty mask (no unit selected) for a layout. */
export function emptyMask(layout: UnitLayout): UnitMask {
  const out: UnitMask = {};
  for (const m of layout) out[m.id] = new Uint8Array(m.numUnits);
  return out;
}

/** Units in a mask. */
export function maskCount(mask: UnitMask): number {
  let n = 0;
  for (const a of Object.values(mask)) for (const v of a) n += v;
  return n;
}

/** The complement of a mask. */
export function invertMask(mask: UnitMask): UnitMask {
  const out: UnitMask = {};
  for (const [k, a] of Object.entries(mask)) out[k] = a.map((v) => (v ? 0 : 1));
  return out;
}

/**
 * The union of masks.
 * @throws TrellisError `BAD_MASK` when two masks give one module different numbers of units.
 */
export function unionMasks(...masks: UnitMask[]): UnitMask {
  const out: UnitMask = {};
  for (const mask of masks) {
    for (const [k, a] of Object.entries(mask)) {
      const o = (out[k] ??= new Uint8Array(a.length));
      // a longer mask used to lose the units past the first one's length
      check(o.length === a.length, 'BAD_MASK', `the masks have ${o.length} and ${a.length} entries for module "${k}"`, 'unite masks of the same model/layout');
      for (let i = 0; i < a.length; i++) if (a[i]) o[i] = 1;
    }
  }
  return out;
}

/** Jaccard overlap |A∩B| / |A∪B| of two unit sets (1 when both are empty). */
export function jaccard(a: UnitMask, b: UnitMask): number {
  let inter = 0;
  let union = 0;
  for (const [k, x] of Object.entries(a)) {
    const y = b[k];
    check(!y || y.length === x.length, 'BAD_MASK', `the two masks have ${x.length} and ${y?.length} entries for module "${k}"`, 'compare masks of the same model/layout');
    for (let i = 0; i < x.length; i++) {
      const u = x[i] ? 1 : 0;
      const v = y?.[i] ? 1 : 0;
      inter += u & v;
      union += u | v;
    }
  }
  for (const [k, y] of Object.entries(b)) if (!(k in a)) for (const v of y) union += v ? 1 : 0;
  return union === 0 ? 1 : inter / union;
}

/** Pairwise Jaccard overlaps of several unit sets (spec §10.5 item 7: stability across scoring seeds / normalisations). */
export interface PairwiseJaccard {
  /** `matrix[i][j]` = Jaccard of set i and set j (1 on the diagonal). */
  matrix: number[][];
  /** Mean over the unordered pairs i < j. */
  mean: number;
  /** Smallest overlap of any pair. */
  min: number;
}

/** {@link jaccard} of every pair of `masks` (at least two), with the mean and the minimum over the pairs i < j. */
export function pairwiseJaccard(masks: readonly UnitMask[]): PairwiseJaccard {
  check(masks.length >= 2, 'BAD_OPTION', `pairwise Jaccard needs at least two unit sets, got ${masks.length}`, 'pass two or more masks');
  const matrix = masks.map((a, i) => masks.map((b, j) => (i === j ? 1 : jaccard(a, b))));
  const pairs: number[] = [];
  for (let i = 0; i < masks.length; i++) for (let j = i + 1; j < masks.length; j++) pairs.push(matrix[i]![j]!);
  return { matrix, mean: pairs.reduce((s, v) => s + v, 0) / pairs.length, min: Math.min(...pairs) };
}

/** Size of a mask as a fraction of units and of unit-carrying parameters, and per module. */
export interface MaskStats {
  units: number;
  unitFraction: number;
  /** Parameters of the selected units' slices (gate/up columns, down rows, …). */
  params: number;
  paramFraction: number;
  /** Selected units per module id. */
  perModule: Record<string, number>;
}

/** {@link MaskStats} of a mask (spec §2.3: report both unit and parameter fractions). */
export function maskStats(adapter: ModelAdapter, layout: UnitLayout, mask: UnitMask): MaskStats {
  checkMask(layout, mask);
  let units = 0;
  let params = 0;
  let allParams = 0;
  const perModule: Record<string, number> = {};
  for (const m of layout) {
    const ppu = paramsPerUnit(adapter, m);
    let c = 0;
    for (const v of mask[m.id] ?? []) c += v ? 1 : 0;
    perModule[m.id] = c;
    units += c;
    params += c * ppu;
    allParams += m.numUnits * ppu;
  }
  return { units, unitFraction: units / totalUnits(layout), params, paramFraction: params / allParams, perModule };
}

/** Checks a fraction is in (0, 1), or in [0, 1) with `allowZero`; throws `BAD_FRACTION` otherwise. */
export function checkFraction(value: number, what: string, allowZero = false): void {
  const ok = typeof value === 'number' && Number.isFinite(value) && (allowZero ? value >= 0 : value > 0) && value < 1;
  check(ok, 'BAD_FRACTION', `${what} ${typeof value === 'string' ? `"${value}"` : String(value)} is outside ${allowZero ? '[0, 1)' : '(0, 1)'}`,
    allowZero ? 'pass a fraction of all units from 0 (none) up to but excluding 1, e.g. 0.06 for 6 %'
      : 'pass a fraction of all units strictly between 0 and 1, e.g. 0.013 for 1.3 %');
}

/**
 * Checks a mask fits a layout: every module id it names is in the layout, with that module's number of
 * units. A module the mask leaves out selects no unit.
 */
export function checkMask(layout: UnitLayout, mask: UnitMask, what = 'mask'): void {
  for (const m of layout) {
    const a = mask[m.id];
    if (!a) continue;
    check(a.length === m.numUnits, 'BAD_MASK', `${what} has ${a.length} entries for module "${m.id}", which has ${m.numUnits} units`, 'build masks from the same model/layout');
  }
  const ids = new Set(layout.map((m) => m.id));
  for (const k of Object.keys(mask)) check(ids.has(k), 'BAD_MASK', `${what} names module "${k}", which the layout does not have`, `use module ids: ${[...ids].join(', ')}`);
}

/** JSON form of a mask (arrays of selected unit indices per module). */
export function maskToJson(mask: UnitMask): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, a] of Object.entries(mask)) {
    const idx: number[] = [];
    a.forEach((v, i) => v && idx.push(i));
    out[k] = idx;
  }
  return out;
}

/** Rebuilds a mask from {@link maskToJson}. */
export function maskFromJson(layout: UnitLayout, json: Record<string, number[]>): UnitMask {
  const out = emptyMask(layout);
  for (const [k, idx] of Object.entries(json)) {
    const a = out[k];
    check(a, 'BAD_MASK', `saved mask names module "${k}", which the layout does not have`, 'load masks saved from the same model');
    check(Array.isArray(idx), 'BAD_MASK', `saved mask gives module "${k}" ${JSON.stringify(idx)}, not a list of unit indices`, 'load masks written by maskToJson ({ module: [unit indices] })');
    for (const i of idx) {
      check(Number.isInteger(i) && i >= 0 && i < a.length, 'BAD_MASK', `saved mask selects unit ${String(i)} of module "${k}", which has units 0…${a.length - 1}`,
        'load masks saved from the same model (maskToJson gives integer unit indices)');
      a[i] = 1;
    }
  }
  return out;
}
