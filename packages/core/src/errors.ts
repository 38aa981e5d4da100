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

/** How {@link checkChoice} words its error; both fields have defaults. */
export interface ChoiceWording {
  /** The error code. Default `BAD_OPTION`. */
  code?: string;
  /**
   * The fix to print, or a function of the quoted choices (`'a', 'b'`) that words it. Default:
   * `use one of 'a', 'b', …`.
   */
  fix?: string | ((choices: string) => string);
}

/**
 * Throws unless `value` is one of `allowed` (an option given as a name, e.g. a mode or a method kind).
 * An optional option is checked with `if (value !== undefined) checkChoice(…)`.
 *
 * @example checkChoice(mode, ['quick', 'full'] as const, 'study mode') // mode: 'quick' | 'full' after it
 * @throws TrellisError `wording.code` (default `BAD_OPTION`): `unknown <what> "<value>"` (a value that is not a string
 * unquoted, so `3` is not mistaken for `"3"`), with the choices as the fix.
 */
export function checkChoice<T extends string>(value: unknown, allowed: readonly T[], what: string, wording: ChoiceWording = {}): asserts value is T {
  if (!allowed.includes(value as T)) {
    const choices = allowed.map((a) => `'${a}'`).join(', ');
    const { fix = (c: string) => `use one of ${c}` } = wording;
    throw new TrellisError(wording.code ?? 'BAD_OPTION', `unknown ${what} ${typeof value === 'string' ? `"${value}"` : String(value)}`,
      typeof fix === 'function' ? fix(choices) : fix, { value, allowed: [...allowed] });
  }
}
