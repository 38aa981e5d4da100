import { check, type Rng } from '@trellis-ml/core';
import type { DepthConfig } from './depthConfig.js';

/** Options of {@link sampleSubnets}. */
export interface SubnetSampling {
  /** Sub-networks per step besides c_min, or `'all'` (default: all when the menu has ≤ 4 depths, else 2). */
  subnetsPerStep?: number | 'all';
  /** Always include the shallowest depth c_min (the sandwich rule, default true). */
  sandwich?: boolean;
}

/**
 * Picks the sub-network depths `C_t` of one step (the sandwich rule of US-Nets transplanted to
 * depth). `subConfigs` are the menu without the full depth, shallowest first; `menuSize` is the size
 * of the whole menu (so at least `subConfigs.length + 1`, BAD_OPTION otherwise). With `'all'` (or a
 * menu of at most four depths and no explicit count) every sub-network runs; otherwise c_min
 * (when `sandwich`) plus `r` depths drawn uniformly without replacement from the rest.
 */
export function sampleSubnets(subConfigs: readonly DepthConfig[], menuSize: number, options: SubnetSampling, rng: Rng): DepthConfig[] {
  check(Number.isInteger(menuSize) && menuSize > subConfigs.length, 'BAD_OPTION', `menu size ${String(menuSize)} is not a whole number above the ${subConfigs.length} sub-network depths`,
    'pass the size of the whole menu (the sub-network depths plus the full depth)');
  const per = options.subnetsPerStep ?? (menuSize <= 4 ? 'all' : 2);
  check(per === 'all' || (Number.isInteger(per) && per >= 0), 'BAD_OPTION', `subnetsPerStep ${per} is not a non-negative integer`, "pass a count such as 2, or 'all'");
  if (per === 'all' || subConfigs.length === 0) return [...subConfigs];
  check(options.sandwich === undefined || typeof options.sandwich === 'boolean', 'BAD_OPTION', `sandwich ${JSON.stringify(options.sandwich)} is not true or false`,
    'pass sandwich: true (always train the shallowest depth, the default) or false');
  const sandwich = options.sandwich ?? true;
  const chosen: DepthConfig[] = sandwich ? [subConfigs[0]!] : [];
  const rest = sandwich ? subConfigs.slice(1) : [...subConfigs];
  const take = Math.min(per, rest.length);
  for (const i of rng.sample(rest.length, take)) chosen.push(rest[i]!);
  return chosen;
}

/**
 * The blocks LayerDrop keeps in one training step: skippable block `l` (1-based over `blocks`) is
 * dropped with probability `p` (or `p · l / L` with `linear`, stochastic depth).
 */
export function sampleLayerDrop(blocks: readonly number[], p: number, linear: boolean, rng: Rng): number[] {
  check(p >= 0 && p < 1, 'BAD_OPTION', `drop probability ${p} is outside [0, 1)`, 'pass p such as 0.2');
  const L = blocks.length;
  return blocks.filter((_, j) => rng.next() >= (linear ? (p * (j + 1)) / L : p));
}

/**
 * Once-for-All's per-step sampling: `n` depths drawn uniformly *with* replacement from `menu` (OFA
 * samples each sub-network of a step independently, so two may coincide). Example: with the phase-1
 * menu `d4, d6` every draw is `d4` or `d6`, never the shallowest `d2`.
 */
export function sampleDepths<T>(menu: readonly T[], n: number, rng: Rng): T[] {
  check(menu.length > 0, 'EMPTY_DEPTH_MENU', 'there is no depth to sample', 'pass a non-empty menu');
  check(Number.isInteger(n) && n >= 1, 'BAD_OPTION', `${n} sub-networks per step is not a whole number ≥ 1`, 'pass a count such as 2 (OFA)');
  return Array.from({ length: n }, () => menu[rng.int(menu.length)]!);
}
