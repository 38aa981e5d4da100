import * as tf from '@tensorflow/tfjs-core';
import { coreVersion, describeParams, experimentSeeds, GEMM_CHOICES, MAX_BACKEND_THREADS, MAX_SEED, packageOf, TrellisError, useBackend, type BackendName } from '@trellis-ml/core';
import { checkFlags, choiceFlag, commandFlags, intFlag, modeFlag, numberFlag, parseArgs, seedFlag, seedsFlag } from './args.js';
import { loadPluginUnderCheck, runCheckPlugin } from './checkPlugin.js';
import { announceOnInterrupt } from './interrupt.js';
import { checkCanResume, checkTechniqueParams, runTechnique } from './technique.js';
import { TECHNIQUES } from './techniques.js';
import { checkTourOptions, runTour } from './tour.js';
import { checkTrainOptions, runTrain, type TrainCommandOptions } from './train.js';

const BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'trellis-native', 'wasm', 'cpu'] as const;

/**
 * The subcommands `trellis` runs: `train`, `tour`, `list`, `help`, one per technique (in tour order) and `check-plugin`.
 * Any other word is an unknown command; `trellis --help` has a usage line for each.
 */
export function commandNames(): string[] {
  return ['train', 'tour', 'list', 'help', ...TECHNIQUES.map((t) => t.name), 'check-plugin'];
}

/** The `UNKNOWN_COMMAND` error for `command`, naming the subcommands there are. */
function unknownCommand(command: string): TrellisError {
  return new TrellisError('UNKNOWN_COMMAND', `unknown command "${command}"`,
    `use one of: ${commandNames().join(', ')} (\`trellis --help\` describes each)`);
}

/** The text of `trellis --help`: a usage line for each of {@link commandNames}, with the flags each takes. */
export function helpText(): string {
  const flagsOf = (command: string): string => (commandFlags(command).includes('full') ? '[--quick|--full]' : '[--quick]');
  return [
    'trellis — safe, private, fair, calibrated and efficient training on TensorFlow.js',
    '',
    'Usage:',
    `  trellis train ${flagsOf('train')} [--dataset mnist|fashion-mnist] [--model mlp|cnn] [--epochs N] [--batch-size N] [--lr X] [--limit N] [--resume]`,
    '                [--lr-schedule constant|cosine]   (cosine: the rate decays from --lr to 0 over the run)',
    '                [--patience N]  (early stopping: 10% of the training examples held out; stop after N epochs without a lower',
    '                                 held-out loss and keep the best epoch\'s weights)',
    '                [--workers N]   (data-parallel on N worker threads, one per core: each trains on its shard of every batch)',
    '                (--full: 10 epochs unless --epochs is given; --quick, the default: 3)',
    `  trellis tour  ${flagsOf('tour')} [--epochs N] [--only a,b]      baseline + every technique in quick mode, one report`,
    '  trellis list                                 the technique subcommands, each with its package and what it does',
    ...TECHNIQUES.map((t) => `  trellis ${t.name.padEnd(16)} ${flagsOf(t.name)} [--seeds 1,2,3] [--set key=value]${t.resumable ? ' [--resume]' : ''}   ${t.description}`),
    '  trellis help [<technique>]                   this text, or a technique\'s --set keys (the same as `trellis <technique> --help`)',
    '  trellis check-plugin <module.js> [--export name]   the plugin conformance suite on the plugin factory the module exports',
    '                (default export unless --export; an export `conformanceOptions` gives the suite\'s options; exit 1 when a check fails)',
    '',
    `Common flags: --seed N (0 to ${MAX_SEED}, default 1), --backend auto|tensorflow-gpu|tensorflow|trellis-native|wasm|cpu (default auto),`,
    `              --threads N (1 to ${MAX_BACKEND_THREADS}; wasm runs at most 8), --out DIR (default runs),`,
    '              --progress (progress bars; --no-progress, the default, prints plain lines),',
    '              --gemm auto|openblas|onednn|openblas-threads (trellis-native: the library of its matrix products; default auto)',
    '',
    '`trellis <technique> --help` (or `trellis help <technique>`) lists its --set keys with their quick and full defaults; `trellis --version` the installed versions.',
  ].join('\n');
}

/**
 * The text of `trellis <technique> --help`: its usage line and a table of its `--set` keys with the quick
 * and full defaults and what each accepts (from the technique's own `parameters`, the same schema its
 * `--set` check uses).
 */
export async function techniqueHelpText(name: string): Promise<string> {
  const entry = TECHNIQUES.find((t) => t.name === name);
  if (!entry) throw new TrellisError('UNKNOWN_COMMAND', `there is no technique "${name}"`, `use one of: ${TECHNIQUES.map((t) => t.name).join(', ')}`);
  const experiment = await entry.load();
  const head = [`trellis ${name} [--quick|--full] [--seeds 1,2,3] [--set key=value ...]`, `  ${entry.description}`, ''];
  if (!experiment.parameters) return [...head, `${entry.package} does not list its --set keys; see its README.`].join('\n');
  const rows = [['--set key', 'quick', 'full', 'accepts'], ...describeParams(experiment.parameters('quick'), experiment.parameters('full'))];
  const clip = (v: string): string => (v.length > 40 ? `${v.slice(0, 37)}...` : v);
  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => clip(r[c]!).length)));
  const table = rows.map((r) => `  ${r.slice(0, 3).map((v, c) => clip(v).padEnd(widths[c]!)).join('  ')}  ${r[3]}`.trimEnd());
  return [...head, 'Parameters (--set key=value; lists are comma-separated; booleans true or false):', ...table, '',
    'Common flags: see `trellis --help`.'].join('\n');
}

/**
 * The text of `trellis --version`: the CLI's version, core's and each technique package's (as
 * installed beside it), tfjs-core's and Node's — what a bug report needs.
 */
export async function versionText(): Promise<string> {
  const lines = [`trellis ${(await packageOf(import.meta.url)).version}`, `@trellis-ml/core ${await coreVersion()}`];
  for (const t of TECHNIQUES) {
    let version = 'unknown (this Node has no import.meta.resolve)';
    if (typeof import.meta.resolve === 'function') {
      try {
        version = (await packageOf(import.meta.resolve(t.package))).version;
      } catch {
        version = 'not installed';
      }
    }
    lines.push(`${t.package} ${version}`);
  }
  lines.push(`@tensorflow/tfjs-core ${tf.version_core}`, `node ${process.version}`);
  return lines.join('\n');
}

/** Runs the CLI with `argv` (without node and script). Returns the exit code. */
export async function main(argv: string[], log: (line: string) => void = (l) => console.log(l)): Promise<number> {
  try {
    const { command, flags, params, target } = parseArgs(argv);
    // An unknown command is an error whatever flags come with it (`trellis frobnicate --help` used to print the usage, exit 0).
    if (command !== null && !commandNames().includes(command)) throw unknownCommand(command);
    if (flags.version) {
      log(await versionText());
      return 0;
    }
    const technique = TECHNIQUES.find((t) => t.name === command);
    if (flags.help && technique) {
      log(await techniqueHelpText(technique.name));
      return 0;
    }
    if (flags.help || command === null || command === 'help') {
      log(helpText());
      return 0;
    }
    if (command === 'list') {
      for (const t of TECHNIQUES) log(`${t.name}\t${t.package}\t${t.description}`);
      return 0;
    }
    checkFlags(command, flags);
    const seed = seedFlag(flags);
    const out = typeof flags.out === 'string' ? flags.out : 'runs';
    const progress = flags.progress === true;
    const backendName = choiceFlag(flags, 'backend', BACKENDS, 'auto') as BackendName;
    const threads = flags.threads !== undefined ? intFlag(flags, 'threads', 1) : undefined;
    const gemm = flags.gemm !== undefined ? choiceFlag(flags, 'gemm', GEMM_CHOICES, 'auto') : undefined;
    if ((command === 'train' || command === 'tour') && Object.keys(params).length) {
      throw new TrellisError('BAD_ARGS', `\`trellis ${command}\` takes no --set (it was given ${Object.keys(params).map((k) => `--set ${k}=…`).join(', ')}, which would be ignored)`,
        command === 'train' ? 'use train\'s own flags (--dataset, --model, --epochs, --batch-size, --lr, --lr-schedule, --patience, --limit, --workers)' : 'use --epochs and --only; a technique\'s --set keys go to `trellis <technique>`');
    }
    // Every flag is read before the backend starts, so a wrong value fails at once, before any banner.
    const mode = modeFlag(flags);
    const trainOptions: TrainCommandOptions = {
      dataset: choiceFlag(flags, 'dataset', ['mnist', 'fashion-mnist'] as const, 'mnist', { fashion: 'fashion-mnist', fmnist: 'fashion-mnist' }),
      model: choiceFlag(flags, 'model', ['mlp', 'cnn'] as const, 'mlp'),
      epochs: intFlag(flags, 'epochs', command === 'tour' ? 3 : mode === 'full' ? 10 : 3),
      batchSize: intFlag(flags, 'batch-size', 128),
      learningRate: numberFlag(flags, 'lr', 1e-3),
      ...(flags['lr-schedule'] !== undefined ? { lrSchedule: choiceFlag(flags, 'lr-schedule', ['constant', 'cosine'] as const, 'constant') } : {}),
      ...(flags.patience !== undefined ? { patience: intFlag(flags, 'patience', 5) } : {}),
      seed, out, progress, resume: flags.resume === true, log,
      ...(flags.limit !== undefined ? { limit: intFlag(flags, 'limit', 60000) } : {}),
      ...(flags.workers !== undefined
        ? { workers: intFlag(flags, 'workers', 1), backend: backendName, ...(threads !== undefined ? { threads } : {}), ...(gemm !== undefined ? { gemm } : {}) }
        : {}),
    };
    if (command === 'train') checkTrainOptions(trainOptions);
    const only = typeof flags.only === 'string' ? flags.only.split(',') : undefined;
    const tourOptions = command === 'tour' ? { seed, out, epochs: trainOptions.epochs, progress, log, ...(only ? { only } : {}) } : null;
    if (tourOptions !== null) checkTourOptions(tourOptions);
    const seeds = seedsFlag(flags);
    if (technique) {
      // what the study's run would refuse after the banner: --resume without a journal, a bad --set value, a repeated seed
      const experiment = await technique.load();
      checkCanResume(experiment, { resume: flags.resume === true });
      checkTechniqueParams(experiment, { mode, seed, params });
      experimentSeeds({ mode, seed, out, ...(seeds ? { seeds } : {}) });
    }
    // the module is loaded before the backend starts, so a wrong path or export fails at once
    const pluginUnderCheck = command === 'check-plugin' ? await loadPluginUnderCheck(target, typeof flags.export === 'string' ? flags.export : undefined) : null;
    const backend = await useBackend(backendName, { ...(threads !== undefined ? { threads } : {}), ...(gemm !== undefined ? { gemm } : {}) });
    log(`backend: ${backend.name} (${backend.kernels}${backend.threads ? `, ${backend.threads} thread(s)` : ''})`);
    if (backend.libraries) log(`  ${backend.libraries}`);
    const gemmIgnored = backend.notes?.find((n) => n.startsWith('gemm '));
    if (gemmIgnored) log(`  ${gemmIgnored}`);
    const nativeSkipped = backend.notes?.find((n) => n.startsWith('trellis-native:'));
    if (nativeSkipped) log(`  native kernels not used — ${nativeSkipped.slice('trellis-native:'.length).trim()}`);
    if (pluginUnderCheck) return await runCheckPlugin(pluginUnderCheck, log);
    if (command !== 'tour') announceOnInterrupt(command, out, flags.resume === true);
    if (command === 'train') {
      await runTrain(trainOptions);
      return 0;
    }
    if (command === 'tour') {
      const { steps } = await runTour(tourOptions!);
      return steps.every((s) => s.ok) ? 0 : 1;
    }
    const r = await runTechnique(command, { mode, seed, out, progress, params, log, ...(seeds ? { seeds } : {}), ...(flags.resume === true ? { resume: true } : {}) });
    for (const c of r.claims) log(`${c.holds ? 'holds' : 'DOES NOT HOLD'}  ${c.id}: measured ${c.measured.toFixed(4)} ${c.comparator} ${c.threshold}`);
    log(`report: ${r.reportPath}`);
    return 0;
  } catch (e) {
    if (e instanceof TrellisError) {
      console.error(`error: ${e.problem}\n  fix: ${e.fix}`);
      return 2;
    }
    throw e;
  }
}
