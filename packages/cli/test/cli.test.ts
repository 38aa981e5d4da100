import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TECHNIQUES, checkCanResume, helpText, intFlag, numberFlag, parseArgs, seedsFlag, techniqueHelpText } from '@trellis-ml/cli';
import { runNode } from '../../../tools/test-support/runNode.js';

const bin = resolve(__dirname, '../dist/bin.js');
/** `trellis ...args` in a child process (async: a blocked event loop would time out vitest's worker RPC). */
const run = (args: string[]) => runNode([bin, ...args]);

function summaryOf(out: string): Record<string, unknown> {
  const root = join(out, 'train');
  const dir = readdirSync(root).sort().pop()!;
  return JSON.parse(readFileSync(join(root, dir, 'summary.json'), 'utf8')) as Record<string, unknown>;
}

/** Starts `trellis ...args`, SIGKILLs it once its first checkpoint exists; true if it had no summary yet. */
function killAfterFirstCheckpoint(args: string[], out: string): Promise<boolean> {
  return killWhen(args, join(out, 'train'), (dir) => existsSync(join(dir, 'checkpoint', 'state.json')));
}

/** Starts `trellis ...args`, SIGKILLs it once `ready(runDir)` holds for its run under `root`; true if it had no summary yet. */
function killWhen(args: string[], root: string, ready: (dir: string) => boolean): Promise<boolean> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: 'ignore' });
  return new Promise<boolean>((done) => {
    const timer = setInterval(() => {
      if (!existsSync(root)) return;
      const name = readdirSync(root)[0];
      const dir = name ? join(root, name) : '';
      if (dir && ready(dir)) {
        clearInterval(timer);
        child.kill('SIGKILL');
        done(!existsSync(join(dir, 'summary.json')));
      }
    }, 20);
    child.on('exit', () => {
      clearInterval(timer);
      done(false);
    });
  });
}

/** Kills a run of `args` after its first checkpoint, resumes it, and expects `uninterrupted`'s test metrics exactly. */
async function expectResumedRunMatches(args: string[], uninterrupted: Record<string, unknown>): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'trellis-resume-'));
  expect(await killAfterFirstCheckpoint([...args, '--out', out], out)).toBe(true);
  // other settings do not continue this checkpoint (they used to, rewriting its config.json): refused, the run untouched
  const runDir = join(out, 'train', readdirSync(join(out, 'train'))[0]!);
  const config = readFileSync(join(runDir, 'config.json'), 'utf8');
  const other = await run([...args, '--lr', '0.002', '--dataset', 'fashion', '--out', out, '--resume']);
  expect(other.status, other.stderr).toBe(2);
  expect(other.stderr).toMatch(/no unfinished train run under .* has these settings — the interrupted run .* has other settings: dataset "mnist" \(now "fashion-mnist"\); learningRate 0.001 \(now 0.002\)/);
  expect(readFileSync(join(runDir, 'config.json'), 'utf8')).toBe(config);
  const resumed = await run([...args, '--out', out, '--resume']);
  expect(resumed.status, resumed.stderr).toBe(0);
  expect(resumed.stdout).toMatch(/resuming/);
  const s = summaryOf(out);
  expect(s.testAccuracy).toBe(uninterrupted.testAccuracy);
  expect(s.testLoss).toBe(uninterrupted.testLoss);
}

describe('trellis CLI', () => {
  it('parses flags, --set params and rejects malformed ones', async () => {
    expect(parseArgs(['train', '--seed', '3', '--quick', '--set', 'alpha=0.5', '--out=x'])).toEqual({
      command: 'train', flags: { seed: '3', quick: true, out: 'x' }, params: { alpha: '0.5' },
    });
    expect(() => parseArgs(['train', '--seed'])).toThrow(/--seed needs a value/);
    expect(() => parseArgs(['train', '--set', 'novalue'])).toThrow(/not key=value/);
    expect(helpText()).toMatch(/trellis train/);
  });

  it('trellis alone, --help and help print the usage (exit 0); list names each technique with its package', async () => {
    for (const args of [[], ['--help'], ['-h'], ['help']]) {
      const r = await run(args);
      expect(r.status, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toBe(`${helpText()}\n`);
    }
    const list = await run(['list']);
    expect(list.status).toBe(0);
    expect(list.stdout.trim().split('\n').map((l) => l.split('\t').slice(0, 2))).toEqual(TECHNIQUES.map((t) => [t.name, `@trellis-ml/${t.name}`]));
  });

  it('reads a boolean flag\'s =true / =false as written and refuses any other value', async () => {
    // `--resume=true` used to be the string "true" (no resume) and `--full=false` a truthy "false" (a full run)
    expect(parseArgs(['privacy', '--resume=true', '--full=false', '--quick=true']).flags).toEqual({ resume: true, quick: true });
    expect(parseArgs(['privacy', '--progress=false']).flags).toEqual({});
    expect(() => parseArgs(['privacy', '--full=no'])).toThrow('--full=no is not true or false');
    const r = await run(['privacy', '--resume=yes', '--out', mkdtempSync(join(tmpdir(), 'trellis-bool-'))]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--resume=yes is not true or false\n  fix: write --resume on its own/);
  });

  it('train and tour refuse --set (they used to ignore it, exit 0 and record none of it)', async () => {
    for (const cmd of ['train', 'tour']) {
      const r = await run([cmd, '--set', 'lr=banana', '--backend', 'cpu']);
      expect(r.status, cmd).toBe(2);
      expect(r.stderr, cmd).toMatch(new RegExp(`\`trellis ${cmd}\` takes no --set \\(it was given --set lr=…`));
      expect(r.stdout, cmd).not.toMatch(/backend:/);
    }
  });

  it('refuses `tour --full` (the tour is quick only) and an empty --out before any work', async () => {
    const tour = await run(['tour', '--full', '--backend', 'cpu']);
    expect(tour.status).toBe(2);
    expect(tour.stderr).toMatch(/`trellis tour` runs every technique in quick mode; it has no --full/);
    expect(tour.stderr).toMatch(/trellis <technique> --full/);
    expect(tour.stdout).not.toMatch(/backend:/);
    const out = await run(['train', '--out=', '--limit', '100', '--epochs', '1', '--backend', 'cpu']);
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/--out is empty/);
    expect(out.stdout).not.toMatch(/backend:/);
  });

  it('reads number flags and --seeds strictly: an empty value or an empty list entry is an error, not 0', () => {
    const flags = (argv: string[]) => parseArgs(['distill', ...argv]).flags;
    expect(intFlag(flags(['--seed', '7']), 'seed', 1)).toBe(7);
    expect(intFlag(flags([]), 'seed', 1)).toBe(1);
    expect(numberFlag(flags(['--lr', '1e-3']), 'lr', 0.01)).toBe(0.001);
    expect(seedsFlag(flags(['--seeds', '4,5,6']))).toEqual([4, 5, 6]);
    expect(seedsFlag(flags([]))).toBeUndefined();
    // Number('') is 0: `--seed=` used to run seed 0 and `--seeds 1,,2` seeds 1, 0 and 2
    expect(() => intFlag(flags(['--seed=']), 'seed', 1)).toThrow('--seed "" is not an integer');
    expect(() => intFlag(flags(['--epochs', ' ']), 'epochs', 3)).toThrow('--epochs " " is not an integer');
    expect(() => numberFlag(flags(['--lr=']), 'lr', 0.01)).toThrow('--lr "" is not a number');
    for (const bad of ['1,,2', ',', '1,', '', '1,x']) {
      expect(() => seedsFlag(flags([`--seeds=${bad}`])), bad).toThrow(/is not a comma-separated list of integers/);
    }
    expect(() => intFlag(flags(['--epochs', '1.5']), 'epochs', 3)).toThrow('--epochs 1.5 is not an integer');
  });

  it('has one subcommand per technique, each loading its experiment (which takes --quick|--full, --seed, --out)', async () => {
    expect(TECHNIQUES.map((t) => t.name).sort()).toEqual(['distill', 'dynamic-depth', 'fair-prune', 'privacy', 'retrain-cost', 'safety-units', 'uda-calibration']);
    for (const t of TECHNIQUES) {
      const experiment = await t.load();
      expect(experiment.name).toBe(t.name);
      expect(typeof experiment.run).toBe('function');
      expect(helpText()).toContain(`trellis ${t.name}`);
      // the help's [--resume] and the error's list come from the entry: it must say what the experiment does
      expect(t.resumable, t.name).toBe(experiment.resumable === true);
    }
  });

  it('a technique study killed after its first seed resumes with --resume and ends with the uninterrupted run\'s accuracies', async () => {
    const args = ['dynamic-depth', '--quick', '--seeds', '1,2', '--backend', 'wasm', '--set', 'dataset=mnist', '--set', 'trainLimit=2000', '--set', 'testLimit=500',
      '--set', 'width=32', '--set', 'blocks=2', '--set', 'depths=1,2', '--set', 'epochs=3', '--set', 'timedRuns=2'];
    const a = mkdtempSync(join(tmpdir(), 'trellis-study-'));
    const whole = await run([...args, '--out', a]);
    expect(whole.status, whole.stderr).toBe(0);
    const out = mkdtempSync(join(tmpdir(), 'trellis-study-'));
    const oneUnit = (dir: string) => existsSync(join(dir, 'journal.jsonl')) && readFileSync(join(dir, 'journal.jsonl'), 'utf8').endsWith('\n');
    expect(await killWhen([...args, '--out', out], join(out, 'dynamic-depth'), oneUnit)).toBe(true);
    // other settings: refused before any work, naming what differs, and the interrupted run is left as it was
    const other = await run([...args.map((a) => (a === 'epochs=3' ? 'epochs=2' : a)), '--out', out, '--resume']);
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(/the interrupted run .* has other settings: epochs 3 \(now 2\)/);
    expect(other.stderr).toMatch(/fix: resume with the same settings \(--seed, the command's flags, --seeds and --set values\)/);
    const resumed = await run([...args, '--out', out, '--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/resuming .*: 1 finished seeds are replayed/);
    const summary = (o: string) => {
      const root = join(o, 'dynamic-depth');
      return JSON.parse(readFileSync(join(root, readdirSync(root)[0]!, 'summary.json'), 'utf8')) as { perDepth: Array<Record<string, { accuracy?: unknown }>>; claims: Array<{ id: string; measured: number }> };
    };
    const accuracy = (o: string) => summary(o).perDepth.map((d) => Object.values(d).map((v) => v?.accuracy ?? v));
    expect(accuracy(out)).toEqual(accuracy(a));
    const gap = (o: string) => summary(o).claims.find((c) => c.id === 'mean-gap-nonnegative')!.measured;
    expect(gap(out)).toBe(gap(a));
  });

  it('Ctrl-C during a study says how to continue, and --resume then continues it', async () => {
    const args = ['dynamic-depth', '--quick', '--seeds', '1,2', '--backend', 'wasm', '--set', 'dataset=mnist', '--set', 'trainLimit=2000', '--set', 'testLimit=500',
      '--set', 'width=32', '--set', 'blocks=2', '--set', 'depths=1,2', '--set', 'epochs=3', '--set', 'timedRuns=2'];
    const out = mkdtempSync(join(tmpdir(), 'trellis-sigint-'));
    const child = spawn(process.execPath, [bin, ...args, '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const root = join(out, 'dynamic-depth');
    const code = await new Promise<number | null>((done) => {
      const timer = setInterval(() => {
        const name = existsSync(root) ? readdirSync(root)[0] : undefined;
        const journal = name ? join(root, name, 'journal.jsonl') : '';
        if (journal && existsSync(journal) && readFileSync(journal, 'utf8').endsWith('\n')) {
          clearInterval(timer);
          child.kill('SIGINT');
        }
      }, 20);
      child.on('exit', (c) => {
        clearInterval(timer);
        done(c);
      });
    });
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted \(SIGINT\): what finished is kept — run the same `trellis dynamic-depth` command with --resume/);
    const resumed = await run([...args, '--out', out, '--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/1 finished seeds are replayed/);
  });

  it('--resume: a technique whose study is not journaled says so, and with nothing to resume the error says what to do', async () => {
    const thirdParty = { name: 'my-technique', description: '', run: () => Promise.reject(new Error('not reached')) };
    expect(() => checkCanResume(thirdParty, { resume: true })).toThrow(/trellis my-technique does not resume interrupted runs.*the studies that resume are: privacy, fair-prune, safety-units, dynamic-depth, uda-calibration, distill, retrain-cost/s);
    expect(() => checkCanResume(thirdParty, {})).not.toThrow();
    expect(() => checkCanResume({ ...thirdParty, resumable: true }, { resume: true })).not.toThrow();
    const none = await run(['uda-calibration', '--quick', '--resume', '--out', mkdtempSync(join(tmpdir(), 'trellis-cli-'))]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/no unfinished uda-calibration run under/);
    expect(none.stderr).toMatch(/fix: start the run without --resume/);
    expect(helpText()).toMatch(/trellis uda-calibration .*\[--resume\]/);
  });

  it('gives a clear error for a backend that is not installed and for unknown commands', async () => {
    const r = await run(['train', '--backend', 'tensorflow-gpu']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/tfjs-node-gpu/);
    expect(r.stderr).toMatch(/fix: .*npm install @tensorflow\/tfjs-node-gpu/);
    const u = await run(['frobnicate']);
    expect(u.status).toBe(2);
    expect(u.stderr).toMatch(/unknown command "frobnicate"/);
    // A flag the command does not take is an error, not silently ignored.
    const typo = await run(['train', '--epoch', '2']);
    expect(typo.status).toBe(2);
    expect(typo.stderr).toMatch(/`trellis train` does not take --epoch/);
    expect(typo.stderr).toMatch(/fix: use one of .*--epochs/);
    const tech = await run(['distill', '--workers', '2']);
    expect(tech.status).toBe(2);
    expect(tech.stderr).toMatch(/`trellis distill` does not take --workers.*--set key=value/s);
  });

  it('says why the native kernels are not used when auto falls back from them', async () => {
    const out = mkdtempSync(join(tmpdir(), 'trellis-fallback-'));
    const r = await runNode([bin, 'train', '--limit', '300', '--epochs', '1', '--out', out], {
      env: { ...process.env, TRELLIS_NATIVE_DISABLE: '1' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^backend: (wasm|cpu) /m);
    expect(r.stdout).toMatch(/native kernels not used — .*disabled by TRELLIS_NATIVE_DISABLE=1/);
  });

  it('train writes summary.json with testAccuracy and backend; a killed run resumed with --resume ends with the same metrics', async () => {
    const args = ['train', '--dataset', 'mnist', '--limit', '3000', '--epochs', '3', '--seed', '4', '--backend', 'wasm'];
    const a = mkdtempSync(join(tmpdir(), 'trellis-a-'));
    const full = await run([...args, '--out', a]);
    expect(full.status, full.stderr).toBe(0);
    const sa = summaryOf(a);
    expect(sa.backend).toBe('wasm');
    expect(sa.testAccuracy).toBeGreaterThan(0.8);

    await expectResumedRunMatches(args, sa);
  });

  it('train --workers 2 trains data-parallel on two worker threads; a killed run resumes from rank 0 checkpoint to the same metrics', async () => {
    const args = ['train', '--dataset', 'mnist', '--limit', '3000', '--epochs', '2', '--seed', '4', '--backend', 'wasm', '--workers', '2'];
    const a = mkdtempSync(join(tmpdir(), 'trellis-dp-a-'));
    const full = await run([...args, '--out', a]);
    expect(full.status, full.stderr).toBe(0);
    const sa = summaryOf(a);
    expect(sa.dataParallelWorkers).toBe(2);
    expect(sa.testAccuracy).toBeGreaterThan(0.8);
    expect(full.stdout).toMatch(/epoch 2\/2/); // rank 0's log lines reach the terminal
    if (availableParallelism() >= 2) expect(full.stdout).not.toMatch(/workers share/);

    // Both ranks read rank 0's checkpoint, so the resumed run is the uninterrupted one, bit for bit.
    await expectResumedRunMatches(args, sa);
  });

  it('--gemm picks trellis-native\'s GEMM library and the run record names it; another backend ignores it with a note; a bad value is an error', async () => {
    const bad = await run(['train', '--gemm', 'mkl']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--gemm mkl is not one of auto, openblas, onednn, openblas-threads/);
    const w = mkdtempSync(join(tmpdir(), 'trellis-gemm-w-'));
    const onWasm = await run(['train', '--limit', '300', '--epochs', '1', '--backend', 'wasm', '--gemm', 'onednn', '--out', w]);
    expect(onWasm.status, onWasm.stderr).toBe(0);
    expect(onWasm.stdout).toMatch(/gemm 'onednn' ignored: only trellis-native has a GEMM choice/);
    const configOf = (out: string): Record<string, unknown> => {
      const root = join(out, 'train');
      return JSON.parse(readFileSync(join(root, readdirSync(root).sort().pop()!, 'config.json'), 'utf8')) as Record<string, unknown>;
    };
    expect(configOf(w)['backendKernels']).toBe('trellis-wasm');
    expect(configOf(w)['backendLibraries']).toBeUndefined();
    if (!existsSync(resolve(__dirname, '../../backend-native/build/Release/trellis_native.node'))) return; // native kernels not built here
    const n = mkdtempSync(join(tmpdir(), 'trellis-gemm-n-'));
    const onNative = await run(['train', '--limit', '300', '--epochs', '1', '--backend', 'trellis-native', '--threads', '1', '--gemm', 'onednn', '--out', n]);
    expect(onNative.status, onNative.stderr).toBe(0);
    expect(onNative.stdout).toMatch(/^ {2}oneDNN .*; gemm onednn/m);
    expect(configOf(n)['backendLibraries']).toMatch(/^oneDNN .*OpenBLAS .*; gemm onednn/);
    expect(configOf(n)['backendThreads']).toBe(1);
  });

  it('train --resume past a damaged checkpoint says, before the first epoch it trains, which one it used and why', async () => {
    const out = mkdtempSync(join(tmpdir(), 'trellis-damaged-'));
    const args = ['train', '--dataset', 'mnist', '--limit', '1000', '--epochs', '8', '--seed', '2', '--backend', 'wasm', '--out', out];
    // killed once two checkpoints exist (checkpoint and checkpoint-prev), then the newer one is damaged
    expect(await killWhen(args, join(out, 'train'), (dir) => existsSync(join(dir, 'checkpoint-prev', 'state.json')))).toBe(true);
    const dir = join(out, 'train', readdirSync(join(out, 'train'))[0]!);
    writeFileSync(join(dir, 'checkpoint', 'state.json'), '{"format": "trellis-checkpoint-1", "epo');
    const r = await run([...args, '--resume']);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const note = lines.findIndex((l) => /^resumed from .*checkpoint-prev \(after epoch \d+\); skipped damaged checkpoint: cannot read .*state\.json/.test(l));
    expect(note, r.stdout).toBeGreaterThanOrEqual(0);
    expect(note).toBeLessThan(lines.findIndex((l) => /^epoch \d+\/8/.test(l)));
    expect(lines.filter((l) => /^resumed from/.test(l))).toHaveLength(1);
  });
  it('train --lr-schedule cosine decays the rate; --patience stops on held-out training examples and keeps the best epoch', async () => {
    const out = mkdtempSync(join(tmpdir(), 'trellis-es-'));
    const r = await run(['train', '--limit', '3000', '--epochs', '12', '--lr', '0.01', '--lr-schedule', 'cosine', '--patience', '1', '--seed', '1', '--backend', 'wasm', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    const s = summaryOf(out);
    const history = s.history as Array<{ lr: number; val_loss: number }>;
    const stopped = s.earlyStopping as { bestEpoch: number; bestLoss: number; epochsTrained: number };
    expect(stopped.epochsTrained).toBe(history.length);
    expect(history.length).toBeLessThan(12); // stopped early
    expect(stopped.bestEpoch).toBe(history.length - 2); // patience 1: the epoch after the best one did not improve
    expect(stopped.bestLoss).toBe(Math.min(...history.map((h) => h.val_loss)));
    for (let i = 1; i < history.length; i++) expect(history[i]!.lr).toBeLessThan(history[i - 1]!.lr);
    expect(history[0]!.lr).toBeLessThan(0.01);
    expect(r.stdout).toMatch(new RegExp(`early stopping: ${history.length} of 12 epochs trained; kept epoch ${stopped.bestEpoch + 1}`));
    const config = JSON.parse(readFileSync(join(out, 'train', readdirSync(join(out, 'train'))[0]!, 'config.json'), 'utf8')) as { config: Record<string, unknown> };
    expect(config.config).toMatchObject({ lrSchedule: 'cosine', patience: 1 });
  });

  it('train refuses --patience beside --workers and an unknown --lr-schedule, before any work', async () => {
    const both = await run(['train', '--patience', '2', '--workers', '2', '--limit', '100', '--epochs', '1']);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/--patience \(early stopping\) cannot run with --workers 2/);
    const bad = await run(['train', '--lr-schedule', 'linear', '--limit', '100', '--epochs', '1']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/lr-schedule/);
    const zero = await run(['train', '--patience', '0', '--limit', '100', '--epochs', '1']);
    expect(zero.status).toBe(2);
  });

  it('train rejects a bad --workers value', async () => {
    const r = await run(['train', '--workers', '0', '--limit', '100', '--epochs', '1']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--workers 0 is not a positive integer/);
  });
  it('train --workers above the core count trains, and says the workers share the cores', async () => {
    const cores = availableParallelism();
    const out = mkdtempSync(join(tmpdir(), 'trellis-dp-many-'));
    const r = await run(['train', '--dataset', 'mnist', '--limit', '300', '--epochs', '1', '--backend', 'wasm', '--workers', String(cores + 1), '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`note: ${cores + 1} workers share ${cores} core\\(s\\).*--workers ${cores} is usually faster`));
    expect(summaryOf(out).dataParallelWorkers).toBe(cores + 1);
  });

  it('trellis --version names the CLI, core, every technique package, tfjs-core and Node with their versions', async () => {
    const r = await run(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^trellis \d+\.\d+\.\d+$/m);
    expect(r.stdout).toMatch(/^@trellis-ml\/core \d+\.\d+\.\d+$/m);
    for (const t of TECHNIQUES) expect(r.stdout).toMatch(new RegExp(`^${t.package} \\d+\\.\\d+\\.\\d+$`, 'm'));
    expect(r.stdout).toMatch(/^@tensorflow\/tfjs-core 4\.22\.0$/m);
    expect(r.stdout).toContain(`node ${process.version}`);
  });

  it('trellis <technique> --help (or trellis help <technique>) lists the --set keys with their defaults, the same keys its --set check accepts', async () => {
    const help = await run(['retrain-cost', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^ {2}datasets +mnist +mnist,fashion +a comma list, each one of mnist, fashion$/m);
    expect(help.stdout).toMatch(/^ {2}retrainN +mlp 3000, cnn 2000 +mlp 10000, cnn 5000 +a whole number ≥ 1$/m);
    // `trellis help <technique>` is the same page
    const viaHelp = await run(['help', 'retrain-cost']);
    expect(viaHelp.status).toBe(0);
    expect(viaHelp.stdout).toBe(help.stdout);
    expect(parseArgs(['help', 'train'])).toEqual({ command: 'train', flags: { help: true }, params: {} });
    expect(() => parseArgs(['help', 'distill', 'extra'])).toThrow(/unexpected argument "extra"/);
    for (const t of TECHNIQUES) {
      const text = await techniqueHelpText(t.name);
      const listed = [...text.matchAll(/^ {2}(\w+) {2}/gm)].map((m) => m[1]).filter((k) => k !== 'set');
      const bogus = await run([t.name, '--quick', '--backend', 'cpu', '--set', 'noSuchKey=1']);
      expect(bogus.status, t.name).toBe(2);
      const accepted = /use one of: ([\w, ]+)/.exec(bogus.stderr)?.[1]?.split(', ');
      expect(listed.sort(), t.name).toEqual(accepted?.sort());
    }
  });

  it('train --dataset takes fashion as another spelling of fashion-mnist (the techniques\' --set dataset=fashion)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'trellis-alias-'));
    const r = await run(['train', '--dataset', 'fashion', '--limit', '200', '--epochs', '1', '--backend', 'wasm', '--out', out]);
    expect(r.status).toBe(0);
    expect(summaryOf(out).dataset).toBe('fashion-mnist');
  });

  it('refuses a learning rate that is not positive, an unknown --only name, train counts below 1 and a thread count below 1 or above 1024 before any work', async () => {
    for (const lr of ['-1', '0']) {
      const r = await run(['train', '--lr', lr, '--limit', '100', '--epochs', '1', '--backend', 'cpu']);
      expect(r.status, `--lr ${lr}`).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`learning rate ${lr} is not a positive number`));
    }
    const tour = await run(['tour', '--only', 'distill,nope', '--backend', 'cpu']);
    expect(tour.status).toBe(2);
    expect(tour.stderr).toMatch(/--only names "nope", which is not a technique/);
    expect(tour.stderr).toMatch(/pass a comma list of: privacy, /);
    // Checked before the backend starts: no banner, no run directory, and a tour with no baseline epochs
    // used to run every technique first and only then exit 1.
    expect(tour.stdout).not.toMatch(/backend:/);
    for (const [args, message] of [
      [['tour', '--epochs', '0'], /--epochs 0 is not a positive whole number of epochs/],
      [['train', '--dataset', 'cifar'], /--dataset cifar is not one of mnist, fashion-mnist/],
      [['distill', '--seeds', '1,x'], /--seeds 1,x is not a comma-separated list of integers/],
      // these three used to start the backend and leave an empty run directory before failing
      [['train', '--epochs', '0'], /--epochs 0 is not a positive whole number of epochs/],
      [['train', '--batch-size', '0'], /--batch-size 0 is not a positive whole number/],
      [['train', '--limit', '0'], /--limit 0 is not a positive whole number of examples/],
    ] as const) {
      const out = mkdtempSync(join(tmpdir(), 'trellis-badflag-'));
      const r = await run([...args, '--out', out]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout, args.join(' ')).not.toMatch(/backend:/);
      expect(readdirSync(out), args.join(' ')).toEqual([]);
    }
    const threads = await run(['train', '--threads', '0', '--limit', '100', '--epochs', '1', '--backend', 'wasm']);
    expect(threads.status).toBe(2);
    expect(threads.stderr).toMatch(/threads 0 is not a whole number ≥ 1/);
    // 'auto' used to take 5000 to the native check, which refused it, and then fell back to wasm
    const tooMany = await run(['train', '--threads', '5000', '--limit', '100', '--epochs', '1']);
    expect(tooMany.status).toBe(2);
    expect(tooMany.stderr).toMatch(/threads 5000 is more than the 1024 any backend takes/);
  });
});
