import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { dataParallelPlugin, earlyStopping, gradientClipping, learningRateSchedule, runDataParallel, TrellisError, weightDecay, type TechniqueExperiment, type TrainerPlugin } from '@trellis-ml/core';
import { checkPluginConformance, describePluginConformance, interruptAndResume, misspeltPluginKeys, type ConformanceOptions } from '@trellis-ml/testkit';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// Core's own example plugins pass the suite.
describePluginConformance('weight-decay', () => weightDecay({ rate: 1e-3 }));
describePluginConformance('gradient-clipping', () => gradientClipping({ maxNorm: 1 }));
describePluginConformance('lr-schedule (cosine with warm-up)', () => learningRateSchedule({ kind: 'cosine', lr: 0.01, warmupSteps: 1 }));
describePluginConformance('lr-schedule (step)', () => learningRateSchedule({ kind: 'step', lr: 0.01, milestones: [1] }));
describePluginConformance('early-stopping (training loss, best weights kept)', () => earlyStopping({ monitor: 'loss', patience: 1 }));
// Outside a data-parallel run the data-parallel plugin is a no-op; inside one, see below.
describePluginConformance('data-parallel (single process)', () => dataParallelPlugin());

describe('plugin conformance: data-parallel, inside a 2-worker run', () => {
  it('passes every check on both ranks', { timeout: 60_000 }, async () => {
    const script = fileURLToPath(new URL('./fixtures/data-parallel-conformance.mjs', import.meta.url));
    // The workers run the built packages: drop the test runner's `--conditions source` (TypeScript sources).
    const execArgv = process.execArgv.filter((a, i, all) => a !== '--conditions' && all[i - 1] !== '--conditions');
    const ranks = await runDataParallel<{ rank: number; results: Array<{ check: string; ok: boolean; message: string }> }>({ script, workers: 2, execArgv });
    for (const r of ranks) {
      expect(r!.results.map((x) => x.check)).toEqual(expect.arrayContaining(['contract', 'trains', 'no-tensor-leak', 'deterministic']));
      for (const c of r!.results) expect(c.ok, `rank ${r!.rank} ${c.check}: ${c.message}`).toBe(true);
    }
  });
});

describe('the suite catches broken plugins', () => {
  it('a leaking plugin fails no-tensor-leak', async () => {
    const leaky: TrainerPlugin = { name: 'leaky', apiVersion: 1, onBatchEnd: () => void tf.keep(tf.scalar(1)) };
    const r = await checkPluginConformance(() => leaky);
    expect(r.find((x) => x.check === 'no-tensor-leak')!.ok).toBe(false);
  });
  it('a plugin leaking in an epoch or evaluation hook fails no-epoch-leak, which the step check cannot see', async () => {
    for (const hook of ['onEpochEnd', 'onEpochStart', 'onEvalEnd'] as const) {
      const leaky: TrainerPlugin = { name: `leaky-${hook}`, apiVersion: 1, [hook]: () => void tf.keep(tf.scalar(1)) };
      const r = await checkPluginConformance(() => leaky);
      expect(r.find((x) => x.check === 'no-tensor-leak')!.ok, hook).toBe(true);
      const epoch = r.find((x) => x.check === 'no-epoch-leak')!;
      expect(epoch.ok, hook).toBe(false);
      // one tensor a hook call: the counts at the epochs' starts climb by one
      const counts = /epochs 1–3: (\d+), (\d+), (\d+)/.exec(epoch.message)!.slice(1).map(Number);
      expect(counts[2]! - counts[1]!, hook).toBe(1);
      expect(epoch.message).toMatch(/free what onEpochStart\/onEpochEnd\/onEvalEnd create/);
    }
    // a plugin that builds state once, in its first epoch, and reuses it passes (built fresh per call: contract
    // fails a factory that returns one shared plugin)
    const lazy = (): TrainerPlugin => {
      let kept: tf.Tensor | null = null;
      return { name: 'lazy', apiVersion: 1, onEpochEnd: () => void (kept ??= tf.keep(tf.scalar(1))), dispose: () => { kept?.dispose(); kept = null; } };
    };
    const ok = await checkPluginConformance(lazy);
    expect(ok.filter((x) => !x.ok)).toEqual([]);
  });
  it('a plugin whose getState leaves out what its later steps depend on fails resume-matches (and only that)', async () => {
    // a step counter that shapes the loss but is not in the state: the state round-trips, the resumed run differs
    const forgetful = (): TrainerPlugin => {
      let n = 0;
      return { name: 'hidden-counter', apiVersion: 1, lossTerms: () => ({ t: tf.scalar(0.01 * n++) }), getState: () => ({}), setState: () => {} };
    };
    const r = await checkPluginConformance(forgetful);
    expect(Object.fromEntries(r.filter((x) => !x.ok).map((x) => [x.check, x.message]))).toEqual({
      'resume-matches': expect.stringMatching(/after resuming from the checkpoint of epoch 1 the losses were .* put everything the plugin's later steps depend on/),
    });
    // the same plugin with the counter in its state passes
    const complete = (): TrainerPlugin<{ n: number }> => {
      let n = 0;
      return { name: 'kept-counter', apiVersion: 1, lossTerms: () => ({ t: tf.scalar(0.01 * n++) }), getState: () => ({ n }), setState: (s) => void (n = s.n) };
    };
    expect((await checkPluginConformance(complete as () => TrainerPlugin)).filter((x) => !x.ok)).toEqual([]);
  });
  it('a misspelt hook (never called by the Trainer) fails hook-names; a plugin\'s own controls do not', async () => {
    const typo = { name: 'typo', apiVersion: 1, lossTerm: () => ({ t: tf.scalar(1) }), onbatchEnd: () => {}, onEpochEnds: () => {} } as unknown as TrainerPlugin;
    const r = await checkPluginConformance(() => ({ ...typo }));
    const names = r.find((x) => x.check === 'hook-names')!;
    expect(names.ok).toBe(false);
    expect(names.message).toMatch(/^"lossTerm" \(did you mean lossTerms\?\), "onbatchEnd" \(did you mean onBatchEnd\?\), "onEpochEnds" \(did you mean onEpochEnd\?\): the Trainer only calls/);
    // the other checks pass: the misspelt hooks simply never run
    expect(r.filter((x) => !x.ok).map((x) => x.check)).toEqual(['hook-names']);
    const controls = { name: 'controls', apiVersion: 1, state: () => ({}), takePrediction: () => null, skipsUpdate: () => false, teacher: () => null, planSteps: () => {} };
    expect(misspeltPluginKeys(controls)).toEqual([]);
    // a class plugin's hooks are methods on its prototype: a misspelt one is caught there too
    class ClassPlugin { name = 'class'; apiVersion = 1; lossTerm(): void {} onEpochEnd(): void {} takePrediction(): null { return null; } }
    expect(misspeltPluginKeys(new ClassPlugin())).toEqual([{ key: 'lossTerm', meant: 'lossTerms' }]);
    expect(misspeltPluginKeys({ transformGradient: () => ({}), SetState: () => {} })).toEqual([
      { key: 'transformGradient', meant: 'transformGradients' }, { key: 'SetState', meant: 'setState' }]);
  });
  it('an async tape hook fails sync-tape-hooks', async () => {
    const bad = { name: 'async', apiVersion: 1, afterApply: async () => {} } as unknown as TrainerPlugin;
    const r = await checkPluginConformance(() => bad, { steps: 1 });
    expect(r.find((x) => x.check === 'sync-tape-hooks')!.ok).toBe(false);
    // and the Trainer itself refuses the Promise, so the plugin does not train
    expect(r.find((x) => x.check === 'trains')).toMatchObject({ ok: false, message: expect.stringMatching(/returned a Promise from afterApply/) });
  });
  it('a state that does not round-trip fails state-round-trip', async () => {
    let n = 0;
    const r = await checkPluginConformance(() => ({ name: 'forgetful', apiVersion: 1, getState: () => ({ n: n++ }), setState: () => {} }));
    expect(r.find((x) => x.check === 'state-round-trip')!.ok).toBe(false);
  });
  it('a plugin drawing from Math.random-like unseeded state fails deterministic', async () => {
    let calls = 0;
    const r = await checkPluginConformance(() => ({
      name: 'unseeded', apiVersion: 1,
      lossTerms: () => ({ noise: tf.scalar((calls++ % 7) * 0.01) }),
    }));
    expect(r.find((x) => x.check === 'deterministic')!.ok).toBe(false);
  });
});

describe('broken plugins and bad options get a failure that says what to fix (not a raw error that aborts the suite)', () => {
  const failed = (r: Array<{ check: string; ok: boolean; message: string }>) => Object.fromEntries(r.filter((x) => !x.ok).map((x) => [x.check, x.message]));

  it('a factory that throws or returns no plugin fails contract', async () => {
    // used to reject with the factory's own error / "Cannot read properties of undefined (reading 'name')"
    expect(failed(await checkPluginConformance(() => { throw new Error('boom'); }))).toEqual({ contract: expect.stringMatching(/the plugin factory threw: boom/) });
    expect(failed(await checkPluginConformance(() => undefined as never))).toEqual({ contract: expect.stringMatching(/factory returned undefined, not a plugin object/) });
    // an async factory used to fail contract with "name=undefined apiVersion=undefined"
    expect(failed(await checkPluginConformance((async () => weightDecay({ rate: 1e-3 })) as never))).toEqual({ contract: expect.stringMatching(/returned a Promise/) });
  });

  it('a state that is not JSON, or getState without setState, fails state-round-trip and the other checks still run', async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    // these used to reject with a raw SyntaxError / TypeError from JSON, or the plugin's own error
    // a state that cannot be written cannot be checkpointed either, so resume-matches fails with it
    const unwritable = /checkpointing after epoch 1 and resuming threw/;
    const cases: Array<[TrainerPlugin, RegExp, RegExp | null]> = [
      [{ name: 'undef', apiVersion: 1, getState: () => undefined, setState: () => {} }, /getState returned undefined/, null],
      [{ name: 'circular', apiVersion: 1, getState: () => circular, setState: () => {} }, /state JSON cannot hold: Converting circular structure/, unwritable],
      [{ name: 'throws', apiVersion: 1, getState: () => { throw new Error('no state'); }, setState: () => {} }, /getState threw .*no state/, unwritable],
      [{ name: 'no-set', apiVersion: 1, getState: () => ({ a: 1 }) }, /has getState but no setState/, null],
    ];
    for (const [plugin, message, resume] of cases) {
      const r = await checkPluginConformance(() => ({ ...plugin }), { steps: 3 });
      expect(failed(r)).toEqual({ 'state-round-trip': expect.stringMatching(message), ...(resume ? { 'resume-matches': expect.stringMatching(resume) } : {}) });
      expect(r.map((x) => x.check)).toContain('deterministic');
    }
  });

  it('a plugin throwing after fit or in dispose fails that check instead of aborting the suite', async () => {
    const r = await checkPluginConformance(() => {
      let n = 0;
      return { name: 'late', apiVersion: 1, onBatchStart: () => { if (++n > 3) throw new Error('batch 4'); } };
    }, { steps: 3 });
    expect(failed(r)).toMatchObject({ 'no-tensor-leak': expect.stringMatching(/training step after fit threw: .*batch 4/), deterministic: expect.stringMatching(/second run threw/) });
    const d = await checkPluginConformance(() => ({ name: 'bad-dispose', apiVersion: 1, dispose: () => { throw new Error('dispose boom'); } }), { steps: 3 });
    expect(failed(d)).toEqual({ 'dispose-frees': expect.stringMatching(/threw: dispose boom/) });
  });

  it('fewer than 3 steps fail no-tensor-leak (nothing would be compared) instead of passing it', async () => {
    const r = await checkPluginConformance(() => weightDecay({ rate: 1e-3 }), { steps: 2 });
    expect(failed(r)).toEqual({ 'no-tensor-leak': expect.stringMatching(/steps: 2 leaves no two steady-state tensor counts to compare .* pass steps ≥ 3/) });
  });

  it('bad suite arguments are TrellisErrors naming the option', async () => {
    const good = () => weightDecay({ rate: 1e-3 });
    const rejects = async (f: () => Promise<unknown>, message: RegExp) => {
      const e = await f().then(() => undefined, (err: unknown) => err);
      expect(e).toBeInstanceOf(TrellisError);
      expect((e as TrellisError).code).toBe('BAD_OPTION');
      expect((e as TrellisError).message).toMatch(message);
    };
    // steps 0 / NaN used to pass no-tensor-leak vacuously; the others were raw TypeErrors or "baseLoss is not a function"
    await rejects(() => checkPluginConformance('nope' as never), /plugin factory is string, not a function/);
    await rejects(() => checkPluginConformance(good, null as never), /conformance options are null/);
    await rejects(() => checkPluginConformance(good, { steps: 0 }), /`steps` 0 is not an integer ≥ 1/);
    await rejects(() => checkPluginConformance(good, { steps: NaN }), /`steps` NaN/);
    await rejects(() => checkPluginConformance(good, { baseLoss: 'ce' } as unknown as ConformanceOptions), /`baseLoss` "ce" is not a base loss/);
    await rejects(() => checkPluginConformance(good, { model: (() => undefined) as never }), /`model` option returned undefined for seed 1/);
    await rejects(() => checkPluginConformance(good, { optimizer: tf.train.adam(0.01) as never }), /`optimizer` is object, not a function/);
    const r = await checkPluginConformance(good, { companions: (() => good()) as never });
    expect(failed(r)).toEqual({ trains: expect.stringMatching(/`companions` option returned object, not an array/) });
  });

  it('interruptAndResume refuses a non-resumable experiment and a bad keep before running the study', async () => {
    let runs = 0;
    const experiment = (resumable: boolean): TechniqueExperiment => ({ name: 'fake', description: '', resumable, run: async () => { runs++; throw new Error('ran'); } });
    // both used to run the whole study first, then fail with a raw ENOENT / SyntaxError
    await expect(interruptAndResume(experiment(false), { mode: 'quick', seed: 1 })).rejects.toMatchObject({ code: 'CANNOT_RESUME', message: expect.stringMatching(/"fake" is not resumable/) });
    await expect(interruptAndResume(experiment(true), { mode: 'quick', seed: 1 }, { keep: -1 })).rejects.toMatchObject({ code: 'BAD_OPTION', message: expect.stringMatching(/keep -1 is not an integer ≥ 0/) });
    expect(runs).toBe(0);
  });
});
