import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadNativeKernels } from '../src/index.js';
import { runNode } from '../../../tools/test-support/runNode.js';

const loaded = loadNativeKernels().loaded;
const FIXTURE = fileURLToPath(new URL('./fixtures/onednn-gemm-under-profiler.mjs', import.meta.url));

describe.skipIf(!loaded)('native GEMM under a sampling profiler', () => {
  it('oneDNN sgemm survives SIGPROF every millisecond (node --cpu-prof)', async () => {
    // Before the signals were held off around the call, this aborted within a second with
    // "corrupted size vs. prev_size while consolidating" (heap corruption inside libdnnl).
    const dir = mkdtempSync(join(tmpdir(), 'trellis-prof-'));
    // Plain Node options: the workspace packages resolve to their built dist, not the test runner's sources.
    const r = await runNode(['--cpu-prof', `--cpu-prof-dir=${dir}`, FIXTURE, '3000'], { timeout: 60_000 });
    expect(r.signal, r.stderr.slice(-2000)).toBeNull();
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    expect(r.stdout).toMatch(/^ok \d+/m);
  });
});
