import { TrellisError, type ExperimentOptions, type ExperimentResult, type TechniqueExperiment } from '@trellis-ml/core';
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

