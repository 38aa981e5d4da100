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
}

/** The seeds a run uses: explicit `seeds`, else one seed in quick mode and three in full mode. */
export function experimentSeeds(options: ExperimentOptions): number[] {
  if (options.seeds && options.seeds.length) return options.seeds;
  return options.mode === 'full' ? [options.seed, options.seed + 1, options.seed + 2] : [options.seed];
}

/** Options of {@link applyParams}. */
export interface ApplyParamsOptions {
  /** The technique's name, for error messages (e.g. `distill`). */
  technique: string;
  /** What a key the preset does not have does: `'throw'` (default, `UNKNOWN_PARAM`) or `'ignore'`. */
  unknownKeys?: 'throw' | 'ignore';
}

/**
 * A copy of `preset` with the `--set key=value` overrides of `params` applied, each value read as the
 * type of the preset's field: a number, a boolean (`true` / `'true'`, anything else is false), a number
 * list (`'1,2,3'` or `'1 2 3'`) or a string. A value that is not a number where the field is a number
 * (or a list of numbers) throws `BAD_PARAM`; a key the preset does not have throws `UNKNOWN_PARAM` naming
 * the preset's keys (or is skipped with `unknownKeys: 'ignore'`). Checks of allowed values stay with the
 * technique.
 */
export function applyParams<T extends object>(preset: T, params: ExperimentOptions['params'], options: ApplyParamsOptions): T {
  const out = { ...preset } as Record<string, unknown>;
  const number = (key: string, raw: unknown, text: string): number => {
    const v = Number(raw);
    if (text.trim() === '' || !Number.isFinite(v)) {
      throw new TrellisError('BAD_PARAM', `${options.technique}: --set ${key}=${String(raw)} is not a number`, `pass a number for ${key}, e.g. --set ${key}=${JSON.stringify(preset[key as keyof T])}`);
    }
    return v;
  };
  for (const [k, v] of Object.entries(params ?? {})) {
    if (!(k in out)) {
      if (options.unknownKeys === 'ignore') continue;
      throw new TrellisError('UNKNOWN_PARAM', `${options.technique} has no parameter "${k}"`, `use one of: ${Object.keys(out).join(', ')}`);
    }
    const cur = out[k];
    out[k] = Array.isArray(cur) ? String(v).split(/[,\s]+/).filter(Boolean).map((s) => number(k, s, s))
      : typeof cur === 'number' ? number(k, v, String(v))
        : typeof cur === 'boolean' ? v === true || v === 'true'
          : String(v);
  }
  return out as T;
}
