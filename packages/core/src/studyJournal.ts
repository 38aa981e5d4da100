import { open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TrellisError } from './errors.js';

/**
 * The journal that lets a long study resume: each finished unit of work (e.g. one seed × dataset ×
 * model block) is appended to `journal.jsonl` in the run directory with its JSON-able result, and a
 * resumed run replays the finished units instead of computing them again.
 *
 * @module
 */

/** One finished unit as a line of `journal.jsonl`. */
interface JournalEntry {
  /** The unit's key (unique within the study, in the order the study visits the units). */
  key: string;
  /** The unit's result. */
  value: unknown;
  /**
   * Sizes of the run's append-only files (`metrics.jsonl` and any {@link StudyJournalOptions.appendOnly})
   * when the unit finished: a resumed run cuts each back to them.
   */
  sizes: Record<string, number>;
  /** Wall-clock seconds the unit took. */
  seconds: number;
}

const TYPED_ARRAYS = { Float32Array, Float64Array, Int32Array, Uint8Array, Uint32Array, Int16Array, Uint16Array, Int8Array } as const;
type TypedArrayName = keyof typeof TYPED_ARRAYS;

/**
 * Encodes a unit's result as JSON text that {@link decodeJournalValue} reads back exactly: plain
 * JSON, plus non-finite numbers (`{"$number":"NaN"}`) and typed arrays (`{"$typed":"Float32Array",
 * "values":[…]}`), which plain JSON would turn into `null` and objects. Example:
 * `encodeJournalValue({ a: NaN })` → `'{"a":{"$number":"NaN"}}'`.
 */
export function encodeJournalValue(value: unknown): string {
  return JSON.stringify(value, function replacer(this: unknown, _key: string, v: unknown) {
    if (typeof v === 'number' && !Number.isFinite(v)) return { $number: String(v) };
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const name = v.constructor.name;
      if (!Object.hasOwn(TYPED_ARRAYS, name)) throw new TrellisError('BAD_JOURNAL_VALUE', `a study unit returned a ${name}, which the journal cannot store`, `return a plain array or one of ${Object.keys(TYPED_ARRAYS).join(', ')}`);
      return { $typed: name, values: Array.from(v as unknown as ArrayLike<number>) };
    }
    return v;
  }) ?? 'null';
}

/** Reads what {@link encodeJournalValue} wrote. */
export function decodeJournalValue(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      if (keys.length === 1 && typeof o.$number === 'string') return Number(o.$number);
      if (keys.length === 2 && typeof o.$typed === 'string' && Object.hasOwn(TYPED_ARRAYS, o.$typed) && Array.isArray(o.values)) {
        return TYPED_ARRAYS[o.$typed as TypedArrayName].from(o.values as number[]);
      }
    }
    return v;
  });
}

/** Options of {@link StudyJournal.open}. */
export interface StudyJournalOptions {
  /**
   * Replay the units a previous, interrupted run of this directory finished (default false: a new
   * run, whose directory must not hold a journal yet).
   */
  resume?: boolean;
  /**
   * Other files of the run directory the study only appends to inside its units (e.g. an energy
   * tracker's `energy-samples.jsonl`); like `metrics.jsonl`, a resumed run cuts each back to its size at
   * the end of the last finished unit.
   */
  appendOnly?: readonly string[];
}

/**
 * A study's journal of finished units, `journal.jsonl` in its run directory (open it with
 * `RunRecord.openJournal`). Wrap each resumable unit in {@link StudyJournal.unit}: in a new run it runs
 * the unit and appends the result; in a resumed run it hands back the stored results of the units
 * the interrupted run finished, in the same order, then runs the rest. Everything a unit's caller
 * needs afterwards must be in the unit's result, and the unit must log its metrics itself (a resumed
 * run cuts `metrics.jsonl`, and the {@link StudyJournalOptions.appendOnly} files, back to the end of the
 * last finished unit, so lines of the unit that was cut short are not kept twice).
 */
export class StudyJournal {
  private next = 0;
  private replayedUnits = 0;

  private constructor(private readonly dir: string, private readonly entries: JournalEntry[], private readonly files: readonly string[]) {}

  /** Opens the journal of the run directory `dir` (see {@link StudyJournalOptions.resume}). */
  static async open(dir: string, options: StudyJournalOptions = {}): Promise<StudyJournal> {
    const path = join(dir, 'journal.jsonl');
    const files = ['metrics.jsonl', ...(options.appendOnly ?? [])];
    const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (!options.resume) {
      if (text !== null && text.length > 0) {
        throw new TrellisError('JOURNAL_EXISTS', `${path} already holds finished units of another run`, 'resume that run (--resume) or write the new run to a fresh directory');
      }
      // created empty at once: a run killed during its first unit is still found to resume (with nothing to replay)
      if (text === null) await writeFile(path, '');
      return new StudyJournal(dir, [], files);
    }
    const entries = parseJournal(text ?? '', path);
    // Cut back what the interrupted unit left: a partial journal line, and its lines in the append-only files.
    if (text !== null && entries.bytes < Buffer.byteLength(text)) await truncate(path, entries.bytes);
    const last = entries.list[entries.list.length - 1];
    for (const file of files) {
      const keep = last?.sizes[file] ?? 0;
      const size = await fileSize(join(dir, file));
      if (size > keep) await truncate(join(dir, file), keep);
    }
    return new StudyJournal(dir, entries.list, files);
  }

  /** How many finished units the journal held when it was opened. */
  get finished(): number {
    return this.entries.length;
  }

  /** How many units this run has replayed from the journal so far. */
  get replayed(): number {
    return this.replayedUnits;
  }

  /**
   * Runs one unit of the study, or replays it. `key` names the unit (e.g. `seed 1 mnist/mlp-bn`); the
   * study must visit its units in the same order every time. The result goes through the journal's
   * encoding in both cases, so a resumed run and an uninterrupted one see the same values.
   */
  async unit<T>(key: string, work: () => Promise<T>): Promise<T> {
    const index = this.next++;
    const stored = this.entries[index];
    if (stored) {
      if (stored.key !== key) {
        throw new TrellisError('RESUME_MISMATCH', `the interrupted run's unit ${index + 1} was "${stored.key}", this run's is "${key}": the study's settings or code changed since`,
          'start the study again without --resume (or resume it with the version and settings it was started with)');
      }
      this.replayedUnits++;
      return stored.value as T; // decoded when the journal was read; each entry is replayed once
    }
    const t = performance.now();
    const value = await work();
    const encoded = encodeJournalValue(value);
    const sizes: Record<string, number> = {};
    for (const file of this.files) sizes[file] = await fileSize(join(this.dir, file));
    const entry = `{"key":${JSON.stringify(key)},"sizes":${JSON.stringify(sizes)},"seconds":${((performance.now() - t) / 1000).toFixed(3)},"value":${encoded}}\n`;
    const handle = await open(join(this.dir, 'journal.jsonl'), 'a');
    try {
      await handle.appendFile(entry);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    return decodeJournalValue(encoded) as T;
  }

  /**
   * {@link StudyJournal.unit} for a study that gathers its results by pushing onto arrays: `work` pushes
   * onto the arrays of `bins` (and may return a value); the journal stores what it pushed and its value.
   * Afterwards each array ends with the stored copies of what the unit pushed, whether the unit ran
   * now or was replayed, so the rest of the study sees the same values either way.
   */
  async collect<R>(key: string, bins: Readonly<Record<string, unknown[]>>, work: () => Promise<R>): Promise<R> {
    const lengths = Object.fromEntries(Object.entries(bins).map(([name, list]) => [name, list.length]));
    const stored = await this.unit(key, async () => {
      const value = await work();
      const pushed = Object.fromEntries(Object.entries(bins).map(([name, list]) => [name, list.slice(lengths[name])]));
      return { pushed, value: value === undefined ? null : value };
    });
    for (const [name, list] of Object.entries(bins)) {
      list.length = lengths[name]!;
      list.push(...(stored.pushed[name] ?? []));
    }
    return stored.value as R;
  }
}

async function fileSize(path: string): Promise<number> {
  return stat(path).then((s) => s.size, (e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return 0;
    throw e;
  });
}

/**
 * The entries of a journal's text and the byte length of its whole lines. A last line without its
 * newline is what a kill during the append leaves: it is dropped (its unit runs again). Any other
 * line that is not an entry is damage.
 */
function parseJournal(text: string, path: string): { list: JournalEntry[]; bytes: number } {
  const list: JournalEntry[] = [];
  let bytes = 0;
  const lines = text.split('\n');
  lines.pop(); // '' after the final newline, or the cut-short last line
  for (const [i, line] of lines.entries()) {
    let entry: Partial<JournalEntry> | null = null;
    try {
      entry = decodeJournalValue(line) as Partial<JournalEntry>;
    } catch {
      entry = null;
    }
    if (!entry || typeof entry.key !== 'string' || !entry.sizes || typeof entry.sizes !== 'object') {
      throw new TrellisError('JOURNAL_DAMAGED', `line ${i + 1} of ${path} is not a journal entry`, 'start the study again without --resume (the journal was edited or damaged)');
    }
    list.push(entry as JournalEntry);
    bytes += Buffer.byteLength(line) + 1;
  }
  return { list, bytes };
}
