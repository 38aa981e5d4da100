/**
 * EATA's anti-forgetting regulariser as tensor functions: a diagonal Fisher information of chosen
 * weights from clean source inputs (their labels never read), and the penalty
 * `α·Σ_j F_j (θ_j − θ_j^src)²` that keeps those weights near their source values.
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, disposeBatch, type Dataset, type ModelAdapter } from '@trellis-ml/core';

/** A diagonal Fisher and the source values of the weights it was computed for, keyed by weight name. */
export interface FisherAnchor {
  /** Mean over batches of the squared gradient of each weight. */
  fisher: Record<string, tf.Tensor>;
  /** Copy of each weight when the Fisher was computed (`θ^src`). */
  anchor: Record<string, tf.Tensor>;
}

/** Options of {@link diagonalFisher}. */
export interface DiagonalFisherOptions {
  /** Source inputs used, at most (default 500; capped at the set's size). */
  samples?: number;
  /** Batch size of the passes (default 64). */
  batchSize?: number;
}

/**
 * Diagonal Fisher of `params` under `model`: for each batch of the first `samples` inputs of
 * `data` (labels stripped), the gradient of the cross-entropy against the model's own argmax
 * (training-mode forward), squared and averaged over batches. Also snapshots `params` as the
 * anchor. The caller owns (and disposes) every returned tensor.
 */
export function diagonalFisher(model: ModelAdapter, params: Record<string, tf.Variable>, data: Dataset, options: DiagonalFisherOptions = {}): FisherAnchor {
  check(data.size > 0, 'EMPTY_DATASET', "EATA's Fisher source set is empty (the penalty would be 0/0 = NaN from the first step)",
    'pass fisher: { data } with clean source inputs, e.g. the source validation split');
  const samples = Math.min(options.samples ?? 500, data.size);
  const source = data.withoutLabels().take(samples);
  const vars = Object.values(params);
  const names = Object.keys(params);
  const sums: tf.Tensor[] = names.map((n) => tf.zerosLike(params[n]!));
  let batches = 0;
  for (const batch of source.batches(options.batchSize ?? 64)) {
    const { value, grads } = tf.variableGrads(() => {
      const logits = model.apply(batch.x, { training: true }).logits;
      const own = tf.oneHot(tf.argMax(logits, -1), model.numClasses);
      return tf.neg(tf.mean(tf.sum(tf.mul(tf.cast(own, 'float32'), tf.logSoftmax(logits)), -1))) as tf.Scalar;
    }, vars);
    names.forEach((n, i) => {
      const g = grads[params[n]!.name]!;
      const next = tf.tidy(() => tf.add(sums[i]!, tf.square(g)));
      sums[i]!.dispose();
      sums[i] = next;
    });
    tf.dispose([value, ...Object.values(grads)]);
    disposeBatch(batch); // x, and the group ids a source set may carry (withoutLabels keeps them)
    batches++;
  }
  const fisher: Record<string, tf.Tensor> = {};
  const anchor: Record<string, tf.Tensor> = {};
  names.forEach((n, i) => {
    fisher[n] = tf.tidy(() => tf.div(sums[i]!, batches));
    sums[i]!.dispose();
    anchor[n] = tf.clone(params[n]!);
  });
  return { fisher, anchor };
}

/** EATA's penalty `alpha · Σ_j F_j (θ_j − θ_j^src)²` over the weights in `params` (keys of `fisherAnchor`). */
export function fisherPenalty(params: Record<string, tf.Variable>, fisherAnchor: FisherAnchor, alpha: number): tf.Scalar {
  const { fisher: f, anchor: a } = fisherAnchor;
  return tf.tidy(() => tf.mul(alpha, tf.addN(Object.keys(params).map((n) => tf.sum(tf.mul(f[n]!, tf.square(tf.sub(params[n]!, a[n]!))))))) as tf.Scalar);
}
