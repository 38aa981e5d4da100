/**
 * Every error Trellis throws on bad input: it names what was wrong (`problem`) and what to do
 * about it (`fix`), and carries a stable `code` a caller can branch on.
 */
export class TrellisError extends Error {
  /** Stable machine-readable code, e.g. `LABEL_OUT_OF_RANGE`. */
  readonly code: string;
  /** What was wrong. */
  readonly problem: string;
  /** What the user should do. */
  readonly fix: string;
  /** Extra structured details (step, plugin, shapes, ...). */
  readonly details: Record<string, unknown>;

  constructor(code: string, problem: string, fix: string, details: Record<string, unknown> = {}, options: { cause?: unknown } = {}) {
    super(`${problem} — ${fix}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TrellisError';
    this.code = code;
    this.problem = problem;
    this.fix = fix;
    this.details = details;
  }
}

/** Throws a {@link TrellisError} when `condition` is false. */
export function check(
  condition: unknown,
  code: string,
  problem: string | (() => string),
  fix: string,
  details?: Record<string, unknown>,
): asserts condition {
  if (!condition) {
    throw new TrellisError(code, typeof problem === 'function' ? problem() : problem, fix, details);
  }
}
