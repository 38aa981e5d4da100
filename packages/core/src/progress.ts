/** A progress reporter: a bar on a TTY, plain lines otherwise (CI logs stay readable). */
export interface Progress {
  /** Advances to `done` of `total`, with a short status text. */
  update(done: number, status?: string): void;
  /** Ends the bar and prints a final line. */
  finish(status?: string): void;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  label: string;
  total: number;
  /** Stream to write to (default stderr). */
  stream?: NodeJS.WriteStream;
  /** Force plain lines or a bar; default: bar when the stream is a TTY. */
  tty?: boolean;
  /** Silence output entirely. */
  silent?: boolean;
}

/** Creates a {@link Progress}. Plain mode prints at most ~10 lines per bar. */
export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? Boolean(stream.isTTY);
  const start = Date.now();
  let lastPlain = -1;
  const line = (done: number, status: string): string => {
    const secs = ((Date.now() - start) / 1000).toFixed(1);
    return `${options.label} ${done}/${options.total} ${status} (${secs}s)`;
  };
  return {
    update(done, status = '') {
      if (options.silent) return;
      if (tty) {
        const width = 24;
        const filled = Math.round((done / Math.max(1, options.total)) * width);
        stream.write(`\r${options.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${options.total} ${status}   `);
      } else {
        const decile = Math.floor((done / Math.max(1, options.total)) * 10);
        if (decile !== lastPlain && decile < 10) {
          lastPlain = decile;
          stream.write(line(done, status) + '\n');
        }
      }
    },
    finish(status = '') {
      if (options.silent) return;
      stream.write((tty ? '\r' : '') + line(options.total, status) + (tty ? '   \n' : '\n'));
    },
  };
}
