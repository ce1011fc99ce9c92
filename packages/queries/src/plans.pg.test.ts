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
import { estimateTableRows, estimateTotal, history, peopleByNamePrefix } from './page.ts';
import { explain, partitionsKept, planProblems } from './plan.ts';
import { estimates, productionQueries, roomHistoryOffset, run } from './queries.ts';
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

  test.each(Object.keys(productionQueries) as (keyof typeof productionQueries)[])('%s', async (name) => {
    const q = productionQueries[name];
    const facts = await explain(db, q.text, params()[name], { analyze: true });
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
