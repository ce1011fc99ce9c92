/**
 * Plan regression: seeds a migrated database with the generator (enough rows for the planner to prefer indexes),
 * then EXPLAINs every production query with representative parameters and fails when a query stops using the
 * index queries.ts names for it, keeps more partitions than its time window needs, or sequentially scans a large
 * relation. Also checks that keyset pages walk the same rows as OFFSET pages.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type pg from 'pg';
import { openTestContext, type TestContext } from '@bgc/testkit/context';
import { generate } from '../../../bench/src/generate.ts';
import { makeWorld } from '../../../bench/src/world.ts';
import { decodeCursor } from './cursor.ts';
import { estimateTableRows, estimateTotal, friends, history, homeFeed, peopleByNamePrefix } from './page.ts';
import { explain, partitionsKept, planProblems } from './plan.ts';
import { accessQueries } from './access.ts';
import { feedSampleParams } from './feed-samples.ts';
import { feedQueries } from './feeds.ts';
import { peopleQueries } from './people.ts';
import { estimates, productionQueries, roomHistoryOffset } from './queries.ts';
import { run } from './query.ts';
import { pickSamples, sampleParams, type Samples } from './samples.ts';

/** Tens of thousands of users, a quarter of a million messages: indexes win, and it loads in ~20 s. */
const PLAN_SCALE = {
  users: 20_000,
  rooms: 200,
  conversations: 5_000,
  messages: 250_000,
  statusUpdates: 50_000,
  threads: 2_000,
  forumPosts: 20_000,
};
/** A sequential scan of a relation with more rows than this fails the test. */
const LARGE_ROWS = 5_000;

let ctx: TestContext;
let db: pg.Client;
let samples: Samples;

beforeAll(async () => {
  ctx = await openTestContext('plans', { migrated: true });
  await generate({ url: ctx.roleUrl('migrator'), world: makeWorld(7, Date.now(), PLAN_SCALE), jobs: 2 });
  db = await ctx.connectAs('migrator');
  samples = await pickSamples(db);
}, 150_000);

afterAll(async () => {
  await ctx?.[Symbol.asyncDispose]();
});

describe('production query plans', () => {
  const params = () => sampleParams(samples);

  const all = { ...productionQueries, ...peopleQueries, ...accessQueries };
  test.each(Object.keys(all) as (keyof typeof all)[])('%s', async (name) => {
    const q = all[name];
    const facts = await explain(db, q.text, params()[name], { analyze: true });
    expect(planProblems(facts, q.plan, LARGE_ROWS), JSON.stringify(facts.json)).toEqual([]);
  });

  // the feed builder's queries (feeds.ts), with parameters of their own (feed-samples.ts)
  test.each(Object.keys(feedQueries) as (keyof typeof feedQueries)[])('%s', async (name) => {
    const q = feedQueries[name];
    const facts = await explain(db, q.text, (await feedSampleParams(db, samples))[name], { analyze: true });
    expect(planProblems(facts, q.plan, LARGE_ROWS), JSON.stringify(facts.json)).toEqual([]);
  });

  test('a recent keyset page reads one partition, though the window may keep two', async () => {
    const facts = await explain(db, productionQueries.roomHistoryAfter.text, params().roomHistoryAfter, {
      analyze: true,
    });
    const executed = new Set(facts.scans.filter((s) => s.root === 'messages' && s.executed).map((s) => s.relation));
    expect(executed.size).toBe(1);
    expect(partitionsKept(facts, 'messages').total).toBeLessThanOrEqual(2);
  });

  test('without a lower time bound the page would keep every monthly partition (why the window exists)', async () => {
    const p = params().roomHistoryAfter;
    const facts = await explain(db, productionQueries.roomHistoryAfter.text, [p[0], p[1], p[2], p[3], '-infinity']);
    expect(partitionsKept(facts, 'messages').total).toBeGreaterThan(12);
  });
});

describe('keyset pages', () => {
  test('walk the same rows as OFFSET pages, across partitions and windows', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 6; i++) {
      const page = await history(db, 'room', samples.roomId, { cursor, limit: 200, now: samples.now });
      seen.push(...page.items.map((m) => m.id));
      expect(page.hasNext).toBe(true);
      cursor = page.next;
    }
    const byOffset = await run(db, roomHistoryOffset, [samples.roomId, 1200, 0]);
    expect(seen).toEqual(byOffset.map((m) => m.id));
    // the cursor keeps the database's microseconds
    expect(decodeCursor(cursor!).t).toMatch(/\.\d{6}Z$/);
  });

  test('a quiet conversation pages back past the first window to its first message', async () => {
    const { rows } = await db.query<{ id: string; n: number }>(
      `SELECT conversation_id AS id, count(*)::int AS n FROM messages WHERE conversation_id IS NOT NULL
        GROUP BY 1 HAVING max(created_at) < now() - interval '40 days' ORDER BY 2 DESC LIMIT 1`,
    );
    const quiet = rows[0]!;
    const page = await history(db, 'conversation', quiet.id, { limit: 1000, now: samples.now });
    expect(page.items).toHaveLength(quiet.n);
    expect(page.hasNext).toBe(false);
  });

  test('name prefix search escapes LIKE metacharacters', async () => {
    const all = await peopleByNamePrefix(db, samples.namePrefix, { limit: 5 });
    expect(all.items.length).toBe(5);
    expect(all.items.every((p) => p.name.toLowerCase().startsWith(samples.namePrefix))).toBe(true);
    expect((await peopleByNamePrefix(db, '%', { limit: 5 })).items).toEqual([]);
    expect((await peopleByNamePrefix(db, '_', { limit: 5 })).items).toEqual([]);
  });

  test('totals are estimated, not counted', async () => {
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM messages WHERE room_id = $1', [
      samples.roomId,
    ]);
    const estimate = await estimateTotal(db, estimates.roomMessages, [samples.roomId]);
    expect(estimate).toBeGreaterThan(rows[0]!.n / 3);
    expect(estimate).toBeLessThan(rows[0]!.n * 3);
    const total = await estimateTableRows(db, 'messages');
    expect(total).toBeGreaterThan(PLAN_SCALE.messages * 0.9);
    expect(total).toBeLessThan(PLAN_SCALE.messages * 1.1);
  });
});

describe('home feed and friends semantics', () => {
  test('friends see FRIENDS posts, followers only PUBLIC ones, blocks hide, strangers never appear', async () => {
    const u = (n: number) => `00000000-0000-4000-8000-0000000000${String(n).padStart(2, '0')}`;
    const [viewer, friend, incomingFriend, followed, blocked, blocker, stranger, pending] = [
      u(1),
      u(2),
      u(3),
      u(4),
      u(5),
      u(6),
      u(7),
      u(8),
    ] as const;
    await db.query(
      `INSERT INTO users (id, email, name, password_hash)
       SELECT id, 'feed' || i || '@example.com', 'Feed ' || i, 'x' FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, i)`,
      [[viewer, friend, incomingFriend, followed, blocked, blocker, stranger, pending]],
    );
    await db.query(
      `INSERT INTO relationships (from_user_id, to_user_id, type, status, created_at) VALUES
         ($1, $2, 'FRIEND', 'ACCEPTED', now() - interval '3 days'),
         ($3, $1, 'FRIEND', 'ACCEPTED', now() - interval '2 days'),
         ($1, $4, 'FOLLOW', 'ACCEPTED', now()),
         ($1, $5, 'FRIEND', 'ACCEPTED', now()), ($1, $5, 'BLOCK', 'ACCEPTED', now()),
         ($6, $1, 'FRIEND', 'ACCEPTED', now()), ($6, $1, 'BLOCK', 'ACCEPTED', now()),
         ($1, $7, 'BLOCK', 'ACCEPTED', now()),
         ($1, $8, 'FRIEND', 'PENDING', now())`,
      [viewer, friend, incomingFriend, followed, blocked, blocker, stranger, pending],
    );
    const authors = [viewer, friend, incomingFriend, followed, blocked, blocker, stranger, pending];
    await db.query(
      `INSERT INTO status_updates (author_id, content, visibility, created_at)
       SELECT a, v::text || ' by ' || a, v, now() - (i || ' hours')::interval
         FROM unnest($1::uuid[]) WITH ORDINALITY AS t(a, i), unnest(ARRAY['PUBLIC', 'FRIENDS']::visibility[]) v`,
      [authors],
    );
    const feed = await homeFeed(db, viewer, { limit: 50 });
    const seen = feed.items.map((r) => `${r.visibility} ${r.author_id}`).sort();
    expect(seen).toEqual(
      [
        `FRIENDS ${viewer}`,
        `PUBLIC ${viewer}`,
        `FRIENDS ${friend}`,
        `PUBLIC ${friend}`,
        `FRIENDS ${incomingFriend}`,
        `PUBLIC ${incomingFriend}`,
        `PUBLIC ${followed}`,
      ].sort(),
    );
    // newest first, and a page of 2 continues where it stopped
    const p1 = await homeFeed(db, viewer, { limit: 2 });
    const p2 = await homeFeed(db, viewer, { limit: 5, cursor: p1.next });
    expect([...p1.items, ...p2.items].map((r) => r.id)).toEqual(feed.items.map((r) => r.id));

    const f1 = await friends(db, viewer, { limit: 1 });
    const f2 = await friends(db, viewer, { limit: 5, cursor: f1.next });
    // accepted friendships in both directions, newest first, not the pending one (a block hides posts, the
    // friendship edge itself is the write API's to remove)
    expect([...f1.items, ...f2.items].map((f) => f.id)).toEqual([blocker, blocked, incomingFriend, friend]);
    expect(f2.hasNext).toBe(false);
  });
});
