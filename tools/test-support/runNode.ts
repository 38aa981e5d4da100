/**
 * Runs a Node script in a child process without blocking the test worker's event loop.
 *
 * `spawnSync` holds the worker's event loop for as long as the child runs; vitest's worker then
 * cannot answer its own RPC in time, and a child that runs over 60 s (a training run on a loaded
 * machine) ends the whole test run with "[vitest-worker]: Timeout calling "onTaskUpdate"", every
 * test green. Tests that start Node (the `trellis` CLI, scripts) use this instead.
 */
import { spawn } from 'node:child_process';

/** What a finished child printed and how it ended (`status` null when a signal ended it). */
export interface NodeRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link runNode}. */
export interface RunNodeOptions {
  /** Kill the child with SIGTERM after this many ms (default 300,000). */
  timeout?: number;
  /** The child's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** `node ...args`: resolves when the child exits, with its status, signal and output (never rejects for a non-zero exit). */
export function runNode(args: string[], options: RunNodeOptions = {}): Promise<NodeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const timer = setTimeout(() => child.kill('SIGTERM'), options.timeout ?? 300_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}
