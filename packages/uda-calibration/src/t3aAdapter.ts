/**
 * T3A behind the adaptation runner's interface: reads the input of the last Dense layer (a feature
 * tap) and the source head's logits in one forward pass of a copy of the source model, and keeps
 * the support memory of {@link T3AClassifier} on the host. No gradient, no weight changes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, checkChoice, type LayersModelAdapter, type ModelAdapter } from '@trellis-ml/core';
import { assertFiniteLogits } from './calibration.js';
import type { AdaptationMethod } from './adaptation.js';
import { AdaptedModel, batchNormVariables, checkTargetShape, cloneLayersModel, headFeatureLayer } from './models.js';
import { T3AClassifier } from './t3a.js';

/** Settings of T3A (defaults in brackets). */
export interface T3ASettings {
  /** Supports kept per class, lowest entropy first [100, spec §7.5]; `-1` keeps all (the sweep is {1, 5, 20, 50, 100, −1}). */
  filterK?: number;
  /**
   * When a batch enters the memory. `'predict-then-add'` (default, ours): each batch is predicted
   * before its features join the supports, like the "prediction before the update" of the other
   * methods' online protocol. `'add-then-predict'`: the released T3A code's order (a batch is added
   * and filtered first, so it helps classify itself).
   */
  onlineOrder?: 'predict-then-add' | 'add-then-predict';
  /**
   * BatchNorm of the frozen feature extractor. `'source'` [default, the paper's code: inference mode,
   * source statistics]; `'target-batch'` (ours): BatchNorm on each target batch's statistics.
   */
  featureNormalization?: 'source' | 'target-batch';
  /** Name of the last Dense layer [`logits`]; its input is the feature vector. */
  head?: string;
}

/** Name of the layer whose output feeds `head`, and the head's kernel and bias. */
function headOf(model: LayersModelAdapter, head: string): { featureLayer: string; kernel: tf.Variable; bias: tf.Variable | undefined } {
  const featureLayer = headFeatureLayer(model, head, 'T3A');
  const vars = model.allVariables();
  const kernel = vars[`${head}/kernel`];
  check(kernel && kernel.shape.length === 2 && kernel.shape[1] === model.numClasses, 'NO_HEAD', `"${head}" has no kernel of shape [features, ${model.numClasses}]`,
    'pass `head` with the name of the last Dense layer (one output per class)');
  return { featureLayer, kernel, bias: vars[`${head}/bias`] };
}

/**
 * Builds T3A on a copy of `source` (a LayersModelAdapter, never changed): supports start from the
 * last Dense layer's weight columns; each `step` returns the batch's adjusted-classifier logits and
 * adds its features to the supports (order per `onlineOrder`); `predict` uses the current supports.
 * Throws `BAD_NORMALIZATION` / `BAD_OPTION` for an unknown `featureNormalization` / `onlineOrder`, and
 * `NON_FINITE_LOGITS` for a batch whose features or head logits are not finite (before it joins the supports).
 */
export async function createT3A(settings: T3ASettings, source: ModelAdapter, base: { id: string; inputShape: readonly number[]; numClasses: number }): Promise<AdaptationMethod> {
  // a misspelt choice would silently run the default
  if (settings.featureNormalization !== undefined) checkChoice(settings.featureNormalization, ['source', 'target-batch'] as const, "T3A's featureNormalization", { code: 'BAD_NORMALIZATION' });
  if (settings.onlineOrder !== undefined) checkChoice(settings.onlineOrder, ['predict-then-add', 'add-then-predict'] as const, "T3A's onlineOrder");
  const copy = await cloneLayersModel(source);
  try {
    const { featureLayer, kernel, bias } = headOf(copy, settings.head ?? 'logits');
    const classifier = new T3AClassifier({
      kernel: kernel.dataSync() as Float32Array, bias: bias ? (bias.dataSync() as Float32Array) : null,
      featureDim: kernel.shape[0]!, numClasses: copy.numClasses,
    }, settings.filterK !== undefined ? { filterK: settings.filterK } : {});
    const batchStats = settings.featureNormalization === 'target-batch';
    if (batchStats) batchNormVariables(copy, "T3A with featureNormalization 'target-batch'");
    const extractor: ModelAdapter = batchStats ? new AdaptedModel(copy, { normalization: 'batch' }) : copy;
    const addFirst = settings.onlineOrder === 'add-then-predict';
    const forward = (x: tf.Tensor): { features: Float32Array; headLogits: Float32Array; n: number } => {
      checkTargetShape(x.shape, source.inputShape);
      const [f, z] = tf.tidy(() => {
        const out = extractor.apply(x, { taps: [featureLayer] });
        return [out.features[featureLayer]!, out.logits];
      });
      const n = x.shape[0]!;
      try {
        check(f!.size === n * classifier.featureDim, 'NO_FEATURE_LAYER', `the input of the head has shape [${f!.shape.join(', ')}], not [${n}, ${classifier.featureDim}]`,
          'T3A needs a Dense head on flat features (flatten before the last Dense layer)');
        const features = f!.dataSync() as Float32Array;
        const headLogits = z!.dataSync() as Float32Array;
        // checked before the support memory sees them: one NaN support would turn its class's prototype NaN for good
        assertFiniteLogits(features, "T3A's features (the input of the head)");
        assertFiniteLogits(headLogits, "T3A's source-head logits");
        return { features, headLogits, n };
      } finally {
        tf.dispose([f!, z!]);
      }
    };
    return {
      ...base,
      async step(x) {
        const { features, headLogits, n } = forward(x);
        if (addFirst) classifier.add(features, headLogits, n);
        const logits = classifier.predict(features, n);
        if (!addFirst) classifier.add(features, headLogits, n);
        return logits;
      },
      predict(x) {
        const { features, n } = forward(x);
        return classifier.predict(features, n);
      },
      lastLogs: () => ({ 't3a/supports': classifier.supportCounts().reduce((s, c) => s + c, 0) }),
      dispose: () => copy.dispose(),
    };
  } catch (e) {
    copy.dispose();
    throw e;
  }
}
