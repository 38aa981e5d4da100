/**
 * The claims of the `trellis retrain-cost` reproduction (spec §10.7, §13): each measured value from the grid's
 * analysis set against the threshold the spec states, fixed before any run.
 */
import { claim, type Claim } from '@trellis-ml/core';
import { minOf, pooledSpearman, type GridAnalysis } from './experimentAnalysis.js';
import type { BadInputCheck, IndexName } from './experimentGrid.js';
import type { Plan } from './experimentPlan.js';
import { median } from './stats.js';

/** The baselines PreIndex has to beat in `preindex-beats-baselines` (RESQUE included). */
const BASELINES: IndexName[] = ['accuracyDrop', 'mmd2', 'bbsd', 'negLogme', 'negLeep', 'negHScore', 'otdd', 'resque'];

/**
 * |coverage − 0.8| for the predictor-coverage claim, rounded to 12 decimals: coverage is a ratio k/n of
 * runs, and the spec's band is 75–85% inclusive, but `0.75 − 0.8` is −0.05000000000000004 in floating
 * point, which would report an in-band 12/16 as outside it. @internal
 */
export function coverageGap(coverage: number): number {
  return Math.round(Math.abs(coverage - 0.8) * 1e12) / 1e12;
}

/**
 * The reproduction's claims, in report order: control, monotonicity, PreIndex's correlations and margin over
 * the baselines, the predictor, energy, the tracker, bad input, ARM's cross-architecture ordering (with two
 * models), the cost proxies, carbon, PreIndex's cost and (with a subsample) its ρ drop. @internal
 */
export function gridClaims(analysis: GridAnalysis, plan: Plan, seeds: number[], badInputs: BadInputCheck | null): Claim[] {
  const { pooled, withinFamily, mono, monoClaimed, controlMax, predictorEval, rhoKWh, relErr, statement, crossArch, preProxies, proxyMin, carbonGap, indexCost } = analysis;
  const pooledOf = (name: IndexName) => pooledSpearman(pooled, name);
  const seedList = seeds;
  const bestBaseline = minOf([...new Set(pooled.map((p) => p.group))].map((g) => {
    const pre = pooled.find((p) => p.group === g && p.index === 'preIndex')!.spearman;
    const best = Math.max(...pooled.filter((p) => p.group === g && BASELINES.includes(p.index)).map((p) => (Number.isFinite(p.spearman) ? p.spearman : -1)));
    return pre - best;
  }));
  const baselineDetail = BASELINES.map((b) => `${b} ${minOf(pooledOf(b)).toFixed(3)}`).join(', ');
  const claims: Claim[] = [
    claim('control-index-zero', 'The clean control gives index 0: all 12 PreIndex distances, baseline-corrected PreIndex, ARM (3 variants) and RESQUE (max |value| over control runs)', controlMax, '<=', 1e-12, seedList),
    claim('indices-rise-with-intensity', 'Indices rise with shift intensity: min over families × {PreIndex, ARM, RESQUE} of Spearman(index, intensity), control included', minOf(monoClaimed.map((m) => m.rho)), '>=', 0.9, seedList,
      `${monoClaimed.filter((m) => m.rho < 0.9).map((m) => `${m.key} ${m.index} ${m.rho.toFixed(2)}`).join('; ') || 'all families monotone'}; not in the claim: p (W-32) alone, the D̄ spec §10.7 names, min ρ ${minOf(mono.filter((m) => m.index === 'preIndexP').map((m) => m.rho)).toFixed(2)}`),
    claim('preindex-pooled-spearman', 'Pooled Spearman between PreIndex and measured steps-to-target (min over dataset × model × seed), target ≥ 0.7', minOf(pooledOf('preIndex')), '>=', 0.7, seedList,
      `baselines pooled ρ: ${baselineDetail}; ARM ${minOf(pooledOf('arm')).toFixed(3)}`),
    claim('preindex-within-family-spearman', 'Within-family Spearman between PreIndex and steps-to-target (min over families), target ≥ 0.9', minOf(withinFamily.filter((w) => w.index === 'preIndex').map((w) => w.spearman)), '>=', 0.9, seedList,
      `ρ per family (the most a distinct-valued index can reach given the tied costs): ${withinFamily.filter((w) => w.index === 'preIndex').map((w) => `${w.group} ${w.spearman.toFixed(3)} (cap ${w.tieCap.toFixed(3)})`).join('; ')}`),
    claim('preindex-beats-baselines', 'Pooled ρ of PreIndex minus the best baseline pooled ρ (accuracy drop, MMD², BBSD, LogME, LEEP, H-score, OTDD, RESQUE), spec goal ≥ 0.05', bestBaseline, '>=', 0.05, seedList, baselineDetail),
    claim('predictor-mdape', `Predictor held-out median absolute % error on epochs of uncensored runs (${plan.families.length > 1 ? 'leave-one-family-out' : 'leave-one-out'}), spec goal ≤ 30%`, Math.max(...predictorEval.map((p) => p.mdape)), '<=', 0.3, seedList),
    claim('predictor-coverage', '80% conformal intervals: |empirical coverage − 0.8| on held-out runs (spec: 75–85%)', coverageGap(median(predictorEval.map((p) => p.coverage))), '<=', 0.05, seedList,
      `coverage ${predictorEval.map((p) => p.coverage.toFixed(2)).join(', ')} over ${predictorEval.map((p) => p.n).join(', ')} runs; censored runs count as covered unless their observed lower bound exceeds the interval (${predictorEval.map((p) => p.censoredAbove).join(', ')} did)`),
    claim('energy-rank-matches-steps', 'ρ(PreIndex, kWh) within 0.05 of ρ(PreIndex, steps): −max |difference|', rhoKWh, '>=', -0.05, seedList),
    claim('tracker-reproducible', "The tracker's modelled energy is reproducible by hand from its logged inputs (max relative error over runs)", Math.max(...relErr), '<=', 1e-9, seedList,
      `${relErr.length} runs, cpu method ${plan.cpuMethod}, TDP ${plan.tdpWatts} W; energy ${statement.kind === 'modelled' ? 'is MODELLED (no RAPL counter used), not metered' : statement.kind}`),
    claim('bad-input-errors', 'Bad input gets a clear TrellisError: different shapes, unpaired data for PreIndex (offering ARM/RESQUE), unknown layer (count of 3)', badInputs?.count ?? 0, '>=', 3, seedList),
  ];
  if (Number.isFinite(crossArch)) claims.push(claim('arm-cross-architecture', 'ARM orders the retraining cost of M1 vs M2 correctly (fraction of dataset × shift settings)', crossArch, '>=', 0.8, seedList));
  // spec §10.7's remaining expected rows and §13.2's cost goal, thresholds as the spec states them
  claims.push(
    claim('cost-proxies-correlate', 'Pooled Spearman of PreIndex with Σ gradient norm and with parameter change (min over cells and the two), spec §10.7: ≥ 0.5', proxyMin, '>=', 0.5, seedList,
      preProxies.map((p) => `${p.cell}: Σ grad norm ${p.gradNormSum.toFixed(3)}, param change ${p.paramChange.toFixed(3)}`).join('; ')),
    claim('carbon-rank-equals-energy', 'ρ(PreIndex, CO2e) is identical to ρ(PreIndex, kWh) — carbon is energy × a constant grid intensity, not independent evidence (max |difference| over cells), spec §10.7', carbonGap, '<=', 0, seedList,
      preProxies.map((p) => `${p.cell}: ρ with CO2e ${p.kgCO2e.toFixed(3)}, with kWh ${p.kWh.toFixed(3)}`).join('; ')),
    claim('preindex-cost-within-one-epoch', "PreIndex's own wall time (what its value needs: the primary distance and two k-means runs, components 'index') in training-epoch equivalents (median over settings / training seconds per epoch; max over cells), spec §13.2: ≤ 1", Math.max(...indexCost.map((c) => c.onlyEpochEquivalents)), '<=', 1, seedList,
      indexCost.map((c) => `${c.cell}: ${c.preIndexOnlyS.toFixed(2)} s vs ${c.trainSPerEpoch.toFixed(2)} s per epoch (with every diagnostic component ${c.preIndexS.toFixed(2)} s, ${c.epochEquivalents.toFixed(2)} epochs; per shift against a clean-side reference ${c.perShiftS.toFixed(2)} s, ${c.perShiftEpochEquivalents.toFixed(2)} epochs, the reference once ${c.referenceS.toFixed(2)} s${c.onlyValueMismatches ? `; ${c.onlyValueMismatches} settings whose index-only value differs` : ''}${c.perShiftValueMismatches ? `; ${c.perShiftValueMismatches} settings whose per-shift value differs` : ''})`).join('; ')),
    ...(plan.preIndexSubsample > 0 ? [claim('preindex-subsample-rho-drop', `Pooled Spearman of PreIndex with steps-to-target on the full data minus the same on a ${Math.round(plan.preIndexSubsample * 100)} % paired subsample (max over cells), spec §13.2: ≤ 0.02`,
      Math.max(...indexCost.map((c) => c.rhoFull - c.rhoSub)), '<=', 0.02, seedList,
      indexCost.map((c) => `${c.cell}: ρ ${c.rhoFull.toFixed(3)} → ${c.rhoSub.toFixed(3)}, ${c.preIndexSubS.toFixed(2)} s (${c.subEpochEquivalents.toFixed(2)} epochs)`).join('; '))] : []),
  );
  return claims;
}
