import { TrellisError, type ExperimentOptions, type ExperimentResult } from '@trellis-ml/core';
import { TECHNIQUES } from './techniques.js';

/** Runs a technique's reproduction by subcommand name. */
export async function runTechnique(name: string, options: ExperimentOptions): Promise<ExperimentResult> {
  const entry = TECHNIQUES.find((t) => t.name === name);
  if (!entry) {
    throw new TrellisError('UNKNOWN_COMMAND', `there is no technique "${name}"`, `use one of: ${TECHNIQUES.map((t) => t.name).join(', ') || '(none installed)'}`);
  }
  const experiment = await entry.load();
  if (options.resume && !experiment.resumable) {
    throw new TrellisError('CANNOT_RESUME', `trellis ${name} does not resume interrupted runs (its study is not journaled)`,
      `run it again without --resume; the studies that resume are: ${TECHNIQUES.filter((t) => t.resumable).map((t) => t.name).join(', ')}`);
  }
  return experiment.run(options);
}

