import { Rng, TrellisError } from '@trellis-ml/core';

/** Index sets of the shared target/shadow protocol (indices into one pooled dataset). */
export interface MIASplit {
  /** Target members (the target model's training set). */
  members: Int32Array;
  /** Target non-members (never trained on by the target). */
  nonMembers: Int32Array;
  /** Shadow members / non-members, drawn from the shadow half only (re-split per shadow). */
  shadows: Array<{ members: Int32Array; nonMembers: Int32Array }>;
  /** Everything else (population / unused). */
  population: Int32Array;
}

/** Options of {@link makeMIASplit}. */
export interface MIASplitOptions {
  /** Members per model N (target and each shadow train on N, with N non-members held out). */
  membersPerModel: number;
  /** Number of shadow re-splits k. */
  shadows: number;
  seed: number;
}

/**
 * The CRL/SRCM protocol scaled down: shuffle the pool with `seed`; the first 2N indices are the
 * target half (N members, N non-members), the next 2N the shadow half, re-split 50/50 for each
 * shadow i with seed (seed, i) (shadow splits overlap each other but never touch the target half);
 * the rest is the population.
 */
export function makeMIASplit(poolSize: number, options: MIASplitOptions): MIASplit {
  if (options === null || typeof options !== 'object') {
    throw new TrellisError('BAD_OPTION', `makeMIASplit needs options, got ${String(options)}`, 'pass { membersPerModel, shadows, seed }, e.g. { membersPerModel: 2500, shadows: 1, seed: 1 }');
  }
  if (!(Number.isInteger(poolSize) && poolSize >= 0)) throw new TrellisError('BAD_OPTION', `pool size ${typeof poolSize === 'string' ? `"${poolSize}" (a string)` : poolSize} is not a non-negative integer`, 'pass the number of examples in the pooled dataset (dataset.size)');
  const n = options.membersPerModel;
  if (!(Number.isInteger(n) && n > 0)) throw new TrellisError('BAD_OPTION', `membersPerModel ${n} is not a positive integer`, 'pass the number of members per model, e.g. 2500');
  if (!(Number.isInteger(options.shadows) && options.shadows >= 0)) throw new TrellisError('BAD_OPTION', `shadows ${options.shadows} is not a non-negative integer`, 'pass the number of shadow models, e.g. 1');
  const need = options.shadows > 0 ? 4 * n : 2 * n;
  if (poolSize < need) {
    throw new TrellisError('POOL_TOO_SMALL', `a pool of ${poolSize} examples cannot hold ${options.shadows > 0 ? 'target and shadow halves' : 'a target half'} of ${n} members and ${n} non-members each (${need} needed)`,
      `lower membersPerModel to ≤ ${Math.floor(poolSize / (options.shadows > 0 ? 4 : 2))} or pass a larger pool`);
  }
  const perm = Rng.derive(options.seed, 'mia-split').permutation(poolSize);
  const members = perm.slice(0, n);
  const nonMembers = perm.slice(n, 2 * n);
  const shadowHalf = perm.slice(2 * n, options.shadows > 0 ? 4 * n : 2 * n);
  const shadows: MIASplit['shadows'] = [];
  for (let i = 0; i < options.shadows; i++) {
    const p = Rng.derive(options.seed, 'shadow-split', i).permutation(shadowHalf.length);
    const sm = new Int32Array(n);
    const so = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      sm[k] = shadowHalf[p[k]!]!;
      so[k] = shadowHalf[p[n + k]!]!;
    }
    shadows.push({ members: sm, nonMembers: so });
  }
  const population = perm.slice(options.shadows > 0 ? 4 * n : 2 * n);
  const split = { members, nonMembers, shadows, population };
  checkSplit(split);
  return split;
}

/**
 * Throws `MEMBERS_OVERLAP` when an index is both a member and a non-member (of the target or of a
 * shadow), and `TARGET_SHADOW_OVERLAP` when a shadow model's data touches the target half.
 */
export function checkSplit(split: Pick<MIASplit, 'members' | 'nonMembers'> & Partial<Pick<MIASplit, 'shadows'>>): void {
  checkDisjoint(split.members, split.nonMembers, 'target');
  const target = new Set<number>([...split.members, ...split.nonMembers]);
  for (const [i, s] of (split.shadows ?? []).entries()) {
    checkDisjoint(s.members, s.nonMembers, `shadow ${i}`);
    for (const j of [...s.members, ...s.nonMembers]) {
      if (target.has(j)) {
        throw new TrellisError('TARGET_SHADOW_OVERLAP', `example ${j} is in both the target half and shadow ${i}'s data`,
          'draw shadow members and non-members from data disjoint from the target members and non-members (makeMIASplit does this)', { index: j, shadow: i });
      }
    }
  }
}

/** Throws `MEMBERS_OVERLAP` when `members` and `nonMembers` share an index (or either repeats one). */
export function checkDisjoint(members: ArrayLike<number>, nonMembers: ArrayLike<number>, what = 'the'): void {
  const seen = new Set<number>();
  for (const m of Array.from(members)) {
    if (seen.has(m)) throw new TrellisError('DUPLICATE_INDEX', `${what} members list example ${m} twice`, 'list each member once');
    seen.add(m);
  }
  const overlap: number[] = [];
  const seenOut = new Set<number>();
  for (const o of Array.from(nonMembers)) {
    if (seen.has(o)) overlap.push(o);
    if (seenOut.has(o)) throw new TrellisError('DUPLICATE_INDEX', `${what} non-members list example ${o} twice`, 'list each non-member once');
    seenOut.add(o);
  }
  if (overlap.length > 0) {
    throw new TrellisError('MEMBERS_OVERLAP',
      `${overlap.length} example(s) of ${what} split are both members and non-members (first: ${overlap.slice(0, 5).join(', ')})`,
      'make members and non-members disjoint: an example the model trained on cannot be a non-member (deduplicate the pool first if it has repeated images)',
      { overlap: overlap.slice(0, 20), count: overlap.length });
  }
}

/**
 * LiRA reference-model membership: `models` random halves of an audit pool of `poolSize`
 * examples; `keep[m][j] = 1` when example j is in model m's training set. Each model trains on
 * exactly ⌊poolSize/2⌋ examples.
 */
export function liraKeepMasks(poolSize: number, models: number, seed: number): Uint8Array[] {
  if (!(Number.isInteger(poolSize) && poolSize >= 0)) throw new TrellisError('BAD_OPTION', `audit pool size ${poolSize} is not a non-negative integer`, 'pass the number of audit examples, e.g. 2 × membersPerModel');
  if (!(Number.isInteger(models) && models >= 0)) throw new TrellisError('BAD_OPTION', `${models} LiRA models is not a non-negative integer`, 'pass the number of models to train, e.g. 8');
  const out: Uint8Array[] = [];
  for (let m = 0; m < models; m++) {
    const p = Rng.derive(seed, 'lira-keep', m).permutation(poolSize);
    const keep = new Uint8Array(poolSize);
    for (let k = 0; k < Math.floor(poolSize / 2); k++) keep[p[k]!] = 1;
    out.push(keep);
  }
  return out;
}
