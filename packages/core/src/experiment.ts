import type { Claim } from './claims.js';

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
