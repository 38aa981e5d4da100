/**
 * The sequence loss of the package's language model. A training example is one whole token
 * sequence `[T]`; the model outputs next-token logits `[b, T, vocab]`, and the loss is the mean
 * cross-entropy of predicting token t+1 at every position t from the first response-start token
 * (e.g. `ASSIST`) on, skipping padding. The Trainer runs it with `baseLoss: 'none'` through
 * {@link sequenceLossPlugin} (one forward pass covers every position, unlike framing each step as
 * next-token classification).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, type LabelCheckOptions } from '@trellis-ml/core';

/** Options of {@link sequenceNll}. */
export interface SequenceLossOptions extends LabelCheckOptions {
  /** Tokens from which on (inclusive) positions are trained, e.g. `[ASSIST]` (response-only SFT). */
  responseStart: readonly number[];
  /** The padding token (targets equal to it are skipped). */
  pad: number;
  /**
   * Read the token ids on the host and refuse one outside the vocabulary (`LABEL_OUT_OF_RANGE`): its
   * one-hot row would be all zero. Default `true`. {@link sequenceLossPlugin} passes `false` and checks the
   * training set's token ids once when `fit` starts (on its host copy), not in every step.
   */
  checkLabelValues?: boolean;
}

/** Checks token ids `[b, T]` (and, when given, logits `[b, T, V]` of the same `b` and `T`). */
function checkTokens(tokens: tf.Tensor, logits?: tf.Tensor): void {
  check(tokens?.rank === 2, 'BAD_SHAPE', `token ids have shape [${tokens?.shape?.join(', ')}]; the sequence loss needs [batch, length]`, 'pass the batch\'s token sequences [b, T]');
  if (!logits) return;
  check(logits?.rank === 3 && logits.shape[0] === tokens.shape[0] && logits.shape[1] === tokens.shape[1], 'BAD_SHAPE',
    `logits of shape [${logits?.shape?.join(', ')}] do not fit token ids of shape [${tokens.shape.join(', ')}]`,
    'pass next-token logits [b, T, vocab] of a language model for the same token sequences [b, T]');
}

/** `[b, T-1]` float mask: 1 where position t predicts a non-pad target and t is at or after a response start. */
export function responseMask(tokens: tf.Tensor, options: SequenceLossOptions): tf.Tensor2D {
  checkTokens(tokens);
  return tf.tidy(() => {
    const T = tokens.shape[1]!;
    let start: tf.Tensor = tf.zerosLike(tokens);
    for (const s of options.responseStart) start = tf.add(start, tf.cast(tf.equal(tokens, s), 'float32'));
    const started = tf.slice(tf.cast(tf.greater(tf.cumsum(start, 1), 0), 'float32'), [0, 0], [-1, T - 1]);
    const targets = tf.slice(tokens, [0, 1], [-1, T - 1]);
    const notPad = tf.cast(tf.notEqual(targets, options.pad), 'float32');
    return tf.mul(started, notPad) as tf.Tensor2D;
  });
}

/**
 * Throws `LABEL_OUT_OF_RANGE` unless every id of the row-major token sequences `ids` (rows of `length`) is
 * an integer in `[0, vocab)`, naming the first bad one by position and row (`item`, default `sequence`). @internal
 */
export function checkTokenIds(ids: ArrayLike<number>, length: number, vocab: number, item = 'sequence'): void {
  for (let i = 0; i < ids.length; i++) {
    const t = ids[i]!;
    if (!(Number.isInteger(t) && t >= 0 && t < vocab)) {
      check(false, 'LABEL_OUT_OF_RANGE', `token id ${t} at position ${i % length} of ${item} ${Math.floor(i / length)} is outside the model's vocabulary [0, ${vocab})`,
        'encode the sequences with the language the model was built for (encodeSequences(lang, …)) and build the model with vocabSize = lang.vocabSize');
    }
  }
}

/**
 * Per-position next-token NLL `[b, T-1]` of `logits` `[b, T, V]` on `tokens` `[b, T]`.
 * @throws TrellisError `BAD_SHAPE` when the shapes disagree, `LABEL_OUT_OF_RANGE` for a token id that is
 * not an integer in `[0, V)` (its one-hot row would be all zero and the position would add 0 to the loss;
 * the ids are read on the host for this unless `options.checkLabelValues` is `false`).
 */
export function positionNll(logits: tf.Tensor, tokens: tf.Tensor, options: LabelCheckOptions = {}): tf.Tensor2D {
  checkTokens(tokens, logits);
  if (options.checkLabelValues !== false) checkTokenIds(tokens.dataSync(), tokens.shape[1]!, logits.shape[2]!);
  return tf.tidy(() => {
    const [b, T, V] = logits.shape as [number, number, number];
    const lsm = tf.logSoftmax(tf.slice(logits, [0, 0, 0], [b, T - 1, V]));
    const targets = tf.cast(tf.slice(tokens, [0, 1], [b, T - 1]), 'int32');
    const oh = tf.reshape(tf.oneHot(tf.reshape(targets, [-1]) as tf.Tensor1D, V), [b, T - 1, V]);
    return tf.neg(tf.sum(tf.mul(oh, lsm), -1)) as tf.Tensor2D;
  });
}

/** Mean next-token cross-entropy over response positions (a scalar; differentiable in `logits`). */
export function sequenceNll(logits: tf.Tensor, tokens: tf.Tensor, options: SequenceLossOptions): tf.Scalar {
  return tf.tidy(() => {
    const mask = responseMask(tokens, options);
    const nll = positionNll(logits, tokens, options);
    return tf.div(tf.sum(tf.mul(nll, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}
