import { checkRunSeed, TrellisError } from '@trellis-ml/core';

/** Parsed command line: the subcommand, flags and `--set key=value` params. */
export interface ParsedArgs {
  command: string | null;
  /** The one argument after the command that takes one (`trellis check-plugin <module>`); absent otherwise. */
  target?: string;
  flags: Record<string, string | boolean>;
  params: Record<string, string | number | boolean>;
}

const BOOLEAN_FLAGS = new Set(['quick', 'full', 'resume', 'help', 'version', 'progress', 'no-progress']);

/**
 * Parses `argv` (without node and script): `cmd --flag value --bool --set k=v`; `help <cmd>` reads as
 * `<cmd> --help`. A boolean flag also takes
 * `=true` / `=false` (false leaves it unset); any other value after it is an error. Unknown flags are kept
 * for the command to check.
 */
export function parseArgs(argv: string[]): ParsedArgs {
  const flags: Record<string, string | boolean> = {};
  const params: Record<string, string | number | boolean> = {};
  let command: string | null = null;
  let target: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h') {
      flags.help = true;
    } else if (a.startsWith('--')) {
      let key = a.slice(2);
      let value: string | undefined;
      const eq = key.indexOf('=');
      if (eq >= 0) {
        value = key.slice(eq + 1);
        key = key.slice(0, eq);
      }
      if (BOOLEAN_FLAGS.has(key)) {
        // `--resume=true` used to be kept as the string "true" (read as not resuming) and `--full=false` as a truthy "false"
        if (value !== undefined && value !== 'true' && value !== 'false') {
          throw new TrellisError('BAD_ARGS', `--${key}=${value} is not true or false`, `write --${key} on its own (or --${key}=true / --${key}=false)`);
        }
        if (value !== 'false') flags[key] = true;
        continue;
      }
      if (value === undefined) {
        value = argv[++i];
        if (value === undefined || value.startsWith('--')) {
          throw new TrellisError('BAD_ARGS', `--${key} needs a value`, `write --${key} <value>`);
        }
      }
      if (key === 'set') {
        const [k, ...rest] = value.split('=');
        if (!k || rest.length === 0) throw new TrellisError('BAD_ARGS', `--set ${value} is not key=value`, 'write --set key=value');
        // Passed through as written: each technique parses its own parameters (numbers, lists, booleans).
        params[k] = rest.join('=');
      } else flags[key] = value;
    } else if (command === null) command = a;
    else if (command === 'check-plugin' && target === null) target = a;
    else if (command === 'help' && !flags.help) {
      // `trellis help distill` reads as `trellis distill --help`
      command = a;
      flags.help = true;
    } else throw new TrellisError('BAD_ARGS', `unexpected argument "${a}"`, 'see `trellis --help`');
  }
  return { command, flags, params, ...(target !== null ? { target } : {}) };
}

/** Flags every command takes (`trellis --help` lists them under "Common flags"). */
export const COMMON_FLAGS: readonly string[] = ['seed', 'out', 'progress', 'no-progress', 'backend', 'threads', 'gemm', 'help', 'version'];
const COMMAND_FLAGS: Readonly<Record<string, readonly string[]>> = {
  train: ['quick', 'full', 'dataset', 'model', 'epochs', 'batch-size', 'lr', 'lr-schedule', 'patience', 'limit', 'resume', 'workers'],
  // the tour is quick only: --quick is accepted (and changes nothing), --full is refused by checkFlags
  tour: ['quick', 'epochs', 'only'],
  'check-plugin': ['export'],
};
/** The common flags `check-plugin` takes: the conformance suite picks its own seeds and writes no run. */
const CHECK_PLUGIN_COMMON: readonly string[] = ['backend', 'threads', 'gemm', 'help', 'version'];
/** Flags of every technique subcommand (besides the common ones and `--set`). */
const TECHNIQUE_FLAGS: readonly string[] = ['quick', 'full', 'seeds', 'resume'];

/**
 * The flags `command` (`train`, `tour` or a technique subcommand) takes besides {@link COMMON_FLAGS}
 * (and a technique's `--set`): what `checkFlags` accepts, and what its usage line in `trellis --help` shows.
 */
export function commandFlags(command: string): readonly string[] {
  return COMMAND_FLAGS[command] ?? TECHNIQUE_FLAGS;
}

/**
 * Rejects a flag `command` does not take (a typo would otherwise be ignored silently), naming the
 * flags it does take, as well as `tour --full` (the tour is quick only) and an empty `--out`. `command`
 * is `train`, `tour` or a technique subcommand.
 */
export function checkFlags(command: string, flags: ParsedArgs['flags']): void {
  if (command === 'tour' && flags.full) {
    throw new TrellisError('BAD_ARGS', '`trellis tour` runs every technique in quick mode; it has no --full',
      'run one technique\'s full study with `trellis <technique> --full` (e.g. `trellis distill --full`)');
  }
  if (flags.out === '') throw new TrellisError('BAD_ARGS', '--out is empty', 'pass the directory runs go under, e.g. --out runs (the default)');
  const allowed = new Set([...(command === 'check-plugin' ? CHECK_PLUGIN_COMMON : COMMON_FLAGS), ...commandFlags(command)]);
  for (const key of Object.keys(flags)) {
    if (!allowed.has(key)) {
      const list = [...allowed].map((f) => `--${f}`).join(', ');
      throw new TrellisError('BAD_ARGS', `\`trellis ${command}\` does not take --${key}`,
        `use one of ${list}${COMMAND_FLAGS[command] ? '' : ', or --set key=value for the technique\'s options'} (see \`trellis --help\`)`);
    }
  }
}

/** A flag's text as a number: `NaN` for an empty or blank value (which `Number` would read as 0, e.g. `--seed=`). */
function numberOf(v: string | boolean): number {
  return typeof v === 'string' && v.trim() === '' ? NaN : Number(v);
}

/** A flag's value as an error message shows it: as written, or quoted when it is empty or blank. */
function shown(v: string | boolean): string {
  return typeof v === 'string' && v.trim() === '' ? JSON.stringify(v) : String(v);
}

/** Reads an integer flag with a default, rejecting non-integers and an empty value. */
export function intFlag(flags: ParsedArgs['flags'], name: string, fallback: number): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = numberOf(v);
  if (!Number.isInteger(n)) throw new TrellisError('BAD_ARGS', `--${name} ${shown(v)} is not an integer`, `pass an integer, e.g. --${name} ${fallback}`);
  return n;
}

/**
 * Reads `--seed` (default 1): an integer from 0 to 4294967295 (core's `checkRunSeed`: the seeds its 32-bit
 * `Rng` tells apart), so the seed a run record names is the seed the run used.
 * @throws TrellisError `BAD_ARGS` (not an integer) or `BAD_SEED` (outside 0 to 2^32 − 1).
 */
export function seedFlag(flags: ParsedArgs['flags']): number {
  const seed = intFlag(flags, 'seed', 1);
  if (flags.seed !== undefined) checkRunSeed(seed, `--seed ${shown(flags.seed)}`);
  return seed;
}

/**
 * Reads `--seeds 1,2,3` (undefined when absent), rejecting an entry that is not an integer, an empty one
 * (`1,,2` is a typo, not seed 0), an empty list, and an entry outside 0 to 4294967295 (core's `checkRunSeed`; core's
 * `experimentSeeds` refuses a repeated seed; the CLI calls it before the backend starts).
 */
export function seedsFlag(flags: ParsedArgs['flags']): number[] | undefined {
  const v = flags.seeds;
  if (v === undefined) return undefined;
  const seeds = String(v).split(',').map(numberOf);
  if (!seeds.every(Number.isInteger)) throw new TrellisError('BAD_ARGS', `--seeds ${shown(v)} is not a comma-separated list of integers`, 'write e.g. --seeds 1,2,3');
  const typed = String(v).split(',');
  seeds.forEach((s, i) => checkRunSeed(s, `--seeds ${shown(v)}: ${typed[i]!.trim()}`));
  return seeds;
}

/** Reads a number flag with a default, rejecting an empty value. */
export function numberFlag(flags: ParsedArgs['flags'], name: string, fallback: number): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = numberOf(v);
  if (!Number.isFinite(n)) throw new TrellisError('BAD_ARGS', `--${name} ${shown(v)} is not a number`, `pass a number, e.g. --${name} ${fallback}`);
  return n;
}

/** Reads a string flag restricted to `choices`; other spellings in `aliases` are read as the choice they name. */
export function choiceFlag<T extends string>(flags: ParsedArgs['flags'], name: string, choices: readonly T[], fallback: T, aliases: Readonly<Record<string, T>> = {}): T {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const v = typeof raw === 'string' ? aliases[raw] ?? raw : raw;
  if (typeof v !== 'string' || !choices.includes(v as T)) {
    throw new TrellisError('BAD_ARGS', `--${name} ${String(raw)} is not one of ${choices.join(', ')}`, `pass one of: ${choices.join(', ')}`);
  }
  return v as T;
}

/** `--quick` / `--full` (default quick); both at once is an error. */
export function modeFlag(flags: ParsedArgs['flags']): 'quick' | 'full' {
  if (flags.quick && flags.full) throw new TrellisError('BAD_ARGS', '--quick and --full were both given', 'pass one of them');
  return flags.full ? 'full' : 'quick';
}
