/**
 * Rank statistics of the cost study. The correlations, median, quantile and bootstrap are core's (one
 * implementation, re-exported here); this module adds what only the cost study needs.
 */
export {
  pearson, ranks, spearman, kendall, median, quantile, pairedBootstrapInterval as bootstrapCI, type BootstrapInterval,
} from '@trellis-ml/core';

/**
 * The largest Spearman ρ an index with distinct values can reach against `costs` that contain ties:
 * `√(1 − Σ_g (t_g³ − t_g) / (n³ − n))` over the groups of `t_g` equal costs. A perfectly ordered index
 * gets exactly this (the order inside a tied group does not matter), so a within-family ρ below 1 is
 * partly the ties, not the index. Example: 6 runs of which 4 need 0 steps → √(1 − 60/210) = 0.845.
 * 1 without ties; NaN for fewer than 2 costs or when all are equal (ρ is undefined then).
 */
export function spearmanTieCap(costs: readonly number[]): number {
  const n = costs.length;
  if (n < 2) return NaN;
  const groups = new Map<number, number>();
  for (const c of costs) groups.set(c, (groups.get(c) ?? 0) + 1);
  if (groups.size === 1) return NaN;
  let tied = 0;
  for (const t of groups.values()) tied += t ** 3 - t;
  return Math.sqrt(1 - tied / (n ** 3 - n));
}
