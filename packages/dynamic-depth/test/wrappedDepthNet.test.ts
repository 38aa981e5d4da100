/**
 * A depth plugin behind another plugin's model wrapper (privacy's srcm, a test-time adaptation view) found "not a
 * DepthNet" and said to build one, though the user had: the message now says what the model is and that a wrapper
 * listed first can hide the DepthNet.
 */
import { Trainer, TrellisError, type ModelAdapter, type TrainerPlugin } from '@trellis-ml/core';
import { trellisErrorOf } from '@trellis-ml/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { coopDepth, residualMLP } from '../src/index.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

/** A view that forwards every call to the model it wraps (as a plugin's `wrapModel` returns). */
class ForwardingView {
  constructor(readonly inner: ModelAdapter) {
    return new Proxy(this, { get: (target, key) => (key in target ? Reflect.get(target, key) : Reflect.get(inner, key, inner)) });
  }
}

describe('a depth plugin behind a wrapping plugin', () => {
  it('NOT_DEPTH_SWITCHABLE names what the model is and the wrapper that may hide the DepthNet', async () => {
    const net = residualMLP({ inputShape: [8], width: 8, blocks: 4, numClasses: 3, configs: [1, 2], seed: 1 });
    const wrapper: TrainerPlugin = { name: 'wrapper', apiVersion: 1, order: 'pre', wrapModel: (m) => new ForwardingView(m) as unknown as ModelAdapter };
    const t = new Trainer({ model: net, seed: 1, plugins: [wrapper, coopDepth()] });
    const err = await trellisErrorOf(() => t.setup());
    expect(err).toBeInstanceOf(TrellisError);
    expect(err.code).toBe('NOT_DEPTH_SWITCHABLE');
    expect(err.message).toMatch(/is not a DepthNet \(it is an instance of ForwardingView\)/);
    expect(err.fix).toMatch(/a plugin whose wrapModel ran before this one's setup wrapped it in its own view .*the depth plugins need the DepthNet itself, so train without the wrapping plugin$/);
    t.dispose();
    net.dispose();
  });
});
