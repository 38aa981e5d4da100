import { applyParams, experimentSeeds, TrellisError, type ExperimentOptions, type ExperimentResult, type TechniqueExperiment } from '@trellis-ml/core';
import { checkSeedRange, MAX_SEED } from './args.js';
import { TECHNIQUES } from './techniques.js';

/** Runs a technique's reproduction by subcommand name. */
export async function runTechnique(name: string, options: ExperimentOptions): Promise<ExperimentResult> {
  const entry = TECHNIQUES.find((t) => t.name === name);
  if (!entry) {
    throw new TrellisError('UNKNOWN_COMMAND', `there is no technique "${name}"`, `use one of: ${TECHNIQUES.map((t) => t.name).join(', ') || '(none installed)'}`);
  }
  const experiment = await entry.load();
  checkCanResume(experiment, options);
  return experiment.run(options);
}

/**
 * Refuses `--resume` for an experiment that does not journal its study (`resumable` unset, e.g. a
 * third-party technique), naming the installed ones that do.
 * @throws TrellisError `CANNOT_RESUME`
 */
export function checkCanResume(experiment: TechniqueExperiment, options: Pick<ExperimentOptions, 'resume'>): void {
  if (options.resume && !experiment.resumable) {
    throw new TrellisError('CANNOT_RESUME', `trellis ${experiment.name} does not resume interrupted runs (its study is not journaled)`,
      `run it again without --resume; the studies that resume are: ${TECHNIQUES.filter((t) => t.resumable).map((t) => t.name).join(', ')}`);
  }
}

/**
 * Checks a study's `--set` values before the CLI starts the backend, as the technique's `run` would: with the
 * technique's own {@link TechniqueExperiment.checkParams} when it has one (every first-party technique: each
 * key's rule and the checks across keys, such as privacy's `liraModels=1`), else against its schema
 * ({@link TechniqueExperiment.parameters} of `mode`, with core's `applyParams`). A technique with neither (e.g.
 * a third-party one) is left to check its values in `run`.
 * @throws TrellisError `UNKNOWN_PARAM` / `BAD_PARAM`, or what the technique's check throws.
 */
export function checkTechniqueParams(experiment: TechniqueExperiment, options: Pick<ExperimentOptions, 'mode' | 'seed' | 'params'>): void {
  if (experiment.checkParams) {
    experiment.checkParams(options);
    return;
  }
  const { mode, params } = options;
  if (!experiment.parameters || !params || Object.keys(params).length === 0) return;
  const { defaults, rules } = experiment.parameters(mode);
  applyParams(defaults, params, { technique: experiment.name, ...(rules ? { rules } : {}) });
}

/**
 * The seeds a technique study runs (core's `experimentSeeds`: `--seeds` as given, else `--seed` in quick
 * mode and `--seed`, `+1`, `+2` with `--full`), checked before the CLI starts the backend: a repeated
 * seed (core's check), and a seed outside 0 to 2^32 − 1 that core's 32-bit `Rng` would run as another.
 * @throws TrellisError `BAD_SEEDS` (a repeat, from core) or `BAD_SEED` (out of range).
 */
export function studySeeds(options: Pick<ExperimentOptions, 'mode' | 'seed' | 'seeds'>): number[] {
  const seeds = experimentSeeds({ ...options, out: '' });
  if (options.seeds?.length) {
    for (const s of seeds) checkSeedRange(s, `--seeds ${options.seeds.join(',')}: ${s}`);
    return seeds;
  }
  checkSeedRange(options.seed, `--seed ${options.seed}`);
  const beyond = seeds.find((s) => s > MAX_SEED);
  if (beyond !== undefined) {
    throw new TrellisError('BAD_SEED', `--seed ${options.seed} --full runs seeds ${seeds.join(', ')}, and ${beyond} is past ${MAX_SEED}: core's 32-bit random generator would run it as seed ${beyond >>> 0}`,
      `pass --seed ${MAX_SEED - seeds.length + 1} or less with --full, or name the seeds with --seeds (e.g. --seeds 1,2,3)`);
  }
  return seeds;
}
