/** Correlations and summary statistics used by the predictor and the reproduction report. */

/** Pearson correlation (NaN when either side is constant or n < 2). */
export function pearson(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  if (n < 2 || y.length !== n) return NaN;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** Ranks 1..n with ties given their average rank. */
export function ranks(x: readonly number[]): number[] {
  const idx = x.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(x.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1]![0] === idx[i]![0]) j++;
    for (let k = i; k <= j; k++) r[idx[k]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Spearman's ρ (Pearson on average ranks). */
export function spearman(x: readonly number[], y: readonly number[]): number {
  return pearson(ranks(x), ranks(y));
}

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

/** Kendall's τ-b. */
export function kendall(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  let c = 0, d = 0, tx = 0, ty = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    const a = Math.sign(x[i]! - x[j]!);
    const b = Math.sign(y[i]! - y[j]!);
    if (a === 0 && b === 0) continue;
    if (a === 0) tx++;
    else if (b === 0) ty++;
    else if (a === b) c++;
    else d++;
  }
  const denom = Math.sqrt((c + d + tx) * (c + d + ty));
  return denom === 0 ? NaN : (c - d) / denom;
}

/** Median (NaN for an empty list). */
export function median(x: readonly number[]): number {
  if (!x.length) return NaN;
  const s = [...x].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The q-quantile (q in [0, 1]) with linear interpolation between order statistics, NumPy's default
 * (`np.quantile(x, q)`): position (n − 1)·q in the sorted values. NaN for an empty list.
 */
export function quantile(x: readonly number[], q: number): number {
  if (!x.length) return NaN;
  const s = [...x].sort((a, b) => a - b);
  const pos = (s.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** A percentile-bootstrap confidence interval; `valid` = resamples whose statistic was finite. */
export interface BootstrapInterval {
  lo: number;
  hi: number;
  valid: number;
}

/**
 * Percentile-bootstrap confidence interval of a paired statistic (e.g. {@link spearman}): draws
 * `resamples` (default 1,000) sets of n pairs with replacement via `rng.int(n)`, and returns the
 * (1 − level)/2 and (1 + level)/2 {@link quantile}s (default level 0.95) of the finite statistics.
 * Resamples where the statistic is undefined (e.g. every drawn cost equal) are skipped and not
 * counted in `valid`; lo = hi = NaN when none is finite.
 */
export function bootstrapCI(
  x: readonly number[], y: readonly number[], stat: (x: number[], y: number[]) => number, rng: { int(n: number): number },
  options: { resamples?: number; level?: number } = {},
): BootstrapInterval {
  const n = x.length;
  const level = options.level ?? 0.95;
  const values: number[] = [];
  if (n >= 2 && y.length === n) {
    for (let b = 0; b < (options.resamples ?? 1000); b++) {
      const xs: number[] = [];
      const ys: number[] = [];
      for (let i = 0; i < n; i++) {
        const j = rng.int(n);
        xs.push(x[j]!);
        ys.push(y[j]!);
      }
      const v = stat(xs, ys);
      if (Number.isFinite(v)) values.push(v);
    }
  }
  return { lo: quantile(values, (1 - level) / 2), hi: quantile(values, (1 + level) / 2), valid: values.length };
}
