import { renderVegaLiteSvg } from '@trellis-ml/core';
import { describe, expect, it } from 'vitest';
import { confusionVsSimilarityPlot, gridHeatPlot, macsCurvePlot, temperaturePlot, topPairsPlot } from '../src/reportPlots.js';

const texts = (svg: string): string[] => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);

describe('the figures of spec §10.4 render to SVG through core\'s report pipeline', () => {
  it('figure 1 bars, figure 3 heat-grid, figure 4 MAC curve, figure 5 (a) and (b)', async () => {
    const fig1 = texts(await renderVegaLiteSvg(topPairsPlot([{ pair: '4↔9', value: 0.9, expected: true }, { pair: '1↔2', value: 0.8, expected: false }], 'top pairs')));
    expect(fig1).toEqual(expect.arrayContaining(['4↔9', '1↔2', 'expected by the spec', 'other', '0.900']));
    const cells = [1, 4].flatMap((T) => [0.1, 0.9].flatMap((alpha) => (['ReffAKD-AE', 'KD (teacher)'] as const).map((method) => ({ method, T, alpha, valAcc: 90 + T / 10 + alpha }))));
    const fig3 = texts(await renderVegaLiteSvg(gridHeatPlot(cells)));
    expect(fig3).toEqual(expect.arrayContaining(['ReffAKD-AE', 'KD (teacher)', 'T', 'α (KD weight)', '90.20', '91.30']));
    const fig4 = texts(await renderVegaLiteSvg(macsCurvePlot([
      { pipeline: 'KD', stage: 'teacher training', cumulativeMacs: 1e10, accuracy: null },
      { pipeline: 'KD', stage: 'student epoch 1', cumulativeMacs: 1.1e10, accuracy: 0.8 },
      { pipeline: 'ReffAKD', stage: 'autoencoder training', cumulativeMacs: 1e9, accuracy: null },
      { pipeline: 'ReffAKD', stage: 'student epoch 1', cumulativeMacs: 2e9, accuracy: 0.79 },
    ])));
    expect(fig4).toEqual(expect.arrayContaining(['KD', 'ReffAKD', 'cumulative MACs (log)', 'student test accuracy (%)']));
    const fig5a = texts(await renderVegaLiteSvg(temperaturePlot([
      { series: "predicted softmax(T·S'[y])[y]", T: 1, prob: 0.12 }, { series: "predicted softmax(T·S'[y])[y]", T: 20, prob: 0.59 },
      { series: 'ReffAKD-AE student, α = 0.9', T: 1, prob: 0.17 }, { series: 'ReffAKD-AE student, α = 0.9', T: 20, prob: 0.5 },
    ])));
    expect(fig5a).toEqual(expect.arrayContaining(["predicted softmax(T·S'[y])[y]", 'ReffAKD-AE student, α = 0.9', 'T (log)']));
    const fig5b = texts(await renderVegaLiteSvg(confusionVsSimilarityPlot([
      { pair: '4↔9', similarity: 0.9, confusions: 30, kind: 'top 5 of S and top 5 confused' }, { pair: '0↔1', similarity: 0.3, confusions: 1, kind: 'other' },
    ], 'pairs')));
    expect(fig5b).toEqual(expect.arrayContaining(['4↔9', 'top 5 of S and top 5 confused', 'other']));
    expect(fig5b).not.toContain('0↔1'); // only the top pairs are labelled
  });
});
