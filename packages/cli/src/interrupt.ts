import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Whether `--resume` has something to continue in `runDir`, the run directory of an interrupted
 * `trellis <command>`: for `train`, a checkpoint the Trainer finished writing (`checkpoint/` or
 * `checkpoint-prev/`, renamed into place once complete); for a technique study, a `journal.jsonl` with
 * at least one finished unit. False for `null` (the run had not created its directory yet).
 */
export function hasResumableProgress(command: string, runDir: string | null): boolean {
  if (runDir === null) return false;
  if (command === 'train') return existsSync(join(runDir, 'checkpoint')) || existsSync(join(runDir, 'checkpoint-prev'));
  const journal = join(runDir, 'journal.jsonl');
  try {
    return readFileSync(journal, 'utf8').includes('\n');
  } catch {
    return false;
  }
}

/**
 * What `trellis <command>` prints when `signal` (SIGINT on Ctrl-C, or SIGTERM) stops it. When the run has
 * something to continue ({@link hasResumableProgress} of `runDir`, or `resumed`: the run was itself a
 * `--resume` of one that had), the same command with `--resume` continues after the last finished epoch
 * or unit; otherwise no checkpoint (or unit) was written yet, `--resume` would find nothing, and the
 * message says to run the command again without it.
 */
export function interruptMessage(command: string, signal: string, runDir: string | null, resumed = false): string {
  const train = command === 'train';
  if (resumed || hasResumableProgress(command, runDir)) {
    const unit = train ? 'epoch' : 'unit (see the journal.jsonl of its run directory)';
    return `interrupted (${signal}): what finished is kept — run the same \`trellis ${command}\` command with --resume to continue after the last finished ${unit}`;
  }
  const what = train ? 'no checkpoint was written yet (the first is written when epoch 1 ends)' : 'no unit of the study had finished yet (its journal is empty)';
  return `interrupted (${signal}) before anything could be kept: ${what}, so --resume has nothing to continue — run the same \`trellis ${command}\` command again without --resume`;
}

/** The run directories under `<out>/<command>` (the names, which sort by their timestamps). */
function runDirectories(root: string): string[] {
  try {
    return readdirSync(root).sort();
  } catch {
    return [];
  }
}

/**
 * On Ctrl-C (SIGINT) or SIGTERM during `train` or a technique study, says how to continue before exiting
 * (130 / 143), with {@link interruptMessage} of the run this process started (the newest directory under
 * `<out>/<command>` that was not there when it was called). Registered once per process, by the CLI only.
 */
export function announceOnInterrupt(command: string, out: string, resumed: boolean): void {
  const root = resolve(out, command);
  const before = new Set(runDirectories(root));
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      const created = runDirectories(root).filter((d) => !before.has(d)).pop();
      console.error(`\n${interruptMessage(command, signal, created ? join(root, created) : null, resumed)}`);
      process.exit(code);
    });
  }
}
