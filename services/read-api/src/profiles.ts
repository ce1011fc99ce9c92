/**
 * Profiles: the projector's document in Redis (`{u:<id>}:profile`, parts `u`/`uv`, `p`/`pv` and the counts
 * `c`/`cv`), with an in-process L1 in front of it and the database behind it. A document that is missing or partial
 * (evicted, expired, a part dropped, or written before the counts were part of it) is read from the database and
 * written back with the projector's own version-checked `putPart`: a fill never overwrites a newer projection, and a
 * deleted user's tombstone refuses it, so a fill cannot bring a deleted user back.
 *
 * L1 fills go through `reserve`/`fill`: an invalidation that arrives while Redis is being read cancels the fill,
 * so an old document cannot settle in L1 after the message that replaced it.
 */
import type { Keyspace } from '@bgc/cache/keys';
import type { L1Cache } from '@bgc/cache/l1-cache';
import type { ScriptedCluster, ScriptedRedis } from '@bgc/cache/scripts';
import { scriptedPipeline } from '@bgc/cache/scripts';
import { rowVersion } from '@bgc/cache/versions';
import { countsJson } from '@bgc/cache/projections';
import type { Counts } from '@bgc/queries/people';
import { profileDocument } from '@bgc/queries/people';
import { run } from '@bgc/queries/query';
import type { CacheOutcome } from './metrics.ts';
import type { CacheStatus, ReadContext } from './read-context.ts';

export type Row = Record<string, unknown>;

export interface ProfileDocument {
  user: Row;
  profile: Row | null;
  counts: Counts;
}

const NO_COUNTS: Counts = { friends: 0, followers: 0, following: 0, blocking: 0 };

export type ProfileMode = 'l1+redis' | 'redis' | 'db';

const PG_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00$/;

/** row_to_json's UTC timestamps (`…+00:00`) as the CDC events write them (`…Z`). */
function asEvent(row: Record<string, unknown>): Row {
  return Object.fromEntries(
    Object.entries(row).map(([k, v]) => [k, typeof v === 'string' && PG_UTC.test(v) ? `${v.slice(0, -6)}Z` : v]),
  );
}

/** The document in a Redis hash: null when deleted, undefined when missing or partial (read the database). */
function parse(hash: Record<string, string>): ProfileDocument | null | undefined {
  if (hash.deleted !== undefined) return null;
  if (hash.u === undefined || hash.p === undefined || hash.c === undefined) return undefined;
  return { user: JSON.parse(hash.u) as Row, profile: JSON.parse(hash.p) as Row, counts: JSON.parse(hash.c) as Counts };
}

const sizeOf = (key: string, hash: Record<string, string>) =>
  key.length + (hash.u?.length ?? 0) + (hash.p?.length ?? 0) + (hash.c?.length ?? 0) + 64;

export class ProfileStore {
  readonly #redis: ScriptedRedis | ScriptedCluster;
  readonly #keys: Keyspace;
  readonly #l1: L1Cache;
  readonly #ttlMs: number;
  readonly #onLookup: (outcome: CacheOutcome) => void;

  constructor(opts: {
    redis: ScriptedRedis | ScriptedCluster;
    keys: Keyspace;
    l1: L1Cache;
    documentTtlMs: number;
    onLookup: (outcome: CacheOutcome) => void;
  }) {
    this.#redis = opts.redis;
    this.#keys = opts.keys;
    this.#l1 = opts.l1;
    this.#ttlMs = opts.documentTtlMs;
    this.#onLookup = opts.onLookup;
  }

  /** The document (null: no such user, or deleted) and where it came from. */
  async get(
    ctx: ReadContext,
    userId: string,
    mode: ProfileMode,
  ): Promise<{ doc: ProfileDocument | null; from: CacheStatus }> {
    // a request that must see its own write reads the database (and refreshes Redis with what it read)
    if (mode === 'db' || ctx.fresh) {
      this.#onLookup('bypass');
      return { doc: await this.#fill(ctx, userId), from: 'bypass' };
    }
    const key = this.#keys.profile(userId);
    const useL1 = mode === 'l1+redis';
    if (useL1) {
      const held = this.#l1.get(key) as ProfileDocument | undefined;
      if (held) {
        this.#onLookup('l1_hit');
        return { doc: held, from: 'l1' };
      }
    }
    const reservation = useL1 ? this.#l1.reserve(key) : undefined;
    try {
      const hash = await this.#redis.hgetall(key);
      const doc = parse(hash);
      if (doc !== undefined) {
        this.#onLookup(doc ? 'hit' : 'negative_hit');
        if (doc && reservation !== undefined) this.#l1.fill(key, reservation, doc, sizeOf(key, hash));
        return { doc, from: 'hit' };
      }
      this.#onLookup('miss');
      const filled = await this.#fill(ctx, userId);
      // only what Redis now holds may go to L1 (the reservation is cancelled if an invalidation came meanwhile)
      if (filled && reservation !== undefined) this.#l1.fill(key, reservation, filled, sizeOf(key, {}) + 512);
      return { doc: filled, from: 'miss' };
    } finally {
      if (reservation !== undefined) this.#l1.release(key, reservation);
    }
  }

  /** Reads the rows from the database and writes them to Redis with the projector's guarded write. */
  async #fill(ctx: ReadContext, userId: string): Promise<ProfileDocument | null> {
    const [row] = await run(await ctx.db(), profileDocument, [userId]);
    // a deactivated user keeps a document (`u.is_active` false), as the projector writes it: their profile is not
    // shown, but their messages and posts name them, as the database's pages do; only no row at all is null (and
    // not held, so that a user created a moment ago is found once the replica has them)
    if (!row?.u) return null;
    const user = asEvent(row.u);
    const profile = row.p ? asEvent(row.p) : null;
    const key = this.#keys.profile(userId);
    // every part is on the document's key: one slot, so one pipeline on a cluster too
    const writes = scriptedPipeline(this.#redis);
    writes.putPart(key, 'uv', 'u', rowVersion(user.version), JSON.stringify(user), this.#ttlMs);
    if (profile) writes.putPart(key, 'pv', 'p', rowVersion(profile.version), JSON.stringify(profile), this.#ttlMs);
    // no counts row: the user is being deleted (its row went first); shown as zeros, and no part is written
    const { version: countsVersion, ...counts } = row.c ?? { ...NO_COUNTS, version: undefined };
    if (row.c) writes.putPart(key, 'cv', 'c', rowVersion(countsVersion), countsJson(row.c), this.#ttlMs);
    const results = (await writes.exec()) ?? [];
    if (results.every(([err, applied]) => !err && applied === 1)) return { user, profile, counts };
    // refused: Redis holds a newer part, or a tombstone; what it holds is the answer
    const now = parse(await this.#redis.hgetall(key));
    if (now === null) return null;
    return now ?? { user, profile, counts };
  }
}
