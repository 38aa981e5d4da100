import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { checkLogitsAndLabels, TrellisError } from '@trellis-ml/core';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

/** Expects `fn` to throw a TrellisError with these fields (code, problem, fix, details). */
const refuses = (fn: () => unknown, fields: Partial<TrellisError>) => expect(fn).toThrow(expect.objectContaining({ name: 'TrellisError', ...fields }));

describe('checkLogitsAndLabels', () => {
  const context = 'myLoss';

  it('passes [batch, classes] logits with int32 class ids, including the edges 0 and classes − 1', () => {
    const z = tf.zeros([3, 4]);
    const y = tf.tensor1d([0, 3, 2], 'int32');
    expect(() => checkLogitsAndLabels(z, y, { context })).not.toThrow();
    tf.tidy(() => {
      expect(() => checkLogitsAndLabels(tf.zeros([1, 1]), tf.tensor1d([0], 'int32'), { context })).not.toThrow();
    });
    tf.dispose([z, y]);
  });

  it('refuses each problem with its code and names the caller, in a fixed order', () => void tf.tidy(() => {
    const z = tf.zeros([2, 3]);
    const check = (logits: tf.Tensor, labels: tf.Tensor, checkLabelValues?: boolean) => () =>
      checkLogitsAndLabels(logits, labels, checkLabelValues === undefined ? { context } : { context, checkLabelValues });
    // logits: not 2-D, or of no classes
    refuses(check(tf.zeros([2]), tf.tensor1d([0, 1], 'int32')), { code: 'BAD_SHAPE', problem: 'myLoss: the logits are of shape [2], not [batch, classes] with at least one class' });
    refuses(check(tf.zeros([2, 0]), tf.tensor1d([0, 1], 'int32')), { code: 'BAD_SHAPE' });
    refuses(check(3 as never, tf.tensor1d([0], 'int32')), { code: 'BAD_SHAPE', problem: 'myLoss: the logits are a number, not [batch, classes] with at least one class' });
    // labels: another batch size, 2-D, or not a tensor
    refuses(check(z, tf.tensor1d([0, 1, 2], 'int32')), { code: 'SHAPE_MISMATCH', problem: 'myLoss: labels of shape [3] for 2 rows of logits [2, 3]' });
    refuses(check(z, tf.tensor2d([[0], [1]], [2, 1], 'int32')), { code: 'SHAPE_MISMATCH' });
    refuses(check(z, [0, 1] as never), { code: 'SHAPE_MISMATCH', problem: 'myLoss: no label tensor for 2 rows of logits [2, 3]' });
    // no rows (checked after the shapes, so [0, 3] logits with 0 labels is EMPTY_BATCH, not SHAPE_MISMATCH)
    refuses(check(tf.zeros([0, 3]), tf.tensor1d([], 'int32')),
      { code: 'EMPTY_BATCH', problem: 'myLoss: the logits [0, 3] have no rows (the mean over an empty batch would be NaN or 0)' });
    // float labels, even whole-numbered ones, before any value is read
    refuses(check(z, tf.tensor1d([0, 1])), { code: 'BAD_LABELS', problem: 'myLoss: the labels are float32, not int32 class ids' });
    // values: 3 is one past the last class of 3; −1 below the first
    refuses(check(z, tf.tensor1d([0, 3], 'int32')), {
      code: 'LABEL_OUT_OF_RANGE', problem: 'myLoss: label 3 of example 1 is outside [0, 3)', details: { index: 1, label: 3 },
      fix: 'pass class ids 0..2: the logits have 3 classes (remap the labels, or build the model with the right numClasses)',
    });
    refuses(check(z, tf.tensor1d([-1, 0], 'int32')), { code: 'LABEL_OUT_OF_RANGE', details: { index: 0, label: -1 } });
    // checkLabelValues: false skips only the value check: label 5 of 3 classes passes, every other check stays
    expect(check(z, tf.tensor1d([0, 5], 'int32'), false)).not.toThrow();
    refuses(check(z, tf.tensor1d([0, 5], 'int32'), true), { code: 'LABEL_OUT_OF_RANGE' });
    refuses(check(z, tf.tensor1d([0, 1, 2], 'int32'), false), { code: 'SHAPE_MISMATCH' });
    refuses(check(tf.zeros([0, 3]), tf.tensor1d([], 'int32'), false), { code: 'EMPTY_BATCH' });
    refuses(check(z, tf.tensor1d([0, 1]), false), { code: 'BAD_LABELS' });
    // a missing context
    refuses(() => checkLogitsAndLabels(z, tf.tensor1d([0, 1], 'int32'), undefined as never), { code: 'BAD_OPTION' });
  }));

  it('reads the labels on the host once per call by default, and not at all with checkLabelValues: false', () => {
    const z = tf.zeros([2, 3]);
    const y = tf.tensor1d([0, 2], 'int32');
    const dataSync = vi.spyOn(tf.Tensor.prototype, 'dataSync');
    const readsOfY = () => dataSync.mock.contexts.filter((t) => (t as tf.Tensor).dataId === y.dataId).length;
    try {
      checkLogitsAndLabels(z, y, { context });
      expect(readsOfY()).toBe(1);
      checkLogitsAndLabels(z, y, { context, checkLabelValues: true });
      expect(readsOfY()).toBe(2);
      checkLogitsAndLabels(z, y, { context, checkLabelValues: false });
      expect(readsOfY()).toBe(2);
    } finally {
      dataSync.mockRestore();
    }
    tf.dispose([z, y]);
  });

  it('allocates no tensor', () => {
    const z = tf.zeros([2, 3]);
    const y = tf.tensor1d([0, 2], 'int32');
    const before = tf.memory().numTensors;
    checkLogitsAndLabels(z, y, { context });
    checkLogitsAndLabels(z, y, { context, checkLabelValues: false });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([z, y]);
  });
});
