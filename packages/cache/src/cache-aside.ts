/**
 * Cache-aside reads with stampede protection and no stale sets (Facebook memcache's leases, NSDI 2013 §3.2.1).
 *
 *  - Single-flight: concurrent `get`s of one key in a process share one lookup (and one load).
 *  - Lease: a caller that misses in Redis takes `<key>:lease` (SET NX PX, same hash tag as the key) with a random
 *    token. Only the holder loads from the database and fills; the others poll Redis for the fill for up to
 *    `leaseWaitMs`, then load for themselves without filling, so one load per key per lease period reaches the
 *    database however many processes miss at once.
 *  - The fill is a script that writes only while the lease still holds the holder's token (and not over a newer
 *    stored version), and removes the lease. `invalidate` deletes the entry and the lease together.
 *
 * Why a stale set cannot happen: for a fill to carry old data, its load must have read before a write committed.
 * The lease was taken before that load, and the write's invalidation is sent after its commit, so the invalidation
 * comes after the lease was taken and deletes it: the fill then finds no lease (or a newer caller's, with another
 * token) and stores nothing, while the caller still gets what it read. Without the lease check in the fill, the old
 * value would sit in Redis until its TTL. A lease that expired during a load slower than `leaseMs` is refused the
 * same way. This holds as long as every write to the data behind a key is followed by `invalidate` of that key (or
 * anything else that deletes the entry and its lease).
 *
 * An entry is one string per key, `<version>|<json>`, and `<version>|` for "not found" (negative caching, shorter
 * TTL); every TTL has ± `jitter` so a cohort of fills does not expire together. Values go through JSON, from Redis
 * or from `load` alike: what `load` returns must survive JSON.stringify. Redis errors are treated as misses
 * without a fill (the value comes from `load`) and reported to `onError`; `load`'s errors reach the caller.
 */
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster, Redis } from 'ioredis';
import type { L1Cache } from './l1-cache.ts';

export interface CacheAsideOptions {
  /** base TTL of a filled entry */
  ttlMs: number;
  /** ± share of the TTLs, so a cohort of fills does not expire together; default 0.1 */
  jitter?: number;
  /** how long a "not found" is remembered; default 5_000 */
  negativeTtlMs?: number;
  /** how long one caller fleet-wide holds the refill lease; longer than a typical load; default 2_000 */
  leaseMs?: number;
  /** how long a caller that lost the lease waits for the holder's fill before loading itself (no fill); default 250 */
  leaseWaitMs?: number;
  /** optional in-process level in front of Redis */
  l1?: L1Cache;
  /** once per L1 hit and once per lookup that reached Redis (callers that joined another's lookup are not counted) */
  onLookup?: (keyspace: string, outcome: 'l1_hit' | 'hit' | 'negative_hit' | 'miss') => void;
  /** a Redis command failed (the lookup went on without Redis) */
  onError?: (keyspace: string, error: unknown) => void;
}

/** version: fixed-width string (`versions.ts`); newer wins */
export interface Loaded<T> {
  value: T;
  version?: string;
}

export type Lookup<T> = { value: T; from: 'l1' | 'redis' | 'db' } | { value: null; from: 'l1' | 'redis' | 'db' };

export const leaseKey = (key: string) => `${key}:lease`;

// KEYS: entry, lease. ARGV: token, leaseMs. → {1, entry} found | {2} lease taken | {0} someone else holds it
const LEASE = `
local entry = redis.call('GET', KEYS[1])
if entry then return {1, entry} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {0}`;

// KEYS: entry, lease. ARGV: token, entry, version, ttlMs. → 1 filled | 0 lease lost | -1 a newer version is stored
const FILL = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
local current = redis.call('GET', KEYS[1])
if current then
  local bar = string.find(current, '|', 1, true)
  if bar and string.sub(current, 1, bar - 1) > ARGV[3] then return -1 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
return 1`;

// KEYS: lease. ARGV: token. Gives the lease up (the load failed), unless it is someone else's by now.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

export const CACHE_ASIDE_SCRIPTS = {
  cacheAsideLease: { numberOfKeys: 2, lua: LEASE },
  cacheAsideFill: { numberOfKeys: 2, lua: FILL },
  cacheAsideRelease: { numberOfKeys: 1, lua: RELEASE },
};

interface CacheAsideCommands {
  cacheAsideLease(key: string, lease: string, token: string, leaseMs: number): Promise<[number, string?]>;
  cacheAsideFill(
    key: string,
    lease: string,
    token: string,
    entry: string,
    version: string,
    ttlMs: number,
  ): Promise<number>;
  cacheAsideRelease(lease: string, token: string): Promise<number>;
}

/** The L1's mark of a key known not to exist (L1 cannot hold null). */
const NOT_FOUND = Symbol('not found');

/** Redis failed; the lookup goes on without it. */
const REDIS_FAILED = Symbol('redis failed');

export class CacheAside {
  readonly #redis: (Redis | Cluster) & CacheAsideCommands;
  readonly #ttlMs: number;
  readonly #jitter: number;
  readonly #negativeTtlMs: number;
  readonly #leaseMs: number;
  readonly #leaseWaitMs: number;
  readonly #l1: L1Cache | undefined;
  readonly #onLookup: CacheAsideOptions['onLookup'];
  readonly #onError: CacheAsideOptions['onError'];
  readonly #inflight = new Map<string, Promise<Lookup<unknown>>>();

  constructor(redis: Redis | Cluster, options: CacheAsideOptions) {
    const { ttlMs, jitter = 0.1, negativeTtlMs = 5_000, leaseMs = 2_000, leaseWaitMs = 250 } = options;
    for (const [name, value] of Object.entries({ ttlMs, negativeTtlMs, leaseMs, leaseWaitMs: leaseWaitMs + 1 })) {
      if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`CacheAside ${name} out of range`);
    }
    if (!(jitter >= 0 && jitter < 1)) throw new RangeError('CacheAside jitter must be in [0, 1)');
    for (const [name, script] of Object.entries(CACHE_ASIDE_SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, script);
    }
    this.#redis = redis as (Redis | Cluster) & CacheAsideCommands;
    this.#ttlMs = ttlMs;
    this.#jitter = jitter;
    this.#negativeTtlMs = negativeTtlMs;
    this.#leaseMs = leaseMs;
    this.#leaseWaitMs = leaseWaitMs;
    this.#l1 = options.l1;
    this.#onLookup = options.onLookup;
    this.#onError = options.onError;
  }

  /** key: the full Redis key (caller builds it, hash-tagged); keyspace: a label for metrics */
  get<T>(keyspace: string, key: string, load: () => Promise<Loaded<T> | null>): Promise<Lookup<T>> {
    const held = this.#l1?.get(key);
    if (held !== undefined) {
      this.#onLookup?.(keyspace, 'l1_hit');
      return Promise.resolve(held === NOT_FOUND ? { value: null, from: 'l1' } : { value: held as T, from: 'l1' });
    }
    const flying = this.#inflight.get(key);
    if (flying) return flying as Promise<Lookup<T>>;
    const flight: Promise<Lookup<T>> = this.#lookup(keyspace, key, load).finally(() => {
      if (this.#inflight.get(key) === flight) this.#inflight.delete(key);
    });
    this.#inflight.set(key, flight);
    return flight;
  }

  /** deletes entries and kills outstanding leases so an in-flight fill of old data is refused; also drops them from L1 */
  async invalidate(keys: string[]): Promise<void> {
    for (const key of keys) {
      // a lookup in flight may have read the old entry: its joiners and its L1 fill would outlive the invalidation
      this.#inflight.delete(key);
      this.#l1?.delete(key);
    }
    // sent in this same tick, so every lookup that starts from now on reads after the DELs (same connection, in order)
    await Promise.all(keys.map((key) => this.#redis.del(key, leaseKey(key))));
  }

  async #lookup<T>(keyspace: string, key: string, load: () => Promise<Loaded<T> | null>): Promise<Lookup<T>> {
    const reservation = this.#l1?.reserve(key);
    try {
      const stored = await this.#redisStep(keyspace, () => this.#redis.get(key));
      if (stored === REDIS_FAILED) return await this.#loadWithoutFill(load);
      if (stored !== null) {
        const value = this.#decode<T>(stored);
        this.#onLookup?.(keyspace, value === null ? 'negative_hit' : 'hit');
        this.#toL1(key, reservation, value, stored);
        return { value, from: 'redis' } as Lookup<T>;
      }
      this.#onLookup?.(keyspace, 'miss');
      return await this.#miss(keyspace, key, load, reservation);
    } finally {
      if (reservation !== undefined) this.#l1?.release(key, reservation);
    }
  }

  /** Takes the lease and fills, or waits for the holder's fill, or (it is late) loads without filling. */
  async #miss<T>(
    keyspace: string,
    key: string,
    load: () => Promise<Loaded<T> | null>,
    reservation: number | undefined,
  ): Promise<Lookup<T>> {
    const token = crypto.randomBytes(12).toString('base64url');
    const lease = leaseKey(key);
    const deadline = Date.now() + this.#leaseWaitMs;
    for (let pauseMs = 5; ; pauseMs = Math.min(pauseMs * 2, 50)) {
      const answer = await this.#redisStep(keyspace, () =>
        this.#redis.cacheAsideLease(key, lease, token, this.#leaseMs),
      );
      if (answer === REDIS_FAILED) return this.#loadWithoutFill(load);
      const [state, stored] = answer;
      if (state === 1 && stored !== undefined) {
        const value = this.#decode<T>(stored);
        this.#toL1(key, reservation, value, stored);
        return { value, from: 'redis' } as Lookup<T>;
      }
      if (state === 2) return this.#loadAndFill(keyspace, key, load, token, reservation);
      const left = deadline - Date.now();
      if (left <= 0) return this.#loadWithoutFill(load);
      await sleep(Math.min(pauseMs, left));
    }
  }

  async #loadAndFill<T>(
    keyspace: string,
    key: string,
    load: () => Promise<Loaded<T> | null>,
    token: string,
    reservation: number | undefined,
  ): Promise<Lookup<T>> {
    const lease = leaseKey(key);
    let loaded: Loaded<T> | null;
    let entry: string;
    try {
      loaded = await load();
      entry = this.#encode(loaded);
    } catch (err) {
      // let the next caller take the lease now rather than wait for it to expire
      await this.#redisStep(keyspace, () => this.#redis.cacheAsideRelease(lease, token));
      throw err;
    }
    const ttlMs = this.#jittered(loaded ? this.#ttlMs : this.#negativeTtlMs);
    const filled = await this.#redisStep(keyspace, () =>
      this.#redis.cacheAsideFill(key, lease, token, entry, loaded?.version ?? '', ttlMs),
    );
    const value = this.#decode<T>(entry);
    // a refused fill (lease gone: invalidated meanwhile) may be old data: the caller gets it, no cache keeps it
    if (filled === 1) this.#toL1(key, reservation, value, entry);
    return { value, from: 'db' } as Lookup<T>;
  }

  async #loadWithoutFill<T>(load: () => Promise<Loaded<T> | null>): Promise<Lookup<T>> {
    const loaded = await load();
    return { value: this.#decode<T>(this.#encode(loaded)), from: 'db' } as Lookup<T>;
  }

  async #redisStep<R>(keyspace: string, step: () => Promise<R>): Promise<R | typeof REDIS_FAILED> {
    try {
      return await step();
    } catch (err) {
      this.#onError?.(keyspace, err);
      return REDIS_FAILED;
    }
  }

  #toL1(key: string, reservation: number | undefined, value: unknown, entry: string) {
    if (reservation === undefined) return;
    const bytes = key.length + entry.length;
    if (value === null) this.#l1?.fill(key, reservation, NOT_FOUND, bytes, this.#negativeTtlMs);
    else this.#l1?.fill(key, reservation, value, bytes);
  }

  #encode(loaded: Loaded<unknown> | null): string {
    if (!loaded) return '|';
    const version = loaded.version ?? '';
    if (version.includes('|')) throw new Error(`a version cannot contain '|': ${version}`);
    const json = JSON.stringify(loaded.value) as string | undefined;
    if (json === undefined) throw new TypeError('a loaded value must be JSON (not undefined or a function)');
    return `${version}|${json}`;
  }

  #decode<T>(entry: string): T | null {
    const json = entry.slice(entry.indexOf('|') + 1);
    return json === '' ? null : (JSON.parse(json) as T);
  }

  #jittered(ms: number): number {
    return Math.max(1, Math.round(ms * (1 + this.#jitter * (2 * Math.random() - 1))));
  }
}
