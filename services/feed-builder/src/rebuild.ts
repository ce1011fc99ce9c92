/**
 * Lazy rebuilds. The read API, finding no feed for a reader, takes the feed's lease (SET NX PX) and pushes the
 * user's id on `feed:rebuild`; it answers from the database, marked `partial`, until the feed is built. Here each
 * request is popped (BRPOP: a request lost in a crash is asked for again once its lease runs out) and the feed is
 * built from the replica:
 *   1. the user must be active, else a short-lived `inactive` mark tells the read API to keep reading the database
 *      (fan-out skips inactive users, so a feed kept for them would go stale);
 *   2. the replica's replay position is read *before* the snapshot: every event at or below it is in the snapshot,
 *      and it becomes the build's sequence (`buildSequence`);
 *   3. the CTE without the pulled authors, and the pulled authors the user sees, are written by `feedBuild`, which
 *      keeps whatever newer events wrote during the build and marks the feed built until the activity deadline.
 * A build runs between chunks of the consumer (the same lock), so no fan-out decision read before the snapshot
 * can land after it.
 */
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { FeedKeyspace } from '@bgc/cache/feed-keys';
import { buildSequence } from '@bgc/cache/feed-score';
import type { FeedRedis } from '@bgc/cache/feed-scripts';
import { buildFeed } from '@bgc/cache/feed-scripts';
import { feedRebuild, userActivity, viewerPulledAuthors } from '@bgc/queries/feeds';
import { run } from '@bgc/queries/query';
import type { FeedSettings } from './config.ts';
import { postEntry } from './fanout.ts';
import type { PulledAuthors } from './pulled.ts';
import type { ReplicaClock } from './replica.ts';

export type RebuildOutcome = 'built' | 'inactive' | 'already';

/** What a rebuild reads and writes with. */
export interface RebuildDeps {
  db: pg.Pool;
  store: FeedRedis;
  keys: FeedKeyspace;
  settings: FeedSettings;
  pulled: PulledAuthors;
  clock: ReplicaClock;
}

export async function rebuildFeed(
  deps: RebuildDeps,
  userId: string,
): Promise<{ outcome: RebuildOutcome; entries: number }> {
  const { db, store, keys, settings } = deps;
  if ((await store.hexists(keys.guards(userId), '@built')) === 1) {
    await store.del(keys.building(userId));
    return { outcome: 'already', entries: 0 };
  }
  const [activity] = await run(db, userActivity, [userId]);
  const deadline = activity?.is_active ? activity.active_at.getTime() + settings.activeMs : 0;
  if (deadline <= Date.now() + 1000) {
    await store
      .multi()
      .set(keys.inactive(userId), '1', 'PX', settings.inactiveMarkMs)
      .del(keys.building(userId))
      .exec();
    return { outcome: 'inactive', entries: 0 };
  }
  const lsn = await deps.clock.position();
  const pulled = deps.pulled.all();
  const now = Date.now();
  const until = new Date(now + 60_000);
  // one more than the cap: when there are more, the build trims one and marks the feed trimmed, so a reader paging
  // past its end reads the database. The window first (a few weekly partitions); only a feed with fewer posts in
  // it than the cap looks further back, as the read API's windows do
  const want = settings.cap + 1;
  let rows = await run(db, feedRebuild, [userId, pulled, new Date(now - settings.windowMs), until, want]);
  if (rows.length < want) rows = await run(db, feedRebuild, [userId, pulled, '-infinity', until, want]);
  const pulls = pulled.length > 0 ? await run(db, viewerPulledAuthors, [userId, pulled]) : [];
  await buildFeed(store, keys, userId, {
    sequence: buildSequence(lsn),
    cap: settings.cap,
    expireAtMs: deadline,
    entries: rows.map(postEntry),
    pulls: pulls.map((p): [string, 'f' | 'p'] => [p.author_id, p.friend ? 'f' : 'p']),
  });
  return { outcome: 'built', entries: Math.min(rows.length, settings.cap) };
}

/** Waits for the next rebuild request (a blocking pop on its own connection); null when the wait ran out. */
export async function nextRequest(blocking: Redis, keys: FeedKeyspace, timeoutSeconds: number): Promise<string | null> {
  const popped = await blocking.brpop(keys.rebuildRequests(), timeoutSeconds);
  return popped?.[1] ?? null;
}

/** Up to `count` more requests that are already waiting, without waiting (RPOP with a count). */
export async function moreRequests(blocking: Redis, keys: FeedKeyspace, count: number): Promise<string[]> {
  if (count <= 0) return [];
  return (await blocking.rpop(keys.rebuildRequests(), count)) ?? [];
}
