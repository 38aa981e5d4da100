import * as tf from '@tensorflow/tfjs-core';
import { Dataset, mlp } from '@trellis-ml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DUAL_LR_GRID, accuracyDiffNoise, compareWithinNoise, denseBandChecks, flatParameters, groupDiagnostics, inBand, perSampleGradientNorms,
  plainDropBandChecks, setFlatParameters, settingsFor, sparsityTrend, spread,
} from '../src/index.js';
import { studyChecks, studyClaims, type StudyDesignRun, type StudyRow } from '../src/studyReport.js';
import { disparity, type GroupReport } from '../src/groupMetrics.js';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { useCpu } from './setup.js';

beforeAll(useCpu);

describe('per-sample gradient norms (spec §4.4)', () => {
  it('match ‖p − e_y‖·√(‖x‖² + 1) for a linear softmax model at zero weights', () => {
    const m = mlp({ inputShape: [2], hidden: [], numClasses: 2, seed: 1 });
    setFlatParameters(m, new Float64Array(flatParameters(m).length)); // W = 0, b = 0 → p = (½, ½)
    // x = (3, 4), y = 0: ∇W = x(p − e_0)ᵀ, ∇b = p − e_0; ‖p − e_0‖² = ½ → ‖∇‖² = ½(25 + 1) = 13
    // x = (0, 0), y = 1: only ∇b = p − e_1 → ‖∇‖² = ½
    const data = Dataset.fromArrays({ x: Float32Array.from([3, 4, 0, 0]), shape: [2], labels: Int32Array.from([0, 1]), numClasses: 2, groups: Int32Array.from([0, 0]) });
    const before = tf.memory().numTensors;
    const norms = perSampleGradientNorms(m, data);
    expect(tf.memory().numTensors).toBe(before);
    expect(norms[0]).toBeCloseTo(Math.sqrt(13), 5);
    expect(norms[1]).toBeCloseTo(Math.sqrt(0.5), 5);
    // groupDiagnostics reports their group mean, which bounds the group gradient norm from above on the same examples
    const d = groupDiagnostics(m, data, 1, { sampleGradPerGroup: 256, powerIterations: 0 });
    expect(d.meanSampleGradNorm![0]).toBeCloseTo((Math.sqrt(13) + Math.sqrt(0.5)) / 2, 5);
    expect(d.meanSampleGradNorm![0]).toBeGreaterThanOrEqual(d.gradNorm[0]!);
    // ‖g‖ by hand: mean gradient ∇W = ½·(3,4)(−½,½)ᵀ, ∇b = ½((−½,½) + (½,−½)) = 0 → ‖g‖² = ¼·25·½ = 3.125
    expect(d.gradNorm[0]).toBeCloseTo(Math.sqrt(3.125), 5);
    expect(groupDiagnostics(m, data, 1, { powerIterations: 0 }).meanSampleGradNorm).toBeUndefined();
    m.dispose();
  });
});

describe('study checks: spreads, bands, noise and trends', () => {
  it('spread and closed bands', () => {
    expect(spread([0.2, 0.9, 0.5])).toBeCloseTo(0.7, 12);
    expect(spread([])).toBeNaN();
    expect(inBand(0.885, 0.885, 0.9)).toBe(true);
    expect(inBand(0.9001, 0.885, 0.9)).toBe(false);
    expect(inBand(0.97, 0.96, null)).toBe(true);
    expect(inBand(-0.01, null, 0.002)).toBe(true);
    expect(inBand(NaN, null, null)).toBe(false);
  });

  it('dense bands of spec §7.4 for Fashion (5 checks) and MNIST (2 checks)', () => {
    //          T-sh  Trou  Pull  Dres  Coat  Sand  Shirt Snea  Bag   Boot
    const fashion = [0.85, 0.97, 0.80, 0.90, 0.82, 0.95, 0.65, 0.95, 0.97, 0.96];
    const f = denseBandChecks('fashion', 0.89, fashion);
    expect(f.map((b) => b.what)).toEqual(['dense overall accuracy', 'dense Shirt accuracy', 'dense Trouser accuracy', 'dense Sandal accuracy', 'dense Bag accuracy']);
    expect(f.map((b) => b.holds)).toEqual([true, true, true, false, true]); // Sandal 95% < 96%
    const mnist = denseBandChecks('mnist', 0.981, [0.99, 0.99, 0.98, 0.98, 0.98, 0.97, 0.99, 0.98, 0.964, 0.97]);
    expect(mnist.map((b) => [b.measured, b.holds])).toEqual([[0.981, true], [0.964, false]]);
    expect(trellisErrorOf(() => denseBandChecks('mnist', 0.98, [0.9, 0.9])).code).toBe('BAD_GROUPS');
  });

  it('plain-drop bands: MNIST low (Δ ≤ 0.2 pp, ξ_acc ≤ 0.6 pp) and high (0.5–3 pp), Fashion high (1–4 pp)', () => {
    const pts = [
      { sparsity: 0.99, overallDrop: 0.045, accuracyDropSpread: 0.2 },
      { sparsity: 0.5, overallDrop: 0.001, accuracyDropSpread: 0.004 },
      { sparsity: 0.9, overallDrop: 0.003, accuracyDropSpread: 0.007 },
      { sparsity: 0.95, overallDrop: 0.02, accuracyDropSpread: 0.1 },
      { sparsity: 0.98, overallDrop: 0.01, accuracyDropSpread: 0.1 },
    ];
    const m = plainDropBandChecks('mnist', pts);
    expect(m.low.map((b) => [b.what, b.holds])).toEqual([
      ['overall drop Δ at s = 0.5', true], ['ξ_acc at s = 0.5', true], ['overall drop Δ at s = 0.9', false], ['ξ_acc at s = 0.9', false],
    ]);
    expect(m.high.map((b) => [b.what, b.holds])).toEqual([['overall drop Δ at s = 0.98', true], ['overall drop Δ at s = 0.99', false]]);
    const f = plainDropBandChecks('fashion', pts);
    expect(f.low).toEqual([]);
    expect(f.high.map((b) => [b.what, b.holds])).toEqual([['overall drop Δ at s = 0.95', true], ['overall drop Δ at s = 0.98', true], ['overall drop Δ at s = 0.99', false]]);
  });

  it('accuracy-difference noise and the group-by-group comparison', () => {
    // 1.96·√((0.9·0.1 + 0.8·0.2)/100) = 1.96·0.05
    expect(accuracyDiffNoise(0.9, 0.8, 100)).toBeCloseTo(0.098, 12);
    expect(accuracyDiffNoise(0.9, 0.8, 100, 1)).toBeCloseTo(0.05, 12);
    expect(trellisErrorOf(() => accuracyDiffNoise(0.5, 0.5, 0)).code).toBe('EMPTY_GROUP');
    // percentages instead of fractions: a clear error, not NaN (or a silently wrong band)
    expect(trellisErrorOf(() => accuracyDiffNoise(85, 80, 100)).code).toBe('BAD_FRACTION');
    expect(() => accuracyDiffNoise(0.5, 1.2, 100)).toThrow(/accuracy 1.2 is not a fraction in \[0, 1\] — pass accuracies as fractions/);
    expect(trellisErrorOf(() => compareWithinNoise({ overall: 90, perGroup: [90, 80] }, { overall: 85, perGroup: [85, 80] }, [10, 10], 20)).code).toBe('BAD_FRACTION');
    const c = compareWithinNoise({ overall: 0.8, perGroup: [0.9, 0.5] }, { overall: 0.75, perGroup: [0.8, 0.6] }, [100, 100], 200);
    expect(c.accuracyDiff).toBeCloseTo(-0.05, 12);
    // 1.96·√((0.75·0.25 + 0.8·0.2)/200) = 1.96·√0.0017375
    expect(c.accuracyNoise).toBeCloseTo(1.96 * Math.sqrt(0.0017375), 12);
    // worst groups: 0.5 (reference, group 1) → 0.6 (variant, group 1)
    expect(c.worstGroupDiff).toBeCloseTo(0.1, 12);
    expect(c.worstGroupNoise).toBeCloseTo(1.96 * Math.sqrt((0.6 * 0.4 + 0.5 * 0.5) / 100), 12);
    // group 0 fell 0.1 > 1.96·√((0.8·0.2 + 0.9·0.1)/100) = 0.098 → worse beyond noise; group 1 rose
    expect(c.groupsWorse).toEqual([0]);
    expect(trellisErrorOf(() => compareWithinNoise({ overall: 1, perGroup: [1] }, { overall: 1, perGroup: [1, 1] }, [1, 1], 2)).code).toBe('GROUP_COUNT_MISMATCH');
  });

  it('sparsity trend is the Spearman ρ of sparsity and spread', () => {
    expect(sparsityTrend([0.5, 0.8, 0.9], [0.1, 0.2, 0.3])).toBe(1);
    // ranks (1, 2, 3) against (1, 3, 2): ρ = 1 − 6·2/(3·8) = 0.5
    expect(sparsityTrend([0.5, 0.8, 0.9], [0.1, 0.3, 0.2])).toBeCloseTo(0.5, 12);
    expect(sparsityTrend([0.5], [0.1])).toBeNaN();
  });
});

describe('study checks from reproduction rows', () => {
  const report = (overall: number, perGroup: number[], loss: number[] = perGroup.map(() => 0.5)): GroupReport => ({
    overall: { accuracy: overall, loss: 0.5, count: 1000 * perGroup.length },
    perGroup: perGroup.map((a, i) => ({ accuracy: a, loss: loss[i]!, count: 1000 })),
  });
  const denseAcc = [0.9, 0.98, 0.85, 0.9, 0.85, 0.97, 0.66, 0.96, 0.97, 0.96];
  const dense = report(0.895, denseAcc);
  const run: StudyDesignRun = { seed: 1, design: 'classes', groupNames: denseAcc.map((_, i) => `c${i}`), dense, focus: [6], diagnostics: null, denseTrain: null };
  const row = (sparsity: number, variant: StudyRow['variant'], drop: number): StudyRow => {
    const pruned = report(0.895 - drop, denseAcc.map((a, i) => a - (i === 6 ? 2 * drop : drop)));
    return { seed: 1, design: 'classes', sparsity, variant, measuredSparsity: sparsity, nonzeroParams: 0, totalParams: 0, disparity: disparity(dense, pruned), perGroupAccuracy: pruned.perGroup.map((g) => g.accuracy), trainExcessLoss: null, lambdas: [] };
  };
  const rows = [row(0.5, 'plain', 0.001), row(0.5, 'mitigated', 0.001), row(0.95, 'plain', 0.02), row(0.99, 'plain', 0.05)];

  it('bands become claims only at the spec scale, and the trend uses every sparsity', () => {
    const full = settingsFor('full');
    const checks = studyChecks(rows, [run], [], [], full, [1]);
    expect(checks.specScale).toBe(true);
    // dense: all five Fashion checks hold; high: Δ = 2 pp at 0.95 (in 1–4), 5 pp at 0.99 (out)
    expect(checks.bands.filter((b) => b.part === 'plain-high').map((b) => b.holds)).toEqual([true, false]);
    const claims = studyClaims(checks, [1]);
    expect(claims.map((c) => [c.id, c.measured, c.threshold, c.holds])).toEqual([
      ['dense-accuracy-band', 5, 5, true],
      ['plain-drop-band-high-sparsity', 1, 2, false],
    ]);
    // ξ_acc of the plain rows rises with sparsity (the hard class loses twice the others' drop)
    const plain = checks.trends.find((t) => t.variant === 'plain')!;
    expect(plain.sparsities).toEqual([0.5, 0.95, 0.99]);
    expect(plain.accuracyDropSpread.map((x) => Number(x.toFixed(6)))).toEqual([0.001, 0.02, 0.05]);
    expect(plain.rhoAccuracyDropSpread).toBe(1);
    // at low sparsity the mitigated row equals the plain one: nothing worse beyond noise
    expect(checks.lowSparsity).toHaveLength(1);
    expect(checks.lowSparsity[0]!.groupsWorse).toEqual([]);
    expect(checks.lowSparsity[0]!.accuracyDiff).toBeCloseTo(0, 12);
    expect(checks.bootstrap.smallestTestGroup).toBe(1000);
    // the quick preset (a smaller MLP on 4,000 examples) is not the setting the bands describe: reported, not claimed
    expect(studyClaims(studyChecks(rows, [run], [], [], settingsFor('quick'), [1]), [1])).toEqual([]);
  });
});

describe('settings of the added outputs', () => {
  it('diagnostics caps follow the spec (20 Hutchinson vectors, ≤ 256 per-sample gradients in full) and the η_λ grid is the spec grid', () => {
    expect(settingsFor('full').diagnostics).toMatchObject({ traceSamples: 20, sampleGradPerGroup: 256, inputDistance: true });
    expect(settingsFor('quick').diagnostics).toMatchObject({ traceSamples: 20, sampleGradPerGroup: 64, inputDistance: true });
    expect([...DUAL_LR_GRID]).toEqual([1e-3, 3e-3, 1e-2, 3e-2]);
    expect(settingsFor('quick').dualLrGrid).toEqual([1e-3, 3e-3, 1e-2, 3e-2]);
    expect(settingsFor('full', { dualLrGrid: '' }).dualLrGrid).toEqual([]);
    expect(settingsFor('full', { dualLrGrid: '0.001,0.01' }).dualLrGrid).toEqual([0.001, 0.01]);
  });
});
