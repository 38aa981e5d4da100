import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TrainerPlugin } from '@trellis-ml/core';
import { checkPluginConformance, type ConformanceResult } from '@trellis-ml/testkit/check';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** The failed checks' messages by check name. */
const failed = (r: ConformanceResult[]) => Object.fromEntries(r.filter((x) => !x.ok).map((x) => [x.check, x.message]));

// Plugins broken the ways a plugin author breaks them (see the plugin author's write-up): each failing check must
// say what to fix, and point at the part of the plugin that is wrong.
describe('failure messages say what to fix', () => {
  it('a tensor leaked in every onBatchEnd: no-tensor-leak names the hook and the fix, and the checks it cascades into point back to it', async () => {
    // a scalar made for logging, never disposed (outside any tf.tidy: the Trainer runs onBatchEnd after the step)
    const r = await checkPluginConformance(() => ({ name: 'leaky-end', apiVersion: 1, onBatchEnd: () => void tf.scalar(1) }));
    const f = failed(r);
    expect(Object.keys(f).sort()).toEqual(['dispose-frees', 'no-epoch-leak', 'no-tensor-leak']);
    const leak = f['no-tensor-leak']!;
    expect(leak).toMatch(/^tensor counts over 6 steps: \d+(, \d+){5}/);
    expect(leak).toMatch(/onBatchEnd of "leaky-end" \(\+1 a step\)/);
    expect(leak).toMatch(/measured: onBatchStart, afterApply, onBatchEnd/);
    expect(leak).toMatch(/tf\.tidy/);
    expect(leak).toMatch(/dispose/);
    expect(leak).toMatch(/dispose the one it replaces/);
    // the same leak, seen once the trainer is disposed
    expect(f['dispose-frees']).toMatch(/tensors before \d+, after dispose \d+/);
    expect(f['dispose-frees']).toMatch(/in its dispose\(\)/);
    expect(f['dispose-frees']).toMatch(/no-tensor-leak failed too: the tensors leaked in every step likely explain these/);
    // and at the epochs' starts: not the epoch hooks' doing
    expect(f['no-epoch-leak']).toMatch(/tensor counts at the start of epochs 1–3: \d+, \d+, \d+/);
    expect(f['no-epoch-leak']).toMatch(/see no-tensor-leak/);
    expect(f['no-epoch-leak']).not.toMatch(/free what onEpochStart\/onEpochEnd\/onEvalEnd create/);
  });

  it('a leak in an onBatchStart that replaces the batch is put on onBatchStart; the replacement batch itself is not a leak', async () => {
    // augmentation done right: the new x replaces the batch's (the Trainer frees the old one)
    const augment = (): TrainerPlugin => ({ name: 'augment', apiVersion: 1, onBatchStart: (ctx) => ({ ...ctx.batch!, x: tf.tidy(() => tf.mul(ctx.batch!.x, 0.9)) }) });
    expect(failed(await checkPluginConformance(augment))).toEqual({});
    // the same with a tensor made outside a tidy and dropped
    const leaky = (): TrainerPlugin => ({ name: 'augment-leaky', apiVersion: 1, onBatchStart: (ctx) => { tf.tensor1d([0, 1], 'int32'); return { ...ctx.batch!, x: tf.tidy(() => tf.mul(ctx.batch!.x, 0.9)) }; } });
    const leak = failed(await checkPluginConformance(leaky))['no-tensor-leak'];
    expect(leak).toMatch(/onBatchStart of "augment-leaky" \(\+1 a step\)/);
    expect(leak).not.toMatch(/onBatchEnd of/);
  });

  it('a tensor kept in the plugin replaced every step passes when the old one is disposed, and the leak is named when it is not', async () => {
    const replacing = (disposeOld: boolean) => (): TrainerPlugin => {
      let last: tf.Tensor | null = null;
      return {
        name: disposeOld ? 'state-tensor' : 'state-tensor-leaky', apiVersion: 1,
        afterApply: () => {
          if (disposeOld) last?.dispose();
          last = tf.scalar(1);
        },
        dispose: () => void last?.dispose(),
      };
    };
    expect(failed(await checkPluginConformance(replacing(true)))).toEqual({});
    const f = failed(await checkPluginConformance(replacing(false)));
    expect(f['no-tensor-leak']).toMatch(/afterApply of "state-tensor-leaky" \(\+1 a step\)/);
  });

  it('a leak the measured hooks do not explain (a tf.keep in a tape hook) says so instead of naming a hook', async () => {
    const r = await checkPluginConformance(() => ({ name: 'keeps', apiVersion: 1, lossTerms: () => { tf.keep(tf.scalar(0)); return {}; } }));
    const leak = failed(r)['no-tensor-leak']!;
    expect(leak).toMatch(/measured: onBatchStart, afterApply, onBatchEnd/);
    expect(leak).toMatch(/none of the measured hooks grew the count/);
    expect(leak).toMatch(/transformTargets, lossTerms, transformGradients/);
    expect(leak).not.toMatch(/ of "keeps" \(\+/);
  });

  it('a frozen plugin (its hooks cannot be wrapped) still runs the suite; a leak then names the hooks not measured', async () => {
    expect(failed(await checkPluginConformance(() => Object.freeze({ name: 'frozen', apiVersion: 1, onBatchEnd: () => {} })))).toEqual({});
    const leak = failed(await checkPluginConformance(() => Object.freeze({ name: 'frozen-leaky', apiVersion: 1, onBatchEnd: () => void tf.scalar(1) })))['no-tensor-leak'];
    expect(leak).toMatch(/not measured, as the plugin could not be wrapped \(frozen\): onBatchEnd of "frozen-leaky"/);
    expect(leak).toMatch(/left by a hook not measured or a tape hook/);
  });

  it('a plugin that holds tensors after dispose fails dispose-frees with the fix (and no step leak to blame)', async () => {
    const holds = (): TrainerPlugin => {
      let table: tf.Tensor | null = null;
      return { name: 'holds', apiVersion: 1, onFitStart: () => void (table ??= tf.zeros([4])) };
    };
    const f = failed(await checkPluginConformance(holds));
    expect(Object.keys(f)).toEqual(['dispose-frees']);
    expect(f['dispose-frees']).toMatch(/tensors before \d+, after dispose \d+/);
    expect(f['dispose-frees']).toMatch(/dispose every tensor and variable the plugin owns in its dispose\(\)/);
    expect(f['dispose-frees']).not.toMatch(/no-tensor-leak/);
  });

  it('an unseeded plugin fails deterministic with the first differing step, both values and how to seed it', async () => {
    const r = await checkPluginConformance(() => ({
      name: 'unseeded', apiVersion: 1,
      onBatchStart: (ctx) => {
        const l = Math.random();
        return { ...ctx.batch!, x: tf.tidy(() => tf.mul(ctx.batch!.x, l)) };
      },
    }));
    const det = failed(r).deterministic!;
    const m = /^the losses first differ at step (\d+) of 12: (\S+) in the first run, (\S+) in the second/.exec(det);
    expect(m, det).not.toBeNull();
    expect(Number(m![2])).not.toBe(Number(m![3]));
    expect(det).toMatch(/ctx\.rng/);
    expect(det).toMatch(/Rng\.derive\(ctx\.seed/);
    expect(det).toMatch(/never Math\.random/);
    expect(det).toMatch(/outside the plugin/);
    // not both lists of 12 losses
    expect(det).not.toMatch(/ vs /);
  });

  it('runs whose losses match but whose weights differ fail deterministic naming the first differing weight (not "losses differ")', async () => {
    // nudges a weight by an unseeded amount after the last step only, so no later loss shows it
    const r = await checkPluginConformance(() => ({
      name: 'last-step-noise', apiVersion: 1,
      afterApply: (ctx) => {
        if (ctx.step !== 11) return;
        const [v] = Object.values(ctx.model.trainableVariables());
        tf.tidy(() => void v!.assign(tf.add(v!, Math.random())));
      },
    }));
    const f = failed(r);
    expect(Object.keys(f)).toEqual(['deterministic']);
    expect(f.deterministic).toMatch(/^the losses are identical but the weights differ, first at \S+\[0\]: \S+ in the first run, \S+ in the second/);
    expect(f.deterministic).toMatch(/never Math\.random/);
  });

  it('a factory that returns one shared plugin fails contract with "build a new plugin each call", and deterministic points at it', async () => {
    let n = 0;
    const shared: TrainerPlugin = { name: 'shared', apiVersion: 1, lossTerms: () => ({ t: tf.scalar(0.01 * n++) }), getState: () => ({ n }), setState: (s) => void (n = (s as { n: number }).n) };
    const f = failed(await checkPluginConformance(() => shared));
    expect(f.contract).toMatch(/the factory returned the same plugin object on two calls/);
    expect(f.contract).toMatch(/must build a new plugin each call/);
    expect(f.deterministic).toMatch(/the factory returns one shared plugin \(see contract\)/);
    expect(f['resume-matches']).toMatch(/^the factory returns one shared plugin \(see contract\)/);
    // a stateless shared plugin trains the same both times, but still fails contract (the Trainer disposes it after each run)
    const stateless: TrainerPlugin = { name: 'stateless-shared', apiVersion: 1 };
    expect(Object.keys(failed(await checkPluginConformance(() => stateless)))).toEqual(['contract']);
  });

  it('the extra plugin the freshness check builds is disposed; a factory that throws on its second call fails contract', async () => {
    let built = 0;
    let disposed = 0;
    const counted = (): TrainerPlugin => {
      built++;
      return { name: 'counted', apiVersion: 1, dispose: () => void disposed++ };
    };
    expect(failed(await checkPluginConformance(counted))).toEqual({});
    expect(disposed).toBe(built);
    let calls = 0;
    const once = (): TrainerPlugin => {
      if (calls++ > 0) throw new Error('only once');
      return { name: 'once', apiVersion: 1 };
    };
    expect(failed(await checkPluginConformance(once)).contract).toMatch(/the plugin factory threw on its second call: only once/);
  });
  it('a plugin that reads the batch back to the host every step fails no-batch-reads naming what it read, unless it says why', async () => {
    // a per-step label read for a statistic that could stay on the device
    const reader = (): TrainerPlugin => ({ name: 'label-reader', apiVersion: 1, onBatchStart: (ctx) => void ctx.batch!.y!.dataSync() });
    const f = failed(await checkPluginConformance(reader));
    expect(Object.keys(f)).toEqual(['no-batch-reads']);
    expect(f['no-batch-reads']).toBe('6 of 6 steps read their batch back to the host (dataSync/data calls: labels 6) — each read stalls the step until the device catches up. '
      + 'Fix: keep the work on tensors (e.g. tf.oneHot(batch.y, k) or tf.gather instead of reading the labels), read what the plugin needs once, in setup or onFitStart, from ctx.train, '
      + 'or, when a host read every step is what the plugin is for, say why with the allowBatchReads option');
    // inputs and group ids are counted apart (arraySync reads through dataSync)
    const both = (): TrainerPlugin => ({ name: 'both-reader', apiVersion: 1, onBatchEnd: (ctx) => void (ctx.batch!.x.arraySync(), ctx.batch!.groups!.dataSync()) });
    expect(failed(await checkPluginConformance(both))['no-batch-reads']).toMatch(/^6 of 6 steps .*\(dataSync\/data calls: inputs 6, group ids 6\)/);
    // an awaited read counts too (it used to pass: only dataSync was watched)
    const asyncReader = (): TrainerPlugin => ({ name: 'async-reader', apiVersion: 1, onBatchStart: async (ctx) => void (await ctx.batch!.y!.data()) });
    expect(failed(await checkPluginConformance(asyncReader))['no-batch-reads']).toMatch(/^6 of 6 steps .*\(dataSync\/data calls: labels 6\)/);
    // a reason passes the check and is quoted
    const allowed = (await checkPluginConformance(reader, { allowBatchReads: 'keeps per-class counts on the host' })).find((r) => r.check === 'no-batch-reads')!;
    expect(allowed).toEqual({ check: 'no-batch-reads', ok: true, message: '6 of 6 steps read their batch back to the host (dataSync/data calls: labels 6): allowed, "keeps per-class counts on the host"' });
    // a plugin that reads nothing passes with the count of steps watched
    const quiet = (await checkPluginConformance(() => ({ name: 'quiet', apiVersion: 1 }))).find((r) => r.check === 'no-batch-reads')!;
    expect(quiet).toEqual({ check: 'no-batch-reads', ok: true, message: 'no host read of the batch in 6 steps' });
    await expect(checkPluginConformance(reader, { allowBatchReads: ' ' })).rejects.toThrow(/conformance option `allowBatchReads` is " ", not a reason/);
  });
  it('a plugin whose targets go NaN fails trains naming its transformTargets, and says the listed recorder is the suite\'s own', async () => {
    const nan = (): TrainerPlugin => ({ name: 'nan-targets', apiVersion: 1, transformTargets: (t) => tf.mul(t, NaN) });
    const f = failed(await checkPluginConformance(nan));
    expect(f.trains).toMatch(/^training with the plugin threw: the loss became NaN at epoch 0, step 0 \(batch 0\); non-finite: the base loss, because plugin "nan-targets"'s transformTargets returned non-finite targets; active plugins: nan-targets, conformance-recorder — fix or disable plugin "nan-targets"/);
    expect(f.trains).toMatch(/\("conformance-recorder" is the suite's own plugin, which only records each step's loss\)$/);
  });
});
