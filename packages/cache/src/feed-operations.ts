/**
 * Operators' actions on the home feeds, shared by the feed builder's commands and the cache projector's `rebuild
 * --feeds`. A feed is derived data with a lazy rebuild, so "rebuild" is "drop, and let it be built again": dropped
 * feeds are rebuilt from the replica when their owners next read them (answered from the database, `partial`,
 * meanwhile: never an empty feed), or at once when asked for (`requestRebuild`).
 */
import type { Redis } from 'ioredis';
import type { FeedKeyspace } from './feed-keys.ts';
import { presentMembers } from './scripts.ts';

/** The keys of one user's feed (not the lease: a rebuild in progress finishes, and is then dropped with the rest). */
const userFeedKeys = (keys: FeedKeyspace, userId: string) => [
  keys.feed(userId),
  keys.guards(userId),
  keys.pulls(userId),
  keys.inactive(userId),
];

/** Drops one user's feed; true when there was one. */
export async function dropFeed(store: Redis, keys: FeedKeyspace, userId: string): Promise<boolean> {
  return (await store.unlink(...userFeedKeys(keys, userId))) > 0;
}

/**
 * Every feed under the prefix, a SCAN batch at a time (so Redis keeps serving), each batch handed to `each` as the
 * owners' ids. Returns how many feeds there were.
 */
async function scanFeeds(store: Redis, keys: FeedKeyspace, each: (ids: string[]) => Promise<void>): Promise<number> {
  // `<prefix>{u:<id>}:feed…`: the pattern from a real key, so it follows the keyspace's naming
  const sample = keys.guards('*');
  let found = 0;
  let cursor = '0';
  do {
    const [next, batch] = await store.scan(cursor, 'MATCH', sample, 'COUNT', 1000);
    cursor = next;
    const ids = batch.map((k) => /\{u:([^}]+)\}/.exec(k)?.[1]).filter((id): id is string => id !== undefined);
    if (ids.length > 0) await each(ids);
    found += ids.length;
  } while (cursor !== '0');
  return found;
}

/** How many feeds the store holds under the prefix (built or being built). */
export const countFeeds = (store: Redis, keys: FeedKeyspace) => scanFeeds(store, keys, () => Promise.resolve());

/**
 * Drops every feed under the prefix (SCAN + UNLINK); the pulled authors' lists and the registry stay (they are the
 * authors', not a reader's). `onProgress` hears the running count after each batch. Returns how many were dropped.
 */
export function dropAllFeeds(
  store: Redis,
  keys: FeedKeyspace,
  onProgress: (dropped: number) => void = () => undefined,
): Promise<number> {
  let dropped = 0;
  return scanFeeds(store, keys, async (ids) => {
    await store.unlink(...ids.flatMap((id) => userFeedKeys(keys, id)));
    dropped += ids.length;
    onProgress(dropped);
  });
}

/** Asks the builder to rebuild one user's feed now (what the read API does on a miss). */
export async function requestRebuild(store: Redis, keys: FeedKeyspace, userId: string, leaseMs = 30_000) {
  await store.set(keys.building(userId), `ops-${Date.now()}`, 'PX', leaseMs, 'NX');
  await store.lpush(keys.rebuildRequests(), userId);
}

export interface FeedStatus {
  built: boolean;
  /** the CDC sequence it was built at */
  builtAt: string | null;
  entries: number;
  trimmed: boolean;
  /** ms until it expires (its owner's activity deadline), -1 without, -2 absent */
  ttlMs: number;
  building: boolean;
  inactive: boolean;
  pulled: Record<string, string>;
}

export async function feedStatus(store: Redis, keys: FeedKeyspace, userId: string): Promise<FeedStatus> {
  const [guards, entries, ttlMs, building, inactive, pulls] = await Promise.all([
    store.hmget(keys.guards(userId), '@built', '@trimmed'),
    store.zcard(keys.feed(userId)),
    store.pttl(keys.guards(userId)),
    store.exists(keys.building(userId)),
    store.exists(keys.inactive(userId)),
    store.hgetall(keys.pulls(userId)),
  ]);
  return {
    built: guards[0] !== null,
    builtAt: guards[0] ?? null,
    entries,
    trimmed: guards[1] !== null,
    ttlMs,
    building: building === 1,
    inactive: inactive === 1,
    pulled: Object.fromEntries(presentMembers(pulls)),
  };
}
