import { describe, expect, it } from 'vitest';
import type { TrainerPlugin } from '@trellis-ml/core';
import { checkPluginConformance, type ConformanceFixture, type ConformanceOptions, type ConformanceResult } from './conformance.js';

/**
 * Registers the Trellis plugin conformance suite in vitest: one test per check (contract, hook names, sync tape
 * hooks, trains, no tensor leak, no batch reads, state round trip, dispose frees, deterministic, no epoch leak, resume matches).
 *
 * ```ts
 * describePluginConformance('my-plugin', () => myPlugin({ strength: 0.1 }));
 * ```
 */
export function describePluginConformance(
  name: string,
  factory: (fixture: ConformanceFixture) => TrainerPlugin,
  options: ConformanceOptions = {},
): void {
  describe(`plugin conformance: ${name}`, () => {
    let results: Promise<ConformanceResult[]> | null = null;
    const get = () => (results ??= checkPluginConformance(factory, options));
    for (const check of ['contract', 'hook-names', 'sync-tape-hooks', 'trains', 'no-tensor-leak', 'no-batch-reads', 'state-round-trip', 'dispose-frees', 'deterministic', 'no-epoch-leak', 'resume-matches']) {
      // the first test waits for every check's training runs: not vitest's 5 s default in a plugin author's project
      it(check, { timeout: 120_000 }, async () => {
        const r = (await get()).find((x) => x.check === check);
        expect(r, `check ${check} did not run`).toBeDefined();
        expect(r!.ok, r!.message).toBe(true);
      });
    }
  });
}
