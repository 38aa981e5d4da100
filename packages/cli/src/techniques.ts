import type { TechniqueExperiment } from '@trellis-ml/core';

/** A technique subcommand slot: its name and how to load its experiment. */
export interface TechniqueEntry {
  name: string;
  package: string;
  description: string;
  load(): Promise<TechniqueExperiment>;
}

/**
 * The technique subcommands, in tour order. Each technique package exports `experiment`; the
 * CLI imports it only when its subcommand runs.
 */
export const TECHNIQUES: TechniqueEntry[] = [];
