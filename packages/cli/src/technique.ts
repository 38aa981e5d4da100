import { TrellisError, type ExperimentOptions, type ExperimentResult } from '@trellis-ml/core';
import { TECHNIQUES } from './techniques.js';

/** Runs a technique's reproduction by subcommand name. */
export async function runTechnique(name: string, options: ExperimentOptions): Promise<ExperimentResult> {
  const entry = TECHNIQUES.find((t) => t.name === name);
  if (!entry) {
    throw new TrellisError('UNKNOWN_COMMAND', `there is no technique "${name}"`, `use one of: ${TECHNIQUES.map((t) => t.name).join(', ') || '(none installed)'}`);
  }
  const experiment = await entry.load();
  return experiment.run(options);
}
