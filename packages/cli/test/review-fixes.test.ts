import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  COMMON_FLAGS, TECHNIQUES, checkTechniqueParams, commandFlags, commandNames, helpText, interruptMessage, main, parseArgs, runTour, seedFlag, seedsFlag,
} from '@trellis-ml/cli';
import { experimentSeeds, MAX_SEED, type TrellisError } from '@trellis-ml/core';
import { runNode } from '../../../tools/test-support/runNode.js';

const bin = resolve(__dirname, '../dist/bin.js');
/** `trellis ...args` in a child process. */
const run = (args: string[]) => runNode([bin, ...args]);
const tmp = (label: string): string => mkdtempSync(join(tmpdir(), `trellis-${label}-`));

/** Runs `trellis ...args --out <empty dir>` and expects a refusal before the backend starts: exit 2, `message`, no banner, no run directory. */
async function expectRefusedBeforeBackend(args: string[], message: RegExp): Promise<string> {
  const out = tmp('refused');
  const r = await run([...args, '--backend', 'cpu', '--out', out]);
  expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
  expect(r.stderr, args.join(' ')).toMatch(message);
  expect(r.stdout, args.join(' ')).not.toMatch(/backend:/);
  expect(readdirSync(out), args.join(' ')).toEqual([]);
  return r.stderr;
}

describe('trellis CLI (review fixes)', () => {
  it('refuses a --seed that core\'s 32-bit Rng would run as another seed (it was recorded as typed and run truncated)', async () => {
    const seedOf = (v: string) => seedFlag(parseArgs(['train', `--seed=${v}`]).flags);
    expect(seedFlag(parseArgs(['train']).flags)).toBe(1);
    expect(seedOf('0')).toBe(0);
    expect(seedOf(String(MAX_SEED))).toBe(4294967295);
    expect(() => seedOf('4294967297')).toThrow(/--seed 4294967297 is not a seed from 0 to 4294967295 .*would use seed 1 while its record says 4294967297/);
    expect(() => seedOf(String(2 ** 53))).toThrow(/--seed 9007199254740992 is not a seed from 0 to 4294967295 .*would use seed 0/);
    expect(() => seedOf('-1')).toThrow(/--seed -1 is not a seed from 0 to 4294967295 .*would use seed 4294967295/);
    expect(() => seedsFlag(parseArgs(['distill', '--seeds', '1,4294967297']).flags)).toThrow(/--seeds 1,4294967297: 4294967297 is not a seed from 0 to 4294967295/);
    // --full runs --seed, +1 and +2: the last seeds past 2^32 - 1 would alias 0 and 1 (core's experimentSeeds)
    expect(experimentSeeds({ mode: 'full', seed: MAX_SEED - 2, out: '' })).toEqual([MAX_SEED - 2, MAX_SEED - 1, MAX_SEED]);
    expect(() => experimentSeeds({ mode: 'full', seed: MAX_SEED, out: '' })).toThrow(/seed 4294967295 in full mode runs seeds 4294967295, 4294967296, 4294967297, and 4294967296 is past 4294967295/);
    // before the backend starts, so the run record never names a seed the run did not use
    for (const args of [['train', '--seed', '4294967297'], ['tour', '--seed', String(2 ** 53)], ['distill', '--seed', '4294967297']]) {
      await expectRefusedBeforeBackend(args, /is not a seed from 0 to 4294967295[^]*fix: pass a whole number from 0 to 4294967295/);
    }
  });

  it('refuses a bad --set value and a repeated --seeds before the backend starts (no banner, no run directory)', async () => {
    await expectRefusedBeforeBackend(['distill', '--set', 'studentEpochs=0'], /distill: --set studentEpochs=0: 0 is out of range\n {2}fix: pass a whole number ≥ 1/);
    await expectRefusedBeforeBackend(['privacy', '--set', 'noSuchKey=1'], /privacy has no parameter "noSuchKey"/);
    await expectRefusedBeforeBackend(['dynamic-depth', '--set', 'epochs=three'], /dynamic-depth: --set epochs=three/);
    await expectRefusedBeforeBackend(['distill', '--seeds', '1,2,1'], /seeds 1,2,1 repeat 1[^]*fix: pass distinct whole numbers/);
    await expectRefusedBeforeBackend(['fair-prune', '--full', '--seed', String(MAX_SEED)], /in full mode runs seeds .*fix: pass a seed of 4294967293 or less in full mode/s);
    // checks across keys, through each technique's checkParams (they ran after the banner)
    await expectRefusedBeforeBackend(['privacy', '--set', 'liraModels=1'], /privacy: --set liraModels=1 leaves LiRA no reference model/);
    await expectRefusedBeforeBackend(['distill', '--set', 'augment=true'], /augment=true needs image inputs[^]*fix: add --set tier=conv/);
    await expectRefusedBeforeBackend(['dynamic-depth', '--set', 'depths=2,2,6'], /dynamic-depth: depth 2 is listed twice/);
    for (const t of TECHNIQUES) expect(typeof (await t.load()).checkParams, t.name).toBe('function');
  });

  it('the --set check before the backend accepts exactly the keys each technique\'s own run accepts, in both modes', async () => {
    for (const t of TECHNIQUES) {
      const experiment = await t.load();
      for (const mode of ['quick', 'full'] as const) {
        const { defaults, rules } = experiment.parameters!(mode);
        const schemaKeys = [...new Set([...Object.keys(defaults), ...Object.keys(rules ?? {})])].sort();
        // the run's own check (it refuses an unknown key before it loads data) names the keys it takes
        const refused = await experiment.run({ mode, seed: 1, out: tmp('keys'), params: { noSuchKey: '1' }, log: () => {} }).then(() => null, (e: unknown) => e as TrellisError);
        expect(refused?.code, `${t.name} ${mode}`).toBe('UNKNOWN_PARAM');
        expect(/use one of: ([\w, ]+)/.exec(refused!.fix)?.[1]?.split(', ').sort(), `${t.name} ${mode}`).toEqual(schemaKeys);
        // so every key the run takes passes the check before the backend (with its own default as the value)
        for (const [key, value] of Object.entries(defaults as Record<string, unknown>)) {
          if (value === undefined || value === null || (typeof value === 'string' && rules?.[key]?.type === 'number') || (Array.isArray(value) && !value.length)) continue;
          expect(() => checkTechniqueParams(experiment, { mode, seed: 1, params: { [key]: Array.isArray(value) ? value.join(',') : String(value) } }), `${t.name} ${mode} ${key}`).not.toThrow();
        }
      }
    }
  });

  it('an unknown subcommand is an error even with --help or --version, naming the subcommands there are', async () => {
    for (const args of [['frobnicate', '--help'], ['help', 'frobnicate'], ['frobnicate', '-h'], ['frobnicate', '--version']]) {
      const r = await run(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr, args.join(' ')).toMatch(/unknown command "frobnicate"\n {2}fix: use one of: train, tour, list, help, privacy, fair-prune, .*retrain-cost/);
    }
  });

  it('the help text has a usage line for every subcommand the parser knows, with the flags each takes', async () => {
    const help = helpText();
    const lines = help.split('\n');
    /** The usage line of `trellis <command>` and the indented lines that continue it. */
    const usage = (command: string): string => {
      const start = lines.findIndex((l) => l.startsWith(`  trellis ${command} `) || l === `  trellis ${command}`);
      expect(start, `no usage line for trellis ${command}`).toBeGreaterThanOrEqual(0);
      let end = start + 1;
      while (end < lines.length && /^ {4,}/.test(lines[end]!)) end++;
      return lines.slice(start, end).join('\n');
    };
    expect(commandNames()).toEqual(['train', 'tour', 'list', 'help', ...TECHNIQUES.map((t) => t.name), 'check-plugin']);
    for (const command of commandNames()) {
      const text = usage(command);
      if (command === 'list' || command === 'help') continue;
      const resumable = TECHNIQUES.find((t) => t.name === command)?.resumable ?? true;
      for (const flag of commandFlags(command)) {
        if (flag === 'resume' && !resumable) continue;
        expect(text, `trellis ${command} --${flag}`).toMatch(new RegExp(`--${flag}\\b`));
      }
    }
    expect(usage('train')).toContain('[--quick|--full]');
    for (const flag of COMMON_FLAGS) expect(help, `--${flag}`).toMatch(new RegExp(`--${flag}\\b`));
    // and the parser takes each of them: every known subcommand's --help is the usage (or its technique page), exit 0
    const log: string[] = [];
    for (const command of commandNames()) expect(await main([command, '--help'], (l) => log.push(l)), command).toBe(0);
  });

  it('the tour logs which step failed and why when its baseline fails (it was only in the report)', async () => {
    const out = tmp('tour-baseline');
    writeFileSync(join(out, 'train'), 'a file where the baseline\'s run directories would go');
    const log: string[] = [];
    const { steps } = await runTour({ seed: 1, out, epochs: 1, only: [], log: (l) => log.push(l) });
    expect(steps.map((s) => [s.name, s.ok])).toEqual([['train (MNIST baseline)', false]]);
    const line = log.find((l) => l.startsWith('baseline (train, MNIST MLP) failed: '));
    expect(line, log.join('\n')).toBeDefined();
    expect(line).toContain(steps[0]!.error!);
    expect(line).toMatch(/run directory.*train/);
  });

  it('Ctrl-C before the first checkpoint (or study unit) says there is nothing to --resume; after it, says to --resume', () => {
    const root = tmp('interrupt');
    const fresh = join(root, 'fresh');
    mkdirSync(fresh);
    writeFileSync(join(fresh, 'config.json'), '{}');
    for (const dir of [fresh, null]) {
      const m = interruptMessage('train', 'SIGINT', dir);
      expect(m).toMatch(/^interrupted \(SIGINT\) before anything could be kept: no checkpoint was written yet/);
      expect(m).toMatch(/--resume has nothing to continue — run the same `trellis train` command again without --resume$/);
    }
    const checkpointed = join(root, 'checkpointed');
    mkdirSync(join(checkpointed, 'checkpoint'), { recursive: true });
    expect(interruptMessage('train', 'SIGINT', checkpointed)).toMatch(/^interrupted \(SIGINT\): what finished is kept — run the same `trellis train` command with --resume to continue after the last finished epoch$/);
    // a --resume of a run that had a checkpoint can be resumed again
    expect(interruptMessage('train', 'SIGTERM', null, true)).toMatch(/with --resume to continue/);
    // a study: an empty journal is nothing to continue, one finished unit is
    const study = join(root, 'study');
    mkdirSync(study);
    writeFileSync(join(study, 'journal.jsonl'), '');
    expect(interruptMessage('distill', 'SIGINT', study)).toMatch(/no unit of the study had finished yet .*run the same `trellis distill` command again without --resume/);
    writeFileSync(join(study, 'journal.jsonl'), '{"key":"seed 1"}\n');
    expect(interruptMessage('distill', 'SIGINT', study)).toMatch(/what finished is kept — run the same `trellis distill` command with --resume/);
  });

  it('Ctrl-C of `trellis train` before its first checkpoint exits 130 and says to run it again without --resume', async () => {
    // a CNN epoch on 20,000 images takes seconds: SIGINT as soon as the run directory exists lands before the first checkpoint
    const out = tmp('sigint-train');
    const child = spawn(process.execPath, [bin, 'train', '--model', 'cnn', '--limit', '20000', '--epochs', '2', '--backend', 'wasm', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const root = join(out, 'train');
    let checkpointed = true;
    const code = await new Promise<number | null>((done) => {
      const timer = setInterval(() => {
        const name = existsSync(root) ? readdirSync(root)[0] : undefined;
        if (name && existsSync(join(root, name, 'config.json'))) {
          clearInterval(timer);
          checkpointed = existsSync(join(root, name, 'checkpoint'));
          child.kill('SIGINT');
        }
      }, 20);
      child.on('exit', (c) => {
        clearInterval(timer);
        done(c);
      });
    });
    expect(checkpointed).toBe(false);
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/interrupted \(SIGINT\) before anything could be kept: no checkpoint was written yet .*run the same `trellis train` command again without --resume/);
    expect(stderr).not.toMatch(/with --resume to continue/);
  });
});
