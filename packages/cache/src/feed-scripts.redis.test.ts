import { describe, expect, test } from 'vitest';
import type { Redis } from 'ioredis';
import { openTestContext } from '@bgc/testkit/context';
import { feedKeyspace } from './feed-keys.ts';
import { buildSequence, timeToMicros } from './feed-score.ts';
import type { FeedEntry, FeedRedis } from './feed-scripts.ts';
import { buildFeed, FeedWrites, registerFeedScripts } from './feed-scripts.ts';
import { sequenceVersion } from './versions.ts';

const seq = (commit: number, index = 1) => sequenceVersion(`["${commit}","${index}"]`);
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const ANN = id(900);
const BOB = id(901);
const entry = (n: number, authorId = ANN): FeedEntry => ({
  statusId: id(n),
  authorId,
  score: timeToMicros(`2026-11-28T10:00:${String(n % 60).padStart(2, '0')}.000001Z`),
});
const DAY = 86_400_000;

async function setUp(name: string) {
  const ctx = await openTestContext(name);
  const store = registerFeedScripts(ctx.redisStore());
  const keys = feedKeyspace(ctx.redisPrefix);
  return { ctx, store, keys };
}

/** A built, empty feed for `user`, as of commit 1. */
const built = (store: FeedRedis, keys: ReturnType<typeof feedKeyspace>, user: string) =>
  buildFeed(store, keys, user, {
    sequence: buildSequence(1n),
    cap: 5,
    expireAtMs: Date.now() + DAY,
    entries: [],
    pulls: [],
  });

const ids = async (store: Redis, key: string) => (await store.zrevrange(key, 0, -1)).map((m) => m.slice(0, 36));

/** Applies writes (one pipeline each) and returns the feed's ids and the guards, to compare states. */
async function state(store: FeedRedis, keys: ReturnType<typeof feedKeyspace>, user: string) {
  return {
    feed: await store.zrange(keys.feed(user), '0', '-1', 'WITHSCORES'),
    guards: await store.hgetall(keys.guards(user)),
    pulls: await store.hgetall(keys.pulls(user)),
  };
}

describe('feed scripts (real Redis)', () => {
  test('no feed, no write: fan-out never leaves a fragment that would look complete', async () => {
    const { ctx, store, keys } = await setUp('feed-absent');
    await using _ = ctx;
    const w = new FeedWrites(store, keys, 5);
    w.add('u1', entry(1), seq(10));
    w.remove('u1', id(1), ANN, seq(11));
    expect(await w.exec()).toEqual([0, 0]);
    expect(await store.exists(keys.feed('u1'), keys.guards('u1'))).toBe(0);
  });

  test('newest first, ties by status id, capped with the oldest leaving (and their guards)', async () => {
    const { ctx, store, keys } = await setUp('feed-order');
    await using _ = ctx;
    await built(store, keys, 'u1');
    const w = new FeedWrites(store, keys, 3);
    const tie = timeToMicros('2026-11-28T10:00:10.000005Z');
    w.add('u1', { statusId: id(2), authorId: ANN, score: tie }, seq(10));
    w.add('u1', { statusId: id(9), authorId: BOB, score: tie }, seq(11));
    w.add('u1', entry(30), seq(12));
    w.add('u1', entry(1), seq(13)); // older than the rest: trimmed at once
    expect(await w.exec()).toEqual([1, 1, 1, 1]);
    expect(await ids(store, keys.feed('u1'))).toEqual([id(30), id(9), id(2)]);
    expect(await store.hexists(keys.guards('u1'), id(1))).toBe(0);
    expect(await store.pttl(keys.feed('u1'))).toBeGreaterThan(DAY - 60_000);
  });

  test('duplicates and out-of-order events converge: a replayed create cannot bring back a delete', async () => {
    const { ctx, store, keys } = await setUp('feed-order-safe');
    await using _ = ctx;
    await built(store, keys, 'u1');
    const events: ((w: FeedWrites) => void)[] = [
      (w) => w.add('u1', entry(1), seq(10)),
      (w) => w.add('u1', entry(2), seq(11)),
      (w) => w.remove('u1', id(1), ANN, seq(20)),
      (w) => w.add('u1', entry(3, BOB), seq(21)),
    ];
    const apply = async (order: number[]) => {
      const w = new FeedWrites(store, keys, 5);
      for (const i of order) events[i]?.(w);
      await w.exec();
    };
    await apply([0, 1, 2, 3]);
    const once = await state(store, keys, 'u1');
    expect(await ids(store, keys.feed('u1'))).toEqual([id(3), id(2)]);
    // the whole stream again (a replay), then backwards, then with duplicates: nothing changes
    await apply([0, 1, 2, 3]);
    await apply([3, 2, 1, 0]);
    await apply([0, 0, 2, 2, 1, 3]);
    expect(await state(store, keys, 'u1')).toEqual(once);
  });

  test('an unfollow drops the author’s entries; a follow brings theirs back, newer than the unfollow', async () => {
    const { ctx, store, keys } = await setUp('feed-author');
    await using _ = ctx;
    await built(store, keys, 'u1');
    let w = new FeedWrites(store, keys, 10);
    w.add('u1', entry(1), seq(10));
    w.add('u1', entry(2, BOB), seq(11));
    w.add('u1', entry(3), seq(12));
    await w.exec();
    w = new FeedWrites(store, keys, 10);
    w.replaceAuthor('u1', ANN, [], seq(30), '-');
    expect(await w.exec()).toEqual([3]); // two entries and the pulled mark
    expect(await ids(store, keys.feed('u1'))).toEqual([id(2)]);
    // a late create of Ann's (older than the unfollow) is refused
    w = new FeedWrites(store, keys, 10);
    w.add('u1', entry(3), seq(12));
    w.replaceAuthor('u1', ANN, [], seq(25), 'p'); // an older relationship event: refused too
    expect(await w.exec()).toEqual([0, 0]);
    // following again: the posts the database shows now come back
    w = new FeedWrites(store, keys, 10);
    w.replaceAuthor('u1', ANN, [entry(1), entry(3)], seq(40), 'p');
    await w.exec();
    expect(await ids(store, keys.feed('u1'))).toEqual([id(3), id(2), id(1)]);
    expect((await store.hget(keys.pulls('u1'), ANN))?.slice(30)).toBe('|p');
  });

  test('a rebuild racing the live fan-out keeps what newer events wrote and refuses what it reflects', async () => {
    const { ctx, store, keys } = await setUp('feed-build-race');
    await using _ = ctx;
    // the read API asked for a rebuild: the lease stands, the feed is not built yet
    await store.set(keys.building('u1'), 'token', 'PX', 30_000);
    const w = new FeedWrites(store, keys, 10);
    w.add('u1', entry(5), seq(200)); // posted after the snapshot
    w.remove('u1', id(2), ANN, seq(210)); // deleted after the snapshot
    w.add('u1', entry(1), seq(50)); // before it: the snapshot has it anyway
    expect(await w.exec()).toEqual([1, 0, 1]);
    expect(await store.pttl(keys.guards('u1'))).toBeLessThanOrEqual(90_000); // a fragment lives as long as the lease
    // the snapshot was taken at commit 100: it still had status 2
    const expireAtMs = Date.now() + DAY;
    await buildFeed(store, keys, 'u1', {
      sequence: buildSequence(100n),
      cap: 10,
      expireAtMs,
      entries: [entry(1), entry(2), entry(3)],
      pulls: [[BOB, 'f']],
    });
    expect(await ids(store, keys.feed('u1'))).toEqual([id(5), id(3), id(1)]);
    expect(await store.exists(keys.building('u1'))).toBe(0);
    expect(await store.hget(keys.guards('u1'), '@built')).toBe(buildSequence(100n));
    expect(Math.abs((await store.pexpiretime(keys.feed('u1'))) - expireAtMs)).toBeLessThan(2);
    expect(Math.abs((await store.pexpiretime(keys.pulls('u1'))) - expireAtMs)).toBeLessThan(2);
    // an event the build reflects (commit 80) changes nothing, even for a status the feed never had
    const late = new FeedWrites(store, keys, 10);
    late.add('u1', entry(7), seq(80));
    expect(await late.exec()).toEqual([0]);
    // a second, older build (a slow builder whose lease ran out) changes nothing either
    const before = await state(store, keys, 'u1');
    await buildFeed(store, keys, 'u1', {
      sequence: buildSequence(90n),
      cap: 10,
      expireAtMs,
      entries: [entry(2), entry(4)],
      pulls: [],
    });
    expect(await state(store, keys, 'u1')).toEqual(before);
  });

  test('removal marks stay bounded', async () => {
    const { ctx, store, keys } = await setUp('feed-prune');
    await using _ = ctx;
    await built(store, keys, 'u1');
    const w = new FeedWrites(store, keys, 5);
    for (let i = 0; i < 40; i++) w.remove('u1', id(i), ANN, seq(100 + i));
    await w.exec();
    expect(await store.hlen(keys.guards('u1'))).toBeLessThanOrEqual(2 * 5 + 1);
    // the newest removals are the ones kept
    expect(await store.hexists(keys.guards('u1'), id(39))).toBe(1);
  });

  test('a sign-in moves the deadline; a deactivation drops the feed', async () => {
    const { ctx, store, keys } = await setUp('feed-expire');
    await using _ = ctx;
    await built(store, keys, 'u1');
    const w = new FeedWrites(store, keys, 5);
    w.add('u1', entry(1), seq(10));
    w.expireAt('u1', Date.now() + 3 * DAY);
    w.expireAt('nobody', Date.now() + 3 * DAY);
    expect(await w.exec()).toEqual([1, 1, 0]);
    expect(await store.pttl(keys.feed('u1'))).toBeGreaterThan(2 * DAY);
    const gone = new FeedWrites(store, keys, 5);
    gone.expireAt('u1', Date.now() - 1000);
    await gone.exec();
    expect(await store.exists(keys.feed('u1'), keys.guards('u1'))).toBe(0);
  });
});
