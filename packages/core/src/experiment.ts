import type { Claim } from './claims.js';
import { TrellisError } from './errors.js';

/** How big a reproduction to run: `quick` for the tour and CI, `full` for the spec's study. */
export type ExperimentMode = 'quick' | 'full';

/** What every technique's reproduction takes (the CLI passes its flags through). */
export interface ExperimentOptions {
  mode: ExperimentMode;
  /** Base seed; multi-seed studies use `seeds` (default: `[seed, seed+1, seed+2]` in full mode). */
  seed: number;
  seeds?: number[];
  /** Root directory for run records (default `runs`). */
  out: string;
  /** Show progress. */
  progress?: boolean;
  /** Extra technique-specific options (`--set key=value` on the CLI passes the value as a string). */
  params?: Record<string, string | number | boolean>;
  /** Line logger (default: console.log). */
  log?: (line: string) => void;
  /**
   * Continue the newest interrupted run of this technique under `out` (same seeds and settings),
   * replaying the units its journal finished (only for experiments that are {@link TechniqueExperiment.resumable}).
   */
  resume?: boolean;
}

/** What every reproduction returns. */
export interface ExperimentResult {
  /** The run directory (`<out>/<name>/<timestamp>`). */
  runDir: string;
  /** Path of `summary.json`. */
  summaryPath: string;
  /** Path of `report.html`. */
  reportPath: string;
  /** The claims the run checked. */
  claims: Claim[];
  /** Headline figures. */
  summary: Record<string, unknown>;
}

/** A technique's entry point, as the `trellis` CLI discovers it. */
export interface TechniqueExperiment {
  /** Subcommand name, e.g. `privacy`. */
  name: string;
  /** One-line description for `trellis --help`. */
  description: string;
  run(options: ExperimentOptions): Promise<ExperimentResult>;
  /** Whether `run` journals its units and honours {@link ExperimentOptions.resume} (`trellis <name> --resume`). */
  resumable?: boolean;
  /** Its `--set` keys in a mode: the defaults and what each accepts (`trellis <name> --help` lists them). */
  parameters?(mode: ExperimentMode): ParamSchema;
  /**
   * Checks the `--set` values of a run as `run` does before it loads anything: each key's rule and the
   * checks that weigh one key against another (e.g. privacy's `liraModels=1`). Throws what `run` would
   * (`UNKNOWN_PARAM`, `BAD_PARAM`, …); loads no data and trains nothing, so `trellis <name>` calls it before
   * the backend starts. Without it the CLI checks each key against {@link TechniqueExperiment.parameters} alone.
   */
  checkParams?(options: Pick<ExperimentOptions, 'mode' | 'seed' | 'params'>): void;
}

/** The `--set` keys of a reproduction in one mode: each key's default (null: unset) and the rules {@link applyParams} checks. */
export interface ParamSchema {
  /** The preset's fields (a config object of the technique). */
  defaults: object;
  rules?: Readonly<Record<string, ParamRule>>;
}

function showValue(v: unknown): string {
  if (v === undefined || v === null) return '–';
  if (Array.isArray(v)) return v.length ? v.join(',') : '(empty)';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/**
 * The rows of a technique's `--set` table: key, quick default, full default and what the key accepts
 * (its rule, or the default's type), one line each in the order of the quick schema's keys then any
 * key only the full schema or the rules name. Example row: `epochs  3  15  a whole number ≥ 1`.
 */
export function describeParams(quickSchema: ParamSchema, fullSchema: ParamSchema): string[][] {
  const quick = { defaults: quickSchema.defaults as Record<string, unknown>, rules: quickSchema.rules };
  const full = { defaults: fullSchema.defaults as Record<string, unknown>, rules: fullSchema.rules };
  const keys = [...new Set([...Object.keys(quick.defaults), ...Object.keys(full.defaults), ...Object.keys(quick.rules ?? {})])];
  return keys.map((k) => {
    const rule = quick.rules?.[k] ?? full.rules?.[k];
    const sample = quick.defaults[k] ?? full.defaults[k];
    const type = typeOfPresetValue(sample, rule);
    const constrained = rule && (rule.choices || rule.integer || [rule.min, rule.max, rule.above, rule.below].some((b) => b !== undefined));
    const element = constrained ? describeRule(rule) : type === 'boolean' ? 'true or false' : type.startsWith('number') ? 'a number' : 'text';
    return [k, showValue(quick.defaults[k]), showValue(full.defaults[k]), type.endsWith('[]') ? `a comma list, each ${element}` : element];
  });
}

/**
 * The largest seed core's `Rng` tells apart: it keeps a seed's low 32 bits (`seed >>> 0`), so seed
 * 2^32 + 1 trains exactly as seed 1, and −1 as 4294967295.
 */
export const MAX_SEED = 2 ** 32 - 1;

/**
 * Throws `BAD_SEED` unless `seed` is a seed a run uses as written: an integer from 0 to {@link MAX_SEED}, the
 * seeds core's 32-bit `Rng` tells apart (a run record naming 4294967297 for a run of seed 1 would lie).
 * `what` names the seed in the message as the user wrote it (e.g. `--seed 4294967297`).
 */
export function checkRunSeed(seed: number, what = `seed ${seed}`): void {
  if (Number.isInteger(seed) && seed >= 0 && seed <= MAX_SEED) return;
  const runsAs = Number.isFinite(seed) ? ` (core's random generator keeps the low 32 bits, so the run would use seed ${Math.trunc(seed) >>> 0} while its record says ${seed})` : '';
  throw new TrellisError('BAD_SEED', `${what} is not a seed from 0 to ${MAX_SEED}${runsAs}`, `pass a whole number from 0 to ${MAX_SEED}, e.g. 1`);
}

/**
 * The seeds a run uses: explicit `seeds` (distinct whole numbers, else `BAD_SEEDS`; two that core's 32-bit
 * `Rng` reads as one seed, such as 1 and 2^32 + 1, count as a repeat), else one seed in quick mode and three
 * in full mode (`seed`, `seed + 1`, `seed + 2`). Every seed must be one {@link checkRunSeed} accepts, 0 to
 * {@link MAX_SEED} (`BAD_SEED`).
 */
export function experimentSeeds(options: ExperimentOptions): number[] {
  if (options.seeds && options.seeds.length) {
    const seeds = options.seeds;
    const integers = seeds.every(Number.isInteger);
    // the generator seed each one runs as (Rng keeps 32 bits)
    const as32 = seeds.map((s) => s >>> 0);
    const later = integers ? seeds.map((_, i) => i).filter((i) => as32.indexOf(as32[i]!) !== i) : [];
    const repeated = later.map((i) => seeds[i]!);
    if (repeated.length || !integers) {
      // a later seed whose first 32-bit twin is another number
      const aliases = later.filter((i) => seeds[as32.indexOf(as32[i]!)] !== seeds[i]).map((i) => `${seeds[i]} runs as ${seeds[as32.indexOf(as32[i]!)]}`);
      const what = !integers ? 'are not all whole numbers'
        : aliases.length ? `name one generator seed twice (seeds are 32-bit: ${aliases.join(', ')})` : `repeat ${[...new Set(repeated)].join(', ')}`;
      throw new TrellisError('BAD_SEEDS', `seeds ${seeds.join(',')} ${what}: a repeated seed reruns the same run and shrinks the spread the report gives`,
        'pass distinct whole numbers, e.g. --seeds 1,2,3');
    }
    seeds.forEach((seed) => checkRunSeed(seed, `seed ${seed} of seeds ${seeds.join(',')}`));
    return seeds;
  }
  checkRunSeed(options.seed);
  const seeds = options.mode === 'full' ? [options.seed, options.seed + 1, options.seed + 2] : [options.seed];
  const beyond = seeds.find((s) => s > MAX_SEED);
  if (beyond !== undefined) {
    throw new TrellisError('BAD_SEED', `seed ${options.seed} in full mode runs seeds ${seeds.join(', ')}, and ${beyond} is past ${MAX_SEED}: core's 32-bit random generator would run it as seed ${beyond >>> 0}`,
      `pass a seed of ${MAX_SEED - seeds.length + 1} or less in full mode, or name the seeds (e.g. --seeds 1,2,3)`);
  }
  return seeds;
}

/** How {@link applyParams} reads a value: as the preset field's type, or as given here. */
export type ParamType = 'number' | 'string' | 'boolean' | 'number[]' | 'string[]';

/**
 * What values one `--set` key accepts. {@link applyParams} checks an overridden value (each element of
 * a list) against its rule before the technique runs, so a typo or an out-of-range value fails at once
 * with the allowed values in the message instead of minutes into a study.
 */
export interface ParamRule {
  /** Read the value as this type (for a key whose preset value is null, undefined or an empty list, or a key the preset leaves out). */
  type?: ParamType;
  /** Whole numbers only. */
  integer?: boolean;
  /** Inclusive bounds. */
  min?: number;
  max?: number;
  /** Exclusive bounds. */
  above?: number;
  below?: number;
  /** The strings a string field (or each element of a string list) may take. */
  choices?: readonly string[];
  /** The fewest elements a list may have (default 0). */
  minLength?: number;
  /** A sentence added to the fix of a rejected value, e.g. what each choice means. */
  hint?: string;
  /** Other spellings of a string choice, read as the choice they name (e.g. `{ 'fashion-mnist': 'fashion' }`). */
  aliases?: Readonly<Record<string, string>>;
}

/** Options of {@link applyParams}. */
export interface ApplyParamsOptions {
  /** The technique's name, for error messages (e.g. `distill`). */
  technique: string;
  /** What a key the preset does not have does: `'throw'` (default, `UNKNOWN_PARAM`) or `'ignore'`. */
  unknownKeys?: 'throw' | 'ignore';
  /** Per-key rules: types for keys the preset cannot show, and the values each key accepts. */
  rules?: Readonly<Record<string, ParamRule>>;
}

function typeOfPresetValue(value: unknown, rule: ParamRule | undefined): ParamType {
  if (rule?.type) return rule.type;
  if (Array.isArray(value)) return typeof value[0] === 'string' ? 'string[]' : 'number[]';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'boolean';
  return 'string';
}

function describeRule(rule: ParamRule): string {
  if (rule.choices) return `one of ${rule.choices.join(', ')}`;
  const bounds = [
    rule.min !== undefined ? `≥ ${rule.min}` : '', rule.above !== undefined ? `> ${rule.above}` : '',
    rule.max !== undefined ? `≤ ${rule.max}` : '', rule.below !== undefined ? `< ${rule.below}` : '',
  ].filter(Boolean);
  return `${rule.integer ? 'a whole number' : 'a number'}${bounds.length ? ` ${bounds.join(' and ')}` : ''}`;
}

function checkRule(technique: string, key: string, raw: unknown, value: unknown, rule: ParamRule | undefined): void {
  if (!rule) return;
  const list = Array.isArray(value) ? value : [value];
  const fail = (what: string): never => {
    throw new TrellisError('BAD_PARAM', `${technique}: --set ${key}=${String(raw)}: ${what}`, `pass ${Array.isArray(value) ? `a comma list of ${rule.minLength === 1 ? 'one or more ' : rule.minLength ? `at least ${rule.minLength} ` : ''}values, each ` : ''}${describeRule(rule)}${rule.hint ? ` (${rule.hint})` : ''}`);
  };
  if (Array.isArray(value) && value.length < (rule.minLength ?? 0)) fail(`needs at least ${rule.minLength} value(s)`);
  for (const v of list) {
    if (typeof v === 'number') {
      if (rule.integer && !Number.isInteger(v)) fail(`${v} is not a whole number`);
      if ((rule.min !== undefined && v < rule.min) || (rule.max !== undefined && v > rule.max)
        || (rule.above !== undefined && !(v > rule.above)) || (rule.below !== undefined && !(v < rule.below))) fail(`${v} is out of range`);
    } else if (typeof v === 'string' && rule.choices && !rule.choices.includes(v)) {
      fail(`"${v}" is not allowed`);
    }
  }
}

/**
 * A copy of `preset` with the `--set key=value` overrides of `params` applied, each value read as the
 * type of the preset's field (or `rules[key].type`): a number, a boolean (`true`/`false`, `1`/`0`), a
 * number list or a string list (`'1,2,3'` or `'1 2 3'`), or a string. A value that is not of that type
 * throws `BAD_PARAM`, and so does one its rule rejects (range, whole number, choices, list length); a
 * key the preset does not have and no rule names throws `UNKNOWN_PARAM` naming the keys (or is skipped
 * with `unknownKeys: 'ignore'`). Example:
 * `applyParams({ epochs: 5, datasets: ['mnist'] }, { epochs: '0' }, { technique: 't', rules: { epochs: { integer: true, min: 1 } } })`
 * throws `BAD_PARAM` ("t: --set epochs=0: 0 is out of range"; fix: "pass a whole number ≥ 1").
 */
export function applyParams<T extends object>(preset: T, params: ExperimentOptions['params'], options: ApplyParamsOptions): T {
  const out = { ...preset } as Record<string, unknown>;
  const rules = options.rules ?? {};
  const number = (key: string, raw: unknown, text: string): number => {
    const v = Number(raw);
    if (text.trim() === '' || !Number.isFinite(v)) {
      const example = out[key] ?? preset[key as keyof T];
      throw new TrellisError('BAD_PARAM', `${options.technique}: --set ${key}=${String(raw)} is not a number`, `pass a number for ${key}${example !== undefined && example !== null ? `, e.g. --set ${key}=${Array.isArray(example) ? example.join(',') : JSON.stringify(example)}` : ''}`);
    }
    return v;
  };
  const boolean = (key: string, raw: unknown): boolean => {
    if (raw === true || raw === 'true' || raw === '1' || raw === 1) return true;
    if (raw === false || raw === 'false' || raw === '0' || raw === 0) return false;
    throw new TrellisError('BAD_PARAM', `${options.technique}: --set ${key}=${String(raw)} is not true or false`, `pass --set ${key}=true or --set ${key}=false`);
  };
  for (const [k, v] of Object.entries(params ?? {})) {
    // own keys only: `in` and a plain lookup also found Object.prototype's (`--set constructor=1` ran, ignored)
    const rule = Object.hasOwn(rules, k) ? rules[k] : undefined;
    if (!Object.hasOwn(out, k) && !rule) {
      if (options.unknownKeys === 'ignore') continue;
      const known = [...new Set([...Object.keys(out), ...Object.keys(rules)])];
      throw new TrellisError('UNKNOWN_PARAM', `${options.technique} has no parameter "${k}"`, `use one of: ${known.join(', ')}`);
    }
    // own keys: `aliases.constructor` (Object) was read as the alias of "constructor" and passed the choices check
    const alias = (item: string): string => (rule?.aliases && Object.hasOwn(rule.aliases, item) ? rule.aliases[item]! : item);
    const items = (): string[] => String(v).split(/[,\s]+/).filter(Boolean);
    const type = typeOfPresetValue(out[k], rule);
    const value = type === 'number[]' ? items().map((s) => number(k, s, s))
      : type === 'string[]' ? items().map(alias)
        : type === 'number' ? number(k, v, String(v))
          : type === 'boolean' ? boolean(k, v)
            : alias(String(v));
    checkRule(options.technique, k, v, value, rule);
    out[k] = value;
  }
  return out as T;
}
