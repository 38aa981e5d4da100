import { check, TrellisError } from '@trellis-ml/core';

/**
 * One depth of a depth-switchable network: the skippable blocks that run (mandatory blocks always
 * run). `id` names it in tables, budgets and saved per-depth statistics.
 */
export interface DepthConfig {
  /** Stable name, e.g. `d4` (MLP) or `s2-1-0` (CNN, active blocks per stage). */
  id: string;
  /** Indices (into the model's block list) of the skippable blocks that run, ascending. */
  activeBlocks: number[];
  /** Active skippable blocks per stage (informative). */
  perStage?: number[];
}

/**
 * How a depth picks its blocks: `'first-k'` keeps the first `d_s` skippable blocks of each stage
 * (Once-for-All elastic depth, the default); `'every-other'` spreads the kept blocks evenly over
 * the stage (LayerDrop's inference pruning); `{ custom }` lists block indices per config id.
 */
export type BlockSelection = 'first-k' | 'every-other' | { custom: Record<string, number[]> };

/** The block layout a configuration is validated against. */
export interface BlockLayout {
  /** Number of blocks (skippable or not). */
  numBlocks: number;
  /** Skippable block indices per stage. */
  stages: number[][];
}

/**
 * Indices of `k` of the `n` positions spread evenly (always including the first): `every-other`
 * selection, `floor(j · n / k)` for `j = 0 … k−1`; all `n` when `k ≥ n`, none when `k = 0`. Both
 * counts are whole numbers ≥ 0 (BAD_DEPTH otherwise).
 */
export function spreadIndices(n: number, k: number): number[] {
  check(Number.isInteger(n) && n >= 0 && Number.isInteger(k) && k >= 0, 'BAD_DEPTH', `spreadIndices(${String(n)}, ${String(k)}): the counts are not whole numbers ≥ 0`,
    'pass the number of blocks n and how many of them to keep k, e.g. spreadIndices(8, 4)');
  if (k === 0) return [];
  if (k >= n) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let j = 0; j < k; j++) out.push(Math.floor((j * n) / k));
  return out;
}

/**
 * Builds the configuration menu from per-stage depths. `depths[i]` holds the number of active
 * skippable blocks of each stage for configuration `i` (a single number applies to a one-stage
 * model). Ids are `d<k>` for one stage and `s<d1>-<d2>-…` otherwise.
 */
export function buildConfigs(layout: BlockLayout, depths: Array<number | number[]>, selection: BlockSelection = 'first-k'): DepthConfig[] {
  const okSelection = typeof selection === 'object'
    ? selection !== null && typeof selection.custom === 'object' && selection.custom !== null
    : selection === 'first-k' || selection === 'every-other';
  if (!okSelection) {
    throw new TrellisError('BAD_OPTION', `block selection ${JSON.stringify(selection)} is not 'first-k', 'every-other' or { custom: { id: blocks } }`,
      "pass blockSelection: 'first-k' (default, the first d blocks of each stage), 'every-other' (spread evenly) or { custom }", { selection });
  }
  if (typeof selection === 'object') {
    return Object.entries(selection.custom).map(([id, blocks]) => {
      check(Array.isArray(blocks), 'BAD_DEPTH', `custom depth "${id}" is ${JSON.stringify(blocks)}, not a list of block indices`,
        `list the skippable blocks it runs, e.g. { custom: { ${id}: [0, 2] } }`, { config: id });
      return validateConfig({ id, activeBlocks: [...blocks] }, layout);
    });
  }
  check(Array.isArray(depths), 'BAD_DEPTH', `the depth menu ${JSON.stringify(depths)} is not a list`, 'pass a list of depths, e.g. configs: [2, 4, 6] (per-stage lists for a CNN: [[1, 1], [2, 2]])');
  if (depths.length === 0) {
    throw new TrellisError('EMPTY_DEPTH_MENU', 'the depth menu is empty', 'pass at least one depth, e.g. configs: [2, 4, 6]');
  }
  const configs = depths.map((d) => {
    check(typeof d === 'number' || Array.isArray(d), 'BAD_DEPTH', `depth ${JSON.stringify(d)} is not a block count or a list of per-stage counts`,
      'give each depth as a number of active blocks (one stage) or one count per stage, e.g. [1, 2]');
    const perStage = typeof d === 'number' ? [d] : [...d];
    if (perStage.length !== layout.stages.length) {
      throw new TrellisError('BAD_DEPTH',
        `depth [${perStage.join(', ')}] gives ${perStage.length} stage depths but the model has ${layout.stages.length} stages`,
        `give one active-block count per stage (${layout.stages.length} numbers)`, { depth: perStage });
    }
    const active: number[] = [];
    perStage.forEach((k, s) => {
      const stage = layout.stages[s]!;
      if (!Number.isInteger(k) || k < 0 || k > stage.length) {
        throw new TrellisError('BAD_DEPTH', `stage ${s} has ${stage.length} skippable blocks; depth ${k} does not exist there`,
          `use a depth between 0 and ${stage.length} for stage ${s}`, { stage: s, depth: k });
      }
      const pick = selection === 'first-k' ? stage.slice(0, k) : spreadIndices(stage.length, k).map((i) => stage[i]!);
      active.push(...pick);
    });
    const id = perStage.length === 1 ? `d${perStage[0]}` : `s${perStage.join('-')}`;
    return validateConfig({ id, activeBlocks: active.sort((a, b) => a - b), perStage }, layout);
  });
  const ids = new Set<string>();
  for (const c of configs) {
    if (ids.has(c.id)) throw new TrellisError('DUPLICATE_DEPTH', `depth "${c.id}" appears twice in the menu`, 'list each depth once');
    ids.add(c.id);
  }
  return configs;
}

/**
 * Checks a configuration against a block layout: every active block exists and is skippable (a
 * mandatory block cannot be listed as optional: it always runs), no duplicates. Returns it sorted,
 * with `perStage` filled in.
 */
export function validateConfig(config: DepthConfig, layout: BlockLayout): DepthConfig {
  check(config !== null && typeof config === 'object' && typeof config.id === 'string' && Array.isArray(config.activeBlocks), 'BAD_DEPTH',
    () => `depth ${JSON.stringify(config)} is not { id: string, activeBlocks: number[] }`,
    "pass a menu depth id (e.g. 'd4') or a configuration such as { id: 'mine', activeBlocks: [0, 2] }");
  const skippable = new Map<number, number>();
  layout.stages.forEach((stage, s) => stage.forEach((b) => skippable.set(b, s)));
  const seen = new Set<number>();
  const perStage = layout.stages.map(() => 0);
  for (const b of config.activeBlocks) {
    if (!Number.isInteger(b) || b < 0 || b >= layout.numBlocks) {
      throw new TrellisError('BAD_DEPTH', `depth "${config.id}" lists block ${b}, but the model has blocks 0..${layout.numBlocks - 1}`,
        'list indices of existing skippable blocks', { config: config.id, block: b });
    }
    const stage = skippable.get(b);
    if (stage === undefined) {
      throw new TrellisError('MANDATORY_BLOCK', `depth "${config.id}" lists block ${b}, which changes shape and therefore always runs`,
        `list only skippable blocks (${[...skippable.keys()].join(', ')}); mandatory blocks are always active`, { config: config.id, block: b });
    }
    if (seen.has(b)) throw new TrellisError('BAD_DEPTH', `depth "${config.id}" lists block ${b} twice`, 'list each block once');
    seen.add(b);
    perStage[stage] = perStage[stage]! + 1;
  }
  return { id: config.id, activeBlocks: [...config.activeBlocks].sort((a, b) => a - b), perStage };
}

/** Finds a configuration of `menu` by id (or checks an object's id is in it); throws UNKNOWN_DEPTH otherwise. */
export function resolveConfig(menu: readonly DepthConfig[], config: DepthConfig | string): DepthConfig {
  const id = typeof config === 'string' ? config : config.id;
  const found = menu.find((c) => c.id === id);
  if (!found) {
    throw new TrellisError('UNKNOWN_DEPTH', `depth "${id}" does not exist in this model's menu`,
      `use one of: ${menu.map((c) => c.id).join(', ')} (or build the model with that depth in \`configs\`)`, { depth: id, menu: menu.map((c) => c.id) });
  }
  return found;
}
