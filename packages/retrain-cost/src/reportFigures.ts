/**
 * Vega-Lite figures of the `trellis retrain-cost` report (data inline; core's report pipeline renders
 * them to SVG): an index against the measured cost, correlation bars with bootstrap intervals, and the
 * predictor's held-out intervals.
 */

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** A Vega-Lite spec of `layer`s over inline `values`, one panel per value of `facetField`. */
function facetedLayers(title: string, values: unknown[], facetField: string, size: { width: number; height: number }, layer: unknown[]): Record<string, unknown> {
  return { $schema: SCHEMA, title, data: { values }, facet: { column: { field: facetField, type: 'nominal', title: null } }, spec: { ...size, layer } };
}

/** One retraining run as a point of the cost scatter plots. */
export interface CostScatterPoint {
  /** `dataset/model` (one panel each). */
  cell: string;
  family: string;
  level: number;
  preIndex: number;
  arm: number;
  resque: number;
  accuracyDrop: number;
  steps: number;
  kWh: number;
  /** Drawn as the shape: whether the run stopped censored (cap or plateau cutoff) or reached the target. */
  censored: 'censored' | 'reached';
}

/** The field `x` of every run against its field `y` (default steps to target), coloured by family, one panel per cell. */
export function costScatterPlot(points: CostScatterPoint[], x: string, title: string, y = 'steps', yTitle = 'steps to target'): Record<string, unknown> {
  return {
    $schema: SCHEMA, title, data: { values: points }, width: 320, height: 220,
    mark: { type: 'point', filled: true, size: 70 },
    encoding: {
      x: { field: x, type: 'quantitative', title: x }, y: { field: y, type: 'quantitative', title: yTitle },
      color: { field: 'family', type: 'nominal' }, shape: { field: 'censored', type: 'nominal' }, column: { field: 'cell', type: 'nominal', title: null },
    },
  };
}

/** One bar: an index's correlation in a group of runs, with its interval. */
export interface CorrelationBar {
  group: string;
  index: string;
  value: number | null;
  lo: number | null;
  hi: number | null;
}

/** Bars of each index's Spearman ρ per group (faceted by group) with 95% bootstrap intervals as rules. */
export function correlationBarsPlot(bars: CorrelationBar[], title: string): Record<string, unknown> {
  const values = bars.filter((b) => b.value !== null);
  return facetedLayers(title, values, 'group', { width: 300, height: 200 }, [
    { mark: { type: 'bar' }, encoding: { x: { field: 'index', type: 'nominal', sort: null, title: null }, y: { field: 'value', type: 'quantitative', title: 'Spearman ρ with steps', scale: { domain: [-1, 1] } } } },
    { mark: { type: 'rule' }, encoding: { x: { field: 'index', type: 'nominal', sort: null }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
  ]);
}

/** One held-out prediction: the index, the predicted epochs with interval, and what was measured. */
export interface PredictionPoint {
  cell: string;
  index: number;
  predicted: number;
  lo: number;
  /** Upper end; ∞ is drawn at the plot's top (`hiShown`). */
  hi: number;
  measured: number;
  censored: boolean;
}

/**
 * Predicted epochs (tick) with their 80% interval (rule) against the index, and the measured epochs
 * (points; censored runs as squares), faceted by cell. Infinite upper ends are drawn at the top of the axis.
 */
export function predictionIntervalPlot(points: PredictionPoint[], title: string): Record<string, unknown> {
  const finite = points.flatMap((p) => [p.measured, p.predicted, p.lo, p.hi]).filter(Number.isFinite);
  const top = (finite.length ? Math.max(...finite) : 1) * 1.1;
  const values = points.map((p) => ({ ...p, hiShown: Number.isFinite(p.hi) ? p.hi : top, hi: Number.isFinite(p.hi) ? p.hi : null, status: p.censored ? 'measured (censored: lower bound)' : 'measured' }));
  const x = { field: 'index', type: 'quantitative', title: 'PreIndex (held-out run)' };
  return facetedLayers(title, values, 'cell', { width: 320, height: 220 }, [
    { mark: { type: 'rule', color: '#888' }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'epochs to target' }, y2: { field: 'hiShown' } } },
    { mark: { type: 'tick', color: '#888', thickness: 2, orient: 'horizontal' }, encoding: { x, y: { field: 'predicted', type: 'quantitative' } } },
    { mark: { type: 'point', filled: true, size: 60 }, encoding: { x, y: { field: 'measured', type: 'quantitative' }, shape: { field: 'status', type: 'nominal', title: null } } },
  ]);
}
