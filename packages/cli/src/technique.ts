import { applyParams, TrellisError, type ExperimentOptions, type ExperimentResult, type TechniqueExperiment } from '@trellis-ml/core';
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
