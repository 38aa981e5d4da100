import type { Matrix } from './similarity.js';

/**
 * Vega-Lite specs of the reproduction's figures (spec §10.4), data inline; core's report pipeline
 * renders them to SVG.
 *
 * @module
 */

/** A Vega-Lite spec. */
export type VegaLiteSpec = Record<string, unknown>;

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** Figure 1: a C × C matrix as a heat map with class names and the values printed in the cells. */
export function heatmap(M: Matrix, names: readonly string[], title: string): VegaLiteSpec {
  const values = M.flatMap((row, a) => row.map((v, b) => ({ row: names[a], col: names[b], value: Number(v.toFixed(5)) })));
  return {
    $schema: SCHEMA,
    title, width: 320, height: 320,
    data: { values },
    layer: [
      { mark: 'rect', encoding: {
        x: { field: 'col', type: 'nominal', sort: [...names], title: 'class' },
        y: { field: 'row', type: 'nominal', sort: [...names], title: 'row (true class)' },
        color: { field: 'value', type: 'quantitative', scale: { scheme: 'viridis' } },
      } },
      { mark: { type: 'text', fontSize: 7 }, encoding: {
        x: { field: 'col', type: 'nominal', sort: [...names] }, y: { field: 'row', type: 'nominal', sort: [...names] },
        text: { field: 'value', type: 'quantitative', format: '.3f' }, color: { value: 'white' },
      } },
    ],
  };
}

/** Figure 1: the top off-diagonal pairs of S as bars, coloured by whether the spec expects the pair. */
export function topPairsPlot(pairs: ReadonlyArray<{ pair: string; value: number; expected: boolean }>, title: string): VegaLiteSpec {
  return {
    $schema: SCHEMA,
    title, width: 400, height: 18 * Math.max(pairs.length, 1),
    data: { values: pairs.map((p) => ({ ...p, kind: p.expected ? 'expected by the spec' : 'other' })) },
    layer: [
      { mark: 'bar', encoding: {
        y: { field: 'pair', type: 'nominal', sort: null, title: null },
        x: { field: 'value', type: 'quantitative', title: 'mean cosine similarity S[a][b]' },
        color: { field: 'kind', type: 'nominal', title: null, scale: { domain: ['expected by the spec', 'other'], range: ['#d95f02', '#7570b3'] }, legend: { labelLimit: 300 } },
      } },
      { mark: { type: 'text', align: 'left', dx: 3, fontSize: 9 }, encoding: {
        y: { field: 'pair', type: 'nominal', sort: null }, x: { field: 'value', type: 'quantitative' }, text: { field: 'value', type: 'quantitative', format: '.3f' },
      } },
    ],
  };
}

/** Figure 2: test accuracy per method with mean ± std error bars. */
export function accuracyPlot(rows: Array<{ method: string; mean: number; lo: number; hi: number }>): VegaLiteSpec {
  return {
    $schema: SCHEMA,
    title: 'Student test accuracy (final epoch), mean ± std over seeds', width: 420, height: 240,
    data: { values: rows },
    layer: [
      { mark: 'bar', encoding: { x: { field: 'method', type: 'nominal', sort: null, title: null }, y: { field: 'mean', type: 'quantitative', title: 'test accuracy (%)', scale: { zero: false } } } },
      { mark: { type: 'errorbar', ticks: true }, encoding: { x: { field: 'method', type: 'nominal', sort: null }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
    ],
  };
}

/** Figure 3: validation accuracy over the α × T grid, one panel per method, values printed in the cells. */
export function gridHeatPlot(cells: ReadonlyArray<{ method: string; T: number; alpha: number; valAcc: number }>): VegaLiteSpec {
  return {
    $schema: SCHEMA,
    title: 'Validation accuracy (%) over the α × T grid (first seed)',
    data: { values: cells },
    facet: { column: { field: 'method', type: 'nominal', title: null, sort: null } },
    spec: {
      width: 200, height: 140,
      layer: [
        { mark: 'rect', encoding: {
          x: { field: 'T', type: 'ordinal', title: 'T' }, y: { field: 'alpha', type: 'ordinal', title: 'α (KD weight)' },
          color: { field: 'valAcc', type: 'quantitative', title: 'val acc (%)', scale: { scheme: 'viridis' } },
        } },
        { mark: { type: 'text', fontSize: 9 }, encoding: {
          x: { field: 'T', type: 'ordinal' }, y: { field: 'alpha', type: 'ordinal' },
          text: { field: 'valAcc', type: 'quantitative', format: '.2f' }, color: { value: 'white' },
        } },
      ],
    },
  };
}

/**
 * Figure 4: the student's test accuracy after each epoch against the pipeline's cumulative MACs
 * (log x); the soft-label stages (no student yet) are dashed vertical rules at their cumulative MACs.
 */
export function macsCurvePlot(rows: ReadonlyArray<{ pipeline: string; stage: string; cumulativeMacs: number; accuracy: number | null }>): VegaLiteSpec {
  const values = rows.map((r) => ({ ...r, accuracy: r.accuracy === null ? null : Number((100 * r.accuracy).toFixed(2)) }));
  const x = { field: 'cumulativeMacs', type: 'quantitative', scale: { type: 'log' }, title: 'cumulative MACs (log)', axis: { format: '.0e' } };
  return {
    $schema: SCHEMA,
    title: 'Student test accuracy vs the pipeline\'s cumulative MACs', width: 440, height: 260,
    data: { values },
    layer: [
      { transform: [{ filter: 'datum.accuracy === null' }], mark: { type: 'rule', strokeDash: [4, 3] }, encoding: { x, color: { field: 'pipeline', type: 'nominal', title: null, legend: { labelLimit: 300 } } } },
      { transform: [{ filter: 'datum.accuracy !== null' }], mark: { type: 'line', point: true }, encoding: {
        x, y: { field: 'accuracy', type: 'quantitative', title: 'student test accuracy (%)', scale: { zero: false } }, color: { field: 'pipeline', type: 'nominal', title: null },
      } },
    ],
  };
}

/**
 * Figure 5 (a): the students' mean true-class probability on the test data against T, one line per
 * series (the §3.1 prediction `softmax(T·S'[y])`, the ReffAKD students per α, the CE reference).
 */
export function temperaturePlot(rows: ReadonlyArray<{ series: string; T: number; prob: number }>): VegaLiteSpec {
  return {
    $schema: SCHEMA,
    title: 'Mean true-class probability on the test data vs T', width: 400, height: 240,
    data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'T', type: 'quantitative', scale: { type: 'log' }, title: 'T (log)', axis: { values: [...new Set(rows.map((r) => r.T))].sort((a, b) => a - b) } },
      y: { field: 'prob', type: 'quantitative', title: 'mean true-class probability', scale: { domain: [0, 1] } },
      color: { field: 'series', type: 'nominal', title: null, sort: null, legend: { labelLimit: 300, orient: 'bottom', direction: 'vertical' } },
      strokeDash: { field: 'series', type: 'nominal', title: null, sort: null },
    },
  };
}

/**
 * Figure 5 (b): every class pair's similarity S[a][b] against how often the student confuses the two
 * (both directions), the top pairs of either named.
 */
export function confusionVsSimilarityPlot(points: ReadonlyArray<{ pair: string; similarity: number; confusions: number; kind: string }>, title: string): VegaLiteSpec {
  const enc = {
    x: { field: 'similarity', type: 'quantitative', title: 'S[a][b] (mean cosine)', scale: { zero: false } },
    y: { field: 'confusions', type: 'quantitative', title: 'test confusions a↔b (both directions)' },
  };
  return {
    $schema: SCHEMA,
    title, width: 400, height: 260,
    data: { values: points },
    layer: [
      { mark: { type: 'point', filled: true, size: 40 }, encoding: { ...enc, color: { field: 'kind', type: 'nominal', title: null, sort: ['top 5 of S and top 5 confused', 'top 5 of S', 'top 5 confused', 'other'], legend: { labelLimit: 300 } } } },
      { transform: [{ filter: 'datum.kind !== "other"' }], mark: { type: 'text', dx: 4, align: 'left', fontSize: 8 }, encoding: { ...enc, text: { field: 'pair' } } },
    ],
  };
}
