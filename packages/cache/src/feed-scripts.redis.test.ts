import { describe, expect, test } from 'vitest';
import type { Redis } from 'ioredis';
import { openTestContext } from '@bgc/testkit/context';
import { feedKeyspace } from './feed-keys.ts';
import { buildSequence, timeToMicros } from './feed-score.ts';
import type { FeedEntry, FeedRedis } from './feed-scripts.ts';
import { ADD_BATCH, buildFeed, FeedWrites, registerFeedScripts } from './feed-scripts.ts';
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

/** The state and the deadlines (to the second) of each user's feed keys. */
async function states(store: FeedRedis, keys: ReturnType<typeof feedKeyspace>, users: string[]) {
  const deadline = async (key: string) => Math.round((await store.pexpiretime(key)) / 1000);
  return Promise.all(
    users.map(async (u) => ({
      ...(await state(store, keys, u)),
      ttl: [await deadline(keys.feed(u)), await deadline(keys.guards(u)), await deadline(keys.pulls(u))],
    })),
  );
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
    // a snapshot entry is guarded by `@built` alone, unless a write while building gave it a guard of its own
    expect(await store.hget(keys.guards('u1'), id(3))).toBeNull();
    expect(await store.hget(keys.guards('u1'), id(1))).toBe(`${buildSequence(100n)}+`);
    expect(await store.hget(keys.guards('u1'), id(5))).toBe(`${seq(200)}+`);
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
    // removals the build reflects are refused; a newer one applies to an entry without a guard of its own
    const removals = new FeedWrites(store, keys, 10);
    removals.remove('u1', id(3), ANN, seq(95));
    removals.remove('u1', id(1), ANN, seq(99));
    removals.remove('u1', id(3), ANN, seq(150));
    expect(await removals.exec()).toEqual([0, 0, 1]);
    expect(await ids(store, keys.feed('u1'))).toEqual([id(5), id(1)]);
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

  test('one call adds a post to many feeds, as one call per feed would, whatever state each feed is in', async () => {
    const { ctx, store, keys } = await setUp('feed-add-batch');
    await using _ = ctx;
    const users = ['empty', 'holds', 'full', 'removed-newer', 'removed-older', 'building', 'absent'];
    // the same users in two worlds (`a:` batched, `b:` one call each), prepared alike
    const prepare = async (world: string) => {
      const u = (name: string) => `${world}${name}`;
      for (const name of users.slice(0, 5)) await built(store, keys, u(name));
      const w = new FeedWrites(store, keys, 3);
      for (const n of [1, 2, 3]) w.add(u('full'), entry(n), seq(10 + n));
      w.add(u('holds'), entry(1), seq(11));
      w.remove(u('removed-newer'), id(30), ANN, seq(60));
      w.remove(u('removed-older'), id(30), ANN, seq(40));
      await w.exec();
      await store.set(keys.building(u('building')), 'token', 'PX', 30_000);
      return users.map(u);
    };
    const [a, b] = [await prepare('a:'), await prepare('b:')];
    const batch = new FeedWrites(store, keys, 3);
    for (const u of a) batch.add(u, entry(30), seq(50));
    expect(await batch.exec()).toEqual([5]); // all but the newer removal and the feed no one keeps
    expect(batch.commands).toEqual([{ kind: 'add', feeds: users.length }]);
    const singles: number[] = [];
    for (const u of b) {
      const w = new FeedWrites(store, keys, 3);
      w.add(u, entry(30), seq(50));
      singles.push(...(await w.exec()));
    }
    expect(singles).toEqual([1, 1, 1, 0, 1, 1, 0]);
    expect(await states(store, keys, a)).toEqual(await states(store, keys, b));
    const at = (name: string) => `a:${name}`;
    // the add created the empty feed's key: it expires with the guards
    expect(await store.pexpiretime(keys.feed(at('empty')))).toBe(await store.pexpiretime(keys.guards(at('empty'))));
    expect(await ids(store, keys.feed(at('full')))).toEqual([id(30), id(3), id(2)]);
    expect(await store.hget(keys.guards(at('full')), '@trimmed')).toBe('1');
    expect(await ids(store, keys.feed(at('removed-newer')))).toEqual([]);
    // a guard is written where one stood (the older removal) and while the feed is built, not on a plain add
    expect(await store.hget(keys.guards(at('removed-older')), id(30))).toBe(`${seq(50)}+`);
    expect(await store.hget(keys.guards(at('building')), id(30))).toBe(`${seq(50)}+`);
    expect(await store.pttl(keys.guards(at('building')))).toBeLessThanOrEqual(90_000);
    expect(await store.hexists(keys.guards(at('empty')), id(30))).toBe(0);
    expect(await store.exists(keys.feed(at('absent')), keys.guards(at('absent')))).toBe(0);
  });

  test('a batch with duplicates, replayed, and replayed after newer removals, converges', async () => {
    const { ctx, store, keys } = await setUp('feed-add-replay');
    await using _ = ctx;
    const users = Array.from({ length: 2 * ADD_BATCH + 10 }, (_, i) => `u${i}`);
    for (const u of users) await built(store, keys, u);
    const fanout = () => {
      const w = new FeedWrites(store, keys, 5);
      for (const u of [...users, 'u0', 'u1']) w.add(u, entry(7), seq(20));
      return w;
    };
    const first = fanout();
    expect(await first.exec()).toEqual([ADD_BATCH, ADD_BATCH, 10]);
    expect(first.commands.map((c) => c.feeds)).toEqual([ADD_BATCH, ADD_BATCH, 12]);
    const once = await states(store, keys, users);
    expect(await fanout().exec()).toEqual([0, 0, 0]);
    expect(await states(store, keys, users)).toEqual(once);
    // deleted (u0), hidden from u1 then shown again, newer than the post: a replay of the post changes neither
    const w = new FeedWrites(store, keys, 5);
    w.remove('u0', id(7), ANN, seq(30));
    w.remove('u1', id(7), ANN, seq(31));
    w.add('u1', entry(7), seq(32));
    expect(await w.exec()).toEqual([1, 1, 1]);
    const after = await states(store, keys, ['u0', 'u1']);
    expect(await fanout().exec()).toEqual([0, 0, 0]);
    const late = new FeedWrites(store, keys, 5);
    late.remove('u1', id(7), ANN, seq(31)); // the hiding edit replayed: the re-add wrote a guard over its mark
    late.add('u0', entry(7), seq(29));
    expect(await late.exec()).toEqual([0, 0]);
    expect(await states(store, keys, ['u0', 'u1'])).toEqual(after);
    expect(await ids(store, keys.feed('u1'))).toEqual([id(7)]);
    expect(await ids(store, keys.feed('u0'))).toEqual([]);
  });

  test('writes queued between adds keep their order on each feed', async () => {
    const { ctx, store, keys } = await setUp('feed-add-order');
    await using _ = ctx;
    for (const u of ['u1', 'u2']) await built(store, keys, u);
    const w = new FeedWrites(store, keys, 5);
    w.add('u1', entry(1), seq(10));
    w.add('u2', entry(1), seq(10));
    w.remove('u1', id(1), ANN, seq(11)); // closes the batch: it runs after the add above
    w.add('u1', entry(1), seq(10)); // a duplicate after the removal: refused
    w.add('u2', entry(1), seq(10));
    expect(w.queued).toBe(5);
    expect(await w.exec()).toEqual([2, 1, 0]);
    expect(w.commands).toEqual([
      { kind: 'add', feeds: 2 },
      { kind: 'remove', feeds: 1 },
      { kind: 'add', feeds: 2 },
    ]);
    expect(await ids(store, keys.feed('u1'))).toEqual([]);
    expect(await ids(store, keys.feed('u2'))).toEqual([id(1)]);
  });
});
